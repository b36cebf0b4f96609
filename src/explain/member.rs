//! What the capture tells about one member, in memory bounded per member: its state
//! as the gossip about it goes (alive, suspect, dead, left), the changes (joins,
//! refutations, meta changes, suspicions and who confirmed them, deaths, leaves), the
//! first and last packet from it, round-trip times, its Serf coordinate, decryption
//! failures of its packets, and its failed probes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::probes::Probe;
use super::rtt::Rtts;

/// Most timeline events kept per member (counted beyond this).
const MAX_EVENTS: usize = 512;
/// Most failed probes of a member kept (the newest).
const MAX_FAILED: usize = 64;
/// Most suspicions kept per member.
const MAX_SUSPICIONS: usize = 64;
/// A pause in a member's packets longer than this is remembered as a silence (a
/// healthy member gossips or probes several times in this time).
const SILENCE: Duration = Duration::from_millis(300);
/// Most silences kept per member (the newest).
const MAX_SILENCES: usize = 64;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Change {
    /// First seen alive (a join, or the member was there when the capture began).
    Joined {
        incarnation: u32,
    },
    MetaChanged {
        incarnation: u32,
        meta: String,
    },
    Suspected {
        by: Arc<str>,
        incarnation: u32,
    },
    /// Another member's own suspicion of the same member (Lifeguard counts these).
    Confirmed {
        by: Arc<str>,
    },
    /// Alive at a higher incarnation while suspected: the member answered the rumour.
    Refuted {
        incarnation: u32,
    },
    /// Alive again after being declared dead or leaving.
    AliveAgain {
        incarnation: u32,
    },
    Dead {
        by: Arc<str>,
        incarnation: u32,
    },
    Left {
        incarnation: u32,
    },
}

/// The row a change was first seen in: which capture (index into `captures`), frame,
/// addresses and the message, for the reader to find it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub capture: usize,
    pub frame: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Alive,
    Suspect,
    Dead,
    Left,
}

/// One suspicion of the member and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Suspicion {
    #[serde(serialize_with = "super::report::time")]
    pub at: Duration,
    pub by: Arc<str>,
    pub incarnation: u32,
    pub confirmations: Vec<Confirmation>,
    pub outcome: Outcome,
}

/// Another member's suspicion of the same member, while it was suspected.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    pub by: Arc<str>,
    #[serde(serialize_with = "super::report::time")]
    pub at: Duration,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Still suspected when the capture ended.
    Open,
    Refuted {
        #[serde(serialize_with = "super::report::time")]
        at: Duration,
        incarnation: u32,
    },
    Dead {
        #[serde(serialize_with = "super::report::time")]
        at: Duration,
        by: Arc<str>,
    },
    Left {
        #[serde(serialize_with = "super::report::time")]
        at: Duration,
    },
}

#[derive(Debug)]
pub struct Member {
    pub name: Arc<str>,
    pub addr: Option<SocketAddr>,
    pub state: Option<State>,
    pub incarnation: u32,
    meta: Option<Vec<u8>>,
    pub changes: Vec<(Duration, Change, Evidence)>,
    pub changes_dropped: u64,
    pub suspicions: Vec<Suspicion>,
    pub first_packet: Option<Duration>,
    pub last_packet: Option<Duration>,
    pub packets: u64,
    /// Pauses in its packets longer than `SILENCE`: (last packet before, first after).
    pub silences: VecDeque<(Duration, Duration)>,
    pub rtt: Rtts,
    pub coordinate: Option<serde_json::Value>,
    /// Consul's or Nomad's reading of its latest Serf tags (`apps::product`).
    pub product: Option<serde_json::Value>,
    /// Packets from the member's address no key opened: count, first, last.
    pub decrypt_failures: (u64, Option<Duration>, Option<Duration>),
    /// The member's own probes of others: sent, answered.
    pub probes_sent: (u64, u64),
    /// Probes of the member by others: sent, answered.
    pub probed: (u64, u64),
    pub failed: VecDeque<Probe>,
    pub failed_total: u64,
    /// The last time the member acked each prober directly, within the probe timeout.
    pub acked: FxHashMap<Arc<str>, Duration>,
}

impl Member {
    pub fn new(name: Arc<str>) -> Self {
        Member {
            name,
            addr: None,
            state: None,
            incarnation: 0,
            meta: None,
            changes: Vec::new(),
            changes_dropped: 0,
            suspicions: Vec::new(),
            first_packet: None,
            last_packet: None,
            packets: 0,
            silences: VecDeque::new(),
            rtt: Rtts::default(),
            coordinate: None,
            product: None,
            decrypt_failures: (0, None, None),
            probes_sent: (0, 0),
            probed: (0, 0),
            failed: VecDeque::new(),
            failed_total: 0,
            acked: FxHashMap::default(),
        }
    }

    fn change(&mut self, at: Duration, c: Change, ev: &dyn Fn() -> Evidence) {
        if self.changes.len() < MAX_EVENTS {
            self.changes.push((at, c, ev()));
        } else {
            self.changes_dropped += 1;
        }
    }

    pub fn packet(&mut self, at: Duration) {
        self.packets += 1;
        self.first_packet.get_or_insert(at);
        if let Some(last) = self.last_packet.filter(|l| at.saturating_sub(*l) > SILENCE) {
            if self.silences.len() == MAX_SILENCES {
                self.silences.pop_front();
            }
            self.silences.push_back((last, at));
        }
        self.last_packet = Some(self.last_packet.map_or(at, |l| l.max(at)));
    }

    /// When the member fell silent, if it sent nothing from `from` to `to`: the time
    /// of its last packet before, and of its first after (`None`: not until the end).
    pub fn silent(&self, from: Duration, to: Duration) -> Option<(Duration, Option<Duration>)> {
        match self.last_packet {
            Some(last) if last <= from => return Some((last, None)),
            None => return None,
            _ => {}
        }
        self.silences
            .iter()
            .find(|(before, after)| *before <= from && *after >= to)
            .map(|(b, a)| (*b, Some(*a)))
    }

    /// An alive message or push/pull entry; `shown` renders the meta for a person
    /// (Serf's tags, or the bytes as text).
    pub fn alive(
        &mut self,
        at: Duration,
        incarnation: u32,
        meta: &[u8],
        shown: impl FnOnce() -> String,
        ev: &dyn Fn() -> Evidence,
    ) {
        match self.state {
            None => {
                self.change(at, Change::Joined { incarnation }, ev);
                self.meta = Some(meta.to_vec());
            }
            Some(State::Suspect) if incarnation > self.incarnation => {
                self.change(at, Change::Refuted { incarnation }, ev);
                if let Some(s) = self.suspicions.last_mut() {
                    s.outcome = Outcome::Refuted { at, incarnation };
                }
            }
            Some(State::Dead | State::Left) if incarnation > self.incarnation => {
                self.change(at, Change::AliveAgain { incarnation }, ev);
            }
            Some(_) if incarnation > self.incarnation => {}
            // Old news: an alive at this or an older incarnation changes nothing.
            Some(_) => return,
        }
        if self.meta.as_deref() != Some(meta) {
            self.change(
                at,
                Change::MetaChanged {
                    incarnation,
                    meta: shown(),
                },
                ev,
            );
            self.meta = Some(meta.to_vec());
        }
        self.state = Some(State::Alive);
        self.incarnation = incarnation;
    }

    pub fn suspect(
        &mut self,
        at: Duration,
        incarnation: u32,
        by: Arc<str>,
        ev: &dyn Fn() -> Evidence,
    ) {
        match self.state {
            Some(State::Alive) | None if incarnation >= self.incarnation => {
                self.change(
                    at,
                    Change::Suspected {
                        by: by.clone(),
                        incarnation,
                    },
                    ev,
                );
                if self.suspicions.len() < MAX_SUSPICIONS {
                    self.suspicions.push(Suspicion {
                        at,
                        by,
                        incarnation,
                        confirmations: Vec::new(),
                        outcome: Outcome::Open,
                    });
                }
                self.state = Some(State::Suspect);
                self.incarnation = incarnation;
            }
            Some(State::Suspect) => {
                let Some(s) = self.suspicions.last_mut() else {
                    return;
                };
                if s.by != by && !s.confirmations.iter().any(|c| c.by == by) {
                    s.confirmations.push(Confirmation { by: by.clone(), at });
                    self.change(at, Change::Confirmed { by }, ev);
                }
            }
            _ => {}
        }
    }

    pub fn dead(
        &mut self,
        at: Duration,
        incarnation: u32,
        by: Arc<str>,
        ev: &dyn Fn() -> Evidence,
    ) {
        if incarnation < self.incarnation || matches!(self.state, Some(State::Dead | State::Left)) {
            return;
        }
        let left = by == self.name;
        let outcome = if left {
            self.change(at, Change::Left { incarnation }, ev);
            self.state = Some(State::Left);
            Outcome::Left { at }
        } else {
            self.change(
                at,
                Change::Dead {
                    by: by.clone(),
                    incarnation,
                },
                ev,
            );
            self.state = Some(State::Dead);
            Outcome::Dead { at, by }
        };
        if let Some(s) = self
            .suspicions
            .last_mut()
            .filter(|s| s.outcome == Outcome::Open)
        {
            s.outcome = outcome;
        }
        self.incarnation = incarnation;
    }

    pub fn failed_probe(&mut self, p: Probe) {
        self.failed_total += 1;
        if self.failed.len() == MAX_FAILED {
            self.failed.pop_front();
        }
        self.failed.push_back(p);
    }

    /// Entries held (for the tests that check memory stays bounded).
    #[cfg(test)]
    pub fn retained(&self) -> usize {
        let confirmations: usize = self.suspicions.iter().map(|s| s.confirmations.len()).sum();
        let helpers: usize = self.failed.iter().map(|p| p.helpers.len()).sum();
        self.changes.len()
            + self.suspicions.len()
            + confirmations
            + self.silences.len()
            + self.rtt.retained()
            + self.failed.len()
            + helpers
            + self.acked.len()
    }

    pub fn acked_by(&mut self, prober: &Arc<str>, at: Duration) {
        match self.acked.get_mut(prober) {
            Some(last) => *last = at,
            None => {
                self.acked.insert(prober.clone(), at);
            }
        }
    }
}
