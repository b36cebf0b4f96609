//! Encode/decode cost of the cases the Go benchmarks in interop/bench measure under the
//! same names, so `scripts/bench-vs-go` can print Rust/Go ratios.

use std::borrow::Cow;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use memberlist_interop::wire::{
    build_packet, build_stream, decode_complete, peel_packet, Accusation, Alive, Encryption,
    EncryptionVersion, Keyring, Label, LabelPolicy, Message, NodeState, PacketConfig,
    PacketOptions, Ping, PushNodeState, SecretKey, Side, StreamConfig, StreamMessage,
    StreamOptions,
};

fn ping() -> Message<'static> {
    Message::Ping(Ping {
        seq_no: 1234,
        node: "node-b".into(),
        source_addr: Cow::Owned(vec![10, 0, 0, 1]),
        source_port: 7946,
        source_node: "node-a".into(),
    })
}

fn alive(i: usize, meta: usize) -> Message<'static> {
    Message::Alive(Alive {
        incarnation: 7,
        node: format!("node-{i}").into(),
        addr: Some(Cow::Owned(vec![10, 0, (i >> 8) as u8, i as u8])),
        port: 7946,
        meta: Some(Cow::Owned(vec![b'm'; meta])),
        vsn: Some(Cow::Owned(vec![1, 5, 2, 0, 0, 0])),
    })
}

/// Eight broadcasts as gossip carries them: alives, a suspect and a dead.
fn broadcasts() -> Vec<Vec<u8>> {
    (0..8)
        .map(|i| match i % 4 {
            3 => Message::Suspect(Accusation {
                incarnation: 3,
                node: format!("node-{i}").into(),
                from: "node-a".into(),
            }),
            2 => Message::Dead(Accusation {
                incarnation: 3,
                node: format!("node-{i}").into(),
                from: "node-a".into(),
            }),
            _ => alive(i, 20),
        })
        .map(|m| m.to_bytes())
        .collect()
}

fn pushpull(n: usize) -> StreamMessage<'static> {
    let nodes = (0..n)
        .map(|i| PushNodeState {
            name: format!("node-{i}").into(),
            addr: Some(Cow::Owned(vec![10, 0, (i >> 8) as u8, i as u8])),
            port: 7946,
            meta: Some(Cow::Owned(b"role=web,dc=dc1".to_vec())),
            incarnation: i as u32,
            state: NodeState::Alive,
            vsn: Some(Cow::Owned(vec![1, 5, 2, 0, 0, 0])),
        })
        .collect();
    StreamMessage::push_pull(false, nodes, Vec::new())
}

fn bench(c: &mut Criterion) {
    let ring = Keyring::new(SecretKey::new(&[7; 16]).unwrap());
    let label = Label::new("prod").unwrap();
    let ce_opts = PacketOptions {
        compress: true,
        crc: false,
        encryption: Some(Encryption {
            keyring: &ring,
            version: EncryptionVersion::V1,
            nonce: None,
        }),
        label: Some(&label),
    };
    let plain = PacketConfig {
        label: LabelPolicy::Any,
        keyring: None,
        verify_incoming: true,
    };
    let sealed = PacketConfig {
        label: LabelPolicy::Expect(Some(&label)),
        keyring: Some(&ring),
        verify_incoming: true,
    };
    let ping = ping();
    let alive = alive(1, 100);
    let b8 = broadcasts();
    let pp = pushpull(1000);
    let stream_cfg = StreamConfig {
        label: LabelPolicy::Any,
        keyring: None,
        verify_incoming: true,
        side: Side::Dialer,
    };

    let mut g = c.benchmark_group("encode");
    let mut buf = Vec::with_capacity(2048);
    g.bench_function("ping", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&ping).encode(&mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("alive_meta100", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&alive).encode(&mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("compound8", |b| {
        b.iter(|| build_packet(black_box(&b8), &PacketOptions::default()).unwrap())
    });
    g.bench_function("compressed_encrypted", |b| {
        b.iter(|| build_packet(black_box(&b8), &ce_opts).unwrap())
    });
    g.bench_function("pushpull1000", |b| {
        b.iter(|| build_stream(black_box(&pp), &StreamOptions::default()))
    });
    g.finish();

    let ping_b = ping.to_bytes();
    let alive_b = alive.to_bytes();
    let c8 = build_packet(&b8, &PacketOptions::default()).unwrap();
    let ce = build_packet(&b8, &ce_opts).unwrap();
    let ppb = build_stream(&pp, &StreamOptions::default());
    let mut g = c.benchmark_group("decode");
    g.bench_function("ping", |b| {
        b.iter(|| Message::decode(black_box(&ping_b)).unwrap())
    });
    g.bench_function("alive_meta100", |b| {
        b.iter(|| Message::decode(black_box(&alive_b)).unwrap())
    });
    g.bench_function("compound8", |b| {
        b.iter(|| {
            peel_packet(black_box(&c8), &plain, |_, m| {
                black_box(m.unwrap());
            })
            .unwrap()
        })
    });
    g.bench_function("compressed_encrypted", |b| {
        b.iter(|| {
            peel_packet(black_box(&ce), &sealed, |_, m| {
                black_box(m.unwrap());
            })
            .unwrap()
        })
    });
    g.bench_function("pushpull1000", |b| {
        b.iter(|| decode_complete(black_box(&ppb), &stream_cfg).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
