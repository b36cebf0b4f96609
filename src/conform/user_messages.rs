//! User messages over UDP and over a TCP stream are delivered to the peer's delegate.
//! Only a Serf peer shows that from outside: each message carries a Serf user event,
//! which must then appear in the event buffer of the peer's push/pull state.

use std::time::{Duration, Instant};

use crate::serf::messages::UserEvent;
use crate::serf::{LamportTime, SerfMessage};
use crate::wire::{Message, StreamMessage};

use super::serf_tags::serf_state;
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "user-messages",
    title: "user messages over UDP and TCP are delivered (seen as Serf user events)",
    serf_only: false,
    run,
};

fn run(s: &mut Session) -> Verdict {
    if !s.serf {
        return Verdict::NotApplicable(
            "memberlist gives no way to observe a delivered user message from outside; with --serf they carry user events the peer's state shows".into(),
        );
    }
    let before = match serf_state(s) {
        Ok(st) => st,
        Err(v) => return v,
    };
    let event = |ltime: u64, name: &str| {
        SerfMessage::UserEvent(UserEvent {
            ltime: LamportTime(ltime),
            name: name.to_owned().into(),
            payload: Some(b"conform".to_vec().into()),
            cc: false,
        })
        .to_bytes()
    };
    let udp_name = s.name_for("udp");
    let tcp_name = s.name_for("tcp");
    let udp =
        s.wrap(&[Message::User(event(before.event_ltime.0 + 1, &udp_name).into()).to_bytes()]);
    s.send_udp(&format!("user message: serf user event {udp_name}"), &udp);
    let payload = event(before.event_ltime.0 + 2, &tcp_name);
    let stream = s.stream(&StreamMessage::user(&payload));
    s.tcp_raw(
        &format!("stream user message: serf user event {tcp_name}"),
        &stream,
    );

    let deadline = Instant::now() + s.timeout;
    loop {
        let state = match serf_state(s) {
            Ok(st) => st,
            Err(v) => return v,
        };
        let seen = |name: &str| {
            state
                .events
                .iter()
                .flatten()
                .flatten()
                .flat_map(|slot| slot.events.iter().flatten())
                .any(|e| e.name.as_bytes() == name.as_bytes())
        };
        let (by_udp, by_tcp) = (seen(&udp_name), seen(&tcp_name));
        if by_udp && by_tcp {
            return Verdict::Pass(format!(
                "both events are in the peer's event buffer (event clock {} -> {})",
                before.event_ltime.0, state.event_ltime.0
            ));
        }
        if Instant::now() >= deadline {
            let lost: Vec<&str> = [(by_udp, "UDP"), (by_tcp, "TCP")]
                .iter()
                .filter(|(seen, _)| !seen)
                .map(|(_, t)| *t)
                .collect();
            return Verdict::Fail(format!(
                "the event sent over {} never reached the peer's event buffer",
                lost.join(" and ")
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
