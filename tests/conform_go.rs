//! `memberlist conform` against a real Go memberlist v0.7.0 node (protocol 5, a key
//! and a label, Go's local profile): every applicable check passes, the report is
//! JSON and JUnit, and the temporary member it joined has left the node's list.

mod support;

use std::time::Duration;

use support::conform::conform;
use support::gonode::{GoNode, GoNodeOpts, Profile};

const KEY: &str = "EBESExQVFhcYGRobHB0eHw==";

#[test]
fn a_go_node_passes_every_applicable_check() {
    let go = GoNode::spawn(
        GoNodeOpts::new("go-conform")
            .profile(Profile::Local)
            .protocol(5)
            .key(KEY)
            .label("prod"),
    );
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("conform.xml");
    let run = conform(
        go.addr(),
        &[
            "--key",
            KEY,
            "--label",
            "prod",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(run.exit, Some(0), "{}", run.explain());
    let outcomes = run.outcomes();
    for id in [
        "udp-ping",
        "tcp-ping",
        "push-pull",
        "versions",
        "compound",
        "crc",
        "compression",
        "encryption",
        "label",
        "indirect-ping",
        "refute-suspect",
        "refute-dead",
        "join",
        "malformed",
    ] {
        assert_eq!(
            outcomes.get(id).map(String::as_str),
            Some("pass"),
            "{id}: {}",
            run.explain()
        );
    }
    // Not Serf: the Serf checks and user messages (unobservable) do not apply.
    for id in ["user-messages", "serf-tags", "serf-query", "serf-ping"] {
        assert_eq!(
            outcomes.get(id).map(String::as_str),
            Some("n/a"),
            "{id}: {}",
            run.explain()
        );
    }
    assert_eq!(run.report["peer"], "go-conform");
    // Evidence is the bytes on the wire: the first ping went out labelled (f4 04 "prod").
    let first = &run.report["checks"][0]["evidence"][0];
    assert_eq!(first["direction"], "sent");
    assert!(
        first["hex"].as_str().unwrap().starts_with("f40470726f64"),
        "{first}"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"18\" failures=\"0\" skipped=\"4\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 18, "{xml}");

    // The temporary member left, and the refutations left the node alive.
    let members = go
        .wait_members(
            |ms| {
                ms.iter()
                    .filter(|m| m.name.starts_with("conform-"))
                    .all(|m| m.state == "left")
            },
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(
        members.iter().any(|m| m.name.ends_with("-member")),
        "{members:?}"
    );
    let own = members.iter().find(|m| m.name == "go-conform").unwrap();
    assert_eq!(own.state, "alive");
    assert!(own.incarnation >= 3, "two refutations: {own:?}");

    // --no-join leaves the join out; a key the node does not hold fails the pings.
    let run = conform(
        go.addr(),
        &[
            "--key",
            KEY,
            "--label",
            "prod",
            "--no-join",
            "--check",
            "join",
            "--check",
            "udp-ping",
        ],
    );
    assert_eq!(run.exit, Some(0), "{}", run.explain());
    assert_eq!(run.outcomes().get("join").map(String::as_str), Some("n/a"));
    assert_eq!(run.outcomes().len(), 2);
    let run = conform(
        go.addr(),
        &[
            "--key",
            "AAECAwQFBgcICQoLDA0ODw==",
            "--label",
            "prod",
            "--check",
            "udp-ping",
            "--timeout-ms",
            "500",
        ],
    );
    assert_eq!(run.exit, Some(1), "{}", run.explain());
    assert_eq!(run.failed(), ["udp-ping"]);
}
