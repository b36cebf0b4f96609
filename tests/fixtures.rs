//! Every fixture in `fixtures/` was produced by Go (see fixtures/README.md). For each:
//! our decoder must yield exactly what the sidecar says, and our encoder must give back
//! Go's bytes exactly (reusing the nonce Go drew). We also write our own encodings, with
//! fresh nonces, to a directory that `fixturegen verify` reads back with Go.

use std::path::{Path, PathBuf};

use memberlist_interop::wire::{
    self, build_packet, build_stream, crypto, decode_complete, json, lzw, peel_packet_owned,
    Encryption, EncryptionVersion, Keyring, Label, LabelPolicy, Message, MessageType, PacketConfig,
    PacketOptions, PushPullHeader, SecretKey, Side, StreamConfig, StreamOptions, UserMsgHeader,
};
use serde_json::{json as j, Value};

struct Fixture {
    name: String,
    bin: Vec<u8>,
    side: Value,
}

fn load() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out: Vec<Fixture> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then_some(p)
        })
        .filter(|p| p.file_stem().unwrap() != "README")
        .map(|p| Fixture {
            name: p.file_stem().unwrap().to_string_lossy().into_owned(),
            bin: std::fs::read(p.with_extension("bin")).unwrap(),
            side: serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn out_dir() -> PathBuf {
    let dir = std::env::var_os("RUST_FIXTURES_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-fixtures"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keyring(side: &Value) -> Option<Keyring> {
    let keys: Vec<SecretKey> = side["keys"]
        .as_array()?
        .iter()
        .map(|k| SecretKey::from_base64(k.as_str().unwrap()).unwrap())
        .collect();
    let mut it = keys.into_iter();
    Some(Keyring::with_keys(it.next()?, it))
}

/// A ring whose primary is the key that encrypted the fixture, to re-encrypt with it.
fn sealing_ring(side: &Value) -> Option<Keyring> {
    let ring = keyring(side)?;
    let i = side["key_index"].as_u64()? as usize;
    Some(Keyring::new(ring.keys()[i].clone()))
}

fn version(side: &Value) -> Option<EncryptionVersion> {
    side["encryption_version"]
        .as_u64()
        .map(|v| EncryptionVersion::try_from(v as u8).unwrap())
}

fn layer_names(layers: &[MessageType]) -> Value {
    layers.iter().map(|t| t.name()).collect()
}

fn nonce_at(bin: &[u8], at: usize) -> [u8; 12] {
    bin[at + 1..at + 13].try_into().unwrap()
}

/// Our re-encoding must be Go's bytes exactly.
fn same_as_go(ours: &[u8], go: &[u8]) -> Result<(), String> {
    if ours == go {
        return Ok(());
    }
    Err(format!(
        "re-encoded {}\n  go      {}",
        hex::encode(ours),
        hex::encode(go)
    ))
}

fn check_message(f: &Fixture) -> Result<Vec<u8>, String> {
    let want = &f.side["message"];
    let (t, body) = f.bin.split_first().unwrap();
    let mut r = wire::msgpack::Reader::new(body);
    let mut again = vec![*t];
    let got = match MessageType::try_from(*t).unwrap() {
        // Header-only fixtures of the stream messages.
        MessageType::PushPull => {
            let h = PushPullHeader::read(&mut r).map_err(|e| e.to_string())?;
            h.encode(&mut again);
            j!({"type": "push_pull", "fields": json::push_pull_header(&h)})
        }
        MessageType::User => {
            let h = UserMsgHeader::read(&mut r).map_err(|e| e.to_string())?;
            h.encode(&mut again);
            j!({"type": "user", "fields": json::user_msg_header(&h)})
        }
        _ => {
            let m = Message::decode(&f.bin).map_err(|e| e.to_string())?;
            again = m.to_bytes();
            json::message(&m)
        }
    };
    if &got != want {
        return Err(format!("decoded {got}\n  sidecar {want}"));
    }
    if f.side["reencode"] != Value::Bool(false) {
        same_as_go(&again, &f.bin)?;
    }
    Ok(again)
}

fn check_packet(f: &Fixture) -> Result<Vec<u8>, String> {
    let ring = keyring(&f.side);
    let cfg = PacketConfig {
        label: LabelPolicy::Any,
        keyring: ring.as_ref(),
        verify_incoming: true,
    };
    let p = peel_packet_owned(&f.bin, &cfg).map_err(|e| e.to_string())?;
    let mut messages = Vec::new();
    let mut encoded = Vec::new();
    let mut top: Vec<MessageType> = Vec::new();
    for (layers, m) in &p.messages {
        let m = m.as_ref().map_err(|e| format!("part failed: {e}"))?;
        let mut v = json::message(m);
        v["layers"] = layer_names(layers.as_slice());
        messages.push(v);
        encoded.push(m.to_bytes());
        if top.len() < layers.as_slice().len() {
            top = layers.as_slice().to_vec();
        }
    }
    if p.messages.is_empty() {
        top = [
            (!p.label.is_empty()).then_some(MessageType::HasLabel),
            p.decrypted.map(|_| MessageType::Encrypt),
            p.crc.then_some(MessageType::HasCrc),
            Some(MessageType::Compound),
        ]
        .into_iter()
        .flatten()
        .collect();
    }
    let got = j!({
        "label": String::from_utf8_lossy(&p.label),
        "layers": layer_names(&top),
        "messages": messages,
        "encryption_version": p.decrypted.map(|(v, _)| v as u8),
    });
    for k in ["label", "layers", "messages", "encryption_version"] {
        if got[k] != f.side[k] {
            return Err(format!("{k}: decoded {}\n  sidecar {}", got[k], f.side[k]));
        }
    }
    if let Some((_, key)) = p.decrypted {
        if Some(key as u64) != f.side["key_index"].as_u64() {
            return Err(format!(
                "opened with key {key}, sidecar says {}",
                f.side["key_index"]
            ));
        }
    }
    // Rebuild with the same layers: Go's bytes exactly, then ours with a fresh nonce.
    let label = (!p.label.is_empty()).then(|| Label::new(p.label.clone()).unwrap());
    let seal = sealing_ring(&f.side);
    let build = |nonce: Option<[u8; 12]>| {
        let opts = PacketOptions {
            compress: top.contains(&MessageType::Compress),
            crc: p.crc,
            encryption: seal.as_ref().map(|r| Encryption {
                keyring: r,
                version: version(&f.side).unwrap(),
                nonce,
            }),
            label: label.as_ref(),
        };
        build_packet(&encoded, &opts).unwrap()
    };
    let label_len = Label::overhead(label.as_ref());
    let again = build(seal.as_ref().map(|_| nonce_at(&f.bin, label_len)));
    same_as_go(&again, &f.bin)?;
    Ok(build(None))
}

fn check_stream(f: &Fixture) -> Result<Vec<u8>, String> {
    let ring = keyring(&f.side);
    let side = if f.side["direction"] == "dialer" {
        Side::Dialer
    } else {
        Side::Acceptor
    };
    let label_text = f.side["label"].as_str().unwrap_or_default();
    let label = Label::parse_optional(label_text).unwrap();
    let policy = match side {
        Side::Dialer => LabelPolicy::Any,
        Side::Acceptor => LabelPolicy::Expect(label.as_ref()),
    };
    let cfg = StreamConfig {
        label: policy,
        keyring: ring.as_ref(),
        verify_incoming: true,
        side,
    };
    let frame = decode_complete(&f.bin, &cfg).map_err(|e| e.to_string())?;
    if frame.consumed != f.bin.len() {
        return Err(format!(
            "frame used {} of {} bytes",
            frame.consumed,
            f.bin.len()
        ));
    }
    let got_layers: Vec<&str> = [
        (!frame.label.is_empty()).then_some("has_label"),
        frame.decrypted.map(|_| "encrypt"),
        frame.compressed.then_some("compress"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let got = j!({
        "layers": got_layers,
        "message": json::stream_message(&frame.message),
        "encryption_version": frame.decrypted.map(|(v, _)| v as u8),
    });
    for k in ["layers", "message", "encryption_version"] {
        if got[k] != f.side[k] {
            return Err(format!("{k}: decoded {}\n  sidecar {}", got[k], f.side[k]));
        }
    }
    let seal = sealing_ring(&f.side);
    let build = |nonce: Option<[u8; 12]>| {
        let opts = StreamOptions {
            compress: frame.compressed,
            encryption: seal.as_ref().map(|r| Encryption {
                keyring: r,
                version: version(&f.side).unwrap(),
                nonce,
            }),
            label: label.as_ref(),
            side: Some(side),
        };
        build_stream(&frame.message, &opts)
    };
    let header = if side == Side::Dialer {
        Label::overhead(label.as_ref())
    } else {
        0
    };
    let again = build(seal.as_ref().map(|_| nonce_at(&f.bin, header + 5)));
    same_as_go(&again, &f.bin)?;
    Ok(build(None))
}

fn pattern(name: &str, n: usize) -> Vec<u8> {
    let mut x = 1u32;
    (0..n)
        .map(|i| match name {
            "mod256" => i as u8,
            "lcg" => {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                (x >> 16) as u8
            }
            _ => 0,
        })
        .collect()
}

fn check_lzw(f: &Fixture) -> Result<Vec<u8>, String> {
    let p = &f.side["plain"];
    let plain = match p["hex"].as_str() {
        Some(h) => hex::decode(h).unwrap(),
        None => pattern(
            p["pattern"].as_str().unwrap(),
            p["len"].as_u64().unwrap() as usize,
        ),
    };
    let ours = lzw::compress(&plain);
    if ours != f.bin {
        return Err(format!(
            "compress differs from Go ({} vs {} bytes)",
            ours.len(),
            f.bin.len()
        ));
    }
    if lzw::decompress(&f.bin, lzw::MAX_DECOMPRESSED_BYTES).map_err(|e| e.to_string())? != plain {
        return Err("decompress differs".into());
    }
    Ok(ours)
}

fn check_encrypt(f: &Fixture) -> Result<Vec<u8>, String> {
    let key = SecretKey::from_base64(f.side["key"].as_str().unwrap()).unwrap();
    let v = EncryptionVersion::try_from(f.side["version"].as_u64().unwrap() as u8).unwrap();
    let aad = hex::decode(f.side["aad"].as_str().unwrap()).unwrap();
    let plain = hex::decode(f.side["plain"].as_str().unwrap()).unwrap();
    if crypto::decrypt_payload(&key, &f.bin, &aad).map_err(|e| e.to_string())? != plain {
        return Err("decrypted bytes differ".into());
    }
    let mut again = Vec::new();
    crypto::encrypt_payload(v, &key, &nonce_at(&f.bin, 0), &plain, &aad, &mut again);
    if again != f.bin {
        return Err("re-encrypted bytes differ".into());
    }
    let mut ours = Vec::new();
    Keyring::new(key).encrypt(v, &plain, &aad, &mut ours);
    Ok(ours)
}

#[test]
fn go_fixtures_decode_and_reencode_exactly() {
    let fixtures = load();
    assert!(fixtures.len() > 200, "fixtures missing: {}", fixtures.len());
    let out = out_dir();
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for f in &fixtures {
        let kind = f.side["kind"].as_str().unwrap().to_string();
        let result = match kind.as_str() {
            "message" => check_message(f),
            "packet" => check_packet(f),
            "stream" => check_stream(f),
            "lzw" => check_lzw(f),
            "encrypt" => check_encrypt(f),
            other => Err(format!("unknown kind {other}")),
        };
        match result {
            Ok(ours) => {
                *kinds.entry(kind).or_default() += 1;
                std::fs::write(out.join(format!("{}.bin", f.name)), ours).unwrap();
                std::fs::write(out.join(format!("{}.json", f.name)), f.side.to_string()).unwrap();
            }
            Err(e) => failures.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "fixtures OK by kind: {kinds:?}; Rust encodings written to {}",
        out.display()
    );
}
