//! `--metrics-addr` against Go: a Go memberlist v0.7.0 node (go-metrics into an
//! in-memory sink) and our agent in one encrypted cluster see the same third member
//! join and die; every metric the Go node emitted must be on our Prometheus page,
//! and the ones that count traffic and protocol work must be of the same order.
//! Likewise for a serf v0.11.0 agent (its statsd sink) and our `--serf` agent.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::gonode::{GoNode, GoNodeOpts, Profile};
use support::process::free_port;
use support::rust_serf::RustSerfAgent;
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

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

/// What a Go process emitted: counters with their sums, samples and timers with
/// their counts, gauges with their last values; go-metrics' dotted keys.
#[derive(Default, Debug)]
struct Emitted {
    counters: BTreeMap<String, f64>,
    samples: BTreeMap<String, f64>,
    gauges: BTreeMap<String, f64>,
}

/// Checks every key Go emitted against our page; returns how many were compared.
fn compare(go: &Emitted, ours: &BTreeMap<String, f64>) -> usize {
    let mut compared = 0;
    let mut problems = Vec::new();
    let kinds = [
        (&go.counters, ""),
        (&go.samples, "_count"),
        (&go.gauges, ""),
    ];
    for (table, suffix) in kinds {
        for (go_key, &go_value) in table {
            let ours_key = prometheus_key(go_key, suffix);
            match ours.get(&ours_key) {
                None => problems.push(format!("{go_key} (as {ours_key}) is missing from our page")),
                Some(&v) if !presence_only(go_key) && !same_order(go_value, v) => problems.push(
                    format!("{go_key}: Go {go_value}, ours {v} ({ours_key}): more than 10x apart"),
                ),
                Some(_) => compared += 1,
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nGo: {go:?}\nours: {ours:?}",
        problems.join("\n")
    );
    compared
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

    let mut go = Emitted::default();
    for (k, v) in go_now["counters"].as_object().expect("counters") {
        go.counters
            .insert(k.clone(), v["sum"].as_f64().unwrap_or(0.0));
    }
    for (k, v) in go_now["samples"].as_object().expect("samples") {
        go.samples
            .insert(k.clone(), v["count"].as_f64().unwrap_or(0.0));
    }
    for (k, v) in go_now["gauges"].as_object().expect("gauges") {
        go.gauges.insert(k.clone(), v.as_f64().unwrap_or(0.0));
    }
    let compared = compare(&go, &ours);
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
    assert!(compared >= 12, "only {compared} metrics compared: {go_now}");
}

/// Collects the statsd lines a serf agent sends (`serf-agent.KEY:VALUE|TYPE`).
struct Statsd {
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Statsd {
    fn listen() -> Statsd {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind statsd");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::downgrade(&lines);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65_536];
            // Stops once the test dropped the collector.
            while let Some(lines) = sink.upgrade() {
                if let Ok(n) = socket.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let mut l = lines.lock().unwrap();
                    l.extend(text.lines().map(str::to_owned));
                }
            }
        });
        Statsd { addr, lines }
    }

    /// What was received, keyed as go-metrics' dotted names without the service
    /// (`serf-agent`) and host prefixes; go-runtime gauges left out.
    fn emitted(&self) -> Emitted {
        let mut e = Emitted::default();
        for line in self.lines.lock().unwrap().iter() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let Some((value, kind)) = rest.split_once('|') else {
                continue;
            };
            let parts: Vec<&str> = key.split('.').collect();
            let Some(start) = parts
                .iter()
                .position(|p| *p == "memberlist" || *p == "serf")
            else {
                continue;
            };
            let mut key = parts[start..].join(".");
            // statsd has no labels: go-metrics appends their values to the key.
            if let Some(state) = key.strip_prefix("memberlist.node.instances.") {
                key = format!("memberlist.node.instances;node_state={state}");
            }
            let value: f64 = value.parse().unwrap_or(0.0);
            match kind {
                "c" => *e.counters.entry(key).or_default() += value,
                "ms" => *e.samples.entry(key).or_default() += 1.0,
                "g" => {
                    e.gauges.insert(key, value);
                }
                _ => {}
            }
        }
        e
    }
}

#[test]
fn every_metric_a_serf_agent_emits_appears_from_our_serf_agent() {
    let statsd = Statsd::listen();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("serf.json");
    std::fs::write(
        &config,
        json!({"statsd_addr": statsd.addr.to_string()}).to_string(),
    )
    .expect("write serf config");
    let serf = SerfAgent::spawn(
        SerfOpts::new("serf-1")
            .binary(SerfBinary::Newest)
            .arg(&format!("-config-file={}", config.display())),
    );
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let metrics = SocketAddr::new(ip, free_port(ip));
    let our_statsd = Statsd::listen();
    let ours = RustSerfAgent::spawn(
        "rust-1",
        serf.bind_addr(),
        &[
            &format!("--metrics-addr={metrics}"),
            &format!("--statsd-addr={}", our_statsd.addr),
        ],
    );
    serf.wait_members(|m| m.len() == 2, Duration::from_secs(20))
        .expect("serf-1 lists rust-1");

    // The same work from each side: an event and a query, answered by both.
    serf.event("deploy", "v1").expect("serf event");
    ours.cli("event", &["--coalesce=false", "deploy", "v2"])
        .expect("memberlist event");
    serf.query("ping-us", "hi").expect("serf query");
    ours.cli("query", &["ping-us", "hi"])
        .expect("memberlist query");
    // Probes with coordinates, gossip and a push/pull or two.
    std::thread::sleep(Duration::from_secs(4));

    let go = statsd.emitted();
    let page = scrape(metrics);
    for key in [
        "serf.member.join",
        "serf.events",
        "serf.events.deploy",
        "serf.queries",
        "serf.queries.ping-us",
        "serf.query_acks",
    ] {
        assert!(
            go.counters.contains_key(key),
            "serf-1 sent no {key}: {go:?}"
        );
    }
    for key in [
        "serf.msgs.received",
        "serf.msgs.sent",
        "serf.coordinate.adjustment-ms",
    ] {
        assert!(go.samples.contains_key(key), "serf-1 sent no {key}: {go:?}");
    }
    let compared = compare(&go, &page);
    assert!(compared >= 15, "only {compared} metrics compared: {go:?}");

    // Our statsd lines read as the serf agent's do, under the same keys.
    let pushed = our_statsd.emitted();
    let both = |ours: &BTreeMap<String, f64>, go: &BTreeMap<String, f64>, key: &str| {
        assert!(
            ours.contains_key(key) && go.contains_key(key),
            "{key}: ours {ours:?}, serf's {go:?}"
        );
    };
    for key in [
        "serf.member.join",
        "serf.events",
        "serf.events.deploy",
        "serf.queries",
        "serf.query_acks",
        "memberlist.udp.sent",
        "memberlist.udp.received",
        "memberlist.msg.alive",
    ] {
        both(&pushed.counters, &go.counters, key);
        let scraped = page[&prometheus_key(key, "")];
        assert!(
            same_order(scraped, pushed.counters[key]),
            "{key}: pushed {} scraped {scraped}",
            pushed.counters[key]
        );
    }
    for key in [
        "serf.msgs.received",
        "serf.msgs.sent",
        "memberlist.probeNode",
        "serf.coordinate.adjustment-ms",
    ] {
        both(&pushed.samples, &go.samples, key);
    }
    both(
        &pushed.gauges,
        &go.gauges,
        "memberlist.node.instances;node_state=alive",
    );
}
