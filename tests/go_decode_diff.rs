//! Differential test against go-msgpack v2: `fixtures/decode_diff.jsonl` holds bodies
//! (valid, odd and damaged) and what Go's decoder made of each when decoding into
//! memberlist's structs (see `interop/cmd/decodediff`), and LZW streams with what
//! memberlist's `decompressBuffer` made of them. Our decoders must accept exactly what
//! Go accepts and yield the same values.

use std::path::Path;

use memberlist_interop::wire::msgpack::Reader;
use memberlist_interop::wire::{
    lzw, Accusation, AckResp, Alive, Bytes, Compress, ErrResp, GoString, IndirectPingReq, NackResp,
    Ping, PushNodeState, PushPullHeader, Result, UserMsgHeader,
};
use serde_json::{json, Value};

fn s(v: &GoString<'_>) -> Value {
    hex::encode(v.as_bytes()).into()
}

fn ob(v: &Option<Bytes<'_>>) -> Value {
    v.as_deref().map_or(Value::Null, |b| hex::encode(b).into())
}

/// An `omitempty` byte field: Go's nil and empty re-encode alike (left out), and we
/// keep no difference between them, so both are shown as "".
fn eb(v: &[u8]) -> Value {
    hex::encode(v).into()
}

/// Decodes `body` as the named struct and renders it like the Go side does.
fn decode(name: &str, body: &[u8]) -> Result<Value> {
    let r = &mut Reader::new(body);
    Ok(match name {
        "ping" => {
            let m = Ping::read(r)?;
            json!({"SeqNo": m.seq_no, "Node": s(&m.node), "SourceAddr": eb(&m.source_addr),
                   "SourcePort": m.source_port, "SourceNode": s(&m.source_node)})
        }
        "indirect_ping" => {
            let m = IndirectPingReq::read(r)?;
            json!({"SeqNo": m.seq_no, "Target": ob(&m.target), "Port": m.port,
                   "Node": s(&m.node), "Nack": m.nack, "SourceAddr": eb(&m.source_addr),
                   "SourcePort": m.source_port, "SourceNode": s(&m.source_node)})
        }
        "ack_resp" => {
            let m = AckResp::read(r)?;
            json!({"SeqNo": m.seq_no, "Payload": ob(&m.payload)})
        }
        "nack_resp" => json!({"SeqNo": NackResp::read(r)?.seq_no}),
        "err" => json!({"Error": s(&ErrResp::read(r)?.error)}),
        "suspect" => {
            let m = Accusation::read(r, "suspect")?;
            json!({"Incarnation": m.incarnation, "Node": s(&m.node), "From": s(&m.from)})
        }
        "alive" => {
            let m = Alive::read(r)?;
            json!({"Incarnation": m.incarnation, "Node": s(&m.node), "Addr": ob(&m.addr),
                   "Port": m.port, "Meta": ob(&m.meta), "Vsn": ob(&m.vsn)})
        }
        "push_pull" => {
            let m = PushPullHeader::read(r)?;
            json!({"Nodes": m.nodes.value, "UserStateLen": m.user_state_len.value,
                   "Join": m.join})
        }
        "user" => json!({"UserMsgLen": UserMsgHeader::read(r)?.user_msg_len.value}),
        "push_node_state" => {
            let m = PushNodeState::read(r)?;
            json!({"Name": s(&m.name), "Addr": ob(&m.addr), "Port": m.port,
                   "Meta": ob(&m.meta), "Incarnation": m.incarnation,
                   "State": m.state.to_int(), "Vsn": ob(&m.vsn)})
        }
        "compress" => {
            let m = Compress::read(r)?;
            json!({"Algo": m.algo, "Buf": ob(&m.buf)})
        }
        "lzw" => {
            let plain = lzw::decompress(body, lzw::MAX_DECOMPRESSED_BYTES)?;
            json!({"len": plain.len(), "crc32": crc32fast::hash(&plain)})
        }
        other => panic!("corpus names an unknown struct {other}"),
    })
}

/// Go's view with the `omitempty` byte fields normalised as [`eb`] does.
fn normalise(name: &str, mut fields: Value) -> Value {
    if matches!(name, "ping" | "indirect_ping") && fields["SourceAddr"].is_null() {
        fields["SourceAddr"] = "".into();
    }
    fields
}

#[test]
fn decoder_agrees_with_go_msgpack() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/decode_diff.jsonl");
    let corpus = std::fs::read_to_string(&path).expect("decode_diff corpus");
    let (mut total, mut accepted, mut mismatches) = (0, 0, Vec::new());
    for (i, line) in corpus.lines().enumerate() {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["struct"].as_str().unwrap();
        let body = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let go_ok = case["ok"].as_bool().unwrap();
        total += 1;
        accepted += go_ok as usize;
        let ours = decode(name, &body);
        let agree = match (&ours, go_ok) {
            (Ok(v), true) => *v == normalise(name, case["fields"].clone()),
            (Err(_), false) => true,
            _ => false,
        };
        if !agree {
            mismatches.push(format!(
                "line {}: {name} {}\n  go:   {}\n  rust: {:?}",
                i + 1,
                case["hex"].as_str().unwrap(),
                if go_ok {
                    case["fields"].to_string()
                } else {
                    case["error"].to_string()
                },
                ours
            ));
        }
    }
    assert!(total >= 1000 && accepted >= total / 4, "corpus too small");
    assert!(
        mismatches.is_empty(),
        "{} of {total} cases disagree with Go:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(15)].join("\n")
    );
}
