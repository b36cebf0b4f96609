//! A ready-made delegate that turns the machine's callbacks into a stream of
//! [`Event`]s and keeps a queue of user broadcasts, for applications (and the
//! `memberlist agent`) that want events rather than callbacks.

use std::time::Duration;

use tokio::sync::mpsc;

use super::delegate::Delegate;
use super::member::Member;
use super::queue::{Broadcast, BroadcastQueue, Kind};

/// Something that happened to the cluster, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A member was seen alive for the first time, or again after dead or left.
    Join(Member),
    /// A member was declared dead or left gracefully (its `state` says which).
    Leave(Member),
    /// A live member changed its meta (a new incarnation).
    Update(Member),
    /// A user message (best-effort, reliable or broadcast).
    Message(Vec<u8>),
    /// Another address claims the name of a member we know; Go keeps the existing one.
    Conflict {
        /// The member as we know it.
        existing: Member,
        /// The newcomer with the same name.
        other: Member,
    },
    /// A direct probe was acked.
    PingComplete {
        /// The probed member's name.
        member: String,
        /// Time from our ping to its ack.
        rtt: Duration,
    },
}

/// A user broadcast: sent to every member a few times, never replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserBroadcast(Vec<u8>);

impl Broadcast for UserBroadcast {
    fn message(&self) -> &[u8] {
        &self.0
    }

    fn kind(&self) -> Kind<'_> {
        Kind::Unique
    }
}

/// Sends every event to a channel and gossips queued user broadcasts.
pub struct EventDelegate {
    events: mpsc::UnboundedSender<Event>,
    broadcasts: BroadcastQueue<UserBroadcast>,
    /// Members we know to be up, ourselves included: scales retransmissions.
    live: usize,
}

impl EventDelegate {
    /// A delegate and the receiving end of its events. `retransmit_mult` is the
    /// config's, so user broadcasts are repeated like member news.
    pub fn new(retransmit_mult: usize) -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (events, rx) = mpsc::unbounded_channel();
        let d = EventDelegate {
            events,
            broadcasts: BroadcastQueue::new(retransmit_mult),
            live: 0,
        };
        (d, rx)
    }

    /// Queues a message for every member (Go applications do this with a
    /// `TransmitLimitedQueue` in their delegate).
    pub fn queue_broadcast(&mut self, msg: Vec<u8>) {
        self.broadcasts.queue_broadcast(UserBroadcast(msg));
    }

    fn emit(&self, e: Event) {
        // The receiver may be gone (the application stopped listening): not an error.
        let _ = self.events.send(e);
    }
}

impl Delegate for EventDelegate {
    fn notify_msg(&mut self, msg: &[u8]) {
        self.emit(Event::Message(msg.to_vec()));
    }

    fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Vec<u8>> {
        self.broadcasts
            .get_broadcasts(overhead, limit, self.live.max(1))
    }

    fn has_broadcasts(&self) -> bool {
        !self.broadcasts.is_empty()
    }

    fn notify_join(&mut self, member: &Member) {
        self.live += 1;
        self.emit(Event::Join(member.clone()));
    }

    fn notify_leave(&mut self, member: &Member) {
        self.live = self.live.saturating_sub(1);
        self.emit(Event::Leave(member.clone()));
    }

    fn notify_update(&mut self, member: &Member) {
        self.emit(Event::Update(member.clone()));
    }

    fn notify_conflict(&mut self, existing: &Member, other: &Member) {
        self.emit(Event::Conflict {
            existing: existing.clone(),
            other: other.clone(),
        });
    }

    fn notify_ping_complete(&mut self, member: &Member, rtt: Duration, _payload: &[u8]) {
        self.emit(Event::PingComplete {
            member: member.name.clone(),
            rtt,
        });
    }
}
