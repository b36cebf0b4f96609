//! Property tests: any message round-trips through encode/decode, any packet through
//! build/peel with any combination of layers, and decoders never panic on damage.

use std::borrow::Cow;

use memberlist_interop::wire::{
    build_packet, build_stream, decode_complete, peel_packet_owned, Accusation, AckResp, Alive,
    Encryption, EncryptionVersion, GoString, IndirectPingReq, Keyring, Label, LabelPolicy, Message,
    NackResp, NodeState, PacketConfig, PacketOptions, Ping, PushNodeState, SecretKey, Side,
    StreamConfig, StreamMessage, StreamOptions,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn gostr() -> impl Strategy<Value = GoString<'static>> {
    prop_oneof![vec(any::<u8>(), 0..40), vec(any::<u8>(), 30..300)]
        .prop_map(|v| GoString(Cow::Owned(v)))
}

fn bytes() -> impl Strategy<Value = Cow<'static, [u8]>> {
    vec(any::<u8>(), 0..70).prop_map(Cow::Owned)
}

fn message() -> impl Strategy<Value = Message<'static>> {
    prop_oneof![
        (any::<u32>(), gostr(), bytes(), any::<u16>(), gostr()).prop_map(|(s, n, a, p, sn)| {
            Message::Ping(Ping {
                seq_no: s,
                node: n,
                source_addr: a,
                source_port: p,
                source_node: sn,
            })
        }),
        (
            any::<u32>(),
            option::of(bytes()),
            any::<u16>(),
            gostr(),
            any::<bool>(),
            bytes(),
            any::<u16>(),
            gostr()
        )
            .prop_map(|(s, t, p, n, k, a, sp, sn)| Message::IndirectPing(
                IndirectPingReq {
                    seq_no: s,
                    target: t,
                    port: p,
                    node: n,
                    nack: k,
                    source_addr: a,
                    source_port: sp,
                    source_node: sn,
                }
            )),
        (any::<u32>(), option::of(bytes())).prop_map(|(s, p)| Message::AckResp(AckResp {
            seq_no: s,
            payload: p
        })),
        any::<u32>().prop_map(|s| Message::NackResp(NackResp { seq_no: s })),
        (any::<u32>(), gostr(), gostr(), any::<bool>()).prop_map(|(i, n, f, dead)| {
            let a = Accusation {
                incarnation: i,
                node: n,
                from: f,
            };
            if dead {
                Message::Dead(a)
            } else {
                Message::Suspect(a)
            }
        }),
        (
            any::<u32>(),
            gostr(),
            option::of(bytes()),
            any::<u16>(),
            option::of(bytes()),
            option::of(bytes())
        )
            .prop_map(|(i, n, a, p, m, v)| Message::Alive(Alive {
                incarnation: i,
                node: n,
                addr: a,
                port: p,
                meta: m,
                vsn: v
            })),
        bytes().prop_map(Message::User),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.to_bytes();
        let back = Message::decode(&bytes).unwrap().into_owned();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn packets_round_trip(
        msgs in vec(message(), 1..12),
        compress in any::<bool>(), crc in any::<bool>(),
        enc in option::of((prop_oneof![Just(16usize), Just(24), Just(32)], any::<bool>())),
        label in option::of("[a-z]{1,20}"),
    ) {
        let ring = enc.map(|(n, _)| Keyring::new(SecretKey::new(&vec![9; n]).unwrap()));
        let label = label.map(|l| Label::new(l).unwrap());
        let opts = PacketOptions {
            compress, crc, label: label.as_ref(),
            encryption: ring.as_ref().map(|r| Encryption {
                keyring: r,
                version: if enc.unwrap().1 { EncryptionVersion::V1 } else { EncryptionVersion::V0 },
                nonce: None,
            }),
        };
        let encoded: Vec<Vec<u8>> = msgs.iter().map(Message::to_bytes).collect();
        let pkt = build_packet(&encoded, &opts).unwrap();
        let cfg = PacketConfig { label: LabelPolicy::Expect(label.as_ref()), keyring: ring.as_ref(), verify_incoming: true };
        let peeled = peel_packet_owned(&pkt, &cfg).unwrap();
        let back: Vec<Message> = peeled.messages.into_iter().map(|(_, m)| m.unwrap()).collect();
        prop_assert_eq!(back, msgs);
    }

    #[test]
    fn push_pull_round_trips(
        names in vec(gostr(), 0..20), user in vec(any::<u8>(), 0..100), join in any::<bool>(),
        compress in any::<bool>(), state in 0i64..6,
    ) {
        let nodes: Vec<PushNodeState> = names.into_iter().map(|n| PushNodeState {
            name: n, addr: Some(Cow::Owned(vec![10, 0, 0, 1])), port: 7946, meta: None,
            incarnation: 3, state: NodeState::from_int(state), vsn: Some(Cow::Owned(vec![1, 5, 2, 0, 0, 0])),
        }).collect();
        let m = StreamMessage::push_pull(join, nodes, user);
        let bytes = build_stream(&m, &StreamOptions { compress, ..Default::default() });
        let cfg = StreamConfig { label: LabelPolicy::Any, keyring: None, verify_incoming: true, side: Side::Acceptor };
        prop_assert_eq!(decode_complete(&bytes, &cfg).unwrap().message, m.into_owned());
    }

    #[test]
    fn damaged_packets_never_panic(msgs in vec(message(), 1..4), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let encoded: Vec<Vec<u8>> = msgs.iter().map(Message::to_bytes).collect();
        let mut pkt = build_packet(&encoded, &PacketOptions { compress: true, crc: false, ..Default::default() }).unwrap();
        for (i, b) in flips {
            let i = i.index(pkt.len());
            pkt[i] ^= b;
        }
        pkt.truncate(cut.index(pkt.len() + 1));
        let _ = peel_packet_owned(&pkt, &PacketConfig { label: LabelPolicy::Any, ..Default::default() });
        let cfg = StreamConfig { label: LabelPolicy::Any, keyring: None, verify_incoming: true, side: Side::Dialer };
        let _ = decode_complete(&pkt, &cfg);
    }
}
