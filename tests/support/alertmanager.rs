//! Prometheus Alertmanager peers (interop/bin/alertmanager, built by
//! scripts/build-alertmanager) clustered on loopback, with a webhook receiver the harness
//! answers, and the HTTP API (v2) to create silences and post alerts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process::free_port;

const BINARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/bin/alertmanager");
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook endpoint that answers every request with 200 and counts them.
pub struct Webhook {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut buf = vec![0; 65536];
                let mut got = Vec::new();
                // Read the headers and the body its Content-Length announces.
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .ok();
            }
        });
        Webhook { addr, hits }
    }
}

/// One running Alertmanager peer.
pub struct Peer {
    pub http: SocketAddr,
    pub cluster: SocketAddr,
    child: Child,
}

impl Peer {
    /// Starts a peer with its API on `http` and its cluster on `cluster`, joining `peers`,
    /// routing every alert to `webhook` after a 1 s group wait; state under `dir`.
    pub fn spawn(
        dir: &Path,
        http: SocketAddr,
        cluster: SocketAddr,
        peers: &[SocketAddr],
        webhook: SocketAddr,
    ) -> Peer {
        assert!(
            Path::new(BINARY).is_file(),
            "{BINARY} is missing (run scripts/build-alertmanager)"
        );
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: hook\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n- name: hook\n  webhook_configs:\n  - url: http://{webhook}/\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new(BINARY);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={http}"))
            .arg(format!("--cluster.listen-address={cluster}"))
            .arg(format!("--cluster.advertise-address={cluster}"))
            .args([
                "--cluster.pushpull-interval=2s",
                "--cluster.settle-timeout=2s",
            ]);
        for p in peers {
            cmd.arg(format!("--cluster.peer={p}"));
        }
        let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager");
        Peer {
            http,
            cluster,
            child,
        }
    }

    /// Two peers under `dir` (in `a/` and `b/`), their clusters on `c1` and `c2` (the
    /// second joining the first) and their APIs on free loopback ports; returns once both
    /// list two cluster peers.
    pub fn spawn_pair(
        dir: &Path,
        (c1, c2): (SocketAddr, SocketAddr),
        webhook: SocketAddr,
        timeout: Duration,
    ) -> (Peer, Peer) {
        let api = || SocketAddr::new(c1.ip(), free_port(c1.ip()));
        let (d1, d2) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&d1).unwrap();
        std::fs::create_dir_all(&d2).unwrap();
        let a = Peer::spawn(&d1, api(), c1, &[], webhook);
        let b = Peer::spawn(&d2, api(), c2, &[c1], webhook);
        for p in [&a, &b] {
            p.wait_get(
                "/api/v2/status",
                |v| {
                    v["cluster"]["peers"]
                        .as_array()
                        .is_some_and(|p| p.len() == 2)
                },
                timeout,
            );
        }
        (a, b)
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::new_with_config(
            ureq::config::Config::builder()
                .timeout_global(Some(HTTP_TIMEOUT))
                .build(),
        )
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("http://{}{path}", self.http);
        let body = Self::agent()
            .get(&url)
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body:?}"))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<String, String> {
        let url = format!("http://{}{path}", self.http);
        Self::agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .and_then(|mut r| r.body_mut().read_to_string())
            .map_err(|e| format!("POST {url}: {e}"))
    }

    pub fn delete(&self, path: &str) -> Result<(), String> {
        let url = format!("http://{}{path}", self.http);
        Self::agent()
            .delete(&url)
            .call()
            .map(drop)
            .map_err(|e| format!("DELETE {url}: {e}"))
    }

    /// Polls `path` until `pred` holds on its JSON.
    pub fn wait_get(&self, path: &str, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.get(path);
            if let Ok(v) = &got {
                if pred(v) {
                    return v.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} on {} never as wanted: {got:?}",
                self.http
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
