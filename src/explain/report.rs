//! The report: built from the analysis once the captures are read, printed as text or
//! as one JSON document (the shape is documented in the README, "Explain").

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::analysis::Analysis;
use super::member::{Change, Evidence, Member, Outcome, State, Suspicion};
use super::merge::CaptureInfo;
use super::probes::{LateAck, Probe};
use super::rings::{self, RingReport};
use super::silences::SilenceReport;
use super::verdict::{judge, Verdict};

/// How far before a suspicion a failed probe is taken as part of its story.
const LOOKBACK: Duration = Duration::from_secs(30);
/// Probes still in flight when a suspicion ended (the member declared dead) belong to
/// it for this long after.
const LOOKAHEAD: Duration = Duration::from_secs(5);
/// Failed probes listed per suspicion (the newest; all are counted).
const MAX_LISTED: usize = 16;

/// `secs.micros`, as decoded rows show times.
pub fn time<S: Serializer>(t: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}.{:06}", t.as_secs(), t.subsec_micros()))
}

pub fn opt_time<S: Serializer>(t: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

/// A time relative to the start of the timeline, for text.
pub fn rel(t: Duration, origin: Duration) -> String {
    format!("+{:.3}s", t.saturating_sub(origin).as_secs_f64())
}

/// Microseconds as milliseconds (three decimals).
fn ms(us: u32) -> f64 {
    us as f64 / 1000.0
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub captures: Vec<CaptureInfo>,
    pub rows: u64,
    #[serde(serialize_with = "opt_time")]
    pub first: Option<Duration>,
    #[serde(serialize_with = "opt_time")]
    pub last: Option<Duration>,
    /// Go's probe timeout as the traffic shows it: ping to indirect probe, median.
    pub probe_timeout_ms: Option<f64>,
    /// Time between one prober's successive probes, median.
    pub probe_interval_ms: Option<f64>,
    pub members: Vec<MemberReport>,
    /// Rows that did not decode, by error text.
    pub errors: BTreeMap<String, u64>,
    /// Decryption failures of packets from addresses no member name is known for.
    pub undecrypted_sources: BTreeMap<String, u64>,
    /// grafana/dskit hash rings in the gossip: each instance's states and heartbeats.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rings: Vec<RingReport>,
    /// Alertmanager's silences, as they spread (absent when the rows carry none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub silences: Vec<SilenceReport>,
}

#[derive(Debug, Serialize)]
pub struct Rtt {
    pub pairs: u64,
    pub median_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Counts {
    pub sent: u64,
    pub answered: u64,
}

#[derive(Debug, Serialize)]
pub struct TimedChange {
    #[serde(serialize_with = "time")]
    pub time: Duration,
    #[serde(flatten)]
    pub change: Change,
    /// The row it was first seen in.
    pub row: Evidence,
}

#[derive(Debug, Serialize)]
pub struct DecryptFailures {
    pub count: u64,
    #[serde(serialize_with = "opt_time")]
    pub first: Option<Duration>,
    #[serde(serialize_with = "opt_time")]
    pub last: Option<Duration>,
}

/// The unanswered probes behind a suspicion (or outside any) and the verdict on them.
#[derive(Debug, Serialize)]
pub struct Chain {
    /// Members whose own probes went unanswered.
    pub probers: Vec<Arc<str>>,
    pub unanswered: u64,
    /// Of the unanswered probes, those whose direct ack was on the wire but came too
    /// late for the prober (after its probe timeout) or went unheeded by it.
    pub acked_too_late: u64,
    #[serde(serialize_with = "opt_time")]
    pub first_unanswered: Option<Duration>,
    /// From the first unanswered probe to the suspicion (or the last unanswered probe).
    pub unanswered_for_ms: f64,
    /// The newest unanswered probes (at most 16), with helpers and TCP pings.
    pub probes: Vec<Probe>,
    pub tcp_pings: Counts,
    pub verdict: Verdict,
}

#[derive(Debug, Serialize)]
pub struct SuspicionReport {
    #[serde(flatten)]
    pub suspicion: Suspicion,
    pub chain: Option<Chain>,
}

#[derive(Debug, Serialize)]
pub struct MemberReport {
    pub name: Arc<str>,
    pub addr: Option<SocketAddr>,
    pub state: Option<State>,
    pub incarnation: u32,
    pub incarnations: Vec<u32>,
    #[serde(serialize_with = "opt_time")]
    pub first_packet: Option<Duration>,
    #[serde(serialize_with = "opt_time")]
    pub last_packet: Option<Duration>,
    pub packets: u64,
    pub joins: u64,
    pub leaves: u64,
    pub refutations: u64,
    pub meta_changes: u64,
    pub timeline: Vec<TimedChange>,
    pub rtt: Option<Rtt>,
    /// Serf's Vivaldi coordinate from the member's last ping ack.
    pub coordinate: Option<serde_json::Value>,
    /// What its Serf tags say as Consul or Nomad read them (absent for other members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<serde_json::Value>,
    pub decrypt_failures: Option<DecryptFailures>,
    /// Its own probes of others.
    pub probes: Counts,
    /// Probes of it by others.
    pub probed: Counts,
    pub suspicions: Vec<SuspicionReport>,
    /// Unanswered probes of it outside any suspicion (for example while TCP pings
    /// kept it alive).
    pub unanswered_probes: Option<Chain>,
}

fn chain(m: &Member, failed: &[&Probe], until: Option<Duration>, origin: Duration) -> Chain {
    let first = failed.first().map(|p| p.sent);
    let last = until.or(failed.last().map(|p| p.sent));
    let mut probers: Vec<Arc<str>> = failed
        .iter()
        .filter(|p| p.on_behalf_of.is_none())
        .map(|p| p.prober.clone())
        .collect();
    probers.sort();
    probers.dedup();
    let tcp = failed.iter().filter_map(|p| p.tcp.as_ref());
    Chain {
        probers,
        unanswered: failed.len() as u64,
        acked_too_late: failed.iter().filter(|p| p.late_ack.is_some()).count() as u64,
        first_unanswered: first,
        unanswered_for_ms: match (first, last) {
            (Some(f), Some(l)) => (l.saturating_sub(f).as_secs_f64() * 1e6).round() / 1e3,
            _ => 0.0,
        },
        probes: failed
            .iter()
            .skip(failed.len().saturating_sub(MAX_LISTED))
            .map(|p| (*p).clone())
            .collect(),
        tcp_pings: Counts {
            sent: tcp.clone().count() as u64,
            answered: tcp.filter(|t| t.acked.is_some()).count() as u64,
        },
        verdict: judge(m, failed, last.unwrap_or_default(), origin),
    }
}

fn member_report(m: &Member, origin: Duration) -> MemberReport {
    let count = |f: fn(&Change) -> bool| m.changes.iter().filter(|(_, c, _)| f(c)).count() as u64;
    let mut incarnations: Vec<u32> = m
        .changes
        .iter()
        .filter_map(|(_, c, _)| match c {
            Change::Joined { incarnation }
            | Change::MetaChanged { incarnation, .. }
            | Change::Suspected { incarnation, .. }
            | Change::Refuted { incarnation }
            | Change::AliveAgain { incarnation }
            | Change::Dead { incarnation, .. }
            | Change::Left { incarnation } => Some(*incarnation),
            Change::Confirmed { .. } => None,
        })
        .collect();
    incarnations.sort_unstable();
    incarnations.dedup();
    // Each failed probe belongs to the first suspicion it could have led to, else (sent
    // while the member was suspected) to the latest one still running then.
    let owner: Vec<Option<usize>> = m
        .failed
        .iter()
        .map(|p| {
            m.suspicions
                .iter()
                .position(|s| p.sent <= s.at && p.sent + LOOKBACK >= s.at)
                .or_else(|| {
                    m.suspicions.iter().rposition(|s| {
                        let end = match &s.outcome {
                            Outcome::Open => None,
                            Outcome::Refuted { at, .. }
                            | Outcome::Dead { at, .. }
                            | Outcome::Left { at } => Some(*at + LOOKAHEAD),
                        };
                        p.sent >= s.at && end.is_none_or(|e| p.sent <= e)
                    })
                })
        })
        .collect();
    let covered: Vec<bool> = owner.iter().map(Option::is_some).collect();
    let suspicions = m
        .suspicions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let failed: Vec<&Probe> = m
                .failed
                .iter()
                .zip(&owner)
                .filter(|(_, o)| **o == Some(i))
                .map(|(p, _)| p)
                .collect();
            SuspicionReport {
                suspicion: s.clone(),
                chain: (!failed.is_empty()).then(|| chain(m, &failed, Some(s.at), origin)),
            }
        })
        .collect();
    let outside: Vec<&Probe> = m
        .failed
        .iter()
        .zip(&covered)
        .filter(|(_, c)| !**c)
        .map(|(p, _)| p)
        .collect();
    MemberReport {
        name: m.name.clone(),
        addr: m.addr,
        state: m.state,
        incarnation: m.incarnation,
        incarnations,
        first_packet: m.first_packet,
        last_packet: m.last_packet,
        packets: m.packets,
        joins: count(|c| matches!(c, Change::Joined { .. } | Change::AliveAgain { .. })),
        leaves: count(|c| matches!(c, Change::Left { .. })),
        refutations: count(|c| matches!(c, Change::Refuted { .. })),
        meta_changes: count(|c| matches!(c, Change::MetaChanged { .. })),
        timeline: m
            .changes
            .iter()
            .map(|(t, c, e)| TimedChange {
                time: *t,
                change: c.clone(),
                row: e.clone(),
            })
            .collect(),
        rtt: m.rtt.quantiles().map(|(median, p99)| Rtt {
            pairs: m.rtt.count,
            median_ms: ms(median),
            p99_ms: ms(p99),
        }),
        coordinate: m.coordinate.clone(),
        product: m.product.clone(),
        decrypt_failures: (m.decrypt_failures.0 > 0).then_some(DecryptFailures {
            count: m.decrypt_failures.0,
            first: m.decrypt_failures.1,
            last: m.decrypt_failures.2,
        }),
        probes: Counts {
            sent: m.probes_sent.0,
            answered: m.probes_sent.1,
        },
        probed: Counts {
            sent: m.probed.0,
            answered: m.probed.1,
        },
        suspicions,
        unanswered_probes: (!outside.is_empty()).then(|| chain(m, &outside, None, origin)),
    }
}

impl Report {
    pub fn build(mut a: Analysis, captures: Vec<CaptureInfo>) -> Report {
        let timeout = a.probes.timeouts.quantiles().map(|(m, _)| m);
        // A probe sent this close to the end had no time to be answered.
        let cutoff = Duration::from_micros(timeout.map_or(1_000_000, |t| 2 * t as u64));
        a.finish(cutoff);
        let origin = a.first.unwrap_or_default();
        let rings = a.rings.report(a.last.unwrap_or_default());
        let mut members: Vec<MemberReport> = a
            .members
            .values()
            .filter(|m| m.state.is_some() || m.packets > 0 || m.probed.0 > 0)
            .map(|m| member_report(m, origin))
            .collect();
        members.sort_by(|x, y| x.name.cmp(&y.name));
        let sending: Vec<(Arc<str>, Duration)> = members
            .iter()
            .filter_map(|m| Some((m.name.clone(), m.last_packet?)))
            .collect();
        let silences = a.silences.report(&a.names, &sending);
        Report {
            captures,
            rows: a.rows,
            first: a.first,
            last: a.last,
            probe_timeout_ms: timeout.map(ms),
            probe_interval_ms: a.probes.intervals.quantiles().map(|(m, _)| ms(m)),
            members,
            errors: a.errors,
            undecrypted_sources: a
                .decrypt_failures
                .iter()
                .map(|(addr, f)| (addr.to_string(), f.0))
                .collect(),
            rings,
            silences,
        }
    }

    /// The report for a person: per capture, then per member, the suspicions first.
    pub fn text(&self) -> String {
        let origin = self.first.unwrap_or_default();
        let t = |d: Duration| rel(d, origin);
        let mut o = String::new();
        for (i, c) in self.captures.iter().enumerate() {
            let _ = write!(
                o,
                "capture {}: {} ({} frames, {} rows",
                i + 1,
                c.file,
                c.frames,
                c.rows
            );
            if c.duplicates > 0 {
                let _ = write!(
                    o,
                    ", {} dropped: another capture had them first",
                    c.duplicates
                );
            }
            o.push(')');
            match (&c.offset, i) {
                (_, 0) if self.captures.len() > 1 => o.push_str(": the reference clock"),
                (Some(off), _) => {
                    let _ = write!(
                        o,
                        ": clock {:+.6} s against capture {} ",
                        off.micros as f64 / 1e6,
                        off.against + 1
                    );
                    match off.plus_minus_micros {
                        Some(pm) => {
                            let _ = write!(
                                o,
                                "(± {:.6} s, from {} packets matched both ways)",
                                pm as f64 / 1e6,
                                off.matched_packets
                            );
                        }
                        None => {
                            let _ = write!(
                                o,
                                "(from {} packets matched one way only: includes the network delay)",
                                off.matched_packets
                            );
                        }
                    }
                }
                (None, _) if self.captures.len() > 1 => o.push_str(
                    ": shares no packets with the other captures, times taken as they are",
                ),
                _ => {}
            }
            if let Some(e) = &c.error {
                let _ = write!(o, "\n  error: {e}");
            }
            o.push('\n');
        }
        if let (Some(f), Some(l)) = (self.first, self.last) {
            let _ = writeln!(
                o,
                "timeline: {}.{:06} to {}.{:06} ({:.3} s), {} rows",
                f.as_secs(),
                f.subsec_micros(),
                l.as_secs(),
                l.subsec_micros(),
                l.saturating_sub(f).as_secs_f64(),
                self.rows
            );
        }
        match (self.probe_timeout_ms, self.probe_interval_ms) {
            (Some(to), iv) => {
                let _ = write!(
                    o,
                    "probe timeout the traffic implies: {to} ms (ping to indirect probe)"
                );
                if let Some(iv) = iv {
                    let _ = write!(o, "; probe interval: {iv} ms");
                }
                o.push('\n');
            }
            (None, Some(iv)) => {
                let _ = writeln!(o, "probe interval: {iv} ms (no indirect probe seen)");
            }
            (None, None) => {}
        }
        for m in &self.members {
            o.push('\n');
            let _ = write!(o, "member {}", m.name);
            if let Some(a) = m.addr {
                let _ = write!(o, " ({a})");
            }
            let _ = writeln!(
                o,
                ": {}, incarnation {}",
                m.state.map_or("never seen alive", |s| match s {
                    State::Alive => "alive",
                    State::Suspect => "suspect",
                    State::Dead => "dead",
                    State::Left => "left",
                }),
                m.incarnation
            );
            if let (Some(f), Some(l)) = (m.first_packet, m.last_packet) {
                let _ = writeln!(
                    o,
                    "  packets from it: {} (first {}, last {})",
                    m.packets,
                    t(f),
                    t(l)
                );
            }
            let _ = writeln!(
                o,
                "  probes it sent: {} ({} answered); probes of it: {} ({} answered)",
                m.probes.sent, m.probes.answered, m.probed.sent, m.probed.answered
            );
            if let Some(r) = &m.rtt {
                let _ = writeln!(
                    o,
                    "  ping/ack round trip: median {} ms, p99 {} ms ({} pairs)",
                    r.median_ms, r.p99_ms, r.pairs
                );
            }
            if let Some(p) = &m.product {
                let _ = writeln!(o, "  {}", crate::apps::product::text(p));
            }
            if let Some(c) = &m.coordinate {
                let _ = writeln!(
                    o,
                    "  Serf coordinate (last ack): {} dimensions, error {:.3}, height {:.3} ms, adjustment {:.3} ms",
                    c["Vec"].as_array().map_or(0, Vec::len),
                    c["Error"].as_f64().unwrap_or_default(),
                    c["Height"].as_f64().unwrap_or_default() * 1e3,
                    c["Adjustment"].as_f64().unwrap_or_default() * 1e3
                );
            }
            if let Some(d) = &m.decrypt_failures {
                let _ = writeln!(
                    o,
                    "  packets from it no key opened: {}{}",
                    d.count,
                    d.first
                        .map_or(String::new(), |f| format!(" (first {})", t(f)))
                );
            }
            for c in &m.timeline {
                let _ = writeln!(o, "  {} {}", t(c.time), change_text(&c.change));
            }
            for s in &m.suspicions {
                let _ = writeln!(
                    o,
                    "  suspicion at {} by {} (incarnation {}):",
                    t(s.suspicion.at),
                    s.suspicion.by,
                    s.suspicion.incarnation
                );
                if let Some(ch) = &s.chain {
                    chain_text(
                        &mut o,
                        ch,
                        "before the suspicion",
                        self.probe_timeout_ms,
                        &t,
                    );
                } else {
                    o.push_str("    no unanswered probe of it in the capture\n");
                }
                for c in &s.suspicion.confirmations {
                    let _ = writeln!(o, "    confirmed by {} at {}", c.by, t(c.at));
                }
                let _ = writeln!(
                    o,
                    "    outcome: {}",
                    match &s.suspicion.outcome {
                        Outcome::Open => "still suspected when the capture ends".to_string(),
                        Outcome::Refuted { at, incarnation } =>
                            format!("refuted at {} (incarnation {incarnation})", t(*at)),
                        Outcome::Dead { at, by } => format!("declared dead by {by} at {}", t(*at)),
                        Outcome::Left { at } => format!("left at {}", t(*at)),
                    }
                );
                if let Some(ch) = &s.chain {
                    let _ = writeln!(o, "    verdict: {}", ch.verdict.text);
                }
            }
            if let Some(ch) = &m.unanswered_probes {
                o.push_str("  unanswered probes outside any suspicion:\n");
                chain_text(&mut o, ch, "from first to last", self.probe_timeout_ms, &t);
                let _ = writeln!(o, "    verdict: {}", ch.verdict.text);
            }
        }
        let memberlist = |name: &str| {
            let m = self.members.iter().find(|m| &*m.name == name)?;
            let s = &m.suspicions.first()?.suspicion;
            let mut out = format!("suspected it at {} ({})", t(s.at), s.by);
            let dead = m
                .suspicions
                .iter()
                .find_map(|s| match &s.suspicion.outcome {
                    Outcome::Dead { at, by } => Some((*at, by)),
                    _ => None,
                });
            if let Some((at, by)) = dead {
                let _ = write!(out, " and declared it dead at {} ({by})", t(at));
            }
            Some(out)
        };
        o.push_str(&rings::text(
            &self.rings,
            origin,
            self.last.unwrap_or_default(),
            memberlist,
        ));
        if !self.errors.is_empty() {
            o.push_str("\nrows that did not decode:\n");
            for (e, n) in &self.errors {
                let _ = writeln!(o, "  {n} × {e}");
            }
        }
        for s in &self.silences {
            let _ = writeln!(
                o,
                "\nsilence {} {} by {:?} ({:?}): first seen at {} from {}",
                s.id,
                s.matchers,
                s.created_by,
                s.comment,
                t(s.first_seen),
                s.first_from
            );
            match (s.not_reached.len(), s.reached.last()) {
                (0, Some(last)) => {
                    let _ = writeln!(
                        o,
                        "  reached every other member ({}), the last {:.3} ms after it was first seen",
                        s.reached.len(),
                        last.after_ms
                    );
                }
                (0, None) => o.push_str("  no copy to another member in the capture\n"),
                (n, _) => {
                    let _ = writeln!(
                        o,
                        "  reached {} of {} other members",
                        s.reached.len(),
                        s.reached.len() + n
                    );
                }
            }
            for r in &s.reached {
                let _ = writeln!(
                    o,
                    "  reached {} at {} ({:.3} ms later, by {})",
                    r.member,
                    t(r.at),
                    r.after_ms,
                    r.via
                );
            }
            for m in &s.not_reached {
                let _ = writeln!(o, "  did not reach {m}");
            }
            if s.unattributed_copies > 0 {
                let _ = writeln!(
                    o,
                    "  {} more copies in push/pull answers (to a dialer's port, no member named)",
                    s.unattributed_copies
                );
            }
        }
        o
    }
}

fn change_text(c: &Change) -> String {
    match c {
        Change::Joined { incarnation } => format!("first seen alive (incarnation {incarnation})"),
        Change::MetaChanged { incarnation, meta } => {
            format!("meta changed (incarnation {incarnation}): {meta:?}")
        }
        Change::Suspected { by, incarnation } => {
            format!("suspected by {by} (incarnation {incarnation})")
        }
        Change::Confirmed { by } => format!("suspicion confirmed by {by}"),
        Change::Refuted { incarnation } => format!("refuted (incarnation {incarnation})"),
        Change::AliveAgain { incarnation } => format!("alive again (incarnation {incarnation})"),
        Change::Dead { by, incarnation } => {
            format!("declared dead by {by} (incarnation {incarnation})")
        }
        Change::Left { incarnation } => format!("left (incarnation {incarnation})"),
    }
}

fn chain_text(
    o: &mut String,
    ch: &Chain,
    until: &str,
    timeout: Option<f64>,
    t: &dyn Fn(Duration) -> String,
) {
    let _ = writeln!(
        o,
        "    {} unanswered probe{}{} by {}, the first at {}, {} ms {until}{}",
        ch.unanswered,
        if ch.unanswered == 1 { "" } else { "s" },
        match ch.acked_too_late {
            0 => String::new(),
            n if n == ch.unanswered => " (acked, but too late for the prober)".to_string(),
            n => format!(" ({n} acked, but too late for the prober)"),
        },
        if ch.probers.is_empty() {
            "helpers only".to_string()
        } else {
            ch.probers
                .iter()
                .map(|p| &**p)
                .collect::<Vec<_>>()
                .join(", ")
        },
        ch.first_unanswered.map_or_else(String::new, t),
        ch.unanswered_for_ms,
        timeout.map_or(String::new(), |to| format!(" (probe timeout {to} ms)"))
    );
    for p in &ch.probes {
        let _ = write!(
            o,
            "      {} {} seq {} at {}",
            p.prober,
            if p.on_behalf_of.is_some() {
                "(helping)"
            } else {
                "pinged"
            },
            p.seq,
            t(p.sent)
        );
        if let Some(r) = &p.on_behalf_of {
            let _ = write!(o, " for {r}");
        }
        match (p.acked, p.late_ack) {
            (Some(a), Some(LateAck::Unheeded)) => {
                let _ = write!(
                    o,
                    "; acked at {} but the prober did not get it in time",
                    t(a)
                );
            }
            (Some(a), Some(LateAck::Late)) => {
                let _ = write!(o, "; acked late, at {}", t(a));
            }
            _ => {}
        }
        for h in &p.helpers {
            let _ = write!(o, "; through {} at {}: ", h.name, t(h.asked));
            match (h.ack, h.nack) {
                (Some(a), _) => {
                    let _ = write!(o, "ack at {}", t(a));
                }
                (None, Some(n)) => {
                    let _ = write!(o, "nack at {}", t(n));
                }
                (None, None) => o.push_str("no answer"),
            }
        }
        if let Some(tcp) = &p.tcp {
            let _ = write!(
                o,
                "; TCP ping at {}: {}",
                t(tcp.sent),
                tcp.acked
                    .map_or("no ack".to_string(), |a| format!("ack at {}", t(a)))
            );
        }
        o.push('\n');
    }
    if ch.tcp_pings.sent == 0 {
        o.push_str("      no TCP fallback ping with data in the capture\n");
    }
}
