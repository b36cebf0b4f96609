//! A suspect message about the peer itself, at its current incarnation, is refuted:
//! the peer's push/pull state soon shows it alive at a higher incarnation.

use crate::wire::{Accusation, Message};

use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "refute-suspect",
    title: "a suspicion of the peer is refuted with a higher incarnation",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    refute(s, "suspect", Message::Suspect)
}

/// Accuses the peer with `wrap` (suspect or dead) and watches its incarnation.
pub(super) fn refute(
    s: &mut Session,
    what: &str,
    wrap: fn(Accusation<'static>) -> Message<'static>,
) -> Verdict {
    let peer = match s.fetch_peer("push/pull: the peer's incarnation before") {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(format!("push/pull before the accusation: {e}")),
    };
    let accusation = Accusation {
        incarnation: peer.incarnation,
        node: peer.name.clone().into(),
        from: s.name_for("accuser").into(),
    };
    let datagram = s.wrap(&[wrap(accusation).to_bytes()]);
    s.send_udp(
        &format!("{what} {} incarnation {}", peer.name, peer.incarnation),
        &datagram,
    );
    let deadline = std::time::Instant::now() + s.timeout;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        match s.fetch_peer(&format!("push/pull: refuted the {what}?")) {
            Ok(now) if now.incarnation > peer.incarnation => {
                return Verdict::Pass(format!(
                    "incarnation {} -> {} after a {what} message",
                    peer.incarnation, now.incarnation
                ))
            }
            Ok(_) if std::time::Instant::now() < deadline => continue,
            Ok(now) => {
                return Verdict::Fail(format!(
                    "still at incarnation {} ({}) {:?} after a {what} message about itself",
                    now.incarnation,
                    if now.incarnation == peer.incarnation {
                        "not refuted"
                    } else {
                        "lower"
                    },
                    s.timeout
                ))
            }
            Err(e) => {
                return Verdict::Fail(format!(
                    "push/pull after the {what}: {e} (not alive any more?)"
                ))
            }
        }
    }
}
