//! The node's configuration: Go's `memberlist.Config` minus what only concerns Go's
//! runtime (loggers, metrics, DNS, the transport object and delegate pointers).
//!
//! The three profiles reproduce Go's `DefaultLANConfig`, `DefaultWANConfig` and
//! `DefaultLocalConfig` value for value, so a Rust node configured with a profile
//! times its probes, suspicions and gossip exactly like a Go node with the same one.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use thiserror::Error;

use super::cidr::Cidr;
use super::metrics::Metrics;
use super::transport::Transport;
use crate::wire::{Keyring, Label};

/// Oldest protocol version this implementation speaks and understands.
pub const PROTOCOL_VERSION_MIN: u8 = 1;
/// Newest protocol version (5: CRC-checked packets).
pub const PROTOCOL_VERSION_MAX: u8 = 5;
/// Go's default port for both UDP and TCP gossip.
pub const DEFAULT_PORT: u16 = 7946;

/// Everything that shapes the protocol's behaviour. Fields are public and plain so a
/// caller can start from a profile and change what it needs; [`Config::validate`]
/// then rejects combinations Go would fail on (or never make progress with).
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's name, unique in the cluster. Go defaults it to the host name;
    /// here the caller must set it (the profiles leave it empty).
    pub name: String,
    /// Address and port to listen on; port 0 lets the transport pick one.
    pub bind_addr: IpAddr,
    /// Port for both UDP and TCP (Go's `BindPort`).
    pub bind_port: u16,
    /// Address other nodes should use to reach us (NAT); `None` uses the bound one.
    pub advertise_addr: Option<IpAddr>,
    /// Port advertised together with `advertise_addr`; ignored without it, as in Go.
    pub advertise_port: u16,
    /// The protocol version we speak, `PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX`.
    /// It picks the encryption version and whether ports in messages are honoured.
    pub protocol_version: u8,
    /// Limit for dialling and for each read or write on a stream (push/pull, TCP ping).
    pub tcp_timeout: Duration,
    /// How many peers are asked to probe a target that missed its direct ack.
    pub indirect_checks: usize,
    /// Scales how often each broadcast is retransmitted (see `retransmit_limit`).
    pub retransmit_mult: usize,
    /// Scales how long a node stays suspect (see `suspicion_timeout`).
    pub suspicion_mult: usize,
    /// Upper bound of a suspicion, as a multiple of the scaled suspicion timeout.
    pub suspicion_max_timeout_mult: usize,
    /// Time between periodic full-state exchanges; zero disables them.
    pub push_pull_interval: Duration,
    /// Time between probe rounds (stretched by the health score).
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking other nodes for help.
    pub probe_timeout: Duration,
    /// Never use the TCP fallback ping.
    pub disable_tcp_pings: bool,
    /// Cap on the health-score multiplier of the probe interval.
    pub awareness_max_multiplier: u32,
    /// Time between gossip rounds; zero disables gossip not piggybacked on probes.
    pub gossip_interval: Duration,
    /// Peers per gossip round; zero also disables the gossip rounds.
    pub gossip_nodes: usize,
    /// How long dead nodes still receive gossip (so they can refute) and are kept
    /// before being reaped.
    pub gossip_to_the_dead_time: Duration,
    /// With a keyring: refuse unencrypted input (turn off while rolling out keys).
    pub gossip_verify_incoming: bool,
    /// With a keyring: encrypt output (turn off while rolling out keys).
    pub gossip_verify_outgoing: bool,
    /// LZW-compress outgoing packets and push/pull payloads.
    pub enable_compression: bool,
    /// AES-GCM keys; `None` disables encryption. The primary key encrypts.
    pub keyring: Option<Keyring>,
    /// Prefix every packet and stream with this label (1–255 bytes by construction;
    /// build it with `Label::parse_optional`, where "" means no label).
    pub label: Option<Label>,
    /// Accept unlabelled input even when a label is configured.
    pub skip_inbound_label_check: bool,
    /// Version range and current version of the application's own protocol,
    /// advertised in every alive and checked on push/pull merges.
    pub delegate_protocol_version: u8,
    /// Oldest application protocol version we accept from peers.
    pub delegate_protocol_min: u8,
    /// Newest application protocol version we accept from peers.
    pub delegate_protocol_max: u8,
    /// Inbound packets waiting to be handled beyond which new ones are dropped.
    pub handoff_queue_depth: usize,
    /// Largest packet we assemble (Go's `UDPBufferSize`).
    pub udp_buffer_size: usize,
    /// After how long a dead node's name may be taken by another address;
    /// `None` (Go's 0) means never. Left nodes' names are always reusable.
    pub dead_node_reclaim_time: Option<Duration>,
    /// Refuse to send to an address without a node name.
    pub require_node_names: bool,
    /// Networks peers must belong to; empty allows everyone (as Go's nil or empty).
    pub cidrs_allowed: Vec<Cidr>,
    /// How often the broadcast queue's depth is sampled (Go's `QueueCheckInterval`).
    pub queue_check_interval: Duration,
    /// Where metrics go (Go's global go-metrics sink); none by default.
    pub metrics: Metrics,
    /// How the shell carries packets and streams (Go's `Transport` object): memberlist's
    /// UDP and TCP, or dskit's TCP-only one. The machine never looks at it.
    pub transport: Transport,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Go refuses a version outside what it implements.
    #[error(
        "protocol version {0} outside the supported range \
         {PROTOCOL_VERSION_MIN}..={PROTOCOL_VERSION_MAX}"
    )]
    ProtocolVersion(u8),
    /// Peers key their node tables by name; an empty one cannot be told apart.
    #[error("node name must not be empty")]
    EmptyName,
    /// Go's probe ticker panics on a zero interval.
    #[error("probe interval must be greater than zero")]
    ZeroProbeInterval,
    /// Go would compute a zero probe deadline, so every probe would fail at once.
    #[error("awareness max multiplier must be at least 1")]
    ZeroAwarenessMultiplier,
    /// Our own version vector would fail every push/pull compatibility check.
    #[error("delegate protocol version {version} outside its own range {min}..={max}")]
    DelegateProtocolVersion {
        /// `delegate_protocol_min`.
        min: u8,
        /// `delegate_protocol_version`.
        version: u8,
        /// `delegate_protocol_max`.
        max: u8,
    },
}

impl Config {
    /// Go's `DefaultLANConfig`: tuned for a local network, favouring quick
    /// convergence over bandwidth.
    pub fn lan() -> Self {
        Config {
            name: String::new(),
            bind_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            bind_port: DEFAULT_PORT,
            advertise_addr: None,
            advertise_port: DEFAULT_PORT,
            protocol_version: 2,
            tcp_timeout: Duration::from_secs(10),
            indirect_checks: 3,
            retransmit_mult: 4,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            push_pull_interval: Duration::from_secs(30),
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            disable_tcp_pings: false,
            awareness_max_multiplier: 8,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Duration::from_secs(30),
            gossip_verify_incoming: true,
            gossip_verify_outgoing: true,
            enable_compression: true,
            keyring: None,
            label: None,
            skip_inbound_label_check: false,
            delegate_protocol_version: 0,
            delegate_protocol_min: 0,
            delegate_protocol_max: 0,
            handoff_queue_depth: 1024,
            udp_buffer_size: 1400,
            dead_node_reclaim_time: None,
            require_node_names: false,
            cidrs_allowed: Vec::new(),
            queue_check_interval: Duration::from_secs(30),
            metrics: Metrics::default(),
            transport: Transport::default(),
        }
    }

    /// Go's `DefaultWANConfig`: the LAN profile with longer timeouts and slower,
    /// wider gossip for high-latency links.
    pub fn wan() -> Self {
        Config {
            tcp_timeout: Duration::from_secs(30),
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(3),
            probe_interval: Duration::from_secs(5),
            gossip_nodes: 4,
            gossip_interval: Duration::from_millis(500),
            gossip_to_the_dead_time: Duration::from_secs(60),
            ..Config::lan()
        }
    }

    /// Go's `DefaultLocalConfig`: the LAN profile with short timeouts and fewer
    /// retransmissions, for nodes on one host.
    pub fn local() -> Self {
        Config {
            tcp_timeout: Duration::from_secs(1),
            indirect_checks: 1,
            retransmit_mult: 2,
            suspicion_mult: 3,
            push_pull_interval: Duration::from_secs(15),
            probe_timeout: Duration::from_millis(200),
            probe_interval: Duration::from_secs(1),
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead_time: Duration::from_secs(15),
            ..Config::lan()
        }
    }

    /// Checks what Go checks when a node is created (the protocol version; the label
    /// length is guaranteed by [`Label`]) plus values with which Go would panic or
    /// never work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX).contains(&self.protocol_version) {
            return Err(ConfigError::ProtocolVersion(self.protocol_version));
        }
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if self.probe_interval.is_zero() {
            return Err(ConfigError::ZeroProbeInterval);
        }
        if self.awareness_max_multiplier == 0 {
            return Err(ConfigError::ZeroAwarenessMultiplier);
        }
        let (min, version, max) = (
            self.delegate_protocol_min,
            self.delegate_protocol_version,
            self.delegate_protocol_max,
        );
        if !(min..=max).contains(&version) {
            return Err(ConfigError::DelegateProtocolVersion { min, version, max });
        }
        Ok(())
    }

    /// Whether a peer at `ip` may talk to us under `cidrs_allowed`.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.cidrs_allowed.is_empty() || self.cidrs_allowed.iter().any(|net| net.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(mut c: Config) -> Config {
        c.name = "node-a".into();
        c
    }

    #[test]
    fn lan_profile_is_gos() {
        let c = Config::lan();
        assert_eq!(c.bind_addr, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!((c.bind_port, c.advertise_port), (7946, 7946));
        assert_eq!(c.advertise_addr, None);
        assert_eq!(c.protocol_version, 2);
        assert_eq!(c.tcp_timeout, Duration::from_secs(10));
        assert_eq!(
            (c.indirect_checks, c.retransmit_mult, c.suspicion_mult),
            (3, 4, 4)
        );
        assert_eq!(c.suspicion_max_timeout_mult, 6);
        assert_eq!(c.push_pull_interval, Duration::from_secs(30));
        assert_eq!(c.probe_timeout, Duration::from_millis(500));
        assert_eq!(c.probe_interval, Duration::from_secs(1));
        assert!(!c.disable_tcp_pings);
        assert_eq!(c.awareness_max_multiplier, 8);
        assert_eq!(c.gossip_nodes, 3);
        assert_eq!(c.gossip_interval, Duration::from_millis(200));
        assert_eq!(c.gossip_to_the_dead_time, Duration::from_secs(30));
        assert!(c.gossip_verify_incoming && c.gossip_verify_outgoing);
        assert!(c.enable_compression);
        assert!(c.keyring.is_none() && c.label.is_none() && !c.skip_inbound_label_check);
        assert_eq!(
            (
                c.delegate_protocol_version,
                c.delegate_protocol_min,
                c.delegate_protocol_max
            ),
            (0, 0, 0)
        );
        assert_eq!((c.handoff_queue_depth, c.udp_buffer_size), (1024, 1400));
        assert_eq!(c.dead_node_reclaim_time, None);
        assert!(!c.require_node_names);
        assert!(c.cidrs_allowed.is_empty());
    }

    #[test]
    fn wan_profile_is_gos() {
        let c = Config::wan();
        assert_eq!(c.tcp_timeout, Duration::from_secs(30));
        assert_eq!(c.suspicion_mult, 6);
        assert_eq!(c.push_pull_interval, Duration::from_secs(60));
        assert_eq!(c.probe_timeout, Duration::from_secs(3));
        assert_eq!(c.probe_interval, Duration::from_secs(5));
        assert_eq!(c.gossip_nodes, 4);
        assert_eq!(c.gossip_interval, Duration::from_millis(500));
        assert_eq!(c.gossip_to_the_dead_time, Duration::from_secs(60));
        // Unchanged from LAN.
        assert_eq!((c.indirect_checks, c.retransmit_mult), (3, 4));
        assert_eq!(c.suspicion_max_timeout_mult, 6);
    }

    #[test]
    fn local_profile_is_gos() {
        let c = Config::local();
        assert_eq!(c.tcp_timeout, Duration::from_secs(1));
        assert_eq!(
            (c.indirect_checks, c.retransmit_mult, c.suspicion_mult),
            (1, 2, 3)
        );
        assert_eq!(c.push_pull_interval, Duration::from_secs(15));
        assert_eq!(c.probe_timeout, Duration::from_millis(200));
        assert_eq!(c.probe_interval, Duration::from_secs(1));
        assert_eq!(c.gossip_interval, Duration::from_millis(100));
        assert_eq!(c.gossip_to_the_dead_time, Duration::from_secs(15));
        // Unchanged from LAN.
        assert_eq!(c.gossip_nodes, 3);
    }

    #[test]
    fn validation() {
        for c in [Config::lan(), Config::wan(), Config::local()] {
            assert_eq!(c.validate(), Err(ConfigError::EmptyName));
            assert_eq!(named(c).validate(), Ok(()));
        }
        for v in 1..=5 {
            let mut c = named(Config::lan());
            c.protocol_version = v;
            assert_eq!(c.validate(), Ok(()));
        }
        for v in [0, 6, 255] {
            let mut c = named(Config::lan());
            c.protocol_version = v;
            assert_eq!(c.validate(), Err(ConfigError::ProtocolVersion(v)));
        }
        let mut c = named(Config::lan());
        c.probe_interval = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::ZeroProbeInterval));
        let mut c = named(Config::lan());
        c.awareness_max_multiplier = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroAwarenessMultiplier));
        let mut c = named(Config::lan());
        (
            c.delegate_protocol_min,
            c.delegate_protocol_version,
            c.delegate_protocol_max,
        ) = (2, 3, 4);
        assert_eq!(c.validate(), Ok(()));
        c.delegate_protocol_version = 5;
        assert_eq!(
            c.validate(),
            Err(ConfigError::DelegateProtocolVersion {
                min: 2,
                version: 5,
                max: 4
            })
        );
    }

    #[test]
    fn labels_longer_than_255_bytes_cannot_be_configured() {
        let mut c = named(Config::lan());
        c.label = Label::parse_optional(&"x".repeat(255)).unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert!(Label::parse_optional(&"x".repeat(256)).is_err());
        assert_eq!(Label::parse_optional("").unwrap(), None);
    }

    #[test]
    fn cidr_allow_list() {
        let mut c = Config::lan();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(c.ip_allowed(ip));
        c.cidrs_allowed = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(!c.ip_allowed(ip));
        c.cidrs_allowed.push("192.0.2.0/24".parse().unwrap());
        assert!(c.ip_allowed(ip));
    }
}
