//! A running Serf member: the node's tokio shell ([`Memberlist`]) with a
//! [`SerfDelegate`], plus the few async steps Serf adds around it (join then join
//! intent, leave intent before the memberlist leave, waiting for query deadlines).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::coordinate::Coordinate;
use super::key_manager::KeyManager;
use super::keys::{self, KeyAnswer};
use super::lamport::LamportTime;
use super::layer::{
    configure_node, tags_meta, SerfConfig, SerfDelegate, SerfError, SerfEvent, SerfState,
};
use super::member_state::SerfMember;
use super::messages::InternalQuery;
use super::query::{QueryParams, QueryResult};
use super::snapshot::{Snapshot, SnapshotError};
use super::stats::SerfDiagnostic;
use super::streams::{QueryAnswer, QueryResponses, SerfEvents};
use crate::node::{Config, Diagnostic, Memberlist, NodeError, RuntimeError};
use crate::wire::{SecretKey, WireError};
use rand::seq::SliceRandom;
use tokio::sync::Notify;

/// Go's `LeavePropagateDelay` for Serf: time for the leave to spread after it is sent.
pub const LEAVE_PROPAGATE_DELAY: Duration = Duration::from_secs(1);
/// Go's `BroadcastTimeout`: how long a tag update waits for its alive message to be
/// gossiped before reporting a timeout.
pub const BROADCAST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the shell looks for a query's new answers: the layer does not wake
/// the shell for answers, and a query lasts seconds.
pub(super) const POLL: Duration = Duration::from_millis(20);

/// Why the running Serf member could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The member underneath refused or is gone.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The Serf layer refused (event or query too large, not running…).
    #[error(transparent)]
    Serf(#[from] SerfError),
    /// The tags do not fit node meta.
    #[error("tags: {0}")]
    Tags(#[source] WireError),
    /// The snapshot could not be opened or read.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Our leave intent was still queued at the deadline.
    #[error("timed out waiting for the leave intent to be sent")]
    LeaveTimeout,
    /// A key query that not every member answered with success.
    #[error("{0}")]
    Keys(KeyReport),
    /// A force-leave or similar intent was still queued at the deadline.
    #[error("timed out broadcasting {0}")]
    BroadcastTimeout(&'static str),
}

/// Every node's answer to one key query, as `serf keys` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// Live members when the query was sent: how many answers were expected.
    pub members: usize,
    /// Each answering node's answer.
    pub answers: Vec<(String, KeyAnswer)>,
}

impl KeyReport {
    /// Nodes that failed (answered false or with garbage).
    pub fn failures(&self) -> impl Iterator<Item = &(String, KeyAnswer)> {
        self.answers.iter().filter(|(_, a)| !a.result)
    }

    /// Go's rule: every member answered, and every answer is a success.
    pub fn ok(&self) -> bool {
        self.answers.len() >= self.members && self.failures().next().is_none()
    }

    /// For a list query: each key (base64) and how many members hold it.
    pub fn keys(&self) -> BTreeMap<String, usize> {
        let mut count = BTreeMap::new();
        for (_, answer) in &self.answers {
            for key in answer.keys.iter().flatten() {
                *count.entry(key.clone()).or_insert(0) += 1;
            }
        }
        count
    }

    /// For a list query: each primary key (base64) and how many members use it.
    /// More than one entry means a rotation is under way (or stuck).
    pub fn primary_keys(&self) -> BTreeMap<String, usize> {
        let mut count = BTreeMap::new();
        for (_, answer) in &self.answers {
            if !answer.primary_key.is_empty() {
                *count.entry(answer.primary_key.clone()).or_insert(0) += 1;
            }
        }
        count
    }
}

impl std::fmt::Display for KeyReport {
    /// What `serf keys` says on failure: who answered, and each failure's message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key query answered by {} of {} members",
            self.answers.len(),
            self.members
        )?;
        for (node, answer) in self.failures() {
            write!(f, "; {node}: {}", answer.message)?;
        }
        Ok(())
    }
}

/// A handle to a running Serf member; clones share it.
#[derive(Clone, Debug)]
pub struct Serf {
    node: Memberlist<SerfDelegate>,
    /// Signalled by the layer when events are ready (see [`Serf::events_ready`]).
    ready: Arc<Notify>,
}

impl Serf {
    /// Starts a member advertising `tags` and Serf protocol `protocol`.
    pub async fn start(
        mut config: Config,
        serf: SerfConfig,
        tags: &[(String, String)],
        protocol: u8,
    ) -> Result<Self, ShellError> {
        configure_node(&mut config, protocol);
        let meta = tags_meta(tags).map_err(ShellError::Tags)?;
        let serf = SerfConfig {
            retransmit_mult: config.retransmit_mult,
            ..serf
        };
        let snapshot = match &serf.snapshot_path {
            Some(path) => Some(Snapshot::open(path, serf.rejoin_after_leave)?),
            None => None,
        };
        let mut delegate = SerfDelegate::new(&config.name, serf, rand::SeedableRng::from_entropy());
        let ready = Arc::new(Notify::new());
        let wake = ready.clone();
        delegate.set_event_waker(move || wake.notify_one());
        if let Some(snapshot) = snapshot {
            delegate.restore(snapshot);
        }
        let node = Memberlist::start(config, meta, delegate).await?;
        Ok(Serf { node, ready })
    }

    /// The memberlist member underneath.
    pub fn memberlist(&self) -> &Memberlist<SerfDelegate> {
        &self.node
    }

    /// The address we advertise.
    pub fn local_addr(&self) -> SocketAddr {
        self.node.local_addr()
    }

    /// Joins through `peers` without replaying their old events, then announces the
    /// join with an intent.
    pub async fn join(&self, peers: Vec<SocketAddr>) -> Result<usize, ShellError> {
        self.join_replaying(peers, false).await
    }

    /// [`Serf::join`], but with `replay` the peers' recent user events are delivered
    /// here again (serf's `join -replay`).
    pub async fn join_replaying(
        &self,
        peers: Vec<SocketAddr>,
        replay: bool,
    ) -> Result<usize, ShellError> {
        self.node
            .with(move |m, _| m.delegate_mut().set_ignore_old_on_join(!replay))
            .await?;
        let joined = self.node.join(peers).await;
        let any = matches!(joined, Ok(n) if n > 0);
        self.node
            .with(move |m, _| {
                let d = m.delegate_mut();
                d.set_ignore_old_on_join(false);
                if any {
                    d.broadcast_join();
                }
            })
            .await?;
        Ok(joined?)
    }

    /// Go's `handleRejoin`: tries the members the snapshot last saw alive, in random
    /// order, until one join succeeds. Returns how many there were to try and the
    /// one we joined through.
    pub async fn rejoin(&self) -> Result<(usize, Option<(String, SocketAddr)>), ShellError> {
        let mut previous = self
            .node
            .with(|m, _| m.delegate_mut().take_previous())
            .await?;
        previous.shuffle(&mut rand::thread_rng());
        for (name, addr) in &previous {
            if matches!(self.node.join(vec![*addr]).await, Ok(n) if n > 0) {
                return Ok((previous.len(), Some((name.clone(), *addr))));
            }
        }
        Ok((previous.len(), None))
    }

    /// Sends a user event to every member (Go's `UserEvent`); we deliver it too.
    /// With `coalesce`, members that coalesce keep only the latest of a burst.
    /// Returns the event's Lamport time.
    pub async fn user_event(
        &self,
        name: String,
        payload: Vec<u8>,
        coalesce: bool,
    ) -> Result<LamportTime, ShellError> {
        Ok(self
            .node
            .with(move |m, _| m.delegate_mut().user_event(&name, &payload, coalesce))
            .await??)
    }

    /// Replaces our tags (Go's `SetTags`): re-encodes the node meta, refusing tags
    /// that do not fit its 512 bytes, and gossips it with a new incarnation. Members,
    /// this one included, see a member-update.
    pub async fn set_tags(&self, tags: &[(String, String)]) -> Result<(), ShellError> {
        let meta = tags_meta(tags).map_err(ShellError::Tags)?;
        self.node.update_meta(meta, BROADCAST_TIMEOUT).await?;
        Ok(())
    }

    /// Our own tags as the Serf layer knows them.
    pub async fn local_tags(&self) -> Result<BTreeMap<String, String>, ShellError> {
        Ok(self
            .node
            .with(|m, _| {
                let name = &m.local_member().name;
                m.delegate()
                    .member(name)
                    .map(|s| s.tags.clone())
                    .unwrap_or_default()
            })
            .await?)
    }

    /// Sends a query and waits for its deadline; returns the acks and answers.
    pub async fn query(
        &self,
        name: String,
        payload: Vec<u8>,
        params: QueryParams,
    ) -> Result<QueryResult, ShellError> {
        self.query_stream(name, payload, params)
            .await?
            .finish()
            .await
    }

    /// Sends a query (Go's `Serf.Query`) and returns its answers as they arrive:
    /// every node's ack (when `params.request_ack`) and response, once each, until
    /// the deadline (`params.timeout`, or Serf's default for the cluster's size).
    pub async fn query_stream(
        &self,
        name: String,
        payload: Vec<u8>,
        params: QueryParams,
    ) -> Result<QueryResponses, ShellError> {
        let (ltime, id, wait) = self
            .node
            .with(move |m, now| {
                SerfDelegate::query(m, now, &name, &payload, &params)
                    .map(|(l, i, deadline)| (l, i, deadline.saturating_since(now)))
            })
            .await??;
        Ok(QueryResponses::follow(self.clone(), ltime, id, wait))
    }

    /// Answers query `(ltime, id)` from a [`SerfEvent::Query`], once, before its
    /// deadline.
    pub async fn respond(
        &self,
        ltime: LamportTime,
        id: u32,
        payload: Vec<u8>,
    ) -> Result<(), ShellError> {
        Ok(self
            .node
            .with(move |m, _| m.delegate_mut().respond(ltime, id, &payload))
            .await??)
    }

    /// Runs a key query cluster-wide (`key` is `None` for a list), waiting Serf's
    /// default query timeout for the cluster's size.
    pub async fn key_query(
        &self,
        kind: InternalQuery,
        key: Option<SecretKey>,
    ) -> Result<KeyReport, ShellError> {
        self.key_query_with(kind, key, QueryParams::default()).await
    }

    /// [`Self::key_query`] with the query's parameters (its timeout, relays).
    pub async fn key_query_with(
        &self,
        kind: InternalQuery,
        key: Option<SecretKey>,
        params: QueryParams,
    ) -> Result<KeyReport, ShellError> {
        let raw = key.as_ref().map_or(&[][..], SecretKey::as_bytes).to_vec();
        self.key_query_bytes(kind, raw, params).await
    }

    /// [`Self::key_query_with`] with the key's bytes as given, unchecked, as Go's key
    /// manager sends them: each member then reports a bad size itself. Like Go's key
    /// manager it is done when every member answered, or at the deadline.
    pub async fn key_query_bytes(
        &self,
        kind: InternalQuery,
        key: Vec<u8>,
        params: QueryParams,
    ) -> Result<KeyReport, ShellError> {
        let members = self.node.with(|m, _| m.num_members()).await?;
        let payload = keys::request_payload_bytes(&key);
        let mut answers = self
            .query_stream(kind.name().to_owned(), payload, params)
            .await?;
        let mut result = QueryResult::default();
        while result.responses.len() < members {
            match answers.next().await {
                Some(QueryAnswer::Response { from, payload }) => {
                    result.responses.insert(from, payload);
                }
                Some(QueryAnswer::Ack { from }) => result.acks.push(from),
                None => break,
            }
        }
        let answers = result
            .responses
            .into_iter()
            .map(|(node, p)| {
                let a = keys::decode_answer(&p).unwrap_or_else(|| KeyAnswer {
                    message: "invalid key response".into(),
                    ..Default::default()
                });
                (node, a)
            })
            .collect();
        Ok(KeyReport { members, answers })
    }

    /// Go's `RemoveFailedNode` / force-leave: marks `node` left (forgotten with
    /// `prune`) and waits for the intent to be gossiped.
    pub async fn force_leave(&self, node: String, prune: bool) -> Result<(), ShellError> {
        let Some(id) = self
            .node
            .with(move |m, _| m.delegate_mut().force_leave(&node, prune))
            .await?
        else {
            return Ok(());
        };
        let until = tokio::time::Instant::now() + BROADCAST_TIMEOUT;
        while !self
            .node
            .with(move |m, _| m.delegate().intent_sent(id))
            .await?
        {
            if tokio::time::Instant::now() >= until {
                return Err(ShellError::BroadcastTimeout("node removal"));
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// The last coordinate `node` sent us (our own for our name), as Go's
    /// `GetCachedCoordinate`.
    pub async fn coordinate(&self, node: String) -> Result<Option<Coordinate>, ShellError> {
        Ok(self
            .node
            .with(move |m, _| {
                if m.local_member().name == node {
                    Some(m.delegate().coordinate())
                } else {
                    m.delegate().peer_coordinate(&node).cloned()
                }
            })
            .await?)
    }

    /// Resolves once events may be waiting for [`Serf::events`] (possibly ones an
    /// earlier call already took). Cancel-safe, so it can sit in a `select!`.
    pub async fn events_ready(&self) {
        self.ready.notified().await
    }

    /// Events since the last call.
    pub async fn events(&self) -> Result<Vec<SerfEvent>, ShellError> {
        Ok(self
            .node
            .with(|m, _| std::iter::from_fn(|| m.delegate_mut().poll_event()).collect())
            .await?)
    }

    /// The node's and the Serf layer's diagnostics since the last call.
    pub async fn diagnostics(&self) -> Result<(Vec<Diagnostic>, Vec<SerfDiagnostic>), ShellError> {
        Ok(self
            .node
            .with(|m, _| {
                let node: Vec<_> = std::iter::from_fn(|| m.poll_diagnostic()).collect();
                let serf: Vec<_> =
                    std::iter::from_fn(|| m.delegate_mut().stats_mut().poll()).collect();
                (node, serf)
            })
            .await?)
    }

    /// Our Serf state; [`SerfState::Shutdown`] after losing a name conflict.
    pub async fn state(&self) -> Result<SerfState, ShellError> {
        Ok(self.node.with(|m, _| m.delegate().state()).await?)
    }

    /// Go's `Members`: every member Serf knows, ourselves included, with tags and
    /// status; left and failed members stay listed until reaped.
    pub async fn members(&self) -> Result<Vec<SerfMember>, ShellError> {
        Ok(self
            .node
            .with(|m, _| m.delegate().members().cloned().collect())
            .await?)
    }

    /// Leaves gracefully: leave intent first (so peers say "left", not "failed"),
    /// then memberlist's leave, then a moment for both to spread.
    pub async fn leave(&self, timeout: Duration) -> Result<(), ShellError> {
        let id = self
            .node
            .with(|m, _| m.delegate_mut().start_leave())
            .await?;
        let until = tokio::time::Instant::now() + timeout;
        while !self
            .node
            .with(move |m, _| m.delegate().intent_sent(id))
            .await?
        {
            if tokio::time::Instant::now() >= until {
                return Err(ShellError::LeaveTimeout);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.node.leave(timeout).await?;
        tokio::time::sleep(LEAVE_PROPAGATE_DELAY).await;
        self.node.with(|m, _| m.delegate_mut().set_left()).await?;
        Ok(())
    }

    /// Our own entry (Go's `LocalMember`): name, address, tags, status.
    pub async fn local_member(&self) -> Result<SerfMember, ShellError> {
        let me = self
            .node
            .with(|m, _| {
                let name = &m.local_member().name;
                m.delegate()
                    .member(name)
                    .cloned()
                    .ok_or_else(|| name.clone())
            })
            .await?;
        // The layer learns of us from the node's own first alive, inside start.
        me.map_err(|name| RuntimeError::Node(NodeError::UnknownMember(name)).into())
    }

    /// Go's `NumNodes`: how many members [`Self::members`] lists.
    pub async fn num_members(&self) -> Result<usize, ShellError> {
        Ok(self
            .node
            .with(|m, _| m.delegate().members().count())
            .await?)
    }

    /// The member's events as a stream. Spawns the task that feeds it; the events
    /// it takes no longer come out of [`Self::events`]. Like Go's, the member runs
    /// until [`Self::shutdown`], even when only the stream is left.
    pub fn event_stream(&self) -> SerfEvents {
        SerfEvents::follow(self.clone())
    }

    /// Go's `KeyManager`: rotates the gossip key on every member through Serf's key
    /// queries.
    pub fn key_manager(&self) -> KeyManager {
        KeyManager::new(self.clone())
    }

    /// Stops the member without leaving (Go's `Shutdown`); call [`Self::leave`]
    /// first to let the others know. Ends the event streams.
    pub async fn shutdown(&self) -> Result<(), ShellError> {
        self.node.shutdown().await?;
        // Wakes an event stream's task, which then finds the member gone and ends:
        // waiting now (notify_waiters) or about to wait (the permit notify_one keeps).
        self.ready.notify_waiters();
        self.ready.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use std::path::PathBuf;

    use super::*;
    use crate::serf::{keyring_file, MemberEventKind};

    fn config(name: &str) -> Config {
        Config {
            name: name.to_owned(),
            bind_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            bind_port: 0,
            advertise_port: 0,
            ..Config::local()
        }
    }

    fn pairs(tags: &[(&str, &str)]) -> Vec<(String, String)> {
        tags.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn set_tags_reencodes_meta_and_reports_an_update() {
        let serf = Serf::start(
            config("t1"),
            SerfConfig::default(),
            &pairs(&[("role", "a")]),
            5,
        )
        .await
        .unwrap();
        serf.events().await.unwrap();
        serf.set_tags(&pairs(&[("role", "b"), ("dc", "x")]))
            .await
            .unwrap();
        let want: BTreeMap<String, String> =
            pairs(&[("dc", "x"), ("role", "b")]).into_iter().collect();
        assert_eq!(serf.local_tags().await.unwrap(), want);
        let meta = serf
            .memberlist()
            .with(|m, _| m.local_member().meta.clone())
            .await
            .unwrap();
        assert_eq!(
            meta,
            tags_meta(&pairs(&[("dc", "x"), ("role", "b")])).unwrap()
        );
        let events = serf.events().await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e, SerfEvent::Member { kind: MemberEventKind::Update, member } if member.tags == want)),
            "{events:?}"
        );

        // Tags beyond the 512-byte meta: refused, the old ones stay.
        let err = serf
            .set_tags(&pairs(&[("big", &"x".repeat(600))]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ShellError::Tags(WireError::TagsTooLarge(n)) if n > 512),
            "{err}"
        );
        assert_eq!(serf.local_tags().await.unwrap(), want);
        serf.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn key_changes_rewrite_the_keyring_file_and_a_failed_write_fails_the_answer() {
        let dir = std::env::temp_dir().join(format!("shell-keyring-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keyring");
        let (k1, k2) = (
            SecretKey::new(&[1; 32]).unwrap(),
            SecretKey::new(&[2; 32]).unwrap(),
        );
        let start = |file: PathBuf| {
            let mut c = config("k1");
            c.keyring = Some(crate::wire::Keyring::new(k1.clone()));
            Serf::start(
                c,
                SerfConfig {
                    keyring_file: Some(file),
                    ..SerfConfig::default()
                },
                &[],
                5,
            )
        };
        let serf = start(path.clone()).await.unwrap();
        let report = serf
            .key_query(InternalQuery::InstallKey, Some(k2.clone()))
            .await
            .unwrap();
        assert!(report.ok(), "{report:?}");
        let on_disk = keyring_file::load(&path).unwrap();
        assert_eq!(on_disk.keys(), [k1.clone(), k2.clone()]);
        serf.key_query(InternalQuery::UseKey, Some(k2.clone()))
            .await
            .unwrap();
        serf.key_query(InternalQuery::RemoveKey, Some(k1.clone()))
            .await
            .unwrap();
        assert_eq!(
            keyring_file::load(&path).unwrap().keys(),
            std::slice::from_ref(&k2)
        );
        serf.shutdown().await.unwrap();

        // The file cannot be written: the key is installed, but the answer says why
        // the change will not survive a restart.
        let serf = start(dir.join("missing-dir").join("keyring"))
            .await
            .unwrap();
        let report = serf
            .key_query(InternalQuery::InstallKey, Some(k2))
            .await
            .unwrap();
        assert!(!report.ok());
        assert!(
            report.answers[0].1.message.contains("missing-dir"),
            "{report:?}"
        );
        serf.shutdown().await.unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_query_streams_answers_and_fails_when_the_member_stops_first() {
        use crate::serf::QueryAnswer;
        let serf = Serf::start(config("q1"), SerfConfig::default(), &[], 5)
            .await
            .unwrap();
        let mut events = serf.event_stream();
        let params = |ms| QueryParams {
            request_ack: true,
            timeout: Some(Duration::from_millis(ms)),
            ..QueryParams::default()
        };
        let mut answers = serf
            .query_stream("who".into(), b"x".to_vec(), params(800))
            .await
            .unwrap();
        let (ltime, id) = loop {
            match events.next().await {
                Some(SerfEvent::Query { ltime, id, .. }) => break (ltime, id),
                Some(_) => continue,
                None => panic!("event stream ended before the query"),
            }
        };
        assert_eq!((ltime, id), (answers.ltime(), answers.id()));
        serf.respond(ltime, id, b"me".to_vec()).await.unwrap();
        let mut got = Vec::new();
        while let Some(a) = answers.next().await {
            got.push(a);
        }
        assert_eq!(
            got,
            [
                QueryAnswer::Ack { from: "q1".into() },
                QueryAnswer::Response {
                    from: "q1".into(),
                    payload: b"me".to_vec()
                }
            ]
        );

        // The member stops before the deadline: the answers so far are no result.
        let pending = serf
            .query_stream("who".into(), Vec::new(), params(10_000))
            .await
            .unwrap();
        serf.shutdown().await.unwrap();
        let finished = tokio::time::timeout(Duration::from_secs(5), pending.finish())
            .await
            .expect("the follower notices the shutdown");
        assert!(
            matches!(finished, Err(ShellError::Runtime(RuntimeError::Shutdown))),
            "{finished:?}"
        );
        let rest = tokio::time::timeout(Duration::from_secs(5), async {
            while events.next().await.is_some() {}
        })
        .await;
        assert!(rest.is_ok(), "the event stream ends after shutdown");
    }

    #[tokio::test]
    async fn coalescing_user_events_deliver_only_the_latest_per_name() {
        let serf = Serf::start(
            config("c1"),
            SerfConfig {
                user_coalesce_period: Duration::from_secs(2),
                user_quiescent_period: Duration::from_millis(200),
                ..SerfConfig::default()
            },
            &[],
            5,
        )
        .await
        .unwrap();
        serf.events().await.unwrap();
        for (name, payload, coalesce) in [
            ("deploy", "v1", true),
            ("deploy", "v2", true),
            ("now", "x", false),
            ("deploy", "v3", true),
        ] {
            serf.user_event(name.into(), payload.into(), coalesce)
                .await
                .unwrap();
        }
        let payloads = |events: Vec<SerfEvent>| -> Vec<String> {
            events
                .into_iter()
                .filter_map(|e| match e {
                    SerfEvent::User { payload, .. } => {
                        Some(String::from_utf8(payload.unwrap_or_default()).unwrap())
                    }
                    _ => None,
                })
                .collect()
        };
        assert_eq!(payloads(serf.events().await.unwrap()), ["x"]);
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        let held = loop {
            let got = payloads(serf.events().await.unwrap());
            if !got.is_empty() || tokio::time::Instant::now() >= until {
                break got;
            }
            tokio::time::sleep(POLL).await;
        };
        assert_eq!(held, ["v3"]);
        serf.shutdown().await.unwrap();
    }
}
