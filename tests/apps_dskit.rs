//! A real grafana/dskit hash ring (three `interop/dskitring` members: dskit's memberlist KV
//! over its TCP transport, Grafana's memberlist fork) recorded with tcpdump on loopback
//! and decoded with no port flags: every row decodes, dskit's packet framing is read and
//! its MD5 digests check, and the ring instances, their zones, token counts, heartbeats
//! and states match what the harness did (three join, one leaves, one is killed). Then our
//! own members in such a ring: `memberlist ring --join` prints what dskit's members see,
//! and `memberlist agent --transport dskit` is listed alive by them and leaves cleanly.
//!
//! The ring member takes over two minutes to build cold, so `.ci/run` does not build it;
//! `.ci/apps` does (scripts/build-dskitring) and runs these ignored tests.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use support::dskit::{check_ring, RingMember};
use support::process::{free_port, run_bounded};
use support::tcpdump::Recording;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(30);

#[test]
#[ignore = "needs interop/bin/dskitring (scripts/build-dskitring); run by .ci/apps"]
fn dskit_ring_with_lzw_decodes_without_port_flags() {
    ring_capture("lzw");
}

/// Grafana's memberlist fork adds snappy (`compress.Algo` 1) to hashicorp's LZW.
#[test]
#[ignore = "needs interop/bin/dskitring (scripts/build-dskitring); run by .ci/apps"]
fn dskit_ring_with_snappy_decodes_without_port_flags() {
    let rows = ring_capture("snappy");
    assert!(
        rows.iter().any(|r| r["layers"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l == "compress"))),
        "some messages were compressed"
    );
}

/// Runs the scenario with `compression`, checks the capture's rows, returns them. With
/// `DSKIT_CAPTURE_OUT=DIR` the capture is kept as `DIR/dskit_COMPRESSION.pcap`.
fn ring_capture(compression: &str) -> Vec<Value> {
    let now = || {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock");
        format!("{}.{:06}", t.as_secs(), t.subsec_micros())
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let addrs: Vec<SocketAddr> = (0..3)
        .map(|_| SocketAddr::new(LOOPBACK, free_port(LOOPBACK)))
        .collect();
    let filter = addrs
        .iter()
        .map(|a| format!("tcp port {}", a.port()))
        .collect::<Vec<_>>()
        .join(" or ");
    let out_dir = std::env::var_os("DSKIT_CAPTURE_OUT").map(std::path::PathBuf::from);
    let pcap_path = out_dir
        .unwrap_or_else(|| dir.path().to_path_buf())
        .join(format!("dskit_{compression}.pcap"));
    let capture = Recording::start(&pcap_path, &filter);
    let mut events = Vec::new();
    let mut event = |node: &str, action: &str| {
        events.push(serde_json::json!({"time": now(), "node": node, "action": action}));
    };
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;

    event("ing-a", "start");
    let a = RingMember::spawn("ing-a", addrs[0], "zone-a", 8, &[], compression);
    a.wait_ring(&BTreeMap::from([("ing-a", "ACTIVE")]), WAIT)
        .expect("ing-a registers");
    event("ing-b", "start");
    event("ing-c", "start");
    let mut b = RingMember::spawn("ing-b", addrs[1], "zone-b", 16, &[addrs[0]], compression);
    let mut c = RingMember::spawn("ing-c", addrs[2], "zone-c", 4, &[addrs[0]], compression);
    let all = BTreeMap::from([
        ("ing-a", "ACTIVE"),
        ("ing-b", "ACTIVE"),
        ("ing-c", "ACTIVE"),
    ]);
    for m in [&a, &b, &c] {
        m.wait_ring(&all, WAIT)
            .expect("every member sees the whole ring");
    }
    // A few heartbeats (one a second's worth of timestamps each) go round.
    std::thread::sleep(Duration::from_millis(2500));

    // ing-b leaves: LEAVING, then unregistered; the others see it go.
    event("ing-b", "leave");
    b.leave(WAIT);
    let without_b = BTreeMap::from([("ing-a", "ACTIVE"), ("ing-c", "ACTIVE")]);
    a.wait_ring(&without_b, WAIT)
        .expect("ing-a sees ing-b leave");
    c.wait_ring(&without_b, WAIT)
        .expect("ing-c sees ing-b leave");
    assert!(
        b.log.snapshot().iter().any(|e| e["event"] == "stopped"),
        "ing-b said it stopped"
    );

    // ing-c is killed: it stays in the ring (heartbeats stop) and memberlist probes it.
    event("ing-c", "kill");
    c.kill();
    std::thread::sleep(Duration::from_secs(3));
    let pcap = capture.stop();
    if let Some(dir) = std::env::var_os("DSKIT_CAPTURE_OUT") {
        let nodes: Vec<Value> = ["ing-a", "ing-b", "ing-c"]
            .iter()
            .zip(&addrs)
            .map(
                |(n, a)| serde_json::json!({"name": n, "impl": "dskitring", "addr": a.to_string()}),
            )
            .collect();
        let scenario = serde_json::json!({
            "name": format!("dskit_{compression}"),
            "summary": format!("three grafana/dskit ring members (interop/dskitring, {compression} compression) \
                join over dskit's TCP transport, heartbeat, ing-b leaves the ring, ing-c is killed"),
            "capture": {"file": format!("dskit_{compression}.pcap"), "interface": "lo", "filter": filter},
            "ports": addrs.iter().map(|a| a.port()).collect::<Vec<_>>(),
            "keys": [],
            "started": start,
            "nodes": nodes,
            "events": events,
        });
        let path = std::path::Path::new(&dir).join(format!("dskit_{compression}.json"));
        std::fs::write(path, serde_json::to_vec_pretty(&scenario).unwrap())
            .expect("write scenario");
    }
    drop(a);

    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .arg("decode")
            .arg(&pcap)
            .args(["--format", "json"]),
        Duration::from_secs(60),
    )
    .expect("decode runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert!(
        rows.len() > 50,
        "few rows ({}); stderr: {stderr}",
        rows.len()
    );
    let errors: Vec<&Value> = rows.iter().filter(|r| r.get("error").is_some()).collect();
    assert!(
        errors.is_empty(),
        "{} error rows, e.g. {}",
        errors.len(),
        errors[0]
    );
    assert!(out.status.success(), "decode status {:?}", out.status);
    let ports: Vec<String> = addrs.iter().map(|a| a.port().to_string()).collect();
    assert!(
        ports.iter().all(|p| stderr.contains(p.as_str())),
        "stderr names the ports recognised: {stderr}"
    );

    check_ring(&rows, &addrs, start);
    rows
}

/// Three free loopback addresses.
fn three_addrs() -> Vec<SocketAddr> {
    (0..3)
        .map(|_| SocketAddr::new(LOOPBACK, free_port(LOOPBACK)))
        .collect()
}

/// Three members on `addrs`, all seeing the whole ring (lzw, as dskit's default).
fn three_members(addrs: &[SocketAddr]) -> (RingMember, RingMember, RingMember) {
    let a = RingMember::spawn("ing-a", addrs[0], "zone-a", 8, &[], "lzw");
    a.wait_ring(&BTreeMap::from([("ing-a", "ACTIVE")]), WAIT)
        .expect("ing-a registers");
    let b = RingMember::spawn("ing-b", addrs[1], "zone-b", 16, &[addrs[0]], "lzw");
    let c = RingMember::spawn("ing-c", addrs[2], "zone-c", 4, &[addrs[0]], "lzw");
    let all = BTreeMap::from([
        ("ing-a", "ACTIVE"),
        ("ing-b", "ACTIVE"),
        ("ing-c", "ACTIVE"),
    ]);
    for m in [&a, &b, &c] {
        m.wait_ring(&all, WAIT)
            .expect("every member sees the whole ring");
        m.wait_members(&["ing-a", "ing-b", "ing-c"], WAIT)
            .expect("every member lists the others alive");
    }
    (a, b, c)
}

/// `memberlist ring --join ADDR --format json` with `extra` flags: the JSON object.
fn ring_json(join: SocketAddr, name: &str, extra: &[&str]) -> Value {
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["ring", "--join", &join.to_string(), "--name", name])
            .args(["--format", "json", "--timeout", "10s"])
            .args(extra),
        Duration::from_secs(30),
    )
    .expect("ring runs");
    assert!(
        out.status.success(),
        "ring failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// Instance ID to the state `memberlist ring` printed.
fn states(ring: &Value) -> BTreeMap<String, String> {
    ring["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `memberlist ring` prints what dskit's own members see (instances, states, addresses,
/// zones, tokens) as three join, one leaves and one is killed, and reading it leaves the
/// cluster untouched: our member is listed while it reads, then leaves (never probed as
/// failed) and nothing of it ever enters the ring.
#[test]
#[ignore = "needs interop/bin/dskitring (scripts/build-dskitring); run by .ci/apps"]
fn ring_join_prints_dskits_own_view_and_leaves_cleanly() {
    let addrs = three_addrs();
    let (a, mut b, mut c) = three_members(&addrs);

    let ring = ring_json(addrs[1], "reader-1", &[]);
    assert_eq!(ring["key"], "ring");
    assert_eq!(states(&ring), a.ring_view(), "our view is dskit's: {ring}");
    for (i, (id, zone, tokens)) in [
        ("ing-a", "zone-a", 8),
        ("ing-b", "zone-b", 16),
        ("ing-c", "zone-c", 4),
    ]
    .into_iter()
    .enumerate()
    {
        let inst = &ring["instances"][i];
        assert_eq!(inst["id"], id);
        assert_eq!(inst["address"], addrs[i].to_string(), "{inst}");
        assert_eq!(inst["zone"], zone);
        assert_eq!(inst["tokens"], tokens);
        // Each is alone in its zone, so dskit counts it as owning all of it.
        assert_eq!(inst["ownership_percent"], 100.0, "{inst}");
        assert_eq!(inst["healthy"], true);
    }
    // Our member came and went: listed alive by the member it joined through, gone from
    // every list afterwards, never suspected, and never in anyone's ring.
    assert!(b.ever_listed("reader-1"), "ing-b listed our member");
    for m in [&a, &b, &c] {
        m.wait_members(&["ing-a", "ing-b", "ing-c"], WAIT)
            .expect("our member left every member list");
        assert_eq!(m.failed_probes_of("reader-1"), Vec::<String>::new());
        assert!(m
            .log
            .snapshot()
            .iter()
            .all(|e| e["event"] != "ring" || e["instances"].get("reader-1").is_none()));
    }

    // ing-b leaves the ring: dskit's members drop it, and so do we.
    b.leave(WAIT);
    let without_b = BTreeMap::from([("ing-a", "ACTIVE"), ("ing-c", "ACTIVE")]);
    a.wait_ring(&without_b, WAIT)
        .expect("ing-a sees ing-b leave");
    let ring = ring_json(addrs[0], "reader-2", &[]);
    assert_eq!(states(&ring), a.ring_view(), "after ing-b left: {ring}");

    // ing-c is killed: dskit keeps it ACTIVE in the ring (nothing unregisters it) but its
    // heartbeats stop; past the heartbeat timeout the ring page shows it UNHEALTHY.
    c.kill();
    let deadline = std::time::Instant::now() + WAIT;
    let ring = loop {
        let ring = ring_json(addrs[0], "reader-3", &["--heartbeat-timeout", "2s"]);
        if ring["instances"][1]["state"] == "UNHEALTHY" || std::time::Instant::now() > deadline {
            break ring;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        states(&ring),
        BTreeMap::from([
            ("ing-a".to_string(), "ACTIVE".to_string()),
            ("ing-c".to_string(), "UNHEALTHY".to_string())
        ]),
        "{ring}"
    );
    assert_eq!(ring["instances"][1]["ring_state"], "ACTIVE");
    // The log line our members' departures are checked against is there for a real death.
    a.stderr
        .wait_for(|l| l.contains("Suspect ing-c has failed"), WAIT)
        .expect("the killed member is probed as failed, as our readers never were");
    assert_eq!(
        a.ring_view(),
        BTreeMap::from([
            ("ing-a".to_string(), "ACTIVE".to_string()),
            ("ing-c".to_string(), "ACTIVE".to_string())
        ]),
        "dskit's own view keeps the killed instance ACTIVE"
    );
}

/// `memberlist agent --transport dskit` joins a dskit cluster: its members list it alive
/// (so packets, acks and push/pulls pass both ways over dskit's transport), their ring
/// stays theirs, and on SIGTERM it leaves: they drop it without ever probing it as failed.
#[test]
#[ignore = "needs interop/bin/dskitring (scripts/build-dskitring); run by .ci/apps"]
fn agent_over_dskits_transport_is_listed_alive_and_leaves_cleanly() {
    let addrs = three_addrs();
    let (a, b, c) = three_members(&addrs);
    let bind = SocketAddr::new(LOOPBACK, free_port(LOOPBACK));
    let rpc = SocketAddr::new(LOOPBACK, free_port(LOOPBACK));
    let mut agent = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args([
            "agent",
            "--name",
            "rusty",
            "--transport",
            "dskit",
            "--format",
            "json",
        ])
        .args(["--bind", &bind.to_string(), "--rpc-addr", &rpc.to_string()])
        .args(["--join", &addrs[2].to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the agent");
    let everyone = ["ing-a", "ing-b", "ing-c", "rusty"];
    for m in [&a, &b, &c] {
        m.wait_members(&everyone, WAIT)
            .expect("dskit's members list our agent alive");
    }
    // Several probe rounds (dskit probes every second) find it alive.
    std::thread::sleep(Duration::from_secs(3));
    for m in [&a, &b, &c] {
        assert_eq!(m.members(), everyone, "{} still lists it", m.id);
    }

    // SAFETY: signalling our own child by its id.
    unsafe { libc::kill(agent.id() as libc::pid_t, libc::SIGTERM) };
    support::process::wait_bounded(&mut agent, WAIT).expect("the agent exits after SIGTERM");
    for m in [&a, &b, &c] {
        m.wait_members(&["ing-a", "ing-b", "ing-c"], WAIT)
            .expect("our agent left every member list");
    }
    // Past a probe round of each member: a member that died would have been probed
    // and reported failed by now; one that left is not probed at all.
    std::thread::sleep(Duration::from_secs(2));
    for m in [&a, &b, &c] {
        assert_eq!(
            m.failed_probes_of("rusty"),
            Vec::<String>::new(),
            "{}",
            m.id
        );
        assert_eq!(
            m.ring_view().into_keys().collect::<Vec<_>>(),
            ["ing-a", "ing-b", "ing-c"],
            "the ring is theirs alone"
        );
    }
}

/// Unix time now, in seconds.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// `memberlist explain` on a recorded ring where ing-c is killed while ing-a and ing-b
/// go on, then ing-b leaves: ing-c stopped heartbeating (its last heartbeat from before
/// the kill, the others' heartbeats advancing after it), ing-b left, ing-a heartbeats.
#[test]
#[ignore = "needs interop/bin/dskitring (scripts/build-dskitring); run by .ci/apps"]
fn explain_tells_which_instance_stopped_heartbeating() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addrs = three_addrs();
    let filter = addrs
        .iter()
        .map(|a| format!("tcp port {}", a.port()))
        .collect::<Vec<_>>()
        .join(" or ");
    let capture = Recording::start(&dir.path().join("ring.pcap"), &filter);
    let (a, mut b, mut c) = three_members(&addrs);
    std::thread::sleep(Duration::from_secs(2));
    let killed = unix_now();
    c.kill();
    // ing-a and ing-b heartbeat on (each second's worth of timestamps) and gossip it.
    std::thread::sleep(Duration::from_secs(5));
    let leaving = unix_now();
    b.leave(WAIT);
    a.wait_ring(
        &BTreeMap::from([("ing-a", "ACTIVE"), ("ing-c", "ACTIVE")]),
        WAIT,
    )
    .expect("ing-a sees ing-b leave");
    let left = unix_now();
    // The LEFT update ing-a acted on may still sit in tcpdump's buffer (.ci/apps saw a
    // capture that ended at LEAVING on a loaded machine): give it a moment to land.
    std::thread::sleep(Duration::from_secs(1));
    let pcap = capture.stop();

    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .arg("explain")
            .arg(&pcap)
            .args(["--format", "json"]),
        Duration::from_secs(60),
    )
    .expect("explain runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "a JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let rings = report["rings"].as_array().expect("rings in the report");
    assert_eq!(rings.len(), 1, "{rings:?}");
    assert_eq!(rings[0]["key"], "ring");
    let inst = |id: &str| {
        rings[0]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {}", rings[0]))
            .clone()
    };
    let secs = |v: &Value| v.as_str().expect("a time").parse::<f64>().expect("seconds");

    let c = inst("ing-c");
    assert_eq!(c["fate"], "stopped_heartbeating", "{c}");
    assert_eq!(c["state"], "ACTIVE", "never unregistered: {c}");
    assert_eq!(c["addr"], addrs[2].to_string());
    // Its last heartbeat was written before the kill, at most two of its (one-second)
    // timestamps earlier, and crossed the wire before the kill too.
    let hb = c["last_heartbeat"].as_i64().unwrap();
    assert!(
        (killed.floor() as i64 - 2..=killed.floor() as i64).contains(&hb),
        "last heartbeat {hb}, killed at {killed}"
    );
    let seen = secs(&c["last_heartbeat_seen"]);
    assert!(
        (killed - 2.0..=killed).contains(&seen),
        "last heartbeat seen at {seen}, killed at {killed}"
    );
    assert_eq!(c["unhealthy_from"], hb + 60);

    let b = inst("ing-b");
    assert_eq!(b["fate"], "left", "{b}");
    let left_at = b["state_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "LEFT")
        .map(|s| secs(&s["time"]))
        .expect("ing-b's LEFT");
    assert!(
        (leaving..=left).contains(&left_at),
        "LEFT seen at {left_at}, ing-b told to leave at {leaving}, gone by {left}"
    );
    // ing-b heartbeated on after ing-c stopped: what tells a dead instance from a quiet
    // capture.
    assert!(secs(&b["last_heartbeat_seen"]) > killed + 1.0, "{b}");
    assert_eq!(inst("ing-a")["fate"], "heartbeating");

    let text = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .arg("explain")
            .arg(&pcap),
        Duration::from_secs(60),
    )
    .expect("explain runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("ing-c") && l.contains("stopped heartbeating at")),
        "{text}"
    );
}
