//! The sans-I/O machine in a deterministic simulated network (one process, one
//! clock): convergence of 1,000 members, no false deaths under 20% loss, failure
//! detection within the suspicion bound, a healed partition re-merging, and a join
//! through both sides of a healed partition.
//!
//! A debug build runs the long ones several times slower, so they are ignored by a plain
//! `cargo test`; `.ci/run` runs them in a release build.

use std::time::Duration;

use memberlist_interop::node::sim::Sim;
use memberlist_interop::node::{suspicion_timeout, Config, Delegate, Member, State, Time};

/// Records every member another member declared dead (not left).
#[derive(Default)]
struct Deaths(Vec<String>);

impl Delegate for Deaths {
    fn notify_leave(&mut self, m: &Member) {
        if m.state == State::Dead {
            self.0.push(m.name.clone());
        }
    }
}

fn sim(n: usize, seed: u64) -> Sim<Deaths> {
    Sim::new(n, seed, |_, c| c, |_| Deaths::default())
}

/// Joins everyone through node 0, a few at a time as a rolling deploy would.
fn join_all(s: &mut Sim<Deaths>) {
    for i in 1..s.nodes.len() {
        s.join(i, 0);
        if i % 50 == 0 {
            s.run_for(Duration::from_millis(100));
        }
    }
}

fn alive_view(s: &Sim<Deaths>, i: usize) -> usize {
    s.nodes[i]
        .machine
        .all_members()
        .iter()
        .filter(|m| m.state == State::Alive)
        .count()
}

fn converged(s: &Sim<Deaths>, expected: usize) -> bool {
    (0..s.nodes.len())
        .filter(|&i| s.nodes[i].up)
        .all(|i| alive_view(s, i) == expected)
}

#[test]
#[ignore = "needs an optimised build: CI runs it with `cargo test --release --test simulation -- --include-ignored`"]
fn a_thousand_members_converge() {
    // Compression changes only the bytes on the wire, never which messages a packet
    // carries (Go budgets packets before compressing), so it is off here to keep the
    // run short; the other scenarios keep Go's LAN default.
    let mut s = Sim::new(
        1000,
        1,
        |_, mut c| {
            c.enable_compression = false;
            c
        },
        |_| Deaths::default(),
    );
    join_all(&mut s);
    let took = s
        .run_until_true(Duration::from_millis(500), Duration::from_secs(60), |s| {
            converged(s, 1000)
        })
        .expect("1,000 members did not converge within 60 s of simulated time");
    let deaths: usize = s.nodes.iter().map(|n| n.machine.delegate().0.len()).sum();
    assert_eq!(deaths, 0, "members were declared dead while converging");
    eprintln!(
        "1,000 members converged {took:?} after the last join; {} datagrams delivered",
        s.delivered
    );
}

#[test]
#[ignore = "needs an optimised build: CI runs it with `cargo test --release --test simulation -- --include-ignored`"]
fn no_member_is_wrongly_declared_dead_at_20_percent_loss() {
    let mut s = sim(100, 2);
    join_all(&mut s);
    s.run_until_true(Duration::from_millis(500), Duration::from_secs(30), |s| {
        converged(s, 100)
    })
    .expect("no convergence before the loss starts");
    s.network.loss = 0.2;
    s.run_for(Duration::from_secs(300));
    let deaths: Vec<&String> = s
        .nodes
        .iter()
        .flat_map(|n| n.machine.delegate().0.iter())
        .collect();
    assert!(deaths.is_empty(), "wrongly declared dead: {deaths:?}");
    assert!(s.dropped > 1000, "the loss was not applied");
    assert!(converged(&s, 100));
}

#[test]
#[ignore = "needs an optimised build: CI runs it with `cargo test --release --test simulation -- --include-ignored`"]
fn a_failed_member_is_detected_within_the_suspicion_bound() {
    let n = 200;
    let mut s = sim(n, 3);
    join_all(&mut s);
    s.run_until_true(Duration::from_millis(500), Duration::from_secs(30), |s| {
        converged(s, n)
    })
    .expect("no convergence before the failure");
    let victim = 17;
    s.kill(victim);
    let c = Config::lan();
    // Someone probes the victim within a probe round of the whole list at worst;
    // then the suspicion runs at most its maximum; then gossip spreads the verdict.
    let max_suspicion = suspicion_timeout(c.suspicion_mult, n, c.probe_interval)
        * c.suspicion_max_timeout_mult as u32;
    let bound = c.probe_interval * 10 + max_suspicion + Duration::from_secs(5);
    let name = format!("node-{victim}");
    let took = s
        .run_until_true(Duration::from_millis(250), bound, |s| {
            (0..n)
                .filter(|&i| i != victim)
                .all(|i| s.nodes[i].machine.member(&name).map(|m| m.state) == Some(State::Dead))
        })
        .unwrap_or_else(|| panic!("not everyone saw {name} dead within {bound:?}"));
    let min_suspicion = suspicion_timeout(c.suspicion_mult, n, c.probe_interval);
    assert!(
        took >= min_suspicion,
        "declared dead after {took:?}, before the minimum suspicion {min_suspicion:?}"
    );
    eprintln!("{name} declared dead everywhere {took:?} after it failed (bound {bound:?})");
}

#[test]
#[ignore = "needs an optimised build: CI runs it with `cargo test --release --test simulation -- --include-ignored`"]
fn a_healed_partition_merges_again() {
    let n = 40;
    let mut s = sim(n, 4);
    join_all(&mut s);
    s.run_until_true(Duration::from_millis(500), Duration::from_secs(30), |s| {
        converged(s, n)
    })
    .expect("no convergence before the partition");
    for i in n / 2..n {
        s.set_side(i, 1);
    }
    let split = s
        .run_until_true(Duration::from_millis(500), Duration::from_secs(120), |s| {
            (0..n).all(|i| alive_view(s, i) == n / 2)
        })
        .expect("the two halves did not declare each other dead");
    for i in 0..n {
        s.set_side(i, 0);
    }
    let healed = s
        .run_until_true(Duration::from_millis(500), Duration::from_secs(120), |s| {
            converged(s, n)
        })
        .expect("the halves did not merge again");
    eprintln!("split took {split:?}, re-merge {healed:?}");
    assert!(s.now() > Time::ZERO);
}

/// A member that joins through both sides of a healed partition (whose sides have
/// long forgotten each other) syncs with one after the other, as Go's `Join` does:
/// its push/pull with the second side already carries the first side's members, who
/// are news there at once instead of waiting to be gossiped across.
#[test]
fn a_join_through_both_sides_of_a_healed_partition_hands_the_first_to_the_second() {
    let n = 20;
    let mut s = sim(n + 1, 5);
    let bridge = n;
    s.set_side(bridge, 2);
    for i in 1..n {
        s.join(i, 0);
    }
    s.run_until_true(Duration::from_millis(500), Duration::from_secs(30), |s| {
        (0..n).all(|i| alive_view(s, i) == n)
    })
    .expect("no convergence before the partition");
    let minority: Vec<usize> = (0..n).filter(|i| i % 3 == 1).collect();
    for &i in &minority {
        s.set_side(i, 1);
    }
    // Long enough for each side to declare the other dead and then reap it.
    s.run_for(Duration::from_secs(120));
    for i in 0..=bridge {
        s.set_side(i, 0);
    }
    assert!(
        (0..n).all(|i| s.nodes[i].machine.num_members() < n),
        "the sides did not forget each other"
    );
    s.join_through(bridge, &[minority[0], 0]);
    s.run_for(Duration::from_millis(50));
    let majority_seed = &s.nodes[0].machine;
    for &i in &minority {
        let name = format!("node-{i}");
        assert_eq!(
            majority_seed.member(&name).map(|m| m.state),
            Some(State::Alive),
            "{name} did not come with the join"
        );
    }
}
