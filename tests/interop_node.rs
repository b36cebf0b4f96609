//! The Rust member against real Go memberlist v0.7.0 nodes (`interop/cmd/gonode`)
//! and serf agents (Debian's older memberlist and the newest serf), on loopback. Every test starts its
//! own processes with free ports, bounds every wait, and kills what it started.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use memberlist_interop::node::{Config, Event, EventDelegate, Machine, Memberlist, State};
use memberlist_interop::wire::{Label, SecretKey};
use support::gonode::{GoNode, GoNodeOpts, Member};
use support::process::free_port;
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

const WAIT: Duration = Duration::from_secs(30);

const KEY16: &str = "EBESExQVFhcYGRobHB0eHw==";
const KEY24: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
const KEY32: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A Rust member with the same fast timers as `GoNodeOpts::fast`.
struct RustNode {
    node: Memberlist<EventDelegate>,
    events: UnboundedReceiver<Event>,
}

#[derive(Default, Clone)]
struct RustOpts {
    keys: Vec<&'static str>,
    label: Option<&'static str>,
    protocol: Option<u8>,
    meta: &'static str,
    bind: Option<SocketAddr>,
    /// Serf's delegate version range, for joining a Serf cluster.
    delegate_versions: Option<(u8, u8, u8)>,
}

fn rust_config(name: &str, o: &RustOpts) -> Config {
    let mut c = Config::local();
    c.name = name.into();
    let bind = o.bind.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.bind_addr = bind.ip();
    c.bind_port = bind.port();
    if let Some((min, max, cur)) = o.delegate_versions {
        (
            c.delegate_protocol_min,
            c.delegate_protocol_max,
            c.delegate_protocol_version,
        ) = (min, max, cur);
    }
    c.probe_interval = Duration::from_millis(200);
    c.gossip_interval = Duration::from_millis(50);
    c.push_pull_interval = Duration::from_secs(2);
    if let Some((first, rest)) = o.keys.split_first() {
        let key = |k: &str| SecretKey::from_base64(k).unwrap();
        c.keyring = Some(memberlist_interop::wire::Keyring::with_keys(
            key(first),
            rest.iter().map(|k| key(k)),
        ));
    }
    c.label = o.label.map(|l| Label::new(l).unwrap());
    if let Some(p) = o.protocol {
        c.protocol_version = p;
    }
    c
}

impl RustNode {
    async fn start(name: &str, o: RustOpts) -> RustNode {
        let c = rust_config(name, &o);
        let (d, events) = EventDelegate::new(c.retransmit_mult);
        let node = Memberlist::start(c, o.meta.as_bytes().to_vec(), d)
            .await
            .unwrap();
        RustNode { node, events }
    }

    fn addr(&self) -> SocketAddr {
        self.node.local_addr()
    }

    /// Polls the machine until `pred` holds; panics with the member list if not.
    async fn wait(
        &self,
        what: &str,
        pred: impl Fn(&Machine<EventDelegate>) -> bool + Send + Clone + 'static,
    ) {
        let start = Instant::now();
        loop {
            let p = pred.clone();
            if self.node.with(move |m, _| p(m)).await.unwrap() {
                return;
            }
            if start.elapsed() > WAIT {
                let view = self
                    .node
                    .with(|m, _| {
                        m.all_members()
                            .iter()
                            .map(|n| format!("{}={}@{}", n.name, n.state.name(), n.incarnation))
                            .collect::<Vec<_>>()
                    })
                    .await
                    .unwrap();
                panic!("rust node: {what} did not happen within {WAIT:?}; members {view:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_alive(&self, names: &[&str]) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        self.wait(&format!("{names:?} alive"), move |m| {
            names
                .iter()
                .all(|n| m.member(n).is_some_and(|x| x.state == State::Alive))
        })
        .await;
    }

    async fn wait_state(&self, name: &'static str, state: State) {
        self.wait(&format!("{name} {}", state.name()), move |m| {
            m.member(name).is_some_and(|x| x.state == state)
        })
        .await;
    }

    async fn wait_message(&mut self, payload: &[u8]) {
        let arrived = tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Some(Event::Message(p)) if p == payload => return,
                    Some(_) => {}
                    None => panic!("event stream closed"),
                }
            }
        })
        .await;
        if arrived.is_err() {
            let diagnostics = self
                .node
                .with(|m, _| {
                    std::iter::from_fn(|| m.poll_diagnostic())
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap();
            panic!(
                "message {:?} never arrived; diagnostics: {diagnostics:#?}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}

/// Go at protocol 1 ignores the port in alive messages and assumes its own, as
/// protocol 1 had none: its peers must then share its port, on other addresses.
/// Returns a Go bind address and a Rust bind address with one free port.
fn same_port_pair() -> (SocketAddr, SocketAddr) {
    for _ in 0..64 {
        let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let other = SocketAddr::from(([127, 0, 0, 2], port));
        let free =
            std::net::TcpListener::bind(other).is_ok() && std::net::UdpSocket::bind(other).is_ok();
        if free {
            return (SocketAddr::from(([127, 0, 0, 1], port)), other);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

fn go_alive(go: &GoNode, names: &[&str]) -> Vec<Member> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    go.wait_members(
        |ms| {
            names
                .iter()
                .all(|n| ms.iter().any(|m| &m.name == n && m.state == "alive"))
        },
        WAIT,
    )
    .unwrap()
}

fn go_msg(go: &GoNode, payload: &str) {
    go.wait_event(|e| e["event"] == "msg" && e["payload"] == payload, WAIT)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_joins_go_and_go_joins_rust() {
    let a = GoNode::spawn(GoNodeOpts::fast("go-a").meta("role=go"));
    let r = RustNode::start(
        "rust",
        RustOpts {
            meta: "role=rust",
            ..RustOpts::default()
        },
    )
    .await;
    assert_eq!(r.node.join(vec![a.addr()]).await.unwrap(), 1);
    let b = GoNode::spawn(GoNodeOpts::fast("go-b").join(r.addr()));
    r.wait_alive(&["go-a", "go-b", "rust"]).await;
    for go in [&a, &b] {
        let ms = go_alive(go, &["go-a", "go-b", "rust"]);
        let me = ms.iter().find(|m| m.name == "rust").unwrap();
        assert_eq!(me.addr, r.addr());
        assert_eq!(me.meta, "role=rust");
        assert_eq!(me.vsn, [1, 5, 2, 0, 0, 0]);
    }
    let seen = r
        .node
        .with(|m, _| m.member("go-a").map(|x| (x.meta.clone(), x.socket_addr())))
        .await
        .unwrap();
    assert_eq!(seen, Some((b"role=go".to_vec(), Some(a.addr()))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_go_and_three_rust_reach_the_same_view() {
    let g1 = GoNode::spawn(GoNodeOpts::fast("g1"));
    let r1 = RustNode::start("r1", RustOpts::default()).await;
    r1.node.join(vec![g1.addr()]).await.unwrap();
    let g2 = GoNode::spawn(GoNodeOpts::fast("g2").join(r1.addr()));
    let r2 = RustNode::start("r2", RustOpts::default()).await;
    r2.node.join(vec![g2.addr()]).await.unwrap();
    let g3 = GoNode::spawn(GoNodeOpts::fast("g3").join(r2.addr()));
    let r3 = RustNode::start("r3", RustOpts::default()).await;
    r3.node.join(vec![g3.addr()]).await.unwrap();
    let all = ["g1", "g2", "g3", "r1", "r2", "r3"];
    for r in [&r1, &r2, &r3] {
        r.wait_alive(&all).await;
    }
    for g in [&g1, &g2, &g3] {
        assert_eq!(go_alive(g, &all).len(), 6);
    }
}

/// Starts `memberlist agent` as a child process joined to `join`.
fn spawn_agent(name: &str, join: SocketAddr) -> (Child, SocketAddr) {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_port(ip);
    let rpc = free_port(ip);
    let child = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(["agent", "--name", name, "--profile", "local"])
        .arg(format!("--bind=127.0.0.1:{port}"))
        .arg(format!("--rpc-addr=127.0.0.1:{rpc}"))
        .arg(format!("--join={join}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start memberlist agent");
    (child, SocketAddr::new(ip, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_members_are_declared_dead_both_ways() {
    let a = GoNode::spawn(GoNodeOpts::fast("go-a"));
    let mut b = GoNode::spawn(GoNodeOpts::fast("go-b").join(a.addr()));
    let r = RustNode::start("rust", RustOpts::default()).await;
    r.node.join(vec![a.addr()]).await.unwrap();
    let (mut agent, agent_addr) = spawn_agent("rust-agent", a.addr());
    let guard = KillOnDrop(&mut agent);
    go_alive(&a, &["go-a", "go-b", "rust", "rust-agent"]);
    go_alive(&b, &["go-a", "go-b", "rust", "rust-agent"]);
    r.wait_alive(&["go-a", "go-b", "rust-agent"]).await;
    let seen = a
        .members()
        .into_iter()
        .find(|m| m.name == "rust-agent")
        .unwrap();
    assert_eq!(seen.addr, agent_addr);

    // SIGKILL the Rust agent process: the Go nodes (and the Rust node) declare it dead.
    drop(guard);
    a.wait_member_state("rust-agent", "dead", WAIT).unwrap();
    b.wait_member_state("rust-agent", "dead", WAIT).unwrap();
    r.wait_state("rust-agent", State::Dead).await;

    // SIGKILL a Go node: the Rust node declares it dead.
    b.kill();
    r.wait_state("go-b", State::Dead).await;
    a.wait_member_state("go-b", "dead", WAIT).unwrap();
}

struct KillOnDrop<'a>(&'a mut Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_leave_both_ways() {
    let a = GoNode::spawn(GoNodeOpts::fast("go-a"));
    let b = GoNode::spawn(GoNodeOpts::fast("go-b").join(a.addr()));
    let r = RustNode::start("rust", RustOpts::default()).await;
    let r2 = RustNode::start("rust-2", RustOpts::default()).await;
    r.node.join(vec![a.addr()]).await.unwrap();
    r2.node.join(vec![b.addr()]).await.unwrap();
    go_alive(&a, &["go-a", "go-b", "rust", "rust-2"]);
    r.wait_alive(&["go-a", "go-b", "rust-2"]).await;

    r2.node.leave(Duration::from_secs(5)).await.unwrap();
    a.wait_member_state("rust-2", "left", WAIT).unwrap();
    r.wait_state("rust-2", State::Left).await;

    b.send_cmd(json!({"cmd": "leave", "timeout_ms": 5000}))
        .unwrap();
    r.wait_state("go-b", State::Left).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_updates_and_user_messages_both_ways() {
    let a = GoNode::spawn(GoNodeOpts::fast("go-a").meta("v1"));
    let mut r = RustNode::start(
        "rust",
        RustOpts {
            meta: "v1",
            ..RustOpts::default()
        },
    )
    .await;
    r.node.join(vec![a.addr()]).await.unwrap();
    go_alive(&a, &["rust"]);

    r.node
        .update_meta(b"rust-v2".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    a.wait_members(
        |ms| ms.iter().any(|m| m.name == "rust" && m.meta == "rust-v2"),
        WAIT,
    )
    .unwrap();
    a.wait_event(|e| e["event"] == "update" && e["name"] == "rust", WAIT)
        .unwrap();
    a.send_cmd(json!({"cmd": "update-meta", "meta": "go-v2"}))
        .unwrap();
    r.wait("go-a meta go-v2", |m| {
        m.member("go-a").is_some_and(|x| x.meta == b"go-v2")
    })
    .await;

    r.node
        .with(|m, _| m.send_best_effort("go-a", b"udp from rust"))
        .await
        .unwrap()
        .unwrap();
    go_msg(&a, "udp from rust");
    r.node
        .with(|m, now| m.send_reliable(now, "go-a", b"tcp from rust"))
        .await
        .unwrap()
        .unwrap();
    go_msg(&a, "tcp from rust");

    a.send_cmd(json!({"cmd": "send", "to": "rust", "payload": "udp from go"}))
        .unwrap();
    r.wait_message(b"udp from go").await;
    a.send_cmd(json!({"cmd": "send", "to": "rust", "payload": "tcp from go", "reliable": true}))
        .unwrap();
    r.wait_message(b"tcp from go").await;
    a.send_cmd(json!({"cmd": "broadcast", "payload": "gossip from go"}))
        .unwrap();
    r.wait_message(b"gossip from go").await;
}

/// A Go node and a Rust node sharing `keys` at protocol `protocol` join, gossip and
/// exchange messages; a node without the key cannot join.
async fn encrypted_pair(keys: &[&'static str], protocol: u8) {
    let (go_bind, rust_bind) = same_port_pair();
    let mut go = GoNodeOpts::fast("go-a").protocol(protocol).bind(go_bind);
    for k in keys {
        go = go.key(k);
    }
    let a = GoNode::spawn(go);
    let mut r = RustNode::start(
        "rust",
        RustOpts {
            keys: keys.to_vec(),
            protocol: Some(protocol),
            bind: Some(rust_bind),
            ..RustOpts::default()
        },
    )
    .await;
    r.node.join(vec![a.addr()]).await.unwrap();
    go_alive(&a, &["rust"]);
    r.wait_alive(&["go-a"]).await;
    a.send_cmd(json!({"cmd": "send", "to": "rust", "payload": "secret"}))
        .unwrap();
    r.wait_message(b"secret").await;
    r.node
        .with(|m, _| m.send_best_effort("go-a", b"secret back"))
        .await
        .unwrap()
        .unwrap();
    go_msg(&a, "secret back");

    let outsider = RustNode::start("outsider", RustOpts::default()).await;
    assert!(outsider.node.join(vec![a.addr()]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_with_each_key_size_and_both_versions() {
    // Protocol 5 encrypts with version 1, protocol 1 with version 0 (padded).
    for (key, protocol) in [(KEY16, 5), (KEY24, 5), (KEY32, 5), (KEY16, 1), (KEY32, 1)] {
        encrypted_pair(&[key], protocol).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyring_rotation_while_running() {
    let a = GoNode::spawn(GoNodeOpts::fast("go-a").key(KEY16));
    let mut r = RustNode::start(
        "rust",
        RustOpts {
            keys: vec![KEY16],
            ..RustOpts::default()
        },
    )
    .await;
    r.node.join(vec![a.addr()]).await.unwrap();
    go_alive(&a, &["rust"]);

    let new = SecretKey::from_base64(KEY32).unwrap();
    let old = SecretKey::from_base64(KEY16).unwrap();
    // Install everywhere, switch everywhere, then drop the old key everywhere.
    a.send_cmd(json!({"cmd": "install-key", "key": KEY32}))
        .unwrap();
    let k = new.clone();
    r.node
        .with(move |m, _| m.keyring_mut().unwrap().add(k))
        .await
        .unwrap();
    a.send_cmd(json!({"cmd": "use-key", "key": KEY32})).unwrap();
    let k = new.clone();
    r.node
        .with(move |m, _| m.keyring_mut().unwrap().use_key(&k))
        .await
        .unwrap()
        .unwrap();
    a.send_cmd(json!({"cmd": "remove-key", "key": KEY16}))
        .unwrap();
    r.node
        .with(move |m, _| m.keyring_mut().unwrap().remove(&old))
        .await
        .unwrap()
        .unwrap();

    a.send_cmd(json!({"cmd": "send", "to": "rust", "payload": "after rotation"}))
        .unwrap();
    r.wait_message(b"after rotation").await;
    // A newcomer with only the new key joins through the Rust node.
    let b = GoNode::spawn(GoNodeOpts::fast("go-b").key(KEY32).join(r.addr()));
    go_alive(&b, &["go-a", "rust", "go-b"]);
    r.wait_alive(&["go-a", "go-b"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_that_match_join_and_labels_that_differ_do_not() {
    let a = GoNode::spawn(GoNodeOpts::fast("go-a").label("prod"));
    let r = RustNode::start(
        "rust",
        RustOpts {
            label: Some("prod"),
            ..RustOpts::default()
        },
    )
    .await;
    r.node.join(vec![a.addr()]).await.unwrap();
    go_alive(&a, &["rust"]);
    r.wait_alive(&["go-a"]).await;

    let other = RustNode::start(
        "staging",
        RustOpts {
            label: Some("staging"),
            ..RustOpts::default()
        },
    )
    .await;
    assert!(other.node.join(vec![a.addr()]).await.is_err());
    let none = RustNode::start("unlabelled", RustOpts::default()).await;
    assert!(none.node.join(vec![a.addr()]).await.is_err());
    let names: Vec<String> = a.members().into_iter().map(|m| m.name).collect();
    assert!(!names.contains(&"staging".to_string()) && !names.contains(&"unlabelled".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_nodes_at_protocol_versions_1_2_and_5() {
    for protocol in [1u8, 2, 5] {
        let (go_bind, rust_bind) = same_port_pair();
        let a = GoNode::spawn(GoNodeOpts::fast("go-a").protocol(protocol).bind(go_bind));
        let mut r = RustNode::start(
            "rust",
            RustOpts {
                bind: Some(rust_bind),
                ..RustOpts::default()
            },
        )
        .await;
        r.node.join(vec![a.addr()]).await.unwrap();
        let ms = go_alive(&a, &["rust"]);
        assert_eq!(ms.iter().find(|m| m.name == "rust").unwrap().vsn[2], 2);
        r.wait("go-a at its protocol", move |m| {
            m.member("go-a")
                .is_some_and(|x| x.state == State::Alive && x.versions.protocol_cur == protocol)
        })
        .await;
        a.send_cmd(json!({"cmd": "send", "to": "rust", "payload": format!("p{protocol}")}))
            .unwrap();
        r.wait_message(format!("p{protocol}").as_bytes()).await;
        r.node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian_serf_agent_accepts_a_rust_member() {
    serf_agent_accepts_a_rust_member(SerfBinary::Debian).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_serf_agent_accepts_a_rust_member() {
    serf_agent_accepts_a_rust_member(SerfBinary::Newest).await;
}

async fn serf_agent_accepts_a_rust_member(binary: SerfBinary) {
    let serf = SerfAgent::spawn(SerfOpts::new("serf-a").binary(binary));
    // Serf checks the delegate (Serf protocol) version range of every member: a bare
    // memberlist node (0, 0, 0) is refused, so advertise Serf's range (min 2, max 5)
    // and the version the serf agent speaks.
    let r = RustNode::start(
        "rust",
        RustOpts {
            delegate_versions: Some((2, 5, 5)),
            ..RustOpts::default()
        },
    )
    .await;
    r.node.join(vec![serf.bind_addr()]).await.unwrap();
    r.wait_alive(&["serf-a"]).await;
    let members = serf
        .wait_members(
            |ms| {
                ms.iter()
                    .any(|m| m["name"] == "rust" && m["status"] == "alive")
            },
            WAIT,
        )
        .unwrap();
    let me = members.iter().find(|m| m["name"] == "rust").unwrap();
    assert_eq!(me["port"], r.addr().port());
    // Serf marks a member "left" only after its own leave intent, which the Serf
    // layer sends; a bare memberlist leave reaches Serf as a departure, shown "failed".
    r.node.leave(Duration::from_secs(5)).await.unwrap();
    serf.wait_members(
        |ms| {
            ms.iter()
                .any(|m| m["name"] == "rust" && m["status"] == "failed")
        },
        WAIT,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_members_join_both_ways() {
    let a = GoNode::spawn(GoNodeOpts::fast("go-a").bind("[::1]:0".parse().unwrap()));
    let r = RustNode::start(
        "rust",
        RustOpts {
            bind: Some("[::1]:0".parse().unwrap()),
            ..RustOpts::default()
        },
    )
    .await;
    r.node.join(vec![a.addr()]).await.unwrap();
    let b = GoNode::spawn(
        GoNodeOpts::fast("go-b")
            .bind("[::1]:0".parse().unwrap())
            .join(r.addr()),
    );
    r.wait_alive(&["go-a", "go-b"]).await;
    let ms = go_alive(&b, &["go-a", "go-b", "rust"]);
    assert_eq!(ms.iter().find(|m| m.name == "rust").unwrap().addr, r.addr());
}

/// Runs the `memberlist` binary and returns its exit code and stdout.
fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(args)
        .output()
        .expect("run memberlist");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn ping_and_members_peer_diagnose_a_go_node() {
    let a = GoNode::spawn(
        GoNodeOpts::fast("go-a")
            .key(KEY16)
            .label("prod")
            .meta("role=go"),
    );
    let b = GoNode::spawn(
        GoNodeOpts::fast("go-b")
            .key(KEY16)
            .label("prod")
            .join(a.addr()),
    );
    go_alive(&a, &["go-a", "go-b"]);
    let addr = a.addr().to_string();

    let (code, out) = cli(&["ping", &addr, "--key", KEY16, "--label", "prod"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("UDP ping") && out.contains("ack in"), "{out}");
    assert!(out.contains("TCP ping") && !out.contains("no ack"), "{out}");

    let (code, out) = cli(&["ping", &addr, "--key", KEY16, "--timeout", "500ms"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("expects a label (pass --label)"), "{out}");

    let (code, out) = cli(&["ping", &addr, "--label", "prod", "--timeout", "500ms"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("with --key") || out.contains("requires encryption"),
        "{out}"
    );

    let free = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (code, out) = cli(&["ping", &format!("127.0.0.1:{free}"), "--timeout", "300ms"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nothing is listening"), "{out}");

    let (code, out) = cli(&[
        "members", "--peer", &addr, "--key", KEY16, "--label", "prod", "--format", "json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"go-a") && names.contains(&"go-b"), "{out}");
    let go_a = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == "go-a")
        .unwrap();
    assert_eq!(go_a["Meta"], "role=go");
    assert_eq!(go_a["State"], "alive");
    // The peer added nobody: its list still has exactly its two members.
    assert_eq!(a.members().len(), 2);
    drop(b);
}
