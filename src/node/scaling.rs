//! How the protocol's timeouts and counts grow with the cluster size.
//!
//! These formulas decide when a node is declared dead, how often a broadcast is
//! repeated and how often full state is exchanged. Peers do not see the numbers
//! directly, but a node that computes them differently converges at a different pace
//! than the Go nodes around it, so each one reproduces Go's floating-point steps
//! (including where Go truncates or rounds up) rather than an idealised formula.

use std::time::Duration;

use super::gomath;

/// Cluster size up to which push/pull keeps its configured interval.
const PUSH_PULL_SCALE_THRESHOLD: usize = 32;

/// Converts nanoseconds computed in wide arithmetic to a `Duration`, saturating
/// where Go's `int64` would overflow (only reachable with absurd configurations).
fn saturating_nanos(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The minimum time a node stays suspect before it is declared dead:
/// `mult × max(1, log10(n)) × interval`, where the logarithm is truncated to three
/// decimals first (Go scales it by 1000 and converts to an integer).
///
/// `n` is the estimated cluster size, including this node and unreaped dead nodes.
pub fn suspicion_timeout(suspicion_mult: usize, n: usize, interval: Duration) -> Duration {
    let node_scale = gomath::log10(n.max(1) as f64).max(1.0);
    // Truncation toward zero, as Go's float-to-Duration conversion does.
    let milli_scale = (node_scale * 1000.0) as u128;
    saturating_nanos(suspicion_mult as u128 * milli_scale * interval.as_nanos() / 1000)
}

/// How many times a broadcast is sent before it leaves the queue:
/// `mult × ceil(log10(n + 1))`. Zero for an empty cluster, so a lone node does not
/// keep messages nobody can receive.
pub fn retransmit_limit(retransmit_mult: usize, n: usize) -> usize {
    let node_scale = gomath::log10((n as f64) + 1.0).ceil();
    retransmit_mult.saturating_mul(node_scale as usize)
}

/// The wait between two periodic push/pulls: the configured interval up to 32
/// nodes, then one more interval for every doubling (33–64 nodes ×2, 65–128 ×3, ...),
/// so the cluster-wide rate of these expensive full-state exchanges stays bounded.
pub fn push_pull_scale(interval: Duration, n: usize) -> Duration {
    if n <= PUSH_PULL_SCALE_THRESHOLD {
        return interval;
    }
    let doublings =
        (gomath::log2(n as f64) - gomath::log2(PUSH_PULL_SCALE_THRESHOLD as f64)).ceil();
    let multiplier = doublings as u32 + 1;
    interval.checked_mul(multiplier).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn suspicion_timeout_matches_go_table() {
        // Go's util_test table: timeout per multiplier unit with a one-second interval.
        let table = [
            (5, 1000),
            (10, 1000),
            (50, 1698),
            (100, 2000),
            (500, 2698),
            (1000, 3000),
        ];
        for (n, millis) in table {
            assert_eq!(
                suspicion_timeout(3, n, SEC) / 3,
                Duration::from_millis(millis),
                "n = {n}"
            );
        }
    }

    #[test]
    fn suspicion_timeout_edges() {
        // Below ten nodes the scale is pinned at 1; zero nodes behaves like one.
        assert_eq!(suspicion_timeout(4, 0, SEC), 4 * SEC);
        assert_eq!(suspicion_timeout(4, 1, SEC), 4 * SEC);
        // LAN defaults from the protocol notes: 4 s up to 10 nodes, 8 s at 100, 12 s at 1000.
        assert_eq!(suspicion_timeout(4, 10, SEC), 4 * SEC);
        assert_eq!(suspicion_timeout(4, 100, SEC), 8 * SEC);
        assert_eq!(suspicion_timeout(4, 1000, SEC), 12 * SEC);
        // The interval is scaled in integer nanoseconds after the truncated log.
        assert_eq!(
            suspicion_timeout(4, 50, Duration::from_millis(333)),
            Duration::from_nanos(4 * 1698 * 333_000_000 / 1000)
        );
        assert_eq!(suspicion_timeout(0, 50, SEC), Duration::ZERO);
    }

    #[test]
    fn retransmit_limit_matches_go_table() {
        assert_eq!(retransmit_limit(3, 0), 0);
        assert_eq!(retransmit_limit(3, 1), 3);
        assert_eq!(retransmit_limit(3, 99), 6);
    }

    #[test]
    fn retransmit_limit_steps_at_powers_of_ten() {
        // LAN (mult 4): 4 for 1–9 nodes, 8 for 10–99, 12 for 100–999.
        for (n, want) in [
            (1, 4),
            (9, 4),
            (10, 8),
            (99, 8),
            (100, 12),
            (999, 12),
            (1000, 16),
        ] {
            assert_eq!(retransmit_limit(4, n), want, "n = {n}");
        }
    }

    #[test]
    fn push_pull_scale_matches_go_table() {
        for n in 0..=32 {
            assert_eq!(push_pull_scale(SEC, n), SEC, "n = {n}");
        }
        for n in 33..=64 {
            assert_eq!(push_pull_scale(SEC, n), 2 * SEC, "n = {n}");
        }
        for n in 65..=128 {
            assert_eq!(push_pull_scale(SEC, n), 3 * SEC, "n = {n}");
        }
        assert_eq!(push_pull_scale(SEC, 129), 4 * SEC);
        assert_eq!(push_pull_scale(SEC, 256), 4 * SEC);
        assert_eq!(push_pull_scale(SEC, 257), 5 * SEC);
    }
}
