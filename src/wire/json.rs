//! JSON views of messages with Go's field names, as `memberlist decode --format json`
//! prints them and the fixture sidecars describe them: byte fields as lowercase hex
//! (`null` for a nil slice), Go strings as text (lossy for non-UTF-8).

use serde_json::{json, Map, Value};

use super::messages::{
    Accusation, AckResp, Alive, Bytes, ErrResp, IndirectPingReq, Message, NackResp, Ping,
    PushNodeState, PushPullHeader, UserMsgHeader,
};
use super::stream::StreamMessage;
use super::GoString;

fn b(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn ob(bytes: &Option<Bytes<'_>>) -> Value {
    bytes.as_deref().map_or(Value::Null, b)
}

/// An `omitempty` byte field: Go decodes an absent one as nil.
fn eb(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        b(bytes)
    }
}

fn s(text: &GoString<'_>) -> Value {
    Value::String(text.to_str_lossy().into_owned())
}

/// A ping under Go's field names.
pub fn ping(m: &Ping<'_>) -> Value {
    json!({"SeqNo": m.seq_no, "Node": s(&m.node), "SourceAddr": eb(&m.source_addr),
           "SourcePort": m.source_port, "SourceNode": s(&m.source_node)})
}

/// An indirect ping request under Go's field names.
pub fn indirect_ping(m: &IndirectPingReq<'_>) -> Value {
    json!({"SeqNo": m.seq_no, "Target": ob(&m.target), "Port": m.port, "Node": s(&m.node),
           "Nack": m.nack, "SourceAddr": eb(&m.source_addr), "SourcePort": m.source_port,
           "SourceNode": s(&m.source_node)})
}

/// An ack under Go's field names (payload in base64).
pub fn ack(m: &AckResp<'_>) -> Value {
    json!({"SeqNo": m.seq_no, "Payload": ob(&m.payload)})
}

/// A nack under Go's field names.
pub fn nack(m: &NackResp) -> Value {
    json!({"SeqNo": m.seq_no})
}

/// A suspect or dead message under Go's field names.
pub fn accusation(m: &Accusation<'_>) -> Value {
    json!({"Incarnation": m.incarnation, "Node": s(&m.node), "From": s(&m.from)})
}

/// An alive message under Go's field names.
pub fn alive(m: &Alive<'_>) -> Value {
    json!({"Incarnation": m.incarnation, "Node": s(&m.node), "Addr": ob(&m.addr), "Port": m.port,
           "Meta": ob(&m.meta), "Vsn": ob(&m.vsn)})
}

/// A stream error reply under Go's field names.
pub fn err(m: &ErrResp<'_>) -> Value {
    json!({"Error": s(&m.error)})
}

/// A push/pull header under Go's field names.
pub fn push_pull_header(m: &PushPullHeader) -> Value {
    json!({"Nodes": m.nodes.value, "UserStateLen": m.user_state_len.value, "Join": m.join})
}

/// One push/pull member under Go's field names.
pub fn push_node_state(m: &PushNodeState<'_>) -> Value {
    json!({"Name": s(&m.name), "Addr": ob(&m.addr), "Port": m.port, "Meta": ob(&m.meta),
           "Incarnation": m.incarnation, "State": m.state.to_int(), "Vsn": ob(&m.vsn)})
}

/// A reliable user message header under Go's field names.
pub fn user_msg_header(m: &UserMsgHeader) -> Value {
    json!({"UserMsgLen": m.user_msg_len.value})
}

/// `{"type": …, "fields": {…}}`, or `{"type": "user", "payload": hex}` for UDP user data.
pub fn message(m: &Message<'_>) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), m.message_type().name().into());
    let fields = match m {
        Message::Ping(x) => ping(x),
        Message::IndirectPing(x) => indirect_ping(x),
        Message::AckResp(x) => ack(x),
        Message::NackResp(x) => nack(x),
        Message::Suspect(x) | Message::Dead(x) => accusation(x),
        Message::Alive(x) => alive(x),
        Message::Err(x) => err(x),
        Message::User(p) => {
            o.insert("payload".into(), b(p));
            return Value::Object(o);
        }
    };
    o.insert("fields".into(), fields);
    Value::Object(o)
}

/// A stream message: push/pull adds `nodes` and `user_state`, user adds `payload`.
pub fn stream_message(m: &StreamMessage<'_>) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), m.message_type().name().into());
    match m {
        StreamMessage::PushPull {
            header,
            nodes,
            user_state,
        } => {
            o.insert("fields".into(), push_pull_header(header));
            o.insert("nodes".into(), nodes.iter().map(push_node_state).collect());
            o.insert("user_state".into(), b(user_state));
        }
        StreamMessage::User { header, payload } => {
            o.insert("fields".into(), user_msg_header(header));
            o.insert("payload".into(), b(payload));
        }
        StreamMessage::Ping(x) => {
            o.insert("fields".into(), ping(x));
        }
        StreamMessage::AckResp(x) => {
            o.insert("fields".into(), ack(x));
        }
        StreamMessage::Err(x) => {
            o.insert("fields".into(), err(x));
        }
    }
    Value::Object(o)
}
