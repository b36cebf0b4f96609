//! Two pings in one compound message are both acked.

use std::collections::BTreeSet;

use crate::wire::Message;

use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "compound",
    title: "each ping of a compound message is acked",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let (a, ping_a) = s.ping();
    let (b, ping_b) = s.ping();
    let datagram = s.wrap(&[ping_a, ping_b]);
    acks_for_all(
        s,
        &format!("compound of pings seq={a} and seq={b}"),
        &datagram,
        &[a, b],
    )
}

/// Sends `datagram` and waits until every sequence number in `seqs` is acked.
pub(super) fn acks_for_all(s: &mut Session, note: &str, datagram: &[u8], seqs: &[u32]) -> Verdict {
    s.send_udp(note, datagram);
    let mut missing: BTreeSet<u32> = seqs.iter().copied().collect();
    s.await_udp(s.timeout, |m| {
        if let Message::AckResp(ack) = m {
            missing.remove(&ack.seq_no);
        }
        missing.is_empty().then_some(())
    });
    if missing.is_empty() {
        Verdict::Pass(format!("{note}: every ping acked"))
    } else {
        Verdict::Fail(format!("{note}: no ack for seq {missing:?}"))
    }
}
