//! What `memberlist decode --summary` prints: counts by message type, Serf type, source
//! and error, gossip bytes, decryption failures, IP fragments, and the membership
//! timeline (first seen alive, suspected by whom, refuted, declared dead, left).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::Value;

use super::decode::{Body, Row, NO_KEY};
use crate::wire::Message;

/// A change in a node's state as the capture shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    FirstSeenAlive,
    /// Alive at this incarnation after being suspected.
    Refuted(u32),
    /// Alive at this incarnation after being dead or gone.
    AliveAgain(u32),
    SuspectedBy(Arc<str>),
    DeclaredDeadBy(Arc<str>),
    /// Declared dead by itself: a graceful leave.
    Left,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::FirstSeenAlive => f.write_str("first seen alive"),
            Event::Refuted(inc) => write!(f, "refuted (incarnation {inc})"),
            Event::AliveAgain(inc) => write!(f, "alive again (incarnation {inc})"),
            Event::SuspectedBy(by) => write!(f, "suspected by {by}"),
            Event::DeclaredDeadBy(by) => write!(f, "declared dead by {by}"),
            Event::Left => f.write_str("left"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Alive,
    Suspect,
    Dead,
    Left,
}

/// Counts and the membership story told by the capture.
#[derive(Debug, Default)]
pub struct Summary {
    pub frames: u64,
    pub gossip_bytes: u64,
    pub by_type: BTreeMap<&'static str, u64>,
    /// Serf messages by type (user messages and push/pull states that are Serf's).
    pub serf_by_type: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub decrypt_failures: u64,
    /// IP datagrams that came in fragments: (reassembled, given up).
    pub ip_fragments: (u64, u64),
    pub by_source: FxHashMap<SocketAddr, u64>,
    /// (time, node, event) in capture order.
    pub timeline: Vec<(Duration, Arc<str>, Event)>,
    node_state: HashMap<Arc<str>, State>,
    /// Node names seen, stored once however many events name them.
    names: HashSet<Arc<str>>,
}

impl Summary {
    pub(crate) fn malformed_frame(&mut self) {
        *self.errors.entry("malformed frame".into()).or_default() += 1;
    }

    fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return n.clone();
        }
        let n: Arc<str> = name.into();
        self.names.insert(n.clone());
        n
    }

    pub(crate) fn record(&mut self, row: &Row) {
        *self.by_source.entry(row.src).or_default() += 1;
        let body = match &row.body {
            Err(e) => {
                if e.starts_with(NO_KEY) {
                    self.decrypt_failures += 1;
                }
                let cause = e.split(':').next().unwrap_or(e).to_string();
                *self.errors.entry(cause).or_default() += 1;
                return;
            }
            Ok(b) => b,
        };
        *self.by_type.entry(body.type_name()).or_default() += 1;
        if let Some(st) = row.serf.as_ref().and_then(|s| s["type"].as_str()) {
            *self.serf_by_type.entry(st.to_string()).or_default() += 1;
        }
        let Body::Packet(m) = body else { return };
        let (node, from, inc) = match m {
            Message::Alive(a) => (&a.node, None, a.incarnation),
            Message::Suspect(a) | Message::Dead(a) => (&a.node, Some(&a.from), a.incarnation),
            _ => return,
        };
        let node = node.to_str_lossy();
        let known = self.node_state.get(node.as_ref()).copied();
        let change = match (m, known) {
            (Message::Alive(_), None) => Some((State::Alive, Event::FirstSeenAlive)),
            (Message::Alive(_), Some(State::Suspect)) => Some((State::Alive, Event::Refuted(inc))),
            (Message::Alive(_), Some(State::Dead | State::Left)) => {
                Some((State::Alive, Event::AliveAgain(inc)))
            }
            (Message::Suspect(_), k) if k != Some(State::Suspect) => {
                let by = self.name(&from.map_or("?".into(), |f| f.to_str_lossy()));
                Some((State::Suspect, Event::SuspectedBy(by)))
            }
            (Message::Dead(_), k) => {
                let from = from.map_or("?".into(), |f| f.to_str_lossy());
                let (state, event) = if from == node {
                    (State::Left, Event::Left)
                } else {
                    (State::Dead, Event::DeclaredDeadBy(self.name(&from)))
                };
                (k != Some(state)).then_some((state, event))
            }
            _ => None,
        };
        if let Some((state, event)) = change {
            let node = self.name(&node);
            self.node_state.insert(node.clone(), state);
            self.timeline.push((row.time, node, event));
        }
    }

    /// The summary as JSON (keys sorted), written as it is serialized: a long capture's
    /// timeline is never built up as one `Value`.
    pub fn write_json(&self, out: impl std::io::Write, pretty: bool) -> serde_json::Result<()> {
        if pretty {
            serde_json::to_writer_pretty(out, &self.view())
        } else {
            serde_json::to_writer(out, &self.view())
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.view()).expect("a summary serializes")
    }

    fn view(&self) -> View<'_> {
        View {
            decryption_failures: self.decrypt_failures,
            errors: &self.errors,
            frames: self.frames,
            gossip_bytes: self.gossip_bytes,
            ip_fragments: Fragments {
                dropped: self.ip_fragments.1,
                reassembled: self.ip_fragments.0,
            },
            messages_by_type: &self.by_type,
            rows_by_source: self
                .by_source
                .iter()
                .map(|(a, n)| (a.to_string(), *n))
                .collect(),
            serf_messages_by_type: &self.serf_by_type,
            timeline: Timeline(&self.timeline),
        }
    }
}

/// The printed form; fields in sorted order, as `--format json` prints every object.
#[derive(Serialize)]
struct View<'a> {
    decryption_failures: u64,
    errors: &'a BTreeMap<String, u64>,
    frames: u64,
    gossip_bytes: u64,
    ip_fragments: Fragments,
    messages_by_type: &'a BTreeMap<&'static str, u64>,
    rows_by_source: BTreeMap<String, u64>,
    serf_messages_by_type: &'a BTreeMap<String, u64>,
    timeline: Timeline<'a>,
}

#[derive(Serialize)]
struct Fragments {
    dropped: u64,
    reassembled: u64,
}

struct Timeline<'a>(&'a [(Duration, Arc<str>, Event)]);

#[derive(Serialize)]
struct TimelineEntry<'a> {
    event: String,
    node: &'a str,
    time: String,
}

impl Serialize for Timeline<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(t, n, e)| TimelineEntry {
            event: e.to_string(),
            node: n,
            time: format!("{}.{:06}", t.as_secs(), t.subsec_micros()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Accusation, Alive};

    fn row(secs: u64, m: Message<'static>) -> Row {
        Row {
            body: Ok(Body::Packet(m)),
            ..Row::bare(
                secs,
                Duration::from_secs(secs),
                "127.0.0.1:7946".parse().unwrap(),
                "127.0.0.2:7946".parse().unwrap(),
                "udp",
            )
        }
    }

    fn alive(node: &str, inc: u32) -> Message<'static> {
        Message::Alive(Alive {
            incarnation: inc,
            node: node.to_string().into(),
            addr: None,
            port: 7946,
            meta: None,
            vsn: None,
        })
    }

    fn accusation(node: &str, from: &str) -> Accusation<'static> {
        Accusation {
            incarnation: 1,
            node: node.to_string().into(),
            from: from.to_string().into(),
        }
    }

    #[test]
    fn timeline_of_suspicion_refutation_death_and_return() {
        let mut s = Summary::default();
        let messages = [
            alive("a", 1),
            alive("a", 1),
            Message::Suspect(accusation("a", "b")),
            Message::Suspect(accusation("a", "c")),
            alive("a", 2),
            Message::Dead(accusation("a", "b")),
            alive("a", 3),
            Message::Dead(accusation("a", "a")),
        ];
        for (i, m) in messages.into_iter().enumerate() {
            s.record(&row(i as u64, m));
        }
        let story: Vec<(u64, String)> = s
            .timeline
            .iter()
            .map(|(t, n, e)| (t.as_secs(), format!("{n} {e}")))
            .collect();
        let want = [
            (0, "a first seen alive"),
            (2, "a suspected by b"),
            (4, "a refuted (incarnation 2)"),
            (5, "a declared dead by b"),
            (6, "a alive again (incarnation 3)"),
            (7, "a left"),
        ];
        assert_eq!(story, want.map(|(t, e)| (t, e.to_string())));
        assert_eq!(s.by_type["alive"], 4);
        assert_eq!(s.names.len(), 2, "a and b stored once each");
    }
}
