//! JSON views of Serf data with Go's field names, in the conventions of
//! [`crate::wire::json`]: Go strings as text, byte slices as lowercase hex (`null` for
//! nil), maps as objects. [`message`] is literal (the fixture sidecars use it);
//! [`explain`] also decodes what Serf nests inside bytes (filters, key and conflict
//! payloads, the relayed message) and shows only the used slots of the event buffer,
//! for the inspector. [`from_message`] and [`from_stream`] find the Serf data inside a
//! memberlist message, and [`text`] gives the inspector's one-line form.

use serde_json::{json, Map, Value};

use super::coordinate::Coordinate;
use super::messages::{
    EventSlot, Filter, InternalQuery, Member, PushPull, SerfMessage, SerfMessageType,
};
use super::tags::{MetaForm, Tags, TAG_MAGIC};
use crate::wire::messages::Bytes;
use crate::wire::stream::StreamMessage;
use crate::wire::{GoString, Message};

fn b(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn ob(bytes: &Option<Bytes<'_>>) -> Value {
    bytes.as_deref().map_or(Value::Null, b)
}

fn s(text: &GoString<'_>) -> Value {
    Value::String(text.to_str_lossy().into_owned())
}

fn strings(v: &Option<Vec<GoString<'_>>>) -> Value {
    v.as_ref()
        .map_or(Value::Null, |v| v.iter().map(s).collect())
}

/// Tags as a JSON object.
pub fn tags(t: &Tags<'_>) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, v)| (k.to_str_lossy().into_owned(), s(v)))
            .collect(),
    )
}

/// A coordinate under Go's field names.
pub fn coordinate(c: &Coordinate) -> Value {
    json!({"Vec": c.vec, "Error": c.error, "Adjustment": c.adjustment, "Height": c.height})
}

/// A push/pull member under Go's field names.
pub fn member(m: &Member<'_>) -> Value {
    json!({"Name": s(&m.name), "Addr": ob(&m.addr), "Port": m.port,
           "Tags": m.tags.as_ref().map_or(Value::Null, tags), "Status": m.status.value,
           "ProtocolMin": m.protocol_min, "ProtocolMax": m.protocol_max,
           "ProtocolCur": m.protocol_cur, "DelegateMin": m.delegate_min,
           "DelegateMax": m.delegate_max, "DelegateCur": m.delegate_cur})
}

fn slot(e: &EventSlot<'_>) -> Value {
    let events = e.events.as_ref().map_or(Value::Null, |evs| {
        evs.iter()
            .map(|e| json!({"Name": s(&e.name), "Payload": ob(&e.payload)}))
            .collect()
    });
    json!({"LTime": e.ltime.0, "Events": events})
}

fn push_pull(m: &PushPull<'_>, used_slots_only: bool) -> Value {
    let status = m.status_ltimes.as_ref().map_or(Value::Null, |st| {
        Value::Object(
            st.iter()
                .map(|(k, v)| (k.to_str_lossy().into_owned(), json!(v.0)))
                .collect(),
        )
    });
    let events = m.events.as_ref().map_or(Value::Null, |slots| {
        slots
            .iter()
            .filter(|e| !used_slots_only || e.is_some())
            .map(|e| e.as_ref().map_or(Value::Null, slot))
            .collect()
    });
    json!({"LTime": m.ltime.0, "StatusLTimes": status, "LeftMembers": strings(&m.left_members),
           "EventLTime": m.event_ltime.0, "Events": events, "QueryLTime": m.query_ltime.0})
}

/// The message's fields, literally.
fn fields(m: &SerfMessage<'_>) -> Value {
    match m {
        SerfMessage::Leave(x) => json!({"LTime": x.ltime.0, "Node": s(&x.node), "Prune": x.prune}),
        SerfMessage::Join(x) => json!({"LTime": x.ltime.0, "Node": s(&x.node)}),
        SerfMessage::PushPull(x) => push_pull(x, false),
        SerfMessage::UserEvent(x) => json!({"LTime": x.ltime.0, "Name": s(&x.name),
                                            "Payload": ob(&x.payload), "CC": x.cc}),
        SerfMessage::Query(x) => {
            let filters = x
                .filters
                .as_ref()
                .map_or(Value::Null, |f| f.iter().map(|f| b(f)).collect());
            json!({"LTime": x.ltime.0, "ID": x.id, "Addr": ob(&x.addr), "Port": x.port,
                   "SourceNode": s(&x.source_node), "Filters": filters, "Flags": x.flags,
                   "RelayFactor": x.relay_factor, "Timeout": x.timeout.value,
                   "Name": s(&x.name), "Payload": ob(&x.payload)})
        }
        SerfMessage::QueryResponse(x) => json!({"LTime": x.ltime.0, "ID": x.id,
                                                "From": s(&x.from), "Flags": x.flags,
                                                "Payload": ob(&x.payload)}),
        SerfMessage::ConflictResponse(x) => x.as_ref().map_or(Value::Null, member),
        SerfMessage::KeyRequest(x) => json!({"Key": ob(&x.key)}),
        SerfMessage::KeyResponse(x) => json!({"Result": x.result, "Message": s(&x.message),
                                              "Keys": strings(&x.keys),
                                              "PrimaryKey": s(&x.primary_key)}),
        SerfMessage::Relay(x) => json!({
            "DestAddr": {"IP": ob(&x.dest_addr.ip), "Port": x.dest_addr.port.value,
                         "Zone": s(&x.dest_addr.zone)},
            "DestName": s(&x.dest_name),
            "Message": b(&x.message),
        }),
    }
}

/// `{"type": …, "fields": {…}}` with every field as Go holds it.
pub fn message(m: &SerfMessage<'_>) -> Value {
    json!({"type": m.message_type().name(), "fields": fields(m)})
}

/// A query filter: its kind and what it matches.
pub fn filter(f: &Filter<'_>) -> Value {
    match f {
        Filter::Node(nodes) => json!({"Nodes": nodes.iter().map(s).collect::<Vec<_>>()}),
        Filter::Tag { tag, expr } => json!({"Tag": s(tag), "Expr": s(expr)}),
    }
}

/// An encoded filter, decoded when it can be, else as hex.
fn filter_bytes(f: &[u8]) -> Value {
    Filter::decode(f).map_or_else(|_| b(f), |f| filter(&f))
}

/// A payload that is itself a Serf message of one of the `expected` types, explained;
/// `None` when it is not one.
fn nested(payload: &Option<Bytes<'_>>, expected: &[SerfMessageType]) -> Option<Value> {
    let p = payload.as_deref()?;
    let m = SerfMessage::decode(p).ok()?;
    expected.contains(&m.message_type()).then(|| explain(&m))
}

/// Like [`message`], with nested Serf data decoded and empty event slots left out.
pub fn explain(m: &SerfMessage<'_>) -> Value {
    let mut v = message(m);
    let f = &mut v["fields"];
    match m {
        SerfMessage::Query(q) => {
            if let Some(fs) = &q.filters {
                f["Filters"] = fs.iter().map(|x| filter_bytes(x)).collect();
            }
            if q.internal().is_some_and(InternalQuery::is_key_query) {
                if let Some(p) = nested(&q.payload, &[SerfMessageType::KeyRequest]) {
                    f["Payload"] = p;
                }
            }
        }
        SerfMessage::QueryResponse(r) => {
            let answers = [
                SerfMessageType::ConflictResponse,
                SerfMessageType::KeyResponse,
            ];
            if let Some(p) = nested(&r.payload, &answers) {
                f["Payload"] = p;
            }
        }
        SerfMessage::PushPull(p) => *f = push_pull(p, true),
        SerfMessage::Relay(r) => {
            if let Ok(inner) = r.inner() {
                f["Message"] = explain(&inner);
            }
        }
        _ => {}
    }
    v
}

/// Tags from node meta, only when it carries Serf's magic byte and a complete map.
fn meta_tags(meta: &Option<Bytes<'_>>) -> Option<Value> {
    let meta = meta.as_deref()?;
    if meta.first() != Some(&TAG_MAGIC) {
        return None;
    }
    match Tags::decode_meta(meta) {
        Ok((t, MetaForm::Tagged)) => Some(tags(&t)),
        _ => None,
    }
}

/// A Serf message that decodes completely from these bytes.
fn serf_message(buf: &[u8]) -> Option<Value> {
    SerfMessage::decode(buf).ok().map(|m| explain(&m))
}

/// The Serf data inside a packet-level memberlist message, when its bytes parse as
/// Serf: a message in a user message, tags in an alive's meta, a coordinate in an
/// ack's payload. `None` for anything else (a non-Serf cluster keeps its raw bytes).
pub fn from_message(m: &Message<'_>) -> Option<Value> {
    match m {
        Message::User(body) => serf_message(body),
        Message::Alive(a) => meta_tags(&a.meta).map(|t| json!({"tags": t})),
        Message::AckResp(a) => {
            let c = Coordinate::decode_ping_payload(a.payload.as_deref()?).ok()??;
            Some(json!({"coordinate": coordinate(&c)}))
        }
        _ => None,
    }
}

/// The Serf data inside a stream message: the push/pull user state (with the tags of
/// the listed nodes) or a reliable user message.
pub fn from_stream(m: &StreamMessage<'_>) -> Option<Value> {
    match m {
        StreamMessage::PushPull {
            nodes, user_state, ..
        } => {
            let state = match SerfMessage::decode(user_state) {
                Ok(m @ SerfMessage::PushPull(_)) => Some(explain(&m)),
                _ => None,
            };
            let node_tags: Map<String, Value> = nodes
                .iter()
                .filter_map(|n| Some((n.name.to_str_lossy().into_owned(), meta_tags(&n.meta)?)))
                .collect();
            if state.is_none() && node_tags.is_empty() {
                return None;
            }
            let mut v = state.unwrap_or_else(|| json!({}));
            if !node_tags.is_empty() {
                v["tags"] = Value::Object(node_tags);
            }
            Some(v)
        }
        StreamMessage::User { payload, .. } => serf_message(payload),
        _ => None,
    }
}

/// A payload for a line of text: quoted text when printable, else hex. A string that
/// is not hex was already made text for display, and is quoted as it is.
fn shown(v: &Value) -> String {
    let Some(h) = v.as_str() else {
        return v.to_string();
    };
    let Ok(bytes) = hex::decode(h) else {
        return format!("{h:?}");
    };
    match String::from_utf8(bytes) {
        Ok(t) if !t.chars().any(char::is_control) => format!("{t:?}"),
        _ => h.to_string(),
    }
}

fn tag_list(t: &Value) -> String {
    t.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The inspector's one-line form of a `serf` object, e.g.
/// `serf user_event deploy ltime=4 payload="v2"`.
pub fn text(v: &Value) -> String {
    let mut out = String::from("serf");
    let f = &v["fields"];
    let str_of = |k: &str| f[k].as_str().unwrap_or_default().to_string();
    if let Some(t) = v["type"].as_str() {
        out.push(' ');
        out.push_str(t);
        let rest = match t {
            "leave" => format!(
                "{} ltime={}{}",
                str_of("Node"),
                f["LTime"],
                if f["Prune"] == true { " prune" } else { "" }
            ),
            "join" => format!("{} ltime={}", str_of("Node"), f["LTime"]),
            "user_event" => format!(
                "{} ltime={} payload={}{}",
                str_of("Name"),
                f["LTime"],
                shown(&f["Payload"]),
                if f["CC"] == true { " cc" } else { "" }
            ),
            "query" => format!(
                "{} id={} ltime={} from={} flags={} timeout={}ns payload={}",
                str_of("Name"),
                f["ID"],
                f["LTime"],
                str_of("SourceNode"),
                f["Flags"],
                f["Timeout"],
                shown(&f["Payload"])
            ),
            "query_response" => format!(
                "{} id={} ltime={} from={} payload={}",
                if f["Flags"] == 1 { "ack" } else { "response" },
                f["ID"],
                f["LTime"],
                str_of("From"),
                if f["Payload"].is_object() {
                    text(&f["Payload"])
                } else {
                    shown(&f["Payload"])
                }
            ),
            "push_pull" => format!(
                "ltime={} event_ltime={} query_ltime={} members={} left={} event_slots={}",
                f["LTime"],
                f["EventLTime"],
                f["QueryLTime"],
                f["StatusLTimes"].as_object().map_or(0, |m| m.len()),
                f["LeftMembers"].as_array().map_or(0, |m| m.len()),
                f["Events"].as_array().map_or(0, |m| m.len())
            ),
            "relay" => format!("to={} {}", str_of("DestName"), text(&f["Message"])),
            "key_response" => format!(
                "result={} keys={} message={:?}",
                f["Result"],
                f["Keys"].as_array().map_or(0, |k| k.len()),
                str_of("Message")
            ),
            _ => f.to_string(),
        };
        out.push(' ');
        out.push_str(&rest);
    }
    if let Some(t) = v.get("tags") {
        match t.as_object() {
            Some(m) if m.values().all(Value::is_object) && !m.is_empty() => {
                for (node, t) in m {
                    out.push_str(&format!(" tags[{node}]={}", tag_list(t)));
                }
            }
            _ => out.push_str(&format!(" tags={}", tag_list(t))),
        }
    }
    if let Some(c) = v.get("coordinate") {
        out.push_str(&format!(
            " coordinate error={} height={} adjustment={}",
            c["Error"], c["Height"], c["Adjustment"]
        ));
    }
    out
}
