//! Random choices over the node list and reaping of long-gone nodes.
//!
//! Which peers are probed, asked for indirect probes, gossiped to or synced with is
//! random, so that load and failure detection spread evenly. The helpers work on any
//! slice and return indices, leaving the node type to the state machine; randomness
//! comes from the caller's generator so a simulation can be seeded and replayed.

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

/// A uniformly random index below `n`, or 0 when `n` is 0 (used to insert a newly
/// learned node at a random position of the probe list).
pub fn random_offset<R: RngCore + ?Sized>(rng: &mut R, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        rng.gen_range(0..n)
    }
}

/// Shuffles the list in place (Fisher–Yates), so each probe cycle visits nodes in a
/// fresh order.
pub fn shuffle<T, R: RngCore + ?Sized>(rng: &mut R, items: &mut [T]) {
    items.shuffle(rng);
}

/// Up to `k` distinct indices of `nodes` for which `exclude` is false, in random order.
///
/// When `nodes` has fewer than `3k` entries every node is considered (a shuffled
/// scan), so a small cluster always yields every eligible node; Go added this after
/// small clusters sometimes found too few indirect-probe helpers. Larger lists are
/// sampled with at most `3 × len` random draws, which may return fewer than `k` when
/// most nodes are excluded.
pub fn k_random_nodes<T, R: RngCore + ?Sized>(
    rng: &mut R,
    k: usize,
    nodes: &[T],
    exclude: impl Fn(&T) -> bool,
) -> Vec<usize> {
    let n = nodes.len();
    let mut chosen = Vec::with_capacity(k.min(n));
    if n < k.saturating_mul(3) {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        chosen.extend(order.into_iter().filter(|&i| !exclude(&nodes[i])).take(k));
        return chosen;
    }
    for _ in 0..n.saturating_mul(3) {
        if chosen.len() >= k {
            break;
        }
        let i = rng.gen_range(0..n);
        if !exclude(&nodes[i]) && !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen
}

/// Moves the nodes for which `reapable` holds (Go: dead or left for longer than
/// `GossipToTheDeadTime`) to the end of the slice by swapping, and returns how many
/// nodes remain in front. Nodes that stay keep their place unless a reaped node's
/// slot is refilled from the end.
pub fn move_dead_nodes<T>(nodes: &mut [T], reapable: impl Fn(&T) -> bool) -> usize {
    let mut end = nodes.len();
    let mut i = 0;
    while i < end {
        if reapable(&nodes[i]) {
            end -= 1;
            nodes.swap(i, end);
        } else {
            i += 1;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum State {
        Alive,
        Suspect,
        Dead,
        Left,
    }

    #[test]
    fn random_offset_stays_in_range() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(random_offset(&mut rng, 0), 0);
        let mut seen = [false; 5];
        for _ in 0..200 {
            seen[random_offset(&mut rng, 5)] = true;
        }
        assert!(seen.iter().all(|&s| s), "every offset is reachable");
    }

    #[test]
    fn shuffle_reorders() {
        let mut rng = StdRng::seed_from_u64(2);
        let orig: Vec<u32> = (0..8).collect();
        let mut items = orig.clone();
        shuffle(&mut rng, &mut items);
        assert_ne!(items, orig);
        items.sort_unstable();
        assert_eq!(items, orig);
    }

    fn cluster(n: usize) -> Vec<(String, State)> {
        (0..n)
            .map(|i| {
                let state = match i % 3 {
                    0 => State::Alive,
                    1 => State::Suspect,
                    _ => State::Dead,
                };
                (format!("test{i}"), state)
            })
            .collect()
    }

    fn excluded(node: &(String, State)) -> bool {
        node.0 == "test0" || node.1 != State::Alive
    }

    #[test]
    fn k_random_nodes_follows_go_test() {
        let mut rng = StdRng::seed_from_u64(3);
        let nodes = cluster(90);
        let picks: Vec<Vec<usize>> = (0..3)
            .map(|_| k_random_nodes(&mut rng, 3, &nodes, excluded))
            .collect();
        assert_ne!(picks[0], picks[1]);
        assert_ne!(picks[0], picks[2]);
        assert_ne!(picks[1], picks[2]);
        for pick in &picks {
            assert_eq!(pick.len(), 3);
            let mut distinct = pick.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3);
            assert!(pick.iter().all(|&i| !excluded(&nodes[i])));
        }

        // The small-list path: of eight nodes only test3 and test6 are eligible.
        let small = &nodes[..8];
        let pick = k_random_nodes(&mut rng, 3, small, excluded);
        let mut names: Vec<&str> = pick.iter().map(|&i| small[i].0.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["test3", "test6"]);
    }

    #[test]
    fn small_lists_always_yield_every_eligible_node() {
        let nodes = cluster(8);
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            // 8 < 3 × 4: exhaustive, and there are only two eligible nodes.
            let mut pick = k_random_nodes(&mut rng, 4, &nodes, excluded);
            pick.sort_unstable();
            assert_eq!(pick, [3, 6], "seed {seed}");
        }
        let mut rng = StdRng::seed_from_u64(4);
        assert!(k_random_nodes(&mut rng, 3, &nodes[..0], excluded).is_empty());
        assert!(k_random_nodes(&mut rng, 0, &nodes, excluded).is_empty());
    }

    #[test]
    fn move_dead_nodes_follows_go_test() {
        let gossip_to_the_dead = Duration::from_secs(15);
        let old = Duration::from_secs(20);
        let recent = Duration::from_secs(10);
        let mut nodes = [
            (State::Dead, old),
            (State::Alive, old),
            (State::Dead, recent),
            (State::Left, recent),
            (State::Left, old),
            (State::Alive, old),
            (State::Dead, old),
            (State::Alive, old),
            (State::Left, old),
        ];
        let kept = move_dead_nodes(&mut nodes, |&(state, age)| {
            matches!(state, State::Dead | State::Left) && age > gossip_to_the_dead
        });
        assert_eq!(kept, 5);
        for (i, &(state, _)) in nodes[..kept].iter().enumerate() {
            let want = match i {
                2 => State::Dead,
                3 => State::Left,
                _ => State::Alive,
            };
            assert_eq!(state, want, "index {i}");
        }
        assert!(nodes[kept..]
            .iter()
            .all(|&(s, age)| matches!(s, State::Dead | State::Left) && age > gossip_to_the_dead));
    }
}
