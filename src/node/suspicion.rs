//! Lifeguard suspicion: how long a suspect node has to refute before it is declared
//! dead, shortened as independent peers confirm the suspicion.
//!
//! A suspicion starts with a long timeout (`max`). Every distinct peer that also
//! suspects the node brings the deadline closer to the short timeout (`min`) on a
//! logarithmic curve, reaching it after `k` confirmations. A lone accuser with a bad
//! network link therefore waits long, while a suspicion shared by many peers is acted
//! on quickly. This module is the timer as plain data: the state machine asks for
//! [`Suspicion::deadline`] and calls [`Suspicion::expire`] when its clock reaches it.

use std::collections::HashSet;
use std::time::Duration;

use super::config::Config;
use super::gomath;
use super::scaling::suspicion_timeout;
use super::time::Time;

/// The three numbers that shape one suspicion, derived from the configuration and
/// the cluster size when the suspicion starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspicionTimeouts {
    /// Confirmations after which the deadline reaches `min`.
    pub k: u32,
    /// Timeout once `k` peers have confirmed (and the only timeout when `k` is 0).
    pub min: Duration,
    /// Timeout while nobody has confirmed.
    pub max: Duration,
}

impl SuspicionTimeouts {
    /// Go's choice for a cluster of `n` nodes (including this node and unreaped dead
    /// ones): `k = SuspicionMult − 2`, or 0 when fewer than `k` other peers besides us
    /// and the suspect exist to confirm; `min = suspicion_timeout(...)`;
    /// `max = SuspicionMaxTimeoutMult × min`.
    pub fn for_cluster(config: &Config, n: usize) -> Self {
        let wanted = config.suspicion_mult.saturating_sub(2);
        let k = if n.saturating_sub(2) < wanted || n < 2 {
            0
        } else {
            u32::try_from(wanted).unwrap_or(u32::MAX)
        };
        let min = suspicion_timeout(config.suspicion_mult, n, config.probe_interval);
        let max = u32::try_from(config.suspicion_max_timeout_mult)
            .ok()
            .and_then(|mult| min.checked_mul(mult))
            .unwrap_or(Duration::MAX);
        SuspicionTimeouts { k, min, max }
    }
}

/// The whole length of a suspicion, measured from its start, once `n` of the `k`
/// expected confirmations have arrived: `max − (ln(n+1) / ln(k+1)) × (max − min)`,
/// floored to whole milliseconds and never below `min`.
///
/// Go computes this in float seconds and floors it in milliseconds; the same steps are
/// kept so deadlines land on the same millisecond. With `k = 0` no confirmation is
/// expected and the answer is `min`.
pub fn confirmed_timeout(n: u32, k: u32, min: Duration, max: Duration) -> Duration {
    if k == 0 {
        return min;
    }
    let frac = gomath::ln(f64::from(n) + 1.0) / gomath::ln(f64::from(k) + 1.0);
    let raw = max.as_secs_f64() - frac * (max.as_secs_f64() - min.as_secs_f64());
    let millis = (1000.0 * raw).floor();
    if millis >= 0.0 {
        // `as` saturates for values beyond u64; such a timeout is "never" anyway.
        Duration::from_millis(millis as u64).max(min)
    } else {
        min
    }
}

/// What a confirmation told us.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// A peer we had not heard from confirmed the suspicion: the deadline may have
    /// moved, and the suspect message should be re-broadcast so others learn of it.
    New,
    /// The accuser again, a repeat confirmer, or `k` confirmations already counted:
    /// nothing changes and nothing is re-broadcast.
    AlreadyKnown,
}

/// One running suspicion timer.
#[derive(Debug, Clone)]
pub struct Suspicion {
    timeouts: SuspicionTimeouts,
    start: Time,
    /// Confirmations counted so far, at most `k`.
    confirmations: u32,
    /// The accuser and every counted confirmer; at most `k + 1` names.
    seen: HashSet<String>,
    /// When the timer fires; `None` once it has fired. A fired timer still counts
    /// confirmations (so they are re-broadcast) but never fires again, as in Go.
    deadline: Option<Time>,
}

impl Suspicion {
    /// Starts a suspicion raised by `accuser` at `start`. The accuser is remembered so
    /// that its own repeats do not count, but it is not itself a confirmation. The
    /// first deadline is `max` away, or `min` when no confirmations are expected.
    pub fn new(accuser: &str, timeouts: SuspicionTimeouts, start: Time) -> Self {
        let first = if timeouts.k == 0 {
            timeouts.min
        } else {
            timeouts.max
        };
        Suspicion {
            timeouts,
            start,
            confirmations: 0,
            seen: HashSet::from([accuser.to_owned()]),
            deadline: Some(start + first),
        }
    }

    /// Records that `from` also suspects the node, at time `now`. A new confirmation
    /// pulls the deadline in to `start + confirmed_timeout(...)`, or to `now` when that
    /// moment has already passed (Go fires such a timer at once).
    pub fn confirm(&mut self, from: &str, now: Time) -> Confirm {
        if self.confirmations >= self.timeouts.k || self.seen.contains(from) {
            return Confirm::AlreadyKnown;
        }
        self.seen.insert(from.to_owned());
        self.confirmations += 1;
        if self.deadline.is_some() {
            let SuspicionTimeouts { k, min, max } = self.timeouts;
            let total = confirmed_timeout(self.confirmations, k, min, max);
            self.deadline = Some((self.start + total).max(now));
        }
        Confirm::New
    }

    /// Confirmations counted so far (at most [`Suspicion::expected`]).
    pub fn confirmations(&self) -> u32 {
        self.confirmations
    }

    /// Confirmations the timeouts were scaled for (Go's `k`).
    pub fn expected(&self) -> u32 {
        self.timeouts.k
    }

    /// When the timer fires, or `None` if it already has.
    pub fn deadline(&self) -> Option<Time> {
        self.deadline
    }

    /// Fires the timer if `now` has reached its deadline. Returns true exactly once;
    /// the caller then declares the node dead if it is still the same suspect.
    pub fn expire(&mut self, now: Time) -> bool {
        match self.deadline {
            Some(deadline) if now >= deadline => {
                self.deadline = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn at(v: u64) -> Time {
        Time::from_epoch(ms(v))
    }

    #[test]
    fn remaining_time_matches_go_table() {
        // (n, k, elapsed, min, max, remaining) from Go's remainingSuspicionTime test;
        // remaining = confirmed_timeout − elapsed and may be negative (overdue).
        let table: [(u32, u32, u64, u64, u64, i64); 6] = [
            (0, 3, 0, 2000, 30000, 30000),
            (1, 3, 2000, 2000, 30000, 14000),
            (2, 3, 3000, 2000, 30000, 4810),
            (3, 3, 4000, 2000, 30000, -2000),
            (4, 3, 5000, 2000, 30000, -3000),
            (5, 3, 10000, 2000, 30000, -8000),
        ];
        for (i, (n, k, elapsed, min, max, remaining)) in table.into_iter().enumerate() {
            let total = confirmed_timeout(n, k, ms(min), ms(max));
            let got = total.as_millis() as i64 - elapsed as i64;
            assert_eq!(got, remaining, "case {i}");
        }
    }

    #[test]
    fn floors_like_go_not_like_exact_math() {
        // ln 3 / ln 9 is exactly 1/2, but Go's logarithms make it slightly less, which
        // lifts these results over a millisecond boundary (values printed by Go).
        assert_eq!(confirmed_timeout(2, 8, ms(1698), ms(3396)), ms(2547));
        assert_eq!(confirmed_timeout(2, 26, ms(1), ms(7)), ms(5));
        assert_eq!(confirmed_timeout(2, 26, ms(6792), ms(47544)), ms(33960));
    }

    #[test]
    fn zero_k_means_min() {
        assert_eq!(confirmed_timeout(0, 0, ms(25), ms(30000)), ms(25));
    }

    /// Go's timer test: k = 3, min 500 ms, max 2 s, confirmations 25 ms apart; each case
    /// gives the confirmations with the expected "new information" answers and the
    /// moment the timer must fire (exact here, where Go's sleeps allow ±25 ms).
    #[test]
    fn timer_follows_go_cases() {
        let timeouts = SuspicionTimeouts {
            k: 3,
            min: ms(500),
            max: ms(2000),
        };
        let cases: [(&[(&str, Confirm)], u64); 6] = [
            (&[], 2000),
            (
                &[("me", Confirm::AlreadyKnown), ("foo", Confirm::New)],
                1250,
            ),
            (
                &[
                    ("me", Confirm::AlreadyKnown),
                    ("foo", Confirm::New),
                    ("foo", Confirm::AlreadyKnown),
                    ("foo", Confirm::AlreadyKnown),
                ],
                1250,
            ),
            (
                &[
                    ("me", Confirm::AlreadyKnown),
                    ("foo", Confirm::New),
                    ("bar", Confirm::New),
                ],
                // Go's test says 810 within its 25 ms tolerance; the exact value is
                // floor(1000 × (2 − ln 3 / ln 4 × 1.5)) = 811.
                811,
            ),
            (
                &[
                    ("me", Confirm::AlreadyKnown),
                    ("foo", Confirm::New),
                    ("bar", Confirm::New),
                    ("baz", Confirm::New),
                ],
                500,
            ),
            (
                &[
                    ("me", Confirm::AlreadyKnown),
                    ("foo", Confirm::New),
                    ("bar", Confirm::New),
                    ("baz", Confirm::New),
                    ("zoo", Confirm::AlreadyKnown),
                ],
                500,
            ),
        ];
        for (i, (confirmations, fires_at)) in cases.into_iter().enumerate() {
            let start = at(1000);
            let mut s = Suspicion::new("me", timeouts, start);
            let mut now = start;
            for &(from, want) in confirmations {
                now = now + ms(25);
                assert_eq!(s.confirm(from, now), want, "case {i}, {from}");
                assert!(!s.expire(now), "case {i}: fired early");
            }
            let due = start + ms(fires_at);
            assert_eq!(s.deadline(), Some(due), "case {i}");
            assert!(!s.expire(at(1000 + fires_at - 1)), "case {i}: fired early");
            assert!(s.expire(due), "case {i}: did not fire");
            // A late confirmation is still news, but the timer never fires twice.
            let late = s.confirm("late", due + ms(1));
            let counted = confirmations
                .iter()
                .filter(|(_, c)| *c == Confirm::New)
                .count();
            let still_counting = counted < 3;
            assert_eq!(late == Confirm::New, still_counting, "case {i}");
            assert_eq!(s.deadline(), None);
            assert!(!s.expire(due + ms(10_000)), "case {i}: fired twice");
        }
    }

    #[test]
    fn zero_k_fires_at_min_and_ignores_confirmations() {
        let timeouts = SuspicionTimeouts {
            k: 0,
            min: ms(25),
            max: ms(30_000),
        };
        let mut s = Suspicion::new("me", timeouts, at(0));
        assert_eq!(s.confirm("foo", at(1)), Confirm::AlreadyKnown);
        assert_eq!(s.deadline(), Some(at(25)));
        assert!(s.expire(at(25)));
    }

    #[test]
    fn overdue_confirmation_fires_immediately() {
        let timeouts = SuspicionTimeouts {
            k: 1,
            min: ms(100),
            max: ms(30_000),
        };
        let mut s = Suspicion::new("me", timeouts, at(0));
        assert_eq!(s.confirm("foo", at(200)), Confirm::New);
        assert_eq!(s.deadline(), Some(at(200)));
        assert!(s.expire(at(200)));
    }

    #[test]
    fn timeouts_for_cluster_follow_go() {
        let lan = Config::lan();
        // Too few peers to confirm: k = 0. Four nodes leave two possible confirmers.
        let small = SuspicionTimeouts::for_cluster(&lan, 3);
        assert_eq!(small.k, 0);
        assert_eq!(small.min, Duration::from_secs(4));
        assert_eq!(small.max, Duration::from_secs(24));
        assert_eq!(SuspicionTimeouts::for_cluster(&lan, 4).k, 2);
        assert_eq!(SuspicionTimeouts::for_cluster(&lan, 0).k, 0);
        let big = SuspicionTimeouts::for_cluster(&lan, 100);
        assert_eq!(
            (big.k, big.min, big.max),
            (2, Duration::from_secs(8), Duration::from_secs(48))
        );
        let mut tiny_mult = Config::lan();
        tiny_mult.suspicion_mult = 1;
        assert_eq!(SuspicionTimeouts::for_cluster(&tiny_mult, 100).k, 0);
    }
}
