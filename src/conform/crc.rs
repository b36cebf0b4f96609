//! A ping behind a CRC header (protocol ≥ 5) is acked; with a wrong checksum it is
//! dropped, and the peer still answers afterwards.

use crate::wire::EncryptionVersion;

use super::session::AckOutcome;
use super::{ack_verdict, Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "crc",
    title: "CRC-checked ping is acked, a wrong checksum is dropped",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let peer = match s.peer() {
        Ok(p) => p,
        Err(v) => return v,
    };
    match peer.protocol_max() {
        Some(max) if max >= 5 => {}
        max => {
            return Verdict::NotApplicable(format!(
                "CRC headers came with protocol 5; the peer's maximum is {max:?}"
            ))
        }
    }
    let label = s.label().cloned();
    let (seq, ping) = s.ping();
    let datagram = s.wrap_with(&[ping], true, label.as_ref(), EncryptionVersion::V1);
    let outcome = s.expect_ack(
        &format!("ping seq={seq} behind a CRC"),
        &datagram,
        seq,
        s.timeout,
    );
    if outcome != AckOutcome::Acked {
        return ack_verdict(outcome, seq, "ping behind a CRC");
    }
    let (bad, ping) = s.ping();
    // The CRC sits inside the encryption: corrupt it, then seal (one message goes bare).
    let mut corrupted = Vec::new();
    crate::wire::crc::wrap(&ping, &mut corrupted);
    corrupted[1] ^= 0x01;
    let datagram = s.wrap(&[corrupted]);
    match s.expect_ack(
        &format!("ping seq={bad} with a wrong CRC"),
        &datagram,
        bad,
        s.quiet,
    ) {
        AckOutcome::Silent => {}
        _ => return Verdict::Fail(format!("a ping (seq={bad}) with a wrong CRC was acked")),
    }
    match s.alive("after the wrong CRC") {
        AckOutcome::Acked => {
            Verdict::Pass("CRC ping acked; wrong CRC dropped; still answering".into())
        }
        other => ack_verdict(other, 0, "ping after the wrong CRC"),
    }
}
