//! The tags a Consul client agent advertises in its Serf LAN pool, so a Serf member of
//! ours can join a Consul datacenter's LAN gossip as a client ("node") member.
//!
//! A Consul server checks every member it merges (its LAN merge delegate): a member with
//! `role=node` must carry the server's datacenter in `dc`; its `id` must not collide with
//! another member's; and Consul CE refuses any member with a non-empty `segment`, an `ap`
//! (admin partition) or a `fips` tag, all Enterprise features. The server then reads
//! `id` as the catalog node ID and `build` (its first `x.y.z`) to decide whether the ID
//! is trustworthy, so those must be well formed too. Consul's Serf layer speaks Serf
//! protocol [`SERF_PROTOCOL`], not the serf agent's 5.

use thiserror::Error;
use uuid::Uuid;

use super::tags::{Tags, ROLE_TAG};

/// The Serf protocol every Consul agent runs (Consul maps all its protocols to 4).
pub const SERF_PROTOCOL: u8 = 4;
/// The oldest Consul RPC protocol a current agent speaks (`vsn_min`).
pub const PROTOCOL_MIN: u8 = 2;
/// The newest Consul RPC protocol a current agent speaks (`vsn_max`).
pub const PROTOCOL_MAX: u8 = 3;
/// The Consul RPC protocol an agent runs unless configured otherwise (`vsn`).
pub const PROTOCOL_DEFAULT: u8 = 2;
/// The build a client claims unless told otherwise: the Consul release our interop tests
/// join (`interop/consul`), without a revision. Servers read its `x.y.z` (at least 0.8.5)
/// to trust the node ID.
pub const BUILD: &str = "1.22.7:";
/// The `role` of a client agent (servers advertise `consul`).
pub const CLIENT_ROLE: &str = "node";

/// Why a Consul client's tags cannot be built: each is a value a Consul agent would
/// refuse in its own configuration.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConsulTagsError {
    /// A datacenter name Consul would refuse.
    #[error("datacenter {0:?}: Consul allows only a non-empty name of a-z, 0-9, '-' and '_'")]
    Datacenter(String),
    /// A node id that is not a UUID.
    #[error("node id {0:?}: Consul wants a UUID written 8-4-4-4-12 in hex")]
    NodeId(String),
    /// A protocol version outside Consul's range.
    #[error("Consul protocol {0}: an agent speaks {PROTOCOL_MIN} to {PROTOCOL_MAX}")]
    Protocol(u8),
}

/// A Consul client agent's identity in the LAN pool; [`ConsulClient::tags`] renders
/// it exactly as Consul's `agent/consul/client_serf.go` fills `serf.Config.Tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulClient {
    datacenter: String,
    node_id: Uuid,
    segment: String,
    partition: Option<String>,
    protocol: u8,
    build: String,
}

impl ConsulClient {
    /// A client of `datacenter` with a fresh random node ID, the default protocol, the
    /// default segment (empty) and no partition tag, claiming `build` (Consul writes
    /// `VERSION:REVISION`, e.g. `1.22.7:7926532a`, or `1.22.7:` without a revision).
    pub fn new(datacenter: &str, build: &str) -> Result<Self, ConsulTagsError> {
        if datacenter.is_empty()
            || !datacenter
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(ConsulTagsError::Datacenter(datacenter.to_owned()));
        }
        Ok(ConsulClient {
            datacenter: datacenter.to_owned(),
            node_id: Uuid::new_v4(),
            segment: String::new(),
            partition: None,
            protocol: PROTOCOL_DEFAULT,
            build: build.to_owned(),
        })
    }

    /// Uses a given node ID. Consul reads IDs only in the hyphenated 36-character form.
    pub fn node_id(mut self, id: &str) -> Result<Self, ConsulTagsError> {
        let bad = || ConsulTagsError::NodeId(id.to_owned());
        if id.len() != 36 {
            return Err(bad());
        }
        self.node_id = Uuid::try_parse(id).map_err(|_| bad())?;
        Ok(self)
    }

    /// The Consul RPC protocol to advertise in `vsn`.
    pub fn protocol(mut self, vsn: u8) -> Result<Self, ConsulTagsError> {
        if !(PROTOCOL_MIN..=PROTOCOL_MAX).contains(&vsn) {
            return Err(ConsulTagsError::Protocol(vsn));
        }
        self.protocol = vsn;
        Ok(self)
    }

    /// A network segment (Enterprise; CE servers refuse a non-empty one).
    pub fn segment(mut self, segment: &str) -> Self {
        self.segment = segment.to_owned();
        self
    }

    /// An admin partition, sent as the `ap` tag (Enterprise; CE servers refuse it).
    pub fn partition(mut self, partition: &str) -> Self {
        self.partition = Some(partition.to_owned());
        self
    }

    /// The node ID, lowercase and hyphenated as Consul writes it.
    pub fn id(&self) -> String {
        self.node_id.hyphenated().to_string()
    }

    /// The Serf tags a Consul client with this identity advertises.
    pub fn tags(&self) -> Tags<'static> {
        let mut tags = Tags::new();
        tags.insert(ROLE_TAG, CLIENT_ROLE);
        tags.insert("dc", self.datacenter.as_str());
        tags.insert("segment", self.segment.as_str());
        tags.insert("id", self.id());
        tags.insert("vsn", self.protocol.to_string());
        tags.insert("vsn_min", PROTOCOL_MIN.to_string());
        tags.insert("vsn_max", PROTOCOL_MAX.to_string());
        tags.insert("build", self.build.as_str());
        if let Some(ap) = &self.partition {
            tags.insert("ap", ap.as_str());
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(tags: &Tags<'_>, key: &str) -> String {
        String::from_utf8(tags.get(key).expect(key).as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn client_tags_are_consuls_eight() {
        let c = ConsulClient::new("dc1", "1.22.7:")
            .unwrap()
            .node_id("0b5e2f0c-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            .unwrap();
        let tags = c.tags();
        let got: Vec<(String, String)> = tags
            .iter()
            .map(|(k, _)| {
                let k = String::from_utf8(k.as_bytes().to_vec()).unwrap();
                let v = tag(&tags, &k);
                (k, v)
            })
            .collect();
        let want = [
            ("build", "1.22.7:"),
            ("dc", "dc1"),
            ("id", "0b5e2f0c-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
            ("role", "node"),
            ("segment", ""),
            ("vsn", "2"),
            ("vsn_max", "3"),
            ("vsn_min", "2"),
        ];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        let mut meta = Vec::new();
        tags.encode_meta(&mut meta).unwrap();
        assert_eq!(Tags::decode_meta(&meta).unwrap().0, tags);
    }

    #[test]
    fn fresh_ids_are_random_v4_uuids() {
        let a = ConsulClient::new("dc1", "1.22.7:").unwrap();
        let b = ConsulClient::new("dc1", "1.22.7:").unwrap();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 36);
        assert_eq!(a.node_id.get_version_num(), 4);
    }

    #[test]
    fn enterprise_tags_only_when_asked() {
        let c = ConsulClient::new("dc1", "1.22.7:")
            .unwrap()
            .segment("alpha")
            .partition("team")
            .protocol(3)
            .unwrap();
        let tags = c.tags();
        assert_eq!(tag(&tags, "segment"), "alpha");
        assert_eq!(tag(&tags, "ap"), "team");
        assert_eq!(tag(&tags, "vsn"), "3");
        assert!(ConsulClient::new("dc1", "x")
            .unwrap()
            .tags()
            .get("ap")
            .is_none());
    }

    #[test]
    fn what_consul_refuses_is_a_typed_error() {
        for dc in ["", "DC1", "dc.1", "dc 1"] {
            assert_eq!(
                ConsulClient::new(dc, "1.22.7:"),
                Err(ConsulTagsError::Datacenter(dc.to_owned()))
            );
        }
        let c = ConsulClient::new("dc_1-a", "1.22.7:").unwrap();
        for id in [
            "0b5e2f0c3c4d4e5f8a9b0c1d2e3f4a5b",
            "{0b5e2f0c-3c4d-4e5f-8a9b-0c1d2e3f4a5b}",
            "0b5e2f0c-3c4d-4e5f-8a9b-0c1d2e3f4a5g",
            "",
        ] {
            assert_eq!(
                c.clone().node_id(id),
                Err(ConsulTagsError::NodeId(id.to_owned()))
            );
        }
        for vsn in [0, 1, 4] {
            assert_eq!(c.clone().protocol(vsn), Err(ConsulTagsError::Protocol(vsn)));
        }
    }
}
