//! `memberlist decode --hex` on Go-produced packets: the JSON a user gets, and error
//! rows (with exit status 1) for packets that do not decode.

use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> (String, Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let bin = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
    let side =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    (hex::encode(bin), side)
}

fn decode(args: &[&str]) -> (Vec<Value>, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .arg("decode")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let rows = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (rows, out.status.code().unwrap())
}

#[test]
fn encrypted_labelled_packet_decodes_with_its_key() {
    let (hex, side) = fixture("packet_aes256_v0_label");
    let key = side["keys"][0].as_str().unwrap();
    let (rows, code) = decode(&["--hex", &hex, "--key", key, "--label", "prod"]);
    assert_eq!(code, 0);
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["type"], "alive");
        assert_eq!(
            row["layers"],
            serde_json::json!(["has_label", "encrypt", "has_crc", "compress", "compound"])
        );
        assert_eq!(
            row["fields"]["Node"],
            format!("node-{}", ["a", "b", "c"][i])
        );
        assert_eq!(row["fields"]["Addr"], format!("10.0.0.{}", i + 1));
        assert_eq!(row["encryption_version"], 0);
        assert_eq!(row["key"], 0);
    }
}

#[test]
fn undecodable_packets_give_error_rows() {
    let (hex, side) = fixture("packet_aes128_v1");
    let other = "AAAAAAAAAAAAAAAAAAAAAA==";
    let (rows, code) = decode(&["--hex", &hex, "--key", other]);
    assert_eq!(code, 1);
    assert!(rows[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("no key opened it (tried 1 key)"));
    // With the right key as the second of two, it opens and says which key did.
    let key = side["keys"][0].as_str().unwrap();
    let (rows, code) = decode(&["--hex", &hex, "--key", other, "--key", key]);
    assert_eq!((code, rows[0]["key"].as_u64()), (0, Some(1)));
    // Wrong label, bad CRC, truncation.
    let (hex, _) = fixture("packet_label");
    let (rows, code) = decode(&["--hex", &hex, "--label", "dev"]);
    assert_eq!(code, 1);
    assert!(rows[0]["error"]
        .as_str()
        .unwrap()
        .contains("label mismatch"));
    let (mut crc, _) = fixture("packet_ping_crc");
    crc.replace_range(crc.len() - 2.., "ff");
    let (rows, _) = decode(&["--hex", &crc]);
    assert!(rows[0]["error"].as_str().unwrap().contains("checksum"));
    let (ping, _) = fixture("packet_ping");
    let (rows, code) = decode(&["--hex", &ping[..20]]);
    assert_eq!(code, 1);
    assert!(rows[0]["error"].as_str().unwrap().contains("truncated"));
}

#[test]
fn bad_arguments_exit_2() {
    let (_, code) = decode(&["--hex", "zz1"]);
    assert_eq!(code, 2);
    let (_, code) = decode(&["--hex", "00", "--key", "c2hvcnQ="]);
    assert_eq!(code, 2);
}

/// The README's first command: a capture recorded on random ports decodes without
/// `--port` or `--any-port`, and stderr names the ports it found.
#[test]
fn capture_on_random_ports_decodes_without_port_flags() {
    let capture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/serf.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .arg("decode")
        .arg(&capture)
        .args(["--key", "gZ2xx1Lo2h4Ylk1Fgiv6j4TuhuEGZiYbcOlxv5zhjoc="])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "   30 1795593006.364589 127.0.0.1:43793 -> 127.0.0.1:46781 udp [encrypt(v1, key 0) has_crc compress compound] user serf user_event deploy ltime=1 payload=\"v42\" cc",
        "   73 1795593009.400372 127.0.0.1:41085 -> 127.0.0.1:43793 udp [encrypt(v1, key 0) has_crc] user serf leave s3 ltime=2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing: {line}");
    }
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("pass --port 41085 --port 43793 --port 46781"),
        "{err}"
    );
}
