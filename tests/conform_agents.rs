//! `memberlist conform` against the other members it must pass: the Debian serf agent
//! (0.9.4, memberlist 0.2.x inside; encrypted) and serf v0.11.0 with `--serf`, and our
//! own `memberlist agent`, plain and `--serf`. The serf agents list the temporary
//! member left, not failed, afterwards.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use support::conform::{conform, ConformRun};
use support::process::{free_port, LineLog};
use support::rust_serf::RustSerfAgent;
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

const KEY: &str = "gZ2xx1Lo2h4Ylk1Fgiv6j4TuhuEGZiYbcOlxv5zhjoc=";

fn assert_all_pass(run: &ConformRun, not_applicable: &[&str]) {
    assert_eq!(run.exit, Some(0), "{}", run.explain());
    for (id, outcome) in run.outcomes() {
        let want = if not_applicable.contains(&id.as_str()) {
            "n/a"
        } else {
            "pass"
        };
        assert_eq!(outcome, want, "{id}: {}", run.explain());
    }
}

/// A serf agent passes every Serf check, and lists the temporary member as left.
fn serf_agent_passes(binary: SerfBinary, key: Option<&str>) {
    let mut opts = SerfOpts::new("serf-conform")
        .binary(binary)
        .tag("role", "db");
    if let Some(k) = key {
        opts = opts.encrypt(k);
    }
    let agent = SerfAgent::spawn(opts);
    let mut args = vec!["--serf"];
    if let Some(k) = key {
        args.extend(["--key", k]);
    }
    let run = conform(agent.bind_addr(), &args);
    let not_applicable: &[&str] = if key.is_some() { &[] } else { &["encryption"] };
    assert_all_pass(&run, not_applicable);
    assert!(
        run.detail("serf-tags").contains("role=db"),
        "{}",
        run.explain()
    );
    agent
        .wait_members(
            |ms| {
                ms.iter()
                    .filter(|m| {
                        m["name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("conform-"))
                    })
                    .any(|m| m["status"] == "left")
            },
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{binary:?}: {e}"));
}

#[test]
fn the_debian_serf_agent_passes_encrypted() {
    serf_agent_passes(SerfBinary::Debian, Some(KEY));
}

#[test]
fn the_newest_serf_agent_passes() {
    serf_agent_passes(SerfBinary::Newest, None);
}

#[test]
fn our_agent_passes_plain_and_as_a_serf_member() {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let bind = SocketAddr::new(ip, free_port(ip));
    let rpc = SocketAddr::new(ip, free_port(ip));
    let mut child = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args([
            "agent",
            "--name",
            "rust-conform",
            "--profile",
            "local",
            "--protocol",
            "5",
        ])
        .args(["--format", "json", "--key", KEY])
        .arg(format!("--bind={bind}"))
        .arg(format!("--rpc-addr={rpc}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start memberlist agent");
    let events = LineLog::spawn(child.stdout.take().unwrap(), |l| {
        serde_json::from_str(&l).unwrap_or(Value::Null)
    });
    events
        .wait_for(|e| e["event"] == "started", Duration::from_secs(20))
        .unwrap();
    let run = conform(bind, &["--key", KEY]);
    child.kill().ok();
    child.wait().ok();
    assert_all_pass(
        &run,
        &["user-messages", "serf-tags", "serf-query", "serf-ping"],
    );

    let serf_bind = SocketAddr::new(ip, free_port(ip));
    let serf_rpc = SocketAddr::new(ip, free_port(ip));
    let agent = RustSerfAgent::spawn_at(
        "rust-serf-conform",
        serf_bind,
        serf_rpc,
        &["--tag", "role=web"],
    );
    let run = conform(agent.bind, &["--serf"]);
    assert_all_pass(&run, &["encryption"]);
    assert!(
        run.detail("serf-tags").contains("role=web"),
        "{}",
        run.explain()
    );
}
