//! Black-box conformance checks against a live member: Go memberlist, Serf, Consul,
//! Nomad, our own agent or another implementation.
//!
//! Each check lives in its own file and returns a [`Verdict`] (pass, fail or not
//! applicable, with a sentence of why) while the [`Session`] it runs on records every
//! byte sent and received as evidence. The checks disturb the peer's cluster only as
//! documented in the README ("Conformance"): a refuted suspicion and death each bump
//! the peer's incarnation, a temporary node `conform-…` joins and leaves (not with
//! `--no-join`), and with `--serf` two user events and a query of that name reach the
//! peer's handlers (Serf answers the internal `_serf_ping` itself).
//!
//! Stands on `wire`, `node` (the temporary member, the TCP exchange) and `serf` (the
//! `--serf` checks); the CLI renders its [`Report`].

mod compound;
mod compression;
mod crc;
mod encryption;
mod indirect_ping;
mod join;
mod label;
mod malformed;
mod push_pull;
mod refute_dead;
mod refute_suspect;
pub mod report;
mod serf_ping;
mod serf_query;
mod serf_tags;
mod session;
mod tcp_ping;
mod udp_ping;
mod user_messages;
pub mod vectors;
mod versions;

use std::net::SocketAddr;
use std::time::Duration;

use crate::wire::{Keyring, Label};

pub use report::{Outcome, Report};
pub use session::{Direction, Exchange, Session, Transport};

use session::AckOutcome;

/// What a check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass(String),
    Fail(String),
    /// The check does not apply to this peer (its protocol, our flags), and why.
    NotApplicable(String),
}

/// One check: a stable id (used in JSON and JUnit), a title, and the code.
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    /// Needs `--serf`: the check is not applicable to a plain memberlist peer.
    pub serf_only: bool,
    pub run: fn(&mut Session) -> Verdict,
}

/// Every check, in the order they run: the plain probes first, the ones that change
/// the peer's state (refutations, join) after, malformed input last but one, so a
/// peer it wedges shows up in the final liveness probe.
pub const CHECKS: &[&Check] = &[
    &udp_ping::CHECK,
    &tcp_ping::CHECK,
    &push_pull::CHECK,
    &versions::CHECK,
    &compound::CHECK,
    &crc::CHECK,
    &compression::CHECK,
    &encryption::CHECK,
    &label::CHECK,
    &indirect_ping::CHECK,
    &refute_suspect::CHECK,
    &refute_dead::CHECK,
    &join::CHECK,
    &user_messages::CHECK,
    &serf_tags::CHECK,
    &serf_query::CHECK,
    &serf_ping::CHECK,
    &malformed::CHECK,
];

/// What to run against whom.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: SocketAddr,
    pub keyring: Option<Keyring>,
    pub label: Option<Label>,
    /// Run the Serf checks (the peer is a Serf or Consul agent).
    pub serf: bool,
    /// Join under a temporary node for the checks that need membership.
    pub join: bool,
    /// How long to wait for an answer that should come.
    pub timeout: Duration,
    /// How long to listen before concluding that no answer is coming (refusals).
    pub quiet: Duration,
    /// Run only the checks with these ids (all when empty).
    pub only: Vec<String>,
}

/// Runs the checks and collects their results. Errors only when no socket can be
/// bound; an unreachable peer is a report full of failures.
pub fn run(opts: &Options) -> std::io::Result<Report> {
    let mut session = Session::open(opts)?;
    let mut results = Vec::new();
    for check in CHECKS {
        if !opts.only.is_empty() && !opts.only.iter().any(|id| id == check.id) {
            continue;
        }
        let started = std::time::Instant::now();
        let verdict = if check.serf_only && !opts.serf {
            Verdict::NotApplicable(
                "a Serf check: pass --serf when the peer is a Serf or Consul agent".into(),
            )
        } else {
            (check.run)(&mut session)
        };
        results.push(report::CheckResult {
            id: check.id,
            title: check.title,
            verdict,
            evidence: session.take_evidence(),
            elapsed: started.elapsed(),
        });
    }
    Ok(Report {
        target: opts.target,
        peer_name: session.peer_name().map(str::to_owned),
        setup_problem: session.peer_problem().map(str::to_owned),
        results,
    })
}

/// The verdict for an ack we waited for: only the right sequence number passes.
fn ack_verdict(outcome: AckOutcome, seq: u32, what: &str) -> Verdict {
    match outcome {
        AckOutcome::Acked => Verdict::Pass(format!("{what}: ack with seq={seq}")),
        AckOutcome::WrongSeq(got) => Verdict::Fail(format!(
            "{what}: the ack carries sequence number {got}, the ping had {seq}"
        )),
        AckOutcome::Silent => Verdict::Fail(format!("{what}: no ack")),
    }
}
