//! The inspector proper: frames in, one row per memberlist message (or per thing that
//! did not decode) out, each also counted in the `Summary`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrayvec::ArrayVec;

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{json, Value};

use super::capture::Frame;
use super::defrag::Defrag;
use super::detect;
use super::net::{self, Segment};
use super::summary::Summary;
use super::tcp::Direction;
use crate::apps::{self, dskit, App, Carrier};
use crate::serf::json as serf_json;
use crate::wire::{
    decode_complete, decode_frame, json as wjson, peel_packet, Decoded, Keyring, Label,
    LabelPolicy, Message, MessageType, PacketConfig, Side, StreamConfig, StreamFrame,
    StreamMessage, WireError,
};

/// How an error row about keys begins (counted as a decryption failure).
pub(crate) const NO_KEY: &str = "no key opened it";

/// The error of a TCP connection that opens with a TLS ClientHello.
const TLS_STREAM: &str = "a TLS connection (it opens with a ClientHello), not memberlist: a TLS cluster transport such as Alertmanager's --cluster.tls-config; its gossip cannot be decoded";

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

/// Serf's default port, Consul's LAN and WAN gossip ports and Nomad's server gossip port.
pub const DEFAULT_PORTS: [u16; 4] = [7946, 8301, 8302, 4648];

/// Which traffic is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// The default ports, and any other address once its bytes are recognised as
    /// memberlist (see `detect`).
    Detect,
    /// Only traffic to or from these ports.
    Only(Vec<u16>),
    /// Every UDP and TCP payload, whatever its ports.
    Any,
}

pub struct InspectorConfig {
    pub ports: Ports,
    pub keyring: Option<Keyring>,
    /// A label every packet must carry; `None` accepts any label and reports it.
    pub label: Option<Label>,
    /// Keep the per-message counts and the membership timeline of `summary`; a
    /// plain decode leaves them out (they took about a tenth of its time). Frame,
    /// byte and fragment counts are kept either way.
    pub summarize: bool,
    /// Whose payloads user messages and push/pull user state carry (`--app`).
    pub app: App,
}

/// Whether a datagram or segment is decoded.
enum Selected {
    Yes,
    /// Not on a known gossip address: decoded only if its bytes look like memberlist.
    Maybe,
    No,
}

/// Most SYNs remembered for connections on unknown ports (so that a connection found
/// to carry gossip by its first data still knows its start and its sides).
const MAX_SYNS: usize = 4096;

/// Most addresses recognised as gossip by content.
const MAX_FOUND: usize = 1 << 16;

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
    /// The application data inside (`apps::decode`): `{"app", "type", "fields"}`, or
    /// `{"app", "error"}` when the application's decoder gave up on the payload.
    pub app: Option<Arc<Value>>,
    /// How dskit's TCP transport carried the message, when it did.
    pub framing: Option<dskit::Framing>,
}

impl Row {
    /// A row for `frame` from `src` to `dst`, with nothing read from it yet: no layers,
    /// label, key, Serf or application data, and an empty error as its body.
    pub fn bare(
        frame: u64,
        time: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        transport: &'static str,
    ) -> Row {
        Row {
            frame,
            time,
            src,
            dst,
            transport,
            layers: RowLayers::new(),
            label: None,
            key: None,
            body: Err(String::new()),
            serf: None,
            app: None,
            framing: None,
        }
    }

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
        if let Some(a) = &self.app {
            v["app"] = Value::clone(a);
        }
        if let Some(f) = &self.framing {
            v["transport_frame"] = f.to_json();
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
    /// Addresses off the default ports whose traffic was recognised as memberlist.
    found: FxHashSet<SocketAddr>,
    /// SYN and SYN-ACK segments (sequence number, ACK flag) of connections between
    /// addresses not (yet) known as gossip.
    syns: FxHashMap<(SocketAddr, SocketAddr), (u32, bool)>,
    /// Connections between addresses not (yet) known as gossip whose dialer's first
    /// data was dskit's one-byte stream marker, alone in its segment: its sequence
    /// number, kept until the next segment shows whether a memberlist stream follows.
    markers: FxHashMap<(SocketAddr, SocketAddr), u32>,
    /// Some row came from traffic on a default port.
    default_port_rows: bool,
    /// The label a dialer sent, by the connection's reply direction (at most
    /// `MAX_SYNS`, dropped once the reply is read).
    stream_labels: FxHashMap<(SocketAddr, SocketAddr), Label>,
    /// The application payload decoder (`--app`).
    apps: apps::Decoder,
    /// Ports that TLS connections were opened to, among Alertmanager's cluster port and
    /// those given with `--port`: a TLS cluster transport, whose gossip cannot be read.
    tls: std::collections::BTreeSet<u16>,
    pub summary: Summary,
}

impl Inspector {
    pub fn new(cfg: InspectorConfig) -> Self {
        Inspector {
            flows: HashMap::new(),
            defrag: Defrag::default(),
            found: FxHashSet::default(),
            syns: FxHashMap::default(),
            markers: FxHashMap::default(),
            default_port_rows: false,
            stream_labels: FxHashMap::default(),
            summary: Summary::default(),
            apps: apps::Decoder::new(cfg.app),
            tls: Default::default(),
            cfg,
        }
    }

    fn select(&self, src: &SocketAddr, dst: &SocketAddr) -> Selected {
        let on = |ports: &[u16]| ports.contains(&src.port()) || ports.contains(&dst.port());
        match &self.cfg.ports {
            Ports::Any => Selected::Yes,
            Ports::Only(ports) if on(ports) => Selected::Yes,
            Ports::Only(_) => Selected::No,
            Ports::Detect if on(&DEFAULT_PORTS) => Selected::Yes,
            Ports::Detect if self.found.contains(src) || self.found.contains(dst) => Selected::Yes,
            Ports::Detect => Selected::Maybe,
        }
    }

    /// Whether `addr` is a member's gossip address (for telling the sides of a
    /// connection apart when its SYN was not seen).
    fn listens(&self, addr: &SocketAddr) -> bool {
        match &self.cfg.ports {
            Ports::Only(ports) => ports.contains(&addr.port()),
            Ports::Any => DEFAULT_PORTS.contains(&addr.port()),
            Ports::Detect => DEFAULT_PORTS.contains(&addr.port()) || self.found.contains(addr),
        }
    }

    fn learn(&mut self, addr: SocketAddr) {
        if self.found.len() < MAX_FOUND && !self.found.contains(&addr) {
            self.found.insert(addr);
        }
    }

    /// The ports recognised as gossip by content, when nothing was decoded on the
    /// default ports (without `--port` or `--any-port`): the user is told to pass them.
    pub fn found_elsewhere(&self) -> Option<Vec<u16>> {
        if self.cfg.ports != Ports::Detect || self.default_port_rows || self.found.is_empty() {
            return None;
        }
        let mut ports: Vec<u16> = self.found.iter().map(|a| a.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        Some(ports)
    }

    /// Ports that carried TLS where gossip was expected (Alertmanager's cluster port, or
    /// one given with `--port`): their traffic is not decoded, and the user should know why.
    pub fn tls_ports(&self) -> Vec<u16> {
        self.tls.iter().copied().collect()
    }

    fn tls_seen(&mut self, port: u16) {
        let expected = match &self.cfg.ports {
            Ports::Only(ports) => ports.contains(&port),
            _ => port == apps::alertmanager::CLUSTER_PORT || DEFAULT_PORTS.contains(&port),
        };
        if expected {
            self.tls.insert(port);
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

    /// Decodes one UDP datagram or TCP segment if it is on a gossip port (or, off
    /// the known ports, if its bytes are recognised as memberlist).
    fn segment(&mut self, frame: &Frame, seg: Segment<'_>, rows: &mut Vec<Row>) {
        let start = rows.len();
        match seg {
            Segment::Udp { src, dst, payload } => match self.select(&src, &dst) {
                Selected::Yes => {
                    self.summary.gossip_bytes += payload.len() as u64;
                    self.udp(frame, src, dst, payload, rows);
                    // A member's datagrams leave from its gossip address: a known
                    // address's peer off the default ports is one too.
                    if self.cfg.ports == Ports::Detect
                        && !DEFAULT_PORTS.contains(&src.port())
                        && !DEFAULT_PORTS.contains(&dst.port())
                    {
                        self.learn(src);
                        self.learn(dst);
                    }
                }
                Selected::Maybe => self.detect_udp(frame, src, dst, payload, rows),
                Selected::No => {}
            },
            Segment::Tcp {
                src,
                dst,
                seq,
                syn,
                ack,
                fin,
                rst,
                payload,
            } => {
                if payload.first() == Some(&0x16) && detect::tls_client_hello(payload) {
                    self.tls_seen(dst.port());
                }
                match self.select(&src, &dst) {
                    Selected::Yes => {}
                    Selected::Maybe if payload.is_empty() => {
                        if syn {
                            if self.syns.len() >= MAX_SYNS {
                                self.syns.clear();
                            }
                            self.syns.insert((src, dst), (seq, ack));
                        } else if fin || rst {
                            self.syns.remove(&(src, dst));
                        }
                        return;
                    }
                    Selected::Maybe
                        if dskit::conn_kind(payload) == Some(dskit::ConnKind::Stream)
                            && payload.len() == 1
                            && self.syns.get(&(src, dst)).is_some_and(|(_, ack)| !ack) =>
                    {
                        // dskit writes a stream's marker on its own: wait for what follows.
                        if self.markers.len() >= MAX_SYNS {
                            self.markers.clear();
                        }
                        self.markers.insert((src, dst), seq);
                        return;
                    }
                    Selected::Maybe
                        if detect::stream_start(payload)
                            || detect::dskit_start(payload)
                            || self.markers.contains_key(&(src, dst)) =>
                    {
                        let marker = self.markers.remove(&(src, dst));
                        if marker.is_some() && !detect::stream_start(payload) {
                            return;
                        }
                        // The listening side: the one that answered a SYN, else the
                        // receiver of what looks like a dialer's first frame.
                        let acceptor =
                            match (self.syns.get(&(dst, src)), self.syns.get(&(src, dst))) {
                                (Some((_, false)), _) | (_, Some((_, true))) => src,
                                _ => dst,
                            };
                        self.learn(acceptor);
                        if let Some(marker_seq) = marker {
                            self.summary.gossip_bytes += 1;
                            let mark = [dskit::STREAM];
                            self.tcp(frame, src, dst, marker_seq, false, ack, false, &mark, rows);
                        }
                    }
                    Selected::Maybe | Selected::No => return,
                }
                self.summary.gossip_bytes += payload.len() as u64;
                self.tcp(frame, src, dst, seq, syn, ack, fin || rst, payload, rows);
            }
            _ => {}
        }
        if rows.len() > start
            && self.cfg.ports == Ports::Detect
            && !self.default_port_rows
            && rows[start..].iter().any(|r| {
                DEFAULT_PORTS.contains(&r.src.port()) || DEFAULT_PORTS.contains(&r.dst.port())
            })
        {
            self.default_port_rows = true;
        }
        self.summarize(&rows[start..]);
    }

    /// A datagram between addresses not known as gossip: kept, and its addresses
    /// learned, if it looks like memberlist and every message in it decodes (or it
    /// is a labelled sealed packet, which nothing else sends).
    fn detect_udp(
        &mut self,
        frame: &Frame,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        rows: &mut Vec<Row>,
    ) {
        let labelled_sealed = match detect::datagram(payload) {
            detect::Datagram::Plain => false,
            detect::Datagram::Sealed { labelled } if labelled || self.cfg.keyring.is_some() => {
                labelled
            }
            _ => return,
        };
        let start = rows.len();
        self.udp(frame, src, dst, payload, rows);
        let decoded = rows.len() > start && rows[start..].iter().all(|r| r.body.is_ok());
        if decoded || labelled_sealed {
            self.summary.gossip_bytes += payload.len() as u64;
            self.learn(src);
            self.learn(dst);
        } else {
            rows.truncate(start);
        }
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
        &mut self,
        frame: &Frame,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        rows: &mut Vec<Row>,
    ) {
        let base = Row::bare(frame.number, frame.time, src, dst, "udp");
        // A capture mixes encrypted and plain traffic: only a version byte (0 or 1)
        // after the label can start an encrypted packet, and a plain ping or indirect
        // ping starts the same way, so those get both readings.
        let body = crate::wire::label::strip(payload)
            .map(|(_, b)| b)
            .unwrap_or(payload);
        let may_be_sealed = self.cfg.keyring.is_some() && matches!(body.first(), Some(0 | 1));
        let sealed = PacketConfig {
            label: label_policy(&self.cfg.label),
            keyring: self.cfg.keyring.as_ref(),
            verify_incoming: true,
        };
        let plain = PacketConfig {
            keyring: None,
            ..sealed
        };
        let first = if may_be_sealed { &sealed } else { &plain };
        let start = rows.len();
        let result = Self::peel(
            payload,
            first,
            self.cfg.keyring.as_ref(),
            &mut self.apps,
            None,
            &base,
            rows,
        );
        if let (Err(_), true) = (&result, may_be_sealed) {
            rows.truncate(start);
            if Self::peel(
                payload,
                &plain,
                self.cfg.keyring.as_ref(),
                &mut self.apps,
                None,
                &base,
                rows,
            )
            .is_ok()
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
    #[allow(clippy::too_many_arguments)]
    fn peel(
        payload: &[u8],
        cfg: &PacketConfig<'_>,
        keyring: Option<&Keyring>,
        apps: &mut apps::Decoder,
        hint: Option<App>,
        base: &Row,
        rows: &mut Vec<Row>,
    ) -> Result<(), WireError> {
        let body = crate::wire::label::strip(payload).map_or(payload, |(_, b)| b);
        let start = rows.len();
        let info = peel_packet(payload, cfg, |layers, m| {
            let mut r = base.clone();
            r.layers = layers.as_slice().iter().copied().collect();
            if let Ok(m) = &m {
                r.serf = apps
                    .app()
                    .serf()
                    .then(|| serf_json::from_message(m))
                    .flatten()
                    .map(with_product);
                if let Message::User(p) = m {
                    r.app = apps.decode(hint, Carrier::UserMessage, p, r.serf.is_some());
                }
            }
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
        // Mid-stream: the side talking to the listening port is the dialer.
        let guess = if self.listens(&dst) || !self.listens(&src) {
            Side::Dialer
        } else {
            Side::Acceptor
        };
        let seen_syn = match self.syns.is_empty() || self.flows.contains_key(&(src, dst)) {
            true => None,
            false => self.syns.remove(&(src, dst)),
        };
        let flow = self
            .flows
            .entry((src, dst))
            .or_insert_with(|| Flow::new(src, dst));
        if let Some((seq, ack)) = seen_syn {
            // The connection's SYN came before its address was known as gossip.
            flow.side = Some(if ack { Side::Acceptor } else { Side::Dialer });
            flow.dir.segment(seq, true, &[]);
        }
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
            flow.side = Some(guess);
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
        let side = flow.side.unwrap_or(Side::Dialer);
        // The acceptor's reply carries no label header, yet the connection's label is
        // its additional data: without --label, the one the dialer sent is assumed.
        let dialer_label = match (side, &self.cfg.label) {
            (Side::Acceptor, None) => self.stream_labels.get(&key),
            _ => None,
        };
        // dskit's TCP transport: a dialer's connection starts with a byte saying
        // whether a packet or a stream follows.
        let conn = match (flow.side, flow.dir.midstream) {
            (Some(Side::Dialer), false) => dskit::conn_kind(&flow.dir.data),
            _ => None,
        };
        let (data, framing) = match conn {
            Some(dskit::ConnKind::Packet) if !end => return,
            Some(dskit::ConnKind::Packet) => {
                self.dskit_packet(key, rows);
                return;
            }
            Some(dskit::ConnKind::Stream) => (&flow.dir.data[1..], Some(dskit::Framing::Stream)),
            None => (&flow.dir.data[..], None),
        };
        let cfg = StreamConfig {
            label: match (&self.cfg.label, dialer_label) {
                (Some(l), _) => LabelPolicy::Expect(Some(l)),
                (None, Some(l)) => LabelPolicy::Assume(Some(l)),
                (None, None) => LabelPolicy::Any,
            },
            keyring: self.cfg.keyring.as_ref(),
            verify_incoming: false,
            side,
        };
        let result = if end {
            decode_complete(data, &cfg).map(Some)
        } else {
            decode_frame(data, &cfg).map(|d| match d {
                Decoded::Frame(f) => Some(f),
                Decoded::NeedMore => None,
            })
        };
        let reply_label = match &result {
            Ok(Some(f)) if side == Side::Dialer && !f.label.is_empty() => {
                Label::new(f.label.clone()).ok()
            }
            _ => None,
        };
        let row = match result {
            Ok(None) => return,
            Ok(Some(f)) => stream_row(flow, f, &mut self.apps, framing),
            Err(e) => {
                let mut text = match detect::tls_client_hello(data) {
                    true => TLS_STREAM.to_string(),
                    false => explain(&e, self.cfg.keyring.as_ref(), &[]),
                };
                if flow.dir.midstream {
                    text.push_str(" (capture started mid-stream)");
                }
                Row {
                    body: Err(text),
                    framing,
                    ..stream_row_base(flow)
                }
            }
        };
        rows.push(row);
        self.stream_done(key, reply_label);
    }

    /// Forgets a direction's bytes once its frame is decoded, and remembers the label
    /// a dialer's frame carried for the reply (which has no label header of its own).
    fn stream_done(&mut self, key: (SocketAddr, SocketAddr), reply_label: Option<Label>) {
        if let Some(f) = self.flows.get_mut(&key) {
            f.done = true;
            f.dir = Direction::default();
        }
        match reply_label {
            Some(l) => {
                if self.stream_labels.len() >= MAX_SYNS {
                    self.stream_labels.clear();
                }
                self.stream_labels.insert((key.1, key.0), l);
            }
            None => {
                self.stream_labels.remove(&key);
            }
        }
    }

    /// A whole dskit packet connection: its packet peeled like a UDP datagram, each row
    /// marked with the sender's address and the digest check.
    fn dskit_packet(&mut self, key: (SocketAddr, SocketAddr), rows: &mut Vec<Row>) {
        let Some(flow) = self.flows.get(&key) else {
            return;
        };
        let mut base = stream_row_base(flow);
        match dskit::packet(&flow.dir.data) {
            Err(e) => {
                base.body = Err(e.to_string());
                rows.push(base);
            }
            Ok((framing, payload)) => {
                base.framing = Some(framing);
                let cfg = PacketConfig {
                    label: label_policy(&self.cfg.label),
                    keyring: self.cfg.keyring.as_ref(),
                    verify_incoming: false,
                };
                let keyring = self.cfg.keyring.as_ref();
                let (apps, hint) = (&mut self.apps, Some(App::Dskit));
                let start = rows.len();
                if let Err(e) = Self::peel(payload, &cfg, keyring, apps, hint, &base, rows) {
                    rows.truncate(start);
                    let body = crate::wire::label::strip(payload).map_or(payload, |(_, b)| b);
                    base.body = Err(explain(&e, keyring, body));
                    rows.push(base);
                }
            }
        }
        self.stream_done(key, None);
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
    Row::bare(flow.last_frame, flow.last_time, flow.src, flow.dst, "tcp")
}

/// Serf data with the reading of Consul's or Nomad's tags beside them.
fn with_product(mut serf: Value) -> Value {
    apps::product::annotate(&mut serf);
    serf
}

fn stream_row(
    flow: &Flow,
    f: StreamFrame,
    apps: &mut apps::Decoder,
    framing: Option<dskit::Framing>,
) -> Row {
    let serf = apps
        .app()
        .serf()
        .then(|| serf_json::from_stream(&f.message))
        .flatten()
        .map(with_product);
    let hint = framing.as_ref().map(|_| App::Dskit);
    let payload = match &f.message {
        StreamMessage::User { payload, .. } => Some((Carrier::UserMessage, payload)),
        StreamMessage::PushPull { user_state, .. } => Some((Carrier::UserState, user_state)),
        _ => None,
    }
    .and_then(|(c, p)| apps.decode(hint, c, p, serf.is_some()));
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
        serf,
        app: payload,
        framing,
        body: Ok(Body::Stream(f.message.into_owned())),
        ..stream_row_base(flow)
    }
}

/// The inspector's rule for labels: the one given, else any.
fn label_policy(label: &Option<Label>) -> LabelPolicy<'_> {
    match label {
        Some(l) => LabelPolicy::Expect(Some(l)),
        None => LabelPolicy::Any,
    }
}
