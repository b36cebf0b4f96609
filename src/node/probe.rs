//! Failure detection: the probe round (direct ping, then indirect pings through other
//! members and a TCP ping, then suspicion), and our side of other members' probes
//! (answering pings, relaying indirect pings, sending nacks).

use std::net::SocketAddr;

use super::delegate::Delegate;
use super::machine::{next_tick, Machine, StreamId};
use super::member::{ip_from_bytes, ip_to_bytes, State};
use super::metrics;
use super::node_list::k_random_nodes;
use super::stats::Counter;
use super::streams::PendingStream;
use super::time::Time;
use crate::wire::{
    compound, Accusation, AckResp, IndirectPingReq, Message, NackResp, Ping, Side, StreamMessage,
};

/// The probe of one member, from the direct ping to the verdict.
#[derive(Debug)]
pub(super) struct Probe {
    target: String,
    /// The target's incarnation when the probe started: a failed probe accuses it at
    /// this one, as Go does, so a refutation heard meanwhile makes the verdict stale.
    incarnation: u32,
    seq: u32,
    sent: Time,
    /// End of the direct stage (`probe_timeout` after sending).
    direct_until: Option<Time>,
    /// End of the whole probe (the health-scaled probe interval after sending).
    deadline: Time,
    expected_nacks: usize,
    nacks: usize,
    fallback: Fallback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// No TCP ping (disabled, peer too old, or not reached the indirect stage).
    Off,
    Pending(StreamId),
    Answered(bool),
}

impl Probe {
    pub(super) fn next_deadline(&self) -> Time {
        match self.direct_until {
            Some(t) => t,
            None => self.deadline,
        }
    }
}

/// An indirect ping we run for another member: when the target acks our ping we
/// forward an ack under the requester's sequence number.
#[derive(Debug)]
pub(super) struct Relay {
    requester: SocketAddr,
    requester_seq: u32,
    /// Send a nack if the target has not answered by `deadline`.
    nack: bool,
    pub(super) deadline: Time,
}

impl<D: Delegate> Machine<D> {
    /// Moves the probe round along: starts the next probe when its tick has come
    /// and none is running, or advances the running one past its deadlines.
    pub(super) fn advance_probe(&mut self, now: Time) {
        if let Some(p) = &mut self.probe {
            if p.direct_until.is_some_and(|t| now >= t) {
                p.direct_until = None;
                self.start_indirect();
            }
        }
        if let Some(p) = &self.probe {
            if now >= p.deadline && !matches!(p.fallback, Fallback::Pending(_)) {
                let contacted = p.fallback == Fallback::Answered(true);
                self.finish_probe(now, contacted);
            }
        }
        if self.probe.is_none() && now >= self.next_probe {
            // Go's ticker keeps one missed tick: a probe that overran its interval is
            // followed at once by the next one, then the schedule resumes.
            self.next_probe = next_tick(self.next_probe, self.config.probe_interval, now);
            self.probe_next(now);
        }
    }

    /// Go's `probe`: picks the next live member in the (shuffled) list and probes it;
    /// reshuffles and reaps when the list wraps.
    fn probe_next(&mut self, now: Time) {
        let mut checked = 0;
        loop {
            if checked >= self.nodes.len() {
                return;
            }
            if self.probe_index >= self.nodes.len() {
                self.reset_nodes(now);
                self.probe_index = 0;
                checked += 1;
                continue;
            }
            let node = &self.nodes[self.probe_index];
            self.probe_index += 1;
            if node.name == self.config.name || node.state.is_dead_or_left() {
                checked += 1;
                continue;
            }
            let name = node.name.clone();
            self.probe_node(now, name);
            return;
        }
    }

    fn probe_node(&mut self, now: Time, target: String) {
        let idx = self.index[&target];
        let node = self.nodes[idx].clone();
        let Some(addr) = node.socket_addr() else {
            self.stats.count(Counter::FailedProbes, || {
                format!("cannot probe {target}: no usable address")
            });
            return;
        };
        let interval = self.awareness.scale_timeout(self.config.probe_interval);
        if interval > self.config.probe_interval {
            self.config.metrics.incr(&metrics::DEGRADED_PROBE, 1.0);
        }
        let seq = self.next_seq_no();
        let ping = Message::Ping(Ping {
            seq_no: seq,
            node: target.clone().into(),
            source_addr: ip_to_bytes(self.advertise.ip()).into(),
            source_port: self.advertise.port(),
            source_node: self.config.name.clone().into(),
        })
        .to_bytes();
        if node.state == State::Alive {
            self.send_msg(addr, ping);
        } else {
            // A suspect is told of the suspicion with the ping, so it can refute.
            let suspect = Message::Suspect(Accusation {
                incarnation: node.incarnation,
                node: target.clone().into(),
                from: self.config.name.clone().into(),
            })
            .to_bytes();
            let mut packet = Vec::new();
            if compound::encode(&[ping, suspect], &mut packet).is_ok() {
                self.raw_send(addr, Some(node.versions.protocol_max), packet);
            }
        }
        self.probe = Some(Probe {
            target,
            incarnation: node.incarnation,
            seq,
            sent: now,
            direct_until: Some(now + self.config.probe_timeout),
            deadline: now + interval,
            expected_nacks: 0,
            nacks: 0,
            fallback: Fallback::Off,
        });
    }

    /// The direct ping went unanswered: ask up to `indirect_checks` live members to
    /// ping the target, and try a TCP ping ourselves.
    fn start_indirect(&mut self) {
        let Some(p) = &self.probe else { return };
        let (target, seq, deadline) = (p.target.clone(), p.seq, p.deadline);
        tracing::debug!(target: "memberlist", "Failed UDP ping: {target} (timeout reached)");
        let Some(node) = self.member(&target).cloned() else {
            return;
        };
        let me = self.config.name.clone();
        let helpers = k_random_nodes(
            &mut self.rng,
            self.config.indirect_checks,
            &self.nodes,
            |n| n.name == me || n.name == target || n.state != State::Alive,
        );
        let mut expected_nacks = 0;
        for i in helpers {
            let helper = self.nodes[i].clone();
            let Some(helper_addr) = helper.socket_addr() else {
                continue;
            };
            let nack = helper.versions.protocol_max >= 4;
            expected_nacks += usize::from(nack);
            let req = Message::IndirectPing(IndirectPingReq {
                seq_no: seq,
                target: Some(node.addr.clone().into()),
                port: node.port,
                node: target.clone().into(),
                nack,
                source_addr: ip_to_bytes(self.advertise.ip()).into(),
                source_port: self.advertise.port(),
                source_node: me.clone().into(),
            });
            self.send_msg(helper_addr, req.to_bytes());
        }
        let fallback = match node.socket_addr() {
            Some(addr) if !self.config.disable_tcp_pings && node.versions.protocol_max >= 3 => {
                let ping = StreamMessage::Ping(Ping {
                    seq_no: seq,
                    node: target.clone().into(),
                    source_addr: ip_to_bytes(self.advertise.ip()).into(),
                    source_port: self.advertise.port(),
                    source_node: me.into(),
                });
                let bytes = self.stream_bytes(&ping, Side::Dialer);
                let id = self.open_stream_until(
                    addr,
                    bytes,
                    PendingStream::FallbackPing { seq },
                    true,
                    deadline,
                );
                Fallback::Pending(id)
            }
            _ => Fallback::Off,
        };
        if let Some(p) = &mut self.probe {
            p.expected_nacks = expected_nacks;
            p.fallback = fallback;
        }
    }

    /// The TCP ping of the running probe answered (`true`: acked with our sequence).
    pub(super) fn fallback_result(&mut self, now: Time, seq: u32, contacted: bool) {
        if let Some(p) = &mut self.probe {
            if p.seq == seq {
                p.fallback = Fallback::Answered(contacted);
            }
        }
        self.advance_probe(now);
    }

    /// Ends the probe; without an ack (or a TCP contact) the target becomes suspect
    /// and our health score moves by Lifeguard's rule.
    fn finish_probe(&mut self, now: Time, contacted: bool) {
        let Some(p) = self.probe.take() else { return };
        self.config
            .metrics
            .measure(&metrics::PROBE_NODE, now.saturating_since(p.sent));
        if contacted {
            tracing::warn!(
                target: "memberlist",
                "Was able to connect to {} over TCP but UDP probes failed, network may be misconfigured",
                p.target
            );
            self.apply_awareness(-1);
        } else {
            let delta = if p.expected_nacks > 0 {
                p.expected_nacks.saturating_sub(p.nacks) as i64
            } else {
                1
            };
            self.apply_awareness(delta);
            self.stats.count(Counter::FailedProbes, || {
                format!("Suspect {} has failed, no acks received", p.target)
            });
            let s = Accusation {
                incarnation: p.incarnation,
                node: p.target.clone().into(),
                from: self.config.name.clone().into(),
            };
            self.suspect_node(&s, now);
        }
        self.advance_probe(now);
    }

    /// An ack arrived (from the target, a relay, or for a relay we run).
    pub(super) fn handle_ack(&mut self, now: Time, ack: &AckResp<'_>) {
        if let Some(p) = &self.probe {
            if p.seq == ack.seq_no {
                let direct = p.direct_until.is_some();
                let rtt = now.saturating_since(p.sent);
                let target = p.target.clone();
                if direct {
                    if let Some(m) = self.member(&target).cloned() {
                        let payload = ack.payload.as_deref().unwrap_or_default();
                        self.delegate.notify_ping_complete(&m, rtt, payload);
                    }
                }
                self.probe = None;
                self.config.metrics.measure(&metrics::PROBE_NODE, rtt);
                self.apply_awareness(-1);
                self.advance_probe(now);
                return;
            }
        }
        if let Some(relay) = self.relays.remove(&ack.seq_no) {
            let ack = Message::AckResp(AckResp {
                seq_no: relay.requester_seq,
                payload: None,
            });
            self.send_msg(relay.requester, ack.to_bytes());
            return;
        }
        self.stats.count(Counter::UnexpectedAcks, || {
            format!("ack for unknown sequence number {}", ack.seq_no)
        });
    }

    pub(super) fn handle_nack(&mut self, nack: &NackResp) {
        match &mut self.probe {
            Some(p) if p.seq == nack.seq_no => p.nacks += 1,
            _ => self.stats.count(Counter::UnexpectedAcks, || {
                format!("nack for unknown sequence number {}", nack.seq_no)
            }),
        }
    }

    /// Answers a ping addressed to us (or to nobody in particular).
    pub(super) fn handle_ping(&mut self, from: SocketAddr, ping: &Ping<'_>) {
        if !ping.node.is_empty() && ping.node.as_bytes() != self.config.name.as_bytes() {
            self.stats.count(Counter::MisaddressedPings, || {
                format!("Got ping for unexpected node '{}' from={from}", ping.node)
            });
            return;
        }
        let payload = self.delegate.ack_payload();
        let ack = Message::AckResp(AckResp {
            seq_no: ping.seq_no,
            payload: (!payload.is_empty()).then(|| payload.into()),
        });
        let to = reply_addr(&ping.source_addr, ping.source_port).unwrap_or(from);
        self.send_msg(to, ack.to_bytes());
    }

    /// Pings a target for another member and reports back (Go's `handleIndirectPing`).
    pub(super) fn handle_indirect_ping(
        &mut self,
        now: Time,
        from: SocketAddr,
        req: &IndirectPingReq<'_>,
    ) {
        let port = if self.config.protocol_version < 2 || req.port == 0 {
            self.config.bind_port
        } else {
            req.port
        };
        let Some(ip) = ip_from_bytes(req.target.as_deref().unwrap_or_default()) else {
            self.stats.count(Counter::BadMessages, || {
                format!("indirect ping from {from} with no usable target address")
            });
            return;
        };
        let seq = self.next_seq_no();
        let ping = Message::Ping(Ping {
            seq_no: seq,
            node: req.node.clone(),
            source_addr: ip_to_bytes(self.advertise.ip()).into(),
            source_port: self.advertise.port(),
            source_node: self.config.name.clone().into(),
        });
        self.relays.insert(
            seq,
            Relay {
                requester: reply_addr(&req.source_addr, req.source_port).unwrap_or(from),
                requester_seq: req.seq_no,
                nack: req.nack,
                deadline: now + self.config.probe_timeout,
            },
        );
        self.send_msg(SocketAddr::new(ip, port), ping.to_bytes());
    }

    /// Relays whose target never answered: nack the requester if it asked for one.
    pub(super) fn expire_relays(&mut self, now: Time) {
        let expired: Vec<u32> = self
            .relays
            .iter()
            .filter(|(_, r)| now >= r.deadline)
            .map(|(&seq, _)| seq)
            .collect();
        for seq in expired {
            if let Some(r) = self.relays.remove(&seq) {
                if r.nack {
                    let nack = Message::NackResp(NackResp {
                        seq_no: r.requester_seq,
                    });
                    self.send_msg(r.requester, nack.to_bytes());
                }
            }
        }
    }
}

/// The address a ping's or indirect ping's sender asked us to answer at, if it gave
/// one we can use.
fn reply_addr(addr: &[u8], port: u16) -> Option<SocketAddr> {
    if addr.is_empty() || port == 0 {
        return None;
    }
    ip_from_bytes(addr).map(|ip| SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::node::config::Config;
    use crate::node::delegate::NoDelegate;
    use crate::wire::Alive;

    fn member() -> Machine<NoDelegate> {
        let mut config = Config::local();
        config.name = "a".into();
        config.disable_tcp_pings = true;
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7946);
        Machine::new(
            config,
            addr,
            Vec::new(),
            NoDelegate,
            StdRng::seed_from_u64(7),
            Time::ZERO,
        )
        .unwrap()
    }

    fn alive(m: &Machine<NoDelegate>, name: &str, incarnation: u32) -> Alive<'static> {
        Alive {
            incarnation,
            node: name.to_owned().into(),
            addr: Some(vec![127, 0, 0, 2].into()),
            port: 7946,
            meta: Some(Vec::new().into()),
            vsn: Some(m.local_versions().to_vsn().to_vec().into()),
        }
    }

    /// Go suspects a member that missed its probe at the incarnation the probe started
    /// with. A refutation heard while the probe ran answers that accusation already, so
    /// the late verdict is stale and must not start a new suspicion (which the member,
    /// unaware of it, would have to refute a second time, under loss perhaps too late).
    #[test]
    fn a_refutation_during_the_probe_answers_its_verdict() {
        let mut m = member();
        let now = Time::ZERO;
        let b = alive(&m, "b", 1);
        m.alive_node(&b, false, now);
        let start = m.next_probe;
        m.handle_timeout(start);
        assert_eq!(m.probe.as_ref().map(|p| p.target.as_str()), Some("b"));
        // While the ping goes unanswered, b refutes an accusation made elsewhere.
        let refuted = alive(&m, "b", 2);
        m.alive_node(&refuted, false, start + Duration::from_millis(100));
        m.handle_timeout(start + m.config.probe_timeout);
        m.handle_timeout(start + m.config.probe_interval);
        assert!(m.probe.is_none(), "the probe has ended");
        let b = m.member("b").unwrap();
        assert_eq!((b.state, b.incarnation), (State::Alive, 2));
        assert!(!m.suspicions.contains_key("b"));
    }
}
