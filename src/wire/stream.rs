//! The TCP stream framing: one request (and at most one reply) per connection.
//!
//! `[244 len label]` (dialer only) then one frame: either `[10][len u32 BE][encrypted]`
//! (additional data = those 5 bytes + label) whose plaintext is a plain frame, or a
//! plain frame `[type][body]`, where type 9 wraps exactly one compressed plain frame.
//! Bodies have no length prefix: push/pull is a header, `Nodes` node states and
//! `UserStateLen` raw bytes; a user message is a header and `UserMsgLen` raw bytes.
//! [`decode_frame`] works on whatever bytes have arrived and says when it needs more,
//! so the node and the inspector's TCP reassembly can feed it incrementally. Go's
//! limits (v0.7.0) are enforced before anything is allocated from a header value.

use std::borrow::Cow;

use super::crypto::EncryptionVersion;
use super::error::{Result, WireError};
use super::keyring::Keyring;
use super::label::{self, Label};
use super::message_type::MessageType;
use super::messages::{
    AckResp, Bytes, Compress, ErrResp, GoInt, Ping, PushNodeState, PushPullHeader, UserMsgHeader,
};
use super::msgpack::Reader;
use super::packet::{compress_message, inflate, Encryption, LabelPolicy};

/// Largest encrypted frame and largest push/pull user state (Go's `maxPushStateBytes`).
pub const MAX_PUSH_STATE_BYTES: usize = 20 * 1024 * 1024;
/// Most node states in one push/pull (Go's `maxPushStateNodes`).
pub const MAX_PUSH_STATE_NODES: usize = 1024 * 1024;
/// Largest reliable user message (Go's `maxUserMsgBytes`).
pub const MAX_USER_MSG_BYTES: usize = 20 * 1024 * 1024;

/// Which end of the connection wrote the bytes: only the dialer sends a label header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The side that connected.
    Dialer,
    /// The side that accepted.
    Acceptor,
}

/// A message carried by a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMessage<'a> {
    /// A full-state exchange.
    PushPull {
        /// Counts and the join flag.
        header: PushPullHeader,
        /// Every member the sender knows.
        nodes: Vec<PushNodeState<'a>>,
        /// The delegate's state (Serf's push/pull message).
        user_state: Bytes<'a>,
    },
    /// A reliable user message.
    User {
        /// Its length.
        header: UserMsgHeader,
        /// The message.
        payload: Bytes<'a>,
    },
    /// A TCP fallback ping.
    Ping(Ping<'a>),
    /// The ack to a TCP ping.
    AckResp(AckResp<'a>),
    /// The peer's error.
    Err(ErrResp<'a>),
}

impl StreamMessage<'_> {
    /// The type byte it travels with.
    pub fn message_type(&self) -> MessageType {
        match self {
            StreamMessage::PushPull { .. } => MessageType::PushPull,
            StreamMessage::User { .. } => MessageType::User,
            StreamMessage::Ping(_) => MessageType::Ping,
            StreamMessage::AckResp(_) => MessageType::AckResp,
            StreamMessage::Err(_) => MessageType::Err,
        }
    }

    /// The plain frame: type byte and body, before compression and encryption.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.message_type() as u8);
        match self {
            StreamMessage::PushPull {
                header,
                nodes,
                user_state,
            } => {
                header.encode(out);
                for n in nodes {
                    n.encode(out);
                }
                out.extend_from_slice(user_state);
            }
            StreamMessage::User { header, payload } => {
                header.encode(out);
                out.extend_from_slice(payload);
            }
            StreamMessage::Ping(m) => m.encode(out),
            StreamMessage::AckResp(m) => m.encode(out),
            StreamMessage::Err(m) => m.encode(out),
        }
    }

    /// A copy that no longer borrows the input.
    pub fn into_owned(self) -> StreamMessage<'static> {
        match self {
            StreamMessage::PushPull {
                header,
                nodes,
                user_state,
            } => StreamMessage::PushPull {
                header,
                nodes: nodes.into_iter().map(PushNodeState::into_owned).collect(),
                user_state: Cow::Owned(user_state.into_owned()),
            },
            StreamMessage::User { header, payload } => StreamMessage::User {
                header,
                payload: Cow::Owned(payload.into_owned()),
            },
            StreamMessage::Ping(m) => StreamMessage::Ping(m.into_owned()),
            StreamMessage::AckResp(m) => StreamMessage::AckResp(m.into_owned()),
            StreamMessage::Err(m) => StreamMessage::Err(m.into_owned()),
        }
    }

    /// A push/pull message with the header counts filled in from its contents.
    pub fn push_pull(
        join: bool,
        nodes: Vec<PushNodeState<'_>>,
        user_state: Vec<u8>,
    ) -> StreamMessage<'_> {
        let header = PushPullHeader {
            nodes: GoInt::new(nodes.len() as i64),
            user_state_len: GoInt::new(user_state.len() as i64),
            join,
        };
        StreamMessage::PushPull {
            header,
            nodes,
            user_state: Cow::Owned(user_state),
        }
    }

    /// A reliable user message with its length header.
    pub fn user(payload: &[u8]) -> StreamMessage<'_> {
        StreamMessage::User {
            header: UserMsgHeader {
                user_msg_len: GoInt::new(payload.len() as i64),
            },
            payload: Cow::Borrowed(payload),
        }
    }
}

/// How to frame an outgoing stream message.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamOptions<'k> {
    /// Go compresses stream frames whenever compression is on (no size check).
    pub compress: bool,
    /// Encrypt the frame.
    pub encryption: Option<Encryption<'k>>,
    /// Written as a header only when `side` is the dialer; always the additional data.
    pub label: Option<&'k Label>,
    /// Who writes: decides whether the label header is written.
    pub side: Option<Side>,
}

/// Builds everything one side writes: label header (dialer), then the frame.
pub fn build_stream(message: &StreamMessage<'_>, opts: &StreamOptions<'_>) -> Vec<u8> {
    let mut plain = Vec::with_capacity(256);
    message.encode(&mut plain);
    if opts.compress {
        plain = compress_message(&plain);
    }
    let mut out = Vec::with_capacity(plain.len() + 64);
    if let (Some(l), Some(Side::Dialer)) = (opts.label, opts.side) {
        l.write_header(&mut out);
    }
    match &opts.encryption {
        None => out.extend_from_slice(&plain),
        Some(enc) => {
            let start = out.len();
            let len = super::crypto::encrypted_length(enc.version, plain.len()) as u32;
            out.push(MessageType::Encrypt as u8);
            out.extend_from_slice(&len.to_be_bytes());
            let mut aad = out[start..].to_vec();
            aad.extend_from_slice(opts.label.map_or(&[][..], Label::as_bytes));
            enc.seal(&plain, &aad, &mut out);
        }
    }
    out
}

/// What the reader knows.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig<'k> {
    /// Which label the dialer must send.
    pub label: LabelPolicy<'k>,
    /// Keys to open encrypted frames with.
    pub keyring: Option<&'k Keyring>,
    /// Go's `GossipVerifyIncoming`: when true and a keyring is set, plaintext is refused.
    pub verify_incoming: bool,
    /// The side that wrote the bytes being read.
    pub side: Side,
}

/// A decoded frame with the facts about its layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFrame<'a> {
    /// The label header on the wire (dialer side), empty if none.
    pub label: Vec<u8>,
    /// Encryption version and the index of the keyring key that opened it.
    pub decrypted: Option<(EncryptionVersion, usize)>,
    /// Whether the frame was compressed.
    pub compressed: bool,
    /// Borrowed from the input when the frame was neither encrypted nor compressed.
    pub message: StreamMessage<'a>,
    /// Bytes of the input the frame used.
    pub consumed: usize,
}

/// The result of looking at the bytes of one stream direction so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// One whole frame.
    Frame(StreamFrame<'a>),
    /// Not enough bytes yet; call again with more.
    NeedMore,
}

/// Decodes one direction's first frame from the bytes received so far.
pub fn decode_frame<'a>(buf: &'a [u8], cfg: &StreamConfig<'_>) -> Result<Decoded<'a>> {
    match decode_inner(buf, cfg) {
        Err(WireError::Truncated(_)) => Ok(Decoded::NeedMore),
        other => other.map(Decoded::Frame),
    }
}

/// Decodes a complete direction (the connection has ended): truncation is an error.
pub fn decode_complete<'a>(buf: &'a [u8], cfg: &StreamConfig<'_>) -> Result<StreamFrame<'a>> {
    decode_inner(buf, cfg)
}

fn decode_inner<'a>(buf: &'a [u8], cfg: &StreamConfig<'_>) -> Result<StreamFrame<'a>> {
    let (wire_label, rest) = match cfg.side {
        Side::Dialer => label::strip(buf)?,
        Side::Acceptor => (&[][..], buf),
    };
    let label_len = buf.len() - rest.len();
    let label: &[u8] = match cfg.label {
        LabelPolicy::Expect(want) => {
            let want = want.map_or(&[][..], Label::as_bytes);
            if cfg.side == Side::Dialer && wire_label != want {
                return Err(WireError::LabelMismatch {
                    got: String::from_utf8_lossy(wire_label).into(),
                    expected: String::from_utf8_lossy(want).into(),
                });
            }
            want
        }
        LabelPolicy::Assume(l) => {
            if !wire_label.is_empty() {
                return Err(WireError::InvalidValue {
                    field: "label",
                    detail: "unexpected double stream label header".into(),
                });
            }
            l.map_or(&[][..], Label::as_bytes)
        }
        LabelPolicy::Any => wire_label,
    };
    let &first = rest
        .first()
        .ok_or(WireError::Truncated("stream message type"))?;
    let mut frame = StreamFrame {
        label: wire_label.to_vec(),
        decrypted: None,
        compressed: false,
        message: StreamMessage::AckResp(AckResp::default()),
        consumed: 0,
    };
    if first == MessageType::Encrypt as u8 {
        let ring = cfg.keyring.ok_or(WireError::EncryptionMismatch(
            "remote state is encrypted and encryption is not configured",
        ))?;
        let header = rest
            .get(..5)
            .ok_or(WireError::Truncated("encrypted frame header"))?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > MAX_PUSH_STATE_BYTES {
            return Err(WireError::LimitExceeded {
                what: "encrypted stream frame",
                value: len as u64,
                limit: MAX_PUSH_STATE_BYTES as u64,
            });
        }
        let payload = rest
            .get(5..5 + len)
            .ok_or(WireError::Truncated("encrypted frame"))?;
        let mut aad = Vec::with_capacity(5 + label.len());
        aad.extend_from_slice(header);
        aad.extend_from_slice(label);
        let (plain, key) = ring.decrypt(payload, &aad)?;
        frame.decrypted = Some((EncryptionVersion::try_from(payload[0])?, key));
        // The whole frame is here; anything short inside it is damage, not "wait".
        let (message, compressed) = decode_plain(&plain).map_err(truncation_is_damage)?;
        frame.message = message;
        frame.compressed = compressed;
        frame.consumed = label_len + 5 + len;
        return Ok(frame);
    }
    if cfg.keyring.is_some() && cfg.verify_incoming {
        return Err(WireError::EncryptionMismatch(
            "encryption is configured but remote state is not encrypted",
        ));
    }
    let (message, compressed, used) = decode_plain_counted(rest)?;
    frame.message = message;
    frame.compressed = compressed;
    frame.consumed = label_len + used;
    Ok(frame)
}

fn truncation_is_damage(e: WireError) -> WireError {
    match e {
        WireError::Truncated(what) => WireError::InvalidValue {
            field: "stream frame",
            detail: format!("frame ends inside {what}"),
        },
        e => e,
    }
}

fn decode_plain(buf: &[u8]) -> Result<(StreamMessage<'static>, bool)> {
    decode_plain_counted(buf).map(|(m, c, _)| (m.into_owned(), c))
}

/// Decodes a plain frame (possibly one compressed level); returns bytes consumed.
/// Only a compressed frame has to be copied out of `buf`.
fn decode_plain_counted(buf: &[u8]) -> Result<(StreamMessage<'_>, bool, usize)> {
    let (&t, body) = buf
        .split_first()
        .ok_or(WireError::Truncated("stream message type"))?;
    if t == MessageType::Compress as u8 {
        // A partial compress map reads as truncated, so the caller waits for more.
        let mut r = Reader::new(body);
        let compress = Compress::read(&mut r)?;
        let used = 1 + r.position();
        let inner = inflate(&compress)?;
        if inner.is_empty() {
            return Err(WireError::InvalidValue {
                field: "compress",
                detail: "decompressed message is empty".into(),
            });
        }
        let (m, _) = decode_body(&inner).map_err(truncation_is_damage)?;
        return Ok((m.into_owned(), true, used));
    }
    let (m, used) = decode_body(buf)?;
    Ok((m, false, used))
}

/// Decodes `[type][body]` of an uncompressed frame.
fn decode_body(buf: &[u8]) -> Result<(StreamMessage<'_>, usize)> {
    let (&t, body) = buf
        .split_first()
        .ok_or(WireError::Truncated("stream message type"))?;
    let mut r = Reader::new(body);
    let message = match MessageType::try_from(t)? {
        MessageType::PushPull => {
            let header = PushPullHeader::read(&mut r)?;
            let n = header.nodes.value;
            if n < 0 || n as usize > MAX_PUSH_STATE_NODES {
                return Err(WireError::LimitExceeded {
                    what: "number of nodes in header",
                    value: n as u64,
                    limit: MAX_PUSH_STATE_NODES as u64,
                });
            }
            // Each node state takes well over 8 bytes: bound the allocation by input.
            let mut nodes = Vec::with_capacity((n as usize).min(r.rest().len() / 8));
            for _ in 0..n {
                nodes.push(PushNodeState::read(&mut r)?);
            }
            let len = header.user_state_len.value;
            if len < 0 || len as usize > MAX_PUSH_STATE_BYTES {
                return Err(WireError::LimitExceeded {
                    what: "user state length",
                    value: len as u64,
                    limit: MAX_PUSH_STATE_BYTES as u64,
                });
            }
            let user_state = take(&mut r, len as usize, "push/pull user state")?;
            StreamMessage::PushPull {
                header,
                nodes,
                user_state: Cow::Borrowed(user_state),
            }
        }
        MessageType::User => {
            let header = UserMsgHeader::read(&mut r)?;
            let len = header.user_msg_len.value;
            if len < 0 || len as usize > MAX_USER_MSG_BYTES {
                return Err(WireError::LimitExceeded {
                    what: "user message length",
                    value: len as u64,
                    limit: MAX_USER_MSG_BYTES as u64,
                });
            }
            let payload = take(&mut r, len as usize, "user message")?;
            StreamMessage::User {
                header,
                payload: Cow::Borrowed(payload),
            }
        }
        MessageType::Ping => StreamMessage::Ping(Ping::read(&mut r)?),
        MessageType::AckResp => StreamMessage::AckResp(AckResp::read(&mut r)?),
        MessageType::Err => StreamMessage::Err(ErrResp::read(&mut r)?),
        other => return Err(WireError::UnknownMessageType(other as u8)),
    };
    Ok((message, 1 + r.position()))
}

fn take<'a>(r: &mut Reader<'a>, n: usize, what: &'static str) -> Result<&'a [u8]> {
    r.take(n, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::crypto::SecretKey;

    fn node(name: &str) -> PushNodeState<'static> {
        PushNodeState {
            name: name.to_string().into(),
            addr: Some(Cow::Owned(vec![10, 0, 0, 1])),
            port: 7946,
            meta: None,
            incarnation: 1,
            state: crate::wire::NodeState::Alive,
            vsn: Some(Cow::Owned(vec![1, 5, 2, 0, 0, 0])),
        }
    }

    fn cfg(side: Side) -> StreamConfig<'static> {
        StreamConfig {
            label: LabelPolicy::Any,
            keyring: None,
            verify_incoming: true,
            side,
        }
    }

    #[test]
    fn push_pull_vector_and_incremental_decoding() {
        let m = StreamMessage::push_pull(true, vec![node("node-a")], b"abc".to_vec());
        let bytes = build_stream(&m, &StreamOptions::default());
        assert_eq!(hex::encode(&bytes), "0683a44a6f696ec3a54e6f64657301ac5573657253746174654c656e0387a441646472a40a000001ab496e6361726e6174696f6e01a44d657461c0a44e616d65a66e6f64652d61a4506f7274cd1f0aa5537461746500a356736ea6010502000000616263");
        for i in 0..bytes.len() {
            assert_eq!(
                decode_frame(&bytes[..i], &cfg(Side::Dialer)).unwrap(),
                Decoded::NeedMore,
                "{i}"
            );
            assert!(decode_complete(&bytes[..i], &cfg(Side::Dialer)).is_err());
        }
        let Decoded::Frame(f) = decode_frame(&bytes, &cfg(Side::Dialer)).unwrap() else {
            panic!()
        };
        assert_eq!((f.message, f.consumed), (m.into_owned(), bytes.len()));
    }

    #[test]
    fn encrypted_labelled_compressed_round_trip() {
        let ring = Keyring::new(SecretKey::new(&[7; 32]).unwrap());
        let label = Label::new("prod").unwrap();
        let m = StreamMessage::user(b"hello");
        let opts = StreamOptions {
            compress: true,
            encryption: Some(Encryption {
                keyring: &ring,
                version: EncryptionVersion::V1,
                nonce: None,
            }),
            label: Some(&label),
            side: Some(Side::Dialer),
        };
        let bytes = build_stream(&m, &opts);
        let c = StreamConfig {
            label: LabelPolicy::Expect(Some(&label)),
            keyring: Some(&ring),
            verify_incoming: true,
            side: Side::Dialer,
        };
        let f = decode_complete(&bytes, &c).unwrap();
        assert_eq!(
            (f.message, f.compressed, f.decrypted, f.label),
            (
                m.into_owned(),
                true,
                Some((EncryptionVersion::V1, 0)),
                b"prod".to_vec()
            )
        );
        // Go's refusals: plaintext when encryption is required, ciphertext without keys.
        let plain = build_stream(&StreamMessage::user(b"x"), &StreamOptions::default());
        assert!(matches!(
            decode_complete(
                &plain,
                &StreamConfig {
                    label: LabelPolicy::Any,
                    ..c
                }
            ),
            Err(WireError::EncryptionMismatch(_))
        ));
        let none = StreamConfig { keyring: None, ..c };
        assert!(matches!(
            decode_complete(&bytes, &none),
            Err(WireError::EncryptionMismatch(_))
        ));
    }

    #[test]
    fn compressed_frame_takes_what_go_takes() {
        // An unknown key in the compress map may nest as deep as go-msgpack allows.
        let mut b = vec![MessageType::Compress as u8];
        let mut inner = vec![MessageType::Ping as u8];
        Ping::default().encode(&mut inner);
        Compress {
            algo: 0,
            buf: Some(crate::wire::lzw::compress(&inner).into()),
        }
        .encode(&mut b);
        b[1] = 0x83;
        b.extend_from_slice(&[0xa1, b'X']);
        b.extend(std::iter::repeat_n(
            0x91,
            crate::wire::msgpack::MAX_SKIP_NESTING,
        ));
        b.push(0);
        let f = decode_complete(&b, &cfg(Side::Acceptor)).unwrap();
        assert_eq!(
            (f.message, f.compressed, f.consumed),
            (StreamMessage::Ping(Ping::default()), true, b.len())
        );
    }

    #[test]
    fn encrypted_frame_with_empty_plaintext_is_an_error() {
        // Go v0.7.0 indexes the first plaintext byte unchecked and crashes the process
        // on this frame; we report it as damage.
        let ring = Keyring::new(SecretKey::new(&[0; 16]).unwrap());
        let len = crate::wire::crypto::encrypted_length(EncryptionVersion::V1, 0) as u32;
        let mut b = vec![MessageType::Encrypt as u8];
        b.extend_from_slice(&len.to_be_bytes());
        let aad = b.clone();
        Encryption {
            keyring: &ring,
            version: EncryptionVersion::V1,
            nonce: Some([0; 12]),
        }
        .seal(&[], &aad, &mut b);
        let c = StreamConfig {
            keyring: Some(&ring),
            ..cfg(Side::Acceptor)
        };
        assert!(matches!(
            decode_frame(&b, &c),
            Err(WireError::InvalidValue { .. })
        ));
    }

    #[test]
    fn go_limits() {
        // Header values as in Go's tests: Nodes 10,000,000; UserStateLen 30,000,000.
        let mut b = vec![6];
        PushPullHeader {
            nodes: GoInt::new(10_000_000),
            ..Default::default()
        }
        .encode(&mut b);
        assert!(matches!(
            decode_frame(&b, &cfg(Side::Acceptor)),
            Err(WireError::LimitExceeded { .. })
        ));
        let mut b = vec![6];
        PushPullHeader {
            user_state_len: GoInt::new(30_000_000),
            ..Default::default()
        }
        .encode(&mut b);
        assert!(matches!(
            decode_frame(&b, &cfg(Side::Acceptor)),
            Err(WireError::LimitExceeded { .. })
        ));
        let mut b = vec![8];
        UserMsgHeader {
            user_msg_len: GoInt::new(30_000_000),
        }
        .encode(&mut b);
        assert!(matches!(
            decode_frame(&b, &cfg(Side::Acceptor)),
            Err(WireError::LimitExceeded { .. })
        ));
        let mut b = vec![6];
        PushPullHeader {
            nodes: GoInt::new(-1),
            ..Default::default()
        }
        .encode(&mut b);
        assert!(matches!(
            decode_frame(&b, &cfg(Side::Acceptor)),
            Err(WireError::LimitExceeded { .. })
        ));
        let frame = [10, 0xff, 0xff, 0xff, 0xff];
        let ring = Keyring::new(SecretKey::new(&[1; 16]).unwrap());
        let c = StreamConfig {
            keyring: Some(&ring),
            ..cfg(Side::Acceptor)
        };
        assert!(matches!(
            decode_frame(&frame, &c),
            Err(WireError::LimitExceeded { .. })
        ));
    }
}
