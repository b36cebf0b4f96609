//! How news about members changes the member list: alive, suspect and dead messages,
//! refutation, push/pull merges and the reaping of long-dead members. Each rule is
//! Go's, in Go's order, because peers observe every outcome (what we re-broadcast,
//! which incarnation we refute with, whom we tell the application about).

use super::delegate::{Delegate, Refusal};
use super::machine::Machine;
use super::member::{ip_from_bytes, Member, State, Versions};
use super::metrics;
use super::node_list::{move_dead_nodes, random_offset, shuffle};
use super::queue::{BroadcastId, NodeBroadcast};
use super::stats::Counter;
use super::suspicion::{Confirm, Suspicion, SuspicionTimeouts};
use super::time::Time;
use crate::wire::{Accusation, Alive, Message, NodeState, PushNodeState};

impl<D: Delegate> Machine<D> {
    /// Queues news about `node` for gossip, replacing older news about it.
    pub(super) fn broadcast(&mut self, node: String, msg: &Message<'_>) -> BroadcastId {
        self.broadcasts.queue_broadcast(NodeBroadcast {
            node,
            message: msg.to_bytes(),
        })
    }

    /// Go's `aliveNode`. `bootstrap` marks our own announcements (start, meta update),
    /// which must not be refuted. Returns the id of the broadcast it queued, if any.
    pub(super) fn alive_node(
        &mut self,
        a: &Alive<'_>,
        bootstrap: bool,
        now: Time,
    ) -> Option<BroadcastId> {
        let lossy = a.node.to_str_lossy();
        let is_local = lossy == self.config.name.as_str();
        if self.left && is_local {
            return None;
        }
        // Most alive messages are repeats of news we already have (gossip sends each
        // one many times). Go would still show them to its alive delegate and then
        // drop them; nothing can observe the difference, so drop them first, before
        // copying anything.
        if let Some(&i) = self.index.get(lossy.as_ref()) {
            let m = &self.nodes[i];
            if !is_local
                && a.incarnation <= m.incarnation
                && m.addr.as_slice() == a.addr.as_deref().unwrap_or_default()
                && m.port == a.port
            {
                return None;
            }
        }
        let name = lossy.into_owned();
        let vsn = a.vsn.as_deref().unwrap_or_default();
        if let [pmin, pmax, ..] = *vsn {
            if pmin == 0 || pmax == 0 || pmin > pmax {
                self.stats.count(Counter::RefusedAlive, || {
                    format!("Ignoring an alive message for '{name}' because protocol version(s) are wrong: {pmin} <= {pmax} should be >0")
                });
                return None;
            }
        }
        let addr = a.addr.as_deref().unwrap_or_default().to_vec();
        let meta = a.meta.as_deref().unwrap_or_default().to_vec();
        let candidate = Member {
            name: name.clone(),
            addr: addr.clone(),
            port: a.port,
            meta: meta.clone(),
            versions: Versions::from_vsn(vsn).unwrap_or_default(),
            incarnation: a.incarnation,
            state: State::Alive,
            state_change: now,
        };
        if let Err(Refusal(why)) = self.delegate.notify_alive(&candidate) {
            self.stats.count(Counter::RefusedAlive, || {
                format!("ignoring alive message for '{name}': {why}")
            });
            return None;
        }
        let mut updates_node = false;
        let idx = match self.index.get(&name) {
            None => {
                if !self.ip_allowed_bytes(&addr) {
                    self.stats.count(Counter::RefusedAlive, || {
                        format!("Rejected node {name}: address not in the allowed networks")
                    });
                    return None;
                }
                let mut member = candidate.clone();
                // Go starts a new entry as dead at incarnation 0 with a zero change
                // time, so an alive at incarnation 0 leaves a reapable placeholder.
                member.state = State::Dead;
                member.incarnation = 0;
                member.state_change = Time::ZERO;
                if Versions::from_vsn(vsn).is_none() {
                    member.versions = Versions::default();
                }
                // Insert at a random position so new members are probed in random order.
                let n = self.nodes.len();
                let offset = random_offset(&mut self.rng, n);
                self.nodes.push(member);
                self.nodes.swap(offset, n);
                self.index.insert(self.nodes[n].name.clone(), n);
                self.index.insert(self.nodes[offset].name.clone(), offset);
                offset
            }
            Some(&i) => {
                let m = &self.nodes[i];
                if m.addr != addr || m.port != a.port {
                    if !self.ip_allowed_bytes(&addr) {
                        self.stats.count(Counter::RefusedAlive, || {
                            format!("Rejected IP update for node {name}: address not in the allowed networks")
                        });
                        return None;
                    }
                    let reclaimable = self
                        .config
                        .dead_node_reclaim_time
                        .is_some_and(|t| now.saturating_since(m.state_change) > t);
                    if m.state == State::Left || (m.state == State::Dead && reclaimable) {
                        updates_node = true;
                    } else {
                        let existing = m.clone();
                        self.stats.count(Counter::Conflicts, || {
                            format!(
                                "Conflicting address for {name}. Mine: {}:{} Theirs: {}:{} Old state: {}",
                                existing.ip().map_or_else(|| "?".into(), |ip| ip.to_string()),
                                existing.port,
                                ip_from_bytes(&addr).map_or_else(|| "?".into(), |ip| ip.to_string()),
                                a.port,
                                existing.state.name()
                            )
                        });
                        self.delegate.notify_conflict(&existing, &candidate);
                        return None;
                    }
                }
                i
            }
        };
        let current = &self.nodes[idx];
        if a.incarnation <= current.incarnation && !is_local && !updates_node {
            return None;
        }
        if a.incarnation < current.incarnation && is_local {
            return None;
        }
        self.suspicions.remove(&name);
        let old_state = current.state;
        let old_meta = current.meta.clone();
        let mut queued = None;
        if !bootstrap && is_local {
            let same = a.incarnation == current.incarnation
                && meta == current.meta
                && vsn == current.versions.to_vsn();
            if same {
                return None;
            }
            self.refute(idx, a.incarnation, || {
                format!(
                    "Refuting an alive message for '{name}' (incarnation {})",
                    a.incarnation
                )
            });
        } else {
            queued = Some(self.broadcast(name.clone(), &Message::Alive(a.clone())));
            let m = &mut self.nodes[idx];
            if let Some(v) = Versions::from_vsn(vsn) {
                m.versions = v;
            }
            m.incarnation = a.incarnation;
            m.meta = meta;
            m.addr = addr;
            m.port = a.port;
            if m.state != State::Alive {
                m.state = State::Alive;
                m.state_change = now;
            }
        }
        self.config.metrics.incr(&metrics::MSG_ALIVE, 1.0);
        let m = self.nodes[idx].clone();
        if old_state.is_dead_or_left() {
            self.delegate.notify_join(&m);
        } else if old_meta != m.meta {
            self.delegate.notify_update(&m);
        }
        queued
    }

    fn ip_allowed_bytes(&self, addr: &[u8]) -> bool {
        ip_from_bytes(addr).is_none_or(|ip| self.config.ip_allowed(ip))
    }

    /// Go's `suspectNode`.
    pub(super) fn suspect_node(&mut self, s: &Accusation<'_>, now: Time) {
        let name = s.node.to_str_lossy().into_owned();
        let Some(&idx) = self.index.get(&name) else {
            return;
        };
        if s.incarnation < self.nodes[idx].incarnation {
            return;
        }
        let from = s.from.to_str_lossy().into_owned();
        if let Some((timer, _)) = self.suspicions.get_mut(&name) {
            if timer.confirm(&from, now) == Confirm::New {
                self.broadcast(name, &Message::Suspect(s.clone()));
            }
            return;
        }
        if self.nodes[idx].state != State::Alive {
            return;
        }
        if name == self.config.name {
            self.refute(idx, s.incarnation, || {
                format!("Refuting a suspect message (from: {from})")
            });
            return;
        }
        self.broadcast(name.clone(), &Message::Suspect(s.clone()));
        self.config.metrics.incr(&metrics::MSG_SUSPECT, 1.0);
        let m = &mut self.nodes[idx];
        m.incarnation = s.incarnation;
        m.state = State::Suspect;
        m.state_change = now;
        let timeouts = SuspicionTimeouts::for_cluster(&self.config, self.nodes.len());
        self.suspicions
            .insert(name, (Suspicion::new(&from, timeouts, now), now));
    }

    /// Declares dead every suspect whose timer ran out and who is still the same
    /// suspect the timer was started for.
    pub(super) fn expire_suspicions(&mut self, now: Time) {
        let mut fired = Vec::new();
        for (name, (timer, started)) in self.suspicions.iter_mut() {
            if timer.expire(now) {
                fired.push((
                    name.clone(),
                    *started,
                    timer.confirmations(),
                    timer.expected(),
                ));
            }
        }
        fired.sort();
        for (name, started, confirmations, expected) in fired {
            let Some(&idx) = self.index.get(&name) else {
                continue;
            };
            let m = &self.nodes[idx];
            if m.state == State::Suspect && m.state_change == started {
                if expected > 0 && confirmations < expected {
                    self.config.metrics.incr(&metrics::DEGRADED_TIMEOUT, 1.0);
                }
                tracing::info!(
                    target: "memberlist",
                    "Marking {name} as failed, suspect timeout reached ({confirmations} peer confirmations)"
                );
                let dead = Accusation {
                    incarnation: m.incarnation,
                    node: name.into(),
                    from: self.config.name.clone().into(),
                };
                self.dead_node(&dead, now);
            }
        }
    }

    /// Go's `deadNode`; a `dead` from the node itself is a graceful leave. Returns
    /// the id of the broadcast it queued, if any.
    pub(super) fn dead_node(&mut self, d: &Accusation<'_>, now: Time) -> Option<BroadcastId> {
        let name = d.node.to_str_lossy().into_owned();
        let &idx = self.index.get(&name)?;
        if d.incarnation < self.nodes[idx].incarnation {
            return None;
        }
        self.suspicions.remove(&name);
        if self.nodes[idx].state.is_dead_or_left() {
            return None;
        }
        if name == self.config.name && !self.left {
            self.refute(idx, d.incarnation, || {
                format!("Refuting a dead message (from: {})", d.from)
            });
            return None;
        }
        let id = self.broadcast(name, &Message::Dead(d.clone()));
        self.config.metrics.incr(&metrics::MSG_DEAD, 1.0);
        let m = &mut self.nodes[idx];
        m.incarnation = d.incarnation;
        m.state = if d.node == d.from {
            State::Left
        } else {
            State::Dead
        };
        m.state_change = now;
        let m = m.clone();
        self.delegate.notify_leave(&m);
        Some(id)
    }

    /// Go's `refute`: out-bids an accusation against us with a higher incarnation.
    /// `what` words the accusation as Go's log line does.
    pub(super) fn refute(&mut self, idx: usize, accused: u32, what: impl FnOnce() -> String) {
        let mut inc = self.next_incarnation();
        if accused >= inc {
            inc = self.skip_incarnation(accused - inc + 1);
        }
        self.nodes[idx].incarnation = inc;
        self.apply_awareness(1);
        self.stats.count(Counter::Refutations, what);
        let me = &self.nodes[idx];
        let alive = Alive {
            incarnation: inc,
            node: me.name.clone().into(),
            addr: Some(me.addr.clone().into()),
            port: me.port,
            meta: Some(me.meta.clone().into()),
            vsn: Some(me.versions.to_vsn().to_vec().into()),
        };
        // Go queues refutations under our IP as text, not our name (so a refutation
        // does not replace a queued meta update); we keep that, as peers see it.
        let key = me.ip().map_or_else(String::new, |ip| ip.to_string());
        self.broadcast(key, &Message::Alive(alive));
    }

    /// Go's `mergeState`: applies a peer's member list.
    pub(super) fn merge_state(&mut self, remote: &[PushNodeState<'_>], now: Time) {
        for r in remote {
            match r.state {
                NodeState::Alive => {
                    let a = Alive {
                        incarnation: r.incarnation,
                        node: r.name.clone(),
                        addr: r.addr.clone(),
                        port: r.port,
                        meta: r.meta.clone(),
                        vsn: r.vsn.clone(),
                    };
                    self.alive_node(&a, false, now);
                }
                NodeState::Left => {
                    let d = Accusation {
                        incarnation: r.incarnation,
                        node: r.name.clone(),
                        from: r.name.clone(),
                    };
                    self.dead_node(&d, now);
                }
                NodeState::Dead | NodeState::Suspect => {
                    let s = Accusation {
                        incarnation: r.incarnation,
                        node: r.name.clone(),
                        from: self.config.name.clone().into(),
                    };
                    self.suspect_node(&s, now);
                }
                NodeState::Other(_) => {}
            }
        }
    }

    /// Go's `verifyProtocol`: every live member's current protocol and delegate
    /// versions must lie in the range all live members (ours and the peer's) support.
    pub(super) fn verify_protocol(&self, remote: &[PushNodeState<'_>]) -> Result<(), String> {
        let (mut max_pmin, mut min_pmax, mut max_dmin, mut min_dmax) = (0u8, u8::MAX, 0u8, u8::MAX);
        for r in remote.iter().filter(|r| r.state == NodeState::Alive) {
            let v = r.vsn.as_deref().unwrap_or_default();
            if v.len() < 5 {
                continue;
            }
            max_pmin = max_pmin.max(v[0]);
            min_pmax = min_pmax.min(v[1]);
            max_dmin = max_dmin.max(v[3]);
            min_dmax = min_dmax.min(v[4]);
        }
        for n in self.nodes.iter().filter(|n| n.state == State::Alive) {
            max_pmin = max_pmin.max(n.versions.protocol_min);
            min_pmax = min_pmax.min(n.versions.protocol_max);
            max_dmin = max_dmin.max(n.versions.delegate_min);
            min_dmax = min_dmax.min(n.versions.delegate_max);
        }
        let check = |name: &str, pcur: u8, dcur: u8| {
            if pcur < max_pmin || pcur > min_pmax {
                return Err(format!(
                    "node {name:?} protocol version ({pcur}) is incompatible: [{max_pmin}, {min_pmax}]"
                ));
            }
            if dcur < max_dmin || dcur > min_dmax {
                return Err(format!(
                    "node {name:?} delegate protocol version ({dcur}) is incompatible: [{max_dmin}, {min_dmax}]"
                ));
            }
            Ok(())
        };
        for r in remote {
            let v = r.vsn.as_deref().unwrap_or_default();
            let (pcur, dcur) = if v.len() >= 6 { (v[2], v[5]) } else { (0, 0) };
            check(&r.name.to_str_lossy(), pcur, dcur)?;
        }
        for n in &self.nodes {
            check(&n.name, n.versions.protocol_cur, n.versions.delegate_cur)?;
        }
        Ok(())
    }

    /// Go's `resetNodes`, run when a probe round wraps: drops members dead or left
    /// for longer than `gossip_to_the_dead_time` and reshuffles the probe order.
    pub(super) fn reset_nodes(&mut self, now: Time) {
        let grace = self.config.gossip_to_the_dead_time;
        let keep = move_dead_nodes(&mut self.nodes, |n| {
            n.state.is_dead_or_left() && now.saturating_since(n.state_change) > grace
        });
        for gone in self.nodes.drain(keep..) {
            self.suspicions.remove(&gone.name);
        }
        shuffle(&mut self.rng, &mut self.nodes);
        self.reindex();
    }
}
