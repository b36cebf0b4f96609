//! A real grafana/dskit hash ring (three `interop/dskitring` members: dskit's memberlist KV
//! over its TCP transport, Grafana's memberlist fork) recorded with tcpdump on loopback
//! and decoded with no port flags: every row decodes, dskit's packet framing is read and
//! its MD5 digests check, and the ring instances, their zones, token counts, heartbeats
//! and states match what the harness did (three join, one leaves, one is killed).
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
