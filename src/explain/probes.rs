//! Probes in flight: each ping by its prober and sequence number, with what came of it
//! (a direct ack, indirect probes through helpers and their acks or nacks, the TCP
//! fallback ping). A probe is settled once it is older than `HOLD`, which is longer
//! than any profile's probe interval, so the table holds a few intervals' worth of
//! probes per member, never the whole capture.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::rtt::Rtts;

/// How long a probe is kept open for late answers (Go's WAN probe interval is 5 s).
const HOLD: Duration = Duration::from_secs(10);

/// Most probes open at once; the oldest is settled early beyond this.
const MAX_OPEN: usize = 1 << 14;

/// A helper ping counts as sent for an indirect probe when it follows the request by
/// less than this (a helper pings at once; its own next probe comes a probe timeout
/// or more later).
const RELAY_WINDOW: Duration = Duration::from_millis(50);

/// Most helpers kept per probe (Go asks `IndirectChecks`, 3 by default).
const MAX_HELPERS: usize = 8;

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
        self.order.push_back((at, prober.clone(), seq));
        self.open.insert(
            key,
            Probe {
                prober,
                target,
                seq,
                sent: at,
                capture,
                frame,
                ping_seen: true,
                acked: None,
                on_behalf_of,
                helpers: Vec::new(),
                tcp: None,
            },
        );
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
            self.order.push_back((at, prober.clone(), seq));
            self.open.insert(
                key.clone(),
                Probe {
                    prober: prober.clone(),
                    target: target.clone(),
                    seq,
                    sent: at,
                    capture,
                    frame,
                    ping_seen: false,
                    acked: None,
                    on_behalf_of: None,
                    helpers: Vec::new(),
                    tcp: None,
                },
            );
        }
        let p = self.open.get_mut(&key).expect("inserted");
        if p.helpers.is_empty() && p.ping_seen {
            self.timeouts.add(at.saturating_sub(p.sent));
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
        if *from == p.target {
            let mut p = self.open.remove(&key).expect("present");
            p.acked = Some(at);
            return Some((at.saturating_sub(p.sent), p));
        }
        // Else a helper relaying the target's ack.
        if let Some(h) = p.helpers.iter_mut().find(|h| h.name == *from) {
            h.ack.get_or_insert(at);
        }
        None
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
        while let Some((sent, _, _)) = self.order.front() {
            if *sent + HOLD > now && self.open.len() <= MAX_OPEN {
                break;
            }
            let (_, prober, seq) = self.order.pop_front().expect("front");
            if let Some(p) = self.open.remove(&(prober, seq)) {
                out.push(p);
            }
        }
        if self.relays.len() > MAX_OPEN {
            self.relays.clear();
        }
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
