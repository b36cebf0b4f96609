//! Every fixture in `fixtures/serf/` was produced by Go (`interop/cmd/serffixgen`):
//! serf v0.11.0's encodings of each Serf message, tags meta, ping-ack coordinate and
//! query filter, and Serf payloads recorded from a live serf cluster. For each, our
//! decoder must yield exactly what the sidecar says Go decoded, and our encoder must
//! give back Go's bytes. Where Go wrote a map with several entries (random order), the
//! sidecar holds Go's sorted encoding (`canonical`) and ours must equal that instead.

mod support;

use std::path::Path;

use memberlist_interop::serf::{json, Coordinate, Filter, MetaForm, SerfMessage, Tags};
use serde_json::Value;
use support::fixtures::{load, Fixture};

/// The bytes our encoder must produce: Go's own, or Go's sorted ones when Go's map
/// order made its bytes random.
fn expected_encoding(f: &Fixture) -> Vec<u8> {
    match f.side["canonical"].as_str() {
        Some(h) => hex::decode(h).unwrap(),
        None => f.bin.clone(),
    }
}

fn check(f: &Fixture) -> Result<(), String> {
    let mut again = Vec::new();
    let (got, want) = match f.side["kind"].as_str().unwrap() {
        "message" => {
            let m = SerfMessage::decode(&f.bin).map_err(|e| e.to_string())?;
            m.encode(&mut again);
            (json::message(&m), &f.side["message"])
        }
        "tags" => {
            let (t, form) = Tags::decode_meta(&f.bin).map_err(|e| e.to_string())?;
            if form != MetaForm::Tagged {
                return Err("tags meta not recognised as tagged".into());
            }
            t.encode_meta(&mut again).map_err(|e| e.to_string())?;
            (json::tags(&t), &f.side["tags"])
        }
        "ping_payload" => {
            let c = Coordinate::decode_ping_payload(&f.bin)
                .map_err(|e| e.to_string())?
                .ok_or("empty payload")?;
            c.encode_ping_payload(&mut again);
            (json::coordinate(&c), &f.side["coordinate"])
        }
        "filter" => {
            let flt = Filter::decode(&f.bin).map_err(|e| e.to_string())?;
            flt.encode(&mut again);
            (json::filter(&flt), &f.side["filter"])
        }
        other => return Err(format!("unknown kind {other}")),
    };
    if !same(&got, want) {
        return Err(format!("decoded {got}\n  sidecar {want}"));
    }
    let exp = expected_encoding(f);
    if again != exp {
        return Err(format!(
            "re-encoded {}\n  go        {}",
            hex::encode(&again),
            hex::encode(&exp)
        ));
    }
    Ok(())
}

/// JSON equality where Go's `0` and our `0.0` are the same float64 (the bits are held
/// to Go's by the re-encoding check); integers still compare exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn every_serf_fixture_decodes_to_its_sidecar_and_reencodes_to_go_bytes() {
    let fixtures = load("fixtures/serf");
    assert!(
        fixtures.len() >= 70,
        "only {} serf fixtures",
        fixtures.len()
    );
    let failures: Vec<String> = fixtures
        .iter()
        .filter_map(|f| check(f).err().map(|e| format!("{}: {e}", f.name)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_cover_every_message_type_and_both_origins() {
    let fixtures = load("fixtures/serf");
    let types: std::collections::BTreeSet<&str> = fixtures
        .iter()
        .filter_map(|f| f.side["message"]["type"].as_str())
        .collect();
    for t in [
        "leave",
        "join",
        "push_pull",
        "user_event",
        "query",
        "query_response",
        "conflict_response",
        "key_request",
        "key_response",
        "relay",
    ] {
        assert!(types.contains(t), "no fixture of type {t}");
    }
    for origin in ["encoder", "cluster"] {
        assert!(
            fixtures.iter().any(|f| f.side["origin"] == origin),
            "no {origin} fixture"
        );
    }
}

#[test]
fn every_prefix_of_every_message_fixture_fails_without_panicking() {
    for f in load("fixtures/serf")
        .iter()
        .filter(|f| f.side["kind"] == "message")
    {
        // A relay's tail and any bytes after a body are not checked by Go either, so
        // only prefixes that cut into the first msgpack value must fail.
        let min_ok = f.bin.len() - SerfMessage::decode(&f.bin).map(|_| 0).unwrap();
        for i in 0..min_ok.min(200) {
            let _ = SerfMessage::decode(&f.bin[..i]);
        }
    }
}

/// The fuzz target's property on mutations of every fixture (flipped, inserted and
/// removed bytes, with a fixed seed): decoding never panics, and what decodes
/// re-encodes to bytes that decode to the same value.
#[test]
fn mutated_fixtures_never_panic_and_round_trip() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5e4f);
    let mut decoded = 0;
    for f in load("fixtures/serf") {
        for _ in 0..300 {
            let mut b = f.bin.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..=b.len());
                match rng.gen_range(0..3) {
                    0 if i < b.len() => b[i] = rng.gen(),
                    1 => b.insert(i, rng.gen()),
                    _ if i < b.len() => {
                        b.remove(i);
                    }
                    _ => {}
                }
            }
            if let Ok(m) = SerfMessage::decode(&b) {
                decoded += 1;
                let again = m.to_bytes();
                assert_eq!(
                    SerfMessage::decode(&again).unwrap(),
                    m,
                    "{}",
                    hex::encode(&b)
                );
            }
            if let Ok((t, _)) = Tags::decode_meta(&b) {
                let mut again = Vec::new();
                if t.encode_meta(&mut again).is_ok() {
                    assert_eq!(Tags::decode_meta(&again).unwrap().0, t);
                }
            }
            let _ = Tags::decode_meta_lenient(&b);
            let _ = Coordinate::decode_ping_payload(&b);
            let _ = Filter::decode(&b);
        }
    }
    assert!(decoded > 1000, "only {decoded} mutants decoded");
}

/// The Debian serf 0.9.4 agents of `testdata/captures/serf.pcap` (go-msgpack 0.5.5,
/// the older codec generation), as the golden decoding lists their bytes: every Serf
/// message, ack coordinate and tags meta re-encodes to the agents' exact bytes, except
/// where a Go map with several entries made the order random (then the value must
/// survive).
#[test]
fn debian_serf_0_9_4_capture_round_trips() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/serf.expected.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut exact = 0;
    let mut checked = std::collections::BTreeSet::new();
    for row in text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
    {
        let mut blobs = vec![];
        match row["type"].as_str().unwrap() {
            "user" => blobs.push(("message", &row["payload"])),
            "push_pull" => {
                blobs.push(("message", &row["user_state"]));
                for n in row["nodes"].as_array().unwrap() {
                    blobs.push(("tags", &n["Meta"]));
                }
            }
            "alive" => blobs.push(("tags", &row["fields"]["Meta"])),
            "ack_resp" => blobs.push(("ping", &row["fields"]["Payload"])),
            _ => {}
        }
        for (kind, hex_value) in blobs {
            let Some(bin) = hex_value.as_str().map(|h| hex::decode(h).unwrap()) else {
                continue;
            };
            let mut again = Vec::new();
            let random_order = match kind {
                "message" => {
                    let m = SerfMessage::decode(&bin).unwrap();
                    m.encode(&mut again);
                    checked.insert(m.message_type().name());
                    if SerfMessage::decode(&again).unwrap() != m {
                        panic!("{} does not survive re-encoding", hex::encode(&bin));
                    }
                    matches!(&m, SerfMessage::PushPull(p)
                        if p.status_ltimes.as_ref().is_some_and(|s| s.len() > 1))
                }
                "tags" => {
                    let (t, _) = Tags::decode_meta(&bin).unwrap();
                    t.encode_meta(&mut again).unwrap();
                    assert_eq!(Tags::decode_meta(&again).unwrap().0, t);
                    t.len() > 1
                }
                _ => {
                    let c = Coordinate::decode_ping_payload(&bin).unwrap().unwrap();
                    c.encode_ping_payload(&mut again);
                    false
                }
            };
            if !random_order {
                assert_eq!(hex::encode(&again), hex::encode(&bin));
                exact += 1;
            }
        }
    }
    assert!(exact > 50, "only {exact} exact round trips");
    for t in [
        "join",
        "leave",
        "user_event",
        "query",
        "query_response",
        "push_pull",
    ] {
        assert!(checked.contains(t), "capture has no {t}");
    }
}
