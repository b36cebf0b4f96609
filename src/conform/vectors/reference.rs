//! Our answer to the decoder protocol: decodes one vector's bytes with our codec into
//! the JSON shape the corpus expects (the same shape the fixture sidecars use), or
//! `{"error": …}` when the bytes do not decode.

use serde_json::{json, Value};

use crate::serf::{json as serf_json, Coordinate, Filter, MetaForm, SerfMessage, Tags};
use crate::wire::{
    crypto, decode_complete, json, lzw, msgpack::Reader, peel_packet_owned, Keyring, Label,
    LabelPolicy, Message, MessageType, PacketConfig, PeeledPacket, PushPullHeader, SecretKey, Side,
    StreamConfig, StreamFrame, UserMsgHeader,
};

use super::corpus::{Input, Kind};

/// The decoded form of `bytes`, or an object with `error`.
pub fn decode(kind: Kind, input: &Input, bytes: &[u8]) -> Value {
    let decoded = match kind {
        Kind::Message => message(bytes),
        Kind::Packet => packet(input, bytes),
        Kind::Stream => stream(input, bytes),
        Kind::Lzw => lzw::decompress(bytes, lzw::MAX_DECOMPRESSED_BYTES)
            .map(|plain| json!({ "plain": hex::encode(plain) }))
            .map_err(|e| e.to_string()),
        Kind::Encrypt => encrypted(input, bytes),
        Kind::SerfMessage => SerfMessage::decode(bytes)
            .map(|m| json!({ "message": serf_json::message(&m) }))
            .map_err(|e| e.to_string()),
        Kind::SerfTags => match Tags::decode_meta(bytes) {
            Ok((t, MetaForm::Tagged)) => Ok(json!({ "tags": serf_json::tags(&t) })),
            Ok((_, MetaForm::LegacyRole)) => Err("no tag magic byte".into()),
            Err(e) => Err(e.to_string()),
        },
        Kind::SerfPingPayload => match Coordinate::decode_ping_payload(bytes) {
            Ok(Some(c)) => Ok(json!({ "coordinate": serf_json::coordinate(&c) })),
            Ok(None) => Err("empty ping payload".into()),
            Err(e) => Err(e.to_string()),
        },
        Kind::SerfFilter => Filter::decode(bytes)
            .map(|f| json!({ "filter": serf_json::filter(&f) }))
            .map_err(|e| e.to_string()),
    };
    decoded.unwrap_or_else(|e| json!({ "error": e }))
}

fn keyring(input: &Input) -> Result<Option<Keyring>, String> {
    let mut keys = input
        .keys
        .iter()
        .map(|k| SecretKey::from_base64(k).map_err(|e| format!("key {k}: {e}")));
    let Some(primary) = keys.next().transpose()? else {
        return Ok(None);
    };
    Ok(Some(Keyring::with_keys(
        primary,
        keys.collect::<Result<Vec<_>, _>>()?,
    )))
}

fn layer_names(layers: &[MessageType]) -> Value {
    layers.iter().map(|t| t.name()).collect()
}

/// One message as the decoder protocol reads it.
pub enum OneMessage<'a> {
    /// Push/pull is stream-only: its header alone, without the states that follow.
    PushPull(PushPullHeader),
    /// The user message is stream-only too: its header alone.
    User(UserMsgHeader),
    /// Any other message, whole.
    Whole(Message<'a>),
}

impl OneMessage<'_> {
    /// The corpus' JSON form of the message.
    pub fn to_json(&self) -> Value {
        match self {
            OneMessage::PushPull(h) => {
                json!({"type": "push_pull", "fields": json::push_pull_header(h)})
            }
            OneMessage::User(h) => json!({"type": "user", "fields": json::user_msg_header(h)}),
            OneMessage::Whole(m) => json::message(m),
        }
    }
}

/// Reads one message (type byte + body) from `bytes`.
pub fn read_message(bytes: &[u8]) -> Result<OneMessage<'_>, String> {
    let (&t, body) = bytes.split_first().ok_or("empty message")?;
    let mut r = Reader::new(body);
    Ok(match MessageType::try_from(t).map_err(|e| e.to_string())? {
        MessageType::PushPull => {
            OneMessage::PushPull(PushPullHeader::read(&mut r).map_err(|e| e.to_string())?)
        }
        MessageType::User => {
            OneMessage::User(UserMsgHeader::read(&mut r).map_err(|e| e.to_string())?)
        }
        _ => OneMessage::Whole(Message::decode(bytes).map_err(|e| e.to_string())?),
    })
}

fn message(bytes: &[u8]) -> Result<Value, String> {
    Ok(json!({ "message": read_message(bytes)?.to_json() }))
}

fn packet(input: &Input, bytes: &[u8]) -> Result<Value, String> {
    open_packet(input, bytes).map(|(_, v)| v)
}

/// Peels a packet with the input's keys, any label; every part must decode. Returns the
/// peeled packet and its decoded form.
pub fn open_packet(input: &Input, bytes: &[u8]) -> Result<(PeeledPacket, Value), String> {
    let ring = keyring(input)?;
    let cfg = PacketConfig {
        label: LabelPolicy::Any,
        keyring: ring.as_ref(),
        verify_incoming: true,
    };
    let p = peel_packet_owned(bytes, &cfg).map_err(|e| e.to_string())?;
    let mut messages = Vec::new();
    for (layers, m) in &p.messages {
        let m = m.as_ref().map_err(|e| format!("a part failed: {e}"))?;
        let mut v = json::message(m);
        v["layers"] = layer_names(layers.as_slice());
        messages.push(v);
    }
    let mut out = json!({
        "label": String::from_utf8_lossy(&p.label),
        "layers": layer_names(&outer_layers(&p)),
        "messages": messages,
        "encryption_version": p.decrypted.map(|(v, _)| v as u8),
    });
    if let Some((_, key)) = p.decrypted {
        out["key_index"] = json!(key);
    }
    Ok((p, out))
}

/// The layers around a packet's most deeply wrapped message, outermost first.
pub fn outer_layers(p: &PeeledPacket) -> Vec<MessageType> {
    let mut top: Vec<MessageType> = Vec::new();
    for (layers, _) in &p.messages {
        if top.len() < layers.as_slice().len() {
            top = layers.as_slice().to_vec();
        }
    }
    // A packet that peels to no message at all (no error either) can only be a
    // compound of zero parts.
    if p.messages.is_empty() {
        top = [
            (!p.label.is_empty()).then_some(MessageType::HasLabel),
            p.decrypted.map(|_| MessageType::Encrypt),
            p.crc.then_some(MessageType::HasCrc),
            Some(MessageType::Compound),
        ]
        .into_iter()
        .flatten()
        .collect();
    }
    top
}

fn stream(input: &Input, bytes: &[u8]) -> Result<Value, String> {
    open_stream(input, bytes).map(|(_, v)| v)
}

/// Which end of the connection wrote a stream vector's bytes.
pub fn stream_side(input: &Input) -> Result<Side, String> {
    match input.direction.as_deref() {
        Some("dialer") => Ok(Side::Dialer),
        Some("acceptor") => Ok(Side::Acceptor),
        other => Err(format!(
            "a stream needs direction dialer or acceptor, not {other:?}"
        )),
    }
}

/// Decodes the one frame that must make up all of `bytes`. Returns the frame and its
/// decoded form.
pub fn open_stream<'a>(input: &Input, bytes: &'a [u8]) -> Result<(StreamFrame<'a>, Value), String> {
    let ring = keyring(input)?;
    let label = Label::parse_optional(&input.label).map_err(|e| e.to_string())?;
    let side = stream_side(input)?;
    let cfg = StreamConfig {
        // The dialer's label is on the wire; the acceptor's is only the AAD.
        label: match side {
            Side::Dialer => LabelPolicy::Any,
            Side::Acceptor => LabelPolicy::Expect(label.as_ref()),
        },
        keyring: ring.as_ref(),
        verify_incoming: true,
        side,
    };
    let frame = decode_complete(bytes, &cfg).map_err(|e| e.to_string())?;
    if frame.consumed != bytes.len() {
        return Err(format!(
            "the frame ends after {} of {} bytes",
            frame.consumed,
            bytes.len()
        ));
    }
    let layers: Vec<&str> = [
        (!frame.label.is_empty()).then_some("has_label"),
        frame.decrypted.map(|_| "encrypt"),
        frame.compressed.then_some("compress"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut out = json!({
        "layers": layers,
        "message": json::stream_message(&frame.message),
        "encryption_version": frame.decrypted.map(|(v, _)| v as u8),
    });
    if let Some((_, key)) = frame.decrypted {
        out["key_index"] = json!(key);
    }
    Ok((frame, out))
}

fn encrypted(input: &Input, bytes: &[u8]) -> Result<Value, String> {
    let key = input
        .keys
        .first()
        .ok_or("an encrypt vector needs its key")?;
    let key = SecretKey::from_base64(key).map_err(|e| e.to_string())?;
    let aad =
        hex::decode(input.aad.as_deref().unwrap_or_default()).map_err(|e| format!("aad: {e}"))?;
    let version = crypto::check_frame(bytes).map_err(|e| e.to_string())?;
    let plain = crypto::decrypt_payload(&key, bytes, &aad).map_err(|e| e.to_string())?;
    Ok(json!({ "version": version as u8, "plain": hex::encode(plain) }))
}
