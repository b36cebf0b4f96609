//! A join refused by a real peer names the flag that fixes it: a plain agent
//! against a Serf agent (`--serf`), a Serf agent against a plain memberlist node
//! (drop `--serf`), a missing or wrong key (`--key`/`--keyring-file`), a missing
//! or wrong label (`--label`). Each case is our agent's exit status and stderr.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use support::gonode::{GoNode, GoNodeOpts};
use support::process::{free_port, run_bounded};
use support::serf::{SerfAgent, SerfOpts};

const KEY: &str = "EBESExQVFhcYGRobHB0eHw==";
const OTHER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";

/// Runs our agent joining `peer` with `extra` flags; it must fail to join and
/// exit 1, and its stderr must contain `hint`.
fn refused_with_hint(peer: SocketAddr, extra: &[&str], hint: &str) {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["agent", "--name", "rust-1", "--profile", "local"])
            .arg(format!("--bind={}", SocketAddr::new(ip, free_port(ip))))
            .arg(format!("--rpc-addr={}", SocketAddr::new(ip, free_port(ip))))
            .arg(format!("--join={peer}"))
            .args(extra),
        Duration::from_secs(30),
    )
    .expect("agent ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
    assert!(stderr.contains("joined no member"), "{extra:?}: {stderr}");
    assert!(
        stderr.contains(&format!("{peer}: ")) && stderr.contains(hint),
        "{extra:?}: no hint {hint:?} in {stderr}"
    );
}

#[test]
fn joins_refused_by_a_serf_agent_name_the_flag() {
    let plain = SerfAgent::spawn(SerfOpts::new("serf-1"));
    refused_with_hint(plain.bind_addr(), &[], "looks like a Serf or Consul agent");
    refused_with_hint(plain.bind_addr(), &[], "pass --serf");

    let encrypted = SerfAgent::spawn(SerfOpts::new("serf-2").encrypt(KEY));
    refused_with_hint(
        encrypted.bind_addr(),
        &["--serf"],
        "pass its gossip key with --key",
    );
    refused_with_hint(
        encrypted.bind_addr(),
        &["--serf", "--key", OTHER_KEY],
        "a key we do not have: pass its key with --key or --keyring-file",
    );
    refused_with_hint(
        plain.bind_addr(),
        &["--serf", "--key", KEY],
        "the peer uses no encryption: drop --key",
    );
}

#[test]
fn joins_refused_by_a_memberlist_node_name_the_flag() {
    let labelled = GoNode::spawn(GoNodeOpts::fast("go-1").label("prod"));
    refused_with_hint(labelled.addr(), &[], "expects a label (pass --label)");
    refused_with_hint(
        labelled.addr(),
        &["--label", "staging"],
        "its label is not \"staging\", or it expects none (check --label)",
    );
    let plain = GoNode::spawn(GoNodeOpts::fast("go-2"));
    refused_with_hint(plain.addr(), &["--serf"], "not a Serf agent: drop --serf");
}
