//! Writes a large pcap of gossip between 16 members for benchmarking `memberlist decode`
//! (see `scripts/bench-vs-tshark`): probes (ping, ack, indirect ping), piggybacked and
//! lone suspect/alive/dead, compound packets, user messages, and push/pull exchanges over
//! TCP with their handshakes and FINs. Of 100 events: 30 pings, 30 acks, 3 indirect
//! pings, 3 suspects, 8 alives, 2 deads, 16 compounds (ping + alive + suspect), 6 user
//! messages and 2 push/pulls (6 frames each, 16 nodes each way): a member probes every
//! second and pushes/pulls every 30 s, so push/pull frames are about a tenth of the
//! frames, as here. Every payload byte comes from this crate's encoder,
//! which `tests/fixtures.rs` checks against Go's bytes; with `--encrypt-every 3` one
//! packet or connection in three is sealed with `BENCH_KEY`.
//!
//! `cargo run --release --example gossip_capture -- OUT.pcap --frames 1000000 --encrypt-every 3`

use std::borrow::Cow;
use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use clap::Parser;
use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use memberlist_interop::wire::{
    build_packet, build_stream, Accusation, AckResp, Alive, Encryption, EncryptionVersion, GoInt,
    IndirectPingReq, Keyring, Message, NodeState, PacketOptions, Ping, PushNodeState,
    PushPullHeader, SecretKey, Side, StreamMessage, StreamOptions,
};

/// The key sealed packets use: base64 of the 16 bytes `memberlist-bench`.
const BENCH_KEY: &str = "bWVtYmVybGlzdC1iZW5jaA==";
const MEMBERS: u8 = 16;
const PORT: u16 = 7946;

#[derive(Parser)]
struct Args {
    /// Where to write the capture.
    out: std::path::PathBuf,
    /// Frames to write (TCP handshakes and FINs included).
    #[arg(long, default_value_t = 1_000_000)]
    frames: u64,
    /// Seal every Nth packet or connection with BENCH_KEY (0: none).
    #[arg(long, default_value_t = 0)]
    encrypt_every: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn name(i: u8) -> String {
    format!("node-{i:02}")
}

fn ip(i: u8) -> [u8; 4] {
    [10, 0, 0, 1 + i]
}

fn alive(i: u8, inc: u32) -> Message<'static> {
    Message::Alive(Alive {
        incarnation: inc,
        node: name(i).into(),
        addr: Some(Cow::Owned(ip(i).to_vec())),
        port: PORT,
        meta: Some(Cow::Owned(format!("role=web,dc=dc{}", i % 3).into_bytes())),
        vsn: Some(Cow::Owned(vec![1, 5, 5, 2, 5, 5])),
    })
}

fn accusation(i: u8, from: u8, inc: u32) -> Accusation<'static> {
    Accusation {
        incarnation: inc,
        node: name(i).into(),
        from: name(from).into(),
    }
}

/// Writes frames with consecutive timestamps, 20 µs apart.
struct Out {
    pcap: PcapWriter<BufWriter<File>>,
    time: Duration,
    written: u64,
}

impl Out {
    fn frame(&mut self, data: &[u8]) {
        self.time += Duration::from_micros(20);
        self.pcap
            .write_packet(&PcapPacket::new(self.time, data.len() as u32, data))
            .expect("write capture");
        self.written += 1;
    }

    fn udp(&mut self, from: u8, to: u8, payload: &[u8]) {
        let mut buf = Vec::with_capacity(payload.len() + 42);
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, from], [2, 0, 0, 0, 0, to])
            .ipv4(ip(from), ip(to), 64)
            .udp(PORT, PORT)
            .write(&mut buf, payload)
            .expect("build UDP frame");
        self.frame(&buf);
    }

    #[allow(clippy::too_many_arguments)] // one per TCP header field that varies
    fn tcp(
        &mut self,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: &str,
        payload: &[u8],
    ) {
        let mut b = PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, seq, 65535);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('A') {
            b = b.ack(ack);
        }
        if flags.contains('F') {
            b = b.fin();
        }
        let mut buf = Vec::with_capacity(payload.len() + 54);
        b.write(&mut buf, payload).expect("build TCP frame");
        self.frame(&buf);
    }
}

fn main() {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let ring = Keyring::new(SecretKey::from_base64(BENCH_KEY).expect("valid key"));
    let sealed = Encryption {
        keyring: &ring,
        version: EncryptionVersion::V1,
        nonce: None,
    };
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let file = BufWriter::with_capacity(1 << 20, File::create(&args.out).expect("create output"));
    let mut out = Out {
        pcap: PcapWriter::with_header(file, header).expect("write header"),
        time: Duration::from_secs(1_800_000_000),
        written: 0,
    };
    let (mut seq, mut events, mut client_port) = (0u32, 0u64, 30000u16);
    while out.written < args.frames {
        events += 1;
        let encrypt = args.encrypt_every > 0 && events % args.encrypt_every == 0;
        let opts = PacketOptions {
            crc: true,
            encryption: encrypt.then_some(sealed),
            ..Default::default()
        };
        let a = rng.gen_range(0..MEMBERS);
        let b = (a + rng.gen_range(1..MEMBERS)) % MEMBERS;
        let c = (b + rng.gen_range(1..MEMBERS - 1)) % MEMBERS;
        let inc = rng.gen_range(1..50);
        seq = seq.wrapping_add(1);
        let ping = Message::Ping(Ping {
            seq_no: seq,
            node: name(b).into(),
            source_addr: Cow::Owned(ip(a).to_vec()),
            source_port: PORT,
            source_node: name(a).into(),
        });
        let messages: Vec<Message<'static>> = match rng.gen_range(0..100) {
            0..=29 => vec![ping],
            30..=59 => vec![Message::AckResp(AckResp {
                seq_no: seq,
                payload: None,
            })],
            60..=62 => vec![Message::IndirectPing(IndirectPingReq {
                seq_no: seq,
                target: Some(Cow::Owned(ip(c).to_vec())),
                port: PORT,
                node: name(c).into(),
                nack: true,
                source_addr: Cow::Owned(ip(a).to_vec()),
                source_port: PORT,
                source_node: name(a).into(),
            })],
            63..=65 => vec![Message::Suspect(accusation(c, a, inc))],
            66..=73 => vec![alive(a, inc)],
            74..=75 => vec![Message::Dead(accusation(c, a, inc))],
            76..=91 => vec![ping, alive(c, inc), Message::Suspect(accusation(c, a, inc))],
            92..=97 => vec![Message::User(Cow::Owned(
                format!("deploy {seq} to {}", name(b)).into_bytes(),
            ))],
            _ => {
                push_pull(&mut out, a, b, client_port, encrypt.then_some(sealed));
                client_port = if client_port == 60999 {
                    30000
                } else {
                    client_port + 1
                };
                continue;
            }
        };
        let encoded: Vec<Vec<u8>> = messages.iter().map(Message::to_bytes).collect();
        out.udp(a, b, &build_packet(&encoded, &opts).expect("encode packet"));
    }
    eprintln!(
        "{}: {} frames, one packet or connection in {} sealed with {BENCH_KEY}",
        args.out.display(),
        out.written,
        args.encrypt_every
    );
}

/// A push/pull over TCP: handshake, the dialer's state, the acceptor's, FINs.
fn push_pull(out: &mut Out, a: u8, b: u8, port: u16, encryption: Option<Encryption<'_>>) {
    let state = |join| StreamMessage::PushPull {
        header: PushPullHeader {
            nodes: GoInt::new(MEMBERS as i64),
            user_state_len: GoInt::new(0),
            join,
        },
        nodes: (0..MEMBERS)
            .map(|i| PushNodeState {
                name: name(i).into(),
                addr: Some(Cow::Owned(ip(i).to_vec())),
                port: PORT,
                meta: Some(Cow::Owned(format!("role=web,dc=dc{}", i % 3).into_bytes())),
                incarnation: 1,
                state: NodeState::Alive,
                vsn: Some(Cow::Owned(vec![1, 5, 5, 2, 5, 5])),
            })
            .collect(),
        user_state: Cow::Borrowed(&[]),
    };
    let opts = |side| StreamOptions {
        compress: false,
        encryption,
        label: None,
        side: Some(side),
    };
    let request = build_stream(&state(false), &opts(Side::Dialer));
    let reply = build_stream(&state(false), &opts(Side::Acceptor));
    let (d, l) = ((ip(a), port), (ip(b), PORT));
    let (ds, ls) = (1000u32, 5000u32);
    out.tcp(d, l, ds, 0, "S", b"");
    out.tcp(l, d, ls, ds + 1, "SA", b"");
    out.tcp(d, l, ds + 1, ls + 1, "A", &request);
    let dend = ds + 1 + request.len() as u32;
    out.tcp(l, d, ls + 1, dend, "A", &reply);
    let lend = ls + 1 + reply.len() as u32;
    out.tcp(d, l, dend, lend, "FA", b"");
    out.tcp(l, d, lend, dend + 1, "FA", b"");
}
