//! Docker's NetworkDB (moby `libnetwork/networkdb`, Swarm's overlay networks, port 7946):
//! its gossip envelope and the node, network and table events, network push/pull and bulk
//! sync it carries, read off the wire (field numbers and types); the types are our own.
//!
//! Every user message and push/pull user state is one envelope: a message type and the
//! bytes of that message. A compound envelope holds further envelopes; a bulk sync's
//! payload is one (a compound of table events).

use std::fmt;

use prost::Message as _;
use serde_json::{json, Map, Value};

/// The envelope around every NetworkDB message.
#[derive(Clone, PartialEq, prost::Message)]
struct GossipMessage {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(bytes = "vec", tag = "2")]
    data: Vec<u8>,
}

/// A node joining or leaving NetworkDB's cluster.
#[derive(Clone, PartialEq, prost::Message)]
struct NodeEvent {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(uint64, tag = "2")]
    l_time: u64,
    #[prost(string, tag = "3")]
    node_name: String,
}

/// A node joining or leaving one network.
#[derive(Clone, PartialEq, prost::Message)]
struct NetworkEvent {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(uint64, tag = "2")]
    l_time: u64,
    #[prost(string, tag = "3")]
    node_name: String,
    #[prost(string, tag = "4")]
    network_id: String,
}

/// One node's membership of one network, in a push/pull.
#[derive(Clone, PartialEq, prost::Message)]
struct NetworkEntry {
    #[prost(string, tag = "1")]
    network_id: String,
    #[prost(uint64, tag = "2")]
    l_time: u64,
    #[prost(string, tag = "3")]
    node_name: String,
    #[prost(bool, tag = "4")]
    leaving: bool,
}

/// The push/pull state: every network membership the sender knows.
#[derive(Clone, PartialEq, prost::Message)]
struct NetworkPushPull {
    #[prost(uint64, tag = "1")]
    l_time: u64,
    #[prost(message, repeated, tag = "2")]
    networks: Vec<NetworkEntry>,
    #[prost(string, tag = "3")]
    node_name: String,
}

/// A table entry created, updated or deleted.
#[derive(Clone, PartialEq, prost::Message)]
struct TableEvent {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(uint64, tag = "2")]
    l_time: u64,
    #[prost(string, tag = "3")]
    node_name: String,
    #[prost(string, tag = "4")]
    network_id: String,
    #[prost(string, tag = "5")]
    table_name: String,
    #[prost(string, tag = "6")]
    key: String,
    #[prost(bytes = "vec", tag = "7")]
    value: Vec<u8>,
    #[prost(int32, tag = "8")]
    residual_reap_time: i32,
}

/// A node's table entries for some networks, sent over a stream.
#[derive(Clone, PartialEq, prost::Message)]
struct BulkSyncMessage {
    #[prost(uint64, tag = "1")]
    l_time: u64,
    #[prost(bool, tag = "2")]
    unsolicited: bool,
    #[prost(string, tag = "3")]
    node_name: String,
    #[prost(string, repeated, tag = "4")]
    networks: Vec<String>,
    #[prost(bytes = "vec", tag = "5")]
    payload: Vec<u8>,
}

/// Several envelopes in one.
#[derive(Clone, PartialEq, prost::Message)]
struct CompoundMessage {
    #[prost(message, repeated, tag = "1")]
    messages: Vec<SimpleMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SimpleMessage {
    #[prost(bytes = "vec", tag = "1")]
    payload: Vec<u8>,
}

/// Envelope types by wire number (0 is invalid).
const TYPES: [&str; 7] = [
    "invalid",
    "network_event",
    "table_event",
    "push_pull",
    "bulk_sync",
    "compound",
    "node_event",
];

/// Deepest nesting of compounds and bulk syncs followed.
const MAX_DEPTH: usize = 4;

/// Why a payload is not NetworkDB's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(what: &str, e: impl fmt::Display) -> PayloadError {
    PayloadError(format!("not a NetworkDB {what}: {e}"))
}

/// A user message or push/pull user state: one envelope as `{"type", "fields"}`.
pub fn payload(bytes: &[u8]) -> Result<Value, PayloadError> {
    envelope(bytes, 0)
}

fn envelope(bytes: &[u8], depth: usize) -> Result<Value, PayloadError> {
    let g = GossipMessage::decode(bytes).map_err(|e| err("message", e))?;
    let name = usize::try_from(g.kind)
        .ok()
        .filter(|&k| k > 0)
        .and_then(|k| TYPES.get(k))
        .ok_or_else(|| PayloadError(format!("not a NetworkDB message: type {}", g.kind)))?;
    let d = g.data.as_slice();
    let fields = match *name {
        "node_event" => {
            let m = NodeEvent::decode(d).map_err(|e| err("node event", e))?;
            json!({"Type": event_type(m.kind, &["JOIN", "LEAVE"]), "LTime": m.l_time,
                   "NodeName": m.node_name})
        }
        "network_event" => {
            let m = NetworkEvent::decode(d).map_err(|e| err("network event", e))?;
            json!({"Type": event_type(m.kind, &["JOIN", "LEAVE"]), "LTime": m.l_time,
                   "NodeName": m.node_name, "NetworkID": m.network_id})
        }
        "table_event" => {
            let m = TableEvent::decode(d).map_err(|e| err("table event", e))?;
            json!({"Type": event_type(m.kind, &["CREATE", "UPDATE", "DELETE"]),
                   "LTime": m.l_time, "NodeName": m.node_name, "NetworkID": m.network_id,
                   "TableName": m.table_name, "Key": m.key, "Value": hex::encode(&m.value),
                   "ResidualReapTime": m.residual_reap_time})
        }
        "push_pull" => {
            let m = NetworkPushPull::decode(d).map_err(|e| err("push/pull", e))?;
            let networks: Vec<Value> = m
                .networks
                .iter()
                .map(|n| {
                    json!({"NetworkID": n.network_id, "LTime": n.l_time,
                           "NodeName": n.node_name, "Leaving": n.leaving})
                })
                .collect();
            json!({"LTime": m.l_time, "Networks": networks, "NodeName": m.node_name})
        }
        "bulk_sync" => {
            let m = BulkSyncMessage::decode(d).map_err(|e| err("bulk sync", e))?;
            let mut f = Map::new();
            f.insert("LTime".into(), json!(m.l_time));
            f.insert("Networks".into(), json!(m.networks));
            f.insert("NodeName".into(), json!(m.node_name));
            f.insert("Unsolicited".into(), json!(m.unsolicited));
            match nested(&m.payload, depth) {
                Some(inner) => f.insert("Payload".into(), inner?),
                None => f.insert("Payload".into(), json!(hex::encode(&m.payload))),
            };
            Value::Object(f)
        }
        "compound" => {
            let m = CompoundMessage::decode(d).map_err(|e| err("compound", e))?;
            let parts = m
                .messages
                .iter()
                .map(|p| {
                    nested(&p.payload, depth).unwrap_or_else(|| Ok(json!(hex::encode(&p.payload))))
                })
                .collect::<Result<Vec<_>, _>>()?;
            json!({"Messages": parts})
        }
        _ => return Err(PayloadError("not a NetworkDB message: type 0".into())),
    };
    Ok(json!({"type": name, "fields": fields}))
}

/// An envelope inside another, unless nested too deep.
fn nested(bytes: &[u8], depth: usize) -> Option<Result<Value, PayloadError>> {
    (depth < MAX_DEPTH && !bytes.is_empty()).then(|| envelope(bytes, depth + 1))
}

/// An event's type by name (1-based), or its number when unknown.
fn event_type(kind: i32, names: &[&str]) -> Value {
    usize::try_from(kind)
        .ok()
        .and_then(|k| k.checked_sub(1))
        .and_then(|k| names.get(k))
        .map_or_else(|| json!(kind), |n| json!(n))
}

/// The one-line text of a decoded NetworkDB payload.
pub fn text(v: &Value) -> String {
    format!("networkdb {}", message_text(v))
}

fn message_text(v: &Value) -> String {
    let f = &v["fields"];
    let s = |k: &str| {
        f[k].as_str()
            .map_or_else(|| f[k].to_string(), str::to_string)
    };
    let kind = v["type"].as_str().unwrap_or_default();
    match kind {
        "node_event" => format!(
            "node_event {} {} ltime={}",
            s("Type"),
            s("NodeName"),
            f["LTime"]
        ),
        "network_event" => format!(
            "network_event {} {} network={} ltime={}",
            s("Type"),
            s("NodeName"),
            s("NetworkID"),
            f["LTime"]
        ),
        "table_event" => {
            let value = hex::decode(s("Value")).unwrap_or_default();
            let shown = match std::str::from_utf8(&value) {
                Ok(t) if t.chars().all(|c| !c.is_control()) => format!("{t:?}"),
                _ => s("Value"),
            };
            format!(
                "table_event {} {}/{} key={} value={shown} from={} ltime={}",
                s("Type"),
                s("NetworkID"),
                s("TableName"),
                s("Key"),
                s("NodeName"),
                f["LTime"]
            )
        }
        "push_pull" => {
            let nets: Vec<String> = f["Networks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    format!(
                        "{}@{}{}",
                        n["NetworkID"].as_str().unwrap_or_default(),
                        n["NodeName"].as_str().unwrap_or_default(),
                        if n["Leaving"] == true {
                            "(leaving)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            format!(
                "push_pull from={} networks=[{}]",
                s("NodeName"),
                nets.join(",")
            )
        }
        "bulk_sync" => {
            let inner = match &f["Payload"] {
                p @ Value::Object(_) => format!(" | {}", message_text(p)),
                _ => String::new(),
            };
            format!(
                "bulk_sync from={} networks={}{}{inner}",
                s("NodeName"),
                f["Networks"],
                if f["Unsolicited"] == true {
                    " unsolicited"
                } else {
                    ""
                }
            )
        }
        "compound" => {
            let parts: Vec<String> = f["Messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| match p {
                    Value::Object(_) => message_text(p),
                    other => other.to_string(),
                })
                .collect();
            format!("compound [{}]", parts.join("; "))
        }
        other => other.to_string(),
    }
}
