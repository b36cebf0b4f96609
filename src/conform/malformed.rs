//! Malformed input does not crash or wedge the peer: after each of a series of
//! damaged datagrams and streams it still acks a ping. Declared lengths run past the
//! data that follows but stay small (1 MiB at most), so even an implementation that
//! allocates what a header claims is not pushed over (older Go memberlist does).

use crate::wire::{
    compound, crc, packet::compress_message, Compress, EncryptionVersion, GoInt, MessageType,
    PushPullHeader, StreamMessage, UserMsgHeader,
};

use super::session::AckOutcome;
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "malformed",
    title: "malformed input does not crash or wedge the peer",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    if s.alive("before the malformed input") != AckOutcome::Acked {
        return Verdict::Fail("the peer does not ack a ping to begin with (see udp-ping)".into());
    }
    let (_, ping) = s.ping();
    let mut udp: Vec<(&str, Vec<u8>)> = vec![
        ("a truncated ping", ping[..ping.len() / 2].to_vec()),
        ("an unknown message type (250)", vec![250, 0x80]),
        ("an empty compound", vec![MessageType::Compound as u8, 0]),
        ("a compound whose part lengths run past the packet", {
            let mut v = vec![
                MessageType::Compound as u8,
                3,
                0xff,
                0xff,
                0xff,
                0xff,
                0x00,
                0x10,
            ];
            v.extend_from_slice(&ping);
            v
        }),
        ("a ping behind a wrong CRC", {
            let mut v = Vec::new();
            crc::wrap(&ping, &mut v);
            v[1] ^= 0xff;
            v
        }),
        (
            "compressed bytes that are not LZW",
            compress_raw(0, &[0xff; 40]),
        ),
        (
            "an unknown compression algorithm (7)",
            compress_raw(7, &ping),
        ),
        (
            "a ping inside three nested compressions",
            compress_message(&compress_message(&compress_message(&ping))),
        ),
        ("a compound inside a compound", {
            let mut inner = Vec::new();
            compound::encode(&[ping.clone(), ping.clone()], &mut inner).expect("two parts");
            let mut outer = Vec::new();
            compound::encode(&[inner.clone(), inner], &mut outer).expect("two parts");
            outer
        }),
    ];
    if s.keyring().is_some() {
        // Encrypted with our key but too short to hold a nonce and tag.
        udp.push(("an encrypted packet too short for its nonce", vec![1, 2, 3]));
    }
    let mut survived = Vec::new();
    for (what, body) in udp {
        // Sealed like every other datagram, so the damage reaches the message layer.
        let datagram = if what.starts_with("an encrypted") {
            let mut v = s.label_header();
            v.push(EncryptionVersion::V1 as u8);
            v.extend_from_slice(&body);
            v
        } else {
            s.wrap(&[body])
        };
        s.send_udp(&format!("malformed: {what}"), &datagram);
        if let Some(v) = still_alive(s, what) {
            return v;
        }
        survived.push(what);
    }

    let plain_stream = |m: &StreamMessage<'_>| {
        let mut v = Vec::new();
        m.encode(&mut v);
        v
    };
    let header_only = |nodes: i64| {
        let mut v = vec![MessageType::PushPull as u8];
        PushPullHeader {
            nodes: GoInt::new(nodes),
            user_state_len: GoInt::new(0),
            join: false,
        }
        .encode(&mut v);
        v
    };
    let user_claiming = |len: i64| {
        let mut v = vec![MessageType::User as u8];
        UserMsgHeader {
            user_msg_len: GoInt::new(len),
        }
        .encode(&mut v);
        v.extend_from_slice(b"0123456789");
        v
    };
    let full = plain_stream(&StreamMessage::push_pull(false, Vec::new(), Vec::new()));
    let tcp: Vec<(&str, Vec<u8>)> = vec![
        (
            "a stream cut inside a push/pull header",
            full[..full.len() / 2].to_vec(),
        ),
        (
            "a push/pull header claiming 1000 nodes, none sent",
            header_only(1000),
        ),
        (
            "a user message claiming 1 MiB, 10 bytes sent",
            user_claiming(1 << 20),
        ),
        ("an unknown stream message type (250)", vec![250, 0x80]),
    ];
    for (what, frame) in tcp {
        let stream = s.seal_stream(&frame);
        s.tcp_raw(&format!("malformed stream: {what}"), &stream);
        if let Some(v) = still_alive(s, what) {
            return v;
        }
        survived.push(what);
    }
    if s.keyring().is_some() {
        let mut v = s.label_header();
        v.push(MessageType::Encrypt as u8);
        v.extend_from_slice(&(1u32 << 31).to_be_bytes());
        v.extend_from_slice(&[0; 32]);
        let what = "an encrypted stream frame claiming 2 GiB";
        s.tcp_raw(&format!("malformed stream: {what}"), &v);
        if let Some(v) = still_alive(s, what) {
            return v;
        }
        survived.push(what);
    }
    Verdict::Pass(format!(
        "acked a ping after each of {} malformed inputs",
        survived.len()
    ))
}

/// `None` when the peer still acks a ping; else the failing verdict.
fn still_alive(s: &mut Session, after: &str) -> Option<Verdict> {
    match s.alive(&format!("after {after}")) {
        AckOutcome::Acked => None,
        AckOutcome::WrongSeq(seq) => Some(Verdict::Fail(format!(
            "after {after} the peer acks a ping with the wrong sequence number {seq}"
        ))),
        AckOutcome::Silent => Some(Verdict::Fail(format!(
            "after {after} the peer no longer acks a ping"
        ))),
    }
}

/// A `compress` message with any algorithm and bytes.
fn compress_raw(algo: u8, buf: &[u8]) -> Vec<u8> {
    let mut v = vec![MessageType::Compress as u8];
    Compress {
        algo,
        buf: Some(buf.to_vec().into()),
    }
    .encode(&mut v);
    v
}
