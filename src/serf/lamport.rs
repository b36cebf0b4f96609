//! Serf's Lamport clocks: three of them per node (members, user events, queries) order
//! intents and events without synchronised wall clocks.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A point on one of Serf's logical clocks (a Go `uint64` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LamportTime(pub u64);

impl fmt::Display for LamportTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A thread-safe Lamport clock with Serf's rules: a fresh clock reads 0, `increment`
/// returns the new time, and witnessing a time `t` at or past ours moves us to `t + 1`
/// so that whatever we send next is ordered after what we saw.
#[derive(Debug, Default)]
pub struct LamportClock {
    counter: AtomicU64,
}

impl LamportClock {
    /// A clock at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current time, without advancing.
    pub fn time(&self) -> LamportTime {
        LamportTime(self.counter.load(Ordering::SeqCst))
    }

    /// Advances by one and returns the new time (wrapping like Go's uint64).
    pub fn increment(&self) -> LamportTime {
        LamportTime(self.counter.fetch_add(1, Ordering::SeqCst).wrapping_add(1))
    }

    /// Takes a time seen in a message into account: older times change nothing, a time
    /// at or after ours puts us one past it. Concurrent witnesses never move the clock
    /// backwards.
    pub fn witness(&self, seen: LamportTime) {
        let mut cur = self.counter.load(Ordering::SeqCst);
        while seen.0 >= cur {
            match self.counter.compare_exchange_weak(
                cur,
                seen.0.wrapping_add(1),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_and_witnesses_like_serf() {
        let c = LamportClock::new();
        assert_eq!(c.time(), LamportTime(0));
        assert_eq!(c.increment(), LamportTime(1));
        assert_eq!(c.increment(), LamportTime(2));
        // An older time is ignored.
        c.witness(LamportTime(1));
        assert_eq!(c.time(), LamportTime(2));
        // Equal to ours: move one past it.
        c.witness(LamportTime(2));
        assert_eq!(c.time(), LamportTime(3));
        c.witness(LamportTime(41));
        assert_eq!(c.time(), LamportTime(42));
        assert_eq!(c.increment(), LamportTime(43));
    }

    #[test]
    fn concurrent_witnesses_keep_the_maximum() {
        let c = std::sync::Arc::new(LamportClock::new());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        c.witness(LamportTime(i * 4 + t));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(c.time(), LamportTime(4000));
    }
}
