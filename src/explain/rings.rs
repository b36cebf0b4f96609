//! grafana/dskit hash rings (Loki, Mimir, Tempo, Cortex) told from their gossip: per ring
//! instance, its state changes and when its heartbeats stopped arriving.
//!
//! Every broadcast and push/pull the inspector decoded as dskit's carries ring instances
//! with their last heartbeat (Unix seconds, written by the instance itself). They are
//! merged as dskit merges them (a newer heartbeat wins, `LEFT` wins a tie), so a stale
//! copy still circulating never moves an instance back. An instance whose heartbeat
//! stops advancing while another instance's keeps advancing has stopped heartbeating:
//! its process died, hung or lost its KV store; dskit's ring page shows it `UNHEALTHY`
//! once its heartbeat is older than the ring's heartbeat timeout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::report::{rel, time};
use crate::inspect::Row;

/// dskit's default ring heartbeat timeout: past it, the ring page shows `UNHEALTHY`.
pub const HEARTBEAT_TIMEOUT_SECS: i64 = 60;
/// Heartbeat period assumed until an instance has advanced twice: heartbeats carry
/// whole seconds, so their value advances at most once a second.
const DEFAULT_PERIOD: Duration = Duration::from_secs(1);
/// Silence, in heartbeat periods, after which an instance counts as stopped (while
/// another instance's heartbeats still advance).
const SILENT_PERIODS: f64 = 2.5;

/// One ring instance as its gossip showed it.
#[derive(Debug)]
struct Instance {
    addr: String,
    zone: String,
    state: String,
    /// Newest heartbeat (Unix seconds) and when it first crossed the wire.
    heartbeat: i64,
    heartbeat_seen: Duration,
    /// When the instance first appeared, and how often its heartbeat advanced since.
    first_seen: Duration,
    advances: u32,
    /// The last row that carried it, whatever its heartbeat.
    last_gossiped: Duration,
    changes: Vec<StateChange>,
}

/// A state an instance took, first seen at `time`, with the heartbeat it came with.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StateChange {
    #[serde(serialize_with = "time")]
    pub time: Duration,
    pub state: String,
    pub heartbeat: i64,
}

/// Every ring key's instances, folded from the rows as they go by.
#[derive(Debug, Default)]
pub struct Rings {
    /// By ring key, then instance ID.
    keys: BTreeMap<String, BTreeMap<String, Instance>>,
}

impl Rings {
    /// Folds in the ring instances a decoded row carries, if any.
    pub fn row(&mut self, r: &Row) {
        let Some(app) = r.app.as_deref() else { return };
        if app["app"] != "dskit" {
            return;
        }
        let f = &app["fields"];
        match app["type"].as_str() {
            Some("kv_pair") => self.pair(f, r.time),
            Some("kv_state") => {
                for p in f["Pairs"].as_array().into_iter().flatten() {
                    self.pair(p, r.time);
                }
            }
            _ => {}
        }
    }

    fn pair(&mut self, pair: &Value, t: Duration) {
        let (Some(key), Some(ring)) = (pair["Key"].as_str(), pair["Ring"]["Ingesters"].as_object())
        else {
            return;
        };
        let instances = self.keys.entry(key.to_string()).or_default();
        for (id, i) in ring {
            let state = i["State"]
                .as_str()
                .map_or_else(|| i["State"].to_string(), str::to_string);
            let heartbeat = i["Timestamp"].as_i64().unwrap_or_default();
            let Some(known) = instances.get_mut(id) else {
                instances.insert(
                    id.clone(),
                    Instance {
                        addr: i["Addr"].as_str().unwrap_or_default().to_string(),
                        zone: i["Zone"].as_str().unwrap_or_default().to_string(),
                        changes: vec![StateChange {
                            time: t,
                            state: state.clone(),
                            heartbeat,
                        }],
                        state,
                        heartbeat,
                        heartbeat_seen: t,
                        first_seen: t,
                        advances: 0,
                        last_gossiped: t,
                    },
                );
                continue;
            };
            known.last_gossiped = t;
            let newer = heartbeat > known.heartbeat;
            let left_tie = heartbeat == known.heartbeat && known.state != "LEFT" && state == "LEFT";
            if !(newer || left_tie) {
                continue;
            }
            if newer {
                known.heartbeat = heartbeat;
                known.heartbeat_seen = t;
                known.advances += 1;
            }
            if state != known.state {
                known.changes.push(StateChange {
                    time: t,
                    state: state.clone(),
                    heartbeat,
                });
                known.state = state;
            }
        }
    }

    /// The report, with the timeline ending at `end`.
    pub fn report(&self, end: Duration) -> Vec<RingReport> {
        self.keys
            .iter()
            .map(|(key, instances)| RingReport {
                key: key.clone(),
                instances: instances
                    .iter()
                    .map(|(id, i)| instance_report(id, i, instances, end))
                    .collect(),
            })
            .collect()
    }
}

/// One ring key's instances.
#[derive(Debug, Serialize)]
pub struct RingReport {
    pub key: String,
    pub instances: Vec<InstanceReport>,
}

/// What became of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Its heartbeats kept advancing to the end of the timeline.
    Heartbeating,
    /// Its heartbeats stopped while another instance's went on; it was never
    /// unregistered.
    StoppedHeartbeating,
    /// It unregistered from the ring (`LEFT`).
    Left,
    /// Its heartbeats stopped, but no other instance's advanced after them either, so
    /// the capture cannot tell a dead instance from a quiet network.
    Unknown,
}

#[derive(Debug, Serialize)]
pub struct InstanceReport {
    pub id: String,
    pub addr: String,
    pub zone: String,
    /// Its state in the merged ring at the end.
    pub state: String,
    pub fate: Fate,
    #[serde(serialize_with = "time")]
    pub first_seen: Duration,
    /// The newest heartbeat it wrote (Unix seconds) and when that first crossed the wire.
    pub last_heartbeat: i64,
    #[serde(serialize_with = "time")]
    pub last_heartbeat_seen: Duration,
    /// Seconds between its heartbeat's advances, as the traffic shows them.
    pub heartbeat_period_s: f64,
    /// Seconds from its last heartbeat's first sighting to the end of the timeline.
    pub silent_s: f64,
    /// The last row that carried it (other members gossip it on after it stopped).
    #[serde(serialize_with = "time")]
    pub last_gossiped: Duration,
    /// When dskit's ring page starts showing it UNHEALTHY (Unix seconds), at the
    /// default heartbeat timeout; for an instance that stopped heartbeating.
    pub unhealthy_from: Option<i64>,
    pub state_changes: Vec<StateChange>,
}

fn period(i: &Instance) -> Duration {
    match i.advances {
        0 | 1 => DEFAULT_PERIOD,
        n => i.heartbeat_seen.saturating_sub(i.first_seen) / n,
    }
}

fn instance_report(
    id: &str,
    i: &Instance,
    all: &BTreeMap<String, Instance>,
    end: Duration,
) -> InstanceReport {
    let period = period(i);
    let silent = end.saturating_sub(i.heartbeat_seen);
    let quiet = silent.as_secs_f64() > SILENT_PERIODS * period.as_secs_f64();
    // Another instance's heartbeat advanced well after this one's last: gossip kept
    // flowing, so the silence is this instance's.
    let others_went_on = all.iter().any(|(other, o)| {
        other != id && o.state != "LEFT" && o.heartbeat_seen > i.heartbeat_seen + period
    });
    let fate = match (i.state.as_str(), quiet, others_went_on) {
        ("LEFT", _, _) => Fate::Left,
        (_, false, _) => Fate::Heartbeating,
        (_, true, true) => Fate::StoppedHeartbeating,
        (_, true, false) => Fate::Unknown,
    };
    InstanceReport {
        id: id.to_string(),
        addr: i.addr.clone(),
        zone: i.zone.clone(),
        state: i.state.clone(),
        fate,
        first_seen: i.first_seen,
        last_heartbeat: i.heartbeat,
        last_heartbeat_seen: i.heartbeat_seen,
        heartbeat_period_s: (period.as_secs_f64() * 1000.0).round() / 1000.0,
        silent_s: (silent.as_secs_f64() * 1000.0).round() / 1000.0,
        last_gossiped: i.last_gossiped,
        unhealthy_from: (fate == Fate::StoppedHeartbeating)
            .then_some(i.heartbeat + HEARTBEAT_TIMEOUT_SECS),
        state_changes: i.changes.clone(),
    }
}

/// The rings' part of the text report: one paragraph per instance that did not simply
/// keep heartbeating, one line for those that did. `memberlist` tells what memberlist
/// did about a member of the same name (its suspicion, its death), if anything.
pub fn text(
    rings: &[RingReport],
    origin: Duration,
    end: Duration,
    memberlist: impl Fn(&str) -> Option<String>,
) -> String {
    let t = |d: Duration| rel(d, origin);
    let mut o = String::new();
    for ring in rings {
        let _ = writeln!(
            o,
            "\ndskit ring {:?}: {} instances",
            ring.key,
            ring.instances.len()
        );
        for i in &ring.instances {
            let changes = i
                .state_changes
                .iter()
                .map(|c| format!("{} at {}", c.state, t(c.time)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(o, "  {} ({}, zone {:?}): ", i.id, i.addr, i.zone);
            match i.fate {
                Fate::Heartbeating => {
                    let _ = writeln!(
                        o,
                        "{}, heartbeating to the end (every {} s; states: {changes})",
                        i.state, i.heartbeat_period_s
                    );
                }
                Fate::Left => {
                    let _ = writeln!(
                        o,
                        "left the ring (states: {changes}); its last heartbeat {} ({}) first \
                         seen at {}",
                        i.last_heartbeat,
                        unix(i.last_heartbeat),
                        t(i.last_heartbeat_seen)
                    );
                }
                Fate::StoppedHeartbeating | Fate::Unknown => {
                    let _ = write!(
                        o,
                        "stopped heartbeating at {}: last heartbeat {} ({}), after which nothing \
                         new came from it for {:.1} s to the end ({}); the others kept gossiping \
                         it as {} until {} and never unregistered it",
                        t(i.last_heartbeat_seen),
                        i.last_heartbeat,
                        unix(i.last_heartbeat),
                        i.silent_s,
                        t(end),
                        i.state,
                        t(i.last_gossiped),
                    );
                    if i.fate == Fate::Unknown {
                        o.push_str(
                            " (no other instance's heartbeat advanced after it either: the \
                             capture may simply have stopped seeing gossip)",
                        );
                    }
                    if let Some(u) = i.unhealthy_from {
                        let _ = write!(
                            o,
                            "; the ring page shows it UNHEALTHY from {} ({} s after its last \
                             heartbeat, dskit's default heartbeat timeout)",
                            unix(u),
                            HEARTBEAT_TIMEOUT_SECS
                        );
                    }
                    if let Some(m) = memberlist(&i.id) {
                        let _ = write!(o, "; memberlist {m}");
                    }
                    let _ = writeln!(o, " (states: {changes})");
                }
            }
        }
    }
    o
}

/// Unix seconds as UTC, `YYYY-MM-DDTHH:MM:SSZ`.
fn unix(s: i64) -> String {
    ::time::OffsetDateTime::from_unix_timestamp(s)
        .ok()
        .and_then(|t| {
            t.format(&::time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pair(instances: &[(&str, &str, i64)]) -> Value {
        let ring: serde_json::Map<String, Value> = instances
            .iter()
            .map(|(id, state, hb)| {
                (
                    id.to_string(),
                    json!({"Addr": "127.0.0.1:9095", "Zone": "z", "State": state, "Timestamp": hb}),
                )
            })
            .collect();
        json!({"Key": "ring", "Ring": {"Ingesters": ring}})
    }

    #[test]
    fn a_silent_instance_stopped_while_others_went_on_and_stale_copies_change_nothing() {
        let mut rings = Rings::default();
        let s = Duration::from_secs;
        for t in 0..10 {
            // b's heartbeat stops at 3; a stale copy of b LEAVING (older heartbeat) and
            // copies of its last heartbeat keep circulating.
            let b_hb = t.min(3);
            rings.pair(
                &pair(&[("a", "ACTIVE", 100 + t), ("b", "ACTIVE", 100 + b_hb)]),
                s(t as u64),
            );
            rings.pair(&pair(&[("b", "LEAVING", 99)]), s(t as u64));
        }
        let report = rings.report(s(9));
        let [a, b] = &report[0].instances[..] else {
            panic!("{report:?}")
        };
        assert_eq!(a.fate, Fate::Heartbeating);
        assert_eq!(b.fate, Fate::StoppedHeartbeating);
        assert_eq!((b.last_heartbeat, b.last_heartbeat_seen), (103, s(3)));
        assert_eq!(b.last_gossiped, s(9));
        assert_eq!(b.unhealthy_from, Some(163));
        assert_eq!(b.state_changes.len(), 1, "the stale LEAVING never counted");
    }

    #[test]
    fn left_wins_a_tie_and_a_quiet_capture_is_no_verdict() {
        let mut rings = Rings::default();
        let s = Duration::from_secs;
        rings.pair(&pair(&[("a", "ACTIVE", 100), ("b", "ACTIVE", 100)]), s(0));
        rings.pair(&pair(&[("b", "LEFT", 100)]), s(1));
        let report = rings.report(s(10));
        let [a, b] = &report[0].instances[..] else {
            panic!("{report:?}")
        };
        assert_eq!(b.fate, Fate::Left);
        assert_eq!(
            a.fate,
            Fate::Unknown,
            "nobody's heartbeat advanced after a's"
        );
    }
}
