//! The inspector on captures built from Go-produced fixtures: UDP datagrams and TCP
//! streams split into reordered, retransmitted segments, in pcap and pcapng, on
//! Ethernet, Linux SLL and raw IP; and damaged captures.

mod support;

use std::borrow::Cow;
use std::process::Command;
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use serde_json::Value;
use support::decode::decode_capture;

fn fixture(name: &str) -> (Vec<u8>, Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let bin = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
    (
        bin,
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap(),
    )
}

const A: [u8; 4] = [127, 0, 0, 1];
const B: [u8; 4] = [127, 0, 0, 2];

fn udp(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .udp(40000, 7946);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

#[allow(clippy::too_many_arguments)] // one argument per TCP header field the test varies
fn tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 65535);
    if syn {
        b = b.syn();
    }
    if ack {
        b = b.ack(1);
    }
    if fin {
        b = b.fin();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// A TCP conversation: handshake, the dialer's bytes in 3 segments sent out of order
/// with a retransmission, the acceptor's reply, FINs.
fn conversation(request: &[u8], reply: &[u8]) -> Vec<Vec<u8>> {
    let (c, s) = (50000u16, 7946u16);
    let third = request.len() / 3;
    vec![
        tcp(B, c, A, s, 1000, true, false, false, b""),
        tcp(A, s, B, c, 9000, true, true, false, b""),
        tcp(
            B,
            c,
            A,
            s,
            1001 + third as u32,
            false,
            true,
            false,
            &request[third..2 * third],
        ),
        tcp(B, c, A, s, 1001, false, true, false, &request[..third]),
        tcp(B, c, A, s, 1001, false, true, false, &request[..third]),
        tcp(
            B,
            c,
            A,
            s,
            1001 + 2 * third as u32,
            false,
            true,
            true,
            &request[2 * third..],
        ),
        tcp(A, s, B, c, 9001, false, true, true, reply),
    ]
}

fn pcap(frames: &[Vec<u8>], link: DataLink) -> Vec<u8> {
    let header = PcapHeader {
        datalink: link,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::from_millis(1_700_000_000_000 + i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    w.into_writer()
}

fn run(capture: &[u8], args: &[&str]) -> (Vec<Value>, i32, String) {
    let out = decode_capture(capture, &[&["--format", "json"], args].concat());
    let rows = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        rows,
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn udp_and_tcp_from_go_fixtures() {
    let (probe, probe_side) = fixture("packet_compound_probe");
    let (enc, enc_side) = fixture("packet_aes128_v1_label");
    let (req, req_side) = fixture("stream_pushpull_join_compressed");
    let (rep, _) = fixture("stream_ack");
    let mut frames = vec![udp(A, B, &probe), udp(B, A, &enc)];
    frames.extend(conversation(&req, &rep));
    let key = enc_side["keys"][0].as_str().unwrap();
    let (rows, code, err) = run(&pcap(&frames, DataLink::ETHERNET), &["--key", key]);
    assert_eq!(code, 0, "{err} {rows:#?}");
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "ping",
            "suspect",
            "alive",
            "alive",
            "alive",
            "push_pull",
            "ack_resp"
        ]
    );
    assert_eq!(
        rows[1]["fields"]["Node"],
        probe_side["messages"][1]["fields"]["Node"]
    );
    assert_eq!(rows[2]["key"], 0);
    assert_eq!(rows[2]["label"], "prod");
    assert_eq!(rows[2]["src"], "127.0.0.2:40000");
    assert_eq!(rows[5]["transport"], "tcp");
    assert_eq!(rows[5]["src"], "127.0.0.2:50000");
    assert_eq!(rows[5]["layers"], serde_json::json!(["compress"]));
    let names: Vec<&Value> = rows[5]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["Name"])
        .collect();
    let want: Vec<&Value> = req_side["message"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["Name"])
        .collect();
    assert_eq!(names, want);
    assert_eq!(rows[6]["src"], "127.0.0.1:7946");

    // Without the key: an error row for the encrypted packet that suggests one, exit 1.
    let capture = pcap(&frames, DataLink::ETHERNET);
    let (rows, code, _) = run(&capture, &[]);
    assert_eq!(code, 1);
    let errors: Vec<&str> = rows.iter().filter_map(|r| r["error"].as_str()).collect();
    assert_eq!(errors.len(), 1, "{rows:#?}");
    assert!(errors[0].contains("pass --key"), "{}", errors[0]);
    // With two wrong keys: the row says no key opened it, and the summary counts it.
    let wrong = [
        "--key",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "--key",
        "AQEBAQEBAQEBAQEBAQEBAQ==",
    ];
    let (rows, code, _) = run(&capture, &wrong);
    assert_eq!(code, 1);
    let errors: Vec<&str> = rows.iter().filter_map(|r| r["error"].as_str()).collect();
    assert_eq!(errors.len(), 1, "{rows:#?}");
    assert!(
        errors[0].starts_with("no key opened it (tried 2 keys)"),
        "{}",
        errors[0]
    );
    assert_eq!(
        rows.len(),
        5,
        "the ping, the suspect and the TCP rows still decode"
    );
    let s = summary_of(&capture, &wrong);
    assert_eq!(s["decryption_failures"], 1);
}

#[test]
fn pcapng_and_other_link_types() {
    let (probe, _) = fixture("packet_compound_probe");
    let eth = udp(A, B, &probe);
    // Raw IP: the Ethernet frame without its 14-byte header.
    let raw = eth[14..].to_vec();
    let (rows, code, _) = run(&pcap(std::slice::from_ref(&raw), DataLink::RAW), &[]);
    assert_eq!((rows.len(), code), (2, 0));
    // Linux cooked (SLL): 16-byte header, protocol 0x0800 at offset 14.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&raw);
    let (rows, _, _) = run(&pcap(&[sll], DataLink::LINUX_SLL), &[]);
    assert_eq!(rows.len(), 2);
    // pcapng with one Ethernet interface.
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 65535,
        options: vec![],
    })
    .unwrap();
    w.write_pcapng_block(EnhancedPacketBlock {
        interface_id: 0,
        timestamp: Duration::from_secs(1),
        original_len: eth.len() as u32,
        data: Cow::Borrowed(&eth),
        options: vec![],
    })
    .unwrap();
    let (rows, code, _) = run(&w.into_inner(), &[]);
    assert_eq!((rows.len(), code), (2, 0));
    // Ports filter: with --port 1 nothing matches; --any-port finds it again.
    let (rows, _, _) = run(
        &pcap(std::slice::from_ref(&eth), DataLink::ETHERNET),
        &["--port", "1"],
    );
    assert!(rows.is_empty());
    let (rows, _, _) = run(
        &pcap(&[eth], DataLink::ETHERNET),
        &["--port", "1", "--any-port"],
    );
    assert_eq!(rows.len(), 2);
}

#[test]
fn damaged_captures_end_with_a_clear_message() {
    let (probe, _) = fixture("packet_compound_probe");
    let good = pcap(&[udp(A, B, &probe), udp(A, B, &probe)], DataLink::ETHERNET);
    // Cut inside the second record: the first one's rows, then exit 2 with a message.
    let (rows, code, err) = run(&good[..good.len() - 10], &[]);
    assert_eq!((rows.len(), code), (2, 2));
    assert!(err.contains("damaged") || err.contains("capture"), "{err}");
    let (rows, code, err) = run(b"this is not a capture at all", &[]);
    assert_eq!((rows.len(), code), (0, 2));
    assert!(err.contains("not a pcap"), "{err}");
    // Random bytes on the port: an error row, no panic.
    let (rows, code, _) = run(
        &pcap(&[udp(A, B, &[7, 200, 1, 2, 3])], DataLink::ETHERNET),
        &[],
    );
    assert_eq!(code, 1);
    assert!(rows[0]["error"].is_string());
}

#[test]
fn summary_tells_the_membership_story() {
    let (alive, _) = fixture("packet_compound_alives_compressed");
    let (sus, _) = fixture("packet_compound_probe");
    let (leave, _) = fixture("dead_leave");
    let frames = [udp(A, B, &alive), udp(A, B, &sus), udp(B, A, &leave)];
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(["decode", "-", "--summary", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(&pcap(&frames, DataLink::ETHERNET))?;
            c.wait_with_output()
        })
        .unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["messages_by_type"]["alive"], 3);
    let events: Vec<String> = s["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["node"].as_str().unwrap(),
                e["event"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "node-a first seen alive",
            "node-b first seen alive",
            "node-c first seen alive",
            "node-b suspected by node-a",
            "node-b left"
        ]
    );
}

/// A compound of alive messages too big for one 1280-byte-MTU frame, from our encoder
/// (checked against Go's bytes in tests/fixtures.rs), encrypted when a key is given.
fn big_packet(key: Option<&str>) -> Vec<u8> {
    use memberlist_interop::wire::{
        build_packet, Alive, Encryption, EncryptionVersion, Keyring, Message, PacketOptions,
        SecretKey,
    };
    let alives: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            Message::Alive(Alive {
                incarnation: i,
                node: format!("frag-node-{i}").into(),
                addr: Some(Cow::Owned(vec![10, 0, 0, i as u8])),
                port: 7946,
                meta: Some(Cow::Owned(vec![b'm'; 400])),
                vsn: Some(Cow::Owned(vec![1, 5, 5, 2, 5, 5])),
            })
            .to_bytes()
        })
        .collect();
    let ring = key.map(|k| Keyring::new(SecretKey::from_base64(k).unwrap()));
    let opts = PacketOptions {
        crc: true,
        encryption: ring.as_ref().map(|keyring| Encryption {
            keyring,
            version: EncryptionVersion::V1,
            nonce: None,
        }),
        ..Default::default()
    };
    build_packet(&alives, &opts).unwrap()
}

/// Splits an IP payload (UDP header and data) into fragments of `size` bytes (a
/// multiple of 8) as a router would, and returns them last first.
fn fragments(v6: bool, ip_payload: &[u8], size: usize) -> Vec<Vec<u8>> {
    use etherparse::{IpFragOffset, IpNumber, Ipv4Header, Ipv6FragmentHeader, Ipv6Header};
    let chunks: Vec<&[u8]> = ip_payload.chunks(size).collect();
    let mut out: Vec<Vec<u8>> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let offset = IpFragOffset::try_new((i * size / 8) as u16).unwrap();
            let more = i + 1 < chunks.len();
            let mut frame = Vec::new();
            if v6 {
                let h = Ipv6Header {
                    payload_length: (chunk.len() + Ipv6FragmentHeader::LEN) as u16,
                    next_header: IpNumber::IPV6_FRAGMENTATION_HEADER,
                    hop_limit: 64,
                    source: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    destination: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                    ..Default::default()
                };
                h.write(&mut frame).unwrap();
                Ipv6FragmentHeader::new(IpNumber::UDP, offset, more, 0xfeed)
                    .write(&mut frame)
                    .unwrap();
            } else {
                let mut h = Ipv4Header::new(chunk.len() as u16, 64, IpNumber::UDP, A, B).unwrap();
                h.identification = 4242;
                h.more_fragments = more;
                h.fragment_offset = offset;
                h.write(&mut frame).unwrap();
            }
            frame.extend_from_slice(chunk);
            frame
        })
        .collect();
    out.reverse();
    out
}

/// The UDP header and payload of a datagram from port 40000 to 7946.
fn udp_datagram(v6: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (b, ip_len) = if v6 {
        (
            PacketBuilder::ip(etherparse::IpHeaders::Ipv6(
                etherparse::Ipv6Header {
                    hop_limit: 64,
                    source: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    destination: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                    ..Default::default()
                },
                Default::default(),
            )),
            40,
        )
    } else {
        (
            PacketBuilder::ip(etherparse::IpHeaders::Ipv4(
                etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::UDP, A, B).unwrap(),
                Default::default(),
            )),
            20,
        )
    };
    b.udp(40000, 7946).write(&mut out, payload).unwrap();
    out.split_off(ip_len)
}

fn summary_of(capture: &[u8], args: &[&str]) -> Value {
    let (rows, _, err) = run(capture, &[&["--summary"], args].concat());
    assert_eq!(rows.len(), 1, "{err}");
    rows.into_iter().next().unwrap()
}

#[test]
fn fragmented_udp_is_reassembled() {
    let key = "T2tDa2tHZ1BlZkNsZ0ZMOA==";
    for (v6, key) in [(false, Some(key)), (true, None)] {
        let packet = big_packet(key);
        assert!(packet.len() > 2000, "{}", packet.len());
        let frames = fragments(v6, &udp_datagram(v6, &packet), 1232);
        assert!(frames.len() >= 2);
        let capture = pcap(&frames, DataLink::RAW);
        let keys: Vec<&str> = key.map(|k| vec!["--key", k]).unwrap_or_default();
        let (rows, code, err) = run(&capture, &keys);
        assert_eq!(code, 0, "{err} {rows:#?}");
        let nodes: Vec<&str> = rows
            .iter()
            .map(|r| r["fields"]["Node"].as_str().unwrap())
            .collect();
        assert_eq!(
            nodes,
            (0..6).map(|i| format!("frag-node-{i}")).collect::<Vec<_>>()
        );
        assert_eq!(rows[0]["transport"], "udp");
        assert_eq!(rows[0]["frame"], frames.len() as u64);
        let want_src = if v6 { "[::1]:40000" } else { "127.0.0.1:40000" };
        assert_eq!(rows[0]["src"], want_src);
        assert_eq!(
            key.is_some(),
            rows[0]["layers"][0] == "encrypt",
            "{}",
            rows[0]
        );
        let s = summary_of(&capture, &keys);
        assert_eq!(
            s["ip_fragments"],
            serde_json::json!({"reassembled": 1, "dropped": 0})
        );
        assert_eq!(s["messages_by_type"]["alive"], 6);

        // One fragment lost: nothing to decode, and the summary says a datagram was dropped.
        let s = summary_of(&pcap(&frames[1..], DataLink::RAW), &keys);
        assert_eq!(
            s["ip_fragments"],
            serde_json::json!({"reassembled": 0, "dropped": 1})
        );
        assert_eq!(s["messages_by_type"], serde_json::json!({}));
    }
}

/// The text form of a capture: stdout and exit status.
fn run_text(capture: &[u8], args: &[&str]) -> (String, i32) {
    let out = decode_capture(capture, args);
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap(),
    )
}

#[test]
fn verbose_text_shows_every_layer_and_field() {
    let (enc, side) = fixture("packet_aes128_v1_label");
    let (req, _) = fixture("stream_pushpull_join_compressed");
    let (rep, _) = fixture("stream_ack");
    let mut frames = vec![udp(B, A, &enc)];
    frames.extend(conversation(&req, &rep));
    let capture = pcap(&frames, DataLink::ETHERNET);
    let key = side["keys"][0].as_str().unwrap();
    let (rows, _, _) = run(&capture, &["--key", key]);
    let (plain, code) = run_text(&capture, &["--key", key]);
    let (verbose, _) = run_text(&capture, &["--key", key, "-v"]);
    assert_eq!(code, 0);
    assert_eq!(plain.lines().count(), rows.len());
    // Each one-line row is still there, followed by its tree and a blank line.
    let trees: Vec<&str> = verbose.split("\n\n").filter(|t| !t.is_empty()).collect();
    assert_eq!(trees.len(), rows.len());
    for ((tree, line), row) in trees.iter().zip(plain.lines()).zip(&rows) {
        assert!(tree.starts_with(line), "{tree}");
        let fields = row["fields"].as_object().unwrap();
        for (k, v) in fields {
            let shown = match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            };
            assert!(tree.contains(&shown), "{shown} missing from\n{tree}");
        }
    }
    assert!(trees[0].contains("  has_label \"prod\"\n    encrypt (version 1, key 0)\n"));
    // The push/pull's node list is shown node by node.
    let push_pull = trees.iter().find(|t| t.contains("push_pull")).unwrap();
    let nodes = rows.iter().find(|r| r["type"] == "push_pull").unwrap()["nodes"]
        .as_array()
        .unwrap();
    for (i, n) in nodes.iter().enumerate() {
        assert!(push_pull.contains(&format!("[{i}]:")));
        assert!(push_pull.contains(&format!("Name: {}", n["Name"].as_str().unwrap())));
    }
}

#[test]
fn capture_starting_mid_stream_is_reported_then_resynchronised() {
    let (req, _) = fixture("stream_pushpull_join_compressed");
    let (rep, _) = fixture("stream_ack");
    let (c, s) = (50000u16, 7946u16);
    // The capture begins halfway through the dialer's frame; its FIN ends that direction.
    let half = req.len() / 2;
    let mut frames = vec![tcp(
        B,
        c,
        A,
        s,
        1001 + half as u32,
        false,
        true,
        true,
        &req[half..],
    )];
    // Then the same address pair connects again, from its handshake: decoded in full.
    frames.extend(conversation(&req, &rep));
    let (rows, code, err) = run(&pcap(&frames, DataLink::ETHERNET), &[]);
    assert_eq!(code, 1, "{err} {rows:#?}");
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let e = rows[0]["error"].as_str().unwrap();
    assert!(e.contains("capture started mid-stream"), "{e}");
    assert_eq!(rows[0]["frame"], 1);
    assert_eq!(
        (rows[1]["type"].as_str(), rows[1]["frame"].as_u64()),
        (Some("push_pull"), Some(7))
    );
    assert_eq!(rows[2]["type"], "ack_resp");
}

#[test]
fn consul_ports_by_default_and_keys_from_a_keyring_file() {
    let (enc, side) = fixture("packet_aes128_v1_label");
    let (probe, _) = fixture("packet_compound_probe");
    let on_port = |port: u16, payload: &[u8]| {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(A, B, 64)
            .udp(40000, port)
            .write(&mut out, payload)
            .unwrap();
        out
    };
    // Consul's LAN and WAN ports are gossip by default; a DNS answer is not.
    let frames = [
        on_port(8301, &enc),
        on_port(8302, &probe),
        on_port(53, DNS_QUERY),
    ];
    let capture = pcap(&frames, DataLink::ETHERNET);
    // Serf's keyring file: a JSON list, the key that opens the packet second.
    let key = side["keys"][0].as_str().unwrap();
    let ring = std::env::temp_dir().join(format!("keyring-{}.json", std::process::id()));
    std::fs::write(&ring, format!(r#"["AAAAAAAAAAAAAAAAAAAAAA==", "{key}"]"#)).unwrap();
    let (rows, code, err) = run(&capture, &["--keyring-file", ring.to_str().unwrap()]);
    assert_eq!(code, 0, "{err} {rows:#?}");
    let ports: Vec<&str> = rows.iter().map(|r| r["dst"].as_str().unwrap()).collect();
    assert_eq!(
        ports,
        ["127.0.0.2:8301"; 3]
            .into_iter()
            .chain(["127.0.0.2:8302"; 2])
            .collect::<Vec<_>>()
    );
    assert_eq!(rows[0]["key"], 1, "opened by the file's second key");
    // A file that is not a list of keys is a usage error.
    std::fs::write(&ring, "{\"keys\": 1}").unwrap();
    let (rows, code, err) = run(&capture, &["--keyring-file", ring.to_str().unwrap()]);
    std::fs::remove_file(&ring).ok();
    assert_eq!((rows.len(), code), (0, 2));
    assert!(err.contains("not a JSON list of keys"), "{err}");
}

/// A DNS query for example.com whose ID (0x0c01) starts with the CRC type byte.
const DNS_QUERY: &[u8] =
    b"\x0c\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";

/// A TCP conversation between `c` (dialing from port `cp`) and `s` on port `sp`: the
/// handshake, the request, the reply, FINs.
fn connection(cp: u16, sp: u16, request: &[u8], reply: &[u8]) -> Vec<Vec<u8>> {
    let (c, s) = (B, A);
    vec![
        tcp(c, cp, s, sp, 1000, true, false, false, b""),
        tcp(s, sp, c, cp, 9000, true, true, false, b""),
        tcp(c, cp, s, sp, 1001, false, true, true, request),
        tcp(s, sp, c, cp, 9001, false, true, true, reply),
    ]
}

fn udp_ports(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(B, A, 64)
        .udp(sp, dp)
        .write(&mut out, payload)
        .unwrap();
    out
}

#[test]
fn gossip_on_other_ports_is_found_by_its_bytes() {
    let (probe, _) = fixture("packet_compound_probe");
    let (ping, _) = fixture("packet_ping_crc");
    let (user, _) = fixture("packet_user");
    let mut noise: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    noise[0] = 1;
    let http = connection(
        50001,
        8080,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    let mut frames = vec![
        udp_ports(5353, 53, DNS_QUERY),
        udp_ports(40001, 5000, &noise),
    ];
    frames.extend(http.iter().cloned());
    // Gossip between 17946 and 27946: a user message alone proves nothing until its
    // addresses are known.
    frames.push(udp_ports(17946, 27946, &user));
    frames.push(udp_ports(17946, 27946, &probe));
    frames.push(udp_ports(27946, 17946, &ping));
    frames.push(udp_ports(17946, 27946, &user));
    let capture = pcap(&frames, DataLink::ETHERNET);
    let (rows, code, err) = run(&capture, &[]);
    assert_eq!(code, 0, "{err} {rows:#?}");
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["dst"].as_str().unwrap(), r["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("127.0.0.1:27946", "ping"),
            ("127.0.0.1:27946", "suspect"),
            ("127.0.0.1:17946", "ping"),
            ("127.0.0.1:27946", "user"),
        ],
    );
    assert!(
        err.contains("recognised on ports 17946, 27946 (pass --port 17946 --port 27946"),
        "{err}"
    );
    // With a key, DNS and noise that start like sealed packets are tried and dropped.
    let (rows2, code, _) = run(&capture, &["--key", "AAAAAAAAAAAAAAAAAAAAAA=="]);
    assert_eq!((rows2.len(), code), (4, 0));
    // Asked for ports, only those are decoded, and nothing is said.
    let (rows, code, err) = run(&capture, &["--port", "27946"]);
    assert_eq!((rows.len(), code, err.as_str()), (5, 0, ""));

    // An encrypted, labelled push/pull over TCP on 37946: its SYN came before it was
    // known as gossip, yet the sides and the whole stream are kept.
    let (sealed, side) = fixture("stream_pushpull_aes128_v1_label");
    let key = side["keys"][0].as_str().unwrap();
    let (reply, _) = fixture("stream_pushpull_aes128_v1_acceptor");
    let mut frames = http;
    frames.extend(connection(50002, 37946, &sealed, &reply));
    let capture = pcap(&frames, DataLink::ETHERNET);
    // No --label: the reply (no header) is opened with the label the dialer sent.
    let (rows, code, err) = run(&capture, &["--key", key]);
    assert_eq!(code, 0, "{err} {rows:#?}");
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["dst"].as_str().unwrap(), r["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("127.0.0.1:37946", "push_pull"),
            ("127.0.0.2:50002", "push_pull")
        ]
    );
    assert!(err.contains("pass --port 37946 "), "{err}");

    // Nomad's server gossip port is a default one.
    let capture = pcap(&[udp_ports(40000, 4648, &user)], DataLink::ETHERNET);
    let (rows, code, err) = run(&capture, &[]);
    assert_eq!((rows.len(), code, err.as_str()), (1, 0, ""));
}
