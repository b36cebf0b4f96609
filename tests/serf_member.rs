//! Our `memberlist agent --serf` as a member of a real Serf cluster (Debian's serf agent
//! and the newest one): listed alive with its tags, user events both ways, queries
//! answered by our event handler, key rotation through Serf's key queries, failure and
//! leave.
//!
//! Each scenario takes a factory for the serf agents' options, so the same scenario
//! can run against any serf binary the support code can start.

mod support;

use std::time::Duration;

use serde_json::Value;

use support::agent::Agent;
use support::process::wait_bounded;
use support::rust_serf::{RustSerfAgent as RustAgent, WAIT};
use support::serf::{SerfAgent, SerfBinary, SerfOpts};
const KEY1: &str = "5K9OtfP7efFrNKe5WCQvXvnaXJ5cWP0SvXiwe0kkjM4=";
const KEY2: &str = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=";

/// Three serf agents joined to the first; `first` adds options to the first one.
fn cluster(opts: &dyn Fn(&str) -> SerfOpts, first: SerfOpts) -> Vec<SerfAgent> {
    let s1 = SerfAgent::spawn(first);
    let j = s1.bind_addr();
    let s2 = SerfAgent::spawn(opts("s2").tag("role", "web").join(j));
    let s3 = SerfAgent::spawn(opts("s3").join(j));
    let all = vec![s1, s2, s3];
    for a in &all {
        a.wait_members(|m| m.len() == 3, WAIT).unwrap();
    }
    all
}

fn alive_with_tags(members: &[Value], name: &str) -> bool {
    members.iter().any(|m| {
        m["name"] == name
            && m["status"] == "alive"
            && m["tags"]["role"] == "rust"
            && m["tags"]["dc"] == "dc1"
    })
}

/// Waits until `file` holds `text`.
fn wait_file(file: &std::path::Path, text: &str) -> Result<String, String> {
    let until = std::time::Instant::now() + WAIT;
    loop {
        let got = std::fs::read_to_string(file).unwrap_or_default();
        if got.contains(text) {
            return Ok(got);
        }
        if std::time::Instant::now() >= until {
            return Err(format!("{file:?} never held {text:?}; it holds {got:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn plain_cluster_scenario(opts: &dyn Fn(&str) -> SerfOpts) {
    let dir = std::env::temp_dir().join(format!("serf-member-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events_file = dir.join("s1-user-events");
    let first = opts("s1")
        .tag("role", "node")
        .event_handler(&format!("user=cat >> {}", events_file.display()));
    let agents = cluster(opts, first);
    let mut ours = RustAgent::spawn(
        "rust1",
        agents[0].bind_addr(),
        &[
            "--tag=role=rust",
            "--tag=dc=dc1",
            "--event-handler=query:whoami=echo pong-from-$SERF_SELF_NAME",
        ],
    );

    // Listed alive with our tags by every serf agent.
    for a in &agents {
        a.wait_members(|m| alive_with_tags(m, "rust1"), WAIT)
            .unwrap();
    }
    // And we list them, with their Serf status and tags.
    let members = ours.cli("members", &["--format=json"]).unwrap();
    let v: Value = serde_json::from_str(&members).unwrap();
    let web = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "s2")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (web["status"].as_str(), web["tags"]["role"].as_str()),
        (Some("alive"), Some("web"))
    );

    // A serf user event reaches us.
    agents[2].event_coalesce("deploy", "v1.2.3", false).unwrap();
    let e = ours
        .wait_event(|e| e["event"] == "user" && e["name"] == "deploy")
        .unwrap();
    assert_eq!(
        (e["payload"].as_str(), e["coalesce"].as_bool()),
        (Some("v1.2.3"), Some(false))
    );

    // Our user event reaches the serf agents' handlers.
    ours.cli("event", &["fromrust", "hello-serf"]).unwrap();
    wait_file(&events_file, "hello-serf").unwrap();

    // A serf query gets our ack and our handler's answer.
    let q = agents[1]
        .query_with(&["-timeout=3s"], "whoami", "")
        .unwrap();
    let acks: Vec<&str> = q["Acks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(acks.contains(&"rust1"), "{q}");
    assert_eq!(
        q["Responses"]["rust1"].as_str(),
        Some("pong-from-rust1\n"),
        "{q}"
    );
    // With relayed copies requested, our answer still counts once.
    let q = agents[1]
        .query_with(&["-timeout=3s", "-relay-factor=2"], "whoami", "")
        .unwrap();
    assert_eq!(
        q["Responses"]["rust1"].as_str(),
        Some("pong-from-rust1\n"),
        "{q}"
    );
    // A query filtered to other nodes gets nothing from us.
    let q = agents[1]
        .query_with(&["-timeout=2s", "-node=s1"], "whoami", "")
        .unwrap();
    assert!(q["Responses"].get("rust1").is_none(), "{q}");
    // Our query reaches the serf agents and collects their acks.
    let ours_q = ours
        .cli(
            "query",
            &[
                "--timeout=2s",
                "--format=json",
                "--tag=role=^web$",
                "anything",
            ],
        )
        .unwrap();
    let v: Value = serde_json::from_str(&ours_q).unwrap();
    assert_eq!(v["Acks"], serde_json::json!(["s2"]), "{v}");

    // `serf reachability` (`_serf_ping` with acks) counts us, and `serf rtt` uses the
    // coordinate we put in our ping acks.
    let reach = agents[0].cli("reachability", &[]).unwrap();
    assert!(
        reach.contains("Successfully contacted all live nodes"),
        "{reach}"
    );
    let until = std::time::Instant::now() + WAIT;
    let rtt = loop {
        match agents[0].cli("rtt", &["s1", "rust1"]) {
            Ok(out) => break out,
            Err(e) if std::time::Instant::now() >= until => panic!("serf rtt: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    assert!(rtt.contains("rtt:"), "{rtt}");

    // A force-leave of a live member is refuted: we stay (or come back) alive.
    agents[2].cli("force-leave", &["rust1"]).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    for a in &agents {
        a.wait_members(|m| alive_with_tags(m, "rust1"), WAIT)
            .unwrap();
    }

    // A graceful leave shows as left, not failed.
    ours.stop_and_wait_status(libc::SIGTERM, &agents[0], "rust1", "left");
    std::fs::remove_dir_all(&dir).ok();
}

fn encrypted_rotation_scenario(opts: &dyn Fn(&str) -> SerfOpts) {
    let agents = cluster(&|n| opts(n).encrypt(KEY1), opts("s1").encrypt(KEY1));
    let mut ours = RustAgent::spawn(
        "rust1",
        agents[0].bind_addr(),
        &[
            "--tag=role=rust",
            "--tag=dc=dc1",
            "--protocol-serf=4",
            &format!("--key={KEY1}"),
        ],
    );
    let members = agents[1]
        .wait_members(|m| alive_with_tags(m, "rust1"), WAIT)
        .unwrap();
    // Advertised like Consul: Serf protocol 4 within 2..=5.
    let us = members.iter().find(|m| m["name"] == "rust1").unwrap();
    assert_eq!(
        us["protocol"],
        serde_json::json!({"min": 2, "max": 5, "version": 4})
    );

    // Rotate from KEY1 to KEY2 through serf's key queries; every node, ours
    // included, must report success or serf keys fails.
    agents[0].keys("install", Some(KEY2)).unwrap();
    agents[0].keys("use", Some(KEY2)).unwrap();
    agents[0].keys("remove", Some(KEY1)).unwrap();
    let listed = ours.cli("keys", &["--list"]).unwrap();
    assert!(listed.contains(&format!("{KEY2}  [4/4]")), "{listed}");
    assert!(!listed.contains(KEY1), "{listed}");

    // Gossip still flows with only the new key.
    agents[2]
        .event_coalesce("after-rotation", "ok", false)
        .unwrap();
    ours.wait_event(|e| e["event"] == "user" && e["name"] == "after-rotation")
        .unwrap();

    // SIGKILL: the serf agents decide we failed.
    ours.stop_and_wait_status(libc::SIGKILL, &agents[0], "rust1", "failed");
}

/// A member that takes a name already in the cluster asks the others (the
/// `_serf_conflict` query), is in the minority, and stops.
fn name_conflict_scenario(opts: &dyn Fn(&str) -> SerfOpts) {
    let agents = cluster(opts, opts("s1"));
    let mut s2 = Agent::spawn("s2", agents[0].bind_addr(), &["--serf"]);
    let status = wait_bounded(&mut s2.child, WAIT).unwrap();
    assert!(!status.success());
    s2.stderr
        .wait_for(|l| l.contains("lost a name conflict"), WAIT)
        .unwrap();
    assert!(s2
        .stderr
        .snapshot()
        .iter()
        .any(|l| l.contains("minority in name conflict resolution")));
    // The real s2 stays, at its own address.
    assert_eq!(agents[1].status_of("s2").as_deref(), Some("alive"));
}

#[test]
fn debian_serf_name_conflict() {
    name_conflict_scenario(&SerfOpts::new);
}

#[test]
fn debian_serf_plain_cluster() {
    plain_cluster_scenario(&SerfOpts::new);
}

#[test]
fn debian_serf_encrypted_key_rotation_and_failure() {
    encrypted_rotation_scenario(&SerfOpts::new);
}

/// The newest serf agent (serf v0.11.0: memberlist v0.7.0, go-msgpack v2).
fn newest(name: &str) -> SerfOpts {
    SerfOpts::new(name).binary(SerfBinary::Newest)
}

#[test]
fn newest_serf_name_conflict() {
    name_conflict_scenario(&newest);
}

#[test]
fn newest_serf_plain_cluster() {
    plain_cluster_scenario(&newest);
}

#[test]
fn newest_serf_encrypted_key_rotation_and_failure() {
    encrypted_rotation_scenario(&newest);
}
