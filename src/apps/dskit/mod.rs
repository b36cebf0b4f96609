//! grafana/dskit (Loki, Mimir, Tempo, Cortex): its TCP-only memberlist transport, the
//! memberlist KV store's key/value envelope and the hash ring descriptor it gossips.
//!
//! Everything here was read off the wire of dskit's `kv/memberlist` and `ring` packages
//! (field numbers and types); the message types are our own.
//!
//! `kv` is a member's side of the KV store (it reads the cluster's keys and never adds
//! its own), `ring` the ring as dskit's clients see it.
//!
//! * Transport ([`crate::wire::dskit`]): every memberlist packet or stream gets a new TCP connection whose first
//!   byte says which: 1, a packet (address length byte, the sender's advertised address,
//!   the memberlist packet, then the packet's MD5 digest, up to the connection's end); 2, a
//!   memberlist stream as usual. Memberlist itself never starts a dialer's stream with
//!   1 or 2, so the byte is proof enough.
//! * User messages carry one key/value pair (a broadcast of a change); the push/pull user
//!   state is a run of pairs, each behind a 4-byte big-endian length.
//! * The value of the `ringDesc` codec is snappy-compressed protobuf; a broadcast holds
//!   only the instances that changed (an instance that left the ring is sent as `LEFT`),
//!   a push/pull the whole ring.

pub mod kv;
pub mod ring;

use std::collections::BTreeMap;
use std::fmt;

use prost::Message as _;
use serde_json::{json, Map, Value};

pub use crate::wire::dskit::{FrameError, PACKET, STREAM};

/// What the first byte of a dialer's connection says it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    /// One memberlist packet, complete when the connection ends.
    Packet,
    /// A memberlist stream after the one-byte marker.
    Stream,
}

/// The kind of a dialer's connection from its first byte, if it is dskit's.
pub fn conn_kind(data: &[u8]) -> Option<ConnKind> {
    match data.first() {
        Some(&PACKET) => Some(ConnKind::Packet),
        Some(&STREAM) => Some(ConnKind::Stream),
        _ => None,
    }
}

/// How a row reached the inspector through dskit's transport (shown next to `tcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// A packet connection: the address the sender advertised and whether the MD5
    /// digest after the packet matched it (dskit logs a mismatch and still delivers it).
    Packet {
        /// The sender's advertised `host:port`.
        from: String,
        /// The digest matched the packet's bytes.
        digest_ok: bool,
    },
    /// A stream connection.
    Stream,
}

impl Framing {
    /// `{"kind": "dskit_packet", "from", "digest": "ok"|"mismatch"}` or `{"kind": "dskit_stream"}`.
    pub fn to_json(&self) -> Value {
        match self {
            Framing::Packet { from, digest_ok } => json!({
                "digest": if *digest_ok { "ok" } else { "mismatch" },
                "from": from,
                "kind": "dskit_packet",
            }),
            Framing::Stream => json!({"kind": "dskit_stream"}),
        }
    }

    /// The text form: `dskit-packet(from=ADDR md5=ok)` or `dskit-stream`.
    pub fn text(&self) -> String {
        match self {
            Framing::Packet { from, digest_ok } => format!(
                "dskit-packet(from={from} md5={})",
                if *digest_ok { "ok" } else { "mismatch" }
            ),
            Framing::Stream => "dskit-stream".to_string(),
        }
    }
}

/// `Framing::text` of its JSON form.
pub fn framing_text(v: &Value) -> String {
    match v["kind"].as_str() {
        Some("dskit_packet") => format!(
            "dskit-packet(from={} md5={})",
            v["from"].as_str().unwrap_or_default(),
            v["digest"].as_str().unwrap_or_default()
        ),
        Some("dskit_stream") => "dskit-stream".to_string(),
        _ => String::new(),
    }
}

/// A whole packet connection (first byte 1, up to its end): the framing and the memberlist
/// packet it carries.
pub fn packet(conn: &[u8]) -> Result<(Framing, &[u8]), FrameError> {
    let f = crate::wire::dskit::parse_packet(conn)?;
    let framing = Framing::Packet {
        from: String::from_utf8_lossy(f.from).into_owned(),
        digest_ok: f.digest_ok,
    };
    Ok((framing, f.packet))
}

/// The KV store's envelope: one key's value, encoded by the named codec.
#[derive(Clone, PartialEq, prost::Message)]
struct KeyValuePair {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
    #[prost(string, tag = "3")]
    codec: String,
    #[prost(bool, tag = "4")]
    deleted: bool,
    #[prost(int64, tag = "5")]
    update_time_millis: i64,
}

/// The ring: instances by ID.
#[derive(Clone, PartialEq, prost::Message)]
struct RingDesc {
    #[prost(btree_map = "string, message", tag = "1")]
    ingesters: BTreeMap<String, InstanceDesc>,
}

/// One ring member.
#[derive(Clone, PartialEq, prost::Message)]
struct InstanceDesc {
    #[prost(string, tag = "1")]
    addr: String,
    /// Last heartbeat, Unix seconds.
    #[prost(int64, tag = "2")]
    timestamp: i64,
    #[prost(int32, tag = "3")]
    state: i32,
    #[prost(uint32, repeated, tag = "6")]
    tokens: Vec<u32>,
    #[prost(string, tag = "7")]
    zone: String,
    /// When the instance registered, Unix seconds.
    #[prost(int64, tag = "8")]
    registered_timestamp: i64,
    #[prost(string, tag = "9")]
    id: String,
    #[prost(int64, tag = "10")]
    read_only_updated_timestamp: i64,
    #[prost(bool, tag = "11")]
    read_only: bool,
}

/// The ring's instance states by their wire numbers.
const STATES: [&str; 5] = ["ACTIVE", "LEAVING", "PENDING", "JOINING", "LEFT"];

/// The ring codec's ID in the envelope.
const RING_CODEC: &str = "ringDesc";

/// Why a payload is not dskit's (or is damaged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user message: one key/value pair (a broadcast), as `{"type": "kv_pair", "fields"}`.
pub fn user_message(payload: &[u8]) -> Result<Value, PayloadError> {
    Ok(json!({"type": "kv_pair", "fields": pair(payload)?}))
}

/// A push/pull user state: every key the sender holds, as `{"type": "kv_state", "fields":
/// {"Pairs": [..]}}`.
pub fn user_state(mut state: &[u8]) -> Result<Value, PayloadError> {
    let mut pairs = Vec::new();
    while !state.is_empty() {
        let Some((len, rest)) = state.split_first_chunk::<4>() else {
            return Err(PayloadError(format!(
                "{} bytes left after pair {}, too few for a length",
                state.len(),
                pairs.len()
            )));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(PayloadError(format!(
                "pair {} claims {len} bytes, {} left",
                pairs.len(),
                rest.len()
            )));
        }
        let (bytes, rest) = rest.split_at(len);
        pairs.push(pair(bytes).map_err(|e| PayloadError(format!("pair {}: {e}", pairs.len())))?);
        state = rest;
    }
    Ok(json!({"type": "kv_state", "fields": {"Pairs": pairs}}))
}

/// One pair under Go's field names; the value decoded when its codec is the ring's, else
/// its size.
fn pair(bytes: &[u8]) -> Result<Value, PayloadError> {
    let kv = KeyValuePair::decode(bytes)
        .map_err(|e| PayloadError(format!("not a KV store pair: {e}")))?;
    if kv.key.is_empty() || kv.codec.is_empty() {
        // Protobuf reads almost anything: a pair without a key or codec is no pair.
        return Err(PayloadError("not a KV store pair: no key or codec".into()));
    }
    let mut f = Map::new();
    f.insert("Codec".into(), json!(kv.codec));
    if kv.deleted {
        f.insert("Deleted".into(), json!(true));
    }
    f.insert("Key".into(), json!(kv.key));
    if kv.update_time_millis != 0 {
        f.insert("UpdateTimeMillis".into(), json!(kv.update_time_millis));
    }
    f.insert("ValueLen".into(), json!(kv.value.len()));
    if kv.codec == RING_CODEC {
        f.insert("Ring".into(), ring(&kv.value)?);
    }
    Ok(Value::Object(f))
}

/// A ring descriptor (snappy-compressed protobuf) as `{"Ingesters": {ID: {..}}}`.
fn ring(value: &[u8]) -> Result<Value, PayloadError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(value)
        .map_err(|e| PayloadError(format!("ring value: not snappy: {e}")))?;
    let desc = RingDesc::decode(raw.as_slice())
        .map_err(|e| PayloadError(format!("ring value: not a ring descriptor: {e}")))?;
    let instances: Map<String, Value> = desc
        .ingesters
        .into_iter()
        .map(|(id, i)| (id, instance(&i)))
        .collect();
    Ok(json!({"Ingesters": instances}))
}

fn instance(i: &InstanceDesc) -> Value {
    let mut f = Map::new();
    f.insert("Addr".into(), json!(i.addr));
    if !i.id.is_empty() {
        f.insert("Id".into(), json!(i.id));
    }
    if i.read_only {
        f.insert("ReadOnly".into(), json!(true));
        f.insert(
            "ReadOnlyUpdatedTimestamp".into(),
            json!(i.read_only_updated_timestamp),
        );
    }
    f.insert("RegisteredTimestamp".into(), json!(i.registered_timestamp));
    let state = usize::try_from(i.state)
        .ok()
        .and_then(|s| STATES.get(s))
        .map_or_else(|| json!(i.state), |s| json!(s));
    f.insert("State".into(), state);
    f.insert("Timestamp".into(), json!(i.timestamp));
    f.insert("TokenCount".into(), json!(i.tokens.len()));
    f.insert("Zone".into(), json!(i.zone));
    Value::Object(f)
}

/// The one-line text of a decoded dskit payload.
pub fn text(v: &Value) -> String {
    let f = &v["fields"];
    match v["type"].as_str() {
        Some("kv_pair") => format!("dskit kv_pair {}", pair_text(f)),
        Some("kv_state") => {
            let pairs = f["Pairs"].as_array().map(Vec::as_slice).unwrap_or_default();
            let mut out = format!("dskit kv_state pairs={}", pairs.len());
            for p in pairs {
                out.push_str(" | ");
                out.push_str(&pair_text(p));
            }
            out
        }
        _ => "dskit".to_string(),
    }
}

fn pair_text(p: &Value) -> String {
    let mut out = format!(
        "key={} codec={} bytes={}",
        p["Key"].as_str().unwrap_or_default(),
        p["Codec"].as_str().unwrap_or_default(),
        p["ValueLen"]
    );
    if p["Deleted"] == true {
        out.push_str(" deleted");
    }
    if let Some(ring) = p["Ring"]["Ingesters"].as_object() {
        for (id, i) in ring {
            out.push_str(&format!(
                " {id}={} addr={} zone={} tokens={} heartbeat={} registered={}",
                i["State"]
                    .as_str()
                    .map_or_else(|| i["State"].to_string(), str::to_string),
                i["Addr"].as_str().unwrap_or_default(),
                i["Zone"].as_str().unwrap_or_default(),
                i["TokenCount"],
                i["Timestamp"],
                i["RegisteredTimestamp"],
            ));
        }
    }
    out
}
