//! Members of a grafana/dskit hash ring (`interop/dskitring`, built by
//! scripts/build-dskitring): dskit's memberlist KV over its TCP transport, with Grafana's
//! memberlist fork, as Loki, Mimir and Tempo run it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::process::{wait_bounded, LineLog};

const BINARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/bin/dskitring");

/// One running ring member.
pub struct RingMember {
    pub id: String,
    pub bind: SocketAddr,
    child: Child,
    /// Its JSON lines: `{"event":"ring","instances":{ID: STATE}}` and `{"event":"stopped"}`.
    pub log: Arc<LineLog<Value>>,
}

impl RingMember {
    /// Starts member `id` on `bind` in `zone` with `tokens` tokens, joining `join`;
    /// `compression` is dskit's `-memberlist.compression-algorithm` (`lzw`, `snappy`) or
    /// `none`.
    pub fn spawn(
        id: &str,
        bind: SocketAddr,
        zone: &str,
        tokens: u32,
        join: &[SocketAddr],
        compression: &str,
    ) -> Self {
        assert!(
            std::path::Path::new(BINARY).is_file(),
            "{BINARY} is missing (run scripts/build-dskitring)"
        );
        let joins: Vec<String> = join.iter().map(|a| a.to_string()).collect();
        let mut cmd = Command::new(BINARY);
        cmd.args(["-id", id, "-bind", &bind.to_string(), "-zone", zone])
            .args(["-tokens", &tokens.to_string(), "-compression", compression]);
        if !joins.is_empty() {
            cmd.args(["-join", &joins.join(",")]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dskitring");
        let log = LineLog::spawn(child.stdout.take().expect("stdout"), |l| {
            serde_json::from_str(&l).unwrap_or(Value::String(l))
        });
        RingMember {
            id: id.to_string(),
            bind,
            child,
            log,
        }
    }

    /// Waits until this member's view of the ring is `want` (instance ID to state).
    pub fn wait_ring(&self, want: &BTreeMap<&str, &str>, timeout: Duration) -> Result<(), String> {
        self.log
            .wait_for(
                |e| {
                    e["event"] == "ring"
                        && e["instances"].as_object().is_some_and(|m| {
                            m.len() == want.len()
                                && want
                                    .iter()
                                    .all(|(id, st)| m.get(*id).is_some_and(|s| s == st))
                        })
                },
                timeout,
            )
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "{}: ring never became {want:?}: {e}; last: {:?}",
                    self.id,
                    self.log.tail(3)
                )
            })
    }

    /// SIGTERM: the member leaves the ring and the cluster, then exits.
    pub fn leave(&mut self, timeout: Duration) {
        // SAFETY: signalling our own child by its id.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        wait_bounded(&mut self.child, timeout).expect("dskitring exits after SIGTERM");
    }

    /// SIGKILL: the member vanishes without a word.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for RingMember {
    fn drop(&mut self) {
        self.kill();
    }
}
