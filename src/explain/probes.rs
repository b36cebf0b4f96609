//! Probes in flight: each ping by its prober and sequence number, with what came of it
//! (a direct ack, indirect probes through helpers and their acks or nacks, the TCP
//! fallback ping). A probe is settled once it is older than `HOLD`, which is longer
//! than any profile's probe interval, so the table holds a few intervals' worth of
//! probes per member, never the whole capture.
//!
//! A direct ack settles its probe at once, but the prober's last few answered probes
//! are remembered: indirect probes for one of them mean the prober did not get the ack
//! within its probe timeout although it was on the wire (its inbound packets are late),
//! and a direct ack after the indirect probes means the target answered late.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::rtt::Rtts;

/// How long a probe is kept open for late answers (Go's WAN probe interval is 5 s).
const HOLD: Duration = Duration::from_secs(10);

/// Most probes open at once per prober; beyond this times the probers seen, the
/// oldest is settled early. Go sends one probe per probe interval (and a ping for each
/// indirect probe it is asked to help with), and answered probes leave the table at
/// once, so a healthy cluster stays far below this; a capture whose acks match
/// nothing (or a flood of pings) is held to memory bounded by its members.
const MAX_OPEN_PER_PROBER: usize = 128;

/// Most probes open at once whatever the number of probers (pings from a great many
/// names), and the bound of the relay table.
const MAX_OPEN: usize = 1 << 14;

/// A helper ping counts as sent for an indirect probe when it follows the request by
/// less than this (a helper pings at once; its own next probe comes a probe timeout
/// or more later).
const RELAY_WINDOW: Duration = Duration::from_millis(50);

/// Most helpers kept per probe (Go asks `IndirectChecks`, 3 by default).
const MAX_HELPERS: usize = 8;

/// Answered probes remembered per prober. Go probes one member at a time, so the
/// indirect probes of a probe whose ack went unheeded follow within a few of them.
const RECENT_ANSWERED: usize = 4;

/// How a direct ack stood to the prober's indirect probes, when it was not simply in
/// time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LateAck {
    /// The ack was on the wire before the prober asked helpers: the prober did not get
    /// it within its probe timeout (what reaches the prober is late or lost).
    Unheeded,
    /// The ack came after the prober had asked helpers, or later than the shortest
    /// probe timeout the traffic shows: the target answered after the probe timeout.
    Late,
}

#[derive(Debug, Clone, Serialize)]
pub struct Helper {
    pub name: Arc<str>,
    #[serde(serialize_with = "super::report::time")]
    pub asked: Duration,
    /// The helper's nack: its own ping to the target went unanswered.
    #[serde(serialize_with = "super::report::opt_time")]
    pub nack: Option<Duration>,
    /// The target's ack relayed by the helper.
    #[serde(serialize_with = "super::report::opt_time")]
    pub ack: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TcpPing {
    #[serde(serialize_with = "super::report::time")]
    pub sent: Duration,
    #[serde(serialize_with = "super::report::opt_time")]
    pub acked: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub prober: Arc<str>,
    pub target: Arc<str>,
    pub seq: u32,
    #[serde(serialize_with = "super::report::time")]
    pub sent: Duration,
    /// The capture (index into the report's `captures`) and frame of the ping, or
    /// of the first indirect probe when the ping is not in the capture.
    pub capture: usize,
    pub frame: u64,
    /// False when the capture missed the ping itself and the probe is known from its
    /// indirect probes (`sent` is then when the first was asked).
    pub ping_seen: bool,
    #[serde(serialize_with = "super::report::opt_time")]
    pub acked: Option<Duration>,
    /// Set when the direct ack was not in time from the prober's point of view.
    pub late_ack: Option<LateAck>,
    /// Sent by a helper for this member's indirect probe.
    pub on_behalf_of: Option<Arc<str>>,
    pub helpers: Vec<Helper>,
    pub tcp: Option<TcpPing>,
}

impl Probe {
    /// Answered directly or through a helper.
    pub fn answered(&self) -> bool {
        self.acked.is_some() || self.helpers.iter().any(|h| h.ack.is_some())
    }

    /// Failed as far as the prober could tell in time: unanswered, or its ack was late
    /// or unheeded.
    pub fn failed(&self) -> bool {
        !self.answered() || self.late_ack.is_some()
    }
}

/// An indirect probe request a helper received: from whom, and when.
type Relay = (Arc<str>, Duration);

#[derive(Debug, Default)]
pub struct Probes {
    open: FxHashMap<(Arc<str>, u32), Probe>,
    order: VecDeque<(Duration, Arc<str>, u32)>,
    /// (helper, target) → (requester, when asked).
    relays: FxHashMap<(Arc<str>, Arc<str>), Relay>,
    /// Time from a ping to its prober's indirect probes: Go's probe timeout.
    pub timeouts: Rtts,
    /// Time between one prober's successive probes: Go's probe interval.
    pub intervals: Rtts,
    last_probe: FxHashMap<Arc<str>, Duration>,
    /// The shortest time from a ping to its prober's indirect probes: no more than
    /// the probe timeout, which is a fixed setting in Go. A direct ack later than this
    /// came after its prober had timed out, even when the indirect probes are not in
    /// the capture.
    min_timeout: Option<Duration>,
    /// Each prober's last `RECENT_ANSWERED` directly acked probes (newest last).
    answered: FxHashMap<Arc<str>, VecDeque<Probe>>,
}

impl Probes {
    pub fn ping(
        &mut self,
        at: Duration,
        (capture, frame): (usize, u64),
        prober: Arc<str>,
        target: Arc<str>,
        seq: u32,
    ) {
        let on_behalf_of = self
            .relays
            .remove(&(prober.clone(), target.clone()))
            .filter(|(_, asked)| at.saturating_sub(*asked) <= RELAY_WINDOW)
            .map(|(requester, _)| requester);
        if on_behalf_of.is_none() {
            if let Some(prev) = self.last_probe.insert(prober.clone(), at) {
                self.intervals.add(at.saturating_sub(prev));
            }
        }
        let key = (prober.clone(), seq);
        if self.open.contains_key(&key) {
            return;
        }
        self.open_probe(Probe {
            prober,
            target,
            seq,
            sent: at,
            capture,
            frame,
            ping_seen: true,
            acked: None,
            late_ack: None,
            on_behalf_of,
            helpers: Vec::new(),
            tcp: None,
        });
    }

    /// An indirect probe of `target` through `helper` for the prober's `seq`.
    pub fn indirect(
        &mut self,
        at: Duration,
        (capture, frame): (usize, u64),
        prober: &Arc<str>,
        seq: u32,
        helper: Arc<str>,
        target: &Arc<str>,
    ) {
        let key = (prober.clone(), seq);
        if !self.open.contains_key(&key) {
            let probe = match self.take_answered(prober, seq, at) {
                // Acked already, yet the prober asks helpers: it missed the ack.
                Some(mut p) => {
                    p.late_ack = Some(LateAck::Unheeded);
                    p
                }
                None => Probe {
                    prober: prober.clone(),
                    target: target.clone(),
                    seq,
                    sent: at,
                    capture,
                    frame,
                    ping_seen: false,
                    acked: None,
                    late_ack: None,
                    on_behalf_of: None,
                    helpers: Vec::new(),
                    tcp: None,
                },
            };
            self.open_probe(probe);
        }
        let p = self.open.get_mut(&key).expect("inserted");
        if p.helpers.is_empty() && p.ping_seen {
            let timeout = at.saturating_sub(p.sent);
            self.timeouts.add(timeout);
            self.min_timeout = Some(self.min_timeout.map_or(timeout, |m| m.min(timeout)));
        }
        if p.helpers.len() < MAX_HELPERS && !p.helpers.iter().any(|h| h.name == helper) {
            self.relays
                .insert((helper.clone(), p.target.clone()), (prober.clone(), at));
            p.helpers.push(Helper {
                name: helper,
                asked: at,
                nack: None,
                ack: None,
            });
        }
    }

    /// An ack from `from` (a name, if known) to `prober` for its `seq`. The target's
    /// own ack settles the probe at once (so that only unanswered probes wait in the
    /// table): it is returned with the round trip.
    pub fn ack(
        &mut self,
        at: Duration,
        from: Option<&Arc<str>>,
        prober: &Arc<str>,
        seq: u32,
    ) -> Option<(Duration, Probe)> {
        let key = (prober.clone(), seq);
        let p = self.open.get_mut(&key)?;
        let from = from?;
        if *from == p.target && p.acked.is_none() {
            let mut p = self.open.remove(&key).expect("present");
            p.acked = Some(at);
            let rtt = at.saturating_sub(p.sent);
            if p.helpers.is_empty() && self.min_timeout.is_none_or(|t| rtt <= t) {
                let recent = self.answered.entry(prober.clone()).or_default();
                if recent.len() == RECENT_ANSWERED {
                    recent.pop_front();
                }
                recent.push_back(p.clone());
            } else {
                p.late_ack = Some(LateAck::Late);
            }
            return Some((rtt, p));
        }
        // Else a helper relaying the target's ack.
        if let Some(h) = p.helpers.iter_mut().find(|h| h.name == *from) {
            h.ack.get_or_insert(at);
        }
        None
    }

    /// The prober's answered probe `seq`, if it is among its last few and not older
    /// than `HOLD` at `at`.
    fn take_answered(&mut self, prober: &Arc<str>, seq: u32, at: Duration) -> Option<Probe> {
        let recent = self.answered.get_mut(prober)?;
        let i = recent
            .iter()
            .position(|p| p.seq == seq && p.sent + HOLD > at)?;
        recent.remove(i)
    }

    /// Opens a probe and queues it for settling. The queue also holds probes an ack
    /// settled early; once those outnumber the open ones it is swept, so that it stays
    /// a small multiple of the open table rather than of the packets in `HOLD`.
    fn open_probe(&mut self, p: Probe) {
        self.order.push_back((p.sent, p.prober.clone(), p.seq));
        self.open.insert((p.prober.clone(), p.seq), p);
        if self.order.len() > 2 * self.open.len() + 64 {
            let open = &self.open;
            self.order.retain(|(sent, prober, seq)| {
                open.get(&(prober.clone(), *seq))
                    .is_some_and(|p| p.sent == *sent)
            });
        }
    }

    /// A helper's nack: its own ping to the target went unanswered too.
    pub fn nack(&mut self, at: Duration, from: &Arc<str>, prober: &Arc<str>, seq: u32) {
        if let Some(h) = self
            .open
            .get_mut(&(prober.clone(), seq))
            .and_then(|p| p.helpers.iter_mut().find(|h| h.name == *from))
        {
            h.nack.get_or_insert(at);
        }
    }

    /// A ping over TCP: Go's fallback reuses the UDP probe's sequence number.
    pub fn tcp_ping(&mut self, at: Duration, prober: &Arc<str>, seq: u32) {
        if let Some(p) = self.open.get_mut(&(prober.clone(), seq)) {
            p.tcp.get_or_insert(TcpPing {
                sent: at,
                acked: None,
            });
        }
    }

    pub fn tcp_ack(&mut self, at: Duration, prober: &Arc<str>, seq: u32) {
        if let Some(t) = self
            .open
            .get_mut(&(prober.clone(), seq))
            .and_then(|p| p.tcp.as_mut())
        {
            t.acked.get_or_insert(at);
        }
    }

    /// Settles the probes sent before `now - HOLD` (or beyond the table's bound).
    pub fn settle(&mut self, now: Duration, out: &mut Vec<Probe>) {
        let bound = (MAX_OPEN_PER_PROBER * self.last_probe.len().max(1)).min(MAX_OPEN);
        while let Some((sent, _, _)) = self.order.front() {
            if *sent + HOLD > now && self.open.len() <= bound {
                break;
            }
            let (sent, prober, seq) = self.order.pop_front().expect("front");
            let key = (prober, seq);
            // Not a later probe that reused the sequence number.
            if self.open.get(&key).is_some_and(|p| p.sent == sent) {
                out.push(self.open.remove(&key).expect("present"));
            }
        }
        if self.relays.len() > MAX_OPEN {
            self.relays.clear();
        }
    }

    /// Entries held (for the tests that check memory stays bounded).
    #[cfg(test)]
    pub fn retained(&self) -> usize {
        let helpers: usize = self.open.values().map(|p| p.helpers.len()).sum();
        let answered: usize = self.answered.values().map(VecDeque::len).sum();
        self.open.len()
            + helpers
            + self.order.len()
            + self.relays.len()
            + self.timeouts.retained()
            + self.intervals.retained()
            + self.last_probe.len()
            + answered
    }

    /// Settles every probe still open (the capture ended).
    pub fn finish(&mut self, out: &mut Vec<Probe>) {
        while let Some((_, prober, seq)) = self.order.pop_front() {
            if let Some(p) = self.open.remove(&(prober, seq)) {
                out.push(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_ack_before_the_indirect_probes_was_unheeded_one_after_late() {
        let mut probes = Probes::default();
        let (a, b, t): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "t".into());
        let mut out = Vec::new();
        // t acks a's seq 1 at once; a asks b 200 ms later all the same.
        probes.ping(ms(1000), (0, 1), a.clone(), t.clone(), 1);
        let (rtt, first) = probes.ack(ms(1001), Some(&t), &a, 1).expect("settled");
        assert_eq!((rtt, first.late_ack), (ms(1), None));
        probes.indirect(ms(1200), (0, 3), &a, 1, b.clone(), &t);
        assert!(probes.ack(ms(1203), Some(&b), &a, 1).is_none());
        // a's seq 2: asked b first, t's own ack only 600 ms after the ping.
        probes.ping(ms(2000), (0, 5), a.clone(), t.clone(), 2);
        probes.indirect(ms(2200), (0, 6), &a, 2, b.clone(), &t);
        let (rtt, late) = probes.ack(ms(2600), Some(&t), &a, 2).expect("settled");
        assert_eq!((rtt, late.late_ack), (ms(600), Some(LateAck::Late)));
        // seq 3: no indirect probe in the capture, but the ack came 300 ms after the
        // ping, later than a's probe timeout (200 ms, from seq 1).
        probes.ping(ms(3000), (0, 7), a.clone(), t.clone(), 3);
        let (_, late) = probes.ack(ms(3300), Some(&t), &a, 3).expect("settled");
        assert_eq!(late.late_ack, Some(LateAck::Late));
        probes.settle(ms(20_000), &mut out);
        let [unheeded] = &out[..] else {
            panic!("{out:#?}")
        };
        assert_eq!(unheeded.late_ack, Some(LateAck::Unheeded));
        assert_eq!((unheeded.sent, unheeded.acked), (ms(1000), Some(ms(1001))));
        assert!(unheeded.ping_seen && unheeded.failed());
        assert_eq!(unheeded.helpers[0].ack, Some(ms(1203)));
    }

    #[test]
    fn acked_probes_do_not_pile_up_in_the_settle_queue() {
        let mut probes = Probes::default();
        let (a, t): (Arc<str>, Arc<str>) = ("a".into(), "t".into());
        // A ping and its ack every 20 µs: HOLD holds half a million of them.
        for seq in 0..200_000u32 {
            let at = Duration::from_micros(20 * seq as u64);
            probes.ping(at, (0, seq as u64), a.clone(), t.clone(), seq);
            probes.ack(at, Some(&t), &a, seq).expect("settled");
            // At most the sweep's bound, with the probe the ack just settled.
            assert!(probes.order.len() <= 2 * (probes.open.len() + 1) + 64);
        }
    }

    #[test]
    fn unanswered_pings_are_bounded_by_the_probers() {
        let mut probes = Probes::default();
        let mut out = Vec::new();
        let names: Vec<Arc<str>> = (0..4).map(|i| format!("m{i}").into()).collect();
        // Pings no ack matches, every 20 µs, from four probers (to the next one).
        for seq in 0..200_000u32 {
            let at = Duration::from_micros(20 * seq as u64);
            let (prober, target) = (seq as usize % 4, (seq as usize + 1) % 4);
            let (p, t) = (names[prober].clone(), names[target].clone());
            probes.ping(at, (0, seq as u64), p, t, seq);
            probes.settle(at, &mut out);
            assert!(probes.open.len() <= 4 * MAX_OPEN_PER_PROBER);
            assert!(probes.order.len() <= 2 * probes.open.len() + 64);
        }
        // The oldest were settled early, in order.
        assert_eq!(out.len(), 200_000 - 4 * MAX_OPEN_PER_PROBER);
        assert!(out.windows(2).all(|w| w[0].sent < w[1].sent));
    }
}
