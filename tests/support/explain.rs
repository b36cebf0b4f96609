//! Running `memberlist explain`, bounded, and reading its JSON report.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::process::run_bounded;

/// `memberlist explain ARGS…`: stdout, the exit code and stderr.
pub fn explain(args: &[&str]) -> (String, i32, String) {
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .arg("explain")
            .args(args),
        Duration::from_secs(60),
    )
    .expect("explain runs");
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// [`explain`] with `--format json`: the report, the exit code and stderr.
pub fn explain_json(args: &[&str]) -> (Value, i32, String) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (out, code, err) = explain(&all);
    let report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (report, code, err)
}

/// The report's entry for member `name`; panics when it has none.
pub fn member<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no member {name} in {report:#}"))
}
