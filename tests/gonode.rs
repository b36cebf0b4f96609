//! Proves the Go-node harness: three real memberlist v0.7.0 nodes join, see each other
//! alive, notice a SIGKILLed one dead and a graceful leave as left.

mod support;

use std::time::Duration;

use serde_json::json;
use support::gonode::{GoNode, GoNodeOpts, Member};

const WAIT: Duration = Duration::from_secs(20);

fn states(members: &[Member]) -> Vec<(String, String)> {
    let mut v: Vec<_> = members
        .iter()
        .map(|m| (m.name.clone(), m.state.clone()))
        .collect();
    v.sort();
    v
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

#[test]
fn three_go_nodes_join_detect_a_kill_and_a_leave() {
    let a = GoNode::spawn(GoNodeOpts::fast("a").meta("role=a"));
    let mut b = GoNode::spawn(GoNodeOpts::fast("b").join(a.addr()));
    let c = GoNode::spawn(GoNodeOpts::fast("c").join(a.addr()));
    let all_alive = pairs(&[("a", "alive"), ("b", "alive"), ("c", "alive")]);
    for n in [&a, &b, &c] {
        let ms = n.wait_members(|ms| states(ms) == all_alive, WAIT).unwrap();
        let ma = ms.iter().find(|m| m.name == "a").unwrap();
        assert_eq!(ma.addr, a.addr());
        assert_eq!(ma.meta, "role=a");
        assert_eq!(ma.vsn, [1, 5, 2, 0, 0, 0]);
    }
    // Join events carry the joiner's real address.
    let joined = a
        .wait_event(|e| e["event"] == "join" && e["name"] == "c", WAIT)
        .unwrap();
    assert_eq!(joined["addr"], c.addr().to_string());

    // A user message over UDP reaches its target.
    c.send_cmd(json!({"cmd": "send", "to": "a", "payload": "hello from c"}))
        .unwrap();
    a.wait_event(
        |e| e["event"] == "msg" && e["payload"] == "hello from c",
        WAIT,
    )
    .unwrap();

    b.kill();
    for n in [&a, &c] {
        let dead = n.wait_member_state("b", "dead", WAIT).unwrap();
        assert_eq!(dead.name, "b");
        n.wait_event(
            |e| e["event"] == "leave" && e["name"] == "b" && e["state"] == "dead",
            WAIT,
        )
        .unwrap();
    }

    c.send_cmd(json!({"cmd": "leave", "timeout_ms": 2000}))
        .unwrap();
    let seen = a.wait_member_state("c", "left", WAIT).unwrap();
    assert!(seen.incarnation >= 1, "{seen:?}");
    assert_eq!(
        states(&a.members()),
        pairs(&[("a", "alive"), ("b", "dead"), ("c", "left")])
    );
    c.shutdown().unwrap();
    a.shutdown().unwrap();
}

#[test]
fn unknown_commands_and_bad_flags_are_reported() {
    let a = GoNode::spawn(GoNodeOpts::fast("solo"));
    let err = a.send_cmd(json!({"cmd": "no-such-thing"})).unwrap_err();
    assert!(err.contains("unknown command"), "{err}");
    let err = a
        .send_cmd(json!({"cmd": "use-key", "key": "AAAAAAAAAAAAAAAAAAAAAA=="}))
        .unwrap_err();
    assert!(err.contains("without -key"), "{err}");
    let err = GoNode::try_spawn(GoNodeOpts::new("bad").protocol(9))
        .err()
        .expect("protocol 9 must be refused");
    assert!(err.contains("did not start"), "{err}");
}
