//! The agent's log against Go's: the same events give lines that the same grep
//! finds in memberlist's log and in ours; bad input is logged a few lines a second
//! and summed up, while every packet is still counted; `--log-json` and
//! `--log-level` do what they say.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use regex_lite::Regex;
use serde_json::Value;

use support::agent::Agent;
use support::gonode::{GoNode, GoNodeOpts, Profile};

const KEY: &str = "EBESExQVFhcYGRobHB0eHw==";
const WAIT: Duration = Duration::from_secs(30);

impl Agent {
    fn wait_line(&self, re: &Regex) -> String {
        self.stderr
            .wait_for(|l| re.is_match(l), WAIT)
            .unwrap_or_else(|e| panic!("no log line matching {re}: {e}"))
    }

    /// The agent's counters, from its control address.
    fn counter(&self, name: &str) -> u64 {
        self.control("stats")["counters"][name]
            .as_u64()
            .unwrap_or(0)
    }
}

fn go_node(name: &str) -> GoNodeOpts {
    GoNodeOpts::new(name).profile(Profile::Local).key(KEY)
}

/// Packets no key opens: the version byte of an encrypted packet, then junk.
fn junk(to: SocketAddr, n: usize) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("udp");
    for _ in 0..n {
        s.send_to(
            b"\x01junk that no key decrypts, padded to look like a nonce and tag",
            to,
        )
        .expect("send junk");
    }
}

#[test]
fn the_same_events_log_lines_that_grep_like_memberlists() {
    let go = GoNode::spawn(go_node("go-1"));
    let mut victim = GoNode::spawn(go_node("victim").join(go.addr()));
    let ours = Agent::spawn("rust-1", go.addr(), &["--profile", "local", "--key", KEY]);
    go.wait_members(
        |m| m.iter().filter(|m| m.state == "alive").count() == 3,
        WAIT,
    )
    .expect("go-1 sees all three");

    victim.kill();
    let suspect =
        Regex::new(r"\[INFO\] memberlist: Suspect victim has failed, no acks received").unwrap();
    ours.wait_line(&suspect);
    let start = Instant::now();
    while !go.log_lines().iter().any(|l| suspect.is_match(l)) {
        assert!(
            start.elapsed() < WAIT,
            "Go never logged {suspect}: {:?}",
            go.log_lines()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Undecryptable packets to both: the same error line, ours a few a second.
    let decrypt =
        Regex::new(r"\[ERR\] memberlist: Decrypt packet failed: .* from=127\.0\.0\.1:\d+").unwrap();
    let before = ours.counter("bad_packets");
    junk(go.addr(), 3);
    junk(ours.bind, 100);
    ours.wait_line(
        &Regex::new(r"\[ERR\] memberlist: \d+ more bad_packets lines suppressed").unwrap(),
    );
    let start = Instant::now();
    while !go.log_lines().iter().any(|l| decrypt.is_match(l)) {
        assert!(
            start.elapsed() < WAIT,
            "Go never logged {decrypt}: {:?}",
            go.log_lines()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = ours
        .stderr
        .snapshot()
        .iter()
        .filter(|l| decrypt.is_match(l))
        .count();
    assert!(
        (1..=10).contains(&shown),
        "{shown} decrypt lines for 100 packets: {:?}",
        ours.stderr.snapshot()
    );
    let counted = ours.counter("bad_packets") - before;
    assert_eq!(counted, 100, "every bad packet is counted");
}

#[test]
fn log_json_and_log_level() {
    let go = GoNode::spawn(go_node("go-1"));
    let ours = Agent::spawn(
        "rust-1",
        go.addr(),
        &[
            "--profile",
            "local",
            "--key",
            KEY,
            "--log-json",
            "--log-level",
            "err",
        ],
    );
    go.wait_members(|m| m.len() == 2, WAIT).expect("joined");
    junk(ours.bind, 1);
    let line = ours
        .stderr
        .wait_for(|l| l.contains("Decrypt packet failed"), WAIT)
        .expect("a decrypt error line");
    let v: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(v["level"], "ERROR", "{v}");
    assert_eq!(v["target"], "memberlist", "{v}");
    assert!(v["fields"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Decrypt packet failed")));
    // --log-level err: the debug and info lines of the join are not there.
    assert!(
        ours.stderr
            .snapshot()
            .iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["level"] == "ERROR")),
        "{:?}",
        ours.stderr.snapshot()
    );
}

/// One push/pull interval in, the agent hands its start-up pages back to the kernel
/// (src/cli/startup_pages.rs) and says so at debug level; the code it runs from then
/// on faults back in, so it still serves a join and gossips as before.
#[test]
fn the_agent_hands_back_its_start_up_pages_and_goes_on() {
    let go = GoNode::spawn(go_node("go-1"));
    let ours = Agent::spawn(
        "rust-1",
        go.addr(),
        &["--profile", "local", "--key", KEY, "--log-level", "debug"],
    );
    let released = Regex::new(r"released (\d+) KiB of start-up pages").unwrap();
    let line = ours.wait_line(&released);
    let kib: u64 = released.captures(&line).unwrap()[1].parse().unwrap();
    assert!(kib > 0, "{line}");
    // After the release: a new Go member joins through our agent, and both sides see
    // all three alive.
    let late = GoNode::spawn(go_node("go-2").join(ours.bind));
    late.wait_members(
        |m| m.iter().filter(|m| m.state == "alive").count() == 3,
        WAIT,
    )
    .expect("go-2, joined through the agent, sees all three");
    let deadline = Instant::now() + WAIT;
    loop {
        let members = ours.control("members");
        let alive = members["members"]
            .as_array()
            .map_or(0, |ms| ms.iter().filter(|m| m["State"] == "alive").count());
        if alive == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the agent's view: {members}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
