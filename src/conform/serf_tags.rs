//! A Serf peer's node meta holds Serf tags (magic byte and a string map), and its
//! push/pull user state is Serf's (member, event and query clocks).

use crate::serf::{MetaForm, SerfMessage, Tags};

use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "serf-tags",
    title: "node meta holds Serf tags, push/pull carries Serf's state",
    serf_only: true,
    run,
};

fn run(s: &mut Session) -> Verdict {
    let peer = match s.fetch_peer("push/pull: the peer's meta and Serf state") {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(format!("push/pull: {e}")),
    };
    let tags = match Tags::decode_meta(&peer.meta) {
        Ok((tags, MetaForm::Tagged)) => tags,
        Ok((_, MetaForm::LegacyRole)) => {
            return Verdict::Fail(format!(
            "the meta ({} bytes) has no tag magic byte: Serf protocol 2's bare role, or not Serf",
            peer.meta.len()
        ))
        }
        Err(e) => return Verdict::Fail(format!("the meta does not decode as Serf tags: {e}")),
    };
    let state = match serf_state(s) {
        Ok(st) => st,
        Err(v) => return v,
    };
    let shown: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let shown = if shown.is_empty() {
        "(none)".to_owned()
    } else {
        shown.join(",")
    };
    Verdict::Pass(format!(
        "tags {shown}; clocks: member {}, event {}, query {}",
        state.ltime.0, state.event_ltime.0, state.query_ltime.0
    ))
}

/// The peer's Serf state from a fresh push/pull.
pub(super) fn serf_state(
    s: &mut Session,
) -> Result<crate::serf::messages::PushPull<'static>, Verdict> {
    let (_, user_state) = s
        .pull("push/pull: the peer's Serf state")
        .map_err(|e| Verdict::Fail(format!("push/pull: {e}")))?;
    match SerfMessage::decode(&user_state) {
        Ok(SerfMessage::PushPull(pp)) => Ok(owned(pp)),
        Ok(other) => Err(Verdict::Fail(format!(
            "the push/pull user state is a Serf {}, not its state",
            other.message_type().name()
        ))),
        Err(e) => Err(Verdict::Fail(format!(
            "the push/pull user state ({} bytes) is not Serf's: {e}",
            user_state.len()
        ))),
    }
}

/// The clocks and event names of a state, without borrowing its bytes.
fn owned(pp: crate::serf::messages::PushPull<'_>) -> crate::serf::messages::PushPull<'static> {
    use crate::serf::messages::{BufferedEvent, EventSlot, PushPull};
    use crate::wire::GoString;
    PushPull {
        ltime: pp.ltime,
        status_ltimes: None,
        left_members: None,
        event_ltime: pp.event_ltime,
        events: pp.events.map(|slots| {
            slots
                .into_iter()
                .map(|slot| {
                    slot.map(|slot| EventSlot {
                        ltime: slot.ltime,
                        events: slot.events.map(|evs| {
                            evs.into_iter()
                                .map(|e| BufferedEvent {
                                    name: GoString::from(e.name.to_str_lossy().into_owned()),
                                    payload: None,
                                })
                                .collect()
                        }),
                    })
                })
                .collect()
        }),
        query_ltime: pp.query_ltime,
    }
}
