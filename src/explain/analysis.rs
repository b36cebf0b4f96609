//! The inspector's rows, in time order, folded into per-member aggregates and the open
//! probe table. Nothing here keeps rows: what a report needs is counted, sampled or
//! bounded per member as the rows go by.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::member::{Evidence, Member};
use super::names::{ip, Names};
use super::probes::{LateAck, Probe, Probes};
use super::rings::Rings;
use super::silences::Silences;
use crate::inspect::{Body, Row};
use crate::wire::{Accusation, Message, NodeState, StreamMessage};

/// Most distinct error texts counted (the rest are counted together).
const MAX_ERROR_KINDS: usize = 64;
/// Most source addresses whose decryption failures are counted.
const MAX_FAILING_ADDRS: usize = 4096;

/// Decryption failures of packets from one address: count, first and last time.
pub type Failures = (u64, Duration, Duration);

#[derive(Debug, Default)]
pub struct Analysis {
    pub names: Names,
    pub members: FxHashMap<Arc<str>, Member>,
    pub probes: Probes,
    /// How Alertmanager's silences spread, when the rows carry them.
    pub silences: Silences,
    settled: Vec<Probe>,
    pub errors: BTreeMap<String, u64>,
    pub decrypt_failures: FxHashMap<SocketAddr, Failures>,
    pub first: Option<Duration>,
    pub last: Option<Duration>,
    pub rows: u64,
    pub rings: Rings,
}

impl Analysis {
    fn member(&mut self, name: &Arc<str>) -> &mut Member {
        self.members
            .entry(name.clone())
            .or_insert_with(|| Member::new(name.clone()))
    }

    /// Folds in one row of capture `capture` (rows come in time order).
    pub fn row(&mut self, capture: usize, r: &Row) {
        self.rows += 1;
        let t = r.time;
        self.first.get_or_insert(t);
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
        self.rings.row(r);
        let body = match &r.body {
            Ok(b) => b,
            Err(e) => return self.error(r, e),
        };
        // The datagram's source is a member's gossip address; so is a TCP acceptor's.
        if let Some(from) = self.names.of(&r.src) {
            self.member(&from).packet(t);
        }
        match body {
            Body::Packet(m) => self.packet(capture, r, m),
            Body::Stream(m) => self.stream(capture, r, m),
        }
        self.silences.row(&self.names, r);
        self.probes.settle(t, &mut self.settled);
        self.drain_settled();
    }

    fn error(&mut self, r: &Row, e: &str) {
        let kind = if self.errors.len() < MAX_ERROR_KINDS || self.errors.contains_key(e) {
            e.to_string()
        } else {
            "other errors".to_string()
        };
        *self.errors.entry(kind).or_default() += 1;
        let about_keys = e.starts_with(crate::inspect::decode::NO_KEY) || e.contains("pass --key");
        if about_keys
            && (self.decrypt_failures.len() < MAX_FAILING_ADDRS
                || self.decrypt_failures.contains_key(&r.src))
        {
            let f = self
                .decrypt_failures
                .entry(r.src)
                .or_insert((0, r.time, r.time));
            f.0 += 1;
            f.2 = r.time;
        }
    }

    fn packet(&mut self, capture: usize, r: &Row, m: &Message<'_>) {
        let t = r.time;
        let ev = |message: String| evidence(capture, r, message);
        match m {
            Message::Ping(p) => {
                let prober = self.sender(&p.source_node.to_str_lossy(), r.src);
                if let Some(ip) = ip(&p.source_addr).filter(|_| p.source_port != 0) {
                    self.names
                        .learn(SocketAddr::new(ip, p.source_port), &prober);
                }
                let target = self.names.intern(&p.node.to_str_lossy());
                self.names.learn(r.dst, &target);
                self.probes
                    .ping(t, (capture, r.frame), prober, target, p.seq_no);
            }
            Message::IndirectPing(p) => {
                let prober = self.sender(&p.source_node.to_str_lossy(), r.src);
                let target = self.names.intern(&p.node.to_str_lossy());
                if let Some(ip) = p.target.as_deref().and_then(ip) {
                    self.names.learn(SocketAddr::new(ip, p.port), &target);
                }
                if let Some(helper) = self.names.of(&r.dst) {
                    self.probes
                        .indirect(t, (capture, r.frame), &prober, p.seq_no, helper, &target);
                }
            }
            Message::AckResp(a) => {
                let from = self.names.of(&r.src);
                let Some(to) = self.names.of(&r.dst) else {
                    return;
                };
                if let Some((rtt, probe)) = self.probes.ack(t, from.as_ref(), &to, a.seq_no) {
                    let in_time = probe.late_ack.is_none();
                    self.settled.push(probe);
                    let from = from.expect("a direct ack has a sender");
                    let m = self.member(&from);
                    m.rtt.add(rtt);
                    // A late ack is no sign the member answers that prober well.
                    if in_time {
                        m.acked_by(&to, t);
                    }
                    if let Some(c) = r.serf.as_ref().and_then(|s| s.get("coordinate")) {
                        m.coordinate = Some(c.clone());
                    }
                }
            }
            Message::NackResp(n) => {
                if let (Some(from), Some(to)) = (self.names.of(&r.src), self.names.of(&r.dst)) {
                    self.probes.nack(t, &from, &to, n.seq_no);
                }
            }
            Message::Suspect(a) => {
                let node = self.names.intern(&a.node.to_str_lossy());
                let by = self.names.intern(&a.from.to_str_lossy());
                let text = || ev(accusation("suspect", a));
                self.member(&node).suspect(t, a.incarnation, by, &text);
            }
            Message::Dead(a) => {
                let node = self.names.intern(&a.node.to_str_lossy());
                let by = self.names.intern(&a.from.to_str_lossy());
                let text = || ev(accusation("dead", a));
                self.member(&node).dead(t, a.incarnation, by, &text);
            }
            Message::Alive(a) => {
                let node = self.names.intern(&a.node.to_str_lossy());
                let addr = a
                    .addr
                    .as_deref()
                    .and_then(ip)
                    .map(|ip| SocketAddr::new(ip, a.port));
                if let Some(addr) = addr {
                    self.names.learn(addr, &node);
                }
                let m = self.member(&node);
                if addr.is_some() {
                    m.addr = addr;
                }
                if let Some(p) = r.serf.as_ref().and_then(|s| s.get("product")) {
                    m.product = Some(p.clone());
                }
                let meta = a.meta.as_deref().unwrap_or_default();
                let text = || {
                    ev(format!(
                        "alive Node={} Incarnation={} Addr={}",
                        a.node,
                        a.incarnation,
                        addr.map_or_else(String::new, |a| a.to_string())
                    ))
                };
                m.alive(
                    t,
                    a.incarnation,
                    meta,
                    || shown_meta(meta, r.serf.as_ref()),
                    &text,
                );
            }
            Message::User(_) | Message::Err(_) => {}
        }
    }

    fn stream(&mut self, capture: usize, r: &Row, m: &StreamMessage<'_>) {
        let t = r.time;
        match m {
            StreamMessage::Ping(p) => {
                let prober = self.names.intern(&p.source_node.to_str_lossy());
                if prober.is_empty() {
                    return;
                }
                self.names.learn_ephemeral(r.src, &prober);
                self.probes.tcp_ping(t, &prober, p.seq_no);
            }
            StreamMessage::AckResp(a) => {
                if let Some(to) = self.names.of(&r.dst) {
                    self.probes.tcp_ack(t, &to, a.seq_no);
                }
            }
            StreamMessage::PushPull { nodes, .. } => {
                for n in nodes {
                    let name = self.names.intern(&n.name.to_str_lossy());
                    let addr = n
                        .addr
                        .as_deref()
                        .and_then(ip)
                        .map(|ip| SocketAddr::new(ip, n.port));
                    if let Some(addr) = addr {
                        self.names.learn(addr, &name);
                    }
                    if n.state == NodeState::Alive {
                        let product = r.serf.as_ref().and_then(|s| s.get("products")?.get(&*name));
                        let m = self.member(&name);
                        if let Some(p) = product {
                            m.product = Some(p.clone());
                        }
                        if addr.is_some() {
                            m.addr = addr;
                        }
                        let meta = n.meta.as_deref().unwrap_or_default();
                        let text = || {
                            evidence(
                                capture,
                                r,
                                format!(
                                    "push_pull listing {} alive at incarnation {}",
                                    n.name, n.incarnation
                                ),
                            )
                        };
                        m.alive(t, n.incarnation, meta, || shown_meta(meta, None), &text);
                    }
                }
            }
            StreamMessage::User { .. } | StreamMessage::Err(_) => {}
        }
    }

    /// A message's sender: the name it gives, else the one known for its address.
    fn sender(&mut self, given: &str, src: SocketAddr) -> Arc<str> {
        if !given.is_empty() {
            let n = self.names.intern(given);
            self.names.learn(src, &n);
            return n;
        }
        self.names
            .of(&src)
            .unwrap_or_else(|| self.names.intern(&src.to_string()))
    }

    fn drain_settled(&mut self) {
        for p in std::mem::take(&mut self.settled) {
            // An unheeded ack's probe was counted when the ack settled it first.
            if p.late_ack != Some(LateAck::Unheeded) {
                let answered = p.answered();
                if p.on_behalf_of.is_none() {
                    let prober = self.member(&p.prober);
                    prober.probes_sent.0 += 1;
                    prober.probes_sent.1 += answered as u64;
                }
                let target = self.member(&p.target);
                target.probed.0 += 1;
                target.probed.1 += answered as u64;
            }
            if p.failed() {
                self.member(&p.target).failed_probe(p);
            }
        }
    }

    /// Settles every probe still open; those sent within `cutoff` of the end had no
    /// time to be answered and are left out.
    pub fn finish(&mut self, cutoff: Duration) {
        let mut rest = Vec::new();
        self.probes.finish(&mut rest);
        let end = self.last.unwrap_or_default();
        self.settled = rest
            .into_iter()
            .filter(|p| p.answered() || p.sent + cutoff <= end)
            .collect();
        self.drain_settled();
        for (addr, f) in std::mem::take(&mut self.decrypt_failures) {
            match self.names.of(&addr) {
                Some(n) => {
                    let m = self.member(&n);
                    m.decrypt_failures.0 += f.0;
                    m.decrypt_failures.1 = Some(m.decrypt_failures.1.map_or(f.1, |x| x.min(f.1)));
                    m.decrypt_failures.2 = Some(m.decrypt_failures.2.map_or(f.2, |x| x.max(f.2)));
                }
                None => {
                    self.decrypt_failures.insert(addr, f);
                }
            }
        }
    }
}

fn evidence(capture: usize, r: &Row, message: String) -> Evidence {
    Evidence {
        capture,
        frame: r.frame,
        src: r.src,
        dst: r.dst,
        transport: r.transport,
        message,
    }
}

fn accusation(kind: &str, a: &Accusation<'_>) -> String {
    format!(
        "{kind} Node={} From={} Incarnation={}",
        a.node, a.from, a.incarnation
    )
}

/// Meta for a person: Serf's tags when the row carries them, else the bytes as text.
fn shown_meta(meta: &[u8], serf: Option<&serde_json::Value>) -> String {
    match serf.and_then(|s| s.get("tags")) {
        Some(tags) => tags.to_string(),
        None => String::from_utf8_lossy(meta).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::wire::{AckResp, Alive, IndirectPingReq, Ping};

    const MEMBERS: u8 = 4;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1 + i], 7946))
    }

    fn name(i: u8) -> String {
        format!("m{i}")
    }

    fn row(frame: u64, time: Duration, src: u8, dst: u8, m: Message<'static>) -> Row {
        Row {
            body: Ok(Body::Packet(m)),
            ..Row::bare(frame, time, addr(src), addr(dst), "udp")
        }
    }

    /// Entries the analysis holds: members, names and everything kept per member and
    /// per probe in flight.
    fn retained(a: &Analysis) -> usize {
        a.names.retained()
            + a.members.len()
            + a.members.values().map(Member::retained).sum::<usize>()
            + a.probes.retained()
            + a.settled.len()
            + a.errors.len()
            + a.decrypt_failures.len()
    }

    /// `rounds` rounds, 50 ms apart, of the same four members: each pings the next and
    /// is acked; every fourth round the prober misses the ack and asks a helper, who
    /// pings the target and relays its ack; one member is suspected and refutes.
    fn analysis(rounds: u64) -> Analysis {
        let mut a = Analysis::default();
        let mut frame = 0;
        let mut feed = |a: &mut Analysis, t: Duration, src: u8, dst: u8, m: Message<'static>| {
            frame += 1;
            a.row(0, &row(frame, t, src, dst, m));
        };
        for r in 0..rounds {
            let t = Duration::from_millis(50 * r);
            for i in 0..MEMBERS {
                let (target, helper) = ((i + 1) % MEMBERS, (i + 2) % MEMBERS);
                let seq = (r * MEMBERS as u64 + i as u64) as u32;
                let ping = |seq, from: u8, to: u8| {
                    Message::Ping(Ping {
                        seq_no: seq,
                        node: name(to).into(),
                        source_addr: Cow::Owned(vec![10, 0, 0, 1 + from]),
                        source_port: 7946,
                        source_node: name(from).into(),
                    })
                };
                let ack = |seq| {
                    Message::AckResp(AckResp {
                        seq_no: seq,
                        payload: None,
                    })
                };
                feed(&mut a, t, i, target, ping(seq, i, target));
                feed(&mut a, t + Duration::from_millis(1), target, i, ack(seq));
                if r % 4 == 0 {
                    let asked = t + Duration::from_millis(20);
                    let ind = Message::IndirectPing(IndirectPingReq {
                        seq_no: seq,
                        target: Some(Cow::Owned(vec![10, 0, 0, 1 + target])),
                        port: 7946,
                        node: name(target).into(),
                        nack: true,
                        source_addr: Cow::Owned(vec![10, 0, 0, 1 + i]),
                        source_port: 7946,
                        source_node: name(i).into(),
                    });
                    feed(&mut a, asked, i, helper, ind);
                    let relay = seq + 1_000_000_000;
                    feed(&mut a, asked, helper, target, ping(relay, helper, target));
                    feed(&mut a, asked, target, helper, ack(relay));
                    feed(&mut a, asked, helper, i, ack(seq));
                }
            }
            let who = (r % MEMBERS as u64) as u8;
            let suspect = Message::Suspect(Accusation {
                incarnation: r as u32,
                node: name(who).into(),
                from: name((who + 1) % MEMBERS).into(),
            });
            feed(&mut a, t, (who + 1) % MEMBERS, who, suspect);
            let alive = Message::Alive(Alive {
                incarnation: r as u32 + 1,
                node: name(who).into(),
                addr: Some(Cow::Owned(vec![10, 0, 0, 1 + who])),
                port: 7946,
                meta: None,
                vsn: None,
            });
            feed(&mut a, t, who, (who + 1) % MEMBERS, alive);
        }
        a
    }

    #[test]
    fn ten_times_the_packets_of_the_same_members_retain_no_more() {
        let small = analysis(5_000);
        let big = analysis(50_000);
        assert_eq!(big.rows, 10 * small.rows);
        let failed: u64 = big.members.values().map(|m| m.failed_total).sum();
        assert!(failed >= 40_000, "the misses were seen: {failed}");
        let (s, b) = (retained(&small), retained(&big));
        // The settle queue is swept when acked probes outnumber the open ones, at
        // points that differ between the two runs: allow for one sweep's worth.
        assert!(
            b <= s + 2 * 64,
            "{s} entries after 5,000 rounds, {b} after 50,000"
        );
    }
}
