//! `memberlist explain` on captures this test records (tcpdump on loopback, as root)
//! of real Go memberlist v0.7.0 nodes: a SIGKILLed member, a member whose inbound UDP
//! is dropped by nftables while TCP works, a member that switched to a key the
//! others do not hold, and a prober whose host delays what it receives (NFQUEUE and
//! scripts/fault-delay, in a network namespace). Each scenario runs a few seconds of
//! Go's local profile.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::explain::{explain_json, member};
use support::gonode::{GoNode, GoNodeOpts, Profile};
use support::process::{free_port, wait_bounded};
use support::tcpdump::{Listen, Recording};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(15);

/// Where the capture of scenario `name` goes.
fn pcap_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("explain-live-{}-{name}.pcap", std::process::id()))
}

fn port_filter(ports: &[u16]) -> String {
    let filter: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    filter.join(" or ")
}

/// tcpdump for the given ports on `interface` of `netns` (`None`: this namespace), in
/// immediate mode: without it the last second of packets waits in the kernel ring and
/// is lost when tcpdump stops.
fn record_on(name: &str, netns: Option<&str>, interface: &str, ports: &[u16]) -> Recording {
    let listen = Listen {
        netns,
        interface,
        immediate: true,
    };
    Recording::start_on(&listen, &pcap_path(name), &port_filter(ports))
}

/// [`record_on`] loopback.
fn record(name: &str, ports: &[u16]) -> Recording {
    record_on(name, None, "lo", ports)
}

/// Stops the capture and returns its file. With `EXPLAIN_LIVE_KEEP=DIR` a copy is kept
/// there, to look at by hand.
fn stop(capture: Recording) -> PathBuf {
    let path = capture.stop();
    if let Some(dir) = std::env::var_os("EXPLAIN_LIVE_KEEP") {
        let name = path.file_name().expect("file name");
        std::fs::copy(&path, Path::new(&dir).join(name)).expect("keep the capture");
    }
    path
}

/// An nftables table of this test's own, deleted when dropped. Its `input` chain
/// drops after tcpdump on loopback saw the packet, its `output` chain before.
struct Firewall(String);

impl Firewall {
    fn new(name: &str) -> Firewall {
        let table = format!("explain_{}_{name}", std::process::id());
        nft(&["add", "table", "inet", &table]);
        for hook in ["input", "output"] {
            let spec = format!("{{ type filter hook {hook} priority 0 ; }}");
            nft(&["add", "chain", "inet", &table, hook, &spec]);
        }
        Firewall(table)
    }

    /// Drops what matches `rule` in `chain` (`input` or `output`).
    fn drop_rule(&self, chain: &str, rule: &str) {
        let mut args = vec!["add", "rule", "inet", &self.0, chain];
        args.extend(rule.split_whitespace());
        args.push("drop");
        nft(&args);
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.0])
            .status();
    }
}

/// Drops the UDP to `port` in `chain` (`input`: after the capture saw it; `output`:
/// before) for `how_long`.
fn drop_udp_to_for(name: &str, chain: &str, port: u16, how_long: Duration) {
    let fw = Firewall::new(name);
    fw.drop_rule(chain, &format!("udp dport {port}"));
    std::thread::sleep(how_long);
}

fn nft(args: &[&str]) {
    let out = Command::new("nft")
        .args(args)
        .output()
        .expect("nft (apt-get install nftables)");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Go's local profile with a 400 ms probe interval (probe timeout 200 ms).
fn node(name: &str, port: u16) -> GoNodeOpts {
    GoNodeOpts::new(name)
        .profile(Profile::Local)
        .bind(SocketAddr::new(LOCALHOST, port))
        .probe_interval(Duration::from_millis(400))
        .gossip_interval(Duration::from_millis(100))
        .pushpull_interval(Duration::from_secs(3))
}

/// Members `names` on fresh loopback ports, all joined and alive; and their ports.
fn cluster(names: &[&str], key: Option<&str>) -> (Vec<GoNode>, Vec<u16>) {
    let ports = free_ports(names.len());
    let opts = names
        .iter()
        .zip(&ports)
        .map(|(name, &port)| match key {
            Some(k) => node(name, port).key(k),
            None => node(name, port),
        })
        .collect();
    (GoNode::spawn_joined(opts, WAIT), ports)
}

/// Members `names` on `ports` of loopback, all joined and alive.
fn cluster_on(names: &[&str], ports: &[u16]) -> Vec<GoNode> {
    let opts = names
        .iter()
        .zip(ports)
        .map(|(name, &port)| node(name, port))
        .collect();
    GoNode::spawn_joined(opts, WAIT)
}

fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port(LOCALHOST)).collect()
}

/// Stops `capture`, explains it with `args` and removes the file.
fn explain_recorded(capture: Recording, args: &[&str]) -> (Value, i32, String) {
    let path = stop(capture);
    let explained = explain_json(&[&[path.to_str().unwrap()], args].concat());
    std::fs::remove_file(&path).ok();
    explained
}

/// Every verdict given about a member: its suspicions' and its other unanswered probes'.
fn verdicts(m: &Value) -> Vec<&Value> {
    m["suspicions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("chain").filter(|c| !c.is_null()))
        .chain(m.get("unanswered_probes").filter(|c| !c.is_null()))
        .map(|c| &c["verdict"])
        .collect()
}

#[test]
fn sigkilled_member_stopped_answering_everyone() {
    let ports = free_ports(3);
    let dump = record("kill", &ports);
    let mut nodes = cluster_on(&["a", "b", "c"], &ports);
    nodes[2].kill();
    for n in &nodes[..2] {
        n.wait_member_state("c", "dead", WAIT).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let (report, code, err) = explain_recorded(dump, &[]);
    assert_eq!(code, 0, "{err}");
    let c = member(&report, "c");
    assert_eq!(c["state"], "dead", "{c:#}");
    let s = c["suspicions"]
        .as_array()
        .unwrap()
        .first()
        .expect("c suspected");
    assert!(["a", "b"].contains(&s["by"].as_str().unwrap()));
    assert_eq!(s["outcome"]["outcome"], "dead");
    assert_eq!(s["chain"]["verdict"]["kind"], "stopped_answering", "{s:#}");
    for other in ["a", "b"] {
        assert!(member(&report, other)["suspicions"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}

#[test]
fn inbound_udp_dropped_while_tcp_works() {
    let ports = free_ports(3);
    let dump = record("udp", &ports);
    let _nodes = cluster_on(&["a", "b", "v"], &ports);
    // Several probe rounds of v by a and b (every 400 ms each, among two targets).
    drop_udp_to_for("udp", "input", ports[2], Duration::from_secs(4));
    let (report, code, err) = explain_recorded(dump, &[]);
    assert_eq!(code, 0, "{err}");
    let v = member(&report, "v");
    let found = verdicts(v);
    assert!(
        found.iter().any(|x| x["kind"] == "udp_one_way"
            && x["text"]
                .as_str()
                .unwrap()
                .starts_with("UDP one way only: TCP pings worked")),
        "{v:#}"
    );
    let probes = v["unanswered_probes"]["probes"]
        .as_array()
        .into_iter()
        .chain(
            v["suspicions"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["chain"]["probes"].as_array()),
        )
        .flatten()
        .collect::<Vec<_>>();
    assert!(
        probes.iter().any(|p| p["tcp"]["acked"].is_string()
            && p["helpers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["nack"].is_string())),
        "a probe of v with a helper's nack and an answered TCP ping: {probes:#?}"
    );
    // The others answered everyone: if anything, v missed their acks (its inbound UDP
    // is dropped after the capture saw them).
    for other in ["a", "b"] {
        for x in verdicts(member(&report, other)) {
            assert_eq!(x["kind"], "prober_health", "{report:#}");
            assert!(x["text"]
                .as_str()
                .unwrap()
                .starts_with("only v missed the answers"));
        }
    }
}

#[test]
fn member_on_another_key_fails_to_decrypt() {
    let k1 = "5K9OtfjHyJrPV9hXxFhnyQ==";
    let k2 = "ZWTL5SkqYDaxtLxe2GE8rw==";
    let (nodes, ports) = cluster(&["a", "b", "c"], Some(k1));
    let dump = record("key", &ports);
    // Let the capture see every member's packets first (names and addresses).
    std::thread::sleep(Duration::from_millis(1500));
    let c = &nodes[2];
    for cmd in ["install-key", "use-key"] {
        c.send_cmd(json!({"cmd": cmd, "key": k2})).unwrap();
    }
    c.send_cmd(json!({"cmd": "remove-key", "key": k1})).unwrap();
    nodes[0].wait_member_state("c", "dead", WAIT).unwrap();
    let (report, code, err) = explain_recorded(dump, &["--key", k1]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("packets no key opened (from c"), "{err}");
    let c = member(&report, "c");
    assert!(
        c["decrypt_failures"]["count"].as_u64().unwrap() > 0,
        "{c:#}"
    );
    let found = verdicts(c);
    assert!(
        found.iter().any(|x| x["kind"] == "decrypt_failure"
            && x["text"]
                .as_str()
                .unwrap()
                .starts_with("packets from c failed to decrypt with every key")),
        "{c:#}"
    );
}

/// A prober whose inbound UDP is lost before the capture sees it (nftables output
/// chain): its pings go out, the acks and the helpers' relayed acks never come back,
/// the helpers send no nacks (they reached the target), and the targets answer the
/// other member meanwhile: the verdict blames the prober's own health.
#[test]
fn slow_prober_is_blamed_on_itself() {
    let ports = free_ports(3);
    let dump = record("prober", &ports);
    let _nodes = cluster_on(&["a", "b", "p"], &ports);
    drop_udp_to_for("prober", "output", ports[2], Duration::from_secs(4));
    let (report, code, err) = explain_recorded(dump, &[]);
    assert_eq!(code, 0, "{err}");
    let blamed: Vec<&str> = ["a", "b"]
        .into_iter()
        .filter(|t| {
            verdicts(member(&report, t)).iter().any(|v| {
                v["kind"] == "prober_health"
                    && v["text"]
                        .as_str()
                        .unwrap()
                        .starts_with("only p got no answers")
            })
        })
        .collect();
    assert!(!blamed.is_empty(), "{report:#}");
    for t in blamed {
        let m = member(&report, t);
        assert!(
            m["suspicions"].as_array().unwrap().is_empty(),
            "TCP kept {t} alive: {m:#}"
        );
    }
}

/// A member cut off (nothing reaches its address, nothing leaves its UDP socket) is
/// suspected; when the partition heals it refutes with a higher incarnation (or, if
/// it was declared dead meanwhile, comes back alive).
#[test]
fn partition_that_heals_ends_in_a_refutation() {
    let ports = free_ports(3);
    let dump = record("partition", &ports);
    // A longer suspicion (SuspicionMult 4): dead only after several seconds.
    let opts = ["a", "b", "c"]
        .iter()
        .zip(&ports)
        .map(|(n, &port)| node(n, port).suspicion_mult(4))
        .collect();
    let nodes = GoNode::spawn_joined(opts, WAIT);
    let a = &nodes[0];
    let fw = Firewall::new("partition");
    let c_port = ports[2];
    fw.drop_rule("output", &format!("udp dport {c_port}"));
    fw.drop_rule("output", &format!("tcp dport {c_port}"));
    fw.drop_rule("output", &format!("udp sport {c_port}"));
    a.wait_member_state("c", "suspect", WAIT).unwrap();
    drop(fw);
    a.wait_member_state("c", "alive", WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (report, code, err) = explain_recorded(dump, &[]);
    assert_eq!(code, 0, "{err}");
    let c = member(&report, "c");
    let s = &c["suspicions"][0];
    assert!(["a", "b"].contains(&s["by"].as_str().unwrap()), "{c:#}");
    let came_back = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| ["refuted", "alive_again"].contains(&e["event"].as_str().unwrap()));
    assert!(came_back, "{c:#}");
    // The pings to c were dropped before the capture; its probers' indirect probes
    // (and the helpers' nacks) are in it, and c itself was silent meanwhile.
    for v in verdicts(c) {
        assert_eq!(v["kind"], "stopped_answering", "{c:#}");
    }
    assert!(c["incarnation"].as_u64().unwrap() > s["incarnation"].as_u64().unwrap());
    assert_eq!(c["state"], "alive");
}

/// Two network namespaces joined by a veth pair: two "hosts" with an address each.
/// Deleted (with the pair) when dropped.
struct Hosts {
    names: [String; 2],
    links: [String; 2],
    addrs: [Ipv4Addr; 2],
}

impl Hosts {
    fn new() -> Hosts {
        // Tests run in parallel: each pair gets names and a subnet of its own.
        static PAIRS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = PAIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let names = [format!("mlx{pid}-{n}a"), format!("mlx{pid}-{n}b")];
        let links = [
            format!("mlx{}-{n}a", pid % 100_000),
            format!("mlx{}-{n}b", pid % 100_000),
        ];
        let net = [10, 200 + (pid % 50) as u8, ((pid / 50 + n) % 250) as u8];
        let addrs = [
            Ipv4Addr::new(net[0], net[1], net[2], 1),
            Ipv4Addr::new(net[0], net[1], net[2], 2),
        ];
        let hosts = Hosts {
            names,
            links,
            addrs,
        };
        for ns in &hosts.names {
            ip(&["netns", "add", ns]);
        }
        ip(&[
            "link",
            "add",
            &hosts.links[0],
            "type",
            "veth",
            "peer",
            "name",
            &hosts.links[1],
        ]);
        for i in 0..2 {
            let (ns, link) = (&hosts.names[i], &hosts.links[i]);
            ip(&["link", "set", link, "netns", ns]);
            let addr = format!("{}/24", hosts.addrs[i]);
            ip(&["-n", ns, "addr", "add", &addr, "dev", link]);
            ip(&["-n", ns, "link", "set", link, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        hosts
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A member on each of two hosts, each host capturing its own interface: the
/// packets between them are in both captures. explain merges the two into one
/// timeline (the clocks are the same machine's: the offset is about zero, and sure),
/// keeps each packet once, and tells the SIGKILL of the second member as the first
/// host saw it.
#[test]
fn captures_from_two_hosts_merge() {
    let hosts = Hosts::new();
    let port = 7946;
    let dumps: Vec<Recording> = (0..2)
        .map(|i| {
            record_on(
                &format!("host{i}"),
                Some(&hosts.names[i]),
                &hosts.links[i],
                &[port],
            )
        })
        .collect();
    let at = |i: usize| SocketAddr::new(IpAddr::V4(hosts.addrs[i]), port);
    let on = |name, i: usize| node(name, port).bind(at(i)).netns(&hosts.names[i]);
    let mut nodes = GoNode::spawn_joined(vec![on("a", 0), on("c", 1)], WAIT);
    // Probes both ways before the kill, for the offset.
    std::thread::sleep(Duration::from_millis(1500));
    nodes[1].kill();
    nodes[0].wait_member_state("c", "dead", WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let paths: Vec<PathBuf> = dumps.into_iter().map(stop).collect();
    drop(nodes);
    drop(hosts);
    let (one, both) = (paths[0].clone(), paths[1].clone());
    let (report, code, err) = explain_json(&[one.to_str().unwrap(), both.to_str().unwrap()]);
    let (alone, _, _) = explain_json(&[one.to_str().unwrap()]);
    for p in &paths {
        std::fs::remove_file(p).ok();
    }
    assert_eq!(code, 0, "{err}");
    let off = &report["captures"][1]["offset"];
    assert!(off["micros"].as_i64().unwrap().abs() < 5_000, "{off:#}");
    assert!(
        off["plus_minus_micros"].as_u64().unwrap() < 5_000,
        "{off:#}"
    );
    assert!(
        report["captures"][1]["duplicates"].as_u64().unwrap() > 10,
        "{report:#}"
    );
    // The second capture adds nothing the first lacked (every packet crossed the
    // wire between the hosts), so the merged timeline has the first's rows.
    assert_eq!(report["rows"], alone["rows"], "{report:#}");
    let c = member(&report, "c");
    assert_eq!(c["state"], "dead", "{c:#}");
    assert_eq!(
        c["suspicions"][0]["chain"]["verdict"]["kind"], "stopped_answering",
        "{c:#}"
    );
}

/// Holds every packet arriving on `link` in network namespace `netns` for
/// MEAN ± JITTER ms: an iptables NFQUEUE rule (this kernel's nftables has no `queue`
/// expression) hands them to scripts/fault-delay. Removed when dropped.
struct InboundDelay {
    netns: String,
    link: String,
    program: Child,
}

impl InboundDelay {
    fn start(netns: &str, link: &str, mean_ms: u32, jitter_ms: u32) -> InboundDelay {
        let rule = |op: &str| {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    netns,
                    "iptables-legacy",
                    op,
                    "INPUT",
                    "-i",
                    link,
                ])
                .args(["-j", "NFQUEUE", "--queue-num", "0", "--queue-bypass"])
                .output()
                .expect("iptables-legacy (apt-get install iptables)")
        };
        let out = rule("-A");
        assert!(
            out.status.success(),
            "iptables-legacy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fault-delay");
        let mut program = Command::new("ip")
            .args(["netns", "exec", netns, script, "0"])
            .args([mean_ms.to_string(), jitter_ms.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("scripts/fault-delay (needs python3)");
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(program.stdout.as_mut().unwrap()),
            &mut ready,
        )
        .unwrap();
        let delay = InboundDelay {
            netns: netns.into(),
            link: link.into(),
            program,
        };
        assert_eq!(ready.trim(), "ready", "scripts/fault-delay did not start");
        delay
    }
}

impl Drop for InboundDelay {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "iptables-legacy",
                "-D",
                "INPUT",
                "-i",
            ])
            .args([
                &self.link,
                "-j",
                "NFQUEUE",
                "--queue-num",
                "0",
                "--queue-bypass",
            ])
            .status();
        // SAFETY: signalling our own child by its pid; it releases what it holds.
        unsafe { libc::kill(self.program.id() as i32, libc::SIGTERM) };
        let _ = wait_bounded(&mut self.program, WAIT);
    }
}

/// Lifeguard's slow prober: p's host holds every packet that reaches it for 600 ms
/// (NFQUEUE), longer than p's probe timeout and base probe interval. Its pings of a
/// and b are acked at once on the wire (each host captures its own interface, before
/// the delay), but the acks reach p too late: p asks the other as helper, whose ping
/// is answered and relayed (no nack), and p suspects members that are fine. explain
/// must put that on p's health, not on a or b; and a and b's probes of p, answered
/// 600 ms late while their helper nacked, on p being slow to answer.
#[test]
fn prober_whose_packets_are_delayed_is_blamed_on_itself() {
    let hosts = Hosts::new();
    let ports = [7946, 7947];
    let dumps: Vec<Recording> = (0..2)
        .map(|i| {
            record_on(
                &format!("delay{i}"),
                Some(&hosts.names[i]),
                &hosts.links[i],
                &ports,
            )
        })
        .collect();
    let at = |i: usize, port| SocketAddr::new(IpAddr::V4(hosts.addrs[i]), port);
    let on = |name, i: usize, port| node(name, port).bind(at(i, port)).netns(&hosts.names[i]);
    let nodes = GoNode::spawn_joined(
        vec![
            on("a", 0, ports[0]),
            on("b", 0, ports[1]),
            on("p", 1, ports[0]),
        ],
        WAIT,
    );
    let delay = InboundDelay::start(&hosts.names[1], &hosts.links[1], 600, 50);
    std::thread::sleep(Duration::from_secs(6));
    drop(delay);
    std::thread::sleep(Duration::from_millis(500));
    let paths: Vec<PathBuf> = dumps.into_iter().map(stop).collect();
    // What the harness did, as p saw it: it gave up on members that were fine.
    let suspected: Vec<String> = nodes[2]
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("has failed, no acks received"))
        .collect();
    drop(nodes);
    drop(hosts);
    let (report, code, err) =
        explain_json(&[paths[0].to_str().unwrap(), paths[1].to_str().unwrap()]);
    for path in &paths {
        std::fs::remove_file(path).ok();
    }
    assert_eq!(code, 0, "{err}");
    assert!(
        suspected
            .iter()
            .any(|l| l.contains("Suspect a ") || l.contains("Suspect b ")),
        "p never suspected a or b: {suspected:?}"
    );
    let mut blamed_on_p = 0;
    let mut chains_of_p = 0;
    for t in ["a", "b"] {
        let m = member(&report, t);
        for v in verdicts(m) {
            assert_eq!(v["kind"], "prober_health", "{t} was blamed: {m:#}");
            let text = v["text"].as_str().unwrap();
            assert!(
                text.starts_with(&format!(
                    "only p missed the answers: {t} acked p's pings within"
                )),
                "{text}"
            );
            assert!(text.contains("which Lifeguard counts against p's own health score"));
            blamed_on_p += 1;
        }
        // Every suspicion by p whose probes the captures show is p's own health. One
        // of p's suspicions may show no failed probe at all (CI saw one: the capture
        // on p's side holds the ack in time, and no helper request of p's for it); it
        // must then blame nobody, which the verdict loop above checks.
        for s in m["suspicions"].as_array().unwrap() {
            if s["by"] == "p" && !s["chain"].is_null() {
                assert_eq!(s["chain"]["verdict"]["kind"], "prober_health", "{s:#}");
                chains_of_p += 1;
            }
        }
    }
    assert!(blamed_on_p > 0, "{report:#}");
    assert!(chains_of_p > 0, "no suspicion by p has a chain: {report:#}");
    // a and b's pings of p were answered 600 ms late, after their probe timeout.
    let p = member(&report, "p");
    let on_p = verdicts(p);
    assert!(!on_p.is_empty(), "{p:#}");
    for v in on_p {
        assert_eq!(v["kind"], "slow_to_answer", "{p:#}");
        assert!(v["text"]
            .as_str()
            .unwrap()
            .starts_with("p answered late: its acks came"));
    }
}
