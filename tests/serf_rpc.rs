//! Serf's RPC on `memberlist agent --serf`: the real serf CLI (Debian's 0.9.4 and
//! v0.11.0) drives our agent and a serf agent of the same cluster, and must print
//! the same; start-up errors name the address and the flag; a silent client holds up
//! nobody; a token is required and never shown.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use memberlist_interop::control::codec::{encode, Values};
use memberlist_interop::control::messages::{
    Handshake, Monitor, RequestHeader, ResponseHeader, Stop, Stream,
};
use support::process::{free_port, run_bounded, wait_bounded, LineLog};
use support::rust_serf::{RustSerfAgent, WAIT};
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

const TOKEN: &str = "rpc-test-token-7f3a";
/// Gossip keys, rotated one after another (32 bytes, as `serf keygen` makes).
const KEYS: [&str; 5] = [
    "EDk8VbfcnU1TV7a0ffO4GWgpJqdvKyEtbbN0xDrbu7E=",
    "unkebIyaWooxVh123uJ04Pc/Vt4aiVtwt0Guawh2VcI=",
    "BK+Fe1M6gj2GT+FUep5qdu5P7463DmBZYoGX1I23B3o=",
    "MiZ8HkBXE3fiEbCwKclCs9OJM8N3i0C8H07xryerttA=",
    "+EOlgud7EtPfhQyLO/EXcZCPpM9+Gpf8JD0jNMyx6qE=",
];

/// One serf CLI run: exit success, stdout, stderr.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

fn serf(binary: SerfBinary, rpc: SocketAddr, auth: Option<&str>, sub: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(binary.path());
    cmd.arg(sub).arg(format!("-rpc-addr={rpc}"));
    if let Some(t) = auth {
        cmd.arg(format!("-rpc-auth={t}"));
    }
    let out = run_bounded(cmd.args(args), WAIT).unwrap();
    Run {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Lines in order-free form: serf lists members and answers in map order.
fn lines(s: &str) -> BTreeSet<String> {
    s.lines().map(str::to_owned).collect()
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// `{"members": [...]}` sorted by name.
fn members_sorted(s: &str) -> Value {
    let mut v = json(s);
    if let Some(a) = v["members"].as_array_mut() {
        a.sort_by_key(|m| m["name"].as_str().unwrap_or_default().to_owned());
    }
    v
}

/// A serf `info`'s shape: each section with its keys.
fn info_shape(s: &str) -> Vec<(String, Vec<String>)> {
    let mut shape: Vec<(String, Vec<String>)> = Vec::new();
    for l in s.lines() {
        match l.strip_prefix('\t') {
            Some(kv) => {
                let key = kv.split(" = ").next().unwrap_or_default().to_owned();
                shape.last_mut().expect("a section first").1.push(key);
            }
            None => shape.push((l.trim_end_matches(':').to_owned(), Vec::new())),
        }
    }
    shape
}

/// Runs the same serf command against our agent and a serf agent: both must give
/// the same status and output (after `norm`); returns ours.
fn same(
    binary: SerfBinary,
    (ours, theirs): (SocketAddr, SocketAddr),
    auth: Option<&str>,
    sub: &str,
    args: &[&str],
    norm: fn(&str) -> Value,
) -> Run {
    let a = serf(binary, ours, auth, sub, args);
    let b = serf(binary, theirs, auth, sub, args);
    assert_eq!(
        (a.ok, norm(&a.out)),
        (b.ok, norm(&b.out)),
        "serf {sub} {args:?} ({binary:?}, auth {}) differs:\nours: {}{}\nserf: {}{}",
        auth.is_some(),
        a.out,
        a.err,
        b.out,
        b.err
    );
    a
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn line_set(s: &str) -> Value {
    lines(s).into_iter().map(Value::String).collect()
}

fn query_json(s: &str) -> Value {
    let mut v = json(s);
    if let Some(a) = v["Acks"].as_array_mut() {
        a.sort_by_key(|x| x.as_str().unwrap_or_default().to_owned());
    }
    v
}

fn waits_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The serf CLI against two of our agents (one with a token) and two serf agents
/// (one with a token), from both serf builds: every command gives what it gives
/// against the serf agent.
#[test]
fn serf_cli_drives_our_agent_as_it_drives_a_serf_agent() {
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), format!("{TOKEN}\n")).unwrap();
    let auth_arg = format!("--rpc-auth-file={}", token_file.path().display());
    let key_arg = format!("--key={}", KEYS[0]);
    let s1 = SerfAgent::spawn(
        SerfOpts::new("s1")
            .encrypt(KEYS[0])
            .tag("role", "db")
            .event_handler("query:who=echo s1"),
    );
    let s2 = SerfAgent::spawn(
        SerfOpts::new("s2")
            .binary(SerfBinary::Newest)
            .encrypt(KEYS[0])
            .tag("role", "db")
            .rpc_auth(TOKEN)
            .join(s1.bind_addr())
            .event_handler("query:who=echo s2"),
    );
    let handler = |n: &str| format!("--event-handler=query:who=echo {n}");
    let r1 = RustSerfAgent::spawn(
        "r1",
        s1.bind_addr(),
        &[&key_arg, "--tag=role=web", &handler("r1")],
    );
    let mut r2 = RustSerfAgent::spawn(
        "r2",
        s1.bind_addr(),
        &[&key_arg, "--tag=role=web", &handler("r2"), &auth_arg],
    );
    s1.wait_members(
        |m| m.len() == 4 && m.iter().all(|m| m["status"] == "alive"),
        WAIT,
    )
    .unwrap();
    let pairs = [
        (r1.rpc, s1.rpc_addr(), None),
        (r2.rpc, s2.rpc_addr(), Some(TOKEN)),
    ];
    for (ours, theirs, auth) in pairs {
        for rpc in [ours, theirs] {
            waits_for("every member alive everywhere", || {
                let r = serf(SerfBinary::Debian, rpc, auth, "members", &["-status=alive"]);
                r.out.lines().count() == 4
            });
        }
    }
    let mut key = 0;
    for binary in SerfBinary::ALL {
        for (ours, theirs, auth) in pairs {
            let both = (ours, theirs);
            let members = |args: &[&str], norm| same(binary, both, auth, "members", args, norm);
            members(&[], line_set);
            members(&["-detailed"], line_set);
            members(&["-status=alive", "-tag", "role=w.b"], line_set);
            members(&["-name=s.*", "-tag", "role=db"], line_set);
            members(&["-format=json"], members_sorted);
            members(&["-format=json", "-status=left"], members_sorted);
            let r = same(
                binary,
                both,
                auth,
                "event",
                &["-coalesce=false", "rpc-ev", "x"],
                text,
            );
            assert!(r.out.contains("Event 'rpc-ev' dispatched"), "{}", r.out);
            // Answers from the serf agents and from us, with their acks.
            let q = same(
                binary,
                both,
                auth,
                "query",
                &["-timeout=2s", "who", "hi"],
                line_set,
            );
            for n in ["s1", "s2", "r1", "r2"] {
                assert!(
                    q.out.contains(&format!("Response from '{n}': {n}")),
                    "{}",
                    q.out
                );
            }
            same(
                binary,
                both,
                auth,
                "query",
                &["-timeout=2s", "-format=json", "-tag", "role=web", "who"],
                query_json,
            );
            same(binary, both, auth, "info", &[], |s| {
                serde_json::to_value(info_shape(s)).unwrap()
            });
            // `rtt` works once a ping has carried a coordinate.
            waits_for("coordinates", || {
                serf(binary, ours, auth, "rtt", &["s1", "r1"]).ok
            });
            same(binary, both, auth, "rtt", &["s1", "r1"], |s| {
                text(s.split(" rtt:").next().unwrap_or_default())
            });
            // Tags: set and delete through either, seen by the serf agent.
            for rpc in [ours, theirs] {
                let set = serf(binary, rpc, auth, "tags", &["-set", "extra=1"]);
                assert_eq!(
                    set.out.trim(),
                    "Successfully updated agent tags",
                    "{}",
                    set.err
                );
                waits_for("the extra tag", || {
                    serf(binary, theirs, auth, "members", &["-tag", "extra=1"])
                        .out
                        .lines()
                        .count()
                        == 1
                });
                let del = serf(binary, rpc, auth, "tags", &["-delete", "extra"]);
                assert!(del.ok, "{}", del.err);
                waits_for("the tag gone", || {
                    serf(binary, theirs, auth, "members", &["-tag", "extra=1"])
                        .out
                        .trim()
                        .is_empty()
                });
            }
            // A key rotation through our agent; listing agrees with the serf agent's.
            let (old, new) = (KEYS[key], KEYS[key + 1]);
            key += 1;
            let keys = |args: &[&str]| same(binary, both, auth, "keys", args, line_set);
            // Bad keys fail alike: base64 here, the size on every member.
            keys(&["-install=bad"]);
            let short = keys(&["-install=YWJj"]);
            assert!(
                short.out.contains("key size must be 16, 24 or 32 bytes")
                    || short.err.contains("key size"),
                "{}{}",
                short.out,
                short.err
            );
            keys(&[&format!("-install={new}")]);
            keys(&["-list"]);
            keys(&[&format!("-use={new}")]);
            keys(&[&format!("-remove={old}")]);
            let listed = keys(&["-list"]);
            assert!(
                listed.out.contains(&format!("{new}  [4/4]")),
                "{}",
                listed.out
            );
            assert!(!listed.out.contains(old), "{}", listed.out);
        }
    }
    let current = KEYS[key];

    // `serf monitor` prints our log lines (and streamed events), with and without a
    // token.
    for (rpc, auth) in [(r1.rpc, None), (r2.rpc, Some(TOKEN))] {
        let mut cmd = Command::new(SerfBinary::Newest.path());
        cmd.args(["monitor", &format!("-rpc-addr={rpc}"), "-log-level=info"]);
        if let Some(t) = auth {
            cmd.arg(format!("-rpc-auth={t}"));
        }
        let mut mon = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let log = LineLog::spawn(mon.stdout.take().unwrap(), |l| l);
        // The monitor is registered once serf's CLI has printed nothing yet: retry
        // the event until a line shows it.
        let found = (0..20).any(|_| {
            s1.event("monitored", "m").unwrap();
            log.wait_for(
                |l| l.contains("[INFO] serf: Received event: user-event: monitored"),
                Duration::from_secs(1),
            )
            .is_ok()
        });
        mon.kill().ok();
        mon.wait().ok();
        assert!(found, "serf monitor printed: {:?}", log.snapshot());
    }

    // join, force-leave and leave, compared with the serf agents' answers.
    let s3 = SerfAgent::spawn(SerfOpts::new("s3").encrypt(current));
    let mut s4 = SerfAgent::spawn(SerfOpts::new("s4").encrypt(current));
    let join = |rpc, auth, addr: SocketAddr| {
        serf(SerfBinary::Debian, rpc, auth, "join", &[&addr.to_string()])
    };
    let ours_join = join(r1.rpc, None, s3.bind_addr());
    let serf_join = join(s1.rpc_addr(), None, s4.bind_addr());
    assert_eq!(ours_join.out, serf_join.out, "{}", ours_join.err);
    assert!(
        ours_join
            .out
            .contains("Successfully joined cluster by contacting 1 nodes"),
        "{}",
        ours_join.out
    );
    let auth_join = join(r2.rpc, Some(TOKEN), s3.bind_addr());
    assert_eq!(auth_join.out, serf_join.out, "{}", auth_join.err);
    s1.wait_members(
        |m| m.iter().filter(|m| m["status"] == "alive").count() == 6,
        WAIT,
    )
    .unwrap();
    drop(s3);
    s4.kill();
    s1.wait_members(
        |m| m.iter().filter(|m| m["status"] == "failed").count() == 2,
        WAIT,
    )
    .unwrap();
    // force-leave: s3 becomes left; with -prune (v0.11.0's CLI) s4 is forgotten.
    let s2_rpc = s2.rpc_addr();
    let s1_rpc = s1.rpc_addr();
    let cases = [
        (SerfBinary::Debian, (r1.rpc, s1_rpc), None, &["s3"][..]),
        (
            SerfBinary::Newest,
            (r2.rpc, s2_rpc),
            Some(TOKEN),
            &["-prune", "s4"][..],
        ),
    ];
    for (binary, (ours_rpc, theirs_rpc), auth, args) in cases {
        let ours = serf(binary, ours_rpc, auth, "force-leave", args);
        let theirs = serf(binary, theirs_rpc, auth, "force-leave", args);
        assert_eq!(
            (ours.ok, &ours.out),
            (theirs.ok, &theirs.out),
            "{}",
            ours.err
        );
    }
    waits_for("s3 left", || s1.status_of("s3").as_deref() == Some("left"));
    waits_for("s4 forgotten", || {
        !json(
            &serf(
                SerfBinary::Newest,
                s2_rpc,
                Some(TOKEN),
                "members",
                &["-format=json"],
            )
            .out,
        )
        .to_string()
        .contains("\"s4\"")
    });
    waits_for("s4 forgotten by our agent", || {
        !serf(SerfBinary::Debian, r1.rpc, None, "members", &[])
            .out
            .contains("s4")
    });
    let ours_leave = serf(SerfBinary::Newest, r2.rpc, Some(TOKEN), "leave", &[]);
    let serf_leave = serf(SerfBinary::Newest, s2.rpc_addr(), Some(TOKEN), "leave", &[]);
    assert_eq!(ours_leave.out, serf_leave.out, "{}", ours_leave.err);
    assert!(
        ours_leave.out.contains("Graceful leave complete"),
        "{}",
        ours_leave.out
    );
    wait_bounded(&mut r2.child, WAIT).expect("our agent exits after a leave");
    waits_for("r2 left", || s1.status_of("r2").as_deref() == Some("left"));
    r1.wait_event(|e| e["event"] == "member-leave" && e["members"][0]["name"] == "r2")
        .expect("our other agent saw the leave");
    // And without a token, from 0.9.4's CLI.
    let ours_leave = serf(SerfBinary::Debian, r1.rpc, None, "leave", &[]);
    let serf_leave = serf(SerfBinary::Debian, s1.rpc_addr(), None, "leave", &[]);
    assert_eq!(ours_leave.out, serf_leave.out, "{}", ours_leave.err);
    assert!(
        ours_leave.out.contains("Graceful leave complete"),
        "{}",
        ours_leave.out
    );
    let mut r1 = r1;
    wait_bounded(&mut r1.child, WAIT).expect("our agent exits after a leave");
}

fn spawn_agent(args: &[String]) -> std::process::Output {
    run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["agent", "--serf", "--name", "clash"])
            .args(args),
        WAIT,
    )
    .unwrap()
}

/// A control or gossip address already taken names itself, what holds it, and the
/// flag to pass; a control address off loopback needs a token.
#[test]
fn startup_errors_name_the_address_and_the_flag() {
    let s1 = SerfAgent::spawn(SerfOpts::new("holder"));
    let ip = "127.0.0.1".parse().unwrap();
    let free = || format!("127.0.0.1:{}", free_port(ip));

    let out = spawn_agent(&[
        format!("--bind={}", free()),
        format!("--rpc-addr={}", s1.rpc_addr()),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "control address {} is already in use",
            s1.rpc_addr()
        )),
        "{err}"
    );
    assert!(err.contains("a Serf agent's RPC listens there"), "{err}");
    assert!(err.contains("--rpc-addr"), "{err}");

    let out = spawn_agent(&[
        format!("--bind={}", s1.bind_addr()),
        format!("--rpc-addr={}", free()),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "gossip address {} is already in use",
            s1.bind_addr()
        )),
        "{err}"
    );
    assert!(err.contains("a memberlist member"), "{err}");
    assert!(err.contains("--bind"), "{err}");

    let open = format!("--rpc-addr=0.0.0.0:{}", free_port(ip));
    let out = spawn_agent(&[format!("--bind={}", free()), open]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is not a loopback address") && err.contains("--rpc-auth-file"),
        "{err}"
    );

    // A serf client pointed at a plain agent is told so, instead of waiting.
    let rpc = free();
    let _plain = Killed(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args([
                "agent",
                "--name",
                "plain",
                &format!("--bind={}", free()),
                &format!("--rpc-addr={rpc}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rpc: SocketAddr = rpc.parse().unwrap();
    waits_for("the plain agent", || TcpStream::connect(rpc).is_ok());
    let r = serf(SerfBinary::Debian, rpc, None, "members", &[]);
    assert!(
        !r.ok && (r.out.clone() + &r.err).contains("plain memberlist agent"),
        "{}{}",
        r.out,
        r.err
    );
    // And `memberlist members` still lists its nodes.
    let ours = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["members", &format!("--rpc-addr={rpc}")]),
        WAIT,
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&ours.stdout).contains("plain"),
        "{ours:?}"
    );

    // With a token, the plain agent refuses a client without it.
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), TOKEN).unwrap();
    let rpc = SocketAddr::new(ip, free_port(ip));
    let _plain_with_token = Killed(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["agent", "--name", "plain", &format!("--bind={}", free())])
            .arg(format!("--rpc-addr={rpc}"))
            .arg(format!("--rpc-auth-file={}", token_file.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    waits_for("the plain agent", || TcpStream::connect(rpc).is_ok());
    let members = |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_memberlist"));
        cmd.args(["members", &format!("--rpc-addr={rpc}")]);
        cmd.env_remove("MEMBERLIST_RPC_AUTH");
        if let Some(t) = token {
            cmd.env("MEMBERLIST_RPC_AUTH", t);
        }
        run_bounded(&mut cmd, WAIT).unwrap()
    };
    let refused = members(None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("wants a token"),
        "{refused:?}"
    );
    let listed = members(Some(TOKEN));
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("plain"),
        "{listed:?}"
    );
}

/// A child process killed when the test ends, passed or failed.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn frame<B: serde::Serialize>(cmd: &str, seq: u64, body: Option<&B>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(
        &RequestHeader {
            command: cmd.into(),
            seq,
        },
        &mut out,
    );
    if let Some(b) = body {
        encode(b, &mut out);
    }
    out
}

/// A client that never shakes hands holds up nobody and is dropped; requests out of
/// order get serf's errors.
#[test]
fn a_silent_client_holds_up_nobody() {
    let ip = "127.0.0.1".parse().unwrap();
    let bind = SocketAddr::new(ip, free_port(ip));
    let rpc = SocketAddr::new(ip, free_port(ip));
    let ours = RustSerfAgent::spawn_at("lonely", bind, rpc, &[]);
    let mut silent = TcpStream::connect(rpc).unwrap();
    let mut half = TcpStream::connect(rpc).unwrap();
    half.write_all(&frame::<()>("handshake", 0, None)[..5])
        .unwrap();

    let started = Instant::now();
    for binary in SerfBinary::ALL {
        let r = serf(binary, rpc, None, "members", &[]);
        assert!(r.ok && r.out.contains("lonely"), "{}{}", r.out, r.err);
    }
    assert!(started.elapsed() < WAIT);
    // Both are dropped after the handshake timeout (5 s): the read sees the close.
    for conn in [&mut silent, &mut half] {
        conn.set_read_timeout(Some(WAIT)).unwrap();
        let t = Instant::now();
        assert_eq!(conn.read(&mut [0u8; 16]).unwrap(), 0, "closed");
        assert!(t.elapsed() < Duration::from_secs(15));
    }

    // A command before the handshake: serf's error, then the connection closes.
    let mut c = TcpStream::connect(rpc).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(&frame::<()>("members", 7, None)).unwrap();
    let mut v = Values::new(c.try_clone().unwrap());
    let h: ResponseHeader = v.read().unwrap();
    assert_eq!((h.seq, h.error.as_str()), (7, "Handshake required"));
    // An unknown command after one: "Unsupported command".
    let mut c = TcpStream::connect(rpc).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(&frame("handshake", 1, Some(&Handshake { version: 1 })))
        .unwrap();
    c.write_all(&frame("handshake", 2, Some(&Handshake { version: 1 })))
        .unwrap();
    // Streams and monitors: serf's errors for a reused sequence number, a second
    // monitor, an unknown level and an unknown event type.
    let stream = |t: &str| Stream { kind: t.into() };
    let monitor = |l: &str| Monitor {
        log_level: l.into(),
    };
    c.write_all(&frame("stream", 5, Some(&stream("user"))))
        .unwrap();
    c.write_all(&frame("stream", 5, Some(&stream("user"))))
        .unwrap();
    c.write_all(&frame("stream", 6, Some(&stream("bogus"))))
        .unwrap();
    c.write_all(&frame("monitor", 8, Some(&monitor("bogus"))))
        .unwrap();
    c.write_all(&frame("monitor", 9, Some(&monitor("err"))))
        .unwrap();
    c.write_all(&frame("monitor", 10, Some(&monitor("info"))))
        .unwrap();
    c.write_all(&frame("stop", 11, Some(&Stop { stop: 9 })))
        .unwrap();
    c.write_all(&frame("monitor", 12, Some(&monitor("info"))))
        .unwrap();
    c.write_all(&frame::<()>("bogus", 3, None)).unwrap();
    let mut v = Values::new(c);
    let answers: Vec<(u64, String)> = (0..11)
        .map(|_| {
            let h = v.read::<ResponseHeader>().unwrap();
            (h.seq, h.error)
        })
        .collect();
    let want = [
        (1, ""),
        (2, "Handshake already performed"),
        (5, ""),
        (5, "Stream with given sequence exists"),
        (6, "Invalid event filter"),
        (8, "Unknown log level: BOGUS"),
        (9, ""),
        (10, "Monitor already exists"),
        (11, ""),
        (12, ""),
        (3, "Unsupported command"),
    ];
    let want: Vec<(u64, String)> = want.iter().map(|(s, e)| (*s, e.to_string())).collect();
    assert_eq!(answers, want);
    drop(ours);
}

/// Without the token, or with a wrong one, nothing changes; with it, key commands
/// work. The token shows in no log line, process listing or handler environment.
#[test]
fn the_token_is_required_and_never_shown() {
    let s1 = SerfAgent::spawn(SerfOpts::new("t1").encrypt(KEYS[0]));
    let dir = tempfile::tempdir().unwrap();
    let env_dump = dir.path().join("env");
    let handler = format!("--event-handler=user:dump=env > {}", env_dump.display());
    let ours = RustSerfAgent::spawn_joined_env(
        "rt",
        s1.bind_addr(),
        &[&format!("--key={}", KEYS[0]), "--tag=role=web", &handler],
        &[("MEMBERLIST_RPC_AUTH", TOKEN)],
    );
    let cli = |args: &[&str], token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_memberlist"));
        cmd.args(args)
            .arg(format!("--rpc-addr={}", ours.rpc))
            .env_remove("MEMBERLIST_RPC_AUTH");
        if let Some(t) = token {
            cmd.env("MEMBERLIST_RPC_AUTH", t);
        }
        let out = run_bounded(&mut cmd, WAIT).unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    for token in [None, Some("guess-x9q")] {
        let (code, out) = cli(&["tags", "--set", "role=hacked"], token);
        assert_eq!(code, Some(1), "{out}");
        let why = if token.is_some() {
            "Invalid authentication token"
        } else {
            "wants a token"
        };
        assert!(out.contains(why), "{out}");
        let (code, out) = cli(&["keys", "--install", KEYS[1]], token);
        assert_eq!(code, Some(1), "{out}");
        let r = serf(
            SerfBinary::Newest,
            ours.rpc,
            token,
            "keys",
            &[&format!("-install={}", KEYS[1])],
        );
        assert!(!r.ok, "{}", r.out);
    }
    // Nothing changed: still our tag, still one key.
    let members = s1.members_json();
    assert!(members["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "rt" && m["tags"]["role"] == "web"));
    let (code, out) = cli(&["keys", "--list"], Some(TOKEN));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("{}  [2/2]", KEYS[0])) && !out.contains(KEYS[1]),
        "{out}"
    );
    let (code, out) = cli(&["keys", "--install", KEYS[1]], Some(TOKEN));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Successfully installed key!"), "{out}");

    // Our own handler runs without the token in its environment.
    s1.event("dump", "").unwrap();
    waits_for("the handler", || {
        std::fs::read_to_string(&env_dump).is_ok_and(|e| e.contains("SERF_EVENT"))
    });
    assert!(!std::fs::read_to_string(&env_dump).unwrap().contains(TOKEN));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", ours.child.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(TOKEN));
    let stderr = ours.stderr.snapshot().join("\n");
    assert!(stderr.contains("wrong auth token"), "{stderr}");
    assert!(
        !stderr.contains(TOKEN) && !stderr.contains("wrong\n"),
        "{stderr}"
    );
}

/// `interop/cmd/serfrpc`, built once: serf's own Go client package driving an agent.
fn serfrpc() -> std::path::PathBuf {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serfrpc");
    let tmp = out.with_extension(format!("{}.tmp", std::process::id()));
    let built = run_bounded(
        Command::new("go")
            .args(["build", "-o"])
            .arg(&tmp)
            .arg("./cmd/serfrpc")
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/interop")),
        Duration::from_secs(600),
    )
    .unwrap();
    assert!(
        built.status.success(),
        "go build ./cmd/serfrpc: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// serf's Go `client` package (members, event and query streams, respond, query
/// response stream, monitor, stats, coordinate, stop) reports the same from our
/// agent, with and without a token, as from a serf agent.
#[test]
fn serfs_go_client_package_sees_the_same_agent() {
    let bin = serfrpc();
    let s1 = SerfAgent::spawn(SerfOpts::new("g1"));
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), TOKEN).unwrap();
    let auth_arg = format!("--rpc-auth-file={}", token_file.path().display());
    let r1 = RustSerfAgent::spawn("gr1", s1.bind_addr(), &[]);
    let r2 = RustSerfAgent::spawn("gr2", s1.bind_addr(), &[&auth_arg]);
    s1.wait_members(
        |m| m.iter().filter(|m| m["status"] == "alive").count() == 3,
        WAIT,
    )
    .unwrap();
    let run = |rpc: SocketAddr, token: Option<&str>| {
        let mut cmd = Command::new(&bin);
        cmd.arg(rpc.to_string()).args(token);
        let out = run_bounded(&mut cmd, WAIT).unwrap();
        assert!(
            out.status.success(),
            "serfrpc {rpc}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(&String::from_utf8_lossy(&out.stdout))
    };
    let theirs = run(s1.rpc_addr(), None);
    assert_eq!(
        theirs["responses"]["SELF"], "answered-by-go-client",
        "{theirs}"
    );
    assert_eq!(run(r1.rpc, None), theirs);
    assert_eq!(run(r2.rpc, Some(TOKEN)), theirs);
    // Without the token the client package cannot even connect.
    let out = run_bounded(Command::new(&bin).arg(r2.rpc.to_string()), WAIT).unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Authentication required"),
        "{out:?}"
    );
}

/// A raw RPC connection that hands out whole msgpack values as bytes.
struct RawConn {
    conn: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    fn open(rpc: SocketAddr) -> RawConn {
        let conn = TcpStream::connect(rpc).unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        let mut c = RawConn {
            conn,
            buf: Vec::new(),
        };
        c.send(frame("handshake", 1, Some(&Handshake { version: 1 })));
        c.value();
        c
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.conn.write_all(&bytes).unwrap();
    }

    fn value(&mut self) -> Vec<u8> {
        loop {
            if let Some(n) = memberlist_interop::control::codec::value_len(&self.buf).unwrap() {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 4096];
            let got = self.conn.read(&mut chunk).unwrap();
            assert!(got > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }
}

/// What our agent streams is byte for byte what serf's agents stream for the same
/// event and query: headers, a user event record, query ack and done records.
#[test]
fn streamed_records_are_byte_for_byte_serfs() {
    use memberlist_interop::control::messages::QueryRequest;
    let newest = SerfAgent::spawn(SerfOpts::new("b1").binary(SerfBinary::Newest));
    let debian = SerfAgent::spawn(SerfOpts::new("b2").join(newest.bind_addr()));
    let ours = RustSerfAgent::spawn("b3", newest.bind_addr(), &[]);
    newest
        .wait_members(
            |m| m.iter().filter(|m| m["status"] == "alive").count() == 3,
            WAIT,
        )
        .unwrap();
    let rpcs = [ours.rpc, newest.rpc_addr(), debian.rpc_addr()];
    let mut conns: Vec<RawConn> = rpcs.iter().map(|r| RawConn::open(*r)).collect();
    for c in &mut conns {
        c.send(frame(
            "stream",
            2,
            Some(&Stream {
                kind: "user:bytes".into(),
            }),
        ));
        c.value();
    }
    newest.event("bytes", "some payload").unwrap();
    let records: Vec<(Vec<u8>, Vec<u8>)> =
        conns.iter_mut().map(|c| (c.value(), c.value())).collect();
    for (i, r) in records.iter().enumerate().skip(1) {
        assert_eq!(
            (hex::encode(&records[0].0), hex::encode(&records[0].1)),
            (hex::encode(&r.0), hex::encode(&r.1)),
            "user event record: ours vs {}",
            rpcs[i]
        );
    }
    let has = |bytes: &[u8], what: &[u8]| bytes.windows(what.len()).any(|w| w == what);
    assert!(has(&records[0].1, b"some payload") && has(&records[0].1, b"Coalesce"));
    // A query only b1 answers: its ack and the done record.
    let query = QueryRequest {
        filter_nodes: vec!["b1".into()],
        name: "bq".into(),
        request_ack: true,
        timeout: 1_000_000_000,
        ..QueryRequest::default()
    };
    let mut streams = Vec::new();
    for c in &mut conns {
        c.send(frame("query", 3, Some(&query)));
        let header = c.value();
        let ack = (c.value(), c.value());
        let done = (c.value(), c.value());
        streams.push((header, ack, done));
    }
    let (_, ack, done) = &streams[0];
    assert!(has(&ack.1, b"ack") && has(&ack.1, b"b1") && has(&done.1, b"done"));
    for (i, s) in streams.iter().enumerate().skip(1) {
        assert_eq!(
            format!("{:x?}", streams[0]),
            format!("{s:x?}"),
            "query records: ours vs {}",
            rpcs[i]
        );
    }
}
