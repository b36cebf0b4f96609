//! A dead message about the peer itself is refuted (Go refutes unless it is leaving):
//! the peer stays alive at a higher incarnation.

use crate::wire::{Accusation, Message, PushNodeState};

use super::refute_suspect::refute;
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "refute-dead",
    title: "a death notice about the peer is refuted with a higher incarnation",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    refute(s, "dead", Message::Dead)
}

/// Declares `node` dead to the peer: the cleanup after a check that made the peer
/// merge a member that does not exist.
pub(super) fn declare_dead(s: &mut Session, node: &PushNodeState<'_>) {
    let dead = Message::Dead(Accusation {
        incarnation: node.incarnation,
        node: node.name.clone().into_owned(),
        from: s.name_for("cleanup").into(),
    });
    let datagram = s.wrap(&[dead.to_bytes()]);
    s.send_udp(&format!("cleanup: dead {}", node.name), &datagram);
}
