//! The verdict on a member's unanswered probes: which of the usual causes the capture
//! supports, checked from the most specific to the least.
//!
//! Go's probe (memberlist `probeNode`): a UDP ping; after the probe timeout, indirect
//! pings through helpers (each answers with the target's relayed ack, or with a nack
//! when its own ping also went unanswered) and, at the same time, a ping over TCP. The
//! member is suspected only when all of them fail; a TCP ack alone keeps it alive
//! and Go logs that UDP may be misconfigured. A direct ack that reaches the prober
//! late still counts until the probe interval (scaled by the prober's health score)
//! runs out. When the helpers send no nacks for a failed probe, Lifeguard takes it as
//! the prober's own fault and raises its health score, which slows its probing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::member::Member;
use super::probes::{LateAck, Probe};
use super::report::rel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The member's packets could not be opened with any key given.
    DecryptFailure,
    /// One prober alone got no answers (or did not get them in time) while the
    /// member answered.
    ProberHealth,
    /// The member's acks came after its probers' probe timeouts.
    SlowToAnswer,
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

/// How long after a member's last undecryptable packet one that opened may still
/// come without the member counting as opening its packets again.
const OPENED_AFTER: Duration = Duration::from_millis(100);

/// Judges `failed` (the member's unanswered probes, oldest first, at least one) up
/// to `until` (the suspicion, or the last of them); `origin` is the capture's first
/// time, for relative times in the text.
pub fn judge(m: &Member, failed: &[&Probe], until: Duration, origin: Duration) -> Verdict {
    let first = failed.first().map_or(Duration::ZERO, |p| p.sent);
    let name = &m.name;
    let t = |d: Duration| rel(d, origin);
    let (failures, first_failure, last_failure) = m.decrypt_failures;
    // Its packets stopped opening (none opened after the last that did not, give or
    // take OPENED_AFTER: a CI capture had one row from the member 72 µs after its
    // last failure) and still did not when it was probed.
    let sealed_away = last_failure.is_some_and(|lf| {
        lf >= first.saturating_sub(Duration::from_secs(1))
            && m.last_packet.is_none_or(|l| l <= lf + OPENED_AFTER)
    });
    if failures > 0 && sealed_away {
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
    let asked = failed.iter().filter(|p| !p.helpers.is_empty()).count();
    let nacked = failed
        .iter()
        .any(|p| p.helpers.iter().any(|h| h.nack.is_some()));
    let late = |kind| -> Vec<&Probe> {
        failed
            .iter()
            .copied()
            .filter(|p| p.late_ack == Some(kind))
            .collect()
    };
    let unheeded = late(LateAck::Unheeded);
    if let ([only], true) = (
        &probers.iter().collect::<Vec<_>>()[..],
        2 * unheeded.len() > failed.len(),
    ) {
        return missed_answers(
            m,
            only,
            &unheeded,
            failed.len(),
            relayed > 0,
            asked > 0 && !nacked,
        );
    }
    let tcp_tried = failed.iter().filter(|p| p.tcp.is_some()).count();
    let tcp_ok = failed
        .iter()
        .filter(|p| p.tcp.as_ref().is_some_and(|t| t.acked.is_some()))
        .count();
    let silent = m.silent(first, until);
    if let (Some(quiet), false) = (silent, tcp_ok > 0) {
        return stopped(m, failed, quiet, origin);
    }
    if let [only] = probers.iter().collect::<Vec<_>>()[..] {
        let mut others: Vec<&str> = m
            .acked
            .iter()
            .filter(|(n, at)| *n != *only && **at >= first)
            .map(|(n, _)| &**n)
            .collect();
        others.sort_unstable();
        if !others.is_empty() {
            let helpers = match (relayed > 0, asked > 0 && !nacked) {
                (true, _) => ", and helpers relayed its acks",
                (false, true) => ", and the helpers sent no nacks (they reached it)",
                (false, false) => "",
            };
            return Verdict {
                kind: Kind::ProberHealth,
                text: format!(
                    "only {only} got no answers: {name} answered {} meanwhile{helpers}: the prober's own health (its packets are slow or lost)",
                    others.join(", "),
                ),
            };
        }
    }
    let slow = late(LateAck::Late);
    if 2 * slow.len() > failed.len() {
        let nackers = helpers_and_tcp(failed);
        return Verdict {
            kind: Kind::SlowToAnswer,
            text: format!(
                "{name} answered late: its acks came {} ms after the pings (median of {} of {} probes), after the probers had asked helpers{nackers}: {name}'s own health (it is slow to answer, or what reaches it is delayed)",
                median_ms(slow.iter().filter_map(|p| Some(p.acked?.saturating_sub(p.sent)))),
                slow.len(),
                failed.len(),
            ),
        };
    }
    if tcp_ok > 0 {
        let sending = match silent {
            None if m.last_packet.is_some() => format!("; {name} kept sending meanwhile"),
            _ => String::new(),
        };
        return Verdict {
            kind: Kind::UdpOneWay,
            text: format!(
                "UDP one way only: TCP pings worked ({tcp_ok} of {tcp_tried} answered while the UDP probes went unanswered){sending}"
            ),
        };
    }
    match m.last_packet {
        Some(_) => Verdict {
            kind: Kind::InboundLost,
            text: format!(
                "{name} kept sending but answered no probe: what is sent to it is lost{}",
                helpers_and_tcp(failed)
            ),
        },
        None if !probers.is_empty() => Verdict {
            kind: Kind::StoppedAnswering,
            text: format!(
                "the target stopped answering everyone: no packet from {name} in the capture{}",
                helpers_and_tcp(failed)
            ),
        },
        None => Verdict {
            kind: Kind::Unexplained,
            text: "probes went unanswered; the capture does not show why".into(),
        },
    }
}

/// `prober`'s probes of the member were acked on the wire, yet it asked helpers as
/// though no ack had come: what reaches the prober is late (or lost).
fn missed_answers(
    m: &Member,
    prober: &str,
    unheeded: &[&Probe],
    failed: usize,
    relayed: bool,
    no_nacks: bool,
) -> Verdict {
    let rtt = median_ms(
        unheeded
            .iter()
            .filter_map(|p| Some(p.acked?.saturating_sub(p.sent))),
    );
    let gap = median_ms(
        unheeded
            .iter()
            .filter_map(|p| Some(p.helpers.first()?.asked.saturating_sub(p.sent))),
    );
    let helpers = match (relayed, no_nacks) {
        (true, true) => format!("; helpers relayed the acks and sent no nacks, which Lifeguard counts against {prober}'s own health score"),
        (true, false) => "; helpers relayed the acks".to_string(),
        (false, true) => format!("; the helpers sent no nacks, which Lifeguard counts against {prober}'s own health score"),
        (false, false) => String::new(),
    };
    Verdict {
        kind: Kind::ProberHealth,
        text: format!(
            "only {prober} missed the answers: {name} acked {prober}'s pings within {rtt} ms ({} of {failed} probes), yet {prober} asked helpers {gap} ms after the ping as though unanswered{helpers}: the prober's own health (the answers reach it late)",
            unheeded.len(),
            name = m.name,
        ),
    }
}

/// The median of some durations in milliseconds (three decimals).
fn median_ms(d: impl Iterator<Item = Duration>) -> f64 {
    let mut v: Vec<Duration> = d.collect();
    v.sort_unstable();
    v.get(v.len() / 2)
        .map_or(0.0, |d| (d.as_secs_f64() * 1e6).round() / 1e3)
}

/// The member sent nothing from `quiet.0` until `quiet.1` (or the end).
fn stopped(
    m: &Member,
    failed: &[&Probe],
    (quiet, back): (Duration, Option<Duration>),
    origin: Duration,
) -> Verdict {
    let first = failed.first().map_or(Duration::ZERO, |p| p.sent);
    let t = |d: Duration| rel(d, origin);
    Verdict {
        kind: Kind::StoppedAnswering,
        text: format!(
            "the target stopped answering everyone: nothing from {} {} ({:.3} s before the first unanswered probe){}",
            m.name,
            match back {
                Some(b) => format!("from {} to {}", t(quiet), t(b)),
                None => format!("after {}", t(quiet)),
            },
            first.saturating_sub(quiet).as_secs_f64(),
            helpers_and_tcp(failed)
        ),
    }
}

/// What the helpers' nacks and the TCP pings add to a verdict against the target.
fn helpers_and_tcp(failed: &[&Probe]) -> String {
    let nackers: BTreeSet<&str> = failed
        .iter()
        .flat_map(|p| &p.helpers)
        .filter(|h| h.nack.is_some())
        .map(|h| &*h.name)
        .collect();
    let mut out = String::new();
    if !nackers.is_empty() {
        out = format!(
            "; helper{} {} sent nacks: {} could not reach it either",
            plural(nackers.len()),
            nackers.iter().copied().collect::<Vec<_>>().join(", "),
            if nackers.len() == 1 { "it" } else { "they" }
        );
    }
    let tcp_tried = failed.iter().filter(|p| p.tcp.is_some()).count();
    if tcp_tried > 0 {
        out.push_str(&format!(
            "; {tcp_tried} TCP ping{} unanswered",
            plural(tcp_tried)
        ));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::probes::{Helper, TcpPing};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn probe(prober: &str, at: u64, helpers: Vec<Helper>, tcp: Option<Option<u64>>) -> Probe {
        Probe {
            prober: prober.into(),
            target: "t".into(),
            seq: 1,
            sent: ms(at),
            capture: 0,
            frame: 1,
            ping_seen: true,
            acked: None,
            late_ack: None,
            on_behalf_of: None,
            helpers,
            tcp: tcp.map(|acked| TcpPing {
                sent: ms(at + 200),
                acked: acked.map(ms),
            }),
        }
    }

    fn helper(name: &str, nack: Option<u64>) -> Helper {
        Helper {
            name: name.into(),
            asked: ms(1200),
            nack: nack.map(ms),
            ack: None,
        }
    }

    /// A member that sent packets every 100 ms from 0 to `until` ms.
    fn target(until: u64) -> Member {
        let mut m = Member::new("t".into());
        for at in (0..=until).step_by(100) {
            m.packet(ms(at));
        }
        m
    }

    fn kind(m: &Member, failed: &[Probe]) -> Verdict {
        let refs: Vec<&Probe> = failed.iter().collect();
        judge(m, &refs, ms(3000), Duration::ZERO)
    }

    #[test]
    fn each_cause_from_its_evidence() {
        // Silent from 500 ms, probed from 1 s on by two members whose helpers nack.
        let silent = target(500);
        let failed = [
            probe("a", 1000, vec![helper("b", Some(1400))], None),
            probe("b", 1100, vec![helper("a", Some(1500))], None),
        ];
        let v = kind(&silent, &failed);
        assert_eq!(v.kind, Kind::StoppedAnswering, "{}", v.text);
        assert!(
            v.text.contains("nothing from t after +0.500s"),
            "{}",
            v.text
        );
        assert!(v.text.contains("helpers a, b sent nacks"), "{}", v.text);

        // Still sending, answering b, but not a: a's own health.
        let mut busy = target(4000);
        busy.acked_by(&"b".into(), ms(2000));
        let v = kind(&busy, &[probe("a", 1000, vec![helper("b", None)], None)]);
        assert_eq!(v.kind, Kind::ProberHealth, "{}", v.text);
        assert!(v.text.starts_with(
            "only a got no answers: t answered b meanwhile, and the helpers sent no nacks"
        ));

        // Two probers' UDP probes fail, their TCP pings are answered.
        let failed = [
            probe("a", 1000, vec![], Some(Some(1300))),
            probe("b", 1100, vec![], Some(Some(1400))),
        ];
        let v = kind(&target(4000), &failed);
        assert_eq!(v.kind, Kind::UdpOneWay, "{}", v.text);
        assert!(v
            .text
            .starts_with("UDP one way only: TCP pings worked (2 of 2"));

        // Sending, answering nobody, TCP unanswered too.
        let failed = [
            probe("a", 1000, vec![], Some(None)),
            probe("b", 1100, vec![], None),
        ];
        let v = kind(&target(4000), &failed);
        assert_eq!(v.kind, Kind::InboundLost, "{}", v.text);
        assert!(v.text.ends_with("1 TCP ping unanswered"), "{}", v.text);

        // Its packets stopped opening.
        let mut sealed = target(500);
        sealed.decrypt_failures = (7, Some(ms(600)), Some(ms(2900)));
        let v = kind(&sealed, &failed);
        assert_eq!(v.kind, Kind::DecryptFailure, "{}", v.text);
        assert!(v
            .text
            .starts_with("packets from t failed to decrypt with every key (7 of them"));
        // A row that opened just after its last failure does not undo that...
        sealed.last_packet = Some(ms(2950));
        assert_eq!(kind(&sealed, &failed).kind, Kind::DecryptFailure);
        // ...but packets that open well after it do.
        sealed.last_packet = Some(ms(3500));
        assert_ne!(kind(&sealed, &failed).kind, Kind::DecryptFailure);
    }

    #[test]
    fn acks_the_prober_missed_or_that_came_late() {
        // t acked a's pings at once, yet a asked b 200 ms later; b relayed, no nack.
        let unheeded = |at: u64| {
            let mut p = probe("a", at, vec![helper("b", None)], Some(None));
            p.acked = Some(ms(at + 1));
            p.late_ack = Some(LateAck::Unheeded);
            p.helpers[0].asked = ms(at + 200);
            p.helpers[0].ack = Some(ms(at + 202));
            p
        };
        let v = kind(&target(4000), &[unheeded(1000), unheeded(1800)]);
        assert_eq!(v.kind, Kind::ProberHealth, "{}", v.text);
        assert!(
            v.text.starts_with(
                "only a missed the answers: t acked a's pings within 1 ms (2 of 2 probes), yet a asked helpers 200 ms after the ping as though unanswered; helpers relayed the acks and sent no nacks, which Lifeguard counts against a's own health score"
            ),
            "{}",
            v.text
        );

        // t's acks came 600 ms after the pings, after the helpers (who nacked) were asked.
        let late = |prober: &str, at: u64| {
            let mut p = probe(prober, at, vec![helper("c", Some(at + 400))], None);
            p.acked = Some(ms(at + 600));
            p.late_ack = Some(LateAck::Late);
            p
        };
        let v = kind(&target(4000), &[late("a", 1000), late("b", 1100)]);
        assert_eq!(v.kind, Kind::SlowToAnswer, "{}", v.text);
        assert!(
            v.text.starts_with(
                "t answered late: its acks came 600 ms after the pings (median of 2 of 2 probes), after the probers had asked helpers; helper c sent nacks"
            ),
            "{}",
            v.text
        );
        // One prober's late acks: the target's fault unless it acked others in time.
        let v = kind(&target(4000), &[late("a", 1000), late("a", 1400)]);
        assert_eq!(v.kind, Kind::SlowToAnswer, "{}", v.text);
        let mut prompt = target(4000);
        prompt.acked_by(&"b".into(), ms(1500));
        let v = kind(&prompt, &[late("a", 1000), late("a", 1400)]);
        assert_eq!(v.kind, Kind::ProberHealth, "{}", v.text);
        assert!(v.text.starts_with("only a got no answers: t answered b"));
    }

    #[test]
    fn a_pause_covering_the_probes_is_silence() {
        // Quiet from 500 ms to 3.5 s, back afterwards: silent over probes at 1-3 s.
        let mut m = target(500);
        m.packet(ms(3500));
        assert_eq!(
            m.silent(ms(1000), ms(3000)),
            Some((ms(500), Some(ms(3500))))
        );
        assert_eq!(m.silent(ms(1000), ms(4000)), None);
        let v = kind(
            &m,
            &[
                probe("a", 1000, vec![], None),
                probe("b", 1100, vec![], None),
            ],
        );
        assert!(
            v.text.contains("nothing from t from +0.500s to +3.500s"),
            "{}",
            v.text
        );
    }
}
