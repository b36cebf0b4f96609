//! A ping on a TCP stream (Go's fallback probe) is answered on the same stream by an
//! ack with its sequence number.

use crate::node::exchange::Answer;
use crate::wire::{Ping, StreamMessage};

use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "tcp-ping",
    title: "TCP ping is acked on the stream with its sequence number",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let seq = s.next_seq();
    let ping = Ping {
        seq_no: seq,
        node: s.peer_name().unwrap_or_default().into(),
        ..Ping::default()
    };
    let request = s.stream(&StreamMessage::Ping(ping));
    match s.tcp(&format!("stream ping seq={seq}"), &request) {
        Ok(Answer {
            message: StreamMessage::AckResp(a),
            ..
        }) if a.seq_no == seq => Verdict::Pass(format!("TCP ping: ack with seq={seq}")),
        Ok(Answer {
            message: StreamMessage::AckResp(a),
            ..
        }) => Verdict::Fail(format!(
            "TCP ping: the ack carries sequence number {}, the ping had {seq}",
            a.seq_no
        )),
        Ok(Answer { message, .. }) => Verdict::Fail(format!(
            "TCP ping: answered with {:?} instead of an ack",
            message.message_type()
        )),
        Err(f) => Verdict::Fail(format!(
            "TCP ping: no ack: {}",
            f.likely_cause(s.keyring(), s.label())
        )),
    }
}
