//! Golden decodings of real loopback captures in `testdata/captures`, recorded from
//! live memberlist v0.7.0 nodes and Debian serf agents by `scripts/record-captures`.
//! For each capture, `memberlist decode --format json` (with the scenario's ports,
//! keys and label) must print exactly `NAME.expected.jsonl`, and its rows must show
//! what `NAME.json` says happened. `UPDATE_GOLDEN=1 cargo test --test golden`
//! rewrites the expected files; the facts are checked either way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Scenario {
    name: String,
    ports: Vec<u16>,
    keys: Vec<String>,
    #[serde(default)]
    label: Option<String>,
    nodes: Vec<Node>,
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Node {
    name: String,
    #[serde(rename = "impl")]
    implementation: String,
    addr: SocketAddr,
    args: Vec<String>,
}

#[derive(Deserialize)]
struct Event {
    time: String,
    node: String,
    action: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    transport: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures")
}

fn load(name: &str) -> Scenario {
    let path = dir().join(format!("{name}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Microseconds since the epoch from the `secs.micros` form rows and events share.
fn micros(t: &str) -> u64 {
    let (s, us) = t.split_once('.').expect("secs.micros");
    s.parse::<u64>().unwrap() * 1_000_000 + us.parse::<u64>().unwrap()
}

fn row_time(row: &Value) -> u64 {
    micros(row["time"].as_str().expect("row time"))
}

/// Runs the decoder on the scenario's capture with the given keys and its ports:
/// stdout and exit code.
fn decode(sc: &Scenario, keys: &[String]) -> (String, i32) {
    let (out, code, err) = decode_with(sc, keys, true);
    assert!(err.is_empty(), "{}: decode stderr: {err}", sc.name);
    (out, code)
}

/// Runs the decoder with the scenario's `--port`s or without any (the gossip is then
/// found by its bytes): stdout, exit code and stderr.
fn decode_with(sc: &Scenario, keys: &[String], ports: bool) -> (String, i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memberlist"));
    cmd.arg("decode")
        .arg(dir().join(format!("{}.pcap", sc.name)))
        .args(["--format", "json"]);
    for p in sc.ports.iter().filter(|_| ports) {
        cmd.arg("--port").arg(p.to_string());
    }
    for k in keys {
        cmd.arg("--key").arg(k);
    }
    if let Some(l) = &sc.label {
        cmd.arg("--label").arg(l);
    }
    let out = cmd.output().expect("run memberlist decode");
    (
        String::from_utf8(out.stdout).expect("UTF-8 output"),
        out.status.code().expect("exit code"),
        String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    )
}

fn parse_rows(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("JSON row"))
        .collect()
}

/// Decodes with every key, compares with (or, under UPDATE_GOLDEN, rewrites) the
/// expected file, and checks the facts every scenario shares.
fn golden(name: &str) -> (Scenario, Vec<Value>) {
    let sc = load(name);
    let (text, code) = decode(&sc, &sc.keys);
    let expected = dir().join(format!("{name}.expected.jsonl"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected, &text).unwrap();
    } else {
        let want = std::fs::read_to_string(&expected).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (UPDATE_GOLDEN=1 cargo test --test golden)",
                expected.display()
            )
        });
        if let Some((i, (got, want))) = text
            .lines()
            .zip(want.lines())
            .enumerate()
            .find(|(_, (g, w))| g != w)
        {
            panic!("{name}: row {i} differs\n got: {got}\nwant: {want}");
        }
        assert_eq!(
            text.lines().count(),
            want.lines().count(),
            "{name}: row count"
        );
        assert_eq!(text, want, "{name}: output differs from the golden file");
    }
    let rows = parse_rows(&text);
    assert!(!rows.is_empty(), "{name}: no rows");
    let errors: Vec<&Value> = rows.iter().filter(|r| r.get("error").is_some()).collect();
    assert!(
        errors.is_empty(),
        "{name}: error rows with all keys: {errors:#?}"
    );
    assert_eq!(code, 0, "{name}: exit code with all keys");
    every_node_seen_alive(&sc, &rows);
    user_messages_on_the_wire(&sc, &rows);
    leaves_and_kills(&sc, &rows);
    layers_match_settings(&sc, &rows);
    (sc, rows)
}

fn node<'a>(sc: &'a Scenario, name: &str) -> &'a Node {
    sc.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("{}: no node {name}", sc.name))
}

fn src_is(row: &Value, addr: SocketAddr) -> bool {
    row["src"] == addr.to_string()
}

/// Each node appears alive with its real address, in an alive message or a push/pull.
fn every_node_seen_alive(sc: &Scenario, rows: &[Value]) {
    for n in &sc.nodes {
        let ip = n.addr.ip().to_string();
        let port = n.addr.port();
        let in_alive = rows.iter().any(|r| {
            r["type"] == "alive"
                && r["fields"]["Node"] == n.name
                && r["fields"]["Addr"] == ip
                && r["fields"]["Port"] == port
        });
        let in_push_pull = rows.iter().any(|r| {
            r["nodes"].as_array().is_some_and(|ns| {
                ns.iter().any(|s| {
                    s["Name"] == n.name && s["Addr"] == ip && s["Port"] == port && s["State"] == 0
                })
            })
        });
        assert!(
            in_alive && in_push_pull,
            "{}: {} at {} alive in an alive message: {in_alive}, in a push/pull: {in_push_pull}",
            sc.name,
            n.name,
            n.addr
        );
    }
}

fn hex_of(text: &str) -> String {
    hex::encode(text.as_bytes())
}

fn user_rows<'a>(rows: &'a [Value], needle: &str) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| r["type"] == "user")
        .filter(|r| r["payload"].as_str().is_some_and(|p| p.contains(needle)))
        .collect()
}

/// Sent and broadcast payloads cross the wire after they were sent, from the sender
/// to the target (for a stream, to the target's gossip port), on the right transport.
fn user_messages_on_the_wire(sc: &Scenario, rows: &[Value]) {
    for e in &sc.events {
        let at = micros(&e.time);
        match e.action.as_str() {
            "send" => {
                let payload = e.payload.as_deref().expect("send payload");
                let to = node(sc, e.to.as_deref().expect("send target")).addr;
                let from = node(sc, &e.node).addr;
                let transport = e.transport.as_deref().expect("send transport");
                let hits = user_rows(rows, &hex_of(payload));
                assert!(
                    hits.iter().any(|r| r["dst"] == to.to_string()
                        && r["transport"] == transport
                        && row_time(r) >= at
                        && (transport == "tcp" || src_is(r, from))),
                    "{}: {payload:?} from {} to {to} over {transport} not found: {hits:#?}",
                    sc.name,
                    e.node
                );
            }
            "broadcast" => {
                let payload = e.payload.as_deref().expect("broadcast payload");
                let from = node(sc, &e.node).addr;
                let hits = user_rows(rows, &hex_of(payload));
                assert!(
                    hits.iter().any(|r| src_is(r, from) && row_time(r) >= at),
                    "{}: broadcast {payload:?} from {} not gossiped: {hits:#?}",
                    sc.name,
                    e.node
                );
            }
            "serf-event" | "serf-query" => {
                let name = e.name.as_deref().expect("serf name");
                let payload = e.payload.as_deref().expect("serf payload");
                let hits = user_rows(rows, &hex_of(name));
                assert!(
                    hits.iter().any(|r| row_time(r) >= at
                        && r["payload"]
                            .as_str()
                            .is_some_and(|p| p.contains(&hex_of(payload)))),
                    "{}: {} {name} {payload} not in any user message",
                    sc.name,
                    e.action
                );
            }
            _ => {}
        }
    }
}

fn dead_rows<'a>(rows: &'a [Value], node: &str, after: u64) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| r["type"] == "dead" && r["fields"]["Node"] == node && row_time(r) >= after)
        .collect()
}

/// A leave is a dead message about the node from itself, sent by it; a kill is
/// silence from the node, then suspect and dead messages about it from others.
fn leaves_and_kills(sc: &Scenario, rows: &[Value]) {
    for e in &sc.events {
        let at = micros(&e.time);
        let addr = node(sc, &e.node).addr;
        match e.action.as_str() {
            "leave" => {
                let dead = dead_rows(rows, &e.node, at);
                assert!(
                    dead.iter()
                        .any(|r| r["fields"]["From"] == e.node && src_is(r, addr)),
                    "{}: no leave (dead From={1}) sent by {1}: {dead:#?}",
                    sc.name,
                    e.node
                );
            }
            "kill" => {
                assert!(
                    !rows.iter().any(|r| src_is(r, addr) && row_time(r) >= at),
                    "{}: {} sent after it was killed",
                    sc.name,
                    e.node
                );
                assert!(
                    rows.iter().any(|r| r["type"] == "suspect"
                        && r["fields"]["Node"] == e.node
                        && r["fields"]["From"] != e.node
                        && row_time(r) >= at),
                    "{}: nobody suspected {}",
                    sc.name,
                    e.node
                );
                let dead = dead_rows(rows, &e.node, at);
                assert!(
                    !dead.is_empty() && dead.iter().all(|r| r["fields"]["From"] != e.node),
                    "{}: {} not declared dead by others: {dead:#?}",
                    sc.name,
                    e.node
                );
            }
            _ => {}
        }
    }
}

/// The label is on every packet and on every stream a dialer opens (the acceptor's
/// reply carries none); with keys every message was decrypted; compression appears
/// exactly where the nodes' settings allow it.
fn layers_match_settings(sc: &Scenario, rows: &[Value]) {
    let gossip = |r: &Value| sc.nodes.iter().any(|n| src_is(r, n.addr));
    if let Some(label) = &sc.label {
        for r in rows {
            let acceptor_reply = r["transport"] == "tcp" && gossip(r);
            if !acceptor_reply {
                assert_eq!(r["label"], label.as_str(), "{}: {r}", sc.name);
            }
        }
    }
    if !sc.keys.is_empty() {
        for r in rows {
            assert!(r["key"].is_u64(), "{}: not decrypted: {r}", sc.name);
        }
    }
    let compressed = |r: &Value| {
        r["layers"]
            .as_array()
            .is_some_and(|ls| ls.iter().any(|l| l == "compress"))
    };
    let off = |n: &Node| n.args.iter().any(|a| a == "-compress=false");
    for n in sc.nodes.iter().filter(|n| off(n)) {
        assert!(
            !rows.iter().any(|r| src_is(r, n.addr) && compressed(r)),
            "{}: {} has compression off but sent a compressed message",
            sc.name,
            n.name
        );
    }
    assert_eq!(
        rows.iter().any(compressed),
        sc.nodes.iter().any(|n| !off(n)),
        "{}: compression seen iff some node has it on",
        sc.name
    );
}

fn first_time(sc: &Scenario, action: &str) -> u64 {
    sc.events
        .iter()
        .filter(|e| e.action == action)
        .map(|e| micros(&e.time))
        .min()
        .unwrap_or_else(|| panic!("{}: no {action} event", sc.name))
}

fn last_time(sc: &Scenario, action: &str) -> u64 {
    sc.events
        .iter()
        .filter(|e| e.action == action)
        .map(|e| micros(&e.time))
        .max()
        .unwrap_or_else(|| panic!("{}: no {action} event", sc.name))
}

#[test]
fn plain() {
    let (sc, rows) = golden("plain");
    assert_eq!(sc.nodes.len(), 3);
    assert!(sc.events.iter().any(|e| e.action == "leave"));
    assert!(rows
        .iter()
        .all(|r| r.get("key").is_none() && r.get("label").is_none()));
}

#[test]
fn compression() {
    let (sc, rows) = golden("compression");
    let zipped = node(&sc, "zipped").addr;
    // The compressing node answers push/pull compressed (streams are always compressed).
    assert!(rows.iter().any(|r| r["type"] == "push_pull"
        && src_is(r, zipped)
        && r["layers"] == serde_json::json!(["compress"])));
}

#[test]
fn key_rotation() {
    let (sc, rows) = golden("key_rotation");
    assert_eq!(sc.keys.len(), 2, "K1 and K2");
    let switch = first_time(&sc, "use-key");
    let switched = last_time(&sc, "use-key");
    assert!(
        rows.iter()
            .filter(|r| row_time(r) < switch)
            .all(|r| r["key"] == 0),
        "before the switch everything is sealed with K1"
    );
    assert!(
        rows.iter().any(|r| row_time(r) > switched && r["key"] == 1),
        "after the switch K2 is used"
    );

    // With K1 only: what was sealed after the switch cannot be opened, nothing before.
    let (text, code) = decode(&sc, &sc.keys[..1]);
    assert_eq!(code, 1, "error rows give exit status 1");
    let k1_rows = parse_rows(&text);
    let errors: Vec<&Value> = k1_rows
        .iter()
        .filter(|r| r.get("error").is_some())
        .collect();
    assert!(
        !errors.is_empty(),
        "K2 traffic must not decode with K1 alone"
    );
    for e in &errors {
        assert!(row_time(e) >= switch, "error before the switch: {e}");
    }
    assert!(k1_rows
        .iter()
        .any(|r| r.get("error").is_none() && row_time(r) < switch));
}

#[test]
fn label() {
    let (sc, rows) = golden("label");
    assert_eq!(sc.label.as_deref(), Some("prod"));
    assert!(rows
        .iter()
        .any(|r| r["transport"] == "tcp" && r["label"] == "prod"));
}

#[test]
fn ipv6() {
    let (sc, rows) = golden("ipv6");
    assert!(sc.nodes.iter().all(|n| n.addr.is_ipv6()));
    assert!(rows
        .iter()
        .all(|r| r["src"].as_str().unwrap().starts_with("[::1]:")));
}

#[test]
fn killed_node() {
    let (sc, _) = golden("killed_node");
    assert!(sc
        .events
        .iter()
        .any(|e| e.action == "kill" && e.node == "c"));
}

#[test]
fn serf() {
    let (sc, rows) = golden("serf");
    assert!(sc.nodes.iter().all(|n| n.implementation == "serf"));
    assert_eq!(sc.keys.len(), 1);
    assert!(sc.events.iter().any(|e| e.action == "serf-event"));
    assert!(sc.events.iter().any(|e| e.action == "serf-query"));
    assert!(rows.iter().all(|r| r["key"] == 0));
}

/// The captures were recorded on random ports: without `--port` the decoder finds the
/// gossip by its bytes, prints exactly the golden rows, and names the ports to pass.
#[test]
fn captures_decode_without_port_flags() {
    for name in [
        "plain",
        "compression",
        "key_rotation",
        "label",
        "ipv6",
        "killed_node",
        "serf",
    ] {
        let sc = load(name);
        let (text, code, err) = decode_with(&sc, &sc.keys, false);
        let want = std::fs::read_to_string(dir().join(format!("{name}.expected.jsonl"))).unwrap();
        assert_eq!(code, 0, "{name}: {err}");
        assert!(text == want, "{name}: rows differ from the golden decoding");
        let mut ports = sc.ports.clone();
        ports.sort_unstable();
        let flags: Vec<String> = ports.iter().map(|p| format!("--port {p}")).collect();
        let hint = format!("(pass {} to decode only those)", flags.join(" "));
        assert!(
            err.contains("nothing on the default ports") && err.contains(&hint),
            "{name}: {err} (wanted {hint})"
        );
    }
}
