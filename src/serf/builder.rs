//! [`Builder`]: a Serf member in a few chained calls (Go's `serf.DefaultConfig` plus
//! `serf.Create`), on top of the node's [`node::Builder`].
//!
//! ```no_run
//! # async fn run() -> Result<(), memberlist_interop::serf::ShellError> {
//! use memberlist_interop::node;
//! use memberlist_interop::serf::{self, SerfEvent};
//!
//! let (serf, mut events) = serf::Builder::new(node::Builder::lan("web-1"))
//!     .tag("role", "web")
//!     .start()
//!     .await?;
//! serf.join(vec!["10.0.0.2:7946".parse().unwrap()]).await?;
//! serf.user_event("deploy".into(), b"v42".to_vec(), false).await?;
//! while let Some(event) = events.next().await {
//!     if let SerfEvent::User { name, payload, .. } = event {
//!         println!("{name}: {:?}", payload);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use super::layer::SerfConfig;
use super::shell::{Serf, ShellError};
use super::streams::SerfEvents;
use crate::node;

/// Go's `serf.DefaultConfig().ProtocolVersion`: Serf protocol 4, as the library
/// and Consul speak (the `serf` agent speaks 5).
pub const DEFAULT_PROTOCOL: u8 = 4;

/// A Serf member about to start: the node underneath, Serf's own timing, tags.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct Builder {
    node: node::Builder,
    serf: SerfConfig,
    tags: Vec<(String, String)>,
    protocol: u8,
}

impl Builder {
    /// A Serf member on the node `node` describes; the node's meta is replaced by
    /// the tags.
    pub fn new(node: node::Builder) -> Self {
        Builder {
            node,
            serf: SerfConfig::default(),
            tags: Vec::new(),
            protocol: DEFAULT_PROTOCOL,
        }
    }

    /// Adds (or replaces) a tag, gossiped in node meta (all tags together take at
    /// most 512 bytes once encoded).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.tags.retain(|(k, _)| *k != key);
        self.tags.push((key, value.into()));
        self
    }

    /// The Serf protocol version to advertise (2 to 5; queries need 4).
    pub fn protocol(mut self, version: u8) -> Self {
        self.protocol = version;
        self
    }

    /// Changes Serf's own options (reap and reconnect timing, snapshot, keyring
    /// file, coalescing).
    pub fn configure(mut self, f: impl FnOnce(&mut SerfConfig)) -> Self {
        f(&mut self.serf);
        self
    }

    /// Binds and starts the member: the handle and its event stream.
    pub async fn start(self) -> Result<(Serf, SerfEvents), ShellError> {
        let (config, _meta) = self.node.into_parts();
        let serf = Serf::start(config, self.serf, &self.tags, self.protocol).await?;
        let events = serf.event_stream();
        Ok((serf, events))
    }
}
