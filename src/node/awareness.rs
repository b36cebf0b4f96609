//! Lifeguard's local health awareness.
//!
//! A node that misses acks may be the slow one (overloaded CPU, lossy link) rather
//! than its targets. Each sign of that raises a score; each successful probe lowers it.
//! The score stretches this node's probe interval and deadline, so a struggling node
//! accuses others less eagerly instead of falsely declaring healthy peers dead.

use std::time::Duration;

/// The health score: 0 is healthy, higher means "probably degraded". Always within
/// `0..=max_multiplier - 1`; changes beyond either end are clamped, not accumulated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awareness {
    max_score: u32,
    score: u32,
}

impl Awareness {
    /// A healthy score with Go's `AwarenessMaxMultiplier` as the cap on the scaling
    /// factor. A multiplier of 0 behaves like 1 (scores stay at 0), where Go would let
    /// the score go negative and scale timeouts to zero.
    pub fn new(max_multiplier: u32) -> Self {
        Awareness {
            max_score: max_multiplier.saturating_sub(1),
            score: 0,
        }
    }

    /// Adds `delta` (negative after a successful probe, positive after a missed ack or
    /// nack, or a refuted accusation) and clamps the result to the valid range.
    pub fn apply_delta(&mut self, delta: i64) {
        let raw = i64::from(self.score).saturating_add(delta);
        self.score = raw.clamp(0, i64::from(self.max_score)) as u32;
    }

    /// The current score.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// `timeout × (score + 1)`: how long a probe round may last at this health.
    pub fn scale_timeout(&self, timeout: Duration) -> Duration {
        timeout.checked_mul(self.score + 1).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_go_table() {
        // (delta, score afterwards, one second scaled afterwards) from Go's awareness test.
        let table: [(i64, u32, u64); 14] = [
            (0, 0, 1),
            (-1, 0, 1),
            (-10, 0, 1),
            (1, 1, 2),
            (-1, 0, 1),
            (10, 7, 8),
            (-1, 6, 7),
            (-1, 5, 6),
            (-1, 4, 5),
            (-1, 3, 4),
            (-1, 2, 3),
            (-1, 1, 2),
            (-1, 0, 1),
            (-1, 0, 1),
        ];
        let mut a = Awareness::new(8);
        for (i, (delta, score, secs)) in table.into_iter().enumerate() {
            a.apply_delta(delta);
            assert_eq!(a.score(), score, "step {i}");
            assert_eq!(
                a.scale_timeout(Duration::from_secs(1)),
                Duration::from_secs(secs),
                "step {i}"
            );
        }
    }

    #[test]
    fn extreme_deltas_and_multipliers_clamp() {
        let mut a = Awareness::new(8);
        a.apply_delta(i64::MAX);
        assert_eq!(a.score(), 7);
        a.apply_delta(i64::MIN);
        assert_eq!(a.score(), 0);

        let mut flat = Awareness::new(0);
        flat.apply_delta(5);
        assert_eq!(flat.score(), 0);
        assert_eq!(
            flat.scale_timeout(Duration::from_secs(2)),
            Duration::from_secs(2)
        );

        let mut huge = Awareness::new(u32::MAX);
        huge.apply_delta(i64::MAX);
        assert_eq!(huge.scale_timeout(Duration::MAX), Duration::MAX);
    }
}
