//! The inspector finds Serf inside memberlist: captures built from the Go-produced
//! Serf fixtures (`fixtures/serf`) wrapped the way memberlist carries them (user
//! messages in a compound packet, tags in alive and push/pull metas, a coordinate in an
//! ack payload, Serf's state as the push/pull user state), next to non-Serf payloads
//! that must keep their raw bytes.

mod support;

use std::borrow::Cow;
use std::time::Duration;

use etherparse::PacketBuilder;
use memberlist_interop::wire::{
    compound, AckResp, Alive, Message, NodeState, PushNodeState, PushPullHeader,
};
use pcap_file::pcap::{PcapPacket, PcapWriter};
use serde_json::{json, Value};
use support::decode::decode_capture;

fn serf_fixture(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/serf");
    std::fs::read(dir.join(format!("{name}.bin"))).unwrap()
}

fn user(serf: &[u8]) -> Vec<u8> {
    [&[8u8][..], serf].concat()
}

fn alive(node: &str, meta: &[u8]) -> Vec<u8> {
    Message::Alive(Alive {
        incarnation: 1,
        node: node.to_string().into(),
        addr: Some(Cow::Owned(vec![127, 0, 0, 1])),
        port: 7946,
        meta: Some(Cow::Owned(meta.to_vec())),
        vsn: Some(Cow::Owned(vec![1, 5, 2, 2, 5, 4])),
    })
    .to_bytes()
}

fn frame(
    proto_tcp: Option<(u32, bool, bool)>,
    src: [u8; 4],
    sport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let (dst, dport) = if sport == 7946 {
        ([127, 0, 0, 2], 50000)
    } else {
        ([127, 0, 0, 1], 7946)
    };
    let ip = PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4(src, dst, 64);
    let mut out = Vec::new();
    match proto_tcp {
        None => ip.udp(sport, dport).write(&mut out, payload).unwrap(),
        Some((seq, syn, fin)) => {
            let mut b = ip.tcp(sport, dport, seq, 65535).ack(1);
            if syn {
                b = b.syn();
            }
            if fin {
                b = b.fin();
            }
            b.write(&mut out, payload).unwrap()
        }
    }
    out
}

fn capture() -> Vec<u8> {
    let (a, b) = ([127, 0, 0, 1], [127, 0, 0, 2]);
    let parts = [
        alive("n1", &serf_fixture("tags_two")),
        alive("plain", b"web"),
        user(&serf_fixture("user_event")),
        user(&serf_fixture("query_internal_serf_install_key")),
        user(&serf_fixture("relay_ack")),
        user(b"hello from an application"),
    ];
    let mut gossip = Vec::new();
    compound::encode(&parts, &mut gossip).unwrap();
    let ack = Message::AckResp(AckResp {
        seq_no: 9,
        payload: Some(Cow::Owned(serf_fixture("ping_payload_fresh"))),
    })
    .to_bytes();
    // A push/pull whose node carries tags and whose user state is Serf's.
    let state = serf_fixture("push_pull_busy");
    let mut pp = vec![6];
    PushPullHeader {
        nodes: memberlist_interop::wire::GoInt::new(1),
        user_state_len: memberlist_interop::wire::GoInt::new(state.len() as i64),
        join: true,
    }
    .encode(&mut pp);
    PushNodeState {
        name: "n2".into(),
        addr: Some(Cow::Owned(vec![127, 0, 0, 2])),
        port: 7946,
        meta: Some(Cow::Owned(serf_fixture("tags_role"))),
        incarnation: 1,
        state: NodeState::Alive,
        vsn: Some(Cow::Owned(vec![1, 5, 2, 2, 5, 4])),
    }
    .encode(&mut pp);
    pp.extend_from_slice(&state);
    let frames = [
        frame(None, b, 50000, &gossip),
        frame(None, a, 7946, &ack),
        frame(Some((1000, true, false)), b, 50000, b""),
        frame(Some((1001, false, true)), b, 50000, &pp),
    ];
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::from_secs(1_700_000_000 + i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    w.into_writer()
}

fn decode(args: &[&str]) -> String {
    let out = decode_capture(&capture(), args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn serf_payloads_are_decoded_and_others_left_raw() {
    let rows: Vec<Value> = decode(&["--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let serf: Vec<&Value> = rows.iter().map(|r| &r["serf"]).collect();
    assert_eq!(rows.len(), 8, "{rows:#?}");
    // `role=node` is a Consul client's: its reading comes beside the tags.
    assert_eq!(
        serf[0],
        &json!({"tags": {"dc": "dc1", "role": "node"},
                "product": {"product": "consul", "role": "client", "datacenter": "dc1"}})
    );
    // A meta without Serf's magic byte is not taken for tags.
    assert_eq!(serf[1], &Value::Null);
    assert_eq!(
        serf[2],
        &json!({"type": "user_event",
                "fields": {"LTime": 3, "Name": "deploy", "Payload": "v1.2.3", "CC": true}})
    );
    let q = &serf[3]["fields"];
    assert_eq!(serf[3]["type"], "query");
    assert_eq!(q["Name"], "_serf_install-key");
    assert_eq!(q["Addr"], "127.0.0.1");
    // Go sends a nil filter list when there are no filters.
    assert_eq!(q["Filters"], Value::Null);
    assert_eq!(q["Payload"]["type"], "key_request");
    assert_eq!(
        q["Payload"]["fields"]["Key"],
        hex::encode((1..=32).collect::<Vec<u8>>())
    );
    let relay = &serf[4]["fields"];
    assert_eq!(
        relay["DestAddr"],
        json!({"IP": "127.0.0.1", "Port": 7946, "Zone": ""})
    );
    assert_eq!(relay["Message"]["type"], "query_response");
    assert_eq!(relay["Message"]["fields"]["From"], "n2");
    // An application's own user message keeps its raw bytes only.
    assert_eq!(serf[5], &Value::Null);
    assert_eq!(rows[5]["payload"], hex::encode("hello from an application"));
    assert_eq!(serf[6]["coordinate"]["Error"], 1.5);
    assert_eq!(serf[6]["coordinate"]["Vec"].as_array().unwrap().len(), 8);
    let pp = serf[7];
    assert_eq!(pp["type"], "push_pull");
    assert_eq!(pp["tags"], json!({"n2": {"role": "web"}}));
    assert_eq!(pp["fields"]["LeftMembers"], json!(["gone"]));
    assert_eq!(pp["fields"]["StatusLTimes"]["n3"], 7);
    // Only the used event slots are shown.
    assert_eq!(pp["fields"]["Events"].as_array().unwrap().len(), 2);
    assert_eq!(pp["fields"]["Events"][0]["Events"][0]["Payload"], "v1.2.3");
}

#[test]
fn text_lines_and_summary() {
    let text = decode(&[]);
    assert!(
        text.contains(r#" user serf user_event deploy ltime=3 payload="v1.2.3" cc"#),
        "{text}"
    );
    assert!(text.contains("serf tags=dc=dc1,role=node"), "{text}");
    assert!(
        text.contains("user serf relay to=n1 serf query_response ack"),
        "{text}"
    );
    assert!(text.contains("serf coordinate error=1.5"), "{text}");
    assert!(text.contains("payload=68656c6c6f"), "{text}");
    let summary: Value = serde_json::from_str(&decode(&["--summary", "--format", "json"])).unwrap();
    assert_eq!(
        summary["serf_messages_by_type"],
        json!({"user_event": 1, "query": 1, "relay": 1, "push_pull": 1})
    );
}
