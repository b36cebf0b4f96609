//! [`KeyManager`]: Go's `serf.KeyManager`, cluster-wide gossip key rotation through
//! Serf's internal key queries. Rotating is three steps, each answered by every
//! member: install the new key, use it as primary, remove the old one.

use std::time::Duration;

use super::messages::InternalQuery;
use super::query::QueryParams;
use super::shell::{KeyReport, Serf, ShellError};
use crate::wire::SecretKey;

/// Runs key queries on a [`Serf`] member (from [`Serf::key_manager`]).
///
/// Each call sends one query and waits for its deadline. It returns the report when
/// every member answered with success, and [`ShellError::Keys`] with the same report
/// otherwise (Go returns the response and an error then).
#[derive(Clone, Debug)]
pub struct KeyManager {
    serf: Serf,
    params: QueryParams,
}

impl KeyManager {
    pub(super) fn new(serf: Serf) -> Self {
        KeyManager {
            serf,
            params: QueryParams::default(),
        }
    }

    /// Waits `timeout` for every member's answer instead of Serf's default for the
    /// cluster's size, which a slow network or a loaded host can miss.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.params.timeout = Some(timeout);
        self
    }

    /// Asks `factor` more members to relay each answer, so one lost packet does not
    /// lose an answer (Go's `KeyRequestOptions.RelayFactor`).
    pub fn relay_factor(mut self, factor: u8) -> Self {
        self.params.relay_factor = factor;
        self
    }

    /// Adds `key` to every member's keyring (Go's `InstallKey`).
    pub async fn install_key(&self, key: SecretKey) -> Result<KeyReport, ShellError> {
        self.run(InternalQuery::InstallKey, Some(key)).await
    }

    /// Makes the installed `key` every member's primary key (Go's `UseKey`).
    pub async fn use_key(&self, key: SecretKey) -> Result<KeyReport, ShellError> {
        self.run(InternalQuery::UseKey, Some(key)).await
    }

    /// Removes `key` from every member's keyring (Go's `RemoveKey`); members refuse
    /// to remove their primary key.
    pub async fn remove_key(&self, key: SecretKey) -> Result<KeyReport, ShellError> {
        self.run(InternalQuery::RemoveKey, Some(key)).await
    }

    /// Every member's keys (Go's `ListKeys`): see [`KeyReport::keys`] and
    /// [`KeyReport::primary_keys`] for the counts `serf keys -list` prints.
    pub async fn list_keys(&self) -> Result<KeyReport, ShellError> {
        self.run(InternalQuery::ListKeys, None).await
    }

    async fn run(
        &self,
        kind: InternalQuery,
        key: Option<SecretKey>,
    ) -> Result<KeyReport, ShellError> {
        let report = self
            .serf
            .key_query_with(kind, key, self.params.clone())
            .await?;
        if report.ok() {
            Ok(report)
        } else {
            Err(ShellError::Keys(report))
        }
    }
}
