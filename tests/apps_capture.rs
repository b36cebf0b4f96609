//! Application payloads in committed captures, decoded by `memberlist decode` with no port
//! flags: `testdata/captures/dskit_ring.pcap` (recorded by tests/apps_dskit.rs from three
//! real grafana/dskit ring members; `dskit_ring.json` says what the harness did), the same
//! capture with one MD5 digest damaged, `--app raw`, and a forced decoder that does not fit
//! the traffic (Serf's capture under `--app dskit`): the memberlist layer always prints.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use support::decode::{decode, json_rows};
use support::dskit::check_ring;
use support::process::run_bounded;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/captures")
        .join(name)
}

/// The scenario's member addresses (ing-a, ing-b, ing-c) and start time.
fn scenario() -> (Vec<SocketAddr>, i64) {
    let sc: Value =
        serde_json::from_slice(&std::fs::read(capture("dskit_ring.json")).unwrap()).unwrap();
    let addrs = sc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["addr"].as_str().unwrap().parse().unwrap())
        .collect();
    (addrs, sc["started"].as_i64().unwrap())
}

#[test]
fn dskit_ring_capture_decodes_without_port_flags() {
    let (addrs, start) = scenario();
    let out = decode(&capture("dskit_ring.pcap"), &["--format", "json"]);
    assert!(out.status.success(), "status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for a in &addrs {
        assert!(stderr.contains(&a.port().to_string()), "{stderr}");
    }
    let rows = json_rows(&out);
    assert!(rows.iter().all(|r| r.get("error").is_none()));
    check_ring(&rows, &addrs, start);

    // The text form says the same: framing, pair and ring instances on one line.
    let text = String::from_utf8(decode(&capture("dskit_ring.pcap"), &[]).stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("ing-b=LEAVING"))
        .expect("a text row with ing-b leaving");
    assert!(
        line.contains("dskit-packet(from=") && line.contains("md5=ok")
            || line.contains("dskit-stream"),
        "{line}"
    );
    assert!(
        line.contains("dskit kv_") && line.contains("key=ring codec=ringDesc"),
        "{line}"
    );
    assert!(line.contains("zone=zone-b tokens=16"), "{line}");
}

/// A copy of the capture with the first byte of its first 16-byte TCP payload (dskit
/// writes each packet's MD5 digest on its own) flipped.
fn with_damaged_digest(dir: &Path) -> PathBuf {
    let mut pcap = std::fs::read(capture("dskit_ring.pcap")).unwrap();
    // Classic pcap: 24-byte file header, then 16-byte record headers; lo is Ethernet.
    let mut at = 24;
    loop {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = at + 16;
        let ip = frame + 14;
        let ihl = (pcap[ip] & 0x0f) as usize * 4;
        let total = u16::from_be_bytes([pcap[ip + 2], pcap[ip + 3]]) as usize;
        let tcp = ip + ihl;
        let doff = (pcap[tcp + 12] >> 4) as usize * 4;
        if pcap[ip + 9] == 6 && total - ihl - doff == 16 {
            pcap[tcp + doff] ^= 0xff;
            break;
        }
        at = frame + caplen;
    }
    let path = dir.join("damaged.pcap");
    std::fs::write(&path, pcap).unwrap();
    path
}

#[test]
fn a_bad_digest_is_reported_and_the_packet_still_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let out = decode(&with_damaged_digest(dir.path()), &["--format", "json"]);
    let rows = json_rows(&out);
    let bad: Vec<&Value> = rows
        .iter()
        .filter(|r| r["transport_frame"]["digest"] == "mismatch")
        .collect();
    assert!(!bad.is_empty(), "the damaged digest is reported");
    // dskit logs a mismatch and delivers the packet: so does the decoder.
    for r in &bad {
        assert!(r.get("error").is_none(), "{r}");
        assert_eq!(r["transport_frame"]["kind"], "dskit_packet");
    }
    let frames: std::collections::BTreeSet<u64> =
        bad.iter().map(|r| r["frame"].as_u64().unwrap()).collect();
    assert_eq!(
        frames.len(),
        1,
        "one packet connection was damaged: {frames:?}"
    );
    assert!(rows.iter().all(|r| r.get("error").is_none()));
}

#[test]
fn app_raw_leaves_payloads_as_hex() {
    let out = decode(
        &capture("dskit_ring.pcap"),
        &["--format", "json", "--app", "raw"],
    );
    let rows = json_rows(&out);
    assert!(rows.iter().all(|r| r.get("app").is_none()));
    let users = rows.iter().filter(|r| r["type"] == "user").count();
    assert!(users > 0);
    assert!(rows
        .iter()
        .filter(|r| r["type"] == "user")
        .all(|r| r["payload"].is_string()));
    // The transport is still read: it is not a payload.
    assert!(rows.iter().any(|r| r.get("transport_frame").is_some()));
}

#[test]
fn a_forced_decoder_that_does_not_fit_keeps_every_row() {
    let serf = capture("serf.pcap");
    let sc: Value = serde_json::from_slice(&std::fs::read(capture("serf.json")).unwrap()).unwrap();
    let key = sc["keys"][0].as_str().unwrap();
    let plain = json_rows(&decode(&serf, &["--format", "json", "--key", key]));
    let forced = json_rows(&decode(
        &serf,
        &["--format", "json", "--key", key, "--app", "dskit"],
    ));
    assert_eq!(plain.len(), forced.len(), "the same rows");
    let users: Vec<&Value> = forced.iter().filter(|r| r["type"] == "user").collect();
    assert!(!users.is_empty());
    for r in &users {
        assert!(r.get("serf").is_none(), "serf's decoder was not asked: {r}");
        assert!(r["payload"].is_string(), "{r}");
        assert_eq!(r["app"]["app"], "dskit");
        let why = r["app"]["error"].as_str().expect("the reason");
        assert!(why.contains("not a KV store pair"), "{why}");
    }
    let text = String::from_utf8(decode(&serf, &["--key", key, "--app", "dskit"]).stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(" user "))
        .expect("a user row");
    assert!(
        line.contains("payload=") && line.contains("(dskit: not a KV store pair"),
        "{line}"
    );
}

#[test]
fn networkdb_capture_decodes_without_port_flags() {
    let out = decode(&capture("networkdb.pcap"), &["--format", "json"]);
    assert!(out.status.success(), "status {:?}", out.status);
    let rows = json_rows(&out);
    assert!(rows.iter().all(|r| r.get("error").is_none()));
    let users: Vec<&Value> = rows.iter().filter(|r| r["type"] == "user").collect();
    assert!(!users.is_empty());
    assert!(
        users
            .iter()
            .all(|r| r["app"]["app"] == "networkdb" && r["app"].get("error").is_none()),
        "every user message is NetworkDB's"
    );
    let text = String::from_utf8(decode(&capture("networkdb.pcap"), &[]).stdout).unwrap();
    for want in [
        "table_event CREATE net1/endpoint_table key=ep1 value=\"hello\" from=n1",
        "table_event UPDATE net1/endpoint_table key=ep1 value=\"world\" from=n1",
        "table_event DELETE net1/endpoint_table key=ep1",
        "bulk_sync from=n2 networks=[\"net1\"] unsolicited",
        "network_event LEAVE n3 network=net1",
        "node_event LEAVE n3",
    ] {
        assert!(text.contains(want), "no row with {want}");
    }
}

#[test]
fn alertmanager_capture_decodes_without_port_flags() {
    let sc: Value =
        serde_json::from_slice(&std::fs::read(capture("alertmanager.json")).unwrap()).unwrap();
    let id = sc["silence"]["id"].as_str().unwrap();
    let out = decode(&capture("alertmanager.pcap"), &["--format", "json"]);
    assert!(out.status.success(), "status {:?}", out.status);
    let rows = json_rows(&out);
    assert!(rows.iter().all(|r| r.get("error").is_none()));
    assert!(rows
        .iter()
        .filter(|r| r["type"] == "user")
        .all(|r| r["app"]["app"] == "alertmanager" && r["app"]["type"] == "part"));
    let text = String::from_utf8(decode(&capture("alertmanager.pcap"), &[]).stdout).unwrap();
    let silence = format!("key=sil silence {id} {{alertname=\"Muted\"}} starts=");
    assert!(text.contains(&silence), "the silence the harness made");
    assert!(text.contains("by=\"harness\" comment=\"quiet while testing\""));
    assert!(
        text.contains("key=nfl nflog receiver=hook/webhook/0"),
        "the notification"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("push_pull") && l.contains("full_state") && l.contains(id)),
        "a push/pull carries the silence"
    );
}

/// `--hex` decodes payloads too: a NetworkDB user message taken from the capture (its type
/// byte, 8, and the payload), then forced through another decoder.
#[test]
fn hex_user_messages_get_their_payload_decoded() {
    let rows = json_rows(&decode(&capture("networkdb.pcap"), &["--format", "json"]));
    let payload = rows
        .iter()
        .find(|r| r["type"] == "user" && r["app"]["type"] == "network_event")
        .and_then(|r| r["payload"].as_str())
        .expect("a network event in a user message")
        .to_string();
    let hex = format!("08{payload}");
    let run = |args: &[&str]| {
        let out = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_memberlist"))
                .args(["decode", "--hex", &hex])
                .args(args),
            Duration::from_secs(30),
        )
        .expect("decode runs");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&[]).contains("user networkdb network_event JOIN"));
    let forced = run(&["--app", "dskit"]);
    assert!(
        forced.contains(&format!(
            "user payload={payload} (dskit: not a KV store pair"
        )),
        "{forced}"
    );
    assert_eq!(
        run(&["--app", "raw"]).trim(),
        format!("[] user payload={payload}")
    );
}
