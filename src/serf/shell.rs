//! A running Serf member: the node's tokio shell ([`Memberlist`]) with a
//! [`SerfDelegate`], plus the few async steps Serf adds around it (join then join
//! intent, leave intent before the memberlist leave, waiting for query deadlines).

use std::net::SocketAddr;
use std::time::Duration;

use super::keys::{self, KeyAnswer};
use super::lamport::LamportTime;
use super::layer::{
    configure_node, tags_meta, SerfConfig, SerfDelegate, SerfError, SerfEvent, SerfState,
};
use super::member_state::SerfMember;
use super::messages::InternalQuery;
use super::query::{QueryParams, QueryResult};
use super::stats::SerfDiagnostic;
use crate::node::{Config, Diagnostic, Memberlist, RuntimeError};
use crate::wire::SecretKey;

/// Go's `LeavePropagateDelay` for Serf: time for the leave to spread after it is sent.
pub const LEAVE_PROPAGATE_DELAY: Duration = Duration::from_secs(1);
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
    #[error("timed out waiting for the leave intent to be sent")]
    LeaveTimeout,
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
        let delegate = SerfDelegate::new(&config.name, serf, rand::SeedableRng::from_entropy());
        let node = Memberlist::start(config, meta, delegate).await?;
        Ok(Serf { node })
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
        self.node
            .with(|m, _| m.delegate_mut().set_ignore_old_on_join(true))
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

    /// Sends a query and waits for its deadline; returns the acks and answers.
    pub async fn query(
        &self,
        name: String,
        payload: Vec<u8>,
        params: QueryParams,
    ) -> Result<QueryResult, ShellError> {
        let (ltime, id, wait) = self
            .node
            .with(move |m, now| {
                SerfDelegate::query(m, now, &name, &payload, &params)
                    .map(|(l, i, deadline)| (l, i, deadline.saturating_since(now)))
            })
            .await??;
        tokio::time::sleep(wait).await;
        loop {
            if let Some(r) = self
                .node
                .with(move |m, _| m.delegate_mut().take_query(ltime, id))
                .await?
            {
                return Ok(r);
            }
            tokio::time::sleep(POLL).await;
        }
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
        let members = self.node.with(|m, _| m.num_members()).await?;
        let payload = keys::request_payload(key.as_ref());
        let result = self
            .query(kind.name().to_owned(), payload, QueryParams::default())
            .await?;
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
