//! Two Rust members in one process, over loopback sockets: the shell and the
//! machine together, before the Go interop tests.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use memberlist_interop::node::{Config, Event, EventDelegate, Memberlist, State, Transport};
use tokio::sync::mpsc::UnboundedReceiver;

fn config(name: &str) -> Config {
    let mut c = Config::local();
    c.name = name.into();
    c.bind_addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    c.bind_port = 0;
    c.probe_interval = Duration::from_millis(200);
    c.probe_timeout = Duration::from_millis(100);
    c.gossip_interval = Duration::from_millis(50);
    c
}

async fn start(name: &str) -> (Memberlist<EventDelegate>, UnboundedReceiver<Event>) {
    let c = config(name);
    let (d, rx) = EventDelegate::new(c.retransmit_mult);
    let m = Memberlist::start(c, name.as_bytes().to_vec(), d)
        .await
        .unwrap();
    (m, rx)
}

async fn wait_event(rx: &mut UnboundedReceiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = rx.recv().await.expect("events closed");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event did not come")
}

#[tokio::test]
async fn two_rust_members_join_gossip_and_leave() {
    let (a, mut a_events) = start("a").await;
    let (b, mut b_events) = start("b").await;
    assert_eq!(b.join(vec![a.local_addr()]).await.unwrap(), 1);
    wait_event(
        &mut a_events,
        |e| matches!(e, Event::Join(m) if m.name == "b"),
    )
    .await;
    wait_event(
        &mut b_events,
        |e| matches!(e, Event::Join(m) if m.name == "a"),
    )
    .await;
    assert_eq!(a.with(|m, _| m.num_members()).await.unwrap(), 2);

    b.update_meta(b"new".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    let e = wait_event(&mut a_events, |e| matches!(e, Event::Update(_))).await;
    assert!(matches!(e, Event::Update(m) if m.meta == b"new"));

    b.with(|m, _| m.send_best_effort("a", b"hello"))
        .await
        .unwrap()
        .unwrap();
    wait_event(&mut a_events, |e| *e == Event::Message(b"hello".to_vec())).await;
    b.with(|m, now| m.send_reliable(now, "a", b"over tcp"))
        .await
        .unwrap()
        .unwrap();
    wait_event(&mut a_events, |e| {
        *e == Event::Message(b"over tcp".to_vec())
    })
    .await;

    b.leave(Duration::from_secs(5)).await.unwrap();
    let e = wait_event(&mut a_events, |e| matches!(e, Event::Leave(_))).await;
    assert!(matches!(e, Event::Leave(m) if m.name == "b"));
    let state = a.with(|m, _| m.member("b").map(|b| b.state)).await.unwrap();
    assert_eq!(state, Some(memberlist_interop::node::State::Left));
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_killed_member_is_declared_dead() {
    let (a, mut a_events) = start("a").await;
    let (b, _b_events) = start("b").await;
    b.join(vec![a.local_addr()]).await.unwrap();
    wait_event(
        &mut a_events,
        |e| matches!(e, Event::Join(m) if m.name == "b"),
    )
    .await;
    b.shutdown().await.unwrap();
    let e = wait_event(&mut a_events, |e| matches!(e, Event::Leave(_))).await;
    assert!(matches!(e, Event::Leave(m) if m.name == "b"));
    let state = a.with(|m, _| m.member("b").map(|b| b.state)).await.unwrap();
    assert_eq!(state, Some(memberlist_interop::node::State::Dead));
}

/// On dskit's TCP-only transport two members join, probe each other (pings travel as
/// packet connections, nothing is bound on UDP) and one leaves: the other sees it leave,
/// not die.
#[tokio::test]
async fn two_rust_members_over_dskits_transport_join_and_leave() {
    let start = |name: &'static str| async move {
        let mut c = config(name);
        c.transport = Transport::Dskit;
        let (d, rx) = EventDelegate::new(c.retransmit_mult);
        let m = Memberlist::start(c, Vec::new(), d).await.unwrap();
        (m, rx)
    };
    let (a, mut a_events) = start("a").await;
    let (b, _b_events) = start("b").await;
    // dskit binds TCP only: the port is free on UDP.
    std::net::UdpSocket::bind(a.local_addr()).expect("no UDP socket on dskit's transport");
    assert_eq!(b.join(vec![a.local_addr()]).await.unwrap(), 1);
    wait_event(
        &mut a_events,
        |e| matches!(e, Event::Join(m) if m.name == "b"),
    )
    .await;
    // Probes go both ways over packet connections; a member whose acks were lost would
    // turn suspect (Lifeguard raises its health score then).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (alive, health) = a
        .with(|m, _| (m.num_members(), m.health_score()))
        .await
        .unwrap();
    assert_eq!((alive, health), (2, 0), "both alive, no missed acks");
    b.leave(Duration::from_secs(5)).await.unwrap();
    let e = wait_event(
        &mut a_events,
        |e| matches!(e, Event::Leave(m) if m.name == "b"),
    )
    .await;
    let Event::Leave(m) = e else { unreachable!() };
    assert_eq!(m.state, State::Left, "b left rather than died");
}

/// On dskit's transport a connection that is not dskit's (a plain memberlist stream) and
/// a packet connection cut inside its sender's address are counted, and the member goes
/// on.
#[tokio::test]
async fn bad_dskit_connections_are_counted() {
    use memberlist_interop::node::Counter;
    use tokio::io::AsyncWriteExt;

    let mut c = config("a");
    c.transport = Transport::Dskit;
    let (d, _rx) = EventDelegate::new(c.retransmit_mult);
    let a = Memberlist::start(c, Vec::new(), d).await.unwrap();
    for bytes in [&[6u8, 0x81][..], &[1, 40, b'1', b'2']] {
        let mut conn = tokio::net::TcpStream::connect(a.local_addr())
            .await
            .unwrap();
        conn.write_all(bytes).await.unwrap();
        conn.shutdown().await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let counts = a
                .with(|m, _| {
                    (
                        m.stats().get(Counter::BadStreams),
                        m.stats().get(Counter::BadPackets),
                    )
                })
                .await
                .unwrap();
            if counts == (1, 1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("one bad stream and one bad packet counted");
    assert_eq!(a.with(|m, _| m.num_members()).await.unwrap(), 1);
}
