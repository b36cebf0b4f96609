//! Hostile traffic against a live agent in a cluster with a real Go memberlist node:
//! random and crafted datagrams (truncated, huge declared lengths, compression bombs,
//! nested compounds, garbage after a valid label, bad CRCs), bad TCP streams and
//! slow-loris connections that never finish a frame, for `FLOOD_SECS` seconds (8 by
//! default, each configuration in turn; `scripts/flood` runs it for minutes). The
//! rates are `FLOOD_PPS` datagrams a second per `FLOOD_UDP_THREADS` sender (4000, 1),
//! `FLOOD_STREAMS_PER_SEC` bad connections (200) and `FLOOD_SLOW_LORIS` connections
//! held open (500).
//!
//! What must hold, for a plain agent, one with `--key` and `--label`, and `--serf`:
//! - it keeps answering UDP pings during the flood (at least 75% of them, p99 under
//!   max(10 x the baseline p99 measured just before, [`RTT_FLOOR`])), and TCP pings (90% of
//!   them during the flood, the one after it);
//! - its resident memory stays under [`RSS_BOUND_MIB`];
//! - every kind of bad input is counted (bad_packets, bad_messages, bad_streams);
//! - its stderr is rate-limited: at most [`LINES_PER_SEC`] lines a second of flood,
//!   with the "N more ... lines suppressed" summary among them, and the lines shown
//!   and said suppressed add up to the bad_packets and bad_messages counted;
//! - the Go node and the agent still see each other alive afterwards.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use memberlist_interop::control::client::Client;
use memberlist_interop::control::messages::MembersFiltered;
use memberlist_interop::wire::{
    decode_complete, Keyring, Label, LabelPolicy, SecretKey, Side, StreamConfig, StreamMessage,
};
use regex_lite::Regex;

use support::agent::Agent;
use support::flood::{tcp_ping, Flood, FloodOpts, RssWatch, Rtts, Target, UdpProber};
use support::gonode::{GoNode, GoNodeOpts};
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

const KEY: &str = "EBESExQVFhcYGRobHB0eHw==";
const LABEL: &str = "flood";
const WAIT: Duration = Duration::from_secs(30);
/// The p99 UDP round trip allowed during the flood when 10 x the baseline is less:
/// 200 ms for a release build (`scripts/flood`); a debug build (CI's) decodes every
/// crafted packet some 30 times slower, and its keyed agent's p99 came to 114-169 ms
/// under the CI-length flood, so it gets 600 ms.
const RTT_FLOOR: Duration = if cfg!(debug_assertions) {
    Duration::from_millis(600)
} else {
    Duration::from_millis(200)
};

/// Resident memory the agent may reach under the flood. An idle agent holds a few
/// MiB; the flood's largest legitimate buffers are bounded far below this.
const RSS_BOUND_MIB: u64 = 128;
/// Log lines a second the whole flood may cause: a few a cause and one summary.
const LINES_PER_SEC: u64 = 40;
/// A ping is lost if unanswered for this long.
const PING_WAIT: Duration = Duration::from_secs(1);

/// The agent's push/pull interval in the default (LAN) profile.
const LAN_PUSH_PULL: Duration = Duration::from_secs(30);

/// Floods share two cores with everything else: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A knob from the environment (`scripts/flood` sets them), or its CI default.
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

impl Agent {
    /// A bad-input counter of a plain agent; `None` for a Serf agent, whose RPC
    /// `stats` keeps serf's shape (its counting shows in the log's summaries).
    fn counter(&self, name: &str) -> Option<u64> {
        (!self.serf).then(|| {
            self.control("stats")["counters"][name]
                .as_u64()
                .unwrap_or(0)
        })
    }

    /// Whether our member list has `name` alive (plain agents say `State`, Serf
    /// agents `status`).
    fn sees_alive(&self, name: &str) -> bool {
        if self.serf {
            let members = Client::connect(self.rpc, None, WAIT)
                .and_then(|mut c| c.members(&MembersFiltered::default()))
                .expect("members over serf's RPC");
            return members
                .iter()
                .any(|m| m.name == name && m.status == "alive");
        }
        let v = self.control("members");
        v["members"].as_array().is_some_and(|ms| {
            ms.iter().any(|m| {
                (m["Name"] == name || m["name"] == name)
                    && (m["State"] == "alive" || m["status"] == "alive")
            })
        })
    }

    fn wait_sees_alive(&self, name: &str) {
        let start = Instant::now();
        while !self.sees_alive(name) {
            assert!(
                start.elapsed() < WAIT,
                "the agent does not see {name} alive"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

struct Setup {
    keyed: bool,
    serf: bool,
}

/// The Go member beside ours: a memberlist node, or for `--serf` a serf v0.11.0
/// agent (a plain memberlist node refuses Serf's delegate versions).
enum Peer {
    Go(GoNode),
    Serf(SerfAgent),
}

impl Peer {
    fn addr(&self) -> SocketAddr {
        match self {
            Peer::Go(g) => g.addr(),
            Peer::Serf(s) => s.bind_addr(),
        }
    }

    fn name(&self) -> &str {
        match self {
            Peer::Go(g) => g.name(),
            Peer::Serf(s) => s.node(),
        }
    }

    fn wait_sees_alive(&self, name: &str, within: Duration) -> Result<(), String> {
        match self {
            Peer::Go(g) => g.wait_member_state(name, "alive", within).map(drop),
            Peer::Serf(s) => s
                .wait_members(
                    |ms| {
                        ms.iter()
                            .any(|m| m["name"] == name && m["status"] == "alive")
                    },
                    within,
                )
                .map(drop),
        }
    }
}

fn flood_agent(setup: Setup) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let secs = knob("FLOOD_SECS", 8);
    let name = "flood-rust";
    // The default (LAN) profile: a 10 s TCP timeout, so the slow-loris connections
    // are held as long as the agent lets them.
    let mut extra = vec![];
    let go = if setup.serf {
        extra.extend(["--serf", "--key", KEY]);
        Peer::Serf(SerfAgent::spawn(
            SerfOpts::new("go-peer")
                .binary(SerfBinary::Newest)
                .encrypt(KEY),
        ))
    } else if setup.keyed {
        extra.extend(["--key", KEY, "--label", LABEL]);
        Peer::Go(GoNode::spawn(
            GoNodeOpts::fast("go-peer").key(KEY).label(LABEL),
        ))
    } else {
        Peer::Go(GoNode::spawn(GoNodeOpts::fast("go-peer")))
    };
    let agent = Agent::spawn(name, go.addr(), &extra);
    go.wait_sees_alive(name, WAIT)
        .expect("the Go peer sees our agent");
    agent.wait_sees_alive(go.name());

    let target = Target {
        addr: agent.bind,
        name: name.to_owned(),
        keyring: (setup.keyed || setup.serf)
            .then(|| Keyring::new(SecretKey::from_base64(KEY).expect("key"))),
        label: setup.keyed.then(|| Label::new(LABEL).expect("label")),
        serf: setup.serf,
    };

    let mut prober = UdpProber::new(&target);
    let baseline = prober.run_until(
        Instant::now() + Duration::from_secs(2),
        Duration::from_millis(20),
        PING_WAIT,
    );
    assert_eq!(
        baseline.lost, 0,
        "pings lost before any flood: {baseline:?}"
    );
    tcp_ping(&target, 1, PING_WAIT * 5).expect("a TCP ping before the flood");

    let before: Vec<Option<u64>> = ["bad_packets", "bad_messages", "bad_streams"]
        .iter()
        .map(|c| agent.counter(c))
        .collect();
    let lines_before = agent.stderr.snapshot().len();
    let rss = RssWatch::start(agent.child.id());
    let opts = FloodOpts {
        duration: Duration::from_secs(secs),
        udp_threads: knob("FLOOD_UDP_THREADS", 1) as usize,
        packets_per_sec: knob("FLOOD_PPS", 4000) as u32,
        streams_per_sec: knob("FLOOD_STREAMS_PER_SEC", 200) as u32,
        slow_loris: knob("FLOOD_SLOW_LORIS", 500) as usize,
    };
    let started = Instant::now();
    let flood = Flood::start(&target, &opts, 0x600d_f100d);
    // TCP pings beside the UDP ones: the listener must keep accepting.
    let tcp_target = target.clone();
    let until = started + opts.duration;
    let tcp_prober = thread::spawn(move || {
        let mut r = Rtts::default();
        let mut seq = 100;
        let mut errors = Vec::new();
        while Instant::now() < until {
            seq += 1;
            match tcp_ping(&tcp_target, seq, PING_WAIT * 5) {
                Ok(d) => r.answered.push(d),
                Err(e) => {
                    r.lost += 1;
                    errors.push(e);
                }
            }
            thread::sleep(Duration::from_millis(250));
        }
        (r, errors)
    });
    let during = prober.run_until(until, Duration::from_millis(20), PING_WAIT);
    let totals = flood.finish();
    let (tcp_during, tcp_errors) = tcp_prober.join().expect("tcp prober");
    let flood_time = started.elapsed();
    let after = prober.run_until(
        Instant::now() + Duration::from_secs(1),
        Duration::from_millis(20),
        PING_WAIT,
    );
    tcp_ping(&target, 2, PING_WAIT * 5).expect("a TCP ping after the flood");
    // Two diagnostic ticks: the windows that ended with lines held back are summed up.
    thread::sleep(Duration::from_millis(1500));
    let peak_mib = rss.peak_kib() / 1024;
    drop(rss);
    let lines = agent.stderr.snapshot();
    let flood_lines = &lines[lines_before..];
    let moved: Vec<Option<u64>> = ["bad_packets", "bad_messages", "bad_streams"]
        .iter()
        .zip(&before)
        .map(|(c, b)| Some(agent.counter(c)? - (*b)?))
        .collect();

    for l in flood_lines
        .iter()
        .filter(|l| l.contains("suppressed"))
        .take(12)
    {
        eprintln!("  {l}");
    }
    let bound = (baseline.quantile(0.99) * 10).max(RTT_FLOOR);
    eprintln!(
        "flood {:?}: sent {totals:?}; baseline UDP RTT p50 {:?} p99 {:?}; during: {} of {} \
         answered, p50 {:?} p99 {:?} max {:?}; TCP pings during: {} of {} answered, p99 {:?}; \
         after: {} of {}; peak RSS {peak_mib} MiB; {} stderr lines; counters moved \
         bad_packets {:?} bad_messages {:?} bad_streams {:?}",
        flood_time,
        baseline.quantile(0.5),
        baseline.quantile(0.99),
        during.answered.len(),
        during.sent(),
        during.quantile(0.5),
        during.quantile(0.99),
        during.quantile(1.0),
        tcp_during.answered.len(),
        tcp_during.sent(),
        tcp_during.quantile(0.99),
        after.answered.len(),
        after.sent(),
        flood_lines.len(),
        moved[0],
        moved[1],
        moved[2],
    );

    // Some pings drown: the socket's receive queue is shared with the flood, and
    // when the flood outruns the agent the kernel drops whatever arrives next.
    assert!(
        during.answered.len() as u64 * 4 >= during.sent() * 3,
        "fewer than 75% of UDP pings answered during the flood: {} of {}",
        during.answered.len(),
        during.sent()
    );
    assert!(
        during.quantile(0.99) <= bound,
        "UDP ping p99 {:?} during the flood above {bound:?} (baseline p99 {:?})",
        during.quantile(0.99),
        baseline.quantile(0.99)
    );
    assert!(after.lost == 0, "UDP pings lost after the flood: {after:?}");
    assert!(
        tcp_during.answered.len() as u64 * 10 >= tcp_during.sent() * 9,
        "fewer than 90% of TCP pings answered during the flood: {} of {}: {:?}",
        tcp_during.answered.len(),
        tcp_during.sent(),
        tcp_errors
    );
    assert!(
        peak_mib < RSS_BOUND_MIB,
        "agent RSS reached {peak_mib} MiB (bound {RSS_BOUND_MIB} MiB)"
    );
    for (c, n) in ["bad_packets", "bad_messages", "bad_streams"]
        .iter()
        .zip(&moved)
    {
        assert!(n.is_none_or(|n| n > 0), "{c} did not move under the flood");
    }
    let max_lines = LINES_PER_SEC * (flood_time.as_secs() + 3);
    assert!(
        (flood_lines.len() as u64) <= max_lines,
        "{} stderr lines for a {flood_time:?} flood (at most {max_lines}): {:?}",
        flood_lines.len(),
        &flood_lines[..flood_lines.len().min(40)]
    );
    assert!(
        flood_lines
            .iter()
            .any(|l| l.contains("lines suppressed in the last")),
        "no suppression summary among {:?}",
        &flood_lines[..flood_lines.len().min(40)]
    );
    // The summaries add up: lines shown (at most 5 a second a cause) and lines
    // suppressed account for every event counted. UDP input stops with the flood;
    // slow-loris connections time out later, so bad_streams is left out.
    let suppressed = |cause: &str| -> u64 {
        let re = Regex::new(&format!(
            r"\] memberlist: (\d+) more {cause} lines suppressed"
        ))
        .expect("regex");
        flood_lines
            .iter()
            .filter_map(|l| re.captures(l)?[1].parse::<u64>().ok())
            .sum()
    };
    let windows = flood_time.as_secs() + 4;
    for (cause, n) in [("bad_packets", moved[0]), ("bad_messages", moved[1])] {
        let held = suppressed(cause);
        let Some(n) = n else {
            // A Serf agent's counts are only in these summaries: they must be there.
            assert!(held > 0, "no {cause} lines said suppressed");
            continue;
        };
        assert!(
            held <= n && held + 5 * windows >= n,
            "{held} {cause} lines said suppressed for {n} counted"
        );
    }
    // Nobody lost: each side still sees the other alive. A peer that declared our
    // agent dead while its pings drowned stops gossiping to it and never picks it
    // for a push/pull, so the agent hears of its death (and refutes it) at its own
    // next push/pull, up to one LAN interval away, as a Go node would.
    agent.wait_sees_alive(go.name());
    go.wait_sees_alive(name, WAIT + LAN_PUSH_PULL)
        .expect("the Go peer still sees our agent alive");
}

#[test]
fn a_plain_agent_survives_a_flood() {
    flood_agent(Setup {
        keyed: false,
        serf: false,
    });
}

#[test]
fn an_agent_with_key_and_label_survives_a_flood() {
    flood_agent(Setup {
        keyed: true,
        serf: false,
    });
}

#[test]
fn a_serf_agent_survives_a_flood() {
    flood_agent(Setup {
        keyed: false,
        serf: true,
    });
}

/// The slow-loris and cut-short cases alone: a stream that stops mid-frame and one
/// that outlasts the TCP timeout (1 s under `--profile local`) are each counted as a
/// bad stream, and the held one is answered with an error frame, as Go does.
#[test]
fn streams_cut_short_or_held_past_the_timeout_are_counted() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let go = GoNode::spawn(GoNodeOpts::fast("go-peer"));
    let agent = Agent::spawn("flood-rust", go.addr(), &["--profile", "local"]);
    go.wait_member_state("flood-rust", "alive", WAIT)
        .expect("go-peer sees our agent");
    agent.wait_sees_alive("go-peer");
    let half_ping = {
        let t = Target {
            addr: agent.bind,
            name: "flood-rust".into(),
            keyring: None,
            label: None,
            serf: false,
        };
        let me: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let full = t.seal_stream(
            &memberlist_interop::wire::Message::Ping(memberlist_interop::wire::Ping {
                seq_no: 1,
                node: "flood-rust".into(),
                source_addr: vec![127, 0, 0, 1].into(),
                source_port: me.port(),
                source_node: "x".into(),
            })
            .to_bytes(),
        );
        full[..full.len() / 2].to_vec()
    };
    let bad_streams = || agent.counter("bad_streams").expect("a plain agent counts");
    let before = bad_streams();
    {
        let mut cut = TcpStream::connect(agent.bind).expect("connect");
        cut.write_all(&half_ping).expect("write");
    }
    let mut held = TcpStream::connect(agent.bind).expect("connect");
    held.write_all(&half_ping).expect("write");
    held.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reply = Vec::new();
    std::io::Read::read_to_end(&mut held, &mut reply).expect("the agent answers and closes");
    let cfg = StreamConfig {
        label: LabelPolicy::Expect(None),
        keyring: None,
        verify_incoming: true,
        side: Side::Acceptor,
    };
    let frame = decode_complete(&reply, &cfg).expect("a whole reply frame");
    assert!(
        matches!(&frame.message, StreamMessage::Err(e) if e.error.to_string().contains("TCP timeout")),
        "the held stream is answered with an error: {:?}",
        frame.message
    );
    let start = Instant::now();
    while bad_streams() < before + 2 {
        assert!(
            start.elapsed() < WAIT,
            "bad_streams moved by {} for two bad streams",
            bad_streams() - before
        );
        thread::sleep(Duration::from_millis(50));
    }
}
