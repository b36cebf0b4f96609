//! Serf over the deterministic network simulator: N Rust Serf members converge, a
//! user event reaches every one of them once, and a query collects an ack and an
//! answer from every member.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use memberlist_interop::node::sim::Sim;
use memberlist_interop::serf::layer::configure_node;
use memberlist_interop::serf::{MemberStatus, QueryParams, SerfConfig, SerfDelegate, SerfEvent};

const N: usize = 12;

fn cluster(seed: u64) -> Sim<SerfDelegate> {
    let mut sim = Sim::new(
        N,
        seed,
        |_, mut c| {
            configure_node(&mut c, 5);
            c
        },
        |i| {
            SerfDelegate::new(
                &format!("node-{i}"),
                SerfConfig::default(),
                StdRng::seed_from_u64(i as u64),
            )
        },
    );
    for i in 1..N {
        sim.join(i, 0);
    }
    let converged = sim.run_until_true(Duration::from_millis(100), Duration::from_secs(60), |s| {
        s.nodes.iter().all(|n| {
            n.machine
                .delegate()
                .members()
                .filter(|m| m.status == MemberStatus::Alive)
                .count()
                == N
        })
    });
    assert!(converged.is_some(), "Serf members did not converge");
    sim
}

fn drain(sim: &mut Sim<SerfDelegate>, i: usize) -> Vec<SerfEvent> {
    let d = sim.nodes[i].machine.delegate_mut();
    std::iter::from_fn(|| d.poll_event()).collect()
}

#[test]
fn user_event_reaches_every_member_once() {
    let mut sim = cluster(7);
    for i in 0..N {
        drain(&mut sim, i);
    }
    sim.nodes[3]
        .machine
        .delegate_mut()
        .user_event("deploy", b"v2", true)
        .unwrap();
    sim.run_for(Duration::from_secs(10));
    for i in 0..N {
        let got: Vec<_> = drain(&mut sim, i)
            .into_iter()
            .filter(|e| matches!(e, SerfEvent::User { name, .. } if name == "deploy"))
            .collect();
        assert_eq!(got.len(), 1, "node-{i} got {got:?}");
    }
}

#[test]
fn query_collects_an_ack_and_an_answer_from_every_member() {
    let mut sim = cluster(11);
    let now = sim.now();
    let params = QueryParams {
        request_ack: true,
        timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    let (ltime, id, _) =
        SerfDelegate::query(&mut sim.nodes[0].machine, now, "whoami", b"", &params).unwrap();
    // Every member answers its name as soon as it sees the query.
    let until = sim.now() + Duration::from_secs(6);
    while sim.now() < until {
        sim.run_for(Duration::from_millis(50));
        for i in 0..N {
            for e in drain(&mut sim, i) {
                if let SerfEvent::Query { ltime, id, .. } = e {
                    let answer = format!("node-{i}").into_bytes();
                    sim.nodes[i]
                        .machine
                        .delegate_mut()
                        .respond(ltime, id, &answer)
                        .unwrap();
                }
            }
        }
    }
    let r = sim.nodes[0]
        .machine
        .delegate_mut()
        .take_query(ltime, id)
        .expect("query closed at its deadline");
    assert_eq!(r.acks.len(), N, "{r:?}");
    assert_eq!(r.responses.len(), N, "{r:?}");
    for (node, answer) in &r.responses {
        assert_eq!(node.as_bytes(), &answer[..]);
    }
}
