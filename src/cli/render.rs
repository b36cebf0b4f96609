//! The output rows of `memberlist decode FILE`, written straight from the decoded
//! messages into the output buffer: no `serde_json::Value` per row, no allocation for
//! the common messages. The bytes are exactly what `present(row.to_json())` prints
//! (JSON with sorted keys, addresses as IPs, versions as numbers) and what
//! `decode::text_line` makes of it; tests below hold the two paths to that.

use std::borrow::Cow;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use memberlist_interop::apps;
use memberlist_interop::inspect::{Body, Row};
use memberlist_interop::serf::json as serf_json;
use memberlist_interop::wire::{
    AckResp, Bytes, Message, MessageType, Ping, PushNodeState, StreamMessage,
};

use super::view;

/// One field value, in the form people read it.
enum Field<'a> {
    Str(Cow<'a, str>),
    Uint(u64),
    Int(i64),
    Bool(bool),
    Null,
    Hex(&'a [u8]),
    /// An address: an IP when it is 4 or 16 bytes, else hex.
    Addr(&'a [u8]),
    /// A version vector as a list of numbers.
    Vsn(&'a [u8]),
}

/// Receives the fields of a message one at a time: key, value.
type Visit<'v> = &'v mut dyn FnMut(&'static str, Field<'_>);

fn opt_hex<'a>(b: &'a Option<Bytes<'_>>) -> Field<'a> {
    b.as_deref().map_or(Field::Null, Field::Hex)
}

fn opt_addr<'a>(b: &'a Option<Bytes<'_>>) -> Field<'a> {
    b.as_deref().map_or(Field::Null, Field::Addr)
}

/// An `omitempty` address: Go decodes an absent one as nil.
fn empty_addr(b: &[u8]) -> Field<'_> {
    if b.is_empty() {
        Field::Null
    } else {
        Field::Addr(b)
    }
}

fn opt_vsn<'a>(b: &'a Option<Bytes<'_>>) -> Field<'a> {
    b.as_deref().map_or(Field::Null, Field::Vsn)
}

/// Calls `f` with each field of the message's `fields` object, keys in sorted order.
fn fields(body: &Body, f: Visit<'_>) {
    match body {
        Body::Packet(m) => match m {
            Message::Ping(p) => ping(p, f),
            Message::IndirectPing(p) => {
                f("Nack", Field::Bool(p.nack));
                f("Node", Field::Str(p.node.to_str_lossy()));
                f("Port", Field::Uint(p.port.into()));
                f("SeqNo", Field::Uint(p.seq_no.into()));
                f("SourceAddr", empty_addr(&p.source_addr));
                f("SourceNode", Field::Str(p.source_node.to_str_lossy()));
                f("SourcePort", Field::Uint(p.source_port.into()));
                f("Target", opt_addr(&p.target));
            }
            Message::AckResp(a) => ack(a, f),
            Message::NackResp(n) => f("SeqNo", Field::Uint(n.seq_no.into())),
            Message::Suspect(a) | Message::Dead(a) => {
                f("From", Field::Str(a.from.to_str_lossy()));
                f("Incarnation", Field::Uint(a.incarnation.into()));
                f("Node", Field::Str(a.node.to_str_lossy()));
            }
            Message::Alive(a) => {
                f("Addr", opt_addr(&a.addr));
                f("Incarnation", Field::Uint(a.incarnation.into()));
                f("Meta", opt_hex(&a.meta));
                f("Node", Field::Str(a.node.to_str_lossy()));
                f("Port", Field::Uint(a.port.into()));
                f("Vsn", opt_vsn(&a.vsn));
            }
            Message::Err(e) => f("Error", Field::Str(e.error.to_str_lossy())),
            Message::User(_) => {}
        },
        Body::Stream(m) => match m {
            StreamMessage::PushPull { header, .. } => {
                f("Join", Field::Bool(header.join));
                f("Nodes", Field::Int(header.nodes.value));
                f("UserStateLen", Field::Int(header.user_state_len.value));
            }
            StreamMessage::User { header, .. } => {
                f("UserMsgLen", Field::Int(header.user_msg_len.value))
            }
            StreamMessage::Ping(p) => ping(p, f),
            StreamMessage::AckResp(a) => ack(a, f),
            StreamMessage::Err(e) => f("Error", Field::Str(e.error.to_str_lossy())),
        },
    }
}

fn ping(p: &Ping<'_>, f: Visit<'_>) {
    f("Node", Field::Str(p.node.to_str_lossy()));
    f("SeqNo", Field::Uint(p.seq_no.into()));
    f("SourceAddr", empty_addr(&p.source_addr));
    f("SourceNode", Field::Str(p.source_node.to_str_lossy()));
    f("SourcePort", Field::Uint(p.source_port.into()));
}

fn ack(a: &AckResp<'_>, f: Visit<'_>) {
    f("Payload", opt_hex(&a.payload));
    f("SeqNo", Field::Uint(a.seq_no.into()));
}

fn node_fields(n: &PushNodeState<'_>, f: Visit<'_>) {
    f("Addr", opt_addr(&n.addr));
    f("Incarnation", Field::Uint(n.incarnation.into()));
    f("Meta", opt_hex(&n.meta));
    f("Name", Field::Str(n.name.to_str_lossy()));
    f("Port", Field::Uint(n.port.into()));
    f("State", Field::Int(n.state.to_int()));
    f("Vsn", opt_vsn(&n.vsn));
}

/// The raw payload a row shows (`payload`), and the push/pull `user_state`.
fn payload(body: &Body) -> Option<&[u8]> {
    match body {
        Body::Packet(Message::User(p)) | Body::Stream(StreamMessage::User { payload: p, .. }) => {
            Some(p)
        }
        _ => None,
    }
}

fn has_fields(body: &Body) -> bool {
    !matches!(body, Body::Packet(Message::User(_)))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

fn num(out: &mut Vec<u8>, n: impl Into<u64>) {
    // Ports, octets and counters are mostly short: push their digits one by one
    // rather than through a copy of unknown length.
    match n.into() {
        d @ 0..=9 => out.push(b'0' + d as u8),
        d @ 10..=99 => out.extend_from_slice(&[b'0' + (d / 10) as u8, b'0' + (d % 10) as u8]),
        d => out.extend_from_slice(itoa::Buffer::new().format(d).as_bytes()),
    }
}

fn time(out: &mut Vec<u8>, t: Duration) {
    num(out, t.as_secs());
    out.push(b'.');
    let us = t.subsec_micros();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(us).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 6 - digits.len()));
    out.extend_from_slice(digits);
}

/// A JSON string, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec");
    }
}

/// An IP as `Display` writes it; IPv4 (nearly every row) without the formatter.
fn ip_addr(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                num(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// A socket address as `Display` writes it (`1.2.3.4:5`, `[::1]:5`).
fn socket_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            ip_addr(out, IpAddr::V4(*v4.ip()));
            out.push(b':');
            num(out, v4.port());
        }
        SocketAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn vsn(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'[');
    for (i, b) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        num(out, *b);
    }
    out.push(b']');
}

/// Writes a field value as JSON (`json`) or as the text form shows it.
fn value(out: &mut Vec<u8>, v: &Field<'_>, json: bool) {
    let quoted = |out: &mut Vec<u8>, write: &dyn Fn(&mut Vec<u8>)| {
        if json {
            out.push(b'"');
        }
        write(out);
        if json {
            out.push(b'"');
        }
    };
    match v {
        Field::Str(s) if json => string(out, s),
        Field::Str(s) => out.extend_from_slice(s.as_bytes()),
        Field::Uint(n) => num(out, *n),
        Field::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Field::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Field::Null => out.extend_from_slice(b"null"),
        Field::Hex(b) => quoted(out, &|out| hex(out, b)),
        Field::Addr(b) => match view::ip(b) {
            Some(ip) => quoted(out, &|out| ip_addr(out, ip)),
            None => quoted(out, &|out| hex(out, b)),
        },
        Field::Vsn(b) => vsn(out, b),
    }
}

/// A `{"Key":value,…}` object from a field lister.
fn object(out: &mut Vec<u8>, list: &dyn Fn(Visit<'_>)) {
    out.push(b'{');
    let mut first = true;
    list(&mut |k, v| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        value(out, &v, true);
    });
    out.push(b'}');
}

/// The Serf data as displayed: addresses as IPs, printable payloads as text.
fn serf_view(row: &Row) -> Option<serde_json::Value> {
    let mut serf = row.serf.clone()?;
    view::humanize_serf(&mut serf);
    Some(serf)
}

/// Appends one JSON line for the row.
pub fn json(out: &mut Vec<u8>, row: &Row) {
    out.push(b'{');
    if let Some(app) = &row.app {
        out.extend_from_slice(b"\"app\":");
        serde_json::to_writer(&mut *out, &**app).expect("writing to a Vec");
        out.push(b',');
    }
    out.extend_from_slice(b"\"dst\":\"");
    socket_addr(out, row.dst);
    out.push(b'"');
    if let Some((version, _)) = row.key {
        out.extend_from_slice(b",\"encryption_version\":");
        num(out, version);
    }
    let body = match &row.body {
        Ok(b) => Some(b),
        Err(e) => {
            out.extend_from_slice(b",\"error\":");
            string(out, e);
            None
        }
    };
    if let Some(b) = body.filter(|b| has_fields(b)) {
        out.extend_from_slice(b",\"fields\":");
        object(out, &|f| fields(b, f));
    }
    out.extend_from_slice(b",\"frame\":");
    num(out, row.frame);
    if let Some((_, key)) = row.key {
        out.extend_from_slice(b",\"key\":");
        num(out, key as u64);
    }
    if let Some(label) = &row.label {
        out.extend_from_slice(b",\"label\":");
        string(out, label);
    }
    out.extend_from_slice(b",\"layers\":[");
    for (i, l) in row.layers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, l.name());
    }
    out.push(b']');
    if let Some(Body::Stream(StreamMessage::PushPull { nodes, .. })) = body {
        out.extend_from_slice(b",\"nodes\":[");
        for (i, n) in nodes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            object(out, &|f| node_fields(n, f));
        }
        out.push(b']');
    }
    if let Some(p) = body.and_then(payload) {
        out.extend_from_slice(b",\"payload\":\"");
        hex(out, p);
        out.push(b'"');
    }
    if let Some(serf) = serf_view(row) {
        out.extend_from_slice(b",\"serf\":");
        serde_json::to_writer(&mut *out, &serf).expect("writing to a Vec");
    }
    out.extend_from_slice(b",\"src\":\"");
    socket_addr(out, row.src);
    out.extend_from_slice(b"\",\"time\":\"");
    time(out, row.time);
    out.extend_from_slice(b"\",\"transport\":\"");
    out.extend_from_slice(row.transport.as_bytes());
    out.push(b'"');
    if let Some(f) = &row.framing {
        out.extend_from_slice(b",\"transport_frame\":");
        serde_json::to_writer(&mut *out, &f.to_json()).expect("writing to a Vec");
    }
    if let Some(b) = body {
        out.extend_from_slice(b",\"type\":\"");
        out.extend_from_slice(b.type_name().as_bytes());
        out.push(b'"');
    }
    if let Some(Body::Stream(StreamMessage::PushPull { user_state, .. })) = body {
        out.extend_from_slice(b",\"user_state\":\"");
        hex(out, user_state);
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");
}

/// Appends the one-line text form of the row.
pub fn text(out: &mut Vec<u8>, row: &Row) {
    let mut frame = itoa::Buffer::new();
    let frame = frame.format(row.frame).as_bytes();
    out.extend(std::iter::repeat_n(
        b' ',
        5usize.saturating_sub(frame.len()),
    ));
    out.extend_from_slice(frame);
    out.push(b' ');
    time(out, row.time);
    out.push(b' ');
    socket_addr(out, row.src);
    out.extend_from_slice(b" -> ");
    socket_addr(out, row.dst);
    out.push(b' ');
    out.extend_from_slice(row.transport.as_bytes());
    if let Some(f) = &row.framing {
        out.push(b' ');
        out.extend_from_slice(f.text().as_bytes());
    }
    out.extend_from_slice(b" [");
    for (i, l) in row.layers.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match (l, row.key) {
            (MessageType::Encrypt, Some((version, key))) => {
                let _ = write!(out, "encrypt(v{version}, key {key})");
            }
            _ => out.extend_from_slice(l.name().as_bytes()),
        }
    }
    out.extend_from_slice(b"] ");
    let body = match &row.body {
        Ok(b) => b,
        Err(e) => {
            out.extend_from_slice(b"error: ");
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
            return;
        }
    };
    out.extend_from_slice(body.type_name().as_bytes());
    out.push(b' ');
    let serf = serf_view(row)
        .map(|s| serf_json::text(&s) + &apps::product::annotation_text(&s))
        .or_else(|| row.app.as_deref().map(apps::text));
    let failed = row.app.as_ref().is_some_and(|a| a.get("error").is_some());
    match (payload(body), serf) {
        (Some(_), Some(serf)) if !failed => out.extend_from_slice(serf.as_bytes()),
        (Some(p), why) => {
            out.extend_from_slice(b"payload=");
            hex(out, p);
            if let Some(why) = why {
                out.push(b' ');
                out.extend_from_slice(why.as_bytes());
            }
        }
        (None, serf) => {
            let mut first = true;
            fields(body, &mut |k, v| {
                if !first {
                    out.push(b' ');
                }
                first = false;
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                value(out, &v, false);
            });
            if let Some(serf) = serf {
                out.push(b' ');
                out.extend_from_slice(serf.as_bytes());
            }
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {

    use memberlist_interop::inspect::{CaptureReader, Inspector, InspectorConfig, Ports};
    use memberlist_interop::wire::{
        Accusation, Alive, ErrResp, GoInt, IndirectPingReq, Keyring, NackResp, NodeState,
        PushPullHeader, SecretKey, UserMsgHeader,
    };

    use super::*;
    use crate::cli::capture::present;
    use crate::cli::decode::text_line;

    /// Both renderings of a row must equal those of its JSON value.
    fn same(row: &Row) {
        let value = present(row.to_json());
        let mut fast = Vec::new();
        json(&mut fast, row);
        assert_eq!(String::from_utf8(fast).unwrap(), format!("{value}\n"));
        let mut fast = Vec::new();
        text(&mut fast, row);
        assert_eq!(String::from_utf8(fast).unwrap(), text_line(&value) + "\n");
    }

    #[test]
    fn every_row_of_the_real_captures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "pcap") {
                continue;
            }
            let scenario: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap())
                    .unwrap();
            let keys: Vec<SecretKey> = scenario["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| SecretKey::from_base64(k.as_str().unwrap()).unwrap())
                .collect();
            let keyring = keys
                .split_first()
                .map(|(p, rest)| Keyring::with_keys(p.clone(), rest.to_vec()));
            let mut inspector = Inspector::new(InspectorConfig {
                ports: Ports::Any,
                keyring,
                label: None,
                summarize: true,
                app: Default::default(),
            });
            let mut rows = Vec::new();
            let mut reader = CaptureReader::new(std::fs::File::open(&path).unwrap()).unwrap();
            while let Some(frame) = reader.next_frame() {
                inspector.frame(&frame.unwrap(), &mut rows);
            }
            inspector.finish(&mut rows);
            rows.iter().for_each(same);
            seen += rows.len();
        }
        assert!(seen > 300, "{seen} rows");
    }

    #[test]
    fn every_message_type_and_odd_values() {
        let base = Row {
            frame: 123456,
            time: Duration::new(1_700_000_000, 7_000),
            src: "[fe80::1]:7946".parse::<SocketAddr>().unwrap(),
            dst: "10.0.0.2:7946".parse().unwrap(),
            transport: "udp",
            layers: [
                MessageType::HasLabel,
                MessageType::Encrypt,
                MessageType::Compound,
            ]
            .into_iter()
            .collect(),
            label: Some("pro\"d".into()),
            key: Some((0, 2)),
            body: Err("bad \"thing\"\n".into()),
            serf: None,
            app: None,
            framing: None,
        };
        let name = |s: &str| s.to_string().into();
        let ping = Ping {
            seq_no: 9,
            node: name("a\tb"),
            source_addr: Cow::Owned(vec![0; 16]),
            source_port: 1,
            source_node: name("ü"),
        };
        let bodies = [
            Body::Packet(Message::Ping(ping.clone())),
            Body::Packet(Message::IndirectPing(IndirectPingReq {
                seq_no: 1,
                target: Some(Cow::Owned(vec![1, 2, 3])),
                port: 2,
                node: name("n"),
                nack: true,
                source_addr: Cow::Owned(vec![]),
                source_port: 0,
                source_node: name(""),
            })),
            Body::Packet(Message::AckResp(AckResp {
                seq_no: 3,
                payload: Some(Cow::Owned(vec![0xab])),
            })),
            Body::Packet(Message::NackResp(NackResp { seq_no: 4 })),
            Body::Packet(Message::Dead(Accusation {
                incarnation: 5,
                node: name("x"),
                from: name("x"),
            })),
            Body::Packet(Message::Alive(Alive {
                incarnation: 6,
                node: name("y"),
                addr: None,
                port: 7,
                meta: Some(Cow::Owned(vec![])),
                vsn: Some(Cow::Owned(vec![])),
            })),
            Body::Packet(Message::Err(ErrResp {
                error: name("e\u{1}"),
            })),
            Body::Packet(Message::User(Cow::Owned(b"hi".to_vec()))),
            Body::Stream(StreamMessage::PushPull {
                header: PushPullHeader {
                    nodes: GoInt::new(1),
                    user_state_len: GoInt::new(-1),
                    join: false,
                },
                nodes: vec![PushNodeState {
                    name: name("z"),
                    addr: Some(Cow::Owned(vec![
                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4,
                    ])),
                    port: 8,
                    meta: None,
                    incarnation: 9,
                    state: NodeState::Suspect,
                    vsn: None,
                }],
                user_state: Cow::Owned(vec![1]),
            }),
            Body::Stream(StreamMessage::User {
                header: UserMsgHeader {
                    user_msg_len: GoInt::new(2),
                },
                payload: Cow::Owned(b"yo".to_vec()),
            }),
            Body::Stream(StreamMessage::Ping(ping)),
        ];
        same(&base);
        for body in bodies {
            let row = Row {
                body: Ok(body),
                ..base.clone()
            };
            same(&row);
            same(&Row {
                key: None,
                label: None,
                layers: Default::default(),
                ..row
            });
        }
    }
}
