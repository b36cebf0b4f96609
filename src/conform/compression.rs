//! LZW-compressed messages (Go's `compress` wrapper) are decompressed and handled: a
//! compressed ping, and a compressed compound of two pings.

use crate::wire::compound;
use crate::wire::packet::compress_message;

use super::compound::acks_for_all;
use super::session::AckOutcome;
use super::{ack_verdict, Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "compression",
    title: "LZW-compressed ping and compound are handled",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let (seq, ping) = s.ping();
    let datagram = s.wrap(&[compress_message(&ping)]);
    let outcome = s.expect_ack(
        &format!("compressed ping seq={seq}"),
        &datagram,
        seq,
        s.timeout,
    );
    if outcome != AckOutcome::Acked {
        return ack_verdict(outcome, seq, "compressed ping");
    }
    let (a, ping_a) = s.ping();
    let (b, ping_b) = s.ping();
    let mut both = Vec::new();
    compound::encode(&[ping_a, ping_b], &mut both).expect("two small parts");
    let datagram = s.wrap(&[compress_message(&both)]);
    match acks_for_all(
        s,
        &format!("compressed compound of seq={a} and seq={b}"),
        &datagram,
        &[a, b],
    ) {
        Verdict::Pass(_) => Verdict::Pass("compressed ping and compressed compound acked".into()),
        other => other,
    }
}
