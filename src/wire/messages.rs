//! The msgpack-bodied messages of memberlist, field for field as Go declares them.
//!
//! Rust fields are Go's field names in snake case. Byte and string fields borrow from
//! the decoded buffer (`'a`), so decoding a ping or an ack does not allocate; call
//! `into_owned` to keep a message past its buffer. A Go `[]byte` field that is *not*
//! `omitempty` is an `Option`: `None` is Go's nil (`c0` on the wire) and `Some(empty)`
//! an empty slice (`a0`), because Go re-encodes the two differently when it relays.
//! `omitempty` fields are plain values, left off the wire when empty, as Go does.
//! Encoders write keys in Go's order (sorted by field name), decoders take any order,
//! the array form, unknown keys and nils (see [`super::msgpack`]). Each struct is
//! declared once with `go_struct!` ([`super::go_struct`]), which generates the struct,
//! its encoder and its decoder.

use std::borrow::Cow;

use super::error::{Result, WireError};
use super::go_struct::go_struct;
use super::gostring::GoString;
use super::message_type::MessageType;
use super::msgpack::{IntMarker, Reader, StructForm};

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

go_struct! {
    /// `ping` (type 0): a direct probe.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Ping<'a> in "ping" + into_owned {
        /// Sequence number the ack echoes.
        "SeqNo" => seq_no: u32,
        /// The intended recipient; a node drops a ping addressed to another name.
        "Node" => node: GoString<'a>,
        /// Where to send the ack (omitempty).
        "SourceAddr" omitempty => source_addr: Bytes<'a>,
        /// Where to send the ack: port.
        "SourcePort" omitempty => source_port: u16,
        /// The sender's name.
        "SourceNode" omitempty => source_node: GoString<'a>,
    }
}

go_struct! {
    /// `indirectPingReq` (type 1): asks a relay to probe `target` for us.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct IndirectPingReq<'a> in "indirect_ping" + into_owned {
        /// Sequence number the ack (or nack) echoes.
        "SeqNo" => seq_no: u32,
        /// The target's IP bytes.
        "Target" => target: Option<Bytes<'a>>,
        /// The target's port.
        "Port" => port: u16,
        /// The target's name.
        "Node" => node: GoString<'a>,
        /// The requester wants a nack if the target does not answer (protocol ≥ 4).
        "Nack" => nack: bool,
        /// The requester's IP, where the ack goes.
        "SourceAddr" omitempty => source_addr: Bytes<'a>,
        /// The requester's port.
        "SourcePort" omitempty => source_port: u16,
        /// The requester's name.
        "SourceNode" omitempty => source_node: GoString<'a>,
    }
}

go_struct! {
    /// `ackResp` (type 2): the answer to a ping, with the ping delegate's payload.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct AckResp<'a> in "ack_resp" + into_owned {
        /// Sequence number of the ping answered.
        "SeqNo" => seq_no: u32,
        /// The ping delegate's payload (Serf's coordinate).
        "Payload" => payload: Option<Bytes<'a>>,
    }
}

go_struct! {
    /// `nackResp` (type 11): a relay could not reach the target of an indirect ping.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct NackResp in "nack_resp" {
        /// Sequence number of the indirect ping answered.
        "SeqNo" => seq_no: u32,
    }
}

go_struct! {
    /// `errResp` (type 13): a stream peer's error text.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ErrResp<'a> in "err" + into_owned {
        /// What went wrong, in the peer's words.
        "Error" => error: GoString<'a>,
    }
}

go_struct! {
    /// The body of `suspect` (type 3) and `dead` (type 5), which Go declares alike.
    /// A `dead` whose `from` equals `node` is a graceful leave.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Accusation<'a> in ctx + into_owned {
        /// The accused node's incarnation the accusation holds against it.
        "Incarnation" => incarnation: u32,
        /// The accused node.
        "Node" => node: GoString<'a>,
        /// The accuser.
        "From" => from: GoString<'a>,
    }
}

go_struct! {
    /// `alive` (type 4): a node announces (or refutes with) an incarnation.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Alive<'a> in "alive" + into_owned {
        /// The node's incarnation: higher wins.
        "Incarnation" => incarnation: u32,
        /// The node's name.
        "Node" => node: GoString<'a>,
        /// The IP, 4 or 16 bytes as the sender's `net.IP` held it.
        "Addr" => addr: Option<Bytes<'a>>,
        /// Its gossip port.
        "Port" => port: u16,
        /// Its node meta (at most 512 bytes).
        "Meta" => meta: Option<Bytes<'a>>,
        /// `[pmin, pmax, pcur, dmin, dmax, dcur]`.
        "Vsn" => vsn: Option<Bytes<'a>>,
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

go_struct! {
    /// The header of a push/pull state exchange (type 6, TCP only).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct PushPullHeader in "push_pull" {
        /// How many members follow.
        "Nodes" => nodes: GoInt,
        /// Bytes of the delegate's state after the members.
        "UserStateLen" => user_state_len: GoInt,
        /// True for the join exchange, false for periodic anti-entropy.
        "Join" => join: bool,
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

/// Go's zero value, 0.
impl Default for NodeState {
    fn default() -> Self {
        NodeState::Alive
    }
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

go_struct! {
    /// One member in a push/pull exchange.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct PushNodeState<'a> in "push_node_state" + into_owned {
        /// The member's name.
        "Name" => name: GoString<'a>,
        /// Its IP bytes.
        "Addr" => addr: Option<Bytes<'a>>,
        /// Its port.
        "Port" => port: u16,
        /// Its node meta.
        "Meta" => meta: Option<Bytes<'a>>,
        /// Its incarnation.
        "Incarnation" => incarnation: u32,
        /// Its state as the sender believes it.
        "State" => state: NodeState,
        /// Its version vector.
        "Vsn" => vsn: Option<Bytes<'a>>,
    }
}

go_struct! {
    /// The header of a reliable (TCP) user message (type 8 on a stream).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct UserMsgHeader in "user" {
        /// Bytes of the user message after the header.
        "UserMsgLen" => user_msg_len: GoInt,
    }
}

go_struct! {
    /// The body of a `compress` message (type 9): `Algo` 0 is LZW (hashicorp/memberlist's
    /// only one), 1 snappy (Grafana's fork).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Compress<'a> in "compress" {
        /// The algorithm (0: LZW, 1: snappy).
        "Algo" => algo: u8,
        /// The compressed message (type byte + body).
        "Buf" => buf: Option<Bytes<'a>>,
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
