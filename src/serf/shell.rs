//! A running Serf member: the node's tokio shell ([`Memberlist`]) with a
//! [`SerfDelegate`], plus the few async steps Serf adds around it (join then join
//! intent, leave intent before the memberlist leave, waiting for query deadlines).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::coordinate::Coordinate;
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
use crate::node::{Config, Diagnostic, Memberlist, RuntimeError};
use crate::wire::SecretKey;
use rand::seq::SliceRandom;
use tokio::sync::Notify;

/// Go's `LeavePropagateDelay` for Serf: time for the leave to spread after it is sent.
pub const LEAVE_PROPAGATE_DELAY: Duration = Duration::from_secs(1);
/// Go's `BroadcastTimeout`: how long a tag update waits for its alive message to be
/// gossiped before reporting a timeout.
pub const BROADCAST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the shell looks for events and finished queries.
const POLL: Duration = Duration::from_millis(20);

/// Why the running Serf member could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Serf(#[from] SerfError),
    #[error("tags: {0}")]
    Tags(String),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("timed out waiting for the leave intent to be sent")]
    LeaveTimeout,
    #[error("timed out broadcasting {0}")]
    BroadcastTimeout(&'static str),
}

/// A query we sent, until its deadline.
#[derive(Debug, Clone, Copy)]
pub struct PendingQuery {
    pub ltime: LamportTime,
    pub id: u32,
    /// From the start to the deadline.
    pub wait: Duration,
}

/// See [`Serf::query_progress`].
#[derive(Debug, Clone)]
pub enum QueryProgress {
    Open(QueryResult),
    Done(QueryResult),
}

/// Every node's answer to one key query, as `serf keys` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// Live members when the query was sent: how many answers were expected.
    pub members: usize,
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
}

/// A handle to a running Serf member; clones share it.
#[derive(Clone)]
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
        let meta = tags_meta(tags).map_err(|e| ShellError::Tags(e.to_string()))?;
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
        let meta = tags_meta(tags).map_err(|e| ShellError::Tags(e.to_string()))?;
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
        let q = self.start_query(name, payload, params).await?;
        tokio::time::sleep(q.wait).await;
        loop {
            if let QueryProgress::Done(r) = self.query_progress(&q).await? {
                return Ok(r);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends a query; follow it with [`Serf::query_progress`].
    pub async fn start_query(
        &self,
        name: String,
        payload: Vec<u8>,
        params: QueryParams,
    ) -> Result<PendingQuery, ShellError> {
        Ok(self
            .node
            .with(move |m, now| {
                SerfDelegate::query(m, now, &name, &payload, &params).map(|(ltime, id, d)| {
                    PendingQuery {
                        ltime,
                        id,
                        wait: d.saturating_since(now),
                    }
                })
            })
            .await??)
    }

    /// What a query has collected: so far, or all of it once its deadline passed.
    pub async fn query_progress(&self, q: &PendingQuery) -> Result<QueryProgress, ShellError> {
        let (ltime, id) = (q.ltime, q.id);
        Ok(self
            .node
            .with(move |m, _| {
                let d = m.delegate_mut();
                match d.take_query(ltime, id) {
                    Some(r) => QueryProgress::Done(r),
                    None => {
                        QueryProgress::Open(d.peek_query(ltime, id).cloned().unwrap_or_default())
                    }
                }
            })
            .await?)
    }

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

    /// Runs a key query cluster-wide (`key` is `None` for a list).
    pub async fn key_query(
        &self,
        kind: InternalQuery,
        key: Option<SecretKey>,
    ) -> Result<KeyReport, ShellError> {
        let raw = key.as_ref().map_or(&[][..], SecretKey::as_bytes).to_vec();
        self.key_query_bytes(kind, raw).await
    }

    /// [`Serf::key_query`] with the key's bytes as given, unchecked, as Go's key
    /// manager sends them: each member then reports a bad size itself.
    pub async fn key_query_bytes(
        &self,
        kind: InternalQuery,
        key: Vec<u8>,
    ) -> Result<KeyReport, ShellError> {
        let members = self.node.with(|m, _| m.num_members()).await?;
        let payload = keys::request_payload_bytes(&key);
        let q = self
            .start_query(kind.name().to_owned(), payload, QueryParams::default())
            .await?;
        // As Go's key manager: done when every member answered, or at the deadline.
        let result = loop {
            match self.query_progress(&q).await? {
                QueryProgress::Done(r) => break r,
                QueryProgress::Open(r) if r.responses.len() >= members => {
                    self.discard_at_deadline(q);
                    break r;
                }
                QueryProgress::Open(_) => tokio::time::sleep(POLL).await,
            }
        };
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

    /// Takes (and drops) a query's result once its deadline passes, for a caller
    /// that stopped waiting early.
    fn discard_at_deadline(&self, q: PendingQuery) {
        let serf = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(q.wait).await;
            while let Ok(QueryProgress::Open(_)) = serf.query_progress(&q).await {
                tokio::time::sleep(POLL).await;
            }
        });
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

    pub async fn shutdown(&self) -> Result<(), ShellError> {
        Ok(self.node.shutdown().await?)
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
            matches!(err, ShellError::Tags(ref e) if e.contains("512")),
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
