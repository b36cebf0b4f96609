//! `memberlist conform` as a test runs it: bounded, JSON on stdout, and the outcome
//! of each check by id.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::process::run_bounded;

/// Longest a whole run may take (the slowest check waits a few seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One finished run.
pub struct ConformRun {
    pub exit: Option<i32>,
    pub report: Value,
    pub stderr: String,
}

impl ConformRun {
    /// Check id -> outcome (`pass`, `fail`, `n/a`).
    pub fn outcomes(&self) -> BTreeMap<String, String> {
        self.report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["id"].as_str().unwrap_or("?").to_owned(),
                    c["outcome"].as_str().unwrap_or("?").to_owned(),
                )
            })
            .collect()
    }

    /// The ids of the failed checks.
    pub fn failed(&self) -> Vec<String> {
        self.outcomes()
            .into_iter()
            .filter(|(_, o)| o == "fail")
            .map(|(id, _)| id)
            .collect()
    }

    /// The detail sentence of check `id`.
    pub fn detail(&self, id: &str) -> String {
        self.report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == id)
            .and_then(|c| c["detail"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// Everything a failing assertion should show.
    pub fn explain(&self) -> String {
        let lines: Vec<String> = self.report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {}: {}", c["outcome"], c["id"], c["detail"]))
            .collect();
        format!(
            "exit {:?}\n{}\nstderr: {}",
            self.exit,
            lines.join("\n"),
            self.stderr
        )
    }
}

/// Runs `memberlist conform ADDR --format json` with `extra` arguments.
pub fn conform(addr: SocketAddr, extra: &[&str]) -> ConformRun {
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["conform", &addr.to_string(), "--format", "json"])
            .args(extra),
        RUN_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("memberlist conform {addr}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    ConformRun {
        exit: out.status.code(),
        report: serde_json::from_str(&stdout).unwrap_or(Value::String(stdout.into_owned())),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
