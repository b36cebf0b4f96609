//! Members of a grafana/dskit hash ring (`interop/dskitring`, built by
//! scripts/build-dskitring): dskit's memberlist KV over its TCP transport, with Grafana's
//! memberlist fork, as Loki, Mimir and Tempo run it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::process::{wait_bounded, LineLog};

const BINARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/bin/dskitring");

/// One running ring member.
pub struct RingMember {
    pub id: String,
    pub bind: SocketAddr,
    child: Child,
    /// Its JSON lines: `{"event":"ring","instances":{ID: STATE}}`,
    /// `{"event":"members","members":[NAME..]}` and `{"event":"stopped"}`.
    pub log: Arc<LineLog<Value>>,
    /// Its log (dskit's and memberlist's, logfmt).
    pub stderr: Arc<LineLog<String>>,
}

impl RingMember {
    /// Starts member `id` on `bind` in `zone` with `tokens` tokens, joining `join`;
    /// `compression` is dskit's `-memberlist.compression-algorithm` (`lzw`, `snappy`) or
    /// `none`.
    pub fn spawn(
        id: &str,
        bind: SocketAddr,
        zone: &str,
        tokens: u32,
        join: &[SocketAddr],
        compression: &str,
    ) -> Self {
        assert!(
            std::path::Path::new(BINARY).is_file(),
            "{BINARY} is missing (run scripts/build-dskitring)"
        );
        let joins: Vec<String> = join.iter().map(|a| a.to_string()).collect();
        let mut cmd = Command::new(BINARY);
        cmd.args(["-id", id, "-bind", &bind.to_string(), "-zone", zone])
            .args(["-tokens", &tokens.to_string(), "-compression", compression]);
        if !joins.is_empty() {
            cmd.args(["-join", &joins.join(",")]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dskitring");
        let log = LineLog::spawn(child.stdout.take().expect("stdout"), |l| {
            serde_json::from_str(&l).unwrap_or(Value::String(l))
        });
        let stderr = LineLog::spawn(child.stderr.take().expect("stderr"), |l| l);
        RingMember {
            id: id.to_string(),
            bind,
            child,
            log,
            stderr,
        }
    }

    /// Its latest view of the ring: instance ID to state.
    pub fn ring_view(&self) -> BTreeMap<String, String> {
        let last = self
            .log
            .snapshot()
            .into_iter()
            .rev()
            .find(|e| e["event"] == "ring")
            .expect("a ring event");
        last["instances"]
            .as_object()
            .expect("instances")
            .iter()
            .map(|(id, s)| (id.clone(), s.as_str().expect("a state").to_string()))
            .collect()
    }

    /// The memberlist members it lists alive now (its latest report, sorted names).
    pub fn members(&self) -> Vec<String> {
        self.log
            .snapshot()
            .into_iter()
            .rev()
            .find(|e| e["event"] == "members")
            .and_then(|e| {
                e["members"].as_array().map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Waits until the members it lists alive now are `want` (sorted names).
    pub fn wait_members(&self, want: &[&str], timeout: Duration) -> Result<(), String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let now = self.members();
            if now == want {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "{}: members never became {want:?} within {timeout:?}; they are {now:?}",
                    self.id
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it ever listed `name` among its memberlist members.
    pub fn ever_listed(&self, name: &str) -> bool {
        self.log.snapshot().iter().any(|e| {
            e["event"] == "members"
                && e["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|n| n == name))
        })
    }

    /// Memberlist's log lines saying a probe of `name` failed (what a dead member gets,
    /// and one that left cleanly never does).
    pub fn failed_probes_of(&self, name: &str) -> Vec<String> {
        let needle = format!("Suspect {name} has failed");
        self.stderr
            .snapshot()
            .into_iter()
            .filter(|l| l.contains(&needle))
            .collect()
    }

    /// Waits until this member's view of the ring is `want` (instance ID to state).
    pub fn wait_ring(&self, want: &BTreeMap<&str, &str>, timeout: Duration) -> Result<(), String> {
        self.log
            .wait_for(
                |e| {
                    e["event"] == "ring"
                        && e["instances"].as_object().is_some_and(|m| {
                            m.len() == want.len()
                                && want
                                    .iter()
                                    .all(|(id, st)| m.get(*id).is_some_and(|s| s == st))
                        })
                },
                timeout,
            )
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "{}: ring never became {want:?}: {e}; last: {:?}",
                    self.id,
                    self.log.tail(3)
                )
            })
    }

    /// SIGTERM: the member leaves the ring and the cluster, then exits.
    pub fn leave(&mut self, timeout: Duration) {
        // SAFETY: signalling our own child by its id.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        wait_bounded(&mut self.child, timeout).expect("dskitring exits after SIGTERM");
    }

    /// SIGKILL: the member vanishes without a word.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for RingMember {
    fn drop(&mut self) {
        self.kill();
    }
}

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

/// Checks the decoded rows of a capture of the ring scenario (members `ing-a`, `ing-b`,
/// `ing-c` on `addrs`, zones `zone-a..c`, 8, 16 and 4 tokens; ing-b leaves, ing-c is
/// killed; registered no earlier than `start`, Unix seconds): dskit's framing and digests,
/// and every instance's addresses, zones, tokens, heartbeats and states.
pub fn check_ring(rows: &[Value], addrs: &[SocketAddr], start: i64) {
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
    for r in rows {
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
    // ing-b goes LEAVING, then is unregistered and gossiped as LEFT; the LEAVING update
    // is not always on the wire (a newer broadcast of the key replaces one not yet sent).
    let b = &seen["ing-b"].states;
    assert!(
        b.contains("ACTIVE") && b.contains("LEFT") && b.len() <= 3,
        "ing-b left the ring: {b:?}"
    );
    assert!(b
        .iter()
        .all(|s| ["ACTIVE", "LEAVING", "LEFT"].contains(&s.as_str())));
    for id in ["ing-a", "ing-c"] {
        // ing-c was killed: it never said it was leaving.
        assert_eq!(
            seen[id].states,
            BTreeSet::from(["ACTIVE".to_string()]),
            "{id} stayed ACTIVE"
        );
    }
}
