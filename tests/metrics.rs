//! `--metrics-addr` against Go: a Go memberlist v0.7.0 node (go-metrics into an
//! in-memory sink) and our agent in one encrypted cluster see the same third member
//! join and die; every metric the Go node emitted must be on our Prometheus page,
//! and the ones that count traffic and protocol work must be of the same order.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::gonode::{GoNode, GoNodeOpts, Profile};
use support::process::free_port;

const KEY: &str = "EBESExQVFhcYGRobHB0eHw==";
const WAIT: Duration = Duration::from_secs(40);

/// Our agent as a child process; killed when dropped.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Prometheus page as name{labels} -> value (comments dropped).
fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let body = ureq::get(&format!("http://{addr}/metrics"))
        .call()
        .expect("GET /metrics")
        .body_mut()
        .read_to_string()
        .expect("metrics body");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn go_metrics(node: &GoNode) -> Value {
    node.send_cmd(json!({"cmd": "metrics"}))
        .expect("gonode metrics")
}

/// go-metrics' Prometheus name for a dotted key with `;name=value` labels.
fn prometheus_key(go_key: &str, suffix: &str) -> String {
    let mut parts = go_key.split(';');
    let name: String = parts
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let labels: Vec<String> = parts
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if labels.is_empty() {
        format!("{name}{suffix}")
    } else {
        format!("{name}{suffix}{{{}}}", labels.join(","))
    }
}

/// Within a factor of ten, counting from one (so 0 against 3 passes, 0 against 30
/// does not).
fn same_order(go: f64, ours: f64) -> bool {
    let (a, b) = (go + 1.0, ours + 1.0);
    a / b <= 10.0 && b / a <= 10.0
}

/// Metrics whose value depends on one node's luck or on a documented difference,
/// so only their presence is compared:
/// - `gossip`: our member does not run a gossip round while it has nothing to
///   send (its CPU advantage over Go), so it has far fewer samples;
/// - `size.local`: Go reads four bytes of the msgpack header as the size (a
///   constant near 2.2e9); we report the frame's real size;
/// - `degraded.*`, `health.score`: whether a node's own probes were slow;
/// - `node.instances`: a snapshot at the last push/pull each node happened to run.
fn presence_only(go_key: &str) -> bool {
    [
        "memberlist.gossip",
        "memberlist.size.local",
        "memberlist.degraded.",
        "memberlist.health.score",
        "memberlist.node.instances",
    ]
    .iter()
    .any(|p| go_key.starts_with(p))
}

#[test]
fn every_metric_go_emits_appears_from_our_agent_with_values_of_the_same_order() {
    let fast = |name: &str| {
        GoNodeOpts::new(name)
            .profile(Profile::Local)
            .key(KEY)
            .queue_check_interval(Duration::from_secs(1))
    };
    let go = GoNode::spawn(fast("go-1"));
    let mut victim = GoNode::spawn(fast("victim").join(go.addr()));

    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let bind = SocketAddr::new(ip, free_port(ip));
    let metrics = SocketAddr::new(ip, free_port(ip));
    let rpc = SocketAddr::new(ip, free_port(ip));
    let _agent = Agent(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args([
                "agent",
                "--name",
                "rust-1",
                "--profile",
                "local",
                "--key",
                KEY,
            ])
            .arg(format!("--bind={bind}"))
            .arg(format!("--rpc-addr={rpc}"))
            .arg(format!("--metrics-addr={metrics}"))
            .arg(format!("--join={}", go.addr()))
            .args(["--queue-check-interval", "1s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start memberlist agent"),
    );
    go.wait_members(
        |m| m.iter().filter(|m| m.state == "alive").count() == 3,
        WAIT,
    )
    .expect("go-1 sees all three");

    // The same work for both: probe each other and the victim, then see it fail.
    std::thread::sleep(Duration::from_secs(3));
    victim.kill();
    let start = Instant::now();
    let (go_now, ours) = loop {
        let g = go_metrics(&go);
        let ours = scrape(metrics);
        let go_dead = g["counters"]["memberlist.msg.dead"]["sum"].as_f64() > Some(0.0);
        let our_dead = ours.get("memberlist_msg_dead").copied().unwrap_or(0.0) > 0.0;
        if go_dead && our_dead {
            break (g, ours);
        }
        assert!(
            start.elapsed() < WAIT,
            "the victim's death was not counted by both: go {g}, ours {ours:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };

    let mut compared = 0;
    let mut problems = Vec::new();
    let mut check = |go_key: &str, go_value: f64, ours_key: String| match ours.get(&ours_key) {
        None => problems.push(format!("{go_key} (as {ours_key}) is missing from our page")),
        Some(&v) if !presence_only(go_key) && !same_order(go_value, v) => problems.push(format!(
            "{go_key}: Go {go_value}, ours {v} ({ours_key}) differ by more than 10x"
        )),
        Some(_) => compared += 1,
    };
    for (k, v) in go_now["counters"].as_object().expect("counters") {
        check(k, v["sum"].as_f64().unwrap_or(0.0), prometheus_key(k, ""));
    }
    for (k, v) in go_now["samples"].as_object().expect("samples") {
        check(
            k,
            v["count"].as_f64().unwrap_or(0.0),
            prometheus_key(k, "_count"),
        );
    }
    for (k, v) in go_now["gauges"].as_object().expect("gauges") {
        check(k, v.as_f64().unwrap_or(0.0), prometheus_key(k, ""));
    }
    assert!(
        problems.is_empty(),
        "{}\nGo: {go_now}\nours: {ours:?}",
        problems.join("\n")
    );
    // What the Go node emitted in this scenario, at the least: the traffic and the
    // failure it saw.
    for key in [
        "memberlist.udp.sent",
        "memberlist.udp.received",
        "memberlist.tcp.accept",
        "memberlist.msg.alive",
        "memberlist.msg.dead",
    ] {
        assert!(
            go_now["counters"].get(key).is_some(),
            "Go emitted no {key}: {go_now}"
        );
    }
    for key in [
        "memberlist.probeNode",
        "memberlist.queue.broadcasts",
        "memberlist.size.remote",
    ] {
        assert!(
            go_now["samples"].get(key).is_some(),
            "Go emitted no {key}: {go_now}"
        );
    }
    eprintln!("compared {compared} metrics\nGo: {go_now}\nours: {ours:?}");
    assert!(compared >= 12, "only {compared} metrics compared: {go_now}");
}
