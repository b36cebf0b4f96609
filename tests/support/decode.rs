//! Running `memberlist decode` on a capture, bounded, and reading its JSON rows: what the
//! capture tests (recorded ones and checked-in ones) do with a pcap.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use super::process::run_bounded;

/// `memberlist decode PCAP ARGS…`, stopped after 60 s.
pub fn decode(pcap: &Path, args: &[&str]) -> Output {
    run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .arg("decode")
            .arg(pcap)
            .args(args),
        Duration::from_secs(60),
    )
    .expect("decode runs")
}

/// The rows of a `--format json` run, one JSON object a line.
pub fn json_rows(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

/// Decodes `pcap` with `--format json` and no other flag, and asserts that no row is an
/// error and the run succeeded. Returns the rows and what decode wrote on stderr.
pub fn rows_without_errors(pcap: &Path) -> (Vec<Value>, String) {
    let out = decode(pcap, &["--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rows = json_rows(&out);
    let errors: Vec<&Value> = rows.iter().filter(|r| r.get("error").is_some()).collect();
    assert!(
        errors.is_empty(),
        "{} error rows, e.g. {}",
        errors.len(),
        errors[0]
    );
    assert!(out.status.success(), "status {:?}; {stderr}", out.status);
    (rows, stderr)
}

/// [`decode`] of a capture held in memory (written to a temporary file first).
pub fn decode_capture(capture: &[u8], args: &[&str]) -> Output {
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), capture).expect("write the capture");
    decode(file.path(), args)
}
