//! Docker NetworkDB nodes (`interop/networkdb`, built by scripts/build-networkdb): moby's
//! own `libnetwork/networkdb` on loopback, one command per stdin line, one JSON answer each.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process::{wait_bounded, LineLog};

const BINARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/bin/ndbnode");

/// One running NetworkDB node.
pub struct NdbNode {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
    stdin: Option<ChildStdin>,
    log: Arc<LineLog<Value>>,
    answered: usize,
}

impl NdbNode {
    /// Starts node `name` on `addr` and waits until it is ready.
    pub fn spawn(name: &str, addr: SocketAddr) -> Self {
        assert!(
            std::path::Path::new(BINARY).is_file(),
            "{BINARY} is missing (run scripts/build-networkdb)"
        );
        let mut child = Command::new(BINARY)
            .args(["-name", name, "-bind", &addr.ip().to_string()])
            .args(["-port", &addr.port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ndbnode");
        let log = LineLog::spawn(child.stdout.take().expect("stdout"), |l| {
            serde_json::from_str(&l).unwrap_or(Value::String(l))
        });
        log.wait_for(|e| e["event"] == "ready", Duration::from_secs(20))
            .expect("ndbnode ready");
        NdbNode {
            name: name.to_string(),
            addr,
            stdin: child.stdin.take(),
            child,
            log,
            answered: 1,
        }
    }

    /// Sends one command and returns its answer (`{"cmd", ...}`, `"error"` on failure).
    pub fn cmd(&mut self, line: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write a command");
        let want = self.answered + 1;
        let log = Arc::clone(&self.log);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let items = log.snapshot();
            if items.len() >= want {
                self.answered = want;
                return items[want - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no answer to {line}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a command that must succeed.
    pub fn ok(&mut self, line: &str) {
        let r = self.cmd(line);
        assert!(r.get("error").is_none(), "{}: {line}: {r}", self.name);
    }

    /// Repeats `line` until its answer satisfies `pred` (gossip takes its time).
    pub fn wait(&mut self, line: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.cmd(line);
            if pred(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {line} never satisfied: {r}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Leaves the cluster (`close`) and waits for the process to exit.
    pub fn close(&mut self) {
        self.ok("close");
        self.stdin = None;
        wait_bounded(&mut self.child, Duration::from_secs(20)).expect("ndbnode exits");
    }
}

impl Drop for NdbNode {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
