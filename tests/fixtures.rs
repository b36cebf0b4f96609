//! Every fixture in `fixtures/` was produced by Go (see fixtures/README.md). For each:
//! our decoder must yield exactly what the sidecar says, and our encoder must give back
//! Go's bytes exactly (reusing the nonce Go drew). We also write our own encodings, with
//! fresh nonces, to a directory that `fixturegen verify` reads back with Go. Decoding goes
//! through the crate's reference decoder, the one `memberlist vectors` answers with.

mod support;

use std::path::{Path, PathBuf};

use memberlist_interop::conform::vectors::corpus::Input;
use memberlist_interop::conform::vectors::reference::{self, OneMessage};
use memberlist_interop::wire::{
    build_packet, build_stream, crypto, lzw, Encryption, EncryptionVersion, Keyring, Label,
    MessageType, PacketOptions, SecretKey, Side, StreamOptions,
};
use serde_json::{json as j, Value};
use support::fixtures::{load, Fixture};

fn out_dir() -> PathBuf {
    let dir = std::env::var_os("RUST_FIXTURES_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-fixtures"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the crate's reference decoder needs besides the bytes, from the sidecar.
fn input(side: &Value) -> Input {
    serde_json::from_value(side.clone()).expect("sidecar holds keys and label")
}

/// A ring whose primary is the key that encrypted the fixture, to re-encrypt with it.
fn sealing_ring(side: &Value) -> Option<Keyring> {
    let i = side["key_index"].as_u64()? as usize;
    let key = side["keys"].get(i)?.as_str()?;
    Some(Keyring::new(SecretKey::from_base64(key).unwrap()))
}

fn version(side: &Value) -> Option<EncryptionVersion> {
    side["encryption_version"]
        .as_u64()
        .map(|v| EncryptionVersion::try_from(v as u8).unwrap())
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

/// The decoded form must hold what the sidecar says under each of `keys`.
fn same_as_sidecar(got: &Value, side: &Value, keys: &[&str]) -> Result<(), String> {
    for &k in keys {
        if got[k] != side[k] {
            return Err(format!("{k}: decoded {}\n  sidecar {}", got[k], side[k]));
        }
    }
    Ok(())
}

fn check_message(f: &Fixture) -> Result<Vec<u8>, String> {
    let m = reference::read_message(&f.bin)?;
    same_as_sidecar(&j!({ "message": m.to_json() }), &f.side, &["message"])?;
    let again = match &m {
        // Header-only fixtures of the stream messages.
        OneMessage::PushPull(h) => {
            let mut again = vec![MessageType::PushPull as u8];
            h.encode(&mut again);
            again
        }
        OneMessage::User(h) => {
            let mut again = vec![MessageType::User as u8];
            h.encode(&mut again);
            again
        }
        OneMessage::Whole(m) => m.to_bytes(),
    };
    if f.side["reencode"] != Value::Bool(false) {
        same_as_go(&again, &f.bin)?;
    }
    Ok(again)
}

fn check_packet(f: &Fixture) -> Result<Vec<u8>, String> {
    let (p, got) = reference::open_packet(&input(&f.side), &f.bin)?;
    same_as_sidecar(
        &got,
        &f.side,
        &[
            "label",
            "layers",
            "messages",
            "encryption_version",
            "key_index",
        ],
    )?;
    // open_packet fails on a part that does not decode, so every part is here.
    let encoded: Vec<Vec<u8>> = p
        .messages
        .iter()
        .filter_map(|(_, m)| m.as_ref().ok().map(|m| m.to_bytes()))
        .collect();
    // Rebuild with the same layers: Go's bytes exactly, then ours with a fresh nonce.
    let label = (!p.label.is_empty()).then(|| Label::new(p.label.clone()).unwrap());
    let compress = reference::outer_layers(&p).contains(&MessageType::Compress);
    let seal = sealing_ring(&f.side);
    let build = |nonce: Option<[u8; 12]>| {
        let opts = PacketOptions {
            compress,
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
    let input = input(&f.side);
    let (frame, got) = reference::open_stream(&input, &f.bin)?;
    same_as_sidecar(
        &got,
        &f.side,
        &["layers", "message", "encryption_version", "key_index"],
    )?;
    let side = reference::stream_side(&input)?;
    let label = Label::parse_optional(&input.label).unwrap();
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
    let fixtures = load("fixtures");
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
