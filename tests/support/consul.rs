//! A Consul agent (the release `scripts/build-consul` builds) in a child process on
//! loopback: a single-node server that elects itself, or a client joined to it. Read
//! through its HTTP API, which reports LAN members with their raw Serf tags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::process::{free_port, run_bounded, LineLog};

/// Where `scripts/build-consul` puts Consul.
pub const CONSUL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/bin/consul");
/// How long a server may take to elect itself, or a client to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one HTTP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start an agent.
#[derive(Clone, Debug)]
pub struct ConsulOpts {
    node: String,
    server: bool,
    node_id: Option<String>,
    join: Option<SocketAddr>,
    encrypt: Option<String>,
}

impl ConsulOpts {
    /// A server of datacenter `dc1` that bootstraps alone.
    pub fn server(node: &str) -> Self {
        ConsulOpts {
            node: node.to_owned(),
            server: true,
            node_id: None,
            join: None,
            encrypt: None,
        }
    }
    /// A client of `dc1` that joins the LAN pool at `join`.
    pub fn client(node: &str, join: SocketAddr) -> Self {
        ConsulOpts {
            node: node.to_owned(),
            server: false,
            node_id: None,
            join: Some(join),
            encrypt: None,
        }
    }
    /// The gossip key (base64), as `consul keygen` prints.
    pub fn encrypt(mut self, base64: &str) -> Self {
        self.encrypt = Some(base64.to_owned());
        self
    }
    /// A fixed node ID (otherwise Consul picks a random one).
    pub fn node_id(mut self, id: &str) -> Self {
        self.node_id = Some(id.to_owned());
        self
    }
}

/// A running Consul agent. Dropping it kills the process and removes its data.
pub struct ConsulAgent {
    node: String,
    serf_lan: SocketAddr,
    http: SocketAddr,
    child: Child,
    log: Arc<LineLog<String>>,
    _data: TempDir,
}

impl ConsulAgent {
    /// Starts an agent on free loopback ports (DNS and gRPC off) and waits until it is
    /// usable: a server has elected itself leader, a client lists a server as a member.
    /// Panics with the agent's log if it does not, or if Consul is not built.
    pub fn spawn(opts: ConsulOpts) -> ConsulAgent {
        assert!(
            std::path::Path::new(CONSUL).is_file(),
            "{CONSUL} is missing (run scripts/build-consul)"
        );
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let port = || free_port(ip);
        let serf_lan = SocketAddr::new(ip, port());
        let http = SocketAddr::new(ip, port());
        let data = tempfile::tempdir().expect("data dir");
        let mut cmd = Command::new(CONSUL);
        cmd.arg("agent")
            .arg(format!("-node={}", opts.node))
            .arg("-datacenter=dc1")
            .arg(format!("-bind={ip}"))
            .arg(format!("-client={ip}"))
            .arg(format!("-data-dir={}", data.path().display()))
            .arg(format!("-serf-lan-port={}", serf_lan.port()))
            .arg(format!("-serf-wan-port={}", port()))
            .arg(format!("-server-port={}", port()))
            .arg(format!("-http-port={}", http.port()))
            .args(["-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1"])
            .arg("-log-level=debug");
        if opts.server {
            cmd.args(["-server", "-bootstrap-expect=1"]);
        }
        if let Some(id) = &opts.node_id {
            cmd.arg(format!("-node-id={id}"));
        }
        if let Some(k) = &opts.encrypt {
            cmd.arg(format!("-encrypt={k}"));
        }
        if let Some(j) = opts.join {
            cmd.arg(format!("-join={j}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CONSUL}: {e}"));
        let log = LineLog::spawn(child.stdout.take().expect("piped stdout"), |l| l);
        let mut agent = ConsulAgent {
            node: opts.node,
            serf_lan,
            http,
            child,
            log,
            _data: data,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let ready = if opts.server {
                agent.get("/v1/status/leader").map(|v| v != "")
            } else {
                agent.members().map(|ms| {
                    ms.iter()
                        .any(|m| m["Tags"]["role"] == "consul" && m["Status"] == 1)
                })
            };
            match ready {
                Ok(true) => return agent,
                Ok(false) | Err(_) if Instant::now() < deadline => {}
                other => panic!("{}", agent.explain(&format!("not ready: {other:?}"))),
            }
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("{}", agent.explain(&format!("exited with {status}")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The Serf LAN gossip address (TCP and UDP), where clients join.
    pub fn serf_lan_addr(&self) -> SocketAddr {
        self.serf_lan
    }

    /// Waits for a log line containing `text`.
    pub fn wait_log(&self, text: &str, timeout: Duration) -> Result<String, String> {
        self.log
            .wait_for(|l| l.contains(text), timeout)
            .map_err(|e| self.explain(&e))
    }

    fn explain(&self, what: &str) -> String {
        format!(
            "consul agent {}: {what}\nlast output:\n  {}",
            self.node,
            self.log.tail(40).join("\n  ")
        )
    }

    /// Runs `consul SUBCOMMAND -http-addr=.. ARGS` against this agent; its stdout.
    pub fn cli(&self, subcommand: &str, args: &[&str]) -> Result<String, String> {
        let out = run_bounded(
            Command::new(CONSUL)
                .arg(subcommand)
                .arg(format!("-http-addr={}", self.http))
                .args(args),
            HTTP_TIMEOUT,
        )?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!(
                "consul {subcommand} {args:?}: {}: {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(text)
    }

    /// GET `path` from the HTTP API, as JSON.
    pub fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("http://{}{path}", self.http);
        let agent = ureq::Agent::new_with_config(
            ureq::config::Config::builder()
                .timeout_global(Some(HTTP_TIMEOUT))
                .build(),
        );
        let body = agent
            .get(&url)
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body:?}"))
    }

    /// `/v1/agent/members`: the LAN members this agent knows, each with `Name`, `Addr`,
    /// `Port`, `Tags` (raw Serf tags), `Status` (Serf's: 1 alive, 3 left, 4 failed) and
    /// the memberlist and Serf (`Delegate*`) version ranges.
    pub fn members(&self) -> Result<Vec<Value>, String> {
        let v = self.get("/v1/agent/members")?;
        v.as_array()
            .cloned()
            .ok_or_else(|| format!("members: not an array: {v}"))
    }

    /// Polls `path` until `pred` holds on its JSON.
    pub fn wait_get(
        &self,
        path: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.get(path);
            if let Ok(v) = &got {
                if pred(v) {
                    return Ok(v.clone());
                }
            }
            if Instant::now() >= deadline {
                return Err(self.explain(&format!(
                    "GET {path} did not reach the wanted state within {timeout:?}: {got:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The member row for `name` once `pred` holds on it.
    pub fn wait_member(
        &self,
        name: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, String> {
        let v = self.wait_get(
            "/v1/agent/members",
            |v| {
                v.as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["Name"] == name && pred(m)))
            },
            timeout,
        )?;
        let ms = v.as_array().expect("checked above");
        Ok(ms
            .iter()
            .find(|m| m["Name"] == name)
            .cloned()
            .expect("found"))
    }
}

impl Drop for ConsulAgent {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
