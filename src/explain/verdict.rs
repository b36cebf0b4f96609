//! The verdict on a member's unanswered probes: which of the usual causes the capture
//! supports, checked from the most specific to the least.
//!
//! Go's probe (memberlist `probeNode`): a UDP ping; after the probe timeout, indirect
//! pings through helpers (each answers with the target's relayed ack, or with a nack
//! when its own ping also went unanswered) and, at the same time, a ping over TCP. The
//! member is suspected only when all of them fail; a TCP ack alone keeps it alive
//! and Go logs that UDP may be misconfigured.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::member::Member;
use super::probes::Probe;
use super::report::rel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The member's packets could not be opened with any key given.
    DecryptFailure,
    /// One prober alone got no answers while the member answered others.
    ProberHealth,
    /// UDP probes failed while TCP pings worked.
    UdpOneWay,
    /// The member fell silent.
    StoppedAnswering,
    /// The member kept sending but answered no probe and no TCP ping.
    InboundLost,
    Unexplained,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub kind: Kind,
    pub text: String,
}

/// Judges `failed` (the member's unanswered probes, oldest first, at least one);
/// `origin` is the capture's first time, for relative times in the text.
pub fn judge(m: &Member, failed: &[&Probe], origin: Duration) -> Verdict {
    let first = failed.first().map_or(Duration::ZERO, |p| p.sent);
    let name = &m.name;
    let t = |d: Duration| rel(d, origin);
    let (failures, first_failure, _) = m.decrypt_failures;
    let opened_after = m.last_packet.is_some_and(|l| l >= first);
    if failures > 0 && !opened_after {
        return Verdict {
            kind: Kind::DecryptFailure,
            text: format!(
                "packets from {name} failed to decrypt with every key ({failures} of them, the first at {}): it seals with a key the others do not hold",
                first_failure.map_or_else(String::new, t)
            ),
        };
    }
    let probers: BTreeSet<&Arc<str>> = failed
        .iter()
        .filter(|p| p.on_behalf_of.is_none())
        .map(|p| &p.prober)
        .collect();
    let relayed = failed
        .iter()
        .flat_map(|p| &p.helpers)
        .filter(|h| h.ack.is_some())
        .count();
    let tcp_tried = failed.iter().filter(|p| p.tcp.is_some()).count();
    let tcp_ok = failed
        .iter()
        .filter(|p| p.tcp.as_ref().is_some_and(|t| t.acked.is_some()))
        .count();
    if let [only] = probers.iter().collect::<Vec<_>>()[..] {
        let others: Vec<&str> = m
            .acked
            .iter()
            .filter(|(n, at)| n != *only && *at >= first)
            .map(|(n, _)| &**n)
            .collect();
        if !others.is_empty() {
            return Verdict {
                kind: Kind::ProberHealth,
                text: format!(
                    "only {only} got no answers: {name} answered {} meanwhile{}: the prober's own health (its packets are slow or lost)",
                    others.join(", "),
                    if relayed > 0 {
                        ", and helpers relayed its acks"
                    } else {
                        ""
                    }
                ),
            };
        }
    }
    let last = m.last_packet;
    if tcp_ok > 0 {
        let sending = match last {
            Some(l) if l >= first => format!("; {name} kept sending (last packet at {})", t(l)),
            _ => String::new(),
        };
        return Verdict {
            kind: Kind::UdpOneWay,
            text: format!(
                "UDP one way only: TCP pings worked ({tcp_ok} of {tcp_tried} answered while the UDP probes went unanswered){sending}"
            ),
        };
    }
    let nackers: BTreeSet<&str> = failed
        .iter()
        .flat_map(|p| &p.helpers)
        .filter(|h| h.nack.is_some())
        .map(|h| &*h.name)
        .collect();
    let helpers_too = if nackers.is_empty() {
        String::new()
    } else {
        format!(
            "; helper{} {} sent nacks: {} could not reach it either",
            if nackers.len() == 1 { "" } else { "s" },
            nackers.iter().copied().collect::<Vec<_>>().join(", "),
            if nackers.len() == 1 { "it" } else { "they" }
        )
    };
    let tcp_note = if tcp_tried > 0 {
        format!("; {tcp_tried} TCP ping{} unanswered", plural(tcp_tried))
    } else {
        String::new()
    };
    match last {
        Some(l) if l >= first => Verdict {
            kind: Kind::InboundLost,
            text: format!(
                "{name} kept sending (last packet at {}) but answered no probe: what is sent to it is lost{helpers_too}{tcp_note}",
                t(l)
            ),
        },
        Some(l) => Verdict {
            kind: Kind::StoppedAnswering,
            text: format!(
                "the target stopped answering everyone: nothing from {name} after {} ({:.3} s before the first unanswered probe){helpers_too}{tcp_note}",
                t(l),
                first.saturating_sub(l).as_secs_f64()
            ),
        },
        None if !probers.is_empty() => Verdict {
            kind: Kind::StoppedAnswering,
            text: format!(
                "the target stopped answering everyone: no packet from {name} in the capture{helpers_too}{tcp_note}"
            ),
        },
        None => Verdict {
            kind: Kind::Unexplained,
            text: "probes went unanswered; the capture does not show why".into(),
        },
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
