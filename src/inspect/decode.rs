//! The inspector proper: frames in, one row per memberlist message (or per thing that
//! did not decode) out, each also counted in the `Summary`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use arrayvec::ArrayVec;
use serde_json::{json, Value};

use super::capture::Frame;
use super::defrag::Defrag;
use super::net::{self, Segment};
use super::summary::Summary;
use super::tcp::Direction;
use crate::serf::json as serf_json;
use crate::wire::{
    decode_complete, decode_frame, json as wjson, peel_packet, Decoded, Keyring, Label,
    LabelPolicy, Message, MessageType, PacketConfig, Side, StreamConfig, StreamFrame,
    StreamMessage, WireError,
};

/// How an error row about keys begins (counted as a decryption failure).
pub(crate) const NO_KEY: &str = "no key opened it";

/// The shortest sealed packet: version byte, nonce and tag.
const ENCRYPTED_MIN: usize = 1 + crate::wire::crypto::NONCE_SIZE + crate::wire::crypto::TAG_SIZE;

/// The error text of a packet (`body`: after its label) or stream that did not open,
/// naming the likely cause when it is about keys.
pub fn explain(e: &WireError, keyring: Option<&Keyring>, body: &[u8]) -> String {
    match (e, keyring, body.first()) {
        (WireError::NoKeyDecrypts, Some(ring), _) => format!(
            "{NO_KEY} (tried {} key{}): wrong key, or sealed with another label",
            ring.len(),
            if ring.len() == 1 { "" } else { "s" }
        ),
        (_, None, Some(&v @ (0 | 1))) if body.len() >= ENCRYPTED_MIN => {
            format!("{e} (an encrypted packet, version {v}? pass --key or --keyring-file)")
        }
        _ => e.to_string(),
    }
}

/// Serf's default port and Consul's LAN and WAN gossip ports.
pub const DEFAULT_PORTS: [u16; 3] = [7946, 8301, 8302];

pub struct InspectorConfig {
    /// Ports whose traffic is gossip; ignored with `any_port`.
    pub ports: Vec<u16>,
    pub any_port: bool,
    pub keyring: Option<Keyring>,
    /// A label every packet must carry; `None` accepts any label and reports it.
    pub label: Option<Label>,
    /// Keep the per-message counts and the membership timeline of `summary`; a
    /// plain decode leaves them out (they took about a tenth of its time). Frame,
    /// byte and fragment counts are kept either way.
    pub summarize: bool,
}

/// The layers of one row, held inline: a packet nests at most `MAX_NESTING`
/// compound/compress layers under its label, encryption and CRC.
pub type RowLayers = ArrayVec<MessageType, { crate::wire::packet::MAX_NESTING + 3 }>;

/// A decoded message, detached from the capture's buffers.
#[derive(Debug, Clone)]
pub enum Body {
    Packet(Message<'static>),
    Stream(StreamMessage<'static>),
}

impl Body {
    /// Go's name of the message type (`ping`, `push_pull`…).
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::Packet(m) => m.message_type().name(),
            Body::Stream(m) => m.message_type().name(),
        }
    }

    /// `{"type", "fields", …}` as `wire::json` gives it.
    pub fn to_json(&self) -> Value {
        match self {
            Body::Packet(m) => wjson::message(m),
            Body::Stream(m) => wjson::stream_message(m),
        }
    }
}

/// One output row.
#[derive(Debug, Clone)]
pub struct Row {
    pub frame: u64,
    pub time: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: &'static str,
    /// The wrappers around the message, outermost first.
    pub layers: RowLayers,
    pub label: Option<String>,
    /// The encryption version and the index of the keyring key that opened the
    /// packet or frame.
    pub key: Option<(u8, usize)>,
    /// The decoded message, or the error text.
    pub body: Result<Body, String>,
    /// The Serf data inside the message, when its bytes parse as Serf
    /// (`serf::json::from_message`/`from_stream`).
    pub serf: Option<Value>,
}

impl Row {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "frame": self.frame,
            "time": format!("{}.{:06}", self.time.as_secs(), self.time.subsec_micros()),
            "src": self.src.to_string(),
            "dst": self.dst.to_string(),
            "transport": self.transport,
            "layers": self.layers.iter().map(|t| t.name()).collect::<Vec<_>>(),
        });
        if let Some(l) = &self.label {
            v["label"] = json!(l);
        }
        if let Some((version, k)) = self.key {
            v["key"] = json!(k);
            v["encryption_version"] = json!(version);
        }
        match &self.body {
            Ok(b) => {
                if let Value::Object(m) = b.to_json() {
                    v.as_object_mut().expect("object").extend(m);
                }
            }
            Err(e) => v["error"] = json!(e),
        }
        if let Some(s) = &self.serf {
            v["serf"] = s.clone();
        }
        v
    }
}

struct Flow {
    dir: Direction,
    /// The direction's role; unknown until a SYN is seen or guessed from ports.
    side: Option<Side>,
    done: bool,
    src: SocketAddr,
    dst: SocketAddr,
    last_frame: u64,
    last_time: Duration,
}

impl Flow {
    fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        Flow {
            dir: Direction::default(),
            side: None,
            done: false,
            src,
            dst,
            last_frame: 0,
            last_time: Duration::ZERO,
        }
    }
}

/// Turns frames into rows.
pub struct Inspector {
    cfg: InspectorConfig,
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    defrag: Defrag,
    pub summary: Summary,
}

impl Inspector {
    pub fn new(cfg: InspectorConfig) -> Self {
        Inspector {
            cfg,
            flows: HashMap::new(),
            defrag: Defrag::default(),
            summary: Summary::default(),
        }
    }

    fn wanted(&self, src: &SocketAddr, dst: &SocketAddr) -> bool {
        self.cfg.any_port
            || self.cfg.ports.contains(&src.port())
            || self.cfg.ports.contains(&dst.port())
    }

    fn label_policy(&self) -> LabelPolicy<'_> {
        match &self.cfg.label {
            Some(l) => LabelPolicy::Expect(Some(l)),
            None => LabelPolicy::Any,
        }
    }

    /// Feeds one frame, appending the rows it completes.
    pub fn frame(&mut self, frame: &Frame, rows: &mut Vec<Row>) {
        self.summary.frames += 1;
        match net::parse(frame.link, frame.data) {
            Ok(Segment::Fragment(f)) => {
                if let Some(datagram) = self.defrag.add(frame.time, &f) {
                    match net::transport(f.src, f.dst, f.protocol, &datagram) {
                        Ok(seg) => self.segment(frame, seg, rows),
                        Err(_) => self.summary.malformed_frame(),
                    }
                }
                self.summary.ip_fragments = (self.defrag.reassembled, self.defrag.dropped);
            }
            Ok(seg) => self.segment(frame, seg, rows),
            Err(_) => self.summary.malformed_frame(),
        }
    }

    /// Decodes one UDP datagram or TCP segment if it is on a gossip port.
    fn segment(&mut self, frame: &Frame, seg: Segment<'_>, rows: &mut Vec<Row>) {
        let start = rows.len();
        match seg {
            Segment::Udp { src, dst, payload } if self.wanted(&src, &dst) => {
                self.summary.gossip_bytes += payload.len() as u64;
                self.udp(frame, src, dst, payload, rows);
            }
            Segment::Tcp {
                src,
                dst,
                seq,
                syn,
                ack,
                fin,
                rst,
                payload,
            } if self.wanted(&src, &dst) => {
                self.summary.gossip_bytes += payload.len() as u64;
                self.tcp(frame, src, dst, seq, syn, ack, fin || rst, payload, rows);
            }
            _ => {}
        }
        self.summarize(&rows[start..]);
    }

    /// Counts the new rows in the summary, when one was asked for.
    fn summarize(&mut self, rows: &[Row]) {
        if self.cfg.summarize {
            for r in rows {
                self.summary.record(r);
            }
        }
    }

    fn udp(
        &self,
        frame: &Frame,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        rows: &mut Vec<Row>,
    ) {
        let base = Row {
            frame: frame.number,
            time: frame.time,
            src,
            dst,
            transport: "udp",
            layers: RowLayers::new(),
            label: None,
            key: None,
            body: Err(String::new()),
            serf: None,
        };
        // A capture mixes encrypted and plain traffic: only a version byte (0 or 1)
        // after the label can start an encrypted packet, and a plain ping or indirect
        // ping starts the same way, so those get both readings.
        let body = crate::wire::label::strip(payload)
            .map(|(_, b)| b)
            .unwrap_or(payload);
        let may_be_sealed = self.cfg.keyring.is_some() && matches!(body.first(), Some(0 | 1));
        let sealed = PacketConfig {
            label: self.label_policy(),
            keyring: self.cfg.keyring.as_ref(),
            verify_incoming: true,
        };
        let plain = PacketConfig {
            keyring: None,
            ..sealed
        };
        let first = if may_be_sealed { &sealed } else { &plain };
        let start = rows.len();
        let result = Self::peel(payload, first, self.cfg.keyring.as_ref(), &base, rows);
        if let (Err(_), true) = (&result, may_be_sealed) {
            rows.truncate(start);
            if Self::peel(payload, &plain, self.cfg.keyring.as_ref(), &base, rows).is_ok()
                && rows[start..].iter().all(|r| r.body.is_ok())
            {
                return;
            }
            rows.truncate(start);
        }
        if let Err(e) = result {
            rows.truncate(start);
            let mut r = base;
            r.body = Err(explain(&e, self.cfg.keyring.as_ref(), body));
            rows.push(r);
        }
    }

    /// Peels one datagram into rows; `keyring` is the user's, for error texts.
    fn peel(
        payload: &[u8],
        cfg: &PacketConfig<'_>,
        keyring: Option<&Keyring>,
        base: &Row,
        rows: &mut Vec<Row>,
    ) -> Result<(), WireError> {
        let body = crate::wire::label::strip(payload).map_or(payload, |(_, b)| b);
        let start = rows.len();
        let info = peel_packet(payload, cfg, |layers, m| {
            let mut r = base.clone();
            r.layers = layers.as_slice().iter().copied().collect();
            r.serf = m.as_ref().ok().and_then(serf_json::from_message);
            // A message that fails right under the label may be a sealed packet.
            let top_level = r.layers.iter().all(|l| *l == MessageType::HasLabel);
            r.body = m
                .map(|m| Body::Packet(m.into_owned()))
                .map_err(|e| match top_level {
                    true => explain(&e, keyring, body),
                    false => e.to_string(),
                });
            rows.push(r);
        })?;
        for r in &mut rows[start..] {
            r.label =
                (!info.label.is_empty()).then(|| String::from_utf8_lossy(info.label).into_owned());
            r.key = info.decrypted.map(|(v, k)| (v as u8, k));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        frame: &Frame,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        syn: bool,
        ack: bool,
        end: bool,
        payload: &[u8],
        rows: &mut Vec<Row>,
    ) {
        let ports = self.cfg.ports.clone();
        let flow = self
            .flows
            .entry((src, dst))
            .or_insert_with(|| Flow::new(src, dst));
        if syn {
            flow.side = Some(if ack { Side::Acceptor } else { Side::Dialer });
            // A new connection on a reused address pair starts afresh.
            if flow.done || !flow.dir.data.is_empty() {
                *flow = Flow {
                    side: flow.side,
                    ..Flow::new(src, dst)
                };
            }
        }
        flow.last_frame = frame.number;
        flow.last_time = frame.time;
        if flow.done {
            if end {
                self.flows.remove(&(src, dst));
            }
            return;
        }
        let grew = flow.dir.segment(seq, syn, payload);
        if flow.side.is_none() && !flow.dir.data.is_empty() {
            // Mid-stream: the side talking to the listening port is the dialer.
            flow.side = Some(
                if ports.contains(&dst.port()) || !ports.contains(&src.port()) {
                    Side::Dialer
                } else {
                    Side::Acceptor
                },
            );
        }
        let key = (src, dst);
        if grew || end {
            self.try_stream(key, end, rows);
        }
        // A finished direction is forgotten once it closes, so long captures of many
        // connections hold only the open ones.
        if end && self.flows.get(&key).is_some_and(|f| f.done) {
            self.flows.remove(&key);
        }
    }

    fn try_stream(&mut self, key: (SocketAddr, SocketAddr), end: bool, rows: &mut Vec<Row>) {
        let Some(flow) = self.flows.get(&key) else {
            return;
        };
        if flow.done || flow.dir.data.is_empty() {
            return;
        }
        let cfg = StreamConfig {
            label: match &self.cfg.label {
                Some(l) => LabelPolicy::Expect(Some(l)),
                None => LabelPolicy::Any,
            },
            keyring: self.cfg.keyring.as_ref(),
            verify_incoming: false,
            side: flow.side.unwrap_or(Side::Dialer),
        };
        let result = if end {
            decode_complete(&flow.dir.data, &cfg).map(Some)
        } else {
            decode_frame(&flow.dir.data, &cfg).map(|d| match d {
                Decoded::Frame(f) => Some(f),
                Decoded::NeedMore => None,
            })
        };
        let row = match result {
            Ok(None) => return,
            Ok(Some(f)) => stream_row(flow, f),
            Err(e) => {
                let mut text = explain(&e, self.cfg.keyring.as_ref(), &[]);
                if flow.dir.midstream {
                    text.push_str(" (capture started mid-stream)");
                }
                Row {
                    body: Err(text),
                    ..stream_row_base(flow)
                }
            }
        };
        rows.push(row);
        if let Some(f) = self.flows.get_mut(&key) {
            f.done = true;
            f.dir = Direction::default();
        }
    }

    /// Ends the capture: directions with undecoded bytes are decoded as complete.
    pub fn finish(&mut self, rows: &mut Vec<Row>) {
        self.defrag.finish();
        self.summary.ip_fragments = (self.defrag.reassembled, self.defrag.dropped);
        let mut keys: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.done && !f.dir.data.is_empty())
            .map(|(k, f)| (f.last_frame, *k))
            .collect();
        keys.sort();
        for (_, k) in keys {
            let start = rows.len();
            self.try_stream(k, true, rows);
            self.summarize(&rows[start..]);
        }
    }
}

fn stream_row_base(flow: &Flow) -> Row {
    Row {
        frame: flow.last_frame,
        time: flow.last_time,
        src: flow.src,
        dst: flow.dst,
        transport: "tcp",
        layers: RowLayers::new(),
        label: None,
        key: None,
        body: Err(String::new()),
        serf: None,
    }
}

fn stream_row(flow: &Flow, f: StreamFrame) -> Row {
    let mut layers = RowLayers::new();
    if !f.label.is_empty() {
        layers.push(MessageType::HasLabel);
    }
    if f.decrypted.is_some() {
        layers.push(MessageType::Encrypt);
    }
    if f.compressed {
        layers.push(MessageType::Compress);
    }
    Row {
        layers,
        label: (!f.label.is_empty()).then(|| String::from_utf8_lossy(&f.label).into_owned()),
        key: f.decrypted.map(|(v, k)| (v as u8, k)),
        serf: serf_json::from_stream(&f.message),
        body: Ok(Body::Stream(f.message.into_owned())),
        ..stream_row_base(flow)
    }
}
