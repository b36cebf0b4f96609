//! The application's hooks into the node (Go's `Delegate`, `EventDelegate`,
//! `PingDelegate`, `AliveDelegate`, `MergeDelegate` and `ConflictDelegate` in one trait).
//!
//! The state machine calls these synchronously while it handles an input, so they
//! must not block. Every method has a default that does what Go does when the
//! corresponding delegate is not set, so an application implements only what it uses.

use std::time::Duration;

use super::machine::Machine;
use super::member::Member;
use super::time::Time;

/// Why a delegate refused a node or a merge; the text is logged and counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// The application's side of a member: every hook Go spreads over its delegate
/// interfaces, each with a default that behaves as if that interface were unset.
pub trait Delegate {
    /// A message that arrived in a user packet or a reliable user stream.
    fn notify_msg(&mut self, msg: &[u8]) {
        let _ = msg;
    }

    /// User broadcasts to piggyback, each at most `limit` bytes including
    /// `overhead` per message. Called for every outgoing packet with room left.
    fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Vec<u8>> {
        let _ = (overhead, limit);
        Vec::new()
    }

    /// Whether `get_broadcasts` might return anything. The node skips its gossip ticks
    /// (and the wake-ups they cost) while neither its own queue nor the delegate has news;
    /// the default says "maybe" so a delegate that does not track this loses nothing.
    fn has_broadcasts(&self) -> bool {
        true
    }

    /// Our part of a push/pull exchange (Serf puts its own state here).
    fn local_state(&mut self, join: bool) -> Vec<u8> {
        let _ = join;
        Vec::new()
    }

    /// The peer's part of a push/pull exchange; not called when it sent none.
    fn merge_remote_state(&mut self, state: &[u8], join: bool) {
        let _ = (state, join);
    }

    /// A member was seen alive for the first time, or again after dead or left.
    fn notify_join(&mut self, member: &Member) {
        let _ = member;
    }

    /// A member was declared dead or left.
    fn notify_leave(&mut self, member: &Member) {
        let _ = member;
    }

    /// A live member changed its meta.
    fn notify_update(&mut self, member: &Member) {
        let _ = member;
    }

    /// Another address claims an existing member's name.
    fn notify_conflict(&mut self, existing: &Member, other: &Member) {
        let _ = (existing, other);
    }

    /// Payload for the acks we send (Serf and Consul put network coordinates here).
    fn ack_payload(&mut self) -> Vec<u8> {
        Vec::new()
    }

    /// A direct probe was acked after `rtt`, with the peer's ack payload.
    fn notify_ping_complete(&mut self, member: &Member, rtt: Duration, payload: &[u8]) {
        let _ = (member, rtt, payload);
    }

    /// Vets every alive message before it changes the member list.
    fn notify_alive(&mut self, member: &Member) -> Result<(), Refusal> {
        let _ = member;
        Ok(())
    }

    /// Vets the member list a peer sends when joining (push/pull with `join` set).
    fn notify_merge(&mut self, members: &[Member]) -> Result<(), Refusal> {
        let _ = members;
        Ok(())
    }

    /// When the delegate's own timers next need [`Delegate::drive`] (Serf's query
    /// deadlines, reaper, reconnects); `None` when it has none.
    fn poll_timeout(&self) -> Option<Time> {
        None
    }

    /// Runs after every input the machine handled, with the machine at hand: the
    /// hooks above run inside the machine and cannot use it, so work that needs it
    /// (sending to an address, changing the keyring, joining) is queued there and
    /// carried out here, together with the delegate's timers due at `now`.
    fn drive(machine: &mut Machine<Self>, now: Time)
    where
        Self: Sized,
    {
        let _ = (machine, now);
    }
}

/// A delegate that uses none of the hooks.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDelegate;

impl Delegate for NoDelegate {
    fn has_broadcasts(&self) -> bool {
        false
    }
}
