//! Our `memberlist agent --serf` as a client member of a real Consul datacenter's LAN
//! pool. Consul takes minutes to build, so `.ci/run` neither builds it nor runs these
//! (they are ignored); run them with
//! `scripts/build-consul && cargo test --test consul_member -- --ignored`.
//!
//! A Consul server checks each member it merges, then its leader registers every live
//! `role=node` member in the catalog with a `serfHealth` check. So our agent, carrying
//! the tags [`ConsulClient`] builds, must be listed alive by the server, registered in
//! the catalog under its node ID with a passing check, and deregistered when it leaves;
//! in an encrypted pool it must follow `consul keyring` rotations. And a capture of the
//! pool reads the server's and our client's tags as Consul's, in `decode` and `explain`.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use memberlist_interop::serf::consul::{ConsulClient, SERF_PROTOCOL};
use support::conform::conform;
use support::consul::{ConsulAgent, ConsulOpts};
use support::process::{run_bounded, wait_bounded};
use support::rust_serf::{RustSerfAgent, WAIT};
use support::tcpdump::Recording;

/// Gossip keys of the size `consul keygen` makes.
const KEY1: &str = "5K9OtfP7efFrNKe5WCQvXvnaXJ5cWP0SvXiwe0kkjM4=";
const KEY2: &str = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=";

/// A tags object (Consul's rows: `Tags`, our agent's: `tags`) as strings.
fn tags_of(tags: &Value) -> BTreeMap<String, String> {
    tags.as_object()
        .expect("a tags object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string tag").to_owned()))
        .collect()
}

/// What `ConsulClient::tags` produces, as strings.
fn our_tags(client: &ConsulClient) -> BTreeMap<String, String> {
    client
        .tags()
        .iter()
        .map(|(k, v)| {
            let s = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8 tag");
            (s(k.as_bytes()), s(v.as_bytes()))
        })
        .collect()
}

/// Starts our agent joined to `join`, with Consul's tags from `args` (`--consul-client
/// DC` or explicit `--tag`s).
fn spawn(name: &str, join: SocketAddr, args: &[String]) -> RustSerfAgent {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    RustSerfAgent::spawn(name, join, &args)
}

/// The row of `name` in the first member-join event our agent prints for it.
fn member_row(agent: &RustSerfAgent, name: &str) -> Value {
    let e = agent
        .wait_event(|e| {
            e["event"] == "member-join"
                && e["members"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["name"] == name))
        })
        .unwrap_or_else(|e| panic!("our agent never listed {name}: {e}"));
    let ms = e["members"].as_array().expect("checked");
    ms.iter()
        .find(|m| m["name"] == name)
        .cloned()
        .expect("found")
}

/// A real Consul client's tags are exactly what `ConsulClient` builds for the same
/// datacenter, node ID and build: as the server reports them (Go's decoding) and as our
/// agent reports them (our codec's decoding of the client's node meta).
#[test]
#[ignore = "needs Consul: scripts/build-consul, then -- --ignored"]
fn consul_client_tags_match_a_real_consul_client() {
    let server = ConsulAgent::spawn(ConsulOpts::server("srv1"));
    let id = "0b5e2f0c-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    let _client =
        ConsulAgent::spawn(ConsulOpts::client("cli1", server.serf_lan_addr()).node_id(id));
    let row = server
        .wait_member("cli1", |m| m["Status"] == 1, WAIT)
        .unwrap();
    let real = tags_of(&row["Tags"]);
    let want = our_tags(
        &ConsulClient::new("dc1", &real["build"])
            .unwrap()
            .node_id(id)
            .unwrap(),
    );
    assert_eq!(want, real);
    assert_eq!(row["DelegateCur"], SERF_PROTOCOL);

    let mut args = vec![format!("--protocol-serf={SERF_PROTOCOL}")];
    for (k, v) in our_tags(&ConsulClient::new("dc1", &real["build"]).unwrap()) {
        args.push(format!("--tag={k}={v}"));
    }
    let agent = spawn("rust1", server.serf_lan_addr(), &args);
    let cli1 = member_row(&agent, "cli1");
    assert_eq!(tags_of(&cli1["tags"]), want);
}

/// The server's LAN merge check refuses a client of another datacenter: it is never
/// listed. (Our agent has no merge check of its own, so, like a plain Go Serf member,
/// it still takes the server's state and reports the join.)
#[test]
#[ignore = "needs Consul: scripts/build-consul, then -- --ignored"]
fn consul_server_refuses_a_client_of_another_datacenter() {
    let server = ConsulAgent::spawn(ConsulOpts::server("srv1"));
    let _agent = spawn(
        "rust2",
        server.serf_lan_addr(),
        &["--consul-client=dc2".to_owned()],
    );
    server
        .wait_log("Member 'rust2' part of wrong datacenter 'dc2'", WAIT)
        .unwrap();
    let members = server.members().unwrap();
    assert!(members.iter().all(|m| m["Name"] != "rust2"), "{members:?}");
}

#[test]
#[ignore = "needs Consul: scripts/build-consul, then -- --ignored"]
fn rust_agent_joins_a_consul_lan_pool_as_a_client() {
    let server = ConsulAgent::spawn(ConsulOpts::server("srv1"));
    let build = tags_of(&server.members().unwrap()[0]["Tags"])["build"].clone();
    let mut agent = spawn(
        "rust1",
        server.serf_lan_addr(),
        &[
            "--consul-client=dc1".to_owned(),
            format!("--tag=build={build}"),
        ],
    );
    let mine = tags_of(&member_row(&agent, "rust1")["tags"]);
    let id = mine["id"].clone();
    assert_eq!(
        mine,
        our_tags(
            &ConsulClient::new("dc1", &build)
                .unwrap()
                .node_id(&id)
                .unwrap()
        )
    );

    let row = server
        .wait_member("rust1", |m| m["Status"] == 1, WAIT)
        .unwrap();
    assert_eq!(tags_of(&row["Tags"]), mine);
    assert_eq!(row["DelegateCur"], SERF_PROTOCOL);
    // The leader registers a live client in the catalog under its node ID, with
    // Consul's serfHealth check passing.
    let nodes = server
        .wait_get(
            "/v1/catalog/nodes",
            |v| {
                v.as_array()
                    .is_some_and(|ns| ns.iter().any(|n| n["Node"] == "rust1"))
            },
            WAIT,
        )
        .unwrap();
    let node = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["Node"] == "rust1")
        .unwrap();
    assert_eq!(node["ID"], id.as_str());
    assert_eq!(node["Address"], "127.0.0.1");
    wait_serf_health(&server, "rust1", "passing");
    // Our agent sees the server with its server tags.
    assert_eq!(member_row(&agent, "srv1")["tags"]["role"], "consul");

    // A graceful leave: the server marks it left and the leader deregisters it.
    // SIGTERM: a graceful Serf leave, then exit.
    agent.signal(libc::SIGTERM);
    let status = wait_bounded(&mut agent.child, WAIT).expect("agent exits after SIGTERM");
    assert!(status.success(), "agent exit: {status}");
    server
        .wait_member("rust1", |m| m["Status"] == 3, WAIT)
        .unwrap();
    server
        .wait_get(
            "/v1/catalog/nodes",
            |v| {
                v.as_array()
                    .is_some_and(|ns| ns.iter().all(|n| n["Node"] != "rust1"))
            },
            WAIT,
        )
        .unwrap();
}

/// The LAN pool's entry of `/v1/operator/keyring`: how many members answered, and each
/// key with the number of members holding it.
fn lan_keyring(server: &ConsulAgent) -> (u64, BTreeMap<String, u64>) {
    let pools = server.get("/v1/operator/keyring").unwrap();
    let lan = pools
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["WAN"] == false))
        .unwrap_or_else(|| panic!("no LAN pool in {pools}"));
    let keys = lan["Keys"]
        .as_object()
        .expect("Keys")
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().expect("count")))
        .collect();
    (lan["NumNodes"].as_u64().expect("NumNodes"), keys)
}

/// In an encrypted pool, `consul keyring` rotates our agent's keyring through Serf's key
/// queries (our agent answers each), gossip keeps flowing under the new key only, and a
/// SIGKILLed agent is declared failed with its `serfHealth` check critical.
#[test]
#[ignore = "needs Consul: scripts/build-consul, then -- --ignored"]
fn rust_agent_follows_consul_keyring_rotation_and_its_failure_is_detected() {
    let server = ConsulAgent::spawn(ConsulOpts::server("srv1").encrypt(KEY1));
    let with_key = |k: &str| ["--consul-client=dc1".to_owned(), format!("--key={k}")];
    let mut first = spawn("rust1", server.serf_lan_addr(), &with_key(KEY1));
    server
        .wait_member("rust1", |m| m["Status"] == 1, WAIT)
        .unwrap();

    server
        .cli("keyring", &[&format!("-install={KEY2}")])
        .unwrap();
    let both = [(KEY1.to_owned(), 2), (KEY2.to_owned(), 2)].into();
    assert_eq!(lan_keyring(&server), (2, both));
    server.cli("keyring", &[&format!("-use={KEY2}")]).unwrap();
    server
        .cli("keyring", &[&format!("-remove={KEY1}")])
        .unwrap();
    assert_eq!(lan_keyring(&server), (2, [(KEY2.to_owned(), 2)].into()));

    // A member that knows only the new key joins through the server, and our first
    // agent hears of it by gossip.
    let _second = spawn("rust2", server.serf_lan_addr(), &with_key(KEY2));
    member_row(&first, "rust2");

    first.child.kill().unwrap();
    first.child.wait().unwrap();
    server
        .wait_member("rust1", |m| m["Status"] == 4, WAIT)
        .unwrap();
    wait_serf_health(&server, "rust1", "critical");
}

/// `memberlist conform --serf` passes every check against a Consul server's LAN pool,
/// plain and encrypted, and the server lists the temporary member as left afterwards
/// (a member with no `role` tag is neither a client nor a server to Consul, so its
/// merge check lets it in and the catalog never sees it).
#[test]
#[ignore = "needs Consul: scripts/build-consul, then -- --ignored"]
fn conform_passes_against_a_consul_server() {
    for key in [None, Some(KEY1)] {
        let mut opts = ConsulOpts::server("srv1");
        if let Some(k) = key {
            opts = opts.encrypt(k);
        }
        let server = ConsulAgent::spawn(opts);
        let mut args = vec!["--serf"];
        if let Some(k) = key {
            args.extend(["--key", k]);
        }
        let run = conform(server.serf_lan_addr(), &args);
        assert_eq!(run.exit, Some(0), "key {key:?}: {}", run.explain());
        for (id, outcome) in run.outcomes() {
            let want = if id == "encryption" && key.is_none() {
                "n/a"
            } else {
                "pass"
            };
            assert_eq!(outcome, want, "{id} (key {key:?}): {}", run.explain());
        }
        assert!(
            run.detail("serf-tags").contains("role=consul"),
            "{}",
            run.explain()
        );
        let temporary_left = |m: &Value| {
            m["Name"]
                .as_str()
                .is_some_and(|n| n.starts_with("conform-"))
                && m["Status"] == 3
        };
        server
            .wait_get(
                "/v1/agent/members",
                |v| v.as_array().is_some_and(|ms| ms.iter().any(temporary_left)),
                WAIT,
            )
            .unwrap_or_else(|e| panic!("key {key:?}: temporary member not left: {e}"));
    }
}

/// Waits until the server's `serfHealth` check of `node` has `status`.
fn wait_serf_health(server: &ConsulAgent, node: &str, status: &str) {
    server
        .wait_get(
            &format!("/v1/health/node/{node}"),
            |v| {
                v.as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["CheckID"] == "serfHealth" && c["Status"] == status)
                })
            },
            WAIT,
        )
        .unwrap();
}

/// Consul's tags read for a person, from a capture of a real Consul server's LAN pool
/// while our client joins: `decode` gives each member's reading beside its tags (JSON
/// `product`/`products`, and text), and `explain` per member, each agreeing with the tags
/// the server reports through its API.
#[test]
#[ignore = "needs Consul: scripts/build-consul, then -- --ignored"]
fn consul_tags_are_explained_in_decode_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let server = ConsulAgent::spawn(ConsulOpts::server("srv1"));
    let lan = server.serf_lan_addr();
    let capture = Recording::start(
        &dir.path().join("consul.pcap"),
        &format!("port {}", lan.port()),
    );
    let theirs = tags_of(&server.members().unwrap()[0]["Tags"]);
    let _agent = spawn(
        "rust1",
        lan,
        &[
            "--consul-client=dc1".to_owned(),
            format!("--tag=build={}", theirs["build"]),
        ],
    );
    server
        .wait_member("rust1", |m| m["Status"] == 1, WAIT)
        .unwrap();
    // A push/pull or two and the join's broadcasts go by.
    std::thread::sleep(Duration::from_secs(3));
    let pcap = capture.stop();

    let memberlist = |args: &[&str]| {
        let out = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_memberlist"))
                .args(args)
                .arg(&pcap),
            Duration::from_secs(60),
        )
        .expect("memberlist runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let rows: Vec<Value> = memberlist(&["decode", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let readings: Vec<(String, Value)> = rows
        .iter()
        .filter_map(|r| r.get("serf"))
        .flat_map(|s| {
            let one = s.get("product").map(|p| (String::new(), p.clone()));
            let many = s["products"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(n, p)| (n.clone(), p.clone()));
            one.into_iter().chain(many).collect::<Vec<_>>()
        })
        .collect();
    let of = |node: &str, role: &str| {
        readings
            .iter()
            .find(|(n, p)| n == node && p["role"] == role)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("a {role} reading of {node}: {readings:?}"))
    };
    let srv = of("srv1", "server");
    let num = |t: &str| theirs[t].parse::<u64>().unwrap();
    assert_eq!(srv["product"], "consul");
    assert_eq!(srv["datacenter"], theirs["dc"].as_str());
    assert_eq!(srv["node_id"], theirs["id"].as_str());
    assert_eq!(srv["rpc_port"], num("port"));
    assert_eq!(srv["protocol"], num("vsn"));
    assert_eq!(srv["raft_protocol"], num("raft_vsn"));
    assert_eq!(srv["version"], theirs["build"].split(':').next().unwrap());
    assert!(srv.get("problems").is_none(), "{srv}");
    let client = of("rust1", "client");
    assert_eq!(client["datacenter"], "dc1");
    assert!(client.get("problems").is_none(), "{client}");

    let text = memberlist(&["decode"]);
    assert!(text.contains("Consul server of datacenter dc1"), "{text}");
    assert!(text.contains("Consul client of datacenter dc1"), "{text}");

    let report: Value =
        serde_json::from_str(&memberlist(&["explain", "--format", "json"])).unwrap();
    let member = |name: &str| {
        report["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("explain lists {name}: {report}"))
    };
    assert_eq!(member("srv1")["product"]["rpc_port"], num("port"));
    assert_eq!(member("rust1")["product"]["role"], "client");
    let text = memberlist(&["explain"]);
    assert!(
        text.contains("  Consul server of datacenter dc1, Consul "),
        "{text}"
    );
}
