//! Labels: with `--label` the peer acks a ping under its label and drops one with no
//! label or another; without, it drops a labelled ping. The same over TCP: a stream
//! under another label is closed without an ack. (A peer older than labels reads the
//! label byte as an unknown message type, which drops it too.)

use crate::node::exchange::Answer;
use crate::wire::{EncryptionVersion, Label, Ping, StreamMessage};

use super::session::AckOutcome;
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "label",
    title: "a wrong or missing label is refused",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    // A refusal means something only from a peer that answers its own label.
    if s.alive("under the peer's own label") != AckOutcome::Acked {
        return Verdict::Fail("no ack for a ping under the peer's own label (see udp-ping), so refusals prove nothing".into());
    }
    let wrong = Label::new(format!("conform-wrong-{}", s.run_id)).expect("a short label");
    let mut refused = Vec::new();
    // Which labels the peer must refuse: another one, and none when it has one.
    let mut cases = vec![("another label", Some(wrong.clone()))];
    if s.label().is_some() {
        cases.push(("no label", None));
    }
    for (what, label) in cases {
        let (seq, ping) = s.ping();
        let datagram = s.wrap_with(&[ping], false, label.as_ref(), EncryptionVersion::V1);
        let note = format!("UDP ping seq={seq} with {what}");
        if s.expect_ack(&note, &datagram, seq, s.quiet) != AckOutcome::Silent {
            return Verdict::Fail(format!("{note} was acked: the peer does not check labels"));
        }
        refused.push(format!("UDP with {what}"));

        let seq = s.next_seq();
        let ping = StreamMessage::Ping(Ping {
            seq_no: seq,
            node: s.peer_name().unwrap_or_default().into(),
            ..Ping::default()
        });
        let stream = s.stream_with_label(&ping, label.as_ref());
        let note = format!("TCP ping seq={seq} with {what}");
        if let Ok(Answer {
            message: StreamMessage::AckResp(_),
            ..
        }) = s.tcp_with(&note, &stream, label.as_ref())
        {
            return Verdict::Fail(format!("{note} was acked: the peer does not check labels"));
        }
        refused.push(format!("TCP with {what}"));
    }
    match s.alive("after the label checks") {
        AckOutcome::Acked => Verdict::Pass(format!("refused: {}", refused.join(", "))),
        _ => Verdict::Fail("the peer stopped answering its own label".into()),
    }
}
