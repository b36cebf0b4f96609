//! A real grafana/dskit hash ring (three `interop/dskitring` members: dskit's memberlist KV
//! over its TCP transport, Grafana's memberlist fork) recorded with tcpdump on loopback
//! and decoded with no port flags: every row decodes, dskit's packet framing is read and
//! its MD5 digests check, and the ring instances, their zones, token counts, heartbeats
//! and states match what the harness did (three join, one leaves, one is killed).
//!
//! The ring member takes over two minutes to build cold, so `.ci/run` does not build it;
//! `.ci/apps` does (scripts/build-dskitring) and runs these ignored tests.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use support::dskit::RingMember;
use support::process::{free_port, run_bounded};
use support::tcpdump::Recording;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(30);

/// What the capture says about one ring instance.
#[derive(Debug, Default)]
struct Seen {
    states: BTreeSet<String>,
    addrs: BTreeSet<String>,
    zones: BTreeSet<String>,
    tokens: BTreeSet<u64>,
    heartbeats: BTreeSet<i64>,
    registered: BTreeSet<i64>,
}

fn record(seen: &mut BTreeMap<String, Seen>, ring: &Value) {
    for (id, i) in ring["Ingesters"].as_object().into_iter().flatten() {
        let s = seen.entry(id.clone()).or_default();
        s.states
            .insert(i["State"].as_str().expect("state name").to_string());
        s.addrs
            .insert(i["Addr"].as_str().expect("addr").to_string());
        s.zones
            .insert(i["Zone"].as_str().expect("zone").to_string());
        let tokens = i["TokenCount"].as_u64().expect("token count");
        // An unregistered instance is gossiped as LEFT, its tokens given up.
        match i["State"] == "LEFT" {
            true => assert_eq!(tokens, 0, "{id} left with its tokens: {i}"),
            false => _ = s.tokens.insert(tokens),
        }
        s.heartbeats
            .insert(i["Timestamp"].as_i64().expect("heartbeat"));
        s.registered
            .insert(i["RegisteredTimestamp"].as_i64().expect("registered"));
    }
}

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
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;

    let a = RingMember::spawn("ing-a", addrs[0], "zone-a", 8, &[], compression);
    a.wait_ring(&BTreeMap::from([("ing-a", "ACTIVE")]), WAIT)
        .expect("ing-a registers");
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
    c.kill();
    std::thread::sleep(Duration::from_secs(3));
    let pcap = capture.stop();
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

    // dskit's framing: packets carry a sender's advertised address and a good digest.
    let frames: Vec<&Value> = rows
        .iter()
        .filter_map(|r| r.get("transport_frame"))
        .collect();
    let packets: Vec<&&Value> = frames
        .iter()
        .filter(|f| f["kind"] == "dskit_packet")
        .collect();
    assert!(!packets.is_empty(), "dskit packet connections decoded");
    assert!(
        packets.iter().all(|f| f["digest"] == "ok"),
        "every MD5 digest checks"
    );
    let senders: BTreeSet<&str> = packets.iter().filter_map(|f| f["from"].as_str()).collect();
    let want: BTreeSet<String> = addrs.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        senders
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        want,
        "packets come from the three members' advertised addresses"
    );
    assert!(
        frames.iter().any(|f| f["kind"] == "dskit_stream"),
        "dskit stream connections"
    );

    // The ring, from every broadcast and push/pull the capture holds.
    let mut seen = BTreeMap::new();
    let (mut pairs, mut states) = (0, 0);
    for r in &rows {
        let Some(app) = r.get("app") else { continue };
        assert_eq!(app["app"], "dskit", "{r}");
        assert!(app.get("error").is_none(), "payload decodes: {r}");
        match app["type"].as_str() {
            Some("kv_pair") => {
                pairs += 1;
                assert_eq!(app["fields"]["Key"], "ring");
                assert_eq!(app["fields"]["Codec"], "ringDesc");
                record(&mut seen, &app["fields"]["Ring"]);
            }
            Some("kv_state") => {
                states += 1;
                assert_eq!(r["type"], "push_pull", "user state comes in push/pulls");
                for p in app["fields"]["Pairs"].as_array().expect("pairs") {
                    record(&mut seen, &p["Ring"]);
                }
            }
            other => panic!("unexpected dskit payload type {other:?}: {r}"),
        }
    }
    assert!(
        pairs > 0 && states > 0,
        "{pairs} broadcasts, {states} push/pull states"
    );
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ing-a", "ing-b", "ing-c"]
    );
    for (id, zone, tokens, addr) in [
        ("ing-a", "zone-a", 8, addrs[0]),
        ("ing-b", "zone-b", 16, addrs[1]),
        ("ing-c", "zone-c", 4, addrs[2]),
    ] {
        let s = &seen[id];
        assert_eq!(s.zones, BTreeSet::from([zone.to_string()]), "{id} zone");
        assert_eq!(s.tokens, BTreeSet::from([tokens]), "{id} tokens");
        assert_eq!(s.addrs, BTreeSet::from([addr.to_string()]), "{id} addr");
        assert_eq!(
            s.registered.len(),
            1,
            "{id} registered once: {:?}",
            s.registered
        );
        let registered = *s.registered.first().unwrap();
        assert!(
            (start - 2..=start + 60).contains(&registered),
            "{id} registered at {registered}, test started at {start}"
        );
        assert!(
            s.heartbeats.len() >= 2,
            "{id} heartbeats advance: {:?}",
            s.heartbeats
        );
        assert!(
            s.states.contains("ACTIVE"),
            "{id} was ACTIVE: {:?}",
            s.states
        );
    }
    assert!(
        seen["ing-b"].states.contains("LEAVING"),
        "ing-b left: {:?}",
        seen["ing-b"].states
    );
    assert!(
        !seen["ing-a"].states.contains("LEAVING"),
        "ing-a never left"
    );
    assert!(
        !seen["ing-c"].states.contains("LEAVING"),
        "killed ing-c never said it was leaving"
    );
    rows
}
