//! The library's handle API, as an application embedding a member uses it, against
//! real peers on loopback: a Go memberlist v0.7.0 node (`interop/cmd/gonode`) for
//! `node::Builder` / `Memberlist`, and a `serf` agent (Debian's 0.9.4 and serf
//! v0.11.0) for `serf::Builder` / `Serf` (members, events, user events, a query's
//! answer stream, key rotation).
//! Every wait is bounded; every process is killed when its handle drops.

mod support;

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use serde_json::json;

use memberlist_interop::node::{self, Event, RuntimeError, State};
use memberlist_interop::serf::{
    self, MemberEventKind, MemberStatus, QueryAnswer, QueryParams, SerfEvent, ShellError,
};
use memberlist_interop::wire::{Keyring, SecretKey};
use support::gonode::{GoNode, GoNodeOpts};
use support::serf::{SerfAgent, SerfBinary, SerfOpts};

const WAIT: Duration = Duration::from_secs(20);
const K1: &str = "EBESExQVFhcYGRobHB0eHw==";
const K2: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A blocking harness call, off the runtime's worker so the members keep running.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

/// Runs `fut` for at most `WAIT`, naming what was awaited on timeout.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// Reads `stream` (through its `futures_core::Stream` impl, as a `StreamExt` user
/// would) until an item satisfies `pred`; panics with what was seen instead.
async fn wait_for<S: Stream + Unpin>(
    what: &str,
    stream: &mut S,
    pred: impl Fn(&S::Item) -> bool,
) -> S::Item
where
    S::Item: std::fmt::Debug,
{
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(item) = poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await {
            if pred(&item) {
                return Some(item);
            }
            seen.push(item);
        }
        None
    })
    .await;
    match found {
        Ok(Some(item)) => item,
        Ok(None) => panic!("stream ended before {what}; saw {seen:?}"),
        Err(_) => panic!("no {what} within {WAIT:?}; saw {seen:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberlist_handle_against_a_go_node() {
    let go1 = blocking(|| GoNode::spawn(GoNodeOpts::fast("go-1").meta("role=go")));
    let (node, mut events) = node::Builder::local("rust-1")
        .bind(loopback())
        .meta(b"role=rust".to_vec())
        .configure(|c| {
            c.probe_interval = Duration::from_millis(200);
            c.gossip_interval = Duration::from_millis(50);
        })
        .start()
        .await
        .unwrap();

    // A join that reaches nobody is a typed error naming the peer.
    let dead = SocketAddr::from(([127, 0, 0, 1], support::process::free_port(loopback().ip())));
    match bounded("a failed join", node.join(vec![dead])).await {
        Err(RuntimeError::Join(e)) => {
            assert_eq!((e.attempted, e.errors.len()), (1, 1), "{e}");
            assert!(e.to_string().contains("joined none of 1"), "{e}");
            assert!(e.errors[0].contains(&dead.to_string()), "{e}");
        }
        other => panic!("join of {dead}: {other:?}"),
    }

    assert_eq!(
        bounded("join", node.join(vec![go1.addr()])).await.unwrap(),
        1
    );
    let joined = wait_for(
        "a join event for go-1",
        &mut events,
        |e| matches!(e, Event::Join(m) if m.name == "go-1"),
    )
    .await;
    let Event::Join(go_member) = joined else {
        unreachable!()
    };
    assert_eq!(go_member.socket_addr(), Some(go1.addr()));
    assert_eq!(go_member.meta, b"role=go");

    // members(), local_member(), num_members(), health_score().
    let mut names: Vec<_> = node
        .members()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.state, m.meta))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [
            ("go-1".to_owned(), State::Alive, b"role=go".to_vec()),
            ("rust-1".to_owned(), State::Alive, b"role=rust".to_vec()),
        ]
    );
    let me = node.local_member().await.unwrap();
    assert_eq!(
        (me.name.as_str(), me.socket_addr()),
        ("rust-1", Some(node.local_addr()))
    );
    assert_eq!(node.num_members().await.unwrap(), 2);
    let score = node.health_score().await.unwrap();
    assert!(
        score < node::Config::local().awareness_max_multiplier,
        "{score}"
    );
    // The Go node lists us with our meta.
    let seen = blocking(|| go1.wait_member_state("rust-1", "alive", WAIT)).unwrap();
    assert_eq!(
        (seen.addr, seen.meta.as_str()),
        (node.local_addr(), "role=rust")
    );

    // Messages both ways: UDP, TCP and a gossiped broadcast.
    node.send_best_effort("go-1", b"udp-from-rust".to_vec())
        .await
        .unwrap();
    node.send_reliable("go-1", b"tcp-from-rust".to_vec())
        .await
        .unwrap();
    node.broadcast(b"gossip-from-rust".to_vec()).await.unwrap();
    for text in ["udp-from-rust", "tcp-from-rust", "gossip-from-rust"] {
        blocking(|| go1.wait_event(|e| e["event"] == "msg" && e["payload"] == text, WAIT)).unwrap();
    }
    assert!(matches!(
        node.send_best_effort("nobody", b"x".to_vec()).await,
        Err(RuntimeError::Node(node::NodeError::UnknownMember(n))) if n == "nobody"
    ));
    blocking(|| {
        go1.send_cmd(json!({"cmd": "send", "to": "rust-1", "payload": "udp-from-go"}))
            .unwrap()
    });
    wait_for("Go's message", &mut events, |e| {
        *e == Event::Message(b"udp-from-go".to_vec())
    })
    .await;

    // A second Go node: its join and its graceful leave come out of the stream.
    let go2 = blocking(|| GoNode::spawn(GoNodeOpts::fast("go-2").join(go1.addr())));
    wait_for(
        "a join event for go-2",
        &mut events,
        |e| matches!(e, Event::Join(m) if m.name == "go-2"),
    )
    .await;
    blocking(|| {
        go2.send_cmd(json!({"cmd": "leave", "timeout_ms": 3000}))
            .unwrap()
    });
    let left = wait_for(
        "a leave event for go-2",
        &mut events,
        |e| matches!(e, Event::Leave(m) if m.name == "go-2"),
    )
    .await;
    assert!(matches!(left, Event::Leave(m) if m.state == State::Left));
    assert_eq!(node.num_members().await.unwrap(), 2);

    // Without a keyring, key operations say so.
    let key = SecretKey::from_base64(K1).unwrap();
    assert!(matches!(
        node.install_key(key).await,
        Err(RuntimeError::NoKeyring)
    ));

    // Leave, then shutdown: Go sees us left, the stream ends, the handle refuses.
    bounded("leave", node.leave(Duration::from_secs(3)))
        .await
        .unwrap();
    blocking(|| go1.wait_member_state("rust-1", "left", WAIT)).unwrap();
    node.shutdown().await.unwrap();
    bounded("the end of the event stream", async {
        while events.next().await.is_some() {}
    })
    .await;
    assert!(matches!(node.members().await, Err(RuntimeError::Shutdown)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serf_handle_against_the_debian_serf_agent() {
    serf_handle_against(SerfBinary::Debian).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serf_handle_against_the_newest_serf_agent() {
    serf_handle_against(SerfBinary::Newest).await;
}

async fn serf_handle_against(binary: SerfBinary) {
    let agent = blocking(|| {
        SerfAgent::spawn(
            SerfOpts::new("serf-1")
                .binary(binary)
                .encrypt(K1)
                .tag("role", "db")
                .event_handler("query:greet=echo pong-from-serf"),
        )
    });
    let (k1, k2) = (
        SecretKey::from_base64(K1).unwrap(),
        SecretKey::from_base64(K2).unwrap(),
    );
    let (serf, mut events) = serf::Builder::new(
        node::Builder::local("rust-1")
            .bind(loopback())
            .keyring(Keyring::new(k1.clone())),
    )
    .tag("role", "web")
    .start()
    .await
    .unwrap();

    assert_eq!(
        bounded("join", serf.join(vec![agent.bind_addr()]))
            .await
            .unwrap(),
        1
    );
    wait_for(
        "a member-join for serf-1",
        &mut events,
        |e| matches!(e, SerfEvent::Member { kind: MemberEventKind::Join, member } if member.name == "serf-1"),
    )
    .await;

    let members = serf.members().await.unwrap();
    let theirs = members.iter().find(|m| m.name == "serf-1").unwrap();
    assert_eq!(
        (theirs.status, theirs.tags.get("role").map(String::as_str)),
        (MemberStatus::Alive, Some("db"))
    );
    assert_eq!(theirs.port, agent.bind_addr().port());
    let me = serf.local_member().await.unwrap();
    assert_eq!(
        (me.name.as_str(), me.tags.get("role").map(String::as_str)),
        ("rust-1", Some("web"))
    );
    assert_eq!(serf.num_members().await.unwrap(), 2);
    blocking(|| {
        agent.wait_members(
            |ms| {
                ms.iter().any(|m| {
                    m["name"] == "rust-1" && m["status"] == "alive" && m["tags"]["role"] == "web"
                })
            },
            WAIT,
        )
    })
    .unwrap();

    // User events both ways.
    blocking(|| agent.event("from-serf", "hi-rust")).unwrap();
    wait_for(
        "serf's user event",
        &mut events,
        |e| matches!(e, SerfEvent::User { name, payload, .. } if name == "from-serf" && payload.as_deref() == Some(b"hi-rust")),
    )
    .await;
    serf.user_event("from-rust".into(), b"hi-serf".to_vec(), false)
        .await
        .unwrap();
    blocking(|| {
        let deadline = std::time::Instant::now() + WAIT;
        while !agent.log().iter().any(|l| l.contains("from-rust")) {
            assert!(
                std::time::Instant::now() < deadline,
                "serf agent never logged our event: {:?}",
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });

    // A query: the answers stream in (acks from both, serf's handler's response and
    // ours, sent when the query reaches our own event stream), then the stream ends.
    let mut answers = serf
        .query_stream(
            "greet".into(),
            b"who".to_vec(),
            QueryParams {
                request_ack: true,
                timeout: Some(Duration::from_secs(3)),
                ..QueryParams::default()
            },
        )
        .await
        .unwrap();
    let (ltime, id) = (answers.ltime(), answers.id());
    let asked = wait_for(
        "our own query event",
        &mut events,
        |e| matches!(e, SerfEvent::Query { id: i, .. } if *i == id),
    )
    .await;
    assert!(
        matches!(&asked, SerfEvent::Query { name, payload, from, .. } if name == "greet" && payload.as_deref() == Some(b"who") && from == "rust-1"),
        "{asked:?}"
    );
    serf.respond(ltime, id, b"pong-from-rust".to_vec())
        .await
        .unwrap();
    let mut got = Vec::new();
    bounded("the query's deadline", async {
        while let Some(a) = answers.next().await {
            got.push(a);
        }
    })
    .await;
    got.sort_by_key(|a| format!("{a:?}"));
    assert_eq!(
        got,
        [
            QueryAnswer::Ack {
                from: "rust-1".into()
            },
            QueryAnswer::Ack {
                from: "serf-1".into()
            },
            QueryAnswer::Response {
                from: "rust-1".into(),
                payload: b"pong-from-rust".to_vec()
            },
            QueryAnswer::Response {
                from: "serf-1".into(),
                payload: b"pong-from-serf\n".to_vec()
            },
        ]
    );

    // Key rotation on both members through the key manager.
    // Serf's default timeout for two members is 1.6 s; a loaded machine gets more.
    let keys = serf.key_manager().timeout(Duration::from_millis(2500));
    let installed = bounded("install", keys.install_key(k2.clone()))
        .await
        .unwrap();
    assert_eq!((installed.members, installed.answers.len()), (2, 2));
    let listed = bounded("list", keys.list_keys()).await.unwrap();
    let count =
        |report: &serf::KeyReport, k: &SecretKey| report.keys().get(&k.to_base64()).copied();
    assert_eq!(
        (count(&listed, &k1), count(&listed, &k2)),
        (Some(2), Some(2))
    );
    bounded("use", keys.use_key(k2.clone())).await.unwrap();
    let listed = bounded("list", keys.list_keys()).await.unwrap();
    assert_eq!(
        listed.primary_keys().into_iter().collect::<Vec<_>>(),
        [(k2.to_base64(), 2)]
    );
    // Removing the primary key fails on every member: a typed error with the report.
    match bounded("remove primary", keys.remove_key(k2.clone())).await {
        Err(ShellError::Keys(report)) => {
            assert_eq!(report.failures().count(), 2, "{report}");
            assert!(
                report.to_string().contains("answered by 2 of 2"),
                "{report}"
            );
        }
        other => panic!("removing the primary key: {other:?}"),
    }
    bounded("remove", keys.remove_key(k1.clone()))
        .await
        .unwrap();
    let listed = bounded("list", keys.list_keys()).await.unwrap();
    assert_eq!(
        listed.keys().into_iter().collect::<Vec<_>>(),
        [(k2.to_base64(), 2)]
    );
    assert_eq!(
        serf.memberlist().keys().await.unwrap(),
        std::slice::from_ref(&k2)
    );
    let agent_keys = blocking(|| agent.keys("list", None)).unwrap();
    assert!(
        agent_keys.contains(K2) && !agent_keys.contains(K1),
        "{agent_keys}"
    );

    // The agent leaves: its member-leave comes out of the stream.
    blocking(|| agent.leave()).unwrap();
    wait_for(
        "a member-leave for serf-1",
        &mut events,
        |e| matches!(e, SerfEvent::Member { kind: MemberEventKind::Leave, member } if member.name == "serf-1"),
    )
    .await;

    serf.shutdown().await.unwrap();
    bounded("the end of the event stream", async {
        while events.next().await.is_some() {}
    })
    .await;
}
