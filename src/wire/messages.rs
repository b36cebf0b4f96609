//! The msgpack-bodied messages of memberlist, field for field as Go declares them.
//!
//! Rust fields are Go's field names in snake case. Byte and string fields borrow from
//! the decoded buffer (`'a`), so decoding a ping or an ack does not allocate; call
//! `into_owned` to keep a message past its buffer. A Go `[]byte` field that is *not*
//! `omitempty` is an `Option`: `None` is Go's nil (`c0` on the wire) and `Some(empty)`
//! an empty slice (`a0`), because Go re-encodes the two differently when it relays.
//! `omitempty` fields are plain values, left off the wire when empty, as Go does.
//! Encoders write keys in Go's order (sorted by field name), decoders take any order,
//! the array form, unknown keys and nils (see [`super::msgpack`]).

use std::borrow::Cow;

use super::error::{Result, WireError};
use super::gostring::GoString;
use super::message_type::MessageType;
use super::msgpack::{IntMarker, Reader, StructForm, Writer};

/// A Go `[]byte` field's contents, borrowed when decoded.
pub type Bytes<'a> = Cow<'a, [u8]>;

/// Reads one struct (map or array form), calling `field` with each key (for the array
/// form, the Go declaration-order name) and the reader positioned on its value. The
/// callback returns `false` for keys it does not know; those values are skipped.
pub(crate) fn read_struct<'a>(
    r: &mut Reader<'a>,
    ctx: &'static str,
    decl: &[&'static str],
    mut field: impl FnMut(&[u8], &mut Reader<'a>) -> Result<bool>,
) -> Result<()> {
    match r.struct_header(ctx)? {
        StructForm::Map(n) => {
            for _ in 0..n {
                let key = r.key()?;
                if !field(&key, r)? {
                    r.skip()?;
                }
            }
        }
        StructForm::Array(n) => {
            for i in 0..n as usize {
                match decl.get(i) {
                    Some(name) if field(name.as_bytes(), r)? => {}
                    _ => r.skip()?,
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn string<'a>(r: &mut Reader<'a>, ctx: &'static str) -> Result<GoString<'a>> {
    Ok(GoString(r.string(ctx)?.unwrap_or(Cow::Borrowed(&[]))))
}

fn empty<'a>() -> Bytes<'a> {
    Cow::Borrowed(&[])
}

/// Generates `into_owned` for a message struct whose fields are listed.
macro_rules! owned {
    ($ty:ident { $($f:ident: $how:ident),* $(,)? }) => {
        impl $ty<'_> {
            /// Detaches the message from the buffer it was decoded from.
            pub fn into_owned(self) -> $ty<'static> {
                $ty { $($f: owned!(@$how self.$f)),* }
            }
        }
    };
    (@copy $e:expr) => { $e };
    (@str $e:expr) => { $e.into_owned() };
    (@bytes $e:expr) => { Cow::Owned($e.into_owned()) };
    (@opt $e:expr) => { $e.map(|b| Cow::Owned(b.into_owned())) };
}

/// `ping` (type 0): a direct probe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ping<'a> {
    /// Sequence number the ack echoes.
    pub seq_no: u32,
    /// The intended recipient; a node drops a ping addressed to another name.
    pub node: GoString<'a>,
    /// Where to send the ack (omitempty).
    pub source_addr: Bytes<'a>,
    /// Where to send the ack: port.
    pub source_port: u16,
    /// The sender's name.
    pub source_node: GoString<'a>,
}
owned!(Ping {
    seq_no: copy,
    node: str,
    source_addr: bytes,
    source_port: copy,
    source_node: str
});

impl<'a> Ping<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        let n = 2
            + !self.source_addr.is_empty() as u8
            + !self.source_node.is_empty() as u8
            + (self.source_port != 0) as u8;
        w.map_header(n);
        w.key("Node");
        w.raw(self.node.as_bytes());
        w.key("SeqNo");
        w.uint(self.seq_no as u64);
        if !self.source_addr.is_empty() {
            w.key("SourceAddr");
            w.raw(&self.source_addr);
        }
        if !self.source_node.is_empty() {
            w.key("SourceNode");
            w.raw(self.source_node.as_bytes());
        }
        if self.source_port != 0 {
            w.key("SourcePort");
            w.uint(self.source_port as u64);
        }
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Ping {
            source_addr: empty(),
            ..Default::default()
        };
        const DECL: &[&str] = &["SeqNo", "Node", "SourceAddr", "SourcePort", "SourceNode"];
        read_struct(r, "ping", DECL, |k, r| {
            match k {
                b"SeqNo" => m.seq_no = r.u32("ping.SeqNo")?,
                b"Node" => m.node = string(r, "ping.Node")?,
                b"SourceAddr" => m.source_addr = r.bytes("ping.SourceAddr")?.unwrap_or_default(),
                b"SourcePort" => m.source_port = r.u16("ping.SourcePort")?,
                b"SourceNode" => m.source_node = string(r, "ping.SourceNode")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `indirectPingReq` (type 1): asks a relay to probe `target` for us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndirectPingReq<'a> {
    /// Sequence number the ack (or nack) echoes.
    pub seq_no: u32,
    /// The target's IP bytes.
    pub target: Option<Bytes<'a>>,
    /// The target's port.
    pub port: u16,
    /// The target's name.
    pub node: GoString<'a>,
    /// The requester wants a nack if the target does not answer (protocol ≥ 4).
    pub nack: bool,
    /// The requester's IP, where the ack goes.
    pub source_addr: Bytes<'a>,
    /// The requester's port.
    pub source_port: u16,
    /// The requester's name.
    pub source_node: GoString<'a>,
}
owned!(IndirectPingReq {
    seq_no: copy,
    target: opt,
    port: copy,
    node: str,
    nack: copy,
    source_addr: bytes,
    source_port: copy,
    source_node: str,
});

impl<'a> IndirectPingReq<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        let n = 5
            + !self.source_addr.is_empty() as u8
            + !self.source_node.is_empty() as u8
            + (self.source_port != 0) as u8;
        w.map_header(n);
        w.key("Nack");
        w.bool(self.nack);
        w.key("Node");
        w.raw(self.node.as_bytes());
        w.key("Port");
        w.uint(self.port as u64);
        w.key("SeqNo");
        w.uint(self.seq_no as u64);
        if !self.source_addr.is_empty() {
            w.key("SourceAddr");
            w.raw(&self.source_addr);
        }
        if !self.source_node.is_empty() {
            w.key("SourceNode");
            w.raw(self.source_node.as_bytes());
        }
        if self.source_port != 0 {
            w.key("SourcePort");
            w.uint(self.source_port as u64);
        }
        w.key("Target");
        w.opt_raw(self.target.as_deref());
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = IndirectPingReq {
            source_addr: empty(),
            ..Default::default()
        };
        const DECL: &[&str] = &[
            "SeqNo",
            "Target",
            "Port",
            "Node",
            "Nack",
            "SourceAddr",
            "SourcePort",
            "SourceNode",
        ];
        read_struct(r, "indirect_ping", DECL, |k, r| {
            match k {
                b"SeqNo" => m.seq_no = r.u32("indirect_ping.SeqNo")?,
                b"Target" => m.target = r.bytes("indirect_ping.Target")?,
                b"Port" => m.port = r.u16("indirect_ping.Port")?,
                b"Node" => m.node = string(r, "indirect_ping.Node")?,
                b"Nack" => m.nack = r.bool("indirect_ping.Nack")?,
                b"SourceAddr" => {
                    m.source_addr = r.bytes("indirect_ping.SourceAddr")?.unwrap_or_default()
                }
                b"SourcePort" => m.source_port = r.u16("indirect_ping.SourcePort")?,
                b"SourceNode" => m.source_node = string(r, "indirect_ping.SourceNode")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `ackResp` (type 2): the answer to a ping, with the ping delegate's payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckResp<'a> {
    /// Sequence number of the ping answered.
    pub seq_no: u32,
    /// The ping delegate's payload (Serf's coordinate).
    pub payload: Option<Bytes<'a>>,
}
owned!(AckResp {
    seq_no: copy,
    payload: opt
});

impl<'a> AckResp<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(2);
        w.key("Payload");
        w.opt_raw(self.payload.as_deref());
        w.key("SeqNo");
        w.uint(self.seq_no as u64);
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = AckResp::default();
        read_struct(r, "ack_resp", &["SeqNo", "Payload"], |k, r| {
            match k {
                b"SeqNo" => m.seq_no = r.u32("ack_resp.SeqNo")?,
                b"Payload" => m.payload = r.bytes("ack_resp.Payload")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `nackResp` (type 11): a relay could not reach the target of an indirect ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NackResp {
    /// Sequence number of the indirect ping answered.
    pub seq_no: u32,
}

impl NackResp {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(1);
        w.key("SeqNo");
        w.uint(self.seq_no as u64);
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = NackResp::default();
        read_struct(r, "nack_resp", &["SeqNo"], |k, r| {
            if k != b"SeqNo" {
                return Ok(false);
            }
            m.seq_no = r.u32("nack_resp.SeqNo")?;
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `errResp` (type 13): a stream peer's error text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrResp<'a> {
    /// What went wrong, in the peer's words.
    pub error: GoString<'a>,
}
owned!(ErrResp { error: str });

impl<'a> ErrResp<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(1);
        w.key("Error");
        w.raw(self.error.as_bytes());
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = ErrResp::default();
        read_struct(r, "err", &["Error"], |k, r| {
            if k != b"Error" {
                return Ok(false);
            }
            m.error = string(r, "err.Error")?;
            Ok(true)
        })?;
        Ok(m)
    }
}

/// The body of `suspect` (type 3) and `dead` (type 5), which Go declares alike.
/// A `dead` whose `from` equals `node` is a graceful leave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accusation<'a> {
    /// The accused node's incarnation the accusation holds against it.
    pub incarnation: u32,
    /// The accused node.
    pub node: GoString<'a>,
    /// The accuser.
    pub from: GoString<'a>,
}
owned!(Accusation {
    incarnation: copy,
    node: str,
    from: str
});

impl<'a> Accusation<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(3);
        w.key("From");
        w.raw(self.from.as_bytes());
        w.key("Incarnation");
        w.uint(self.incarnation as u64);
        w.key("Node");
        w.raw(self.node.as_bytes());
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    /// Reads the body; `ctx` names the message (`suspect` or `dead`) in errors.
    pub fn read(r: &mut Reader<'a>, ctx: &'static str) -> Result<Self> {
        let mut m = Accusation::default();
        read_struct(r, ctx, &["Incarnation", "Node", "From"], |k, r| {
            match k {
                b"Incarnation" => m.incarnation = r.u32(ctx)?,
                b"Node" => m.node = string(r, ctx)?,
                b"From" => m.from = string(r, ctx)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `alive` (type 4): a node announces (or refutes with) an incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alive<'a> {
    /// The node's incarnation: higher wins.
    pub incarnation: u32,
    /// The node's name.
    pub node: GoString<'a>,
    /// The IP, 4 or 16 bytes as the sender's `net.IP` held it.
    pub addr: Option<Bytes<'a>>,
    /// Its gossip port.
    pub port: u16,
    /// Its node meta (at most 512 bytes).
    pub meta: Option<Bytes<'a>>,
    /// `[pmin, pmax, pcur, dmin, dmax, dcur]`.
    pub vsn: Option<Bytes<'a>>,
}
owned!(Alive {
    incarnation: copy,
    node: str,
    addr: opt,
    port: copy,
    meta: opt,
    vsn: opt
});

impl<'a> Alive<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(6);
        w.key("Addr");
        w.opt_raw(self.addr.as_deref());
        w.key("Incarnation");
        w.uint(self.incarnation as u64);
        w.key("Meta");
        w.opt_raw(self.meta.as_deref());
        w.key("Node");
        w.raw(self.node.as_bytes());
        w.key("Port");
        w.uint(self.port as u64);
        w.key("Vsn");
        w.opt_raw(self.vsn.as_deref());
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Alive::default();
        const DECL: &[&str] = &["Incarnation", "Node", "Addr", "Port", "Meta", "Vsn"];
        read_struct(r, "alive", DECL, |k, r| {
            match k {
                b"Incarnation" => m.incarnation = r.u32("alive.Incarnation")?,
                b"Node" => m.node = string(r, "alive.Node")?,
                b"Addr" => m.addr = r.bytes("alive.Addr")?,
                b"Port" => m.port = r.u16("alive.Port")?,
                b"Meta" => m.meta = r.bytes("alive.Meta")?,
                b"Vsn" => m.vsn = r.bytes("alive.Vsn")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// A Go `int` as decoded, with the marker family that carried it: go-msgpack v0.5
/// (memberlist ≤ 0.5.0) wrote values above 127 with unsigned markers, v2 with signed
/// ones. Encoding always uses v2's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoInt {
    /// The number.
    pub value: i64,
    /// The marker family it came in.
    pub marker: IntMarker,
}

impl GoInt {
    /// A value to encode (go-msgpack v2 markers).
    pub fn new(value: i64) -> Self {
        GoInt {
            value,
            marker: IntMarker::Signed,
        }
    }
}

impl Default for GoInt {
    fn default() -> Self {
        GoInt::new(0)
    }
}

pub(crate) fn go_int(r: &mut Reader<'_>, ctx: &'static str) -> Result<GoInt> {
    let (value, marker) = r.int(ctx)?;
    Ok(GoInt { value, marker })
}

/// The header of a push/pull state exchange (type 6, TCP only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushPullHeader {
    /// How many members follow.
    pub nodes: GoInt,
    /// Bytes of the delegate's state after the members.
    pub user_state_len: GoInt,
    /// True for the join exchange, false for periodic anti-entropy.
    pub join: bool,
}

impl PushPullHeader {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(3);
        w.key("Join");
        w.bool(self.join);
        w.key("Nodes");
        w.int(self.nodes.value);
        w.key("UserStateLen");
        w.int(self.user_state_len.value);
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = PushPullHeader::default();
        read_struct(
            r,
            "push_pull",
            &["Nodes", "UserStateLen", "Join"],
            |k, r| {
                match k {
                    b"Nodes" => m.nodes = go_int(r, "push_pull.Nodes")?,
                    b"UserStateLen" => m.user_state_len = go_int(r, "push_pull.UserStateLen")?,
                    b"Join" => m.join = r.bool("push_pull.Join")?,
                    _ => return Ok(false),
                }
                Ok(true)
            },
        )?;
        Ok(m)
    }
}

/// A member's state as carried in push/pull (`NodeStateType`, a Go `int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Go's 0.
    Alive,
    /// Go's 1.
    Suspect,
    /// Go's 2.
    Dead,
    /// Go's 3.
    Left,
    /// Any other number: Go's decoder takes it, so we keep it to report it.
    Other(i64),
}

impl NodeState {
    /// The number Go sends.
    pub fn to_int(self) -> i64 {
        match self {
            NodeState::Alive => 0,
            NodeState::Suspect => 1,
            NodeState::Dead => 2,
            NodeState::Left => 3,
            NodeState::Other(v) => v,
        }
    }

    /// The state a number stands for.
    pub fn from_int(v: i64) -> Self {
        match v {
            0 => NodeState::Alive,
            1 => NodeState::Suspect,
            2 => NodeState::Dead,
            3 => NodeState::Left,
            v => NodeState::Other(v),
        }
    }

    /// Go's lower-case name (`alive` …; `unknown` for a number Go never assigns).
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Dead => "dead",
            NodeState::Left => "left",
            NodeState::Other(_) => "unknown",
        }
    }
}

/// One member in a push/pull exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNodeState<'a> {
    /// The member's name.
    pub name: GoString<'a>,
    /// Its IP bytes.
    pub addr: Option<Bytes<'a>>,
    /// Its port.
    pub port: u16,
    /// Its node meta.
    pub meta: Option<Bytes<'a>>,
    /// Its incarnation.
    pub incarnation: u32,
    /// Its state as the sender believes it.
    pub state: NodeState,
    /// Its version vector.
    pub vsn: Option<Bytes<'a>>,
}
owned!(PushNodeState {
    name: str,
    addr: opt,
    port: copy,
    meta: opt,
    incarnation: copy,
    state: copy,
    vsn: opt,
});

impl Default for PushNodeState<'_> {
    fn default() -> Self {
        PushNodeState {
            name: GoString::default(),
            addr: None,
            port: 0,
            meta: None,
            incarnation: 0,
            state: NodeState::Alive,
            vsn: None,
        }
    }
}

impl<'a> PushNodeState<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(7);
        w.key("Addr");
        w.opt_raw(self.addr.as_deref());
        w.key("Incarnation");
        w.uint(self.incarnation as u64);
        w.key("Meta");
        w.opt_raw(self.meta.as_deref());
        w.key("Name");
        w.raw(self.name.as_bytes());
        w.key("Port");
        w.uint(self.port as u64);
        w.key("State");
        w.int(self.state.to_int());
        w.key("Vsn");
        w.opt_raw(self.vsn.as_deref());
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = PushNodeState::default();
        const DECL: &[&str] = &[
            "Name",
            "Addr",
            "Port",
            "Meta",
            "Incarnation",
            "State",
            "Vsn",
        ];
        read_struct(r, "push_node_state", DECL, |k, r| {
            match k {
                b"Name" => m.name = string(r, "push_node_state.Name")?,
                b"Addr" => m.addr = r.bytes("push_node_state.Addr")?,
                b"Port" => m.port = r.u16("push_node_state.Port")?,
                b"Meta" => m.meta = r.bytes("push_node_state.Meta")?,
                b"Incarnation" => m.incarnation = r.u32("push_node_state.Incarnation")?,
                b"State" => m.state = NodeState::from_int(r.int("push_node_state.State")?.0),
                b"Vsn" => m.vsn = r.bytes("push_node_state.Vsn")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// The header of a reliable (TCP) user message (type 8 on a stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserMsgHeader {
    /// Bytes of the user message after the header.
    pub user_msg_len: GoInt,
}

impl UserMsgHeader {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(1);
        w.key("UserMsgLen");
        w.int(self.user_msg_len.value);
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = UserMsgHeader::default();
        read_struct(r, "user", &["UserMsgLen"], |k, r| {
            if k != b"UserMsgLen" {
                return Ok(false);
            }
            m.user_msg_len = go_int(r, "user.UserMsgLen")?;
            Ok(true)
        })?;
        Ok(m)
    }
}

/// The body of a `compress` message (type 9): `Algo` 0 is LZW (hashicorp/memberlist's
/// only one), 1 snappy (Grafana's fork).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compress<'a> {
    /// The algorithm (0: LZW, 1: snappy).
    pub algo: u8,
    /// The compressed message (type byte + body).
    pub buf: Option<Bytes<'a>>,
}

impl<'a> Compress<'a> {
    /// Appends the msgpack body as Go encodes it (field order and omitted fields included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(2);
        w.key("Algo");
        w.uint(self.algo as u64);
        w.key("Buf");
        w.opt_raw(self.buf.as_deref());
    }

    /// Reads a msgpack body any memberlist version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Compress::default();
        read_struct(r, "compress", &["Algo", "Buf"], |k, r| {
            match k {
                b"Algo" => m.algo = r.u8("compress.Algo")?,
                b"Buf" => m.buf = r.bytes("compress.Buf")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// A message that can stand on its own in a UDP packet (or a compound part), or as
/// the reply on a stream: everything but the wrappers and the stream-only bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// `ping`.
    Ping(Ping<'a>),
    /// `indirectPingReq`.
    IndirectPing(IndirectPingReq<'a>),
    /// `ackResp`.
    AckResp(AckResp<'a>),
    /// `nackResp`.
    NackResp(NackResp),
    /// `suspect`.
    Suspect(Accusation<'a>),
    /// `alive`.
    Alive(Alive<'a>),
    /// `dead`.
    Dead(Accusation<'a>),
    /// A UDP user message: the bytes after the type byte, verbatim.
    User(Bytes<'a>),
    /// `errResp`.
    Err(ErrResp<'a>),
}

impl<'a> Message<'a> {
    /// The type byte it travels with.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Ping(_) => MessageType::Ping,
            Message::IndirectPing(_) => MessageType::IndirectPing,
            Message::AckResp(_) => MessageType::AckResp,
            Message::NackResp(_) => MessageType::NackResp,
            Message::Suspect(_) => MessageType::Suspect,
            Message::Alive(_) => MessageType::Alive,
            Message::Dead(_) => MessageType::Dead,
            Message::User(_) => MessageType::User,
            Message::Err(_) => MessageType::Err,
        }
    }

    /// Appends the type byte and the body, as Go's `encode` does.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.message_type() as u8);
        match self {
            Message::Ping(m) => m.encode(out),
            Message::IndirectPing(m) => m.encode(out),
            Message::AckResp(m) => m.encode(out),
            Message::NackResp(m) => m.encode(out),
            Message::Suspect(m) | Message::Dead(m) => m.encode(out),
            Message::Alive(m) => m.encode(out),
            Message::User(b) => out.extend_from_slice(b),
            Message::Err(m) => m.encode(out),
        }
    }

    /// The encoded message (type byte + body) as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        self.encode(&mut v);
        v
    }

    /// Decodes a type byte and its body. Bytes after a msgpack body are ignored, as
    /// in Go; a user message takes everything after its type byte.
    pub fn decode(buf: &'a [u8]) -> Result<Self> {
        let (&t, body) = buf
            .split_first()
            .ok_or(WireError::Truncated("message type byte"))?;
        let t = MessageType::try_from(t)?;
        let mut r = Reader::new(body);
        Ok(match t {
            MessageType::Ping => Message::Ping(Ping::read(&mut r)?),
            MessageType::IndirectPing => Message::IndirectPing(IndirectPingReq::read(&mut r)?),
            MessageType::AckResp => Message::AckResp(AckResp::read(&mut r)?),
            MessageType::NackResp => Message::NackResp(NackResp::read(&mut r)?),
            MessageType::Suspect => Message::Suspect(Accusation::read(&mut r, "suspect")?),
            MessageType::Alive => Message::Alive(Alive::read(&mut r)?),
            MessageType::Dead => Message::Dead(Accusation::read(&mut r, "dead")?),
            MessageType::User => Message::User(Cow::Borrowed(body)),
            MessageType::Err => Message::Err(ErrResp::read(&mut r)?),
            other => return Err(WireError::UnknownMessageType(other as u8)),
        })
    }

    /// A copy that no longer borrows the input.
    pub fn into_owned(self) -> Message<'static> {
        match self {
            Message::Ping(m) => Message::Ping(m.into_owned()),
            Message::IndirectPing(m) => Message::IndirectPing(m.into_owned()),
            Message::AckResp(m) => Message::AckResp(m.into_owned()),
            Message::NackResp(m) => Message::NackResp(m),
            Message::Suspect(m) => Message::Suspect(m.into_owned()),
            Message::Alive(m) => Message::Alive(m.into_owned()),
            Message::Dead(m) => Message::Dead(m.into_owned()),
            Message::User(b) => Message::User(Cow::Owned(b.into_owned())),
            Message::Err(m) => Message::Err(m.into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn ping_matches_protocol_vector() {
        let want = hex("0085a44e6f6465a66e6f64652d62a55365714e6f01aa536f7572636541646472a40a000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a");
        let m = Message::Ping(Ping {
            seq_no: 1,
            node: "node-b".into(),
            source_addr: Cow::Owned(vec![10, 0, 0, 1]),
            source_port: 7946,
            source_node: "node-a".into(),
        });
        assert_eq!(m.to_bytes(), want);
        assert_eq!(Message::decode(&want).unwrap(), m);
    }

    #[test]
    fn alive_and_array_form() {
        let want = hex("0486a441646472a40a000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000");
        let m = Message::decode(&want).unwrap();
        assert_eq!(m.to_bytes(), want);
        // Same alive as a Go-decodable array in declaration order, Vsn as int array.
        let arr = hex("0496 01 a66e6f64652d61 a40a000001 cd1f0a c0 96010502000000");
        assert_eq!(Message::decode(&arr).unwrap(), m);
    }

    #[test]
    fn truncation_is_an_error_at_every_offset() {
        let full = hex("0486a441646472a40a000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000");
        for i in 0..full.len() {
            assert!(Message::decode(&full[..i]).is_err(), "prefix {i}");
        }
    }

    #[test]
    fn push_pull_header_old_and_new_int_markers() {
        let new = hex("83a44a6f696ec2a54e6f646573d100c8ac5573657253746174654c656ed200011170");
        let old = hex("83a44a6f696ec2a54e6f646573ccc8ac5573657253746174654c656ece00011170");
        let a = PushPullHeader::read(&mut Reader::new(&new)).unwrap();
        let b = PushPullHeader::read(&mut Reader::new(&old)).unwrap();
        assert_eq!((a.nodes.value, a.user_state_len.value), (200, 70000));
        assert_eq!((b.nodes.value, b.user_state_len.value), (200, 70000));
        assert_eq!(b.nodes.marker, IntMarker::Unsigned);
        let mut out = Vec::new();
        b.encode(&mut out);
        assert_eq!(out, new);
    }
}
