//! A hash ring kept the way dskit's KV store keeps it, and shown the way dskit's ring
//! page (Loki's, Mimir's `/ring`) shows it.
//!
//! Merging follows dskit's rule for ring descriptors: per instance, the newer heartbeat
//! wins, and `LEFT` wins a tie (an unregistered instance keeps its last heartbeat).
//! Clients never see `LEFT` instances (dskit drops these tombstones before handing a
//! ring out), and an instance whose heartbeat is older than the heartbeat timeout is
//! shown `UNHEALTHY`, whatever its state.

use std::collections::BTreeMap;

use prost::Message as _;

use super::{InstanceDesc, RingDesc, STATES};

/// The wire number of `LEFT`.
const LEFT: i32 = 4;

/// One key's ring, merged from every broadcast and push/pull that carried it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ring {
    instances: BTreeMap<String, InstanceDesc>,
}

/// Why a ring value did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The value is not snappy-compressed.
    #[error("ring value is not snappy-compressed: {0}")]
    Snappy(String),
    /// The decompressed value is not a ring descriptor.
    #[error("ring value is not a ring descriptor: {0}")]
    Protobuf(String),
}

impl Ring {
    /// Merges an encoded ring value (a broadcast's changes or a push/pull's whole ring);
    /// returns the IDs of the instances it changed.
    pub fn merge_value(&mut self, value: &[u8]) -> Result<Vec<String>, RingError> {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(value)
            .map_err(|e| RingError::Snappy(e.to_string()))?;
        let desc =
            RingDesc::decode(raw.as_slice()).map_err(|e| RingError::Protobuf(e.to_string()))?;
        Ok(self.merge(desc))
    }

    fn merge(&mut self, other: RingDesc) -> Vec<String> {
        let mut changed = Vec::new();
        for (id, mut theirs) in other.ingesters {
            let (ours_ts, ours_left) = self
                .instances
                .get(&id)
                .map_or((0, false), |i| (i.timestamp, i.state == LEFT));
            let newer = theirs.timestamp > ours_ts;
            let left_tie = theirs.timestamp == ours_ts && !ours_left && theirs.state == LEFT;
            if newer || left_tie {
                if theirs.state == LEFT {
                    theirs.tokens.clear();
                }
                self.instances.insert(id.clone(), theirs);
                changed.push(id);
            }
        }
        changed
    }

    /// The instances a client sees (no `LEFT` ones), by ID, at `now` (Unix seconds,
    /// fractional) with `heartbeat_timeout` seconds before an instance is unhealthy.
    pub fn view(&self, now: f64, heartbeat_timeout: f64) -> Vec<InstanceView> {
        let live: Vec<(&String, &InstanceDesc)> = self
            .instances
            .iter()
            .filter(|(_, i)| i.state != LEFT)
            .collect();
        let owned = owned_ranges(&live);
        live.into_iter()
            .map(|(id, i)| {
                let state = usize::try_from(i.state)
                    .ok()
                    .and_then(|s| STATES.get(s))
                    .map_or_else(|| i.state.to_string(), |s| s.to_string());
                let age = now - i.timestamp as f64;
                InstanceView {
                    id: id.clone(),
                    state,
                    healthy: age <= heartbeat_timeout,
                    addr: i.addr.clone(),
                    zone: i.zone.clone(),
                    registered: i.registered_timestamp,
                    heartbeat: i.timestamp,
                    tokens: i.tokens.len(),
                    ownership: owned.get(id.as_str()).copied().unwrap_or(0) as f64
                        / f64::from(u32::MAX)
                        * 100.0,
                }
            })
            .collect()
    }

    /// Whether the ring has any instance, `LEFT` ones included.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
}

/// One instance as the ring page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    /// The instance ID (the ring's key for it).
    pub id: String,
    /// Its ring state: `ACTIVE`, `LEAVING`, `PENDING`, `JOINING`.
    pub state: String,
    /// Its last heartbeat is within the heartbeat timeout; the page shows `UNHEALTHY`
    /// instead of the state when not.
    pub healthy: bool,
    /// The address it registered (its gRPC `host:port`).
    pub addr: String,
    /// Its availability zone.
    pub zone: String,
    /// When it registered, Unix seconds.
    pub registered: i64,
    /// Its last heartbeat, Unix seconds.
    pub heartbeat: i64,
    /// How many tokens it holds.
    pub tokens: usize,
    /// The share of its zone's token space it owns, in percent (dskit counts
    /// ownership per zone).
    pub ownership: f64,
}

impl InstanceView {
    /// The state column of dskit's ring page.
    pub fn shown_state(&self) -> &str {
        if self.healthy {
            &self.state
        } else {
            "UNHEALTHY"
        }
    }
}

/// For each instance, how much of its zone's token space (`u32`) its tokens own: each
/// token owns the range since the zone's previous token, the first wrapping round.
fn owned_ranges<'a>(live: &[(&'a String, &InstanceDesc)]) -> BTreeMap<&'a str, u64> {
    let mut zones: BTreeMap<&str, Vec<(u32, &str)>> = BTreeMap::new();
    for (id, i) in live {
        let zone = zones.entry(i.zone.as_str()).or_default();
        zone.extend(i.tokens.iter().map(|&t| (t, id.as_str())));
    }
    let mut owned = BTreeMap::new();
    for tokens in zones.values_mut() {
        tokens.sort_unstable();
        for (n, &(token, id)) in tokens.iter().enumerate() {
            let prev = match n {
                0 => tokens[tokens.len() - 1].0,
                _ => tokens[n - 1].0,
            };
            let range = match prev < token {
                true => u64::from(token - prev),
                false => u64::from(u32::MAX) - u64::from(prev) + u64::from(token) + 1,
            };
            *owned.entry(id).or_default() += range;
        }
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(ts: i64, state: i32, zone: &str, tokens: &[u32]) -> InstanceDesc {
        InstanceDesc {
            addr: "127.0.0.1:9095".into(),
            timestamp: ts,
            state,
            tokens: tokens.to_vec(),
            zone: zone.into(),
            registered_timestamp: 100,
            ..Default::default()
        }
    }

    fn desc(list: &[(&str, InstanceDesc)]) -> RingDesc {
        RingDesc {
            ingesters: list
                .iter()
                .map(|(id, i)| (id.to_string(), i.clone()))
                .collect(),
        }
    }

    #[test]
    fn newer_heartbeats_win_and_left_wins_a_tie() {
        let mut ring = Ring::default();
        ring.merge(desc(&[("a", instance(10, 0, "z", &[1]))]));
        assert!(ring
            .merge(desc(&[("a", instance(9, 1, "z", &[1]))]))
            .is_empty());
        assert_eq!(
            ring.merge(desc(&[("a", instance(10, LEFT, "z", &[1]))])),
            ["a"]
        );
        assert!(
            ring.instances["a"].tokens.is_empty(),
            "LEFT holds no tokens"
        );
        assert!(ring.view(10.0, 60.0).is_empty(), "clients never see LEFT");
        assert_eq!(
            ring.merge(desc(&[("a", instance(11, 0, "z", &[1]))])),
            ["a"]
        );
        assert_eq!(ring.view(11.0, 60.0)[0].state, "ACTIVE");
    }

    #[test]
    fn ownership_is_per_zone_and_stale_heartbeats_are_unhealthy() {
        let mut ring = Ring::default();
        let half = 1 << 31;
        ring.merge(desc(&[
            ("a", instance(100, 0, "z1", &[0])),
            ("b", instance(100, 0, "z1", &[half])),
            ("c", instance(30, 0, "z2", &[7])),
        ]));
        let v = ring.view(100.5, 60.0);
        assert_eq!(
            v.iter().map(|i| i.ownership.round()).collect::<Vec<_>>(),
            [50.0, 50.0, 100.0]
        );
        assert_eq!(
            v.iter().map(InstanceView::shown_state).collect::<Vec<_>>(),
            ["ACTIVE", "ACTIVE", "UNHEALTHY"]
        );
    }
}
