//! Two real Prometheus Alertmanager peers (v0.35.0, scripts/build-alertmanager) clustered on
//! loopback, recorded with tcpdump and decoded with no port flags: the silence the harness
//! created through the API gossips as a `sil` part with its ID, matcher, author and comment,
//! the notification of the alert it posted as an `nfl` entry for its receiver with one
//! firing alert, and the push/pulls carry both states. And our `memberlist agent --app
//! alertmanager` joins two peers as a watcher: it prints the silence as their API reports
//! it, again when it is expired, and the notification-log entry, the peers list it while it runs and drop it when it
//! leaves.
//!
//! Alertmanager takes about two minutes to build cold, so `.ci/run` does not build it;
//! `.ci/apps` does and runs this ignored test.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use support::alertmanager::{Peer, Webhook};
use support::decode::rows_without_errors;
use support::process::{free_port, run_bounded, wait_bounded, LineLog};
use support::tcpdump::Recording;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(60);

fn rfc3339(offset: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", now + offset),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Every `part` of a row's Alertmanager payload (a broadcast's one, a push/pull's all).
fn parts(app: &Value) -> Vec<&Value> {
    match app["type"].as_str() {
        Some("part") => vec![&app["fields"]],
        _ => app["fields"]["Parts"]
            .as_array()
            .into_iter()
            .flatten()
            .collect(),
    }
}

#[test]
#[ignore = "needs interop/bin/alertmanager (scripts/build-alertmanager); run by .ci/apps"]
fn alertmanager_capture_decodes_without_port_flags() {
    let dir = tempfile::tempdir().unwrap();
    let addr = || SocketAddr::new(LOOPBACK, free_port(LOOPBACK));
    let (c1, c2) = (addr(), addr());
    let filter = format!("port {} or port {}", c1.port(), c2.port());
    // ALERTMANAGER_CAPTURE_OUT=DIR keeps the capture as DIR/alertmanager.pcap, with what
    // happened in DIR/alertmanager.json (testdata/captures has one).
    let out_dir = std::env::var_os("ALERTMANAGER_CAPTURE_OUT").map(std::path::PathBuf::from);
    let pcap_path = out_dir
        .clone()
        .unwrap_or_else(|| dir.path().to_path_buf())
        .join("alertmanager.pcap");
    let capture = Recording::start(&pcap_path, &filter);
    let webhook = Webhook::start();
    let (a, b) = Peer::spawn_pair(dir.path(), (c1, c2), webhook.addr, WAIT);

    let silence = json!({
        "matchers": [{"name": "alertname", "value": "Muted", "isRegex": false, "isEqual": true}],
        "startsAt": rfc3339(0),
        "endsAt": rfc3339(3600),
        "createdBy": "harness",
        "comment": "quiet while testing",
    });
    let answer: Value = serde_json::from_str(
        &a.post("/api/v2/silences", &silence)
            .expect("create a silence"),
    )
    .unwrap();
    let id = answer["silenceID"]
        .as_str()
        .expect("silence ID")
        .to_string();
    b.wait_get(
        "/api/v2/silences",
        |v| {
            v.as_array()
                .is_some_and(|s| s.iter().any(|s| s["id"] == id.as_str()))
        },
        WAIT,
    );
    a.post(
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Firing", "job": "harness"}}]),
    )
    .expect("post an alert");
    let deadline = std::time::Instant::now() + WAIT;
    while webhook.hits.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook was never called"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The notification log entry gossips, and a push/pull or two go by.
    std::thread::sleep(Duration::from_secs(5));
    let pcap = capture.stop();
    drop((a, b));
    if let Some(dir) = out_dir {
        let scenario = json!({
            "name": "alertmanager",
            "summary": "two Prometheus Alertmanager v0.35.0 peers cluster on loopback; a silence \
                (alertname=Muted, by harness) is created on the first through the API, an alert \
                (alertname=Firing) is posted and notified to a webhook receiver (hook)",
            "capture": {"file": "alertmanager.pcap", "interface": "lo", "filter": filter},
            "ports": [c1.port(), c2.port()],
            "keys": [],
            "silence": {"id": id, "request": silence},
        });
        std::fs::write(
            dir.join("alertmanager.json"),
            serde_json::to_vec_pretty(&scenario).unwrap(),
        )
        .expect("write the scenario");
    }

    let (rows, stderr) = rows_without_errors(&pcap);
    assert!(stderr.contains(&c1.port().to_string()), "{stderr}");

    let (mut broadcasts, mut states) = (Vec::new(), Vec::new());
    for r in &rows {
        let Some(app) = r.get("app") else {
            assert!(
                r["type"] != "user",
                "every user message is Alertmanager's: {r}"
            );
            continue;
        };
        assert_eq!(app["app"], "alertmanager", "{r}");
        assert!(app.get("error").is_none(), "{r}");
        match app["type"].as_str() {
            Some("part") => broadcasts.extend(parts(app)),
            Some("full_state") => states.extend(parts(app)),
            other => panic!("unexpected {other:?}: {r}"),
        }
    }
    let silences: Vec<&Value> = broadcasts
        .iter()
        .chain(&states)
        .filter(|p| p["Key"] == "sil")
        .flat_map(|p| p["Silences"].as_array().into_iter().flatten())
        .collect();
    let ours: Vec<&&Value> = silences.iter().filter(|s| s["Id"] == id.as_str()).collect();
    assert!(!ours.is_empty(), "the silence gossips: {silences:?}");
    for s in &ours {
        assert_eq!(s["CreatedBy"], "harness");
        assert_eq!(s["Comment"], "quiet while testing");
        assert_eq!(
            s["Matchers"],
            json!([{"Name": "alertname", "Type": "=", "Pattern": "Muted"}])
        );
        let start: f64 = s["StartsAt"].as_str().unwrap().parse().unwrap();
        let end: f64 = s["EndsAt"].as_str().unwrap().parse().unwrap();
        assert!((end - start - 3600.0).abs() < 5.0, "an hour long: {s}");
    }
    assert!(
        broadcasts.iter().any(|p| p["Key"] == "sil"),
        "the silence is broadcast as it is made"
    );
    let entries: Vec<&Value> = broadcasts
        .iter()
        .chain(&states)
        .filter(|p| p["Key"] == "nfl")
        .flat_map(|p| p["Entries"].as_array().into_iter().flatten())
        .collect();
    assert!(!entries.is_empty(), "a notification log entry gossips");
    for e in &entries {
        assert_eq!(e["Receiver"]["GroupName"], "hook");
        assert_eq!(e["Receiver"]["Integration"], "webhook");
        assert_eq!(e["FiringAlerts"].as_array().map(Vec::len), Some(1), "{e}");
        assert_eq!(e["Resolved"], false);
    }
    assert!(!states.is_empty(), "push/pull full states decode");
}

/// Unix seconds of an RFC 3339 time, read by `date`.
fn unix(rfc3339: &str) -> f64 {
    let out = Command::new("date")
        .args(["-u", "-d", rfc3339, "+%s.%N"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("date read {rfc3339:?}: {e}"))
}

/// The names a peer's /api/v2/status lists as cluster peers.
fn peer_names(p: &Peer) -> Vec<String> {
    p.get("/api/v2/status").map_or_else(
        |_| Vec::new(),
        |v| {
            v["cluster"]["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        },
    )
}

#[test]
#[ignore = "needs interop/bin/alertmanager (scripts/build-alertmanager); run by .ci/apps"]
fn watcher_prints_what_the_peers_report_and_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let addr = || SocketAddr::new(LOOPBACK, free_port(LOOPBACK));
    let (c1, c2, ours, rpc) = (addr(), addr(), addr(), addr());
    let filter = format!(
        "port {} or port {} or port {}",
        c1.port(),
        c2.port(),
        ours.port()
    );
    let capture = Recording::start(&dir.path().join("watch.pcap"), &filter);
    let webhook = Webhook::start();
    let (a, b) = Peer::spawn_pair(dir.path(), (c1, c2), webhook.addr, WAIT);

    let mut watcher = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(["agent", "--app", "alertmanager", "--format", "json"])
        .args(["--name", "rust-watcher"])
        .arg(format!("--bind={ours}"))
        .arg(format!("--rpc-addr={rpc}"))
        .arg(format!("--join={c1}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start memberlist agent --app alertmanager");
    let lines = LineLog::spawn(watcher.stdout.take().unwrap(), |l| {
        serde_json::from_str(&l).unwrap_or(Value::Null)
    });
    let stderr = LineLog::spawn(watcher.stderr.take().unwrap(), |l| l);
    let _kill = KillOnDrop(watcher.id());
    lines
        .wait_for(|e| e["event"] == "joined", WAIT)
        .unwrap_or_else(|e| panic!("our watcher joined: {e}; {:?}", stderr.snapshot()));
    for p in [&a, &b] {
        let deadline = std::time::Instant::now() + WAIT;
        while !peer_names(p).iter().any(|n| n == "rust-watcher") {
            assert!(
                std::time::Instant::now() < deadline,
                "{} lists the watcher: {:?}",
                p.http,
                peer_names(p)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let silence = json!({
        "matchers": [
            {"name": "alertname", "value": "Muted", "isRegex": false, "isEqual": true},
            {"name": "instance", "value": "db-.*", "isRegex": true, "isEqual": false},
        ],
        "startsAt": rfc3339(0),
        "endsAt": rfc3339(3600),
        "createdBy": "harness",
        "comment": "watched from Rust",
    });
    let answer: Value = serde_json::from_str(
        &b.post("/api/v2/silences", &silence)
            .expect("create a silence"),
    )
    .unwrap();
    let id = answer["silenceID"].as_str().expect("silence ID").to_owned();
    let printed = lines
        .wait_for(|e| e["event"] == "silence" && e["id"] == id.as_str(), WAIT)
        .expect("the watcher prints the silence");
    // What the real peers report for it, through their API.
    let reported = a.wait_get(
        "/api/v2/silences",
        |v| {
            v.as_array()
                .is_some_and(|s| s.iter().any(|s| s["id"] == id.as_str()))
        },
        WAIT,
    );
    let reported = reported
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(printed["created_by"], reported["createdBy"], "{printed}");
    assert_eq!(printed["comment"], reported["comment"], "{printed}");
    let ops = |m: &Value| match (m["isRegex"].as_bool(), m["isEqual"].as_bool()) {
        (Some(false), Some(true)) => "=",
        (Some(true), Some(true)) => "=~",
        (Some(false), Some(false)) => "!=",
        _ => "!~",
    };
    let want: Vec<Value> = reported["matchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"Name": m["name"], "Type": ops(m), "Pattern": m["value"]}))
        .collect();
    assert_eq!(printed["matchers"], json!(want), "{printed} vs {reported}");
    assert_eq!(printed["matchers"][1]["Type"], "!~");
    for (ours, theirs) in [("starts_at", "startsAt"), ("ends_at", "endsAt")] {
        let o: f64 = printed[ours].as_str().unwrap().parse().unwrap();
        let t = unix(reported[theirs].as_str().unwrap());
        assert!((o - t).abs() < 0.001, "{ours} {o} vs {theirs} {t}");
    }

    // Expired through the other peer's API: the change replicates and is printed again.
    a.delete(&format!("/api/v2/silence/{id}"))
        .expect("expire the silence");
    let expired = lines
        .wait_for(
            |e| {
                e["event"] == "silence"
                    && e["id"] == id.as_str()
                    && e["ends_at"] != printed["ends_at"]
            },
            WAIT,
        )
        .expect("the watcher prints the expired silence");
    let num = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        num(&expired["ends_at"]) < num(&printed["ends_at"]),
        "{expired}"
    );
    assert!(
        num(&expired["updated_at"]) > num(&printed["updated_at"]),
        "{expired}"
    );
    assert_eq!(expired["comment"], printed["comment"]);

    a.post(
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Firing", "job": "harness"}}]),
    )
    .expect("post an alert");
    let entry = lines
        .wait_for(|e| e["event"] == "notification", WAIT)
        .expect("the watcher prints the notification-log entry");
    assert_eq!(entry["receiver"], "hook/webhook/0", "{entry}");
    assert_eq!(entry["firing"], 1, "{entry}");
    assert_eq!(entry["resolved"], 0, "{entry}");
    // The route's key (the root route matches everything: `{}`) and the group's labels
    // (no group_by: `{}`).
    assert_eq!(entry["group_key"], "{}:{}", "{entry}");
    assert!(webhook.hits.load(Ordering::SeqCst) >= 1);

    // A clean leave: the agent exits 0 and both peers drop it from their members.
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(watcher.id() as i32, libc::SIGTERM) };
    let status = wait_bounded(&mut watcher, WAIT).expect("the watcher exits");
    assert!(status.success(), "{status:?}: {:?}", stderr.snapshot());
    assert!(lines.snapshot().iter().any(|e| e["event"] == "leaving"));
    for p in [&a, &b] {
        let deadline = std::time::Instant::now() + WAIT;
        while peer_names(p).iter().any(|n| n == "rust-watcher") {
            assert!(
                std::time::Instant::now() < deadline,
                "{} still lists the watcher after it left",
                p.http
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(peer_names(p).len(), 2, "{:?}", peer_names(p));
    }
    let names: Vec<String> = [&a, &b]
        .iter()
        .map(|p| {
            p.get("/api/v2/status").unwrap()["cluster"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let pcap = capture.stop();
    explain_tells_how_the_silence_spread(&pcap, &id, &names[1], &[&names[0], "rust-watcher"]);
    let log = std::fs::read_to_string(dir.path().join("a/alertmanager.log")).unwrap();
    assert!(
        !log.contains("unknown state key") && !log.contains("merge remote state"),
        "the watcher put nothing in their state: {log}"
    );
}

/// `memberlist explain` on the capture: silence `id` was first sent by `origin` (where
/// the harness created it) and reached every one of `others`, nobody left out.
fn explain_tells_how_the_silence_spread(
    pcap: &std::path::Path,
    id: &str,
    origin: &str,
    others: &[&str],
) {
    let run = |format: &str| {
        let out = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_memberlist"))
                .arg("explain")
                .arg(pcap)
                .args(["--format", format]),
            Duration::from_secs(60),
        )
        .expect("explain runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let report: Value = serde_json::from_str(&run("json")).expect("one JSON document");
    let s = report["silences"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("explain follows silence {id}: {report}"));
    assert_eq!(s["first_from"], origin, "{s}");
    assert_eq!(s["created_by"], "harness", "{s}");
    assert_eq!(
        s["matchers"], "{alertname=\"Muted\",instance!~\"db-.*\"}",
        "{s}"
    );
    for m in others {
        let r = s["reached"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["member"] == *m)
            .unwrap_or_else(|| panic!("silence reached {m}: {s}"));
        assert!(r["after_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{r}");
        assert!(r["via"] == "gossip" || r["via"] == "push-pull", "{r}");
    }
    assert_eq!(s["not_reached"], json!([]), "{s}");
    let text = run("text");
    println!("{text}");
    assert!(text.contains(&format!("silence {id} ")), "{text}");
    assert!(text.contains("reached rust-watcher at +"), "{text}");
    assert!(
        text.contains(&format!(
            "  reached every other member ({}), the last ",
            others.len()
        )),
        "{text}"
    );
    assert!(!text.contains("did not reach"), "{text}");
}

/// Kills a child by pid if the test panics before it is stopped properly.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
}

/// Needs no Alertmanager: flags a watcher cannot use are refused before it starts,
/// naming the flag to drop.
#[test]
fn watcher_refuses_flags_it_cannot_honour() {
    for (extra, hint) in [
        (&["--serf"][..], "drop --serf"),
        (&["--meta", "x"][..], "drop --meta"),
    ] {
        let out = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_memberlist"))
                .args(["agent", "--app", "alertmanager", "--name", "w"])
                .args(extra),
            Duration::from_secs(30),
        )
        .expect("agent ran");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(hint), "{extra:?}: {stderr}");
    }
}

/// Needs no Alertmanager: a join that reaches nothing names the cluster port to use.
#[test]
fn watcher_join_failure_names_the_cluster_port() {
    let addr = || SocketAddr::new(LOOPBACK, free_port(LOOPBACK));
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["agent", "--app", "alertmanager", "--name", "w"])
            .arg(format!("--bind={}", addr()))
            .arg(format!("--rpc-addr={}", addr()))
            .arg(format!("--join={}", addr())),
        Duration::from_secs(30),
    )
    .expect("agent ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("joined no member"), "{stderr}");
    assert!(
        stderr.contains("--cluster.listen-address, port 9094 by default"),
        "{stderr}"
    );
}
