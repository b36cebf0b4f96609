//! With a key: pings encrypted with version 0 (PKCS#7 padding, protocol 1's) and
//! version 1 are both acked (Go decrypts either at any protocol); a ping under a key
//! the peer does not hold is dropped. Whether a plaintext ping is answered depends on
//! the peer's `GossipVerifyIncoming`, so it is reported, not judged.

use crate::wire::{build_packet, Encryption, PacketOptions};
use crate::wire::{EncryptionVersion, Keyring, Label, SecretKey};

use super::session::AckOutcome;
use super::{ack_verdict, Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "encryption",
    title: "encryption versions 0 and 1 are accepted, a foreign key is not",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    if s.keyring().is_none() {
        return Verdict::NotApplicable(
            "no --key given: the peer is checked without encryption".into(),
        );
    }
    for version in [EncryptionVersion::V1, EncryptionVersion::V0] {
        let (seq, ping) = s.ping();
        let label = s.label().cloned();
        let datagram = s.wrap_with(&[ping], false, label.as_ref(), version);
        let what = format!("ping seq={seq} encrypted with version {}", version as u8);
        let outcome = s.expect_ack(&what, &datagram, seq, s.timeout);
        if outcome != AckOutcome::Acked {
            return ack_verdict(outcome, seq, &what);
        }
    }
    let foreign = Keyring::new(SecretKey::new(&[0x5a; 16]).expect("a 16-byte key"));
    let (seq, ping) = s.ping();
    let datagram = sealed(std::slice::from_ref(&ping), &foreign, s.label());
    let what = format!("ping seq={seq} under a key the peer does not hold");
    if s.expect_ack(&what, &datagram, seq, s.quiet) != AckOutcome::Silent {
        return Verdict::Fail(format!("{what} was acked"));
    }
    let (seq, ping) = s.ping();
    let plain = build_packet(
        &[ping],
        &PacketOptions {
            label: s.label(),
            ..PacketOptions::default()
        },
    )
    .expect("one ping");
    let what = format!("plaintext ping seq={seq}");
    let plaintext = match s.expect_ack(&what, &plain, seq, s.quiet) {
        AckOutcome::Silent => "refuses plaintext (GossipVerifyIncoming)",
        _ => "answers plaintext too (GossipVerifyIncoming off)",
    };
    Verdict::Pass(format!(
        "versions 0 and 1 acked; a foreign key dropped; {plaintext}"
    ))
}

fn sealed(messages: &[Vec<u8>], keyring: &Keyring, label: Option<&Label>) -> Vec<u8> {
    let opts = PacketOptions {
        encryption: Some(Encryption {
            keyring,
            version: EncryptionVersion::V1,
            nonce: None,
        }),
        label,
        ..PacketOptions::default()
    };
    build_packet(messages, &opts).expect("one ping")
}
