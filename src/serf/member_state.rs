//! Serf's view of the members: memberlist says who is up, Serf adds whether a node
//! that went away left on purpose (a leave intent arrived first) or failed, ordered
//! by the member Lamport clock so that stale intents change nothing.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::lamport::{LamportClock, LamportTime};
use super::tags::Tags;
use crate::node::{Member as NodeMember, Time, Versions};
use crate::wire::WireError;

/// Go's `RecentIntentTimeout`: how long an intent for a not-yet-known node is kept.
pub const RECENT_INTENT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Cap on buffered intents for unknown nodes, so a storm of intents about nodes of
/// another cluster cannot grow memory (Go has no cap; see Consul #1062).
pub const MAX_RECENT_INTENTS: usize = 4096;

/// A member's Serf status (Go's `MemberStatus`; the numbers are Go's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Not known (Go's `StatusNone`).
    None = 0,
    /// Running.
    Alive = 1,
    /// Sent a leave intent; left once memberlist says it is gone.
    Leaving = 2,
    /// Left gracefully.
    Left = 3,
    /// Gone without a leave intent; reconnected to until reaped.
    Failed = 4,
}

impl MemberStatus {
    /// Go's lower-case name (`alive`, `leaving`, `left`, `failed`), as `serf members` prints.
    pub fn name(self) -> &'static str {
        match self {
            MemberStatus::None => "none",
            MemberStatus::Alive => "alive",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Left => "left",
            MemberStatus::Failed => "failed",
        }
    }
}

/// One member as Serf sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerfMember {
    /// Its unique name.
    pub name: String,
    /// Its address bytes as memberlist advertised them.
    pub addr: Vec<u8>,
    /// Its gossip port.
    pub port: u16,
    /// Its tags, decoded from node meta.
    pub tags: BTreeMap<String, String>,
    /// Its Serf status.
    pub status: MemberStatus,
    /// The memberlist and Serf protocol versions it advertised.
    pub versions: Versions,
    /// LTime of the last intent applied to this member.
    pub status_ltime: LamportTime,
    /// When it failed or left, for the reaper.
    pub leave_time: Option<Time>,
}

impl SerfMember {
    /// The IP the address bytes hold, if they hold one.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        crate::node::member::ip_from_bytes(&self.addr)
    }
}

/// Which member event to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberEventKind {
    /// A member became alive.
    Join,
    /// A member left gracefully.
    Leave,
    /// A member failed.
    Failed,
    /// A member changed its tags.
    Update,
    /// A failed or left member was dropped from the table.
    Reap,
}

impl MemberEventKind {
    /// Go's event name (`member-join`, …), as event handlers see it.
    pub fn name(self) -> &'static str {
        match self {
            MemberEventKind::Join => "member-join",
            MemberEventKind::Leave => "member-leave",
            MemberEventKind::Failed => "member-failed",
            MemberEventKind::Update => "member-update",
            MemberEventKind::Reap => "member-reap",
        }
    }
}

/// Join and leave intents share one buffer slot per node name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntentKind {
    Join,
    Leave,
}

#[derive(Debug, Clone, Copy)]
struct Intent {
    kind: IntentKind,
    ltime: LamportTime,
    seen: Time,
}

/// What handling a leave intent asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// Stale or not news: drop it.
    Ignore,
    /// Re-broadcast it. `left` is a failed member that is now left (a member-leave
    /// event); `pruned` a member a force-leave with prune erased (a member-reap).
    Rebroadcast {
        /// The member now left, if it was failed.
        left: Option<Box<SerfMember>>,
        /// The member erased, if the intent asked to prune it.
        pruned: Option<Box<SerfMember>>,
    },
    /// It is about us while we are alive: broadcast a join intent instead.
    Refute,
}

/// The member table, the three statuses' bookkeeping and the intent buffer.
#[derive(Debug)]
pub struct Members {
    local: String,
    /// The member Lamport clock, which orders intents.
    pub clock: LamportClock,
    members: BTreeMap<String, SerfMember>,
    recent: HashMap<String, Intent>,
    /// Why tags of a member did not decode, for the caller to count and log.
    pub tag_errors: Vec<(String, WireError)>,
}

/// Tags from node meta the way Go Serf reads them: never refuses, keeps what decoded.
fn decode_tags(meta: &[u8]) -> (BTreeMap<String, String>, Option<WireError>) {
    let (tags, err) = Tags::decode_meta_lenient(meta);
    let map = tags
        .iter()
        .map(|(k, v)| (k.to_str_lossy().into_owned(), v.to_str_lossy().into_owned()))
        .collect();
    (map, err)
}

impl Members {
    /// A table that knows only `local`, ourselves, by name.
    pub fn new(local: &str) -> Self {
        let clock = LamportClock::new();
        // Go increments every clock once at creation, so time 0 is never sent.
        clock.increment();
        Members {
            local: local.to_owned(),
            clock,
            members: BTreeMap::new(),
            recent: HashMap::new(),
            tag_errors: Vec::new(),
        }
    }

    /// A member by name.
    pub fn get(&self, name: &str) -> Option<&SerfMember> {
        self.members.get(name)
    }

    /// Every member, by name.
    pub fn iter(&self) -> impl Iterator<Item = &SerfMember> {
        self.members.values()
    }

    /// Members that count for broadcasts and query sizes (memberlist's live ones).
    pub fn num_live(&self) -> usize {
        self.members
            .values()
            .filter(|m| matches!(m.status, MemberStatus::Alive | MemberStatus::Leaving))
            .count()
    }

    fn tags_of(&mut self, n: &NodeMember) -> BTreeMap<String, String> {
        let (tags, err) = decode_tags(&n.meta);
        if let Some(e) = err {
            self.tag_errors.push((n.name.clone(), e));
        }
        tags
    }

    /// memberlist says `n` is alive (new, or back after failing or leaving).
    pub fn node_join(&mut self, n: &NodeMember) -> SerfMember {
        let tags = self.tags_of(n);
        let member = match self.members.get_mut(&n.name) {
            Some(m) => {
                m.status = MemberStatus::Alive;
                m.leave_time = None;
                m.addr = n.addr.clone();
                m.port = n.port;
                m.tags = tags;
                m
            }
            None => {
                let mut m = SerfMember {
                    name: n.name.clone(),
                    addr: n.addr.clone(),
                    port: n.port,
                    tags,
                    status: MemberStatus::Alive,
                    versions: n.versions,
                    status_ltime: LamportTime(0),
                    leave_time: None,
                };
                if let Some(i) = self.recent.get(&n.name) {
                    m.status_ltime = i.ltime;
                    if i.kind == IntentKind::Leave {
                        m.status = MemberStatus::Leaving;
                    }
                }
                self.members.entry(n.name.clone()).or_insert(m)
            }
        };
        member.versions = n.versions;
        member.clone()
    }

    /// memberlist declared `n` dead or left: left if it announced it, else failed.
    pub fn node_leave(
        &mut self,
        n: &NodeMember,
        now: Time,
    ) -> Option<(MemberEventKind, SerfMember)> {
        let m = self.members.get_mut(&n.name)?;
        let kind = match m.status {
            MemberStatus::Leaving => {
                m.status = MemberStatus::Left;
                MemberEventKind::Leave
            }
            MemberStatus::Alive => {
                m.status = MemberStatus::Failed;
                MemberEventKind::Failed
            }
            _ => return None,
        };
        m.leave_time = Some(now);
        Some((kind, m.clone()))
    }

    /// `n` changed its meta.
    pub fn node_update(&mut self, n: &NodeMember) -> Option<SerfMember> {
        let tags = self.tags_of(n);
        let m = self.members.get_mut(&n.name)?;
        m.addr = n.addr.clone();
        m.port = n.port;
        m.tags = tags;
        m.versions = n.versions;
        Some(m.clone())
    }

    /// Buffers an intent about a node we do not know yet; true if it was news.
    fn upsert_intent(
        &mut self,
        node: &str,
        kind: IntentKind,
        ltime: LamportTime,
        now: Time,
    ) -> bool {
        match self.recent.get(node) {
            Some(i) if i.ltime >= ltime => false,
            None if self.recent.len() >= MAX_RECENT_INTENTS => false,
            _ => {
                self.recent.insert(
                    node.to_owned(),
                    Intent {
                        kind,
                        ltime,
                        seen: now,
                    },
                );
                true
            }
        }
    }

    /// A join intent; true means re-broadcast it.
    pub fn join_intent(&mut self, node: &str, ltime: LamportTime, now: Time) -> bool {
        self.clock.witness(ltime);
        let Some(m) = self.members.get_mut(node) else {
            return self.upsert_intent(node, IntentKind::Join, ltime, now);
        };
        if ltime <= m.status_ltime {
            return false;
        }
        m.status_ltime = ltime;
        if m.status == MemberStatus::Leaving {
            m.status = MemberStatus::Alive;
        }
        true
    }

    /// A leave intent. `we_are_alive` is whether our own Serf is running normally
    /// (a leave about us is then refuted rather than believed).
    pub fn leave_intent(
        &mut self,
        node: &str,
        ltime: LamportTime,
        prune: bool,
        we_are_alive: bool,
        now: Time,
    ) -> LeaveOutcome {
        self.clock.witness(ltime);
        let Some(m) = self.members.get_mut(node) else {
            return if self.upsert_intent(node, IntentKind::Leave, ltime, now) {
                LeaveOutcome::Rebroadcast {
                    left: None,
                    pruned: None,
                }
            } else {
                LeaveOutcome::Ignore
            };
        };
        if ltime <= m.status_ltime {
            return LeaveOutcome::Ignore;
        }
        if node == self.local && we_are_alive {
            return LeaveOutcome::Refute;
        }
        m.status_ltime = ltime;
        let left = match m.status {
            MemberStatus::Alive => {
                m.status = MemberStatus::Leaving;
                None
            }
            MemberStatus::Failed => {
                m.status = MemberStatus::Left;
                m.leave_time = Some(now);
                Some(Box::new(m.clone()))
            }
            MemberStatus::Leaving | MemberStatus::Left => None,
            MemberStatus::None => return LeaveOutcome::Ignore,
        };
        let pruned = if prune {
            self.members.remove(node).map(Box::new)
        } else {
            None
        };
        LeaveOutcome::Rebroadcast { left, pruned }
    }

    /// Our own status moves (leaving before the leave intent goes out).
    pub fn set_local_status(&mut self, status: MemberStatus) {
        let local = self.local.clone();
        if let Some(m) = self.members.get_mut(&local) {
            m.status = status;
        }
    }

    /// Erases failed members older than `reconnect_timeout`, left ones older than
    /// `tombstone_timeout`, and expired intents; returns the reaped members.
    pub fn reap(
        &mut self,
        now: Time,
        reconnect_timeout: Duration,
        tombstone_timeout: Duration,
    ) -> Vec<SerfMember> {
        let due: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                let limit = match m.status {
                    MemberStatus::Failed => reconnect_timeout,
                    MemberStatus::Left => tombstone_timeout,
                    _ => return false,
                };
                m.leave_time
                    .is_some_and(|t| now.saturating_since(t) > limit)
            })
            .map(|m| m.name.clone())
            .collect();
        self.recent
            .retain(|_, i| now.saturating_since(i.seen) <= RECENT_INTENT_TIMEOUT);
        due.iter().filter_map(|n| self.members.remove(n)).collect()
    }

    /// Members in the failed state, for reconnect attempts.
    pub fn failed(&self) -> impl Iterator<Item = &SerfMember> {
        self.members
            .values()
            .filter(|m| m.status == MemberStatus::Failed)
    }

    /// Names of left members, for the push/pull state.
    pub fn left_names(&self) -> impl Iterator<Item = &str> {
        self.members
            .values()
            .filter(|m| m.status == MemberStatus::Left)
            .map(|m| m.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::State;

    fn node(name: &str, meta: &[u8]) -> NodeMember {
        NodeMember {
            name: name.into(),
            addr: vec![127, 0, 0, 1],
            port: 7946,
            meta: meta.to_vec(),
            versions: Versions::default(),
            incarnation: 1,
            state: State::Alive,
            state_change: Time::ZERO,
        }
    }

    const T: Time = Time::ZERO;

    #[test]
    fn clock_starts_at_one_and_intents_witness() {
        let mut m = Members::new("me");
        assert_eq!(m.clock.time(), LamportTime(1));
        m.node_join(&node("a", b""));
        assert!(m.join_intent("a", LamportTime(5), T));
        assert_eq!(m.clock.time(), LamportTime(6));
        // Same or older LTime: nothing new.
        assert!(!m.join_intent("a", LamportTime(5), T));
        assert!(!m.join_intent("a", LamportTime(2), T));
        assert_eq!(m.get("a").unwrap().status_ltime, LamportTime(5));
    }

    #[test]
    fn leave_intent_then_death_is_left_without_it_failed() {
        let mut m = Members::new("me");
        m.node_join(&node("a", b""));
        m.node_join(&node("b", b""));
        assert_eq!(
            m.leave_intent("a", LamportTime(3), false, true, T),
            LeaveOutcome::Rebroadcast {
                left: None,
                pruned: None
            }
        );
        assert_eq!(m.get("a").unwrap().status, MemberStatus::Leaving);
        let (k, _) = m.node_leave(&node("a", b""), T).unwrap();
        assert_eq!(k, MemberEventKind::Leave);
        let (k, _) = m.node_leave(&node("b", b""), T).unwrap();
        assert_eq!(k, MemberEventKind::Failed);
        // A leave intent for a failed member turns it left, with an event.
        match m.leave_intent("b", LamportTime(9), false, true, T) {
            LeaveOutcome::Rebroadcast { left: Some(b), .. } => {
                assert_eq!(b.status, MemberStatus::Left)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.left_names().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn leave_about_ourselves_is_refuted_while_alive() {
        let mut m = Members::new("me");
        m.node_join(&node("me", b""));
        assert_eq!(
            m.leave_intent("me", LamportTime(4), false, true, T),
            LeaveOutcome::Refute
        );
        assert_eq!(m.get("me").unwrap().status, MemberStatus::Alive);
        let out = m.leave_intent("me", LamportTime(5), true, false, T);
        let LeaveOutcome::Rebroadcast {
            left: None,
            pruned: Some(me),
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            (me.status, me.status_ltime),
            (MemberStatus::Leaving, LamportTime(5))
        );
        assert!(m.get("me").is_none());
    }

    #[test]
    fn intents_for_unknown_nodes_are_buffered_and_applied_on_join() {
        let mut m = Members::new("me");
        assert_eq!(
            m.leave_intent("x", LamportTime(7), false, true, T),
            LeaveOutcome::Rebroadcast {
                left: None,
                pruned: None
            }
        );
        // An older intent about the same node is not news.
        assert!(!m.join_intent("x", LamportTime(6), T));
        let x = m.node_join(&node("x", b""));
        assert_eq!(
            (x.status, x.status_ltime),
            (MemberStatus::Leaving, LamportTime(7))
        );
        // Buffered intents expire.
        assert!(m.join_intent("y", LamportTime(1), T));
        m.reap(
            T + RECENT_INTENT_TIMEOUT + Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert!(m.recent.is_empty());
    }

    #[test]
    fn reaper_erases_failed_and_left_after_their_timeouts() {
        let mut m = Members::new("me");
        m.node_join(&node("f", b""));
        m.node_leave(&node("f", b""), T);
        let day = Duration::from_secs(86_400);
        assert!(m.reap(T + day, day, day).is_empty());
        let reaped = m.reap(T + day + Duration::from_secs(1), day, day);
        assert_eq!(reaped[0].name, "f");
        assert!(m.get("f").is_none());
    }

    #[test]
    fn malformed_tags_keep_the_member_and_are_reported() {
        let mut m = Members::new("me");
        let a = m.node_join(&node(
            "a",
            &[0xff, 0x81, 0xa4, b'r', b'o', b'l', b'e', 0x01],
        ));
        assert_eq!(a.status, MemberStatus::Alive);
        assert!(a.tags.is_empty());
        assert_eq!(m.tag_errors.len(), 1);
        let b = m.node_join(&node("b", b"web"));
        assert_eq!(b.tags.get("role").map(String::as_str), Some("web"));
    }
}
