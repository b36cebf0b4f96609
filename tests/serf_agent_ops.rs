//! Our `memberlist agent --serf` operated like the serf agent, against serf agents
//! (Debian's, and the newest in the `_newest` runs): tags changed at runtime, a keyring
//! file kept across key rotation and restarts, and a snapshot that brings a killed agent
//! back into its cluster.

mod support;

use serde_json::Value;

use support::rust_serf::{RustSerfAgent, WAIT};
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

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
    runtime_tags_reach_serf_agents_with(SerfBinary::Debian);
}

#[test]
fn runtime_tags_reach_serf_agents_newest() {
    runtime_tags_reach_serf_agents_with(SerfBinary::Newest);
}

fn runtime_tags_reach_serf_agents_with(binary: SerfBinary) {
    let agents = pair(&|n| SerfOpts::new(n).binary(binary));
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

const KEY1: &str = "5K9OtfP7efFrNKe5WCQvXvnaXJ5cWP0SvXiwe0kkjM4=";
const KEY2: &str = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=";

/// A fresh directory for one test's files.
fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("serf-ops-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keys_in(file: &std::path::Path) -> Vec<String> {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn keyring_file_follows_serf_key_rotation_and_survives_a_restart() {
    keyring_file_follows_serf_key_rotation_and_survives_a_restart_with(SerfBinary::Debian);
}

#[test]
fn keyring_file_follows_serf_key_rotation_and_survives_a_restart_newest() {
    keyring_file_follows_serf_key_rotation_and_survives_a_restart_with(SerfBinary::Newest);
}

fn keyring_file_follows_serf_key_rotation_and_survives_a_restart_with(binary: SerfBinary) {
    let dir = scratch(&format!("keyring-{binary:?}"));
    let file = dir.join("keyring.json");
    std::fs::write(&file, format!("[\"{KEY1}\"]")).unwrap();
    let agents = pair(&|n| SerfOpts::new(n).binary(binary).encrypt(KEY1));
    let keyring_arg = format!("--keyring-file={}", file.display());

    // --key and --keyring-file exclude each other, as in serf.
    let out = support::process::run_bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_memberlist")).args([
            "agent",
            "--serf",
            "--name=x",
            "--bind=127.0.0.1:0",
            "--rpc-addr=127.0.0.1:0",
            &format!("--key={KEY1}"),
            &keyring_arg,
        ]),
        WAIT,
    )
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Encryption key not allowed"));

    let mut ours = RustSerfAgent::spawn("rust1", agents[0].bind_addr(), &[&keyring_arg]);
    agents[1]
        .wait_members(|m| tags_of(m, "rust1").is_some(), WAIT)
        .unwrap();

    // Every step must succeed on every node, ours included, and our file follows.
    agents[0].keys("install", Some(KEY2)).unwrap();
    assert_eq!(keys_in(&file), [KEY1, KEY2]);
    agents[0].keys("use", Some(KEY2)).unwrap();
    assert_eq!(keys_in(&file), [KEY2, KEY1]);
    agents[0].keys("remove", Some(KEY1)).unwrap();
    assert_eq!(keys_in(&file), [KEY2]);

    // Leave, and come back at the same address with only the file: the serf agents
    // now speak KEY2 alone, so rejoining proves the rotated keyring was loaded.
    ours.stop_and_wait_status(libc::SIGTERM, &agents[0], "rust1", "left");
    let (bind, rpc) = (ours.bind, ours.rpc);
    drop(ours);
    let join = format!("--join={}", agents[0].bind_addr());
    let ours = RustSerfAgent::spawn_at("rust1", bind, rpc, &[&keyring_arg, &join]);
    ours.wait_event(|e| e["event"] == "joined").unwrap();
    agents[1]
        .wait_members(|m| tags_of(m, "rust1").is_some(), WAIT)
        .unwrap();
    agents[1]
        .event_coalesce("after-restart", "ok", false)
        .unwrap();
    ours.wait_event(|e| e["event"] == "user" && e["name"] == "after-restart")
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

fn status_is(agent: &SerfAgent, name: &str, status: &str) {
    agent
        .wait_members(
            |m| m.iter().any(|m| m["name"] == name && m["status"] == status),
            WAIT,
        )
        .unwrap();
}

#[test]
fn snapshot_brings_a_killed_agent_back_and_a_left_one_only_with_rejoin() {
    snapshot_brings_a_killed_agent_back_and_a_left_one_only_with_rejoin_with(SerfBinary::Debian);
}

#[test]
fn snapshot_brings_a_killed_agent_back_and_a_left_one_only_with_rejoin_newest() {
    snapshot_brings_a_killed_agent_back_and_a_left_one_only_with_rejoin_with(SerfBinary::Newest);
}

fn snapshot_brings_a_killed_agent_back_and_a_left_one_only_with_rejoin_with(binary: SerfBinary) {
    let dir = scratch(&format!("snapshot-{binary:?}"));
    let file = dir.join("snapshot");
    let snap = format!("--snapshot={}", file.display());
    let agents = pair(&|n| SerfOpts::new(n).binary(binary));
    let mut ours = RustSerfAgent::spawn("rust1", agents[0].bind_addr(), &[&snap]);
    status_is(&agents[1], "rust1", "alive");
    agents[1]
        .event_coalesce("before-kill", "old", false)
        .unwrap();
    ours.wait_event(|e| e["event"] == "user" && e["name"] == "before-kill")
        .unwrap();
    // The log names the members and the event time, like serf's.
    let until = std::time::Instant::now() + WAIT;
    let log = loop {
        let log = std::fs::read_to_string(&file).unwrap();
        if log.contains("event-clock: ") || std::time::Instant::now() >= until {
            break log;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    for want in [
        format!("alive: s1 {}\n", agents[0].bind_addr()),
        format!("alive: s2 {}\n", agents[1].bind_addr()),
        "event-clock: ".to_owned(),
    ] {
        assert!(log.contains(&want), "{want:?} not in {log:?}");
    }

    // SIGKILL, seen as failed; restarted with the snapshot alone, it rejoins.
    ours.signal(libc::SIGKILL);
    support::process::wait_bounded(&mut ours.child, WAIT).unwrap();
    status_is(&agents[0], "rust1", "failed");
    let (bind, rpc) = (ours.bind, ours.rpc);
    drop(ours);
    let mut ours = RustSerfAgent::spawn_at("rust1", bind, rpc, &[&snap]);
    ours.wait_event(|e| e["event"] == "rejoined").unwrap();
    for a in &agents {
        status_is(a, "rust1", "alive");
    }
    // New events arrive; the one from before the kill is not delivered again.
    agents[0]
        .event_coalesce("after-kill", "new", false)
        .unwrap();
    ours.wait_event(|e| e["event"] == "user" && e["name"] == "after-kill")
        .unwrap();
    assert!(
        !ours
            .events
            .snapshot()
            .iter()
            .any(|e| e["name"] == "before-kill"),
        "{:?}",
        ours.events.snapshot()
    );

    // A graceful leave ends the log: a plain restart stays alone...
    ours.signal(libc::SIGTERM);
    support::process::wait_bounded(&mut ours.child, WAIT).unwrap();
    status_is(&agents[0], "rust1", "left");
    assert!(std::fs::read_to_string(&file).unwrap().ends_with("leave\n"));
    drop(ours);
    let alone = RustSerfAgent::spawn_at("rust1", bind, rpc, &[&snap]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let members: Value =
        serde_json::from_str(&alone.cli("members", &["--format=json"]).unwrap()).unwrap();
    assert_eq!(
        members["members"].as_array().map(Vec::len),
        Some(1),
        "{members}"
    );
    assert_eq!(agents[0].status_of("rust1").as_deref(), Some("left"));
    drop(alone);
    // ...and with --rejoin it goes back.
    let back = RustSerfAgent::spawn_at("rust1", bind, rpc, &[&snap, "--rejoin"]);
    back.wait_event(|e| e["event"] == "rejoined").unwrap();
    status_is(&agents[1], "rust1", "alive");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn coalescing_keeps_the_latest_user_event_of_a_burst() {
    coalescing_keeps_the_latest_user_event_of_a_burst_with(SerfBinary::Debian);
}

#[test]
fn coalescing_keeps_the_latest_user_event_of_a_burst_newest() {
    coalescing_keeps_the_latest_user_event_of_a_burst_with(SerfBinary::Newest);
}

fn coalescing_keeps_the_latest_user_event_of_a_burst_with(binary: SerfBinary) {
    let agents = pair(&|n| SerfOpts::new(n).binary(binary));
    let ours = RustSerfAgent::spawn(
        "rust1",
        agents[0].bind_addr(),
        &["--coalesce-period=5s", "--quiescent-period=1s"],
    );
    status_is(&agents[1], "rust1", "alive");
    for v in ["v1", "v2", "v3"] {
        agents[1].event_coalesce("deploy", v, true).unwrap();
    }
    agents[1].event_coalesce("marker", "m", false).unwrap();
    // Not coalescing: printed at once; the burst: once quiet, its latest only.
    ours.wait_event(|e| e["event"] == "user" && e["name"] == "marker")
        .unwrap();
    let last = ours
        .wait_event(|e| e["event"] == "user" && e["name"] == "deploy")
        .unwrap();
    assert_eq!(last["payload"], "v3");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let deploys: Vec<Value> = ours
        .events
        .snapshot()
        .into_iter()
        .filter(|e| e["name"] == "deploy")
        .collect();
    assert_eq!(deploys.len(), 1, "{deploys:?}");
}
