//! Damaged captures: a real capture from `testdata/captures` cut at many offsets and
//! with bytes flipped. The decoder must print the rows before the damage, end with a
//! message naming it and exit status 2, and never panic.

use std::process::Command;

use memberlist_interop::inspect::{CaptureReader, Inspector, InspectorConfig, Ports};

fn capture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/captures")
        .join(name);
    std::fs::read(path).unwrap()
}

/// Offsets where each record of a classic little-endian pcap ends.
fn record_ends(pcap: &[u8]) -> Vec<usize> {
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut ends = vec![];
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + len;
        ends.push(at);
    }
    assert_eq!(at, pcap.len());
    ends
}

/// Runs the whole pipeline in this process: frames read, rows made, capture error.
fn inspect(bytes: &[u8]) -> (u64, usize, Option<String>) {
    let mut reader = match CaptureReader::new(bytes) {
        Ok(r) => r,
        Err(e) => return (0, 0, Some(e.to_string())),
    };
    let mut inspector = Inspector::new(InspectorConfig {
        ports: Ports::Any,
        keyring: None,
        label: None,
        summarize: true,
        app: Default::default(),
    });
    let (mut frames, mut rows, mut error) = (0, Vec::new(), None);
    while let Some(frame) = reader.next_frame() {
        match frame {
            Ok(f) => {
                frames += 1;
                inspector.frame(&f, &mut rows);
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    inspector.finish(&mut rows);
    (frames, rows.len(), error)
}

fn decode(bytes: &[u8]) -> (usize, i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(["decode", "-", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            // The decoder may stop reading early (bad magic); a broken pipe is fine.
            let _ = c.stdin.take().unwrap().write_all(bytes);
            c.wait_with_output()
        })
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap().lines().count(),
        out.status.code().expect("exited, not killed by a signal"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn truncated_captures_stop_at_the_damage() {
    let pcap = capture("plain.pcap");
    let ends = record_ends(&pcap);
    let (_, whole_rows, err) = inspect(&pcap);
    assert_eq!(err, None);
    // Every cut inside a record: the frames before it are read, then an error.
    for cut in (0..pcap.len()).step_by(7).chain(ends.iter().map(|e| e - 1)) {
        let (frames, rows, err) = inspect(&pcap[..cut]);
        let complete = ends.iter().filter(|&&e| e <= cut).count() as u64;
        if cut == 24 || ends.contains(&cut) {
            assert_eq!((frames, err), (complete, None), "cut at {cut}");
        } else {
            assert_eq!(frames, complete, "cut at {cut}");
            let err = err.unwrap_or_else(|| panic!("cut at {cut}: no error"));
            assert!(
                ["damaged", "not a pcap", "cut short"]
                    .iter()
                    .any(|w| err.contains(w)),
                "cut at {cut}: {err}"
            );
            assert!(rows <= whole_rows);
        }
    }
    // The binary: the rows before the damage, a message, exit status 2.
    let (full_rows, _, _) = decode(&pcap);
    for &cut in &[3, 20, ends[0] - 5, ends[ends.len() / 2] + 9, pcap.len() - 1] {
        let (rows, code, err) = decode(&pcap[..cut]);
        assert_eq!(code, 2, "cut at {cut}: {err}");
        assert!(rows <= full_rows);
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        let want = if cut < 4 {
            "not a pcap".to_string()
        } else if cut < 24 {
            "header is cut short".to_string()
        } else {
            format!("damaged after frame {complete}")
        };
        assert!(err.contains(&want), "cut at {cut}: {err} (want {want})");
    }
}

#[test]
fn flipped_bytes_never_panic() {
    for name in ["plain.pcap", "ipv6.pcap"] {
        let pcap = capture(name);
        // Every byte of the file header and the first records, then a sample.
        for at in (0..pcap.len()).filter(|&at| at < 200 || at % 17 == 0) {
            let masks: &[u8] = if at < 80 {
                &[0x01, 0x80, 0xff]
            } else {
                &[0xff]
            };
            for &mask in masks {
                let mut bad = pcap.clone();
                bad[at] ^= mask;
                // A panic here fails the test; any outcome short of one is allowed.
                inspect(&bad);
            }
        }
    }
    // A record claiming a huge length, and a damaged magic, through the binary.
    let mut pcap = capture("plain.pcap");
    pcap[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (rows, code, err) = decode(&pcap);
    assert_eq!((rows, code), (0, 2), "{err}");
    pcap[0] ^= 0xff;
    let (_, code, err) = decode(&pcap);
    assert_eq!(code, 2);
    assert!(err.contains("not a pcap"), "{err}");
}
