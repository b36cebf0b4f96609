//! The Serf layer as a memberlist delegate: [`SerfDelegate`] plugs into the node's
//! hooks exactly where Go Serf plugs into memberlist's (user messages, broadcasts,
//! push/pull state, member events, ack payloads), so a Rust node is a Serf member
//! without being a second node.
//!
//! The hooks run inside the machine and cannot use it; whatever needs the machine
//! (sending query answers to an address, changing the keyring, reconnecting) is
//! queued and carried out in [`Delegate::drive`], which the driver runs after every
//! input together with Serf's timers (query deadlines, reaper, reconnects).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::buffers::{EventBuffer, QueryBuffer, Seen};
use super::coalesce::UserCoalescer;
use super::coordinate::Coordinate;
use super::keyring_file;
use super::keys;
use super::lamport::LamportTime;
use super::member_state::{LeaveOutcome, MemberEventKind, MemberStatus, Members, SerfMember};
use super::messages::{
    InternalQuery, Join, Leave, Member as WireMember, PushPull, Query, QueryResponse, Relay,
    SerfMessage, UdpAddr, UserEvent, QUERY_FLAG_ACK,
};
use super::metrics;
use super::query::{
    default_timeout, filters_match, OpenQuery, QueryParams, QueryResult, RespondError, Responder,
    QUERY_RESPONSE_SIZE_LIMIT, QUERY_SIZE_LIMIT,
};
use super::snapshot::{Snapshot, SnapshotError};
use super::stats::{SerfCounter, SerfStats};
use super::tags::Tags;
use super::vivaldi::Vivaldi;
use crate::node::member::{ip_from_bytes, ip_to_bytes};
use crate::node::{
    Broadcast, BroadcastId, BroadcastQueue, Config, Delegate, Kind, Machine, Member, Metrics, Time,
};
use crate::wire::{GoInt, GoString, WireError};

/// Go's `UserEventSizeLimit` default and the hard cap on it.
pub const USER_EVENT_SIZE_LIMIT: usize = 512;
/// The largest `user_event_size_limit` Go accepts (it must fit a UDP packet).
pub const USER_EVENT_HARD_LIMIT: usize = 9 * 1024;
/// Serf's protocol range, advertised as memberlist's delegate versions.
pub const SERF_PROTOCOL_MIN: u8 = 2;
/// Newest Serf protocol (5: tags, queries, relays, coordinates).
pub const SERF_PROTOCOL_MAX: u8 = 5;
/// Go's `MaxQueueDepth`: beyond this, the oldest broadcasts are dropped.
const MAX_QUEUE_DEPTH: usize = 4096;
/// Go's `FlapTimeout`: a member back sooner than this after failing is a flap.
const FLAP_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes a node configuration advertise Serf: delegate versions 2..=5 at `protocol`
/// (5 like the `serf` agent, 4 like Consul and the library default).
pub fn configure_node(config: &mut Config, protocol: u8) {
    config.delegate_protocol_min = SERF_PROTOCOL_MIN;
    config.delegate_protocol_max = SERF_PROTOCOL_MAX;
    config.delegate_protocol_version = protocol;
}

/// Node meta carrying `tags` in Serf's encoding.
pub fn tags_meta(tags: &[(String, String)]) -> Result<Vec<u8>, WireError> {
    let mut t = Tags::new();
    for (k, v) in tags {
        t.insert(GoString::from(k.clone()), GoString::from(v.clone()));
    }
    let mut meta = Vec::new();
    t.encode_meta(&mut meta)?;
    Ok(meta)
}

/// Serf's timing (Go's `serf.DefaultConfig`).
#[derive(Debug, Clone)]
pub struct SerfConfig {
    /// How often failed and left members are checked for reaping.
    pub reap_interval: Duration,
    /// How often we try to reconnect to a failed member.
    pub reconnect_interval: Duration,
    /// How long a failed member is kept (and retried) before it is reaped.
    pub reconnect_timeout: Duration,
    /// How long a left member is kept before it is reaped.
    pub tombstone_timeout: Duration,
    /// Largest user event (name + payload) we send; at most `USER_EVENT_HARD_LIMIT`.
    pub user_event_size_limit: usize,
    /// memberlist's, for how often broadcasts are repeated.
    pub retransmit_mult: usize,
    /// When another address claims our name, ask the cluster who is right and shut
    /// down if we are in the minority (on in the `serf` agent, off in Consul).
    pub enable_name_conflict_resolution: bool,
    /// Where to keep the keyring after each change a key query makes (the serf
    /// agent's `-keyring-file`); a failed write fails the query's answer, as in Go.
    pub keyring_file: Option<PathBuf>,
    /// The serf agent's `-snapshot`: where to log members and clocks so a restart
    /// can rejoin and skip old events (opened by [`crate::serf::Serf::start`]).
    pub snapshot_path: Option<PathBuf>,
    /// The serf agent's `-rejoin`: a snapshot's `leave` does not stop a rejoin.
    pub rejoin_after_leave: bool,
    /// Go's `UserCoalescePeriod` and `UserQuiescentPeriod`: both non-zero turns on
    /// coalescing of user events sent with `coalesce` (see [`UserCoalescer`]).
    pub user_coalesce_period: Duration,
    /// See `user_coalesce_period`.
    pub user_quiescent_period: Duration,
    /// Where Serf's metrics go (the same sink as memberlist's, usually).
    pub metrics: Metrics,
    /// How often the three broadcast queues' depths are sampled (Go's
    /// `QueueCheckInterval`).
    pub queue_check_interval: Duration,
}

impl Default for SerfConfig {
    fn default() -> Self {
        SerfConfig {
            reap_interval: Duration::from_secs(15),
            reconnect_interval: Duration::from_secs(30),
            reconnect_timeout: Duration::from_secs(24 * 3600),
            tombstone_timeout: Duration::from_secs(24 * 3600),
            user_event_size_limit: USER_EVENT_SIZE_LIMIT,
            retransmit_mult: 4,
            enable_name_conflict_resolution: true,
            keyring_file: None,
            snapshot_path: None,
            rejoin_after_leave: false,
            user_coalesce_period: Duration::ZERO,
            user_quiescent_period: Duration::ZERO,
            metrics: Metrics::default(),
            queue_check_interval: Duration::from_secs(30),
        }
    }
}

/// What the application hears from Serf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerfEvent {
    /// A member joined, left, failed, changed its tags or was reaped.
    Member {
        /// Which of those.
        kind: MemberEventKind,
        /// The member after the change.
        member: SerfMember,
    },
    /// A user event, once per event (duplicates and old ones dropped).
    User {
        /// The event's Lamport time.
        ltime: LamportTime,
        /// The event's name.
        name: String,
        /// Its payload (`None` is Go's nil, kept apart from empty).
        payload: Option<Vec<u8>>,
        /// Whether the sender allowed coalescing.
        coalesce: bool,
    },
    /// A query to answer with [`SerfDelegate::respond`] before its deadline.
    Query {
        /// The query's Lamport time.
        ltime: LamportTime,
        /// The query's id (with `ltime`, what [`SerfDelegate::respond`] takes).
        id: u32,
        /// The query's name.
        name: String,
        /// Its payload.
        payload: Option<Vec<u8>>,
        /// The node that sent it.
        from: String,
    },
}

/// Our own Serf state (Go's `SerfState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerfState {
    /// Running.
    Alive,
    /// Our leave intent is being sent.
    Leaving,
    /// We left; nothing more is sent.
    Left,
    /// Lost a name conflict: the application must stop the member.
    Shutdown,
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerfError {
    /// The event's name and payload exceed the configured limit.
    #[error("user event exceeds configured limit of {0} bytes before encoding")]
    EventTooLarge(usize),
    /// The encoded message exceeds the limit.
    #[error("user event exceeds configured limit of {0} bytes after encoding")]
    EncodedEventTooLarge(usize),
    /// The encoded query exceeds Go's `QuerySizeLimit`.
    #[error("query exceeds limit of {QUERY_SIZE_LIMIT} bytes")]
    QueryTooLarge,
    /// Queries need Serf protocol 4 or later.
    #[error("Serf protocol {0} does not support queries (needs 4)")]
    NoQueries(u8),
    /// We are leaving or have left.
    #[error("not running (leaving or left)")]
    NotRunning,
    /// A response was refused.
    #[error(transparent)]
    Respond(#[from] RespondError),
}

/// A Serf message waiting in one of the three broadcast queues; never replaced.
#[derive(Debug)]
struct SerfBroadcast(Vec<u8>);

impl Broadcast for SerfBroadcast {
    fn message(&self) -> &[u8] {
        &self.0
    }

    fn kind(&self) -> Kind<'_> {
        Kind::Unique
    }
}

/// A key query to apply to the machine's keyring in [`Delegate::drive`].
#[derive(Debug)]
struct KeyOp {
    kind: InternalQuery,
    payload: Vec<u8>,
    query: (LamportTime, u32),
}

/// The Serf layer's state; the node's delegate.
pub struct SerfDelegate {
    name: String,
    config: SerfConfig,
    state: SerfState,
    members: Members,
    events: EventBuffer,
    queries: QueryBuffer,
    /// Join/leave intents, queries and user events, sent in that order of priority.
    intent_queue: BroadcastQueue<SerfBroadcast>,
    query_queue: BroadcastQueue<SerfBroadcast>,
    event_queue: BroadcastQueue<SerfBroadcast>,
    /// Queries we sent, by LTime (Go indexes them so), until their deadline.
    open: HashMap<LamportTime, OpenQuery>,
    /// Queries whose deadline passed, until the application takes the result.
    closed: HashMap<(LamportTime, u32), QueryResult>,
    /// Queries we received and may still answer.
    responders: HashMap<(LamportTime, u32), Responder>,
    /// `SendToAddress` packets to send in `drive`.
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    key_ops: Vec<KeyOp>,
    app_events: VecDeque<SerfEvent>,
    /// Told when `app_events` grows, so a shell can sleep until then instead of
    /// polling; the layer itself stays free of I/O.
    event_waker: Option<Box<dyn Fn() + Send>>,
    vivaldi: Vivaldi,
    coordinates: HashMap<String, Coordinate>,
    stats: SerfStats,
    /// Raise the event minimum time to a peer's on a join push/pull (the `serf`
    /// agent's default, so joining does not replay old events).
    ignore_old_on_join: bool,
    next_reap: Option<Time>,
    /// When the queues' depths are next sampled; `None` without a metrics sink.
    next_queue_check: Option<Time>,
    next_reconnect: Option<Time>,
    /// A name conflict about us was reported; resolve it at the next `drive`.
    conflict_reported: bool,
    /// The running `_serf_conflict` query about our name.
    conflict_query: Option<(LamportTime, u32)>,
    /// Holds coalescing user events between delivery and the application.
    coalescer: Option<UserCoalescer>,
    /// The open snapshot log, fed every delivered event and the member clock.
    snapshot: Option<Snapshot>,
    /// Members alive in the snapshot when it was opened, until the shell rejoins them.
    previous: Vec<(String, SocketAddr)>,
    /// The time of the last `drive`: hooks have no clock, and use this one.
    now: Time,
    rng: StdRng,
}

impl SerfDelegate {
    /// The layer for member `name`; `rng` picks query ids and drives Vivaldi.
    pub fn new(name: &str, config: SerfConfig, mut rng: StdRng) -> Self {
        let vivaldi = Vivaldi::new(StdRng::seed_from_u64(rng.gen()));
        let coalescer =
            UserCoalescer::new(config.user_coalesce_period, config.user_quiescent_period);
        SerfDelegate {
            name: name.to_owned(),
            intent_queue: BroadcastQueue::new(config.retransmit_mult),
            query_queue: BroadcastQueue::new(config.retransmit_mult),
            event_queue: BroadcastQueue::new(config.retransmit_mult),
            config,
            state: SerfState::Alive,
            members: Members::new(name),
            events: EventBuffer::default(),
            queries: QueryBuffer::default(),
            open: HashMap::new(),
            closed: HashMap::new(),
            responders: HashMap::new(),
            outbox: Vec::new(),
            key_ops: Vec::new(),
            app_events: VecDeque::new(),
            event_waker: None,
            vivaldi,
            coordinates: HashMap::new(),
            stats: SerfStats::default(),
            ignore_old_on_join: false,
            next_reap: None,
            next_queue_check: None,
            next_reconnect: None,
            conflict_reported: false,
            conflict_query: None,
            coalescer,
            snapshot: None,
            previous: Vec::new(),
            now: Time::ZERO,
            rng,
        }
    }

    /// Our own Serf state.
    pub fn state(&self) -> SerfState {
        self.state
    }

    /// Every member Serf knows, ourselves included, left and failed ones until reaped.
    pub fn members(&self) -> impl Iterator<Item = &SerfMember> {
        self.members.iter()
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> Option<&SerfMember> {
        self.members.get(name)
    }

    /// Counters of bad or refused Serf input.
    pub fn stats(&self) -> &SerfStats {
        &self.stats
    }

    /// The counters, to take their explanations ([`SerfStats::poll`]).
    pub fn stats_mut(&mut self) -> &mut SerfStats {
        &mut self.stats
    }

    /// The three Lamport clocks: member, event, query.
    pub fn clocks(&self) -> (LamportTime, LamportTime, LamportTime) {
        (
            self.members.clock.time(),
            self.events.clock.time(),
            self.queries.clock.time(),
        )
    }

    /// Our network coordinate, and the last one each peer sent us.
    pub fn coordinate(&self) -> Coordinate {
        self.vivaldi.coordinate()
    }

    /// How often our coordinate was reset to the origin.
    pub fn coordinate_resets(&self) -> u64 {
        self.vivaldi.resets()
    }

    /// The last coordinate `name` sent in an ack.
    pub fn peer_coordinate(&self, name: &str) -> Option<&Coordinate> {
        self.coordinates.get(name)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<SerfEvent> {
        self.app_events.pop_front()
    }

    /// Set while joining: events in the peers' push/pull state are not replayed.
    pub fn set_ignore_old_on_join(&mut self, ignore: bool) {
        self.ignore_old_on_join = ignore;
    }

    /// Takes over an opened snapshot (Go's `Create` with a snapshot path): the clocks
    /// continue from it, events and queries it saw are not delivered again, and the
    /// members alive in it wait in [`Self::take_previous`] for a rejoin.
    pub fn restore(&mut self, mut snapshot: Snapshot) {
        snapshot.set_metrics(self.config.metrics.clone());
        let r = snapshot.recovered();
        self.members.clock.witness(r.clock);
        self.events.clock.witness(r.event_clock);
        self.queries.clock.witness(r.query_clock);
        self.events.min_time = LamportTime(r.event_clock.0 + 1);
        self.queries.min_time = LamportTime(r.query_clock.0 + 1);
        self.previous = r.rejoin_targets(&self.name);
        self.snapshot = Some(snapshot);
    }

    /// The members to rejoin from the snapshot (once; empty after a graceful leave).
    pub fn take_previous(&mut self) -> Vec<(String, SocketAddr)> {
        std::mem::take(&mut self.previous)
    }

    fn deliver(&mut self, e: SerfEvent) {
        if let Some(snap) = self.snapshot.as_mut() {
            let written = match &e {
                SerfEvent::Member { kind, member } => {
                    snap.member_event(*kind, member, self.members.clock.time())
                }
                SerfEvent::User { ltime, .. } => snap.user_event(*ltime),
                // Recorded when the query is processed (internal ones are not
                // delivered).
                SerfEvent::Query { .. } => Ok(()),
            };
            self.note_snapshot(written);
        }
        let passed = match self.coalescer.as_mut() {
            Some(c) => c.offer(e).err(),
            None => Some(e),
        };
        self.queue_app_events(passed);
    }

    /// Hands events to the application and wakes whoever waits for them.
    fn queue_app_events(&mut self, events: impl IntoIterator<Item = SerfEvent>) {
        let before = self.app_events.len();
        self.app_events.extend(events);
        if self.app_events.len() > before {
            if let Some(wake) = &self.event_waker {
                wake();
            }
        }
    }

    /// Called whenever events become ready for [`SerfDelegate::poll_event`].
    pub fn set_event_waker(&mut self, wake: impl Fn() + Send + 'static) {
        self.event_waker = Some(Box::new(wake));
    }

    fn note_snapshot(&mut self, written: Result<(), SnapshotError>) {
        if let Err(e) = written {
            self.stats
                .count(SerfCounter::SnapshotErrors, || e.to_string());
        }
    }

    fn num_live(&self) -> usize {
        self.members.num_live().max(1)
    }

    /// Announces that we joined (after a successful memberlist join).
    pub fn broadcast_join(&mut self) {
        let ltime = self.members.clock.time();
        self.members
            .join_intent(&self.name.clone(), ltime, self.now);
        let msg = SerfMessage::Join(Join {
            ltime,
            node: GoString::borrowed(self.name.as_bytes()),
        })
        .to_bytes();
        self.intent_queue.queue_broadcast(SerfBroadcast(msg));
    }

    /// Starts a graceful leave: we become leaving and broadcast the leave intent.
    /// Wait for [`Self::intent_sent`] with the id, then leave memberlist.
    pub fn start_leave(&mut self) -> BroadcastId {
        self.state = SerfState::Leaving;
        if let Some(snap) = self.snapshot.as_mut() {
            let written = snap.leave();
            self.note_snapshot(written);
        }
        let ltime = self.members.clock.time();
        self.members.clock.increment();
        let name = self.name.clone();
        self.members
            .leave_intent(&name, ltime, false, false, self.now);
        let msg = SerfMessage::Leave(Leave {
            ltime,
            node: GoString::borrowed(name.as_bytes()),
            prune: false,
        })
        .to_bytes();
        self.intent_queue.queue_broadcast(SerfBroadcast(msg))
    }

    /// Whether an intent has been sent often enough, or nobody else is there to hear it.
    pub fn intent_sent(&self, id: BroadcastId) -> bool {
        !self.intent_queue.is_queued(id)
            || !self
                .members
                .iter()
                .any(|m| m.name != self.name && m.status == MemberStatus::Alive)
    }

    /// Our leave is complete: coalescing events still held are delivered.
    pub fn set_left(&mut self) {
        self.state = SerfState::Left;
        if let Some(held) = self.coalescer.as_mut().map(|c| c.flush()) {
            self.queue_app_events(held);
        }
    }

    /// Sends a user event to the cluster (and delivers it here, as Go does).
    pub fn user_event(
        &mut self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<LamportTime, SerfError> {
        let limit = self.config.user_event_size_limit.min(USER_EVENT_HARD_LIMIT);
        if name.len() + payload.len() > limit {
            return Err(SerfError::EventTooLarge(limit));
        }
        let ltime = self.events.clock.time();
        let msg = SerfMessage::UserEvent(UserEvent {
            ltime,
            name: GoString::borrowed(name.as_bytes()),
            payload: Some(payload.into()),
            cc: coalesce,
        })
        .to_bytes();
        if msg.len() > limit {
            return Err(SerfError::EncodedEventTooLarge(limit));
        }
        self.events.clock.increment();
        self.handle_user_event(&msg);
        self.event_queue.queue_broadcast(SerfBroadcast(msg));
        Ok(ltime)
    }

    /// Sends a query from the node `machine` runs; its answers collect until the
    /// deadline, then [`Self::take_query`] returns them.
    pub fn query(
        machine: &mut Machine<Self>,
        now: Time,
        name: &str,
        payload: &[u8],
        params: &QueryParams,
    ) -> Result<(LamportTime, u32, Time), SerfError> {
        let protocol = machine.config().delegate_protocol_version;
        if protocol < 4 {
            return Err(SerfError::NoQueries(protocol));
        }
        let local = machine.local_member().clone();
        let timeout = params.timeout.unwrap_or_else(|| {
            default_timeout(machine.config().gossip_interval, machine.num_members())
        });
        let d = machine.delegate_mut();
        if d.state != SerfState::Alive {
            return Err(SerfError::NotRunning);
        }
        let ltime = d.queries.clock.time();
        let id = d.rng.gen::<u32>() & 0x7fff_ffff;
        let msg = SerfMessage::Query(Query {
            ltime,
            id,
            addr: Some(local.addr.clone().into()),
            port: local.port,
            source_node: GoString::borrowed(local.name.as_bytes()),
            filters: params.encode_filters(),
            flags: if params.request_ack {
                QUERY_FLAG_ACK
            } else {
                0
            },
            relay_factor: params.relay_factor,
            timeout: GoInt::new(timeout.as_nanos().min(i64::MAX as u128) as i64),
            name: GoString::borrowed(name.as_bytes()),
            payload: Some(payload.into()),
        })
        .to_bytes();
        if msg.len() > QUERY_SIZE_LIMIT {
            return Err(SerfError::QueryTooLarge);
        }
        let deadline = now + timeout;
        d.open.insert(
            ltime,
            OpenQuery {
                id,
                ltime,
                deadline,
                result: QueryResult::default(),
                duplicates: 0,
            },
        );
        d.now = now;
        d.handle_query(&msg);
        d.query_queue.queue_broadcast(SerfBroadcast(msg));
        Ok((ltime, id, deadline))
    }

    /// Go's `forceLeave`: a leave intent about another member, applied here and
    /// gossiped (a failed member becomes left; `prune` forgets it). `None` when no
    /// other member is alive to hear it.
    pub fn force_leave(&mut self, node: &str, prune: bool) -> Option<BroadcastId> {
        let ltime = self.members.clock.time();
        self.members.clock.increment();
        let leave = Leave {
            ltime,
            node: GoString::borrowed(node.as_bytes()),
            prune,
        };
        self.handle_leave(&leave);
        let anyone = self
            .members
            .iter()
            .any(|m| m.name != self.name && m.status == MemberStatus::Alive);
        anyone.then(|| {
            self.intent_queue
                .queue_broadcast(SerfBroadcast(SerfMessage::Leave(leave).to_bytes()))
        })
    }

    /// Broadcasts waiting in the intent, event and query queues (serf's `stats`).
    pub fn queue_lengths(&self) -> (usize, usize, usize) {
        (
            self.intent_queue.len(),
            self.event_queue.len(),
            self.query_queue.len(),
        )
    }

    /// The answers to a query we sent, once its deadline passed (`None` before, or
    /// for a query that is not ours).
    pub fn take_query(&mut self, ltime: LamportTime, id: u32) -> Option<QueryResult> {
        self.closed.remove(&(ltime, id))
    }

    /// The acks and answers collected so far for a query we sent whose deadline has
    /// not passed (`None` after it, when [`Self::take_query`] has them all).
    pub fn query_answers(&self, ltime: LamportTime, id: u32) -> Option<&QueryResult> {
        self.open
            .get(&ltime)
            .filter(|q| q.id == id)
            .map(|q| &q.result)
    }

    /// Answers a query we received (once, before its deadline).
    pub fn respond(
        &mut self,
        ltime: LamportTime,
        id: u32,
        payload: &[u8],
    ) -> Result<(), SerfError> {
        let r = self
            .responders
            .get(&(ltime, id))
            .ok_or(RespondError::Unknown(id))?;
        if r.responded {
            return Err(RespondError::AlreadySent.into());
        }
        if r.deadline.is_some_and(|d| self.now > d) {
            return Err(RespondError::PastDeadline.into());
        }
        let msg = self.response_bytes(ltime, id, 0, Some(payload));
        if msg.len() > QUERY_RESPONSE_SIZE_LIMIT {
            return Err(RespondError::TooLarge.into());
        }
        let r = r.clone();
        let to = r.to.ok_or(RespondError::NoAddress)?;
        self.send_with_relays(to, &r, msg);
        if let Some(r) = self.responders.get_mut(&(ltime, id)) {
            r.responded = true;
        }
        Ok(())
    }

    fn response_bytes(
        &self,
        ltime: LamportTime,
        id: u32,
        flags: u32,
        payload: Option<&[u8]>,
    ) -> Vec<u8> {
        SerfMessage::QueryResponse(QueryResponse {
            ltime,
            id,
            from: GoString::borrowed(self.name.as_bytes()),
            flags,
            payload: payload.map(Into::into),
        })
        .to_bytes()
    }

    /// Queues an answer to the origin and its relayed copies.
    fn send_with_relays(&mut self, to: SocketAddr, r: &Responder, msg: Vec<u8>) {
        if r.relay_factor > 0 && self.members.iter().count() > r.relay_factor as usize {
            let relay = SerfMessage::Relay(Relay {
                dest_addr: UdpAddr {
                    ip: Some(ip_to_bytes(to.ip()).into()),
                    port: GoInt::new(i64::from(to.port())),
                    zone: GoString::default(),
                },
                dest_name: GoString::borrowed(r.source_node.as_bytes()),
                message: msg.as_slice().into(),
            })
            .to_bytes();
            if relay.len() > QUERY_RESPONSE_SIZE_LIMIT {
                self.stats.count(SerfCounter::RefusedSends, || {
                    "relayed response exceeds the size limit".into()
                });
            } else {
                let mut relays: Vec<SocketAddr> = self
                    .members
                    .iter()
                    .filter(|m| {
                        m.status == MemberStatus::Alive
                            && m.versions.protocol_max >= 5
                            && m.name != self.name
                    })
                    .filter_map(|m| m.ip().map(|ip| SocketAddr::new(ip, m.port)))
                    .collect();
                relays.shuffle(&mut self.rng);
                relays.truncate(r.relay_factor as usize);
                for a in relays {
                    self.outbox.push((a, relay.clone()));
                }
            }
        }
        self.outbox.push((to, msg));
    }

    /// Go's `handleUserEvent`: true means re-broadcast.
    fn handle_user_event(&mut self, raw: &[u8]) -> bool {
        let e = match SerfMessage::decode(raw) {
            Ok(SerfMessage::UserEvent(e)) => e,
            _ => return false,
        };
        self.user_event_in(e)
    }

    fn user_event_in(&mut self, e: UserEvent<'_>) -> bool {
        let size = e.name.as_bytes().len() + e.payload.as_deref().map_or(0, <[u8]>::len);
        if size > USER_EVENT_HARD_LIMIT {
            self.stats.count(SerfCounter::OversizedEvents, || {
                format!(
                    "user event {:?} of {size} bytes dropped",
                    e.name.to_str_lossy()
                )
            });
            return false;
        }
        match self
            .events
            .record(e.ltime, e.name.as_bytes(), e.payload.as_deref())
        {
            Ok(()) => {
                let m = &self.config.metrics;
                m.incr(&metrics::EVENTS, 1.0);
                m.incr_named(&metrics::EVENTS, &e.name.to_str_lossy(), 1.0);
                self.deliver(SerfEvent::User {
                    ltime: e.ltime,
                    name: e.name.to_str_lossy().into_owned(),
                    payload: e.payload.map(|p| p.into_owned()),
                    coalesce: e.cc,
                });
                true
            }
            Err(Seen::Duplicate | Seen::Old | Seen::BeforeMin) => false,
        }
    }

    /// Go's `handleQuery`: true means re-broadcast.
    fn handle_query(&mut self, raw: &[u8]) -> bool {
        let q = match SerfMessage::decode(raw) {
            Ok(SerfMessage::Query(q)) => q,
            _ => return false,
        };
        if self.queries.record(q.ltime, q.id).is_err() {
            return false;
        }
        let m = &self.config.metrics;
        m.incr(&metrics::QUERIES, 1.0);
        m.incr_named(&metrics::QUERIES, &q.name.to_str_lossy(), 1.0);
        let rebroadcast = !q.no_broadcast();
        let local_tags = self
            .members
            .get(&self.name)
            .map(|m| m.tags.clone())
            .unwrap_or_default();
        match filters_match(q.filters.as_deref(), &self.name, &local_tags) {
            Ok(true) => {}
            Ok(false) => return rebroadcast,
            Err(e) => {
                self.stats.count(SerfCounter::BadFilters, || {
                    format!("query {:?} not processed: {e}", q.name.to_str_lossy())
                });
                return rebroadcast;
            }
        }
        let to = q
            .addr
            .as_deref()
            .and_then(ip_from_bytes)
            .map(|ip| SocketAddr::new(ip, q.port));
        let timeout = Duration::from_nanos(q.timeout.value.max(0) as u64);
        let responder = Responder {
            ltime: q.ltime,
            id: q.id,
            to,
            source_node: q.source_node.to_str_lossy().into_owned(),
            relay_factor: q.relay_factor,
            timeout,
            deadline: None,
            responded: false,
        };
        if q.ack() {
            match to {
                Some(to) => {
                    let ack = self.response_bytes(q.ltime, q.id, QUERY_FLAG_ACK, None);
                    self.send_with_relays(to, &responder, ack);
                }
                None => self.stats.count(SerfCounter::RefusedSends, || {
                    "query ack: origin address is not an IP".into()
                }),
            }
        }
        self.responders.insert((q.ltime, q.id), responder);
        // Every processed query, Serf's internal ones too, moves the snapshot's
        // query clock (Go's snapshotter sits before the internal query handler).
        if let Some(snap) = self.snapshot.as_mut() {
            let written = snap.query(q.ltime);
            self.note_snapshot(written);
        }
        match q.internal() {
            Some(InternalQuery::Ping) => {}
            Some(InternalQuery::Conflict) => {
                self.answer_conflict(q.ltime, q.id, q.payload.as_deref())
            }
            Some(kind) => self.key_ops.push(KeyOp {
                kind,
                payload: q.payload.as_deref().unwrap_or_default().to_vec(),
                query: (q.ltime, q.id),
            }),
            None if q.name.as_bytes().starts_with(b"_serf_") => {}
            None => self.deliver(SerfEvent::Query {
                ltime: q.ltime,
                id: q.id,
                name: q.name.to_str_lossy().into_owned(),
                payload: q.payload.map(|p| p.into_owned()),
                from: q.source_node.to_str_lossy().into_owned(),
            }),
        }
        rebroadcast
    }

    /// `_serf_conflict`: our view of the contested name, unless it is ours.
    fn answer_conflict(&mut self, ltime: LamportTime, id: u32, payload: Option<&[u8]>) {
        let name = String::from_utf8_lossy(payload.unwrap_or_default()).into_owned();
        if name == self.name {
            return;
        }
        let view = self.members.get(&name).map(|m| {
            let mut tags = Tags::new();
            for (k, v) in &m.tags {
                tags.insert(GoString::from(k.clone()), GoString::from(v.clone()));
            }
            WireMember {
                name: GoString::from(m.name.clone()),
                addr: Some(m.addr.clone().into()),
                port: m.port,
                tags: Some(tags),
                status: GoInt::new(m.status as i64),
                protocol_min: m.versions.protocol_min,
                protocol_max: m.versions.protocol_max,
                protocol_cur: m.versions.protocol_cur,
                delegate_min: m.versions.delegate_min,
                delegate_max: m.versions.delegate_max,
                delegate_cur: m.versions.delegate_cur,
            }
        });
        let body = SerfMessage::ConflictResponse(view).to_bytes();
        if let Err(e) = self.respond(ltime, id, &body) {
            self.stats.count(SerfCounter::RefusedSends, || {
                format!("conflict answer: {e}")
            });
        }
    }

    /// Go's `handleQueryResponse`.
    fn handle_query_response(&mut self, r: QueryResponse<'_>) {
        let from = r.from.to_str_lossy();
        let Some(q) = self.open.get_mut(&r.ltime).filter(|q| q.id == r.id) else {
            self.stats.count(SerfCounter::UnexpectedResponses, || {
                format!(
                    "answer from {from} for no running query (ltime {})",
                    r.ltime
                )
            });
            return;
        };
        let ack = r.ack();
        let new = q.add(&from, ack, r.payload.as_deref());
        let metric = match (ack, new) {
            (true, true) => &metrics::QUERY_ACKS,
            (true, false) => &metrics::QUERY_DUPLICATE_ACKS,
            (false, true) => &metrics::QUERY_RESPONSES,
            (false, false) => &metrics::QUERY_DUPLICATE_RESPONSES,
        };
        self.config.metrics.incr(metric, 1.0);
    }

    /// Applies one intent message; true means re-broadcast.
    fn handle_leave(&mut self, l: &Leave<'_>) -> bool {
        let node = l.node.to_str_lossy().into_owned();
        let alive = self.state == SerfState::Alive;
        match self
            .members
            .leave_intent(&node, l.ltime, l.prune, alive, self.now)
        {
            LeaveOutcome::Ignore => false,
            LeaveOutcome::Refute => {
                self.broadcast_join();
                false
            }
            LeaveOutcome::Rebroadcast { left, pruned } => {
                if let Some(m) = left {
                    self.deliver(SerfEvent::Member {
                        kind: MemberEventKind::Leave,
                        member: *m,
                    });
                }
                if let Some(m) = pruned {
                    self.vivaldi.forget(&m.name);
                    self.deliver(SerfEvent::Member {
                        kind: MemberEventKind::Reap,
                        member: *m,
                    });
                }
                true
            }
        }
    }

    fn count_bad(&mut self, what: &str, e: &WireError) {
        let counter = match e {
            WireError::UnknownSerfMessageType(_) => SerfCounter::UnknownMessages,
            _ => SerfCounter::BadMessages,
        };
        self.stats.count(counter, || format!("{what}: {e}"));
    }

    fn report_tag_errors(&mut self) {
        for (name, e) in std::mem::take(&mut self.members.tag_errors) {
            self.stats
                .count(SerfCounter::BadTags, || format!("tags of {name}: {e}"));
        }
    }

    fn member_event(&mut self, kind: MemberEventKind, member: SerfMember) {
        let event = match kind {
            MemberEventKind::Join => "EventMemberJoin",
            MemberEventKind::Leave => "EventMemberLeave",
            MemberEventKind::Failed => "EventMemberFailed",
            MemberEventKind::Update => "EventMemberUpdate",
            MemberEventKind::Reap => "EventMemberReap",
        };
        let addr = member
            .ip()
            .map_or_else(|| "?".to_string(), |ip| ip.to_string());
        tracing::info!(target: "serf", "{event}: {} {addr}", member.name);
        self.report_tag_errors();
        self.deliver(SerfEvent::Member { kind, member });
    }

    /// Go's `resolveNodeConflict`: ask everyone for their view of our name; once the
    /// answers are in, stay only if a strict majority of them point at our address.
    fn resolve_conflict(machine: &mut Machine<Self>, now: Time) {
        let d = machine.delegate_mut();
        if std::mem::take(&mut d.conflict_reported) && d.conflict_query.is_none() {
            let name = d.name.clone();
            let params = QueryParams::default();
            match Self::query(
                machine,
                now,
                InternalQuery::Conflict.name(),
                name.as_bytes(),
                &params,
            ) {
                Ok((ltime, id, _)) => machine.delegate_mut().conflict_query = Some((ltime, id)),
                Err(e) => machine
                    .delegate_mut()
                    .stats
                    .count(SerfCounter::RefusedSends, || {
                        format!("name conflict query: {e}")
                    }),
            }
            return;
        }
        let Some(key) = d.conflict_query else {
            return;
        };
        let Some(result) = d.closed.remove(&key) else {
            return;
        };
        d.conflict_query = None;
        let local = machine.local_member().clone();
        let d = machine.delegate_mut();
        let (mut responses, mut matching) = (0, 0);
        for payload in result.responses.values() {
            match SerfMessage::decode(payload) {
                Ok(SerfMessage::ConflictResponse(view)) => {
                    responses += 1;
                    if view.is_some_and(|m| {
                        m.addr.as_deref() == Some(&local.addr[..]) && m.port == local.port
                    }) {
                        matching += 1;
                    }
                }
                _ => d.stats.count(SerfCounter::BadMessages, || {
                    "invalid name conflict answer".into()
                }),
            }
        }
        if matching < responses / 2 + 1 {
            d.state = SerfState::Shutdown;
            d.stats.count(SerfCounter::LostConflicts, || {
                format!("minority in name conflict resolution [{matching} / {responses}]")
            });
        }
    }

    /// Applies due key queries to the keyring and answers them.
    fn run_key_ops(machine: &mut Machine<Self>) {
        let ops = std::mem::take(&mut machine.delegate_mut().key_ops);
        for op in ops {
            let mut answer = keys::apply(op.kind, &op.payload, machine.keyring_mut());
            if answer.result && op.kind != InternalQuery::ListKeys {
                let file = machine.delegate().config.keyring_file.clone();
                if let (Some(path), Some(ring)) = (file, machine.keyring_mut()) {
                    if let Err(e) = keyring_file::write(&path, ring) {
                        answer = keys::KeyAnswer {
                            message: e.to_string(),
                            ..Default::default()
                        };
                    }
                }
            }
            let d = machine.delegate_mut();
            let (ltime, id) = op.query;
            let Some(r) = d.responders.get(&op.query).cloned() else {
                continue;
            };
            let Some(msg) = keys::response(op.kind, answer, ltime, id, &d.name) else {
                continue;
            };
            if let (Some(to), false) = (r.to, r.responded) {
                d.send_with_relays(to, &r, msg);
                if let Some(r) = d.responders.get_mut(&op.query) {
                    r.responded = true;
                }
            }
            // Packets for this answer go out before the next key change, so a
            // use-key answer is sealed with the key that was primary when it ran.
            for (to, msg) in std::mem::take(&mut machine.delegate_mut().outbox) {
                machine.send_to_address(to, &msg);
            }
        }
    }

    fn run_timers(machine: &mut Machine<Self>, now: Time) {
        let d = machine.delegate_mut();
        let expired: Vec<LamportTime> = d
            .open
            .values()
            .filter(|q| now >= q.deadline)
            .map(|q| q.ltime)
            .collect();
        for t in expired {
            if let Some(q) = d.open.remove(&t) {
                d.closed.insert((q.ltime, q.id), q.result);
            }
        }
        d.responders.retain(|_, r| {
            r.deadline
                .is_none_or(|dl| now <= dl + Duration::from_secs(60))
        });
        let sampled = d.config.metrics.is_enabled() && !d.config.queue_check_interval.is_zero();
        if sampled && d.next_queue_check.is_none_or(|t| now >= t) {
            if d.next_queue_check.is_some() {
                let m = &d.config.metrics;
                m.sample(&metrics::QUEUE_INTENT, d.intent_queue.len() as f32);
                m.sample(&metrics::QUEUE_EVENT, d.event_queue.len() as f32);
                m.sample(&metrics::QUEUE_QUERY, d.query_queue.len() as f32);
            }
            d.next_queue_check = Some(now + d.config.queue_check_interval);
        }
        if d.next_reap.is_none_or(|t| now >= t) {
            if d.next_reap.is_some() {
                let reaped =
                    d.members
                        .reap(now, d.config.reconnect_timeout, d.config.tombstone_timeout);
                for m in reaped {
                    d.vivaldi.forget(&m.name);
                    d.coordinates.remove(&m.name);
                    d.member_event(MemberEventKind::Reap, m);
                }
                for q in [&mut d.intent_queue, &mut d.query_queue, &mut d.event_queue] {
                    if q.len() > MAX_QUEUE_DEPTH {
                        q.prune(MAX_QUEUE_DEPTH);
                    }
                }
            }
            d.next_reap = Some(now + d.config.reap_interval);
        }
        if d.next_reconnect.is_none_or(|t| now >= t) {
            let first = d.next_reconnect.is_none();
            d.next_reconnect = Some(now + d.config.reconnect_interval);
            if !first {
                if let Some(addr) = d.reconnect_target() {
                    machine.join(now, &[addr]);
                }
            }
        }
    }

    /// Go's `reconnect`: with probability failed/alive, one random failed member.
    fn reconnect_target(&mut self) -> Option<SocketAddr> {
        let failed: Vec<SocketAddr> = self
            .members
            .failed()
            .filter_map(|m| m.ip().map(|ip| SocketAddr::new(ip, m.port)))
            .collect();
        if failed.is_empty() {
            return None;
        }
        let left = self.members.left_names().count();
        let alive = (self.members.iter().count() - failed.len() - left).max(1);
        let prob = failed.len() as f64 / alive as f64;
        if self.rng.gen::<f64>() > prob {
            return None;
        }
        failed.choose(&mut self.rng).copied()
    }
}

impl Delegate for SerfDelegate {
    fn notify_msg(&mut self, buf: &[u8]) {
        let Some(&t) = buf.first() else {
            return;
        };
        self.config
            .metrics
            .sample(&metrics::MSGS_RECEIVED, buf.len() as f32);
        let msg = match SerfMessage::decode(buf) {
            Ok(m) => m,
            Err(e) => return self.count_bad(&format!("serf message type {t}"), &e),
        };
        let (rebroadcast, queue) = match msg {
            SerfMessage::Leave(l) => (self.handle_leave(&l), 0),
            SerfMessage::Join(j) => {
                let node = j.node.to_str_lossy().into_owned();
                (self.members.join_intent(&node, j.ltime, self.now), 0)
            }
            SerfMessage::UserEvent(e) => (self.user_event_in(e), 2),
            SerfMessage::Query(_) => (self.handle_query(buf), 1),
            SerfMessage::QueryResponse(r) => {
                self.handle_query_response(r);
                (false, 0)
            }
            SerfMessage::Relay(r) => {
                let to = r
                    .dest_addr
                    .ip
                    .as_deref()
                    .and_then(ip_from_bytes)
                    .zip(u16::try_from(r.dest_addr.port.value).ok())
                    .map(|(ip, port)| SocketAddr::new(ip, port));
                match to {
                    Some(to) => self.outbox.push((to, r.message.into_owned())),
                    None => self.stats.count(SerfCounter::BadMessages, || {
                        "relay with an unusable destination".into()
                    }),
                }
                (false, 0)
            }
            other => {
                self.stats.count(SerfCounter::BadMessages, || {
                    format!("{} is not a gossip message", other.message_type().name())
                });
                (false, 0)
            }
        };
        if rebroadcast {
            let b = SerfBroadcast(buf.to_vec());
            match queue {
                0 => self.intent_queue.queue_broadcast(b),
                1 => self.query_queue.queue_broadcast(b),
                _ => self.event_queue.queue_broadcast(b),
            };
        }
    }

    fn has_broadcasts(&self) -> bool {
        !(self.intent_queue.is_empty()
            && self.query_queue.is_empty()
            && self.event_queue.is_empty())
    }

    fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Vec<u8>> {
        let n = self.num_live();
        let mut out = self.intent_queue.get_broadcasts(overhead, limit, n);
        for q in [&mut self.query_queue, &mut self.event_queue] {
            let used: usize = out.iter().map(|m| m.len() + overhead).sum();
            out.extend(q.get_broadcasts(overhead, limit.saturating_sub(used), n));
        }
        for m in &out {
            self.config
                .metrics
                .sample(&metrics::MSGS_SENT, m.len() as f32);
        }
        out
    }

    fn local_state(&mut self, _join: bool) -> Vec<u8> {
        let status_ltimes = self
            .members
            .iter()
            .map(|m| (GoString::borrowed(m.name.as_bytes()), m.status_ltime))
            .collect();
        SerfMessage::PushPull(PushPull {
            ltime: self.members.clock.time(),
            status_ltimes: Some(status_ltimes),
            left_members: Some(
                self.members
                    .left_names()
                    .map(|n| GoString::borrowed(n.as_bytes()))
                    .collect(),
            ),
            event_ltime: self.events.clock.time(),
            events: Some(self.events.to_wire()),
            query_ltime: self.queries.clock.time(),
        })
        .to_bytes()
    }

    fn merge_remote_state(&mut self, state: &[u8], join: bool) {
        let pp = match SerfMessage::decode(state) {
            Ok(SerfMessage::PushPull(pp)) => pp,
            Ok(other) => {
                return self.stats.count(SerfCounter::BadMessages, || {
                    format!("push/pull state is a {}", other.message_type().name())
                })
            }
            Err(e) => return self.count_bad("push/pull state", &e),
        };
        for (clock, t) in [
            (&self.members.clock, pp.ltime),
            (&self.events.clock, pp.event_ltime),
            (&self.queries.clock, pp.query_ltime),
        ] {
            if t.0 > 0 {
                clock.witness(LamportTime(t.0 - 1));
            }
        }
        let status = pp.status_ltimes.unwrap_or_default();
        let left = pp.left_members.unwrap_or_default();
        for name in &left {
            let ltime = status.get(name).copied().unwrap_or_default();
            self.handle_leave(&Leave {
                ltime: LamportTime(ltime.0.wrapping_add(1)),
                node: name.clone(),
                prune: false,
            });
        }
        for (name, ltime) in &status {
            if !left.contains(name) {
                let node = name.to_str_lossy().into_owned();
                self.members.join_intent(&node, *ltime, self.now);
            }
        }
        if join && self.ignore_old_on_join && pp.event_ltime > self.events.min_time {
            self.events.min_time = pp.event_ltime;
        }
        for slot in pp.events.into_iter().flatten().flatten() {
            for e in slot.events.into_iter().flatten() {
                self.user_event_in(UserEvent {
                    ltime: slot.ltime,
                    name: e.name,
                    payload: e.payload,
                    cc: false,
                });
            }
        }
    }

    fn notify_join(&mut self, member: &Member) {
        let flapped = self.members.get(&member.name).is_some_and(|m| {
            m.status == MemberStatus::Failed
                && m.leave_time
                    .is_some_and(|t| self.now.saturating_since(t) < FLAP_TIMEOUT)
        });
        if flapped {
            self.config.metrics.incr(&metrics::MEMBER_FLAP, 1.0);
        }
        self.config.metrics.incr(&metrics::MEMBER_JOIN, 1.0);
        let m = self.members.node_join(member);
        self.member_event(MemberEventKind::Join, m);
    }

    fn notify_leave(&mut self, member: &Member) {
        if let Some((kind, m)) = self.members.node_leave(member, self.now) {
            let metric = if kind == MemberEventKind::Leave {
                &metrics::MEMBER_LEFT
            } else {
                &metrics::MEMBER_FAILED
            };
            self.config.metrics.incr(metric, 1.0);
            self.member_event(kind, m);
        }
    }

    fn notify_conflict(&mut self, existing: &Member, _other: &Member) {
        if existing.name == self.name && self.config.enable_name_conflict_resolution {
            self.conflict_reported = true;
        }
    }

    fn notify_update(&mut self, member: &Member) {
        if let Some(m) = self.members.node_update(member) {
            self.config.metrics.incr(&metrics::MEMBER_UPDATE, 1.0);
            self.member_event(MemberEventKind::Update, m);
        }
    }

    fn ack_payload(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(131);
        self.vivaldi.coordinate().encode_ping_payload(&mut out);
        out
    }

    fn notify_ping_complete(&mut self, member: &Member, rtt: Duration, payload: &[u8]) {
        match Coordinate::decode_ping_payload(payload) {
            Ok(None) => {}
            Ok(Some(c)) => match self.vivaldi.update(&member.name, &c, rtt) {
                Ok(_) => {
                    self.config.metrics.sample(
                        &metrics::COORDINATE_ADJUSTMENT,
                        self.vivaldi.last_move().as_secs_f32() * 1e3,
                    );
                    self.coordinates.insert(member.name.clone(), c);
                }
                Err(e) => {
                    self.config.metrics.incr(&metrics::COORDINATE_REJECTED, 1.0);
                    self.stats.count(SerfCounter::BadCoordinates, || {
                        format!("coordinate from {}: {e}", member.name)
                    })
                }
            },
            Err(e) => self.stats.count(SerfCounter::BadCoordinates, || {
                format!("ack payload from {}: {e}", member.name)
            }),
        }
    }

    fn poll_timeout(&self) -> Option<Time> {
        let queries = self.open.values().map(|q| q.deadline).min();
        let coalesced = self.coalescer.as_ref().and_then(UserCoalescer::deadline);
        [
            queries,
            self.next_reap,
            self.next_reconnect,
            self.next_queue_check,
            coalesced,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn drive(machine: &mut Machine<Self>, now: Time) {
        let d = machine.delegate_mut();
        d.now = now;
        for r in d.responders.values_mut() {
            if r.deadline.is_none() {
                r.deadline = Some(now + r.timeout);
            }
        }
        d.report_tag_errors();
        if let Some(due) = d.coalescer.as_mut().map(|c| c.tick(now)) {
            d.queue_app_events(due);
        }
        // The member clock also moves without member events (intents about members
        // we know): keep the snapshot's copy current, as Go's periodic update does.
        let clock = d.members.clock.time();
        if let Some(snap) = d.snapshot.as_mut() {
            let written = snap.clock(clock);
            d.note_snapshot(written);
        }
        for (to, msg) in std::mem::take(&mut machine.delegate_mut().outbox) {
            machine.send_to_address(to, &msg);
        }
        Self::run_key_ops(machine);
        Self::run_timers(machine, now);
        Self::resolve_conflict(machine, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{State, Versions};

    fn delegate() -> SerfDelegate {
        SerfDelegate::new("me", SerfConfig::default(), StdRng::seed_from_u64(1))
    }

    fn node(name: &str, meta: &[u8]) -> Member {
        Member {
            name: name.into(),
            addr: vec![127, 0, 0, 1],
            port: 7946,
            meta: meta.to_vec(),
            versions: Versions {
                protocol_max: 5,
                ..Versions::default()
            },
            incarnation: 1,
            state: State::Alive,
            state_change: Time::ZERO,
        }
    }

    fn event(ltime: u64, name: &str, payload: &[u8]) -> Vec<u8> {
        SerfMessage::UserEvent(UserEvent {
            ltime: LamportTime(ltime),
            name: GoString::from(name),
            payload: Some(payload.to_vec().into()),
            cc: true,
        })
        .to_bytes()
    }

    fn drain(d: &mut SerfDelegate) -> Vec<SerfEvent> {
        std::iter::from_fn(|| d.poll_event()).collect()
    }

    #[test]
    fn bad_serf_input_is_counted_and_changes_nothing() {
        let mut d = delegate();
        d.notify_join(&node("me", b""));
        d.notify_join(&node("a", b""));
        drain(&mut d);
        let before: Vec<SerfMember> = d.members().cloned().collect();
        let oversized = event(3, "big", &vec![b'x'; USER_EVENT_HARD_LIMIT + 1]);
        let mut bad_filter_query = Query {
            ltime: LamportTime(2),
            id: 1,
            addr: Some(vec![127, 0, 0, 1].into()),
            port: 1,
            source_node: "a".into(),
            filters: Some(vec![vec![9u8, 0x90].into()]),
            name: "q".into(),
            ..Default::default()
        };
        let bad_filter = SerfMessage::Query(bad_filter_query.clone()).to_bytes();
        bad_filter_query.id = 2;
        bad_filter_query.filters = Some(vec![vec![1u8, 0x81, 0xa3, b'T', b'a', b'g'].into()]);
        let truncated_filter = SerfMessage::Query(bad_filter_query).to_bytes();
        for input in [
            &[42u8, 0x80][..],
            &[0, 0x83, 0xa5][..],
            &[3][..],
            &[4, 0xc1][..],
            &[6, 0xc0][..],
            &[9, 0x80][..],
            &oversized,
            &bad_filter,
            &truncated_filter,
        ] {
            d.notify_msg(input);
        }
        d.merge_remote_state(&[2, 0x93, 1], false);
        d.merge_remote_state(&[1, 0x80], true);
        d.notify_join(&node("b", &[0xff, 0x82, 0xa1, b'k', 0x01]));
        d.notify_ping_complete(&node("a", b""), Duration::from_millis(1), &[2, 0x80]);
        d.notify_ping_complete(&node("a", b""), Duration::from_millis(1), &[1, 0x80]);
        let s = d.stats();
        assert_eq!(s.get(SerfCounter::UnknownMessages), 1);
        assert_eq!(s.get(SerfCounter::BadMessages), 7);
        assert_eq!(s.get(SerfCounter::OversizedEvents), 1);
        assert_eq!(s.get(SerfCounter::BadFilters), 2);
        assert_eq!(s.get(SerfCounter::BadTags), 1);
        assert_eq!(s.get(SerfCounter::BadCoordinates), 2);
        // Nothing delivered but the join of b (kept, with what decoded: no tags).
        let events = drain(&mut d);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            matches!(&events[0], SerfEvent::Member { kind: MemberEventKind::Join, member } if member.name == "b" && member.tags.is_empty())
        );
        let after: Vec<SerfMember> = d.members().filter(|m| m.name != "b").cloned().collect();
        assert_eq!(after, before);
        assert!(d.outbox.is_empty());
    }

    #[test]
    fn restored_snapshot_sets_clocks_refuses_old_events_and_records_new_ones() {
        let dir = std::env::temp_dir().join(format!("layer-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        std::fs::write(
            &path,
            "alive: me 127.0.0.1:1\nalive: a 127.0.0.2:7946\nclock: 20\nevent-clock: 9\nquery-clock: 4\n",
        )
        .unwrap();
        let mut d = delegate();
        d.restore(Snapshot::open(&path, false).unwrap());
        let (m, e, q) = d.clocks();
        assert!(m > LamportTime(20) && e > LamportTime(9) && q > LamportTime(4));
        assert_eq!(
            d.take_previous(),
            [("a".to_owned(), "127.0.0.2:7946".parse().unwrap())]
        );
        assert!(d.take_previous().is_empty());
        d.notify_msg(&event(9, "seen-before", b""));
        d.notify_msg(&event(10, "new", b""));
        let names: Vec<String> = drain(&mut d)
            .into_iter()
            .filter_map(|e| match e {
                SerfEvent::User { name, .. } => Some(name),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["new"]);
        d.notify_join(&node("b", b""));
        let log = std::fs::read_to_string(&path).unwrap();
        assert!(
            log.ends_with("event-clock: 10\nalive: b 127.0.0.1:7946\n"),
            "{log:?}"
        );
        // Serf's internal queries move the query clock too, as in Go.
        let ping = |ltime| {
            SerfMessage::Query(Query {
                ltime: LamportTime(ltime),
                id: 1,
                addr: Some(vec![127, 0, 0, 9].into()),
                port: 7000,
                source_node: "a".into(),
                name: "_serf_ping".into(),
                ..Default::default()
            })
            .to_bytes()
        };
        d.notify_msg(&ping(4));
        d.notify_msg(&ping(5));
        let log = std::fs::read_to_string(&path).unwrap();
        assert!(
            log.ends_with("alive: b 127.0.0.1:7946\nquery-clock: 5\n"),
            "{log:?}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn user_events_are_delivered_once_and_rebroadcast_once() {
        let mut d = delegate();
        let e = event(5, "deploy", b"v1");
        d.notify_msg(&e);
        d.notify_msg(&e);
        let events = drain(&mut d);
        assert_eq!(events.len(), 1);
        assert_eq!(d.events.clock.time(), LamportTime(6));
        assert_eq!(d.get_broadcasts(2, 1400), vec![e]);
        assert!(d
            .user_event("x", &[0; USER_EVENT_SIZE_LIMIT], true)
            .is_err());
    }

    #[test]
    fn query_is_acked_and_delivered_unless_filtered_out() {
        let mut d = delegate();
        let mut tags = Tags::new();
        tags.insert("role", "db");
        let mut meta = Vec::new();
        tags.encode_meta(&mut meta).unwrap();
        d.notify_join(&node("me", &meta));
        drain(&mut d);
        let params = QueryParams {
            filter_tags: vec![("role".into(), "^d".into())],
            ..Default::default()
        };
        let q = |id, params: &QueryParams| {
            SerfMessage::Query(Query {
                ltime: LamportTime(4),
                id,
                addr: Some(vec![127, 0, 0, 9].into()),
                port: 7000,
                source_node: "origin".into(),
                filters: params.encode_filters(),
                flags: QUERY_FLAG_ACK,
                name: "uptime".into(),
                timeout: GoInt::new(1_000_000_000),
                ..Default::default()
            })
            .to_bytes()
        };
        d.notify_msg(&q(1, &params));
        let to: SocketAddr = "127.0.0.9:7000".parse().unwrap();
        assert_eq!(d.outbox.len(), 1);
        assert_eq!(d.outbox[0].0, to);
        let SerfMessage::QueryResponse(ack) = SerfMessage::decode(&d.outbox[0].1).unwrap() else {
            panic!()
        };
        assert!(ack.ack() && ack.from.as_bytes() == b"me");
        assert!(matches!(
            &drain(&mut d)[..],
            [SerfEvent::Query { id: 1, .. }]
        ));
        d.respond(LamportTime(4), 1, b"up").unwrap();
        assert_eq!(
            d.respond(LamportTime(4), 1, b"again"),
            Err(SerfError::Respond(RespondError::AlreadySent))
        );
        // Filtered out: no ack, no event, but still re-broadcast.
        d.outbox.clear();
        let other = QueryParams {
            filter_nodes: vec!["someone-else".into()],
            ..Default::default()
        };
        d.notify_msg(&q(2, &other));
        assert!(d.outbox.is_empty() && drain(&mut d).is_empty());
        assert_eq!(d.get_broadcasts(2, 4000).len(), 2);
    }

    #[test]
    fn push_pull_state_round_trips_clocks_intents_and_events() {
        let mut a = delegate();
        a.notify_join(&node("me", b""));
        a.notify_join(&node("gone", b""));
        a.notify_msg(
            &SerfMessage::Leave(Leave {
                ltime: LamportTime(7),
                node: "gone".into(),
                prune: false,
            })
            .to_bytes(),
        );
        a.notify_leave(&node("gone", b""));
        a.user_event("deploy", b"v9", false).unwrap();
        let state = a.local_state(false);
        let mut b = SerfDelegate::new("other", SerfConfig::default(), StdRng::seed_from_u64(2));
        b.merge_remote_state(&state, false);
        // Witnessed 8 − 1 from the state, then 8 from the synthetic leave of `gone`
        // (its status time 7, plus one), as Go does.
        assert_eq!(b.clocks().0, LamportTime(9));
        let events = drain(&mut b);
        assert!(events
            .iter()
            .any(|e| matches!(e, SerfEvent::User { name, .. } if name == "deploy")));
        // The left member arrives later: it is known to be leaving, so its death is a leave.
        b.notify_join(&node("gone", b""));
        assert_eq!(b.member("gone").unwrap().status, MemberStatus::Leaving);
        // A joiner ignoring old events does not replay them.
        let mut c = SerfDelegate::new("c", SerfConfig::default(), StdRng::seed_from_u64(3));
        c.set_ignore_old_on_join(true);
        c.merge_remote_state(&state, true);
        assert!(!drain(&mut c)
            .iter()
            .any(|e| matches!(e, SerfEvent::User { .. })));
    }

    #[test]
    fn leave_intent_about_us_is_refuted_with_a_newer_join_intent() {
        let mut d = delegate();
        d.notify_join(&node("me", b""));
        let leave = SerfMessage::Leave(Leave {
            ltime: LamportTime(10),
            node: "me".into(),
            prune: false,
        })
        .to_bytes();
        d.notify_msg(&leave);
        assert_eq!(d.member("me").unwrap().status, MemberStatus::Alive);
        let sent = d.get_broadcasts(2, 1400);
        assert_eq!(sent.len(), 1, "only our join intent, not the leave");
        let SerfMessage::Join(j) = SerfMessage::decode(&sent[0]).unwrap() else {
            panic!("{sent:?}")
        };
        assert_eq!((j.node.as_bytes(), j.ltime), (&b"me"[..], LamportTime(11)));
        // Once we are leaving ourselves, our own leave intent is believed.
        d.start_leave();
        assert_eq!(d.member("me").unwrap().status, MemberStatus::Leaving);
    }
}
