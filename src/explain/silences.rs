//! How Alertmanager's silences spread: for each silence ID the rows carry (a broadcast
//! `sil` part, or a push/pull full state), when it was first seen, who sent it first,
//! and when it first reached each member and how (gossip or push/pull). A member it never
//! reached is named in the report.
//!
//! A member is reached when a packet or stream carrying the silence is addressed to its
//! gossip address. A push/pull's answer goes back to the dialer's ephemeral TCP port,
//! which names no member: those copies are counted, not attributed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::names::Names;
use super::report::time;
use crate::apps::alertmanager::{matchers_text, Via};
use crate::inspect::Row;

/// Most silences followed (a capture of a busy cluster holds thousands in every
/// push/pull; the first ones seen are kept).
const MAX_SILENCES: usize = 4096;

/// One silence as the capture saw it spread.
#[derive(Debug)]
struct Track {
    first: Duration,
    first_from: SocketAddr,
    matchers: String,
    created_by: String,
    comment: String,
    /// By member: when it first arrived there, and how.
    reached: BTreeMap<Arc<str>, (Duration, Via)>,
    /// Copies sent to addresses no member is known at (push/pull answers).
    unattributed: u64,
}

/// Every silence in the rows, in the order first seen.
#[derive(Debug, Default)]
pub struct Silences {
    tracks: Vec<(String, Track)>,
    index: BTreeMap<String, usize>,
    /// Silences seen after the first `MAX_SILENCES` were followed.
    pub dropped: u64,
}

impl Silences {
    /// Folds in one row: its Alertmanager payload, if it has one.
    pub fn row(&mut self, names: &Names, r: &Row) {
        let Some(app) = r.app.as_deref() else { return };
        if app["app"] != "alertmanager" {
            return;
        }
        let (via, parts): (Via, Vec<&Value>) = match app["type"].as_str() {
            Some("part") => (Via::Gossip, vec![&app["fields"]]),
            Some("full_state") => (
                Via::PushPull,
                app["fields"]["Parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .collect(),
            ),
            _ => return,
        };
        let to = names.of(&r.dst);
        for s in parts
            .into_iter()
            .filter(|p| p["Key"] == "sil")
            .flat_map(|p| p["Silences"].as_array().into_iter().flatten())
        {
            let Some(id) = s["Id"].as_str() else { continue };
            let i = match self.index.get(id) {
                Some(&i) => i,
                None if self.tracks.len() >= MAX_SILENCES => {
                    self.dropped += 1;
                    continue;
                }
                None => {
                    let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                    self.tracks.push((
                        id.to_owned(),
                        Track {
                            first: r.time,
                            first_from: r.src,
                            matchers: matchers_text(s),
                            created_by: text("CreatedBy"),
                            comment: text("Comment"),
                            reached: BTreeMap::new(),
                            unattributed: 0,
                        },
                    ));
                    self.index.insert(id.to_owned(), self.tracks.len() - 1);
                    self.tracks.len() - 1
                }
            };
            let t = &mut self.tracks[i].1;
            match &to {
                Some(m) => {
                    t.reached.entry(m.clone()).or_insert((r.time, via));
                }
                None => t.unattributed += 1,
            }
        }
    }

    /// The report's view: each silence with the members it reached and those it did
    /// not: of `members` (each with the time of its last packet), those still sending
    /// once the silence was first seen.
    pub fn report(&self, names: &Names, members: &[(Arc<str>, Duration)]) -> Vec<SilenceReport> {
        self.tracks
            .iter()
            .map(|(id, t)| {
                let origin = names.of(&t.first_from);
                // The member it came from hears it again from the others: no news.
                let mut reached: Vec<Reach> = t
                    .reached
                    .iter()
                    .filter(|(m, _)| origin.as_ref() != Some(*m))
                    .map(|(m, &(at, via))| Reach {
                        member: m.clone(),
                        at,
                        after_ms: at.saturating_sub(t.first).as_secs_f64() * 1000.0,
                        via: via.name(),
                    })
                    .collect();
                reached.sort_by_key(|r| r.at);
                let missed = members
                    .iter()
                    .filter(|(m, last)| {
                        *last >= t.first && !t.reached.contains_key(m) && origin.as_ref() != Some(m)
                    })
                    .map(|(m, _)| m.clone())
                    .collect();
                SilenceReport {
                    id: id.clone(),
                    matchers: t.matchers.clone(),
                    created_by: t.created_by.clone(),
                    comment: t.comment.clone(),
                    first_seen: t.first,
                    first_from: origin.map_or_else(|| t.first_from.to_string(), |m| m.to_string()),
                    reached,
                    not_reached: missed,
                    unattributed_copies: t.unattributed,
                }
            })
            .collect()
    }
}

/// A silence: where it was first seen, whom it reached and whom not.
#[derive(Debug, Serialize)]
pub struct SilenceReport {
    pub id: String,
    pub matchers: String,
    pub created_by: String,
    pub comment: String,
    #[serde(serialize_with = "time")]
    pub first_seen: Duration,
    /// The member (or address) that sent the first copy: where it was created, unless the
    /// capture began later.
    pub first_from: String,
    pub reached: Vec<Reach>,
    /// Members the capture knows that no copy was addressed to.
    pub not_reached: Vec<Arc<str>>,
    /// Copies to addresses no member is known at (push/pull answers to a dialer's port).
    pub unattributed_copies: u64,
}

/// A member a silence reached: first arrival, how long after it was first seen, how.
#[derive(Debug, Serialize)]
pub struct Reach {
    pub member: Arc<str>,
    #[serde(serialize_with = "time")]
    pub at: Duration,
    pub after_ms: f64,
    /// `gossip` (a broadcast part) or `push-pull` (a full state).
    pub via: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A row carrying silence `id` from `src` to `dst` at `secs`, as the inspector
    /// decodes a broadcast part.
    fn row(secs: u64, src: u16, dst: u16, id: &str) -> Row {
        let app = json!({"app": "alertmanager", "type": "part", "fields": {
            "Key": "sil",
            "Silences": [{"Id": id, "Matchers": [{"Name": "a", "Type": "=", "Pattern": "b"}],
                          "CreatedBy": "me", "Comment": "c"}],
        }});
        Row {
            body: Err("not needed here".into()),
            app: Some(Arc::new(app)),
            ..Row::bare(secs, Duration::from_secs(secs), addr(src), addr(dst), "udp")
        }
    }

    #[test]
    fn a_silence_reaches_some_members_and_not_others() {
        let mut names = Names::default();
        for (port, name) in [(1, "a"), (2, "b"), (3, "c"), (4, "gone")] {
            names.learn(addr(port), name);
        }
        let mut s = Silences::default();
        s.row(&names, &row(10, 1, 2, "s1"));
        s.row(&names, &row(11, 2, 1, "s1"));
        s.row(&names, &row(12, 2, 2, "s1"));
        s.row(&names, &row(13, 2, 9, "s1"));
        let sending: Vec<(Arc<str>, Duration)> = [("a", 20), ("b", 20), ("c", 20), ("gone", 5)]
            .iter()
            .map(|&(n, last)| (Arc::from(n), Duration::from_secs(last)))
            .collect();
        let r = s.report(&names, &sending);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!((r.id.as_str(), r.first_from.as_str()), ("s1", "a"));
        assert_eq!(r.matchers, "{a=\"b\"}");
        // b first at 10 s (not again at 12 s); a, where it began, is not "reached".
        let reached: Vec<_> = r
            .reached
            .iter()
            .map(|x| (&*x.member, x.after_ms, x.via))
            .collect();
        assert_eq!(reached, [("b", 0.0, "gossip")]);
        // c was still sending and got no copy; `gone` stopped before the silence.
        assert_eq!(r.not_reached, [Arc::<str>::from("c")]);
        assert_eq!(r.unattributed_copies, 1);
    }
}
