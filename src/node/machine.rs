//! The member as a sans-I/O state machine.
//!
//! [`Machine`] owns the member list and every protocol timer, but no socket and no
//! clock: the caller feeds it datagrams ([`Machine::handle_packet`]), decoded stream
//! frames ([`Machine::handle_inbound_stream`], [`Machine::handle_stream_reply`]) and
//! the time ([`Machine::handle_timeout`]), and drains what it wants done
//! ([`Machine::poll_output`]) and when it next needs the clock
//! ([`Machine::poll_timeout`]). The tokio shell and the simulator are two such
//! callers; both drive exactly the same protocol code.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::Rng;

use super::awareness::Awareness;
use super::config::{Config, ConfigError, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};
use super::delegate::Delegate;
use super::member::{ip_to_bytes, Member, Versions};
use super::probe::{Probe, Relay};
use super::queue::{BroadcastId, BroadcastQueue, NodeBroadcast};
use super::stats::{Counter, Diagnostic, Stats};
use super::streams::{JoinState, PendingStream};
use super::suspicion::Suspicion;
use super::time::Time;
use crate::wire::{
    Encryption, EncryptionVersion, Keyring, LabelPolicy, PacketConfig, Side, StreamConfig,
};

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address.
    pub to: SocketAddr,
    /// The whole datagram, already labelled, compressed, encrypted as configured.
    pub packet: Vec<u8>,
}

/// Names one outgoing stream exchange until its reply (or failure) comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub(super) u64);

/// Names one call to [`Machine::join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JoinId(pub(super) u64);

/// An outgoing stream: dial `to`, write `bytes`, and when `expect_reply` read one
/// frame back and hand it to [`Machine::handle_stream_reply`]; give up at `deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// Names the exchange in [`Machine::handle_stream_reply`].
    pub id: StreamId,
    /// The peer to dial.
    pub to: SocketAddr,
    /// The whole frame to write.
    pub bytes: Vec<u8>,
    /// Whether the peer answers with one frame (push/pull, TCP ping) or not (user message).
    pub expect_reply: bool,
    /// When to give up and report the exchange failed.
    pub deadline: Time,
}

/// How a join ended: how many peers were synced with, and why the others failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The [`Machine::join`] call this ends.
    pub id: JoinId,
    /// Peers a push/pull succeeded with.
    pub joined: usize,
    /// One line per peer that failed: address and cause.
    pub errors: Vec<String>,
}

/// Work for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a datagram.
    Transmit(Transmit),
    /// Run a stream exchange.
    Stream(StreamRequest),
    /// Every peer of a [`Machine::join`] has answered or failed.
    JoinDone(JoinOutcome),
}

/// Why an operation on the machine was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No member of that name is in the list.
    #[error("no member named {0:?}")]
    UnknownMember(String),
    /// The member advertised an address we cannot send to (not 4 or 16 bytes).
    #[error("member {0:?} has no usable address")]
    NoAddress(String),
    /// Peers refuse meta beyond Go's `MetaMaxSize`.
    #[error("node meta of {0} bytes exceeds the limit of {META_MAX_SIZE} bytes")]
    MetaTooLarge(usize),
    /// After a leave we make no more claims about ourselves.
    #[error("this node has left the cluster")]
    Left,
    /// The delegate's alive filter or the CIDR allow-list refused it.
    #[error("{0} was refused by the alive filter or the allowed networks")]
    Refused(&'static str),
}

/// Go's `MetaMaxSize`: the largest node meta a member may advertise.
pub const META_MAX_SIZE: usize = 512;

/// The member state machine. `D` is the application's delegate.
pub struct Machine<D> {
    pub(super) config: Config,
    pub(super) delegate: D,
    pub(super) rng: StdRng,
    /// Address and port we advertise (Go's `getAdvertise`).
    pub(super) advertise: SocketAddr,
    pub(super) incarnation: u32,
    pub(super) seq_no: u32,
    /// The member list, ourselves included, in probe order.
    pub(super) nodes: Vec<Member>,
    /// Name → position in `nodes`.
    pub(super) index: HashMap<String, usize>,
    pub(super) probe_index: usize,
    /// Running suspicion timers and the `state_change` of the suspicion they belong to.
    pub(super) suspicions: HashMap<String, (Suspicion, Time)>,
    pub(super) awareness: Awareness,
    pub(super) broadcasts: BroadcastQueue<NodeBroadcast>,
    pub(super) probe: Option<Probe>,
    pub(super) relays: HashMap<u32, Relay>,
    pub(super) next_probe: Time,
    pub(super) next_gossip: Time,
    pub(super) next_push_pull: Time,
    /// When the broadcast queue's depth is next sampled for metrics.
    pub(super) next_queue_check: Time,
    pub(super) streams: HashMap<StreamId, PendingStream>,
    pub(super) next_stream: u64,
    pub(super) joins: HashMap<JoinId, JoinState>,
    pub(super) next_join: u64,
    pub(super) outputs: VecDeque<Output>,
    /// Set by [`Machine::leave`]; from then on we refute nothing about ourselves.
    pub(super) left: bool,
    /// The dead broadcast about ourselves that a graceful leave waits for.
    pub(super) leave_broadcast: Option<BroadcastId>,
    pub(super) stats: Stats,
}

impl<D: Delegate> Machine<D> {
    /// A new member that knows only itself, announcing `meta`. `advertise` is the
    /// address peers reach us at (the shell knows the bound port); `rng` drives every
    /// random choice, so a seeded one replays a run exactly.
    pub fn new(
        config: Config,
        advertise: SocketAddr,
        meta: Vec<u8>,
        delegate: D,
        mut rng: StdRng,
        now: Time,
    ) -> Result<Self, NodeError> {
        config.validate()?;
        if meta.len() > META_MAX_SIZE {
            return Err(NodeError::MetaTooLarge(meta.len()));
        }
        // Go starts each ticker after a random fraction of its period, so that nodes
        // started together do not probe and gossip in lockstep.
        let stagger = |rng: &mut StdRng, every: std::time::Duration| {
            if every.is_zero() {
                return NEVER;
            }
            let nanos = every.as_nanos().min(u64::MAX as u128) as u64;
            now + every + std::time::Duration::from_nanos(rng.gen_range(0..nanos))
        };
        let next_probe = stagger(&mut rng, config.probe_interval);
        let next_gossip = stagger(&mut rng, config.gossip_interval);
        let next_push_pull = stagger(&mut rng, config.push_pull_interval);
        // Only sampled for a sink (and a non-zero interval), so a member without one
        // never wakes for it.
        let next_queue_check =
            if config.metrics.is_enabled() && !config.queue_check_interval.is_zero() {
                now + config.queue_check_interval
            } else {
                NEVER
            };
        let mut m = Machine {
            awareness: Awareness::new(config.awareness_max_multiplier),
            broadcasts: BroadcastQueue::new(config.retransmit_mult),
            config,
            delegate,
            rng,
            advertise,
            incarnation: 0,
            seq_no: 0,
            nodes: Vec::new(),
            index: HashMap::default(),
            probe_index: 0,
            suspicions: HashMap::default(),
            probe: None,
            relays: HashMap::default(),
            next_probe,
            next_gossip,
            next_push_pull,
            next_queue_check,
            streams: HashMap::default(),
            next_stream: 0,
            joins: HashMap::default(),
            next_join: 0,
            outputs: VecDeque::new(),
            left: false,
            leave_broadcast: None,
            stats: Stats::default(),
        };
        let incarnation = m.next_incarnation();
        let alive = m.local_alive(incarnation, meta);
        m.alive_node(&alive, true, now);
        Ok(m)
    }

    /// The configuration, as changed while running (keyring, verification flags).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The application's delegate.
    pub fn delegate(&self) -> &D {
        &self.delegate
    }

    /// The delegate, for work the application does on it between inputs.
    pub fn delegate_mut(&mut self) -> &mut D {
        &mut self.delegate
    }

    /// Counters of bad input and failed exchanges.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counts bad input the shell's transport found in its own framing, before the
    /// machine could see a packet or stream (dskit's packet connections).
    pub fn count_transport_error(&mut self, counter: Counter, detail: impl FnOnce() -> String) {
        self.stats.count(counter, detail);
    }

    /// The next thing to report about bad input or failed exchanges, oldest first.
    pub fn poll_diagnostic(&mut self) -> Option<Diagnostic> {
        self.stats.poll()
    }

    /// Our own entry.
    pub fn local_member(&self) -> &Member {
        &self.nodes[self.index[&self.config.name]]
    }

    /// Every member that is neither dead nor left, ourselves included (Go's `Members`).
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.nodes.iter().filter(|n| !n.state.is_dead_or_left())
    }

    /// Every member still in the list, dead and left ones included, in probe order.
    pub fn all_members(&self) -> &[Member] {
        &self.nodes
    }

    /// A member in any state, while it is still in the list.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// How many members [`Machine::members`] yields (Go's `NumMembers`).
    pub fn num_members(&self) -> usize {
        self.members().count()
    }

    /// Lifeguard's health score: 0 is healthy, higher means our own probes fail.
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// The live keyring, to install, use or remove keys while running.
    pub fn keyring_mut(&mut self) -> Option<&mut Keyring> {
        self.config.keyring.as_mut()
    }

    /// Turns encryption checks on or off while running (Go's `GossipVerifyIncoming`
    /// and `GossipVerifyOutgoing`, for moving a cluster to or from encryption).
    pub fn set_gossip_verify(&mut self, incoming: bool, outgoing: bool) {
        self.config.gossip_verify_incoming = incoming;
        self.config.gossip_verify_outgoing = outgoing;
    }

    /// Moves the health score and, as Go does, reports it when it changed.
    pub(super) fn apply_awareness(&mut self, delta: i64) {
        let before = self.awareness.score();
        self.awareness.apply_delta(delta);
        let after = self.awareness.score();
        if after != before {
            self.config
                .metrics
                .set(&super::metrics::HEALTH_SCORE, None, after as f32);
        }
    }

    /// Whether [`Machine::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest time at which [`Machine::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Time {
        let mut t = self.next_push_pull.min(self.next_queue_check);
        if self.has_gossip() {
            t = t.min(self.next_gossip);
        }
        match &self.probe {
            Some(p) => t = t.min(p.next_deadline()),
            None => t = t.min(self.next_probe),
        }
        for (s, _) in self.suspicions.values() {
            if let Some(d) = s.deadline() {
                t = t.min(d);
            }
        }
        for r in self.relays.values() {
            t = t.min(r.deadline);
        }
        if let Some(d) = self.delegate.poll_timeout() {
            t = t.min(d);
        }
        t
    }

    /// Whether a gossip tick could send anything: while it could not, the tick is not
    /// a timer at all, which is most of an idle member's wake-ups.
    fn has_gossip(&self) -> bool {
        !self.broadcasts.is_empty() || self.delegate.has_broadcasts()
    }

    /// Lets the delegate act on the machine ([`Delegate::drive`]); drivers call it
    /// after every input and before draining outputs.
    pub fn drive_delegate(&mut self, now: Time) {
        D::drive(self, now);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.expire_suspicions(now);
        self.expire_relays(now);
        self.advance_probe(now);
        if now >= self.next_gossip {
            let next = next_tick(self.next_gossip, self.config.gossip_interval, now);
            // Ticks skipped while idle are not made up: news queued since then waits for
            // the next tick on the grid, as it would behind Go's ticker.
            let on_time = next <= self.next_gossip + self.config.gossip_interval;
            if on_time && self.has_gossip() {
                self.gossip(now);
            }
            self.next_gossip = next;
        }
        if now >= self.next_queue_check {
            let queued = self.broadcasts.len() as f32;
            self.config
                .metrics
                .sample(&super::metrics::QUEUE_BROADCASTS, queued);
            self.next_queue_check =
                next_tick(self.next_queue_check, self.config.queue_check_interval, now);
        }
        if now >= self.next_push_pull {
            if !self.config.push_pull_interval.is_zero() {
                self.push_pull(now);
            }
            let every =
                super::scaling::push_pull_scale(self.config.push_pull_interval, self.nodes.len());
            self.next_push_pull = now + every.max(std::time::Duration::from_millis(1));
        }
    }

    /// Starts the graceful leave: broadcasts that we left. Poll
    /// [`Machine::leave_broadcast_done`] to know when it has been sent enough times.
    pub fn leave(&mut self, now: Time) {
        if self.left {
            return;
        }
        self.left = true;
        let me = self.local_member();
        let dead = crate::wire::Accusation {
            incarnation: me.incarnation,
            node: me.name.clone().into(),
            from: me.name.clone().into(),
        };
        self.leave_broadcast = self.dead_node(&dead, now);
    }

    /// True once the leave broadcast has gone out often enough, or at once when no
    /// other member is alive to hear it (Go's `Leave` returns then too).
    pub fn leave_broadcast_done(&self) -> bool {
        self.left
            && (!self.any_alive()
                || self
                    .leave_broadcast
                    .is_none_or(|id| !self.broadcasts.is_queued(id)))
    }

    /// Advertises new meta with a new incarnation (Go's `UpdateNode`). Returns the id
    /// of the broadcast to wait for with [`Machine::broadcast_done`].
    pub fn update_meta(&mut self, now: Time, meta: Vec<u8>) -> Result<BroadcastId, NodeError> {
        if meta.len() > META_MAX_SIZE {
            return Err(NodeError::MetaTooLarge(meta.len()));
        }
        if self.has_left() {
            return Err(NodeError::Left);
        }
        let incarnation = self.next_incarnation();
        let alive = self.local_alive(incarnation, meta);
        self.alive_node(&alive, true, now)
            .ok_or(NodeError::Refused("our own alive message"))
    }

    /// Whether a broadcast has been sent enough times (or nobody is alive to hear it).
    pub fn broadcast_done(&self, id: BroadcastId) -> bool {
        !self.any_alive() || !self.broadcasts.is_queued(id)
    }

    /// Sends a user message in one UDP packet (Go's `SendBestEffort`).
    pub fn send_best_effort(&mut self, to: &str, msg: &[u8]) -> Result<(), NodeError> {
        let (addr, pmax) = self.member_target(to)?;
        let mut buf = Vec::with_capacity(msg.len() + 1);
        buf.push(crate::wire::MessageType::User as u8);
        buf.extend_from_slice(msg);
        self.raw_send(addr, Some(pmax), buf);
        Ok(())
    }

    /// Sends a user message in one UDP packet to an address rather than a member
    /// (Go's `SendToAddress`): like Go, the packet has a CRC only if a member is named
    /// by the address's IP, which Serf's query answers normally do not hit.
    pub fn send_to_address(&mut self, to: SocketAddr, msg: &[u8]) {
        let mut buf = Vec::with_capacity(msg.len() + 1);
        buf.push(crate::wire::MessageType::User as u8);
        buf.extend_from_slice(msg);
        self.raw_send(to, None, buf);
    }

    /// Sends a user message over a stream (Go's `SendReliable`).
    pub fn send_reliable(&mut self, now: Time, to: &str, msg: &[u8]) -> Result<(), NodeError> {
        let (addr, _) = self.member_target(to)?;
        let frame = self.stream_bytes(&crate::wire::StreamMessage::user(msg), Side::Dialer);
        self.open_stream(now, addr, frame, PendingStream::Reliable, false);
        Ok(())
    }

    fn member_target(&self, name: &str) -> Result<(SocketAddr, u8), NodeError> {
        let m = self
            .member(name)
            .ok_or_else(|| NodeError::UnknownMember(name.to_owned()))?;
        let addr = m
            .socket_addr()
            .ok_or_else(|| NodeError::NoAddress(name.to_owned()))?;
        Ok((addr, m.versions.protocol_max))
    }

    /// Our alive message with the given incarnation and meta.
    pub(super) fn local_alive(
        &self,
        incarnation: u32,
        meta: Vec<u8>,
    ) -> crate::wire::Alive<'static> {
        crate::wire::Alive {
            incarnation,
            node: self.config.name.clone().into(),
            addr: Some(ip_to_bytes(self.advertise.ip()).into()),
            port: self.advertise.port(),
            meta: Some(meta.into()),
            vsn: Some(self.local_versions().to_vsn().to_vec().into()),
        }
    }

    pub(super) fn local_versions(&self) -> Versions {
        Versions {
            protocol_min: PROTOCOL_VERSION_MIN,
            protocol_max: PROTOCOL_VERSION_MAX,
            protocol_cur: self.config.protocol_version,
            delegate_min: self.config.delegate_protocol_min,
            delegate_max: self.config.delegate_protocol_max,
            delegate_cur: self.config.delegate_protocol_version,
        }
    }

    pub(super) fn next_incarnation(&mut self) -> u32 {
        self.incarnation = self.incarnation.wrapping_add(1);
        self.incarnation
    }

    pub(super) fn skip_incarnation(&mut self, by: u32) -> u32 {
        self.incarnation = self.incarnation.wrapping_add(by);
        self.incarnation
    }

    pub(super) fn next_seq_no(&mut self) -> u32 {
        self.seq_no = self.seq_no.wrapping_add(1);
        self.seq_no
    }

    /// Whether any member besides us is alive (Go's `anyAlive`).
    pub(super) fn any_alive(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| n.name != self.config.name && !n.state.is_dead_or_left())
    }

    pub(super) fn encryption_version(&self) -> EncryptionVersion {
        EncryptionVersion::for_protocol_version(self.config.protocol_version)
    }

    /// How to encrypt what we send, if we do.
    pub(super) fn outgoing_encryption(&self) -> Option<Encryption<'_>> {
        match &self.config.keyring {
            Some(keyring) if self.config.gossip_verify_outgoing => Some(Encryption {
                keyring,
                version: self.encryption_version(),
                nonce: None,
            }),
            _ => None,
        }
    }

    pub(super) fn label_policy(&self) -> LabelPolicy<'_> {
        LabelPolicy::inbound(
            self.config.label.as_ref(),
            self.config.skip_inbound_label_check,
        )
    }

    pub(super) fn packet_config(&self) -> PacketConfig<'_> {
        PacketConfig {
            label: self.label_policy(),
            keyring: self.config.keyring.as_ref(),
            verify_incoming: self.config.gossip_verify_incoming,
        }
    }

    /// How to read frames written by `side`; the shell decodes frames with this.
    pub fn stream_config(&self, side: Side) -> StreamConfig<'_> {
        StreamConfig {
            label: self.label_policy(),
            keyring: self.config.keyring.as_ref(),
            verify_incoming: self.config.gossip_verify_incoming,
            side,
        }
    }

    /// Rebuilds the name index after the member list was reordered.
    pub(super) fn reindex(&mut self) {
        self.index.clear();
        for (i, n) in self.nodes.iter().enumerate() {
            self.index.insert(n.name.clone(), i);
        }
    }

    pub(super) fn push_output(&mut self, o: Output) {
        self.outputs.push_back(o);
    }
}

/// A time no timer reaches: disabled tickers wait for it.
pub(super) const NEVER: Time = Time::from_epoch(std::time::Duration::MAX);

/// The first tick of a fixed-period ticker that started at `last` and is strictly
/// after `now`. A ticker never fires twice to catch up, as Go's does not.
pub(super) fn next_tick(last: Time, every: std::time::Duration, now: Time) -> Time {
    if every.is_zero() {
        return NEVER;
    }
    let mut t = last + every;
    if t <= now {
        let behind = now.saturating_since(t).as_nanos() / every.as_nanos() + 1;
        let skip = u32::try_from(behind).unwrap_or(u32::MAX);
        t = t + every.saturating_mul(skip);
    }
    t
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use rand::SeedableRng;

    use super::*;
    use crate::node::delegate::NoDelegate;

    fn member() -> Machine<NoDelegate> {
        let mut config = Config::local();
        config.name = "a".into();
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

    #[test]
    fn gossip_ticks_are_timers_only_while_there_is_news() {
        let mut m = member();
        // Our own alive is news at start.
        assert!(m.poll_timeout() <= m.next_gossip);
        m.broadcasts.prune(0);
        assert!(
            m.poll_timeout() > m.next_gossip,
            "idle: no wake-up for gossip"
        );

        // Idle for many ticks, then news: it waits for the next tick on the grid.
        let every = m.config.gossip_interval;
        let grid = m.next_gossip;
        let now = grid + every * 10 + every / 2;
        m.handle_timeout(now);
        m.update_meta(now, b"x".to_vec()).unwrap();
        assert_eq!(m.next_gossip, grid + every * 11);
        assert!(m.poll_timeout() <= m.next_gossip);
    }
}
