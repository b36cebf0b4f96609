//! The UDP pipeline: building a datagram from messages and peeling one back into
//! messages, with the layers in Go's order.
//!
//! Outermost first: label header, encryption (additional data = label), CRC,
//! compression (only if it makes the packet smaller), compound, messages. Peeling
//! checks the label, decrypts with every key in turn, checks the CRC and then walks
//! compounds and compressed parts recursively, handing each message to a visitor with
//! the stack of layers it sat in. A damaged part inside a compound is reported to the
//! visitor and does not lose its siblings, as in Go.

use super::compound;
use super::crc;
use super::crypto::{self, EncryptionVersion, NONCE_SIZE};
use super::error::{Result, WireError};
use super::keyring::Keyring;
use super::label::{self, Label};
use super::lzw;
use super::message_type::MessageType;
use super::messages::{Compress, Message};
use super::msgpack::Reader;

/// Deepest nesting of compound/compress layers we follow. Go does not bound it; a
/// real sender nests at most a compound inside a compress.
pub const MAX_NESTING: usize = 8;

/// Most bytes the `compress` layers of one datagram may inflate to, all of them
/// together. Go allows 40 MiB per layer, which a 32 KiB datagram of zeros reaches:
/// a fifth of a second of decoding each, so a few such datagrams a second stop a
/// member from answering pings, and a compound of compressed compounds multiplies
/// it. Go's senders compress what fits their UDP buffer (1400 bytes by default,
/// never above a 64 KiB datagram); four times the largest datagram leaves room for
/// a best-effort user message that was compressed to fit.
pub const MAX_PACKET_INFLATED_BYTES: usize = 256 * 1024;

/// How to encrypt outgoing bytes.
#[derive(Debug, Clone, Copy)]
pub struct Encryption<'k> {
    /// The keys; the primary one seals.
    pub keyring: &'k Keyring,
    /// Version 0 (protocol 1: padded) or 1 (later protocols).
    pub version: EncryptionVersion,
    /// A fixed nonce, for reproducing Go's bytes in tests; `None` draws a random one
    /// (as every real sender must).
    pub nonce: Option<[u8; NONCE_SIZE]>,
}

impl Encryption<'_> {
    pub(crate) fn seal(&self, plain: &[u8], aad: &[u8], out: &mut Vec<u8>) {
        match &self.nonce {
            Some(n) => {
                crypto::encrypt_payload(self.version, self.keyring.primary(), n, plain, aad, out)
            }
            None => self.keyring.encrypt(self.version, plain, aad, out),
        }
    }
}

/// What to wrap around outgoing messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct PacketOptions<'k> {
    /// Try LZW; kept only if strictly shorter (Go's rule for packets).
    pub compress: bool,
    /// Add a CRC (Go does for peers whose protocol max is at least 5).
    pub crc: bool,
    /// Encrypt the packet (after compression and CRC).
    pub encryption: Option<Encryption<'k>>,
    /// Prefix the packet with this label (and bind it into encryption).
    pub label: Option<&'k Label>,
}

/// Builds one datagram. One message goes bare, several in one compound (≤ 255).
/// Each message is already encoded (type byte + body).
pub fn build_packet<M: AsRef<[u8]>>(messages: &[M], opts: &PacketOptions<'_>) -> Result<Vec<u8>> {
    let mut payload = match messages {
        [one] => one.as_ref().to_vec(),
        many => {
            let mut v = Vec::new();
            compound::encode(many, &mut v)?;
            v
        }
    };
    if opts.compress {
        let compressed = compress_message(&payload);
        if compressed.len() < payload.len() {
            payload = compressed;
        }
    }
    if opts.crc {
        let mut v = Vec::with_capacity(payload.len() + crc::HEADER_LEN);
        crc::wrap(&payload, &mut v);
        payload = v;
    }
    let aad = opts.label.map_or(&[][..], Label::as_bytes);
    let mut out = Vec::with_capacity(payload.len() + 64 + label::MAX_LEN);
    if let Some(l) = opts.label {
        l.write_header(&mut out);
    }
    match &opts.encryption {
        Some(enc) => enc.seal(&payload, aad, &mut out),
        None => out.extend_from_slice(&payload),
    }
    Ok(out)
}

/// `[9]` + msgpack `compress{Algo: 0, Buf: LZW(payload)}`.
pub fn compress_message(payload: &[u8]) -> Vec<u8> {
    let buf = lzw::compress(payload);
    let mut out = Vec::with_capacity(buf.len() + 16);
    out.push(MessageType::Compress as u8);
    Compress {
        algo: 0,
        buf: Some(buf.into()),
    }
    .encode(&mut out);
    out
}

/// Decodes a `compress` body (after the `9`) and inflates it within Go's limit.
pub fn decompress_message(body: &[u8]) -> Result<Vec<u8>> {
    inflate(&Compress::read(&mut Reader::new(body))?)
}

/// `compress.Algo` of LZW, hashicorp/memberlist's only algorithm.
pub const ALGO_LZW: u8 = 0;
/// `compress.Algo` of snappy (block format), which Grafana's memberlist fork adds
/// (dskit's `-memberlist.compression-algorithm=snappy`: Loki, Mimir, Tempo).
pub const ALGO_SNAPPY: u8 = 1;

/// Inflates a decoded `compress` message within Go's limit.
pub fn inflate(c: &Compress<'_>) -> Result<Vec<u8>> {
    inflate_within(c, lzw::MAX_DECOMPRESSED_BYTES)
}

/// Inflates a decoded `compress` message to at most `limit` bytes.
fn inflate_within(c: &Compress<'_>, limit: usize) -> Result<Vec<u8>> {
    let buf = c.buf.as_deref().unwrap_or_default();
    match c.algo {
        ALGO_LZW => lzw::decompress(buf, limit),
        ALGO_SNAPPY => {
            // The claimed length is checked before anything is allocated, as the fork does.
            let bad = |e: snap::Error| WireError::BadSnappy(e.to_string());
            let len = snap::raw::decompress_len(buf).map_err(bad)?;
            if len > limit {
                return Err(WireError::LimitExceeded {
                    what: "decompressed size",
                    value: len as u64,
                    limit: limit as u64,
                });
            }
            snap::raw::Decoder::new().decompress_vec(buf).map_err(bad)
        }
        other => Err(WireError::UnknownCompression(other)),
    }
}

/// What the receiver requires of the label.
#[derive(Debug, Clone, Copy)]
pub enum LabelPolicy<'l> {
    /// The label on the wire must equal this one (`None`: no header). A node does this.
    Expect(Option<&'l Label>),
    /// Go's `SkipInboundLabelCheck`: a header must be absent, and this label is assumed
    /// (it is still the additional data for decryption).
    Assume(Option<&'l Label>),
    /// Take any label (the inspector): report it, use it as additional data.
    Any,
}

impl<'l> LabelPolicy<'l> {
    /// A node's rule for its own inbound traffic: `Expect` its label, or `Assume` it
    /// when Go's `SkipInboundLabelCheck` is set.
    pub fn inbound(label: Option<&'l Label>, skip_check: bool) -> Self {
        if skip_check {
            LabelPolicy::Assume(label)
        } else {
            LabelPolicy::Expect(label)
        }
    }
}

/// What the receiver knows.
#[derive(Debug, Clone, Copy)]
pub struct PacketConfig<'k> {
    /// Which label the packets must carry.
    pub label: LabelPolicy<'k>,
    /// Keys to open encrypted packets with.
    pub keyring: Option<&'k Keyring>,
    /// Go's `GossipVerifyIncoming`: when false, a packet no key opens is read as
    /// plaintext (migration of a cluster to encryption).
    pub verify_incoming: bool,
}

impl Default for PacketConfig<'_> {
    fn default() -> Self {
        PacketConfig {
            label: LabelPolicy::Expect(None),
            keyring: None,
            verify_incoming: true,
        }
    }
}

/// The wrappers around a message, outermost first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    stack: [MessageType; MAX_NESTING + 3],
    len: u8,
}

impl Layers {
    fn new() -> Self {
        Layers {
            stack: [MessageType::Ping; MAX_NESTING + 3],
            len: 0,
        }
    }

    fn with(mut self, t: MessageType) -> Self {
        self.stack[self.len as usize] = t;
        self.len += 1;
        self
    }

    /// The layers, outermost first.
    pub fn as_slice(&self) -> &[MessageType] {
        &self.stack[..self.len as usize]
    }

    fn nesting(&self) -> usize {
        self.as_slice()
            .iter()
            .filter(|t| matches!(t, MessageType::Compound | MessageType::Compress))
            .count()
    }
}

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Facts about the outer layers of a peeled packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketInfo<'b> {
    /// The label on the wire (empty if none).
    pub label: &'b [u8],
    /// Encryption version and the index of the keyring key that opened it.
    pub decrypted: Option<(EncryptionVersion, usize)>,
    /// True when a keyring was configured, no key opened the packet and
    /// `verify_incoming` was off, so it was read as plaintext.
    pub plaintext_fallback: bool,
    /// Whether a CRC was present (and matched).
    pub crc: bool,
}

/// Peels a datagram, calling `visit` for every message (or damaged part) inside.
/// Errors in the outer layers (label, decryption, CRC, an empty packet) are returned.
pub fn peel_packet<'b, F>(
    buf: &'b [u8],
    cfg: &PacketConfig<'_>,
    mut visit: F,
) -> Result<PacketInfo<'b>>
where
    F: FnMut(&Layers, Result<Message<'_>>),
{
    let mut layers = Layers::new();
    let (wire_label, rest) = label::strip(buf)?;
    let has_header = !wire_label.is_empty();
    let aad: &[u8] = match cfg.label {
        LabelPolicy::Expect(want) => {
            let want = want.map_or(&[][..], Label::as_bytes);
            if wire_label != want {
                return Err(WireError::LabelMismatch {
                    got: String::from_utf8_lossy(wire_label).into(),
                    expected: String::from_utf8_lossy(want).into(),
                });
            }
            wire_label
        }
        LabelPolicy::Assume(assumed) => {
            if has_header {
                return Err(WireError::InvalidValue {
                    field: "label",
                    detail: "unexpected double packet label header".into(),
                });
            }
            assumed.map_or(&[][..], Label::as_bytes)
        }
        LabelPolicy::Any => wire_label,
    };
    if has_header {
        layers = layers.with(MessageType::HasLabel);
    }
    let mut info = PacketInfo {
        label: wire_label,
        decrypted: None,
        plaintext_fallback: false,
        crc: false,
    };
    let plain_buf;
    let mut plain = rest;
    if let Some(ring) = cfg.keyring {
        match ring.decrypt(rest, aad) {
            Ok((p, key)) => {
                let version = EncryptionVersion::try_from(rest[0])?;
                info.decrypted = Some((version, key));
                plain_buf = p;
                plain = &plain_buf;
                layers = layers.with(MessageType::Encrypt);
            }
            Err(e) if cfg.verify_incoming => return Err(e),
            Err(_) => info.plaintext_fallback = true,
        }
    }
    if let Some(inner) = crc::unwrap(plain) {
        plain = inner?;
        info.crc = true;
        layers = layers.with(MessageType::HasCrc);
    }
    if plain.is_empty() {
        return Err(WireError::Truncated("message type byte"));
    }
    let mut budget = MAX_PACKET_INFLATED_BYTES;
    dispatch(plain, layers, &mut budget, &mut visit);
    Ok(info)
}

/// Walks one layer; `budget` is what the datagram's `compress` layers may still
/// inflate to.
fn dispatch<F>(buf: &[u8], layers: Layers, budget: &mut usize, visit: &mut F)
where
    F: FnMut(&Layers, Result<Message<'_>>),
{
    let wrapper = match buf.first() {
        Some(&t) if t == MessageType::Compound as u8 => MessageType::Compound,
        Some(&t) if t == MessageType::Compress as u8 => MessageType::Compress,
        _ => return visit(&layers, Message::decode(buf)),
    };
    if layers.nesting() >= MAX_NESTING {
        return visit(
            &layers,
            Err(WireError::LimitExceeded {
                what: "compound/compress nesting",
                value: layers.nesting() as u64 + 1,
                limit: MAX_NESTING as u64,
            }),
        );
    }
    let inner = layers.with(wrapper);
    if wrapper == MessageType::Compress {
        let inflated = Compress::read(&mut Reader::new(&buf[1..])).and_then(|c| {
            inflate_within(&c, *budget).map_err(|e| match e {
                WireError::LimitExceeded { value, .. } => WireError::LimitExceeded {
                    what: "decompressed bytes in one datagram",
                    value: (MAX_PACKET_INFLATED_BYTES - *budget) as u64 + value,
                    limit: MAX_PACKET_INFLATED_BYTES as u64,
                },
                other => other,
            })
        });
        match inflated {
            Ok(plain) if plain.is_empty() => {
                visit(&inner, Err(WireError::Truncated("message type byte")))
            }
            Ok(plain) => {
                *budget -= plain.len();
                dispatch(&plain, inner, budget, visit)
            }
            Err(e) => visit(&inner, Err(e)),
        }
        return;
    }
    match compound::split(&buf[1..]) {
        Ok(parts) => {
            for part in &parts.parts {
                if part.is_empty() {
                    visit(&inner, Err(WireError::Truncated("message type byte")));
                } else {
                    dispatch(part, inner, budget, visit);
                }
            }
            if parts.truncated > 0 {
                visit(&inner, Err(WireError::Truncated("compound part")));
            }
        }
        Err(e) => visit(&inner, Err(e)),
    }
}

/// A peeled packet with its messages detached from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeeledPacket {
    /// The label on the wire (empty if none).
    pub label: Vec<u8>,
    /// Encryption version and the index of the keyring key that opened it.
    pub decrypted: Option<(EncryptionVersion, usize)>,
    /// Read as plaintext after no key opened it (`verify_incoming` off).
    pub plaintext_fallback: bool,
    /// Whether a CRC was present (and matched).
    pub crc: bool,
    /// Every message with the layers around it, or why it did not decode.
    pub messages: Vec<(Layers, Result<Message<'static>>)>,
}

/// [`peel_packet`], collecting owned messages.
pub fn peel_packet_owned(buf: &[u8], cfg: &PacketConfig<'_>) -> Result<PeeledPacket> {
    let mut messages = Vec::new();
    let info = peel_packet(buf, cfg, |l, m| {
        messages.push((*l, m.map(Message::into_owned)))
    })?;
    Ok(PeeledPacket {
        label: info.label.to_vec(),
        decrypted: info.decrypted,
        plaintext_fallback: info.plaintext_fallback,
        crc: info.crc,
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::crypto::SecretKey;
    use crate::wire::messages::{Accusation, Alive, Ping};
    use std::borrow::Cow;

    fn alive(name: &str, ip: u8) -> Vec<u8> {
        Message::Alive(Alive {
            incarnation: 1,
            node: name.into(),
            addr: Some(Cow::Owned(vec![10, 0, 0, ip])),
            port: 7946,
            meta: None,
            vsn: Some(Cow::Owned(vec![1, 5, 2, 0, 0, 0])),
        })
        .to_bytes()
    }

    #[test]
    fn full_pipeline_matches_protocol_vector() {
        // PROTOCOL.md §17.13, confirmed with Go's stdlib and go-msgpack.
        let msgs = [alive("node-a", 1), alive("node-b", 2), alive("node-c", 3)];
        let ring = Keyring::new(SecretKey::new(&(0..16).collect::<Vec<u8>>()).unwrap());
        let label = Label::new("prod").unwrap();
        let opts = PacketOptions {
            compress: true,
            crc: true,
            encryption: Some(Encryption {
                keyring: &ring,
                version: EncryptionVersion::V1,
                nonce: Some([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
            }),
            label: Some(&label),
        };
        let pkt = build_packet(&msgs, &opts).unwrap();
        assert_eq!(pkt.len(), 202);
        assert!(hex::encode(&pkt).ends_with("0c39e1980e"));
        let cfg = PacketConfig {
            label: LabelPolicy::Expect(Some(&label)),
            keyring: Some(&ring),
            verify_incoming: true,
        };
        let peeled = peel_packet_owned(&pkt, &cfg).unwrap();
        assert_eq!(peeled.decrypted, Some((EncryptionVersion::V1, 0)));
        assert!(peeled.crc);
        assert_eq!(peeled.messages.len(), 3);
        assert_eq!(
            peeled.messages[2].0.as_slice(),
            [
                MessageType::HasLabel,
                MessageType::Encrypt,
                MessageType::HasCrc,
                MessageType::Compress,
                MessageType::Compound
            ]
        );
        assert_eq!(peeled.messages[1].1.as_ref().unwrap().to_bytes(), msgs[1]);
        // Wrong label: mismatch; no keyring: the ciphertext is not a message.
        let other = Label::new("dev").unwrap();
        let bad = PacketConfig {
            label: LabelPolicy::Expect(Some(&other)),
            ..cfg
        };
        assert!(matches!(
            peel_packet_owned(&pkt, &bad),
            Err(WireError::LabelMismatch { .. })
        ));
    }

    #[test]
    fn damaged_part_keeps_siblings() {
        let ping = Message::Ping(Ping {
            seq_no: 9,
            ..Default::default()
        })
        .to_bytes();
        let sus = Message::Suspect(Accusation {
            incarnation: 1,
            node: "a".into(),
            from: "b".into(),
        })
        .to_bytes();
        let pkt = build_packet(
            &[&ping[..], &[3, 0xc1][..], &sus[..]],
            &PacketOptions::default(),
        )
        .unwrap();
        let p = peel_packet_owned(&pkt, &PacketConfig::default()).unwrap();
        let ok: Vec<bool> = p.messages.iter().map(|(_, m)| m.is_ok()).collect();
        assert_eq!(ok, [true, false, true]);
    }

    #[test]
    fn small_packets_stay_uncompressed_and_errors_are_typed() {
        let ping = Message::Ping(Ping {
            seq_no: 100,
            ..Default::default()
        })
        .to_bytes();
        let pkt = build_packet(
            &[&ping],
            &PacketOptions {
                compress: true,
                crc: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            hex::encode(&pkt),
            "0cd7ce66160082a44e6f6465a0a55365714e6f64"
        );
        let mut bad = pkt.clone();
        bad[7] ^= 0xff;
        assert!(matches!(
            peel_packet_owned(&bad, &PacketConfig::default()),
            Err(WireError::BadChecksum { .. })
        ));
        assert!(peel_packet_owned(&[], &PacketConfig::default()).is_err());
        // A compress bomb nested in itself stops at the nesting bound.
        let mut nested = ping.clone();
        for _ in 0..20 {
            nested = compress_message(&nested);
        }
        let p = peel_packet_owned(&nested, &PacketConfig::default()).unwrap();
        assert!(matches!(
            p.messages[0].1,
            Err(WireError::LimitExceeded { .. })
        ));
    }

    /// A datagram's compressed layers inflate to at most
    /// [`MAX_PACKET_INFLATED_BYTES`] together: one bomb is refused, and so is a
    /// compound of compressed parts each under the limit but over it in sum, while
    /// the parts before the budget ran out still decode.
    #[test]
    fn a_datagram_inflates_within_one_budget() {
        let bomb = compress_message(&vec![0u8; 41 * 1024 * 1024]);
        assert!(bomb.len() < 65_507, "the bomb fits a datagram");
        let p = peel_packet_owned(&bomb, &PacketConfig::default()).unwrap();
        assert!(
            matches!(
                &p.messages[0].1,
                Err(WireError::LimitExceeded { what, limit, .. })
                    if *what == "decompressed bytes in one datagram"
                        && *limit == MAX_PACKET_INFLATED_BYTES as u64
            ),
            "{:?}",
            p.messages[0].1
        );
        // Five pings, each padded (after its msgpack body, which Go ignores) to 60 KiB
        // and compressed: four fit the budget, the fifth does not.
        let mut ping = Message::Ping(Ping {
            seq_no: 7,
            ..Default::default()
        })
        .to_bytes();
        ping.resize(60 * 1024, 0);
        let part = compress_message(&ping);
        let parts = vec![part; 5];
        let pkt = build_packet(&parts, &PacketOptions::default()).unwrap();
        let p = peel_packet_owned(&pkt, &PacketConfig::default()).unwrap();
        let ok: Vec<bool> = p.messages.iter().map(|(_, m)| m.is_ok()).collect();
        assert_eq!(ok, [true, true, true, true, false]);
    }
}
