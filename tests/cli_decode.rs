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

/// `--hex` takes hex digits, spaces, colons and a leading 0x; anything else is refused
/// (it used to drop the letters and decode what was left).
#[test]
fn hex_is_strict() {
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(["decode", "--hex", "hello world"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("--hex: 'h' at character 1 is not a hex digit"),
        "{err}"
    );
    let (_, code) = decode(&["--hex", "0c0g"]);
    assert_eq!(code, 2);
    let (_, code) = decode(&["--hex", "abc"]);
    assert_eq!(code, 2, "an odd number of digits");
    // The same Go ping written with 0x, colons and spaces.
    let (hex, side) = fixture("packet_ping");
    let spaced: Vec<String> = hex
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    for form in [
        format!("0x{hex}"),
        spaced.join(":"),
        format!(" {} ", spaced.join(" ")),
    ] {
        let (rows, code) = decode(&["--hex", &form]);
        assert_eq!(code, 0, "{form}");
        assert_eq!(
            rows[0]["fields"]["SeqNo"],
            side["messages"][0]["fields"]["SeqNo"]
        );
    }
}

/// A TCP stream frame written by Go decodes from hex too: plain, compressed, labelled
/// and encrypted (the dialer's frame and the acceptor's reply); without a key the
/// error says which flag opens it.
#[test]
fn hex_takes_stream_frames() {
    let (hex, side) = fixture("stream_pushpull_join_plain");
    let (rows, code) = decode(&["--hex", &hex]);
    assert_eq!(code, 0);
    assert_eq!(
        (&rows[0]["transport"], &rows[0]["type"], &rows[0]["fields"]),
        (
            &"tcp".into(),
            &"push_pull".into(),
            &side["message"]["fields"]
        )
    );
    assert_eq!(
        rows[0]["nodes"].as_array().unwrap().len(),
        side["message"]["nodes"].as_array().unwrap().len()
    );
    let (hex, side) = fixture("stream_user");
    let (rows, code) = decode(&["--hex", &hex]);
    assert_eq!(code, 0);
    assert_eq!(rows[0]["layers"], serde_json::json!(["compress"]));
    assert_eq!(rows[0]["payload"], side["message"]["payload"]);
    // Several frames of one direction, one row each.
    let (pushpull, _) = fixture("stream_pushpull_join_plain");
    let (user, _) = fixture("stream_user_plain");
    let (rows, code) = decode(&["--hex", &format!("{pushpull}{user}")]);
    assert_eq!(code, 0);
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["push_pull", "user"]);

    let (hex, side) = fixture("stream_pushpull_aes128_v1_label");
    let key = side["keys"][0].as_str().unwrap();
    let (rows, code) = decode(&["--hex", &hex, "--key", key]);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(
        rows[0]["layers"],
        serde_json::json!(["has_label", "encrypt", "compress"])
    );
    assert_eq!(
        (&rows[0]["label"], &rows[0]["key"], &rows[0]["fields"]),
        (&"prod".into(), &0.into(), &side["message"]["fields"])
    );
    let (rows, code) = decode(&["--hex", &hex]);
    assert_eq!(code, 1);
    assert_eq!(
        rows[0]["error"],
        "an encrypted TCP stream frame: pass --key or --keyring-file to open it"
    );
    // The acceptor's reply has no label header; the label is still its AAD.
    let (hex, side) = fixture("stream_pushpull_aes128_v1_acceptor");
    let (rows, code) = decode(&["--hex", &hex, "--key", key, "--label", "prod"]);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows[0]["fields"], side["message"]["fields"]);
    let (rows, code) = decode(&["--hex", &hex, "--key", key]);
    assert_eq!(code, 1);
    assert!(rows[0]["error"].as_str().unwrap().contains("--label"));
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
