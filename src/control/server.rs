//! The agent side of serf's RPC: answers every command serf's agent answers, over a
//! running [`Serf`].
//!
//! Each connection has its own task, so a slow or silent client holds up nobody
//! else; one that has not finished its handshake (and, with a token, its `auth`)
//! within [`ServerConfig::handshake_timeout`] is dropped. Writes go through a bounded
//! queue drained by a writer task with a timeout: answers wait for room, streamed
//! records are dropped when a client falls behind (as serf drops them).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::ByteBuf;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, Notify};
use tokio::task::JoinHandle;

use super::codec::{encode, AsyncValues, CodecError};
use super::errors::*;
use super::filter::EventFilter;
use super::log_bus::{Level, LogBus};
use super::messages::*;
use super::{AuthToken, IPC_VERSION};
use crate::serf::keys::go_base64;
use crate::serf::messages::InternalQuery;
use crate::serf::{
    LamportTime, MemberStatus, QueryAnswer, QueryParams, QueryResponses, Serf, SerfEvent,
    SerfMember,
};

/// A client that takes longer than this to take one answer is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames waiting for one client's writer.
const OUT_QUEUE: usize = 512;
/// Query events handed to one client that it may still `respond` to.
const MAX_PENDING_QUERIES: usize = 4096;

pub struct ServerConfig {
    /// `--rpc-auth`: when set, every client must `auth` with it first.
    pub auth: Option<AuthToken>,
    /// How long a new client has for its handshake (and `auth`).
    pub handshake_timeout: Duration,
    /// How long a `leave` waits for its broadcast.
    pub leave_timeout: Duration,
    /// `stats`' `event_handlers` section: `event:name` to script, as serf lists them.
    pub event_handlers: StringMap,
}

/// The RPC server of one agent. The agent feeds it every Serf event
/// ([`Server::publish_event`]) for `stream` clients and its log lines through the
/// [`LogBus`] for `monitor` clients.
pub struct Server {
    serf: Serf,
    config: ServerConfig,
    events: broadcast::Sender<SerfEvent>,
    logs: LogBus,
    left: Notify,
}

impl Server {
    pub fn new(serf: Serf, config: ServerConfig, logs: LogBus) -> Arc<Self> {
        Arc::new(Server {
            serf,
            config,
            events: broadcast::channel(LogBus::BACKLOG).0,
            logs,
            left: Notify::new(),
        })
    }

    /// Hands an event to the `stream` subscribers.
    pub fn publish_event(&self, e: &SerfEvent) {
        // No subscriber is not an error: nobody is streaming.
        let _ = self.events.send(e.clone());
    }

    /// Resolves once a client's `leave` has left the cluster: the agent should then
    /// shut down, as serf's does.
    pub async fn left(&self) {
        self.left.notified().await
    }

    /// Accepts clients until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((conn, peer)) => {
                    self.log(Level::Info, &format!("Accepted client: {peer}"));
                    tokio::spawn(self.clone().client(conn, peer));
                }
                Err(e) => {
                    self.log(Level::Err, &format!("Failed to accept client: {e}"));
                    // Out of descriptors, most likely: give others time to close.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn log(&self, level: Level, text: &str) {
        let line = self.logs.publish(level, "agent.ipc", text);
        if level >= Level::Warn {
            eprintln!("memberlist agent: {line}");
        }
    }

    async fn client(self: Arc<Self>, conn: TcpStream, peer: SocketAddr) {
        let (rd, mut wr) = conn.into_split();
        let (out, mut rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&frame)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
        });
        let mut c = Conn {
            server: self.clone(),
            peer,
            out,
            shaken: false,
            authed: false,
            streams: HashMap::new(),
            monitor: None,
            pending: Arc::new(Mutex::new(BTreeMap::new())),
            next_query_id: Arc::new(AtomicU64::new(0)),
        };
        let mut reader = AsyncValues::new(rd);
        let ready_by = tokio::time::Instant::now() + self.config.handshake_timeout;
        loop {
            let ready = c.shaken && (self.config.auth.is_none() || c.authed);
            let out = c.out.clone();
            let step = async {
                tokio::select! {
                    step = c.request(&mut reader) => step,
                    _ = out.closed() => Err("the client stopped reading answers".to_owned()),
                }
            };
            let step = if ready {
                step.await
            } else {
                match tokio::time::timeout_at(ready_by, step).await {
                    Ok(step) => step,
                    Err(_) => Err(format!(
                        "no handshake{} within {:?}: dropped",
                        if self.config.auth.is_some() {
                            " and auth"
                        } else {
                            ""
                        },
                        self.config.handshake_timeout
                    )),
                }
            };
            match step {
                Ok(Step::Next) => {}
                Ok(Step::Close) => break,
                Err(e) => {
                    self.log(Level::Warn, &format!("client {peer}: {e}"));
                    break;
                }
            }
        }
        drop(c);
        // Let queued answers (an error the client should see) go out.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, writer).await;
    }
}

enum Step {
    Next,
    Close,
}

/// One client connection's state.
struct Conn {
    server: Arc<Server>,
    peer: SocketAddr,
    out: mpsc::Sender<Vec<u8>>,
    shaken: bool,
    authed: bool,
    streams: HashMap<u64, JoinHandle<()>>,
    monitor: Option<(u64, JoinHandle<()>)>,
    /// Query events streamed to this client, by the ID it answers them with.
    pending: Arc<Mutex<BTreeMap<u64, (LamportTime, u32)>>>,
    next_query_id: Arc<AtomicU64>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        for (_, s) in self.streams.drain() {
            s.abort();
        }
        if let Some((_, m)) = self.monitor.take() {
            m.abort();
        }
    }
}

/// Commands whose request has no body.
const NO_BODY: [&str; 4] = ["members", "leave", "list-keys", "stats"];
/// Commands with a body.
const WITH_BODY: [&str; 16] = [
    "handshake",
    "auth",
    "event",
    "force-leave",
    "join",
    "members-filtered",
    "stream",
    "monitor",
    "stop",
    "install-key",
    "use-key",
    "remove-key",
    "tags",
    "query",
    "respond",
    "get-coordinate",
];

fn frame<B: Serialize>(seq: u64, error: &str, body: Option<&B>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(
        &ResponseHeader {
            error: error.to_owned(),
            seq,
        },
        &mut out,
    );
    if let Some(b) = body {
        encode(b, &mut out);
    }
    out
}

fn member(m: &SerfMember) -> Member {
    let v = &m.versions;
    Member {
        addr: ByteBuf::from(m.addr.clone()),
        delegate_cur: v.delegate_cur,
        delegate_max: v.delegate_max,
        delegate_min: v.delegate_min,
        name: m.name.clone(),
        port: m.port,
        protocol_cur: v.protocol_cur,
        protocol_max: v.protocol_max,
        protocol_min: v.protocol_min,
        status: m.status.name().to_owned(),
        tags: m.tags.clone(),
    }
}

fn err_string(r: Result<(), impl std::fmt::Display>) -> String {
    r.err().map(|e| e.to_string()).unwrap_or_default()
}

impl Conn {
    async fn reply<B: Serialize>(
        &self,
        seq: u64,
        error: &str,
        body: Option<&B>,
    ) -> Result<(), String> {
        self.out
            .send(frame(seq, error, body))
            .await
            .map_err(|_| "the client went away".to_owned())
    }

    async fn reply_header(&self, seq: u64, error: &str) -> Result<(), String> {
        self.reply::<()>(seq, error, None).await
    }

    async fn body<T: DeserializeOwned>(
        reader: &mut AsyncValues<OwnedReadHalf>,
        cmd: &str,
    ) -> Result<T, String> {
        reader.next().await.map_err(|e| match e {
            CodecError::Closed => "closed the connection".to_owned(),
            e => format!("{cmd}: decode failed: {e}"),
        })
    }

    async fn request(&mut self, reader: &mut AsyncValues<OwnedReadHalf>) -> Result<Step, String> {
        let header: RequestHeader = match reader.next().await {
            Ok(h) => h,
            Err(CodecError::Closed) => return Ok(Step::Close),
            Err(e) => return Err(format!("failed to decode request header: {e}")),
        };
        let (cmd, seq) = (header.command.as_str(), header.seq);
        let server = self.server.clone();
        let serf = &server.serf;
        if cmd != "handshake" && !self.shaken {
            self.reply_header(seq, HANDSHAKE_REQUIRED).await?;
            return Err(format!(
                "{cmd:?} before the handshake: {HANDSHAKE_REQUIRED}"
            ));
        }
        if !NO_BODY.contains(&cmd) && !WITH_BODY.contains(&cmd) {
            self.reply_header(seq, UNSUPPORTED_COMMAND).await?;
            return Err(format!("command {cmd:?} not recognized"));
        }
        if server.config.auth.is_some() && !self.authed && cmd != "auth" && cmd != "handshake" {
            if WITH_BODY.contains(&cmd) {
                reader.next_raw().await.map_err(|e| format!("{cmd}: {e}"))?;
            }
            server.log(
                Level::Warn,
                &format!("client {} sent {cmd:?} before auth", self.peer),
            );
            self.reply_header(seq, AUTH_REQUIRED).await?;
            return Ok(Step::Next);
        }
        match cmd {
            "handshake" => {
                let req: Handshake = Self::body(reader, cmd).await?;
                let error = if req.version != IPC_VERSION {
                    UNSUPPORTED_IPC_VERSION
                } else if self.shaken {
                    DUPLICATE_HANDSHAKE
                } else {
                    self.shaken = true;
                    ""
                };
                self.reply_header(seq, error).await?;
            }
            "auth" => {
                let req: Auth = Self::body(reader, cmd).await?;
                let ok = match &server.config.auth {
                    Some(t) => t.matches(&req.auth_key),
                    // serf compares with its empty key.
                    None => req.auth_key.is_empty(),
                };
                self.authed |= ok;
                if !ok {
                    server.log(
                        Level::Warn,
                        &format!("client {}: wrong auth token", self.peer),
                    );
                }
                self.reply_header(seq, if ok { "" } else { INVALID_AUTH_TOKEN })
                    .await?;
            }
            "event" => {
                let req: EventRequest = Self::body(reader, cmd).await?;
                let payload = req.payload.map(ByteBuf::into_vec).unwrap_or_default();
                let r = serf.user_event(req.name, payload, req.coalesce).await;
                self.reply_header(seq, &err_string(r.map(drop))).await?;
            }
            "force-leave" => {
                let req: ForceLeave = Self::body(reader, cmd).await?;
                server.log(Level::Info, &format!("Force leaving node: {}", req.node));
                let r = serf.force_leave(req.node, req.prune).await;
                self.reply_header(seq, &err_string(r)).await?;
            }
            "join" => {
                let req: Join = Self::body(reader, cmd).await?;
                let (num, error) = self.join(req).await;
                self.reply(seq, &error, Some(&JoinResponse { num })).await?;
            }
            "members" | "members-filtered" => {
                let filter = if cmd == "members-filtered" {
                    Self::body::<MembersFiltered>(reader, cmd).await?
                } else {
                    MembersFiltered::default()
                };
                let all = serf.members().await.map_err(|e| e.to_string())?;
                let (members, error) = match filter_members(&all, &filter) {
                    Ok(ms) => (ms.into_iter().map(member).collect(), String::new()),
                    Err(e) => (Vec::new(), e),
                };
                self.reply(seq, &error, Some(&MembersResponse { members }))
                    .await?;
            }
            "stream" => {
                let req: Stream = Self::body(reader, cmd).await?;
                let filters = EventFilter::parse_list(&req.kind);
                if !filters.iter().all(EventFilter::valid) {
                    self.reply_header(seq, INVALID_FILTER).await?;
                } else if self.streams.contains_key(&seq) {
                    self.reply_header(seq, STREAM_EXISTS).await?;
                } else {
                    let rx = server.events.subscribe();
                    self.reply_header(seq, "").await?;
                    let task = tokio::spawn(self.stream(rx, filters, seq));
                    self.streams.insert(seq, task);
                }
            }
            "monitor" => {
                let req: Monitor = Self::body(reader, cmd).await?;
                match (Level::parse(&req.log_level), &self.monitor) {
                    (None, _) => {
                        let e = format!("Unknown log level: {}", req.log_level.to_uppercase());
                        self.reply_header(seq, &e).await?;
                    }
                    (Some(_), Some(_)) => self.reply_header(seq, MONITOR_EXISTS).await?,
                    (Some(level), None) => {
                        let rx = server.logs.subscribe();
                        self.reply_header(seq, "").await?;
                        let task = tokio::spawn(self.monitor(rx, level, seq));
                        self.monitor = Some((seq, task));
                    }
                }
            }
            "stop" => {
                let req: Stop = Self::body(reader, cmd).await?;
                if self.monitor.as_ref().is_some_and(|(s, _)| *s == req.stop) {
                    if let Some((_, m)) = self.monitor.take() {
                        m.abort();
                    }
                }
                if let Some(s) = self.streams.remove(&req.stop) {
                    s.abort();
                }
                self.reply_header(seq, "").await?;
            }
            "leave" => {
                server.log(Level::Info, "Graceful leave triggered");
                let r = serf.leave(server.config.leave_timeout).await;
                if let Err(e) = &r {
                    server.log(Level::Err, &format!("leave failed: {e}"));
                }
                self.reply_header(seq, &err_string(r)).await?;
                server.left.notify_one();
            }
            "install-key" | "use-key" | "remove-key" => {
                let req: KeyRequest = Self::body(reader, cmd).await?;
                let kind = match cmd {
                    "install-key" => InternalQuery::InstallKey,
                    "use-key" => InternalQuery::UseKey,
                    _ => InternalQuery::RemoveKey,
                };
                server.log(Level::Info, &format!("Initiating key operation: {cmd}"));
                // As Go's key manager: only base64 is checked here; each member
                // reports a key of the wrong size itself.
                let (resp, error) = match go_base64(&req.key) {
                    Ok(key) => self.key_query(kind, key).await,
                    Err(e) => (KeyResponse::default(), e),
                };
                let resp = KeyResponse { keys: None, ..resp };
                self.reply(seq, &error, Some(&resp)).await?;
            }
            "list-keys" => {
                server.log(Level::Info, "Initiating key listing");
                let (resp, error) = self.key_query(InternalQuery::ListKeys, Vec::new()).await;
                self.reply(seq, &error, Some(&resp)).await?;
            }
            "tags" => {
                let req: TagsRequest = Self::body(reader, cmd).await?;
                let r = async {
                    let mut tags = serf.local_tags().await?;
                    tags.retain(|k, _| !req.delete_tags.contains(k));
                    tags.extend(req.tags);
                    let list: Vec<(String, String)> = tags.into_iter().collect();
                    serf.set_tags(&list).await
                }
                .await;
                self.reply_header(seq, &err_string(r)).await?;
            }
            "query" => {
                let req: QueryRequest = Self::body(reader, cmd).await?;
                let params = QueryParams {
                    filter_nodes: req.filter_nodes,
                    filter_tags: req.filter_tags.into_iter().collect(),
                    request_ack: req.request_ack,
                    relay_factor: req.relay_factor,
                    timeout: (req.timeout > 0).then(|| Duration::from_nanos(req.timeout as u64)),
                };
                let payload = req.payload.map(ByteBuf::into_vec).unwrap_or_default();
                match serf.query_stream(req.name, payload, params).await {
                    Ok(q) => {
                        self.reply_header(seq, "").await?;
                        tokio::spawn(stream_query(q, seq, self.out.clone()));
                    }
                    Err(e) => self.reply_header(seq, &e.to_string()).await?,
                }
            }
            "respond" => {
                let req: Respond = Self::body(reader, cmd).await?;
                let found = self
                    .pending
                    .lock()
                    .map_or(None, |p| p.get(&req.id).copied());
                let error = match found {
                    Some((ltime, id)) => {
                        let payload = req.payload.map(ByteBuf::into_vec).unwrap_or_default();
                        err_string(serf.respond(ltime, id, payload).await)
                    }
                    None => INVALID_QUERY_ID.to_owned(),
                };
                self.reply_header(seq, &error).await?;
            }
            "stats" => {
                let stats = self.stats().await.map_err(|e| e.to_string())?;
                self.reply(seq, "", Some(&stats)).await?;
            }
            "get-coordinate" => {
                let req: NodeRequest = Self::body(reader, cmd).await?;
                let c = serf.coordinate(req.node).await.map_err(|e| e.to_string())?;
                let resp = CoordinateResponse {
                    ok: c.is_some(),
                    coord: c
                        .map(|c| Coord {
                            adjustment: c.adjustment,
                            error: c.error,
                            height: c.height,
                            vec: c.vec,
                        })
                        .unwrap_or_default(),
                };
                self.reply(seq, "", Some(&resp)).await?;
            }
            _ => unreachable!("every command is listed in NO_BODY or WITH_BODY"),
        }
        Ok(Step::Next)
    }

    async fn join(&self, req: Join) -> (i32, String) {
        let server = &self.server;
        server.log(
            Level::Info,
            &format!("joining: {:?} replay: {}", req.existing, req.replay),
        );
        let default_port = server.serf.local_addr().port();
        let mut addrs = Vec::new();
        for a in &req.existing {
            match resolve(a, default_port) {
                Ok(mut found) => addrs.append(&mut found),
                Err(e) => server.log(Level::Warn, &format!("error joining: {a}: {e}")),
            }
        }
        if addrs.is_empty() {
            return (0, format!("no address to join in {:?}", req.existing));
        }
        match server.serf.join_replaying(addrs, req.replay).await {
            Ok(n) => {
                server.log(Level::Info, &format!("joined: {n} nodes"));
                (n as i32, String::new())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    /// A key query, reported as serf's key manager does.
    async fn key_query(&self, kind: InternalQuery, key: Vec<u8>) -> (KeyResponse, String) {
        let report = match self
            .server
            .serf
            .key_query_bytes(kind, key, QueryParams::default())
            .await
        {
            Ok(r) => r,
            Err(e) => return (KeyResponse::default(), e.to_string()),
        };
        let mut resp = KeyResponse {
            keys: Some(BTreeMap::new()),
            num_nodes: report.members as i64,
            ..KeyResponse::default()
        };
        for (node, a) in &report.answers {
            resp.num_resp += 1;
            if !a.result {
                resp.num_err += 1;
            }
            if !a.result || !a.message.is_empty() {
                resp.messages.insert(node.clone(), a.message.clone());
            }
            for k in a.keys.iter().flatten() {
                *resp
                    .keys
                    .get_or_insert_default()
                    .entry(k.clone())
                    .or_default() += 1;
            }
        }
        let error = if resp.num_err != 0 {
            format!("{}/{} nodes reported failure", resp.num_err, resp.num_nodes)
        } else if resp.num_resp != resp.num_nodes {
            format!(
                "{}/{} nodes reported success",
                resp.num_resp, resp.num_nodes
            )
        } else {
            String::new()
        };
        (resp, error)
    }

    async fn stats(&self) -> Result<Stats, crate::serf::ShellError> {
        let serf = &self.server.serf;
        let members = serf.members().await?;
        let tags = serf.local_tags().await?;
        let (name, health, encrypted, clocks, queues, resets) = serf
            .memberlist()
            .with(|m, _| {
                let encrypted = m.keyring_mut().is_some_and(|k| !k.keys().is_empty());
                let d = m.delegate();
                (
                    m.local_member().name.clone(),
                    m.health_score(),
                    encrypted,
                    d.clocks(),
                    d.queue_lengths(),
                    d.coordinate_resets(),
                )
            })
            .await?;
        let count = |s: MemberStatus| members.iter().filter(|m| m.status == s).count();
        let section = |pairs: Vec<(&str, String)>| -> StringMap {
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut stats = Stats::new();
        stats.insert("agent".into(), section(vec![("name", name)]));
        stats.insert(
            "runtime".into(),
            section(vec![
                ("os", std::env::consts::OS.to_owned()),
                ("arch", go_arch().to_owned()),
                (
                    "version",
                    concat!("memberlist-interop ", env!("CARGO_PKG_VERSION")).to_owned(),
                ),
                ("max_procs", cpus.to_string()),
                (
                    "goroutines",
                    tokio::runtime::Handle::current()
                        .metrics()
                        .num_alive_tasks()
                        .to_string(),
                ),
                ("cpu_count", cpus.to_string()),
            ]),
        );
        stats.insert(
            "serf".into(),
            section(vec![
                ("members", members.len().to_string()),
                ("failed", count(MemberStatus::Failed).to_string()),
                ("left", count(MemberStatus::Left).to_string()),
                ("health_score", health.to_string()),
                ("member_time", clocks.0 .0.to_string()),
                ("event_time", clocks.1 .0.to_string()),
                ("query_time", clocks.2 .0.to_string()),
                ("intent_queue", queues.0.to_string()),
                ("event_queue", queues.1.to_string()),
                ("query_queue", queues.2.to_string()),
                ("encrypted", encrypted.to_string()),
                ("coordinate_resets", resets.to_string()),
            ]),
        );
        stats.insert("tags".into(), tags);
        stats.insert(
            "event_handlers".into(),
            self.server.config.event_handlers.clone(),
        );
        Ok(stats)
    }

    /// Sends this client the events that pass `filters`, under `seq`.
    fn stream(
        &self,
        mut rx: broadcast::Receiver<SerfEvent>,
        filters: Vec<EventFilter>,
        seq: u64,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (out, server, peer) = (self.out.clone(), self.server.clone(), self.peer);
        let (pending, next_id) = (self.pending.clone(), self.next_query_id.clone());
        async move {
            loop {
                let e = match rx.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        server.log(Level::Warn, &format!("Dropping {n} events to {peer}"));
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if !filters.iter().any(|f| f.matches(&e)) {
                    continue;
                }
                let record = match e {
                    SerfEvent::Member { kind, member: m } => EventRecord::Member {
                        event: kind.name().to_owned(),
                        members: vec![member(&m)],
                    },
                    SerfEvent::User {
                        ltime,
                        name,
                        payload,
                        coalesce,
                    } => EventRecord::User {
                        coalesce,
                        event: "user".into(),
                        ltime: ltime.0,
                        name,
                        payload: payload.map(ByteBuf::from),
                    },
                    SerfEvent::Query {
                        ltime,
                        id,
                        name,
                        payload,
                        ..
                    } => {
                        let ours = next_id.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Ok(mut p) = pending.lock() {
                            p.insert(ours, (ltime, id));
                            while p.len() > MAX_PENDING_QUERIES {
                                p.pop_first();
                            }
                        }
                        EventRecord::Query {
                            event: "query".into(),
                            id: ours,
                            ltime: ltime.0,
                            name,
                            payload: payload.map(ByteBuf::from),
                        }
                    }
                };
                match out.try_send(frame(seq, "", Some(&record))) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        server.log(Level::Warn, &format!("Dropping event to {peer}"))
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        }
    }

    /// Sends this client the log lines at `level` or above, under `seq`.
    fn monitor(
        &self,
        mut rx: broadcast::Receiver<super::log_bus::LogLine>,
        level: Level,
        seq: u64,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let out = self.out.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(l) if l.level >= level => {
                        let record = LogRecord { log: l.line };
                        if let Err(mpsc::error::TrySendError::Closed(_)) =
                            out.try_send(frame(seq, "", Some(&record)))
                        {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}

/// Streams a query's acks and answers as they arrive, then `done` at its deadline.
async fn stream_query(mut answers: QueryResponses, seq: u64, out: mpsc::Sender<Vec<u8>>) {
    loop {
        let record = match answers.next().await {
            Some(QueryAnswer::Ack { from }) => QueryRecord {
                from,
                payload: None,
                kind: "ack".into(),
            },
            Some(QueryAnswer::Response { from, payload }) => QueryRecord {
                from,
                payload: Some(ByteBuf::from(payload)),
                kind: "response".into(),
            },
            None => QueryRecord {
                from: String::new(),
                payload: None,
                kind: "done".into(),
            },
        };
        let done = record.kind == "done";
        if out.send(frame(seq, "", Some(&record))).await.is_err() || done {
            return;
        }
    }
}

/// serf's `members-filtered`: every expression anchored at both ends; an empty
/// status or name matches all, a tag filter an absent tag only if it matches "".
fn filter_members<'a>(
    members: &'a [SerfMember],
    f: &MembersFiltered,
) -> Result<Vec<&'a SerfMember>, String> {
    let compile = |e: &str| {
        regex_lite::Regex::new(&format!("^{e}$"))
            .map_err(|err| format!("Failed to compile regex: {err}"))
    };
    let tags = f
        .tags
        .iter()
        .map(|(k, e)| Ok((k, compile(e)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let status = compile(&f.status)?;
    let name = compile(&f.name)?;
    Ok(members
        .iter()
        .filter(|m| {
            tags.iter()
                .all(|(k, re)| re.is_match(m.tags.get(*k).map_or("", String::as_str)))
                && (f.status.is_empty() || status.is_match(m.status.name()))
                && (f.name.is_empty() || name.is_match(&m.name))
        })
        .collect())
}

/// A join address as memberlist takes it: `ip`, `ip:port`, `host` or `host:port`
/// (the port defaults to ours, as Go's does).
fn resolve(addr: &str, default_port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    if let Ok(ip) = addr.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, default_port)]);
    }
    let with_port = match addr.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => addr.to_owned(),
        _ => format!("{addr}:{default_port}"),
    };
    with_port
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|e| e.to_string())
}

/// Go's name for this architecture, as serf's `runtime` section reports it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Versions;
    use crate::serf::LamportTime;

    fn m(name: &str, status: MemberStatus, tags: &[(&str, &str)]) -> SerfMember {
        SerfMember {
            name: name.into(),
            addr: vec![127, 0, 0, 1],
            port: 7946,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            status,
            versions: Versions::default(),
            status_ltime: LamportTime(0),
            leave_time: None,
        }
    }

    #[test]
    fn member_filters_are_anchored_regular_expressions() {
        let ms = [
            m("web-1", MemberStatus::Alive, &[("role", "web")]),
            m("web-10", MemberStatus::Failed, &[("role", "web")]),
            m("db-1", MemberStatus::Alive, &[("role", "db")]),
        ];
        let names = |f: MembersFiltered| -> Vec<String> {
            filter_members(&ms, &f)
                .unwrap()
                .iter()
                .map(|m| m.name.clone())
                .collect()
        };
        let tag = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
        assert_eq!(
            names(MembersFiltered {
                tags: tag("role", "web"),
                ..Default::default()
            }),
            ["web-1", "web-10"]
        );
        assert_eq!(
            names(MembersFiltered {
                status: "alive".into(),
                ..Default::default()
            }),
            ["web-1", "db-1"]
        );
        assert_eq!(
            names(MembersFiltered {
                name: "web-.".into(),
                ..Default::default()
            }),
            ["web-1"]
        );
        // An absent tag is "".
        assert_eq!(
            names(MembersFiltered {
                tags: tag("dc", ""),
                ..Default::default()
            })
            .len(),
            3
        );
        let bad = MembersFiltered {
            name: "(".into(),
            ..Default::default()
        };
        assert!(filter_members(&ms, &bad)
            .unwrap_err()
            .starts_with("Failed to compile regex"));
    }

    #[test]
    fn join_addresses_take_our_port_by_default() {
        assert_eq!(
            resolve("127.0.0.1", 7950).unwrap(),
            ["127.0.0.1:7950".parse().unwrap()]
        );
        assert_eq!(
            resolve("127.0.0.1:8000", 7950).unwrap(),
            ["127.0.0.1:8000".parse().unwrap()]
        );
        assert!(resolve("localhost", 7950)
            .unwrap()
            .iter()
            .all(|a| a.port() == 7950));
    }
}
