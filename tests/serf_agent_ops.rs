//! Our `memberlist agent --serf` operated like the serf agent, against Debian serf
//! agents: tags changed at runtime, a keyring file kept across key rotation and
//! restarts, and a snapshot that brings a killed agent back into its cluster.

mod support;

use serde_json::Value;

use support::rust_serf::{RustSerfAgent, WAIT};
use support::serf::{SerfAgent, SerfOpts};

/// Two serf agents, the second joined to the first.
fn pair(opts: &dyn Fn(&str) -> SerfOpts) -> Vec<SerfAgent> {
    let s1 = SerfAgent::spawn(opts("s1"));
    let s2 = SerfAgent::spawn(opts("s2").join(s1.bind_addr()));
    for a in [&s1, &s2] {
        a.wait_members(|m| m.len() == 2, WAIT).unwrap();
    }
    vec![s1, s2]
}

fn tags_of<'a>(members: &'a [Value], name: &str) -> Option<&'a Value> {
    members
        .iter()
        .find(|m| m["name"] == name && m["status"] == "alive")
        .map(|m| &m["tags"])
}

#[test]
fn runtime_tags_reach_serf_agents() {
    let agents = pair(&SerfOpts::new);
    let ours = RustSerfAgent::spawn(
        "rust1",
        agents[0].bind_addr(),
        &["--tag=role=rust", "--tag=dc=dc1"],
    );
    for a in &agents {
        a.wait_members(
            |m| tags_of(m, "rust1").is_some_and(|t| t["dc"] == "dc1"),
            WAIT,
        )
        .unwrap();
    }

    // Set one, add one, delete one: serf members shows exactly the result.
    let out = ours
        .cli(
            "tags",
            &["--set=role=changed", "--set=zone=z1", "--delete=dc"],
        )
        .unwrap();
    assert!(out.contains("Successfully updated agent tags"), "{out}");
    let want = serde_json::json!({"role": "changed", "zone": "z1"});
    for a in &agents {
        a.wait_members(|m| tags_of(m, "rust1") == Some(&want), WAIT)
            .unwrap();
    }
    // We hear our own update, as serf agents do.
    ours.wait_event(|e| {
        e["event"] == "member-update"
            && e["members"][0]["name"] == "rust1"
            && e["members"][0]["tags"] == want
    })
    .unwrap();

    // Tags beyond the 512-byte node meta are refused; the cluster keeps the old ones.
    let big = format!("--set=big={}", "x".repeat(600));
    let err = ours.cli("tags", &[&big]).unwrap_err();
    assert!(err.contains("512"), "{err}");
    let members = agents[1].members_json();
    assert_eq!(
        tags_of(members["members"].as_array().unwrap(), "rust1"),
        Some(&want)
    );

    // And the other way: `serf tags` on a serf agent reaches us as a member-update.
    agents[1].cli("tags", &["-set", "role=db"]).unwrap();
    ours.wait_event(|e| {
        e["event"] == "member-update"
            && e["members"][0]["name"] == "s2"
            && e["members"][0]["tags"]["role"] == "db"
    })
    .unwrap();
}
