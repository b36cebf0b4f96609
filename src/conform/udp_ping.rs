//! A UDP ping (named for the peer) is answered by an ack with its sequence number.

use super::{ack_verdict, Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "udp-ping",
    title: "UDP ping is acked with its sequence number",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let (seq, ping) = s.ping();
    let datagram = s.wrap(&[ping]);
    let outcome = s.expect_ack(&format!("ping seq={seq}"), &datagram, seq, s.timeout);
    ack_verdict(outcome, seq, "UDP ping")
}
