//! [`Builder`]: a member's configuration in a few chained calls, from one of Go's
//! three timing profiles, then started with the ready-made [`EventDelegate`] (a
//! handle and an event stream) or with the application's own [`Delegate`].
//!
//! ```no_run
//! # async fn run() -> Result<(), memberlist_interop::node::RuntimeError> {
//! use memberlist_interop::node::{Builder, Event};
//!
//! let (node, mut events) = Builder::lan("web-1")
//!     .bind("0.0.0.0:7946".parse().unwrap())
//!     .meta(b"role=web".to_vec())
//!     .start()
//!     .await?;
//! node.join(vec!["10.0.0.2:7946".parse().unwrap()]).await?;
//! for m in node.members().await? {
//!     println!("{} {:?} {}", m.name, m.socket_addr(), m.state.name());
//! }
//! while let Some(event) = events.next().await {
//!     if let Event::Leave(m) = event {
//!         println!("{} is gone", m.name);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;

use super::config::Config;
use super::delegate::Delegate;
use super::events::EventDelegate;
use super::handle::Events;
use super::runtime::{Memberlist, RuntimeError};
use crate::wire::{Keyring, Label};

/// A member about to start: its [`Config`] and the meta it will advertise.
///
/// Options not covered by a method are set with [`Builder::configure`]; the config
/// is checked ([`Config::validate`]) when the member starts.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct Builder {
    config: Config,
    meta: Vec<u8>,
}

impl Builder {
    /// Go's `DefaultLANConfig` for a member named `name`, on 0.0.0.0:7946.
    pub fn lan(name: impl Into<String>) -> Self {
        Self::named(Config::lan(), name)
    }

    /// Go's `DefaultWANConfig`: slower probes and gossip, tolerant of latency.
    pub fn wan(name: impl Into<String>) -> Self {
        Self::named(Config::wan(), name)
    }

    /// Go's `DefaultLocalConfig`: fast timers for one host or a test.
    pub fn local(name: impl Into<String>) -> Self {
        Self::named(Config::local(), name)
    }

    fn named(config: Config, name: impl Into<String>) -> Self {
        Builder {
            config: Config {
                name: name.into(),
                ..config
            },
            meta: Vec::new(),
        }
    }

    /// Starts from a complete configuration (its name included).
    pub fn from_config(config: Config) -> Self {
        Builder {
            config,
            meta: Vec::new(),
        }
    }

    /// Where to listen, UDP and TCP on the same port; port 0 picks a free one
    /// (then [`Memberlist::local_addr`] tells which).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind_addr = addr.ip();
        self.config.bind_port = addr.port();
        self
    }

    /// The address peers should use to reach us, when it is not the bound one (NAT,
    /// a wildcard bind on a host with several interfaces).
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.config.advertise_addr = Some(addr.ip());
        self.config.advertise_port = addr.port();
        self
    }

    /// Encrypts all gossip with the keyring's primary key, and accepts any of its keys.
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.config.keyring = Some(keyring);
        self
    }

    /// Prefixes every packet and stream with `label`, and accepts only that label:
    /// Go's `Label`, which keeps clusters sharing a network apart.
    pub fn label(mut self, label: Label) -> Self {
        self.config.label = Some(label);
        self
    }

    /// The memberlist protocol version to speak (1 to 5, Go's default is 2).
    pub fn protocol_version(mut self, version: u8) -> Self {
        self.config.protocol_version = version;
        self
    }

    /// Node meta to advertise (at most 512 bytes; Go's `NodeMeta`).
    pub fn meta(mut self, meta: Vec<u8>) -> Self {
        self.meta = meta;
        self
    }

    /// Changes any other option of the configuration.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// The configuration as built so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration and meta, for a layer that starts the member itself (Serf
    /// replaces the meta with its tags).
    pub fn into_parts(self) -> (Config, Vec<u8>) {
        (self.config, self.meta)
    }

    /// Binds and starts the member with an [`EventDelegate`]: the handle, and the
    /// stream of what happens to the cluster.
    pub async fn start(self) -> Result<(Memberlist<EventDelegate>, Events), RuntimeError> {
        let (delegate, rx) = EventDelegate::new(self.config.retransmit_mult);
        let node = self.start_with(delegate).await?;
        Ok((node, Events::from(rx)))
    }

    /// Binds and starts the member with the application's own delegate.
    pub async fn start_with<D: Delegate + Send + 'static>(
        self,
        delegate: D,
    ) -> Result<Memberlist<D>, RuntimeError> {
        Memberlist::start(self.config, self.meta, delegate).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{ConfigError, NodeError};

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[tokio::test]
    async fn bad_settings_are_typed_errors_that_say_what_to_change() {
        let err = Builder::local("")
            .bind(loopback())
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                RuntimeError::Node(NodeError::Config(ConfigError::EmptyName))
            ),
            "{err}"
        );

        let (taken, _events) = Builder::local("a").bind(loopback()).start().await.unwrap();
        let err = Builder::local("b")
            .bind(taken.local_addr())
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(err, RuntimeError::Bind { addr, .. } if addr == taken.local_addr()),
            "{err}"
        );
        assert!(err.to_string().contains("port 0 picks a free one"), "{err}");
        taken.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn the_builder_sets_what_it_says() {
        let label = Label::new("prod").unwrap();
        let b = Builder::wan("w")
            .bind(SocketAddr::from(([127, 0, 0, 2], 7000)))
            .advertise(SocketAddr::from(([10, 0, 0, 1], 7001)))
            .label(label.clone())
            .protocol_version(5)
            .meta(b"m".to_vec())
            .configure(|c| c.gossip_nodes = 9);
        let c = b.config();
        assert_eq!(c.name, "w");
        assert_eq!(c.probe_interval, Config::wan().probe_interval);
        assert_eq!(
            (c.bind_addr.to_string(), c.bind_port),
            ("127.0.0.2".into(), 7000)
        );
        assert_eq!(
            (c.advertise_addr.map(|a| a.to_string()), c.advertise_port),
            (Some("10.0.0.1".into()), 7001)
        );
        assert_eq!(
            (c.label.as_ref(), c.protocol_version, c.gossip_nodes),
            (Some(&label), 5, 9)
        );
        assert_eq!(b.into_parts().1, b"m");
    }
}
