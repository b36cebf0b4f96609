//! Recognising memberlist traffic by its bytes, for captures whose gossip is not on the
//! default ports (random test ports, 17946, …).
//!
//! These checks only pick candidates; the inspector then decodes a candidate in full
//! and believes it only if every message in it decodes. They look at a few header
//! bytes so that ordinary traffic (DNS, HTTP, TLS, random UDP) is turned away
//! without a decode attempt: a plain message must open with its type byte, a msgpack
//! map header and the name of one of that message's Go fields (Go always encodes the
//! map form); a CRC must match; a compound's part lengths must add up to the packet.

use crate::apps::dskit;
use crate::wire::crypto::{NONCE_SIZE, TAG_SIZE};
use crate::wire::stream::MAX_PUSH_STATE_BYTES;
use crate::wire::{crc, label, MessageType};

/// The shortest sealed packet or frame body: version byte, nonce and tag.
const SEALED_MIN: usize = 1 + NONCE_SIZE + TAG_SIZE;

/// What the first bytes of a UDP payload suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram {
    /// Plain memberlist layers and a message header: decode it to be sure.
    Plain,
    /// An encryption version byte and room for a nonce and tag; `labelled` when a
    /// label header came first, which makes it very likely gossip even unopened.
    Sealed {
        labelled: bool,
    },
    NotGossip,
}

/// Looks at a UDP payload.
pub fn datagram(payload: &[u8]) -> Datagram {
    let Ok((lbl, body)) = label::strip(payload) else {
        return Datagram::NotGossip;
    };
    if packet_body(body, 0) {
        return Datagram::Plain;
    }
    match body.first() {
        Some(0 | 1) if body.len() >= SEALED_MIN => Datagram::Sealed {
            labelled: !lbl.is_empty(),
        },
        _ => Datagram::NotGossip,
    }
}

/// Whether the bytes a TCP connection opens with (either direction) look like a
/// memberlist stream frame: an optional label, then an encrypted frame header (type,
/// 4-byte length, encryption version) or a plain stream message.
pub fn stream_start(data: &[u8]) -> bool {
    let Ok((lbl, rest)) = label::strip(data) else {
        return false;
    };
    match rest {
        // Go writes a stream's label header on its own, before the frame; alone it is
        // believed only as readable text (what labels are in practice: partitions,
        // segments), or any random segment of the right length would pass.
        [] => !lbl.is_empty() && lbl.iter().all(|b| b.is_ascii_graphic() || *b == b' '),
        [t, l0, l1, l2, l3, version, ..] if *t == MessageType::Encrypt as u8 => {
            let len = u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize;
            (SEALED_MIN..=MAX_PUSH_STATE_BYTES).contains(&len) && *version <= 1
        }
        [t, ..] if *t == MessageType::Compress as u8 => message_header(rest),
        [t, ..] => {
            matches!(
                MessageType::try_from(*t),
                Ok(MessageType::Ping
                    | MessageType::AckResp
                    | MessageType::PushPull
                    | MessageType::User
                    | MessageType::Err)
            ) && message_header(rest)
        }
    }
}

/// The first data of a dialer's connection in dskit's TCP transport: a packet's header
/// (marker 1, the length and text of the sender's `ip:port`) or a stream's marker 2 and
/// the start of a memberlist stream.
pub fn dskit_start(data: &[u8]) -> bool {
    match data {
        [dskit::PACKET, len, rest @ ..] => rest.get(..*len as usize).is_some_and(|addr| {
            std::str::from_utf8(addr).is_ok_and(|a| a.parse::<std::net::SocketAddr>().is_ok())
        }),
        [dskit::STREAM, rest @ ..] => !rest.is_empty() && stream_start(rest),
        _ => false,
    }
}

/// The start of a TLS connection: a handshake record (TLS 1.0 to 1.3 record versions)
/// holding a ClientHello. Alertmanager's TLS cluster transport looks like this on its port.
pub fn tls_client_hello(data: &[u8]) -> bool {
    matches!(data, [0x16, 0x03, 0..=4, _, _, 0x01, ..])
}

/// A packet body (after label and encryption): CRC, compound, compress or a message.
fn packet_body(body: &[u8], depth: usize) -> bool {
    if depth > crate::wire::packet::MAX_NESTING {
        return false;
    }
    match body.first().map(|&t| MessageType::try_from(t)) {
        Some(Ok(MessageType::HasCrc)) => match crc::unwrap(body) {
            Some(Ok(inner)) => packet_body(inner, depth + 1),
            _ => false,
        },
        Some(Ok(MessageType::Compound)) => compound(body),
        // A UDP user message is the delegate's bytes, anything at all: alone it proves
        // nothing (inside a compound or a CRC it is believed with its wrapper).
        Some(Ok(MessageType::User | MessageType::Encrypt | MessageType::HasLabel)) => false,
        Some(Ok(_)) => message_header(body),
        _ => false,
    }
}

/// `[7][count][count × u16 lengths][parts]` whose lengths add up to the rest exactly.
fn compound(body: &[u8]) -> bool {
    let Some(&count) = body.get(1) else {
        return false;
    };
    let count = count as usize;
    let Some(lengths) = body.get(2..2 + 2 * count) else {
        return false;
    };
    let total: usize = lengths
        .chunks_exact(2)
        .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
        .sum();
    count > 0 && 2 + 2 * count + total == body.len()
}

/// The type byte is followed by a msgpack fixmap whose first key is one of the
/// type's Go field names.
fn message_header(msg: &[u8]) -> bool {
    let [t, map, key, rest @ ..] = msg else {
        return false;
    };
    if !(0x81..=0x8f).contains(map) || !(0xa0..=0xbf).contains(key) {
        return false;
    }
    let Some(name) = rest.get(..(*key & 0x1f) as usize) else {
        return false;
    };
    let Ok(t) = MessageType::try_from(*t) else {
        return false;
    };
    field_names(t).contains(&name)
}

/// The fields Go encodes for each message with a msgpack map body.
fn field_names(t: MessageType) -> &'static [&'static [u8]] {
    match t {
        MessageType::Ping => &[
            b"SeqNo",
            b"Node",
            b"SourceAddr",
            b"SourcePort",
            b"SourceNode",
        ],
        MessageType::IndirectPing => &[
            b"SeqNo",
            b"Target",
            b"Port",
            b"Node",
            b"Nack",
            b"SourceAddr",
            b"SourcePort",
            b"SourceNode",
        ],
        MessageType::AckResp => &[b"SeqNo", b"Payload"],
        MessageType::NackResp => &[b"SeqNo"],
        MessageType::Suspect | MessageType::Dead => &[b"Incarnation", b"Node", b"From"],
        MessageType::Alive => &[b"Incarnation", b"Node", b"Addr", b"Port", b"Meta", b"Vsn"],
        MessageType::PushPull => &[b"Nodes", b"UserStateLen", b"Join"],
        // On a stream only: the header before the user's bytes.
        MessageType::User => &[b"UserMsgLen"],
        MessageType::Compress => &[b"Algo", b"Buf"],
        MessageType::Err => &[b"Error"],
        MessageType::Compound
        | MessageType::Encrypt
        | MessageType::HasCrc
        | MessageType::HasLabel => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(format!("{name}.bin"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn go_packets_are_candidates() {
        for name in [
            "packet_ping",
            "packet_ping_crc",
            "packet_compound_probe",
            "packet_compound_alives_compressed",
            "packet_compound_alives_compressed_crc",
            "packet_user_compound",
            "packet_label",
            "suspect",
            "dead",
            "nack",
            "indirect_ping_nack_true",
        ] {
            assert_eq!(datagram(&fixture(name)), Datagram::Plain, "{name}");
        }
        assert_eq!(
            datagram(&fixture("packet_aes128_v1")),
            Datagram::Sealed { labelled: false }
        );
        assert_eq!(
            datagram(&fixture("packet_aes128_v1_label")),
            Datagram::Sealed { labelled: true }
        );
    }

    #[test]
    fn go_streams_are_candidates() {
        for name in [
            "stream_ping",
            "stream_ack",
            "stream_err",
            "stream_user",
            "stream_user_plain",
            "stream_pushpull_join_plain",
            "stream_pushpull_join_compressed",
            "stream_pushpull_label",
            "stream_pushpull_aes128_v1_label",
            "stream_pushpull_aes256_v0_acceptor",
        ] {
            assert!(stream_start(&fixture(name)), "{name}");
        }
    }

    #[test]
    fn ordinary_traffic_is_not() {
        // A DNS query for example.com (ID 0x0c01, so its first byte is the CRC type),
        // and one whose ID starts like a ping.
        let mut dns =
            hex::decode("0c0101000001000000000000076578616d706c6503636f6d0000010001").unwrap();
        assert_eq!(datagram(&dns), Datagram::NotGossip);
        // Starting like a sealed packet, it is only tried with a key (and fails).
        dns[0] = 0;
        assert_eq!(datagram(&dns), Datagram::Sealed { labelled: false });
        dns[0] = 7;
        assert_eq!(datagram(&dns), Datagram::NotGossip);
        for http in [
            &b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            &[
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ],
        ] {
            assert!(!stream_start(http) && !dskit_start(http));
            assert_eq!(datagram(http), Datagram::NotGossip);
        }
        // Pseudo-random datagrams: the header checks turn away essentially all of them.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let (mut plain, mut streams) = (0, 0);
        for _ in 0..100_000 {
            let len = 8 + (x % 200) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            plain += (datagram(&buf) == Datagram::Plain) as u32;
            streams += (stream_start(&buf) || dskit_start(&buf)) as u32;
        }
        assert_eq!((plain, streams), (0, 0));
    }
}
