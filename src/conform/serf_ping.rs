//! Serf's internal `_serf_ping` query is acked (Serf answers it with the ack alone).

use super::serf_query::ask;
use super::{Check, Session, Verdict};

pub const CHECK: Check = Check {
    id: "serf-ping",
    title: "the internal _serf_ping query is acked",
    serf_only: true,
    run,
};

fn run(s: &mut Session) -> Verdict {
    ask(s, "_serf_ping")
}
