//! The transmit-limited broadcast queue (Go's `TransmitLimitedQueue`).
//!
//! Gossip has no acknowledgements: a message reaches the cluster because every node
//! that knows it repeats it a few times, piggybacked on probes and gossip packets.
//! This queue decides which messages fill the space left in each outgoing packet and
//! when a message has been repeated enough (`retransmit_limit`) to be dropped.
//!
//! Selection favours the least-sent messages, then the longest (to fill the packet),
//! then the newest; a newer message about a node replaces the queued one about the
//! same node, because the older news is obsolete. All of this is observable from the
//! outside (which facts travel in which packet), so it follows Go rule for rule.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use super::scaling::retransmit_limit;

/// How a queued message relates to the others, which decides what it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// News about the named node: replaces any queued message with the same name.
    /// (Go treats an empty name like `Plain`, and so does this queue.)
    Named(&'a str),
    /// Never replaced and never replaces anything.
    Unique,
    /// Replaces queued `Plain` messages for which [`Broadcast::invalidates`] holds.
    Plain,
}

/// A message that can be queued.
///
/// When a message leaves the queue for good (sent often enough, replaced, invalidated
/// or pruned) it is dropped, so a type that needs Go's `Finished` notification can
/// act in its `Drop`; callers that only need to wait can poll
/// [`BroadcastQueue::is_queued`] with the id they got when queuing.
pub trait Broadcast {
    /// The encoded message, as it will be placed in a packet.
    fn message(&self) -> &[u8];

    /// What this message may replace.
    fn kind(&self) -> Kind<'_>;

    /// For [`Kind::Plain`] messages: whether queuing `self` makes the queued `older`
    /// obsolete. Never consulted for other kinds.
    fn invalidates(&self, older: &Self) -> bool {
        let _ = older;
        false
    }
}

/// The queue's own messages: alive, suspect and dead news, named by the node they
/// concern, so only the latest news about each node is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBroadcast {
    /// The node the message is about (Go's refutation quirk uses our IP as text).
    pub node: String,
    /// The encoded message, type byte first.
    pub message: Vec<u8>,
}

impl Broadcast for NodeBroadcast {
    fn message(&self) -> &[u8] {
        &self.message
    }

    fn kind(&self) -> Kind<'_> {
        Kind::Named(&self.node)
    }
}

/// Identifies one queued message for as long as it stays queued. Ids grow with every
/// message queued, so a larger id is a newer message; they are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BroadcastId(u64);

/// Position in the send order: fewest transmissions first, then longest, then newest.
/// Ids are unique, so no two queued messages share a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    transmits: usize,
    len: Reverse<usize>,
    id: Reverse<BroadcastId>,
}

#[derive(Debug)]
struct Entry<B> {
    broadcast: B,
    /// The replacement name, kept so removal does not depend on `kind()` staying
    /// stable while queued.
    name: Option<String>,
}

/// Messages waiting to be piggybacked, each sent up to `retransmit_limit` times.
#[derive(Debug)]
pub struct BroadcastQueue<B> {
    retransmit_mult: usize,
    order: BTreeMap<OrderKey, Entry<B>>,
    keys: HashMap<BroadcastId, OrderKey>,
    names: HashMap<String, BroadcastId>,
    next_id: u64,
}

impl<B: Broadcast> BroadcastQueue<B> {
    /// An empty queue; `retransmit_mult` is the configuration's `RetransmitMult`.
    pub fn new(retransmit_mult: usize) -> Self {
        BroadcastQueue {
            retransmit_mult,
            order: BTreeMap::new(),
            keys: HashMap::default(),
            names: HashMap::default(),
            next_id: 0,
        }
    }

    /// Queues a message that has not been sent yet, dropping the queued messages it
    /// replaces (see [`Kind`]). Returns its id, for [`Self::is_queued`].
    pub fn queue_broadcast(&mut self, broadcast: B) -> BroadcastId {
        self.queue_with_transmits(broadcast, 0)
    }

    fn queue_with_transmits(&mut self, broadcast: B, transmits: usize) -> BroadcastId {
        self.next_id += 1;
        let id = BroadcastId(self.next_id);
        let name = match broadcast.kind() {
            Kind::Named(name) if !name.is_empty() => {
                if let Some(&old) = self.names.get(name) {
                    self.remove(old);
                }
                Some(name.to_owned())
            }
            Kind::Unique => None,
            Kind::Named(_) | Kind::Plain => {
                let obsolete: Vec<BroadcastId> = self
                    .order
                    .iter()
                    .filter(|(_, e)| {
                        e.broadcast.kind() == Kind::Plain && broadcast.invalidates(&e.broadcast)
                    })
                    .map(|(key, _)| key.id.0)
                    .collect();
                for old in obsolete {
                    self.remove(old);
                }
                None
            }
        };
        let key = OrderKey {
            transmits,
            len: Reverse(broadcast.message().len()),
            id: Reverse(id),
        };
        self.insert(key, Entry { broadcast, name });
        id
    }

    fn insert(&mut self, key: OrderKey, entry: Entry<B>) {
        let id = key.id.0;
        if let Some(name) = &entry.name {
            self.names.insert(name.clone(), id);
        }
        self.keys.insert(id, key);
        self.order.insert(key, entry);
    }

    fn remove(&mut self, id: BroadcastId) -> Option<(OrderKey, Entry<B>)> {
        let key = *self.keys.get(&id)?;
        let entry = self.order.remove(&key)?;
        self.unindex(id, &entry);
        Some((key, entry))
    }

    /// Forgets an entry already taken out of the send order.
    fn unindex(&mut self, id: BroadcastId, entry: &Entry<B>) {
        self.keys.remove(&id);
        if let Some(name) = &entry.name {
            self.names.remove(name);
        }
    }

    /// Picks the messages for one packet and counts them as sent.
    ///
    /// Every message costs `overhead` plus its length out of `limit` bytes. Starting
    /// with the least-sent tier, it repeatedly takes the first message of the tier
    /// (longest, then newest) that fits in what is left, moving to the next tier when
    /// none fits, and stops once no byte is left after the overhead. A taken message is
    /// dropped if it has now been sent `retransmit_limit(mult, num_nodes)` times, and
    /// otherwise goes back with one more transmission after the walk, so it is not
    /// picked twice for the same packet. A message is sent at least once even when the
    /// limit is 0.
    pub fn get_broadcasts(
        &mut self,
        overhead: usize,
        limit: usize,
        num_nodes: usize,
    ) -> Vec<Vec<u8>> {
        let (Some((first, _)), Some((last, _))) =
            (self.order.first_key_value(), self.order.last_key_value())
        else {
            return Vec::new();
        };
        let (mut tier, max_tier) = (first.transmits, last.transmits);
        let transmit_limit = retransmit_limit(self.retransmit_mult, num_nodes);
        let mut used = 0usize;
        let mut out = Vec::new();
        let mut reinsert = Vec::new();
        while tier <= max_tier {
            let free = match limit.checked_sub(used.saturating_add(overhead)) {
                Some(free) if free > 0 => free,
                _ => break,
            };
            // The first key of this tier whose length is at most `free`.
            let from = OrderKey {
                transmits: tier,
                len: Reverse(free),
                id: Reverse(BroadcastId(u64::MAX)),
            };
            let fitting = self
                .order
                .range(from..)
                .next()
                .filter(|(key, _)| key.transmits == tier)
                .map(|(key, _)| key.id.0);
            let Some(id) = fitting else {
                // Nothing fits here: continue with the next tier that has messages.
                let next = OrderKey {
                    transmits: tier.saturating_add(1),
                    len: Reverse(usize::MAX),
                    id: Reverse(BroadcastId(u64::MAX)),
                };
                match self.order.range(next..).next() {
                    Some((key, _)) if tier < usize::MAX => tier = key.transmits,
                    _ => break,
                }
                continue;
            };
            // Taken out of the send order only: a message that goes back keeps its
            // id and name, so its index entries are updated in place afterwards.
            let Some(key) = self.keys.get(&id).copied() else {
                break;
            };
            let Some(entry) = self.order.remove(&key) else {
                break;
            };
            let message = entry.broadcast.message();
            used = used.saturating_add(overhead).saturating_add(message.len());
            out.push(message.to_vec());
            let transmits = key.transmits.saturating_add(1);
            if transmits < transmit_limit {
                reinsert.push((OrderKey { transmits, ..key }, entry));
            } else {
                self.unindex(id, &entry);
            }
        }
        for (key, entry) in reinsert {
            self.keys.insert(key.id.0, key);
            self.order.insert(key, entry);
        }
        out
    }

    /// Drops the messages that are last in the send order (most sent, shortest,
    /// oldest) until at most `max_retain` remain; for callers that must bound memory.
    pub fn prune(&mut self, max_retain: usize) {
        while self.order.len() > max_retain {
            let Some((key, _)) = self.order.last_key_value() else {
                break;
            };
            let id = key.id.0;
            self.remove(id);
        }
    }

    /// Whether the message is still queued; false means it is finished (sent enough
    /// times, replaced, invalidated or pruned).
    pub fn is_queued(&self, id: BroadcastId) -> bool {
        self.keys.contains_key(&id)
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, message: &str) -> NodeBroadcast {
        NodeBroadcast {
            node: name.into(),
            message: message.as_bytes().to_vec(),
        }
    }

    /// Names and transmit counts from the end of the send order to its start (the
    /// order Go's tests inspect).
    fn view(q: &BroadcastQueue<NodeBroadcast>) -> Vec<(&str, usize)> {
        q.order
            .iter()
            .rev()
            .map(|(k, e)| (e.broadcast.node.as_str(), k.transmits))
            .collect()
    }

    fn names(q: &BroadcastQueue<NodeBroadcast>) -> Vec<&str> {
        view(q).into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn order_key_matches_go_less() {
        let key = |transmits, len, id| OrderKey {
            transmits,
            len: Reverse(len),
            id: Reverse(BroadcastId(id)),
        };
        // (lesser, greater) pairs from Go's test.
        assert!(key(0, 10, 100) < key(1, 10, 100));
        assert!(key(0, 12, 100) < key(0, 10, 100));
        assert!(key(0, 12, 100) < key(0, 12, 90));
    }

    #[test]
    fn same_name_replaces() {
        let mut q = BroadcastQueue::new(1);
        let first = q.queue_broadcast(node("test", ""));
        q.queue_broadcast(node("foo", ""));
        q.queue_broadcast(node("bar", ""));
        assert_eq!(q.len(), 3);
        assert_eq!(names(&q), ["test", "foo", "bar"]);

        let second = q.queue_broadcast(node("test", ""));
        assert_eq!(q.len(), 3);
        assert_eq!(names(&q), ["foo", "bar", "test"]);
        assert!(!q.is_queued(first), "the replaced message is finished");
        assert!(q.is_queued(second));
    }

    #[test]
    fn get_broadcasts_fills_the_limit() {
        let mut q = BroadcastQueue::new(3);
        for (i, name) in ["test", "foo", "bar", "baz"].into_iter().enumerate() {
            q.queue_broadcast(node(name, &format!("{}. this is a test.", i + 1)));
        }
        // Four 18-byte messages with 2 bytes of overhead fill 80 bytes exactly.
        assert_eq!(q.get_broadcasts(2, 80, 10).len(), 4);
        // With 3 bytes of overhead only three fit.
        assert_eq!(q.get_broadcasts(3, 80, 10).len(), 3);
    }

    #[test]
    fn get_broadcasts_counts_transmissions() {
        let mut q = BroadcastQueue::new(1);
        assert_eq!(retransmit_limit(1, 10), 2);
        let ids: Vec<_> = ["test", "foo", "bar", "baz"]
            .into_iter()
            .enumerate()
            .map(|(i, name)| q.queue_broadcast(node(name, &format!("{}. this is a test.", i + 1))))
            .collect();
        // Newest first within a tier: baz, bar, foo go out; test waits.
        let first = q.get_broadcasts(3, 80, 10);
        assert_eq!(
            first,
            [
                b"4. this is a test.",
                b"3. this is a test.",
                b"2. this is a test."
            ]
        );
        assert_eq!(view(&q), [("foo", 1), ("bar", 1), ("baz", 1), ("test", 0)]);
        // test (tier 0) first, then the two newest of tier 1, which reach the limit.
        let second = q.get_broadcasts(3, 80, 10);
        assert_eq!(
            second,
            [
                b"1. this is a test.",
                b"4. this is a test.",
                b"3. this is a test."
            ]
        );
        assert!(!q.is_queued(ids[3]) && !q.is_queued(ids[2]));
        assert_eq!(view(&q), [("test", 1), ("foo", 1)]);
        assert_eq!(q.get_broadcasts(3, 80, 10).len(), 2);
        assert!(q.is_empty());
        assert!(ids.iter().all(|&id| !q.is_queued(id)));
        assert!(q.get_broadcasts(3, 80, 10).is_empty());
    }

    #[test]
    fn longest_fitting_message_is_taken_first() {
        let mut q = BroadcastQueue::new(4);
        q.queue_broadcast(node("a", &"a".repeat(10)));
        q.queue_broadcast(node("b", &"b".repeat(40)));
        q.queue_broadcast(node("c", &"c".repeat(25)));
        // 60 bytes, overhead 5: b first (45 used), then 10 bytes are left: a fits
        // exactly, c does not.
        let sent = q.get_broadcasts(5, 60, 5);
        assert_eq!(
            sent,
            ["b".repeat(40).into_bytes(), "a".repeat(10).into_bytes()]
        );
        assert_eq!(view(&q), [("a", 1), ("b", 1), ("c", 0)]);
        // Too small for anything (9 bytes free, shortest is 10): nothing is counted.
        assert!(q.get_broadcasts(5, 14, 5).is_empty());
        assert!(q.get_broadcasts(5, 5, 5).is_empty());
        assert_eq!(view(&q), [("a", 1), ("b", 1), ("c", 0)]);
    }

    #[test]
    fn later_tiers_are_used_when_lower_ones_do_not_fit() {
        let mut q = BroadcastQueue::new(4);
        q.queue_with_transmits(node("big", &"x".repeat(50)), 0);
        q.queue_with_transmits(node("small", "s"), 3);
        let sent = q.get_broadcasts(0, 10, 10);
        assert_eq!(sent, [b"s".to_vec()]);
        assert_eq!(view(&q), [("small", 4), ("big", 0)]);
    }

    #[test]
    fn zero_limit_still_sends_once() {
        let mut q = BroadcastQueue::new(3);
        let id = q.queue_broadcast(node("a", "hello"));
        assert_eq!(q.get_broadcasts(0, 100, 0), [b"hello".to_vec()]);
        assert!(!q.is_queued(id));
    }

    #[test]
    fn prune_drops_the_end_of_the_order() {
        let mut q = BroadcastQueue::new(1);
        let test = q.queue_broadcast(node("test", "1. this is a test."));
        let foo = q.queue_broadcast(node("foo", "2. this is a test."));
        q.queue_broadcast(node("bar", "3. this is a test."));
        q.queue_broadcast(node("baz", "4. this is a test."));
        q.prune(2);
        assert_eq!(q.len(), 2);
        assert!(!q.is_queued(test) && !q.is_queued(foo));
        assert_eq!(names(&q), ["bar", "baz"]);
        q.prune(5);
        assert_eq!(q.len(), 2);
        q.prune(0);
        assert!(q.is_empty());
    }

    #[test]
    fn ordering_by_transmits() {
        let mut q = BroadcastQueue::new(1);
        for (name, transmits) in [
            ("node0", 0),
            ("node1", 10),
            ("node2", 3),
            ("node3", 4),
            ("node4", 7),
        ] {
            q.queue_with_transmits(node(name, name), transmits);
        }
        let transmits: Vec<usize> = view(&q).into_iter().map(|(_, t)| t).collect();
        assert_eq!(transmits, [10, 7, 4, 3, 0]);
    }

    /// A user broadcast with a key: a newer one with the same key invalidates.
    #[derive(Debug)]
    struct User {
        kind: Kind<'static>,
        key: u8,
        body: Vec<u8>,
    }

    impl Broadcast for User {
        fn message(&self) -> &[u8] {
            &self.body
        }
        fn kind(&self) -> Kind<'_> {
            self.kind
        }
        fn invalidates(&self, older: &Self) -> bool {
            self.key == older.key
        }
    }

    fn user(kind: Kind<'static>, key: u8) -> User {
        User {
            kind,
            key,
            body: vec![key],
        }
    }

    #[test]
    fn plain_broadcasts_invalidate_only_plain_ones() {
        let mut q = BroadcastQueue::new(2);
        let plain = q.queue_broadcast(user(Kind::Plain, 1));
        let unique = q.queue_broadcast(user(Kind::Unique, 1));
        let named = q.queue_broadcast(user(Kind::Named("n"), 1));
        let other = q.queue_broadcast(user(Kind::Plain, 2));
        assert_eq!(q.len(), 4);

        let newer = q.queue_broadcast(user(Kind::Plain, 1));
        assert!(!q.is_queued(plain), "same key, plain: invalidated");
        assert!(q.is_queued(unique) && q.is_queued(named) && q.is_queued(other));
        assert!(q.is_queued(newer));

        // Unique ones never invalidate; named ones only replace their name.
        q.queue_broadcast(user(Kind::Unique, 1));
        q.queue_broadcast(user(Kind::Named("m"), 1));
        assert!(q.is_queued(newer) && q.is_queued(named));
        assert_eq!(q.len(), 6);

        // An empty name behaves like a plain message.
        q.queue_broadcast(user(Kind::Named(""), 2));
        assert!(!q.is_queued(other));
        assert_eq!(q.len(), 6);
        q.queue_broadcast(user(Kind::Named(""), 2));
        assert_eq!(q.len(), 7, "empty names do not replace each other");
    }
}
