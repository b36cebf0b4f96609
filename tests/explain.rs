//! `memberlist explain` on the bundled captures (what `NAME.json` says happened) and on
//! captures cut from them as if recorded on two hosts with different clocks.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use memberlist_interop::inspect::net::{self, Segment};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use serde_json::Value;
use support::explain::{explain, explain_json, member};

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures")
}

fn scenario(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(captures().join(format!("{name}.json"))).unwrap())
        .unwrap()
}

fn micros(t: &str) -> u64 {
    let (s, us) = t.split_once('.').unwrap();
    s.parse::<u64>().unwrap() * 1_000_000 + us.parse::<u64>().unwrap()
}

/// The frames of a capture for which `keep(src port, dst port)` holds, their times
/// moved by `shift` microseconds: what a capture on one host would hold.
fn cut(name: &str, keep: impl Fn(u16, u16) -> bool, shift: i64, out: &Path) {
    let file = std::fs::File::open(captures().join(format!("{name}.pcap"))).unwrap();
    let mut reader = PcapReader::new(file).unwrap();
    let header = reader.header();
    let mut writer = PcapWriter::with_header(std::fs::File::create(out).unwrap(), header).unwrap();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        let ports = match net::parse(header.datalink, &p.data) {
            Ok(Segment::Udp { src, dst, .. } | Segment::Tcp { src, dst, .. }) => {
                Some((src.port(), dst.port()))
            }
            _ => None,
        };
        if ports.is_some_and(|(s, d)| keep(s, d)) {
            let t = Duration::from_micros((p.timestamp.as_micros() as i64 + shift) as u64);
            writer
                .write_packet(&PcapPacket::new(t, p.orig_len, &p.data))
                .unwrap();
        }
    }
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("explain-{}-{name}", std::process::id()))
}

/// The SIGKILLed node of `killed_node`: suspected by the others, declared dead, and
/// the verdict is that it stopped answering everyone, with the helpers' nacks.
fn check_killed(report: &Value) {
    let sc = scenario("killed_node");
    let kill = sc["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "kill")
        .unwrap();
    let victim = kill["node"].as_str().unwrap();
    let killed_at = micros(kill["time"].as_str().unwrap());
    let others: Vec<&str> = sc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .filter(|n| *n != victim)
        .collect();
    let m = member(report, victim);
    assert_eq!(m["state"], "dead");
    assert!(micros(m["last_packet"].as_str().unwrap()) <= killed_at);
    let s = &m["suspicions"][0];
    assert!(others.contains(&s["by"].as_str().unwrap()), "{s:#}");
    assert!(micros(s["at"].as_str().unwrap()) > killed_at);
    assert_eq!(s["outcome"]["outcome"], "dead");
    assert!(others.contains(&s["outcome"]["by"].as_str().unwrap()));
    assert_eq!(s["confirmations"].as_array().unwrap().len(), 1);
    let chain = &s["chain"];
    assert_eq!(chain["verdict"]["kind"], "stopped_answering", "{chain:#}");
    assert_eq!(chain["probers"], serde_json::json!(others));
    let nacks = chain["probes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["helpers"].as_array().unwrap())
        .filter(|h| h["nack"].is_string())
        .count();
    assert!(nacks >= 2, "{chain:#}");
    let timeout = report["probe_timeout_ms"].as_f64().unwrap();
    assert!(
        (150.0..300.0).contains(&timeout),
        "local profile: 200 ms, got {timeout}"
    );
    for o in &others {
        let m = member(report, o);
        assert_eq!(m["state"], "alive");
        assert!(m["suspicions"].as_array().unwrap().is_empty());
        assert!(m["rtt"]["median_ms"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn killed_node_is_explained() {
    let path = captures().join("killed_node.pcap");
    let (report, code, err) = explain_json(&[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    check_killed(&report);
    let (text, code, _) = explain(&[path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        text.contains("verdict: the target stopped answering everyone: nothing from c after"),
        "{text}"
    );
    assert!(text.contains("outcome: declared dead by"));
}

/// The same traffic as two hosts would have recorded it: one capture holds what
/// touched `a`, the other what touched `b` and `c`, its clock 2.5 s ahead. The merge
/// finds the offset from the packets both hold, drops their second sighting, and
/// tells the same story.
#[test]
fn two_hosts_with_different_clocks_merge_into_one_timeline() {
    let sc = scenario("killed_node");
    let port = |name: &str| -> u16 {
        let n = sc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap();
        n["addr"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (pa, pb, pc) = (port("a"), port("b"), port("c"));
    let (one, two) = (tmp("host1.pcap"), tmp("host2.pcap"));
    cut("killed_node", |s, d| s == pa || d == pa, 0, &one);
    cut(
        "killed_node",
        |s, d| [pb, pc].contains(&s) || [pb, pc].contains(&d),
        2_500_000,
        &two,
    );
    let (report, code, err) = explain_json(&[one.to_str().unwrap(), two.to_str().unwrap()]);
    let (single, _, _) = explain_json(&[captures().join("killed_node.pcap").to_str().unwrap()]);
    std::fs::remove_file(&one).ok();
    std::fs::remove_file(&two).ok();
    assert_eq!(code, 0, "{err}");
    let off = &report["captures"][1]["offset"];
    let micros = off["micros"].as_i64().unwrap();
    assert!((micros - 2_500_000).abs() < 1_000, "{off:#}");
    assert!(
        off["plus_minus_micros"].as_u64().unwrap() < 1_000,
        "{off:#}"
    );
    assert!(report["captures"][1]["duplicates"].as_u64().unwrap() > 10);
    assert_eq!(report["rows"], single["rows"], "every row once");
    check_killed(&report);
}

#[test]
fn captures_of_different_clusters_are_refused() {
    let a = captures().join("killed_node.pcap");
    let b = captures().join("plain.pcap");
    let (text, code, err) = explain(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("plain.pcap shares no packet with the other captures"),
        "{err}"
    );
    assert!(
        text.contains("member c"),
        "the report is still printed: {text}"
    );
}

#[test]
fn bad_captures_and_keys_say_what_to_do() {
    let junk = tmp("junk.pcap");
    std::fs::write(&junk, b"this is not a capture").unwrap();
    let good = captures().join("killed_node.pcap");
    let (text, code, err) = explain(&[good.to_str().unwrap(), junk.to_str().unwrap()]);
    std::fs::remove_file(&junk).ok();
    assert_eq!(code, 2);
    assert!(err.contains("junk.pcap"), "{err}");
    assert!(
        text.contains("member c"),
        "what was read is reported: {text}"
    );
    let (_, code, err) = explain(&["/nonexistent/x.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");

    // The encrypted serf capture without its key, and with another key.
    let serf = captures().join("serf.pcap");
    let serf = serf.to_str().unwrap();
    let (_, code, err) = explain(&[serf]);
    assert_eq!(code, 1);
    assert!(
        err.contains("pass the cluster's key with --key or --keyring-file"),
        "{err}"
    );
    let (_, code, err) = explain(&[serf, "--key", "AAAAAAAAAAAAAAAAAAAAAA=="]);
    assert_eq!(code, 1);
    assert!(err.contains("packets no key opened"), "{err}");
    let (_, code, err) = explain(&[serf, "--key", "nope"]);
    assert_eq!(code, 2, "{err}");
    // With the key, Serf's coordinates come with the acks.
    let key = scenario("serf")["keys"][0].as_str().unwrap().to_string();
    let (report, code, err) = explain_json(&[serf, "--key", &key]);
    assert_eq!(code, 0, "{err}");
    let with_coordinates = report["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["coordinate"]["Vec"].is_array())
        .count();
    assert!(with_coordinates > 0, "{report:#}");
}
