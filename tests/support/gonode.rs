//! A real Go memberlist v0.7.0 node in a child process (`interop/cmd/gonode`), driven
//! over its stdin and watched through the JSON lines it prints.
//!
//! The binary is built once per test process into `CARGO_TARGET_TMPDIR`. Go missing
//! or failing to build is a test failure, never a skip: these tests are the proof of
//! interoperability.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::process::{run_bounded, LineLog};

/// How long a node may take to bind and print `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a command may take to be answered (a leave waits for its broadcast).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `go build` may take (a cold module cache downloads memberlist).
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// The gonode binary, built on first use. Panics if Go is missing or the build fails.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(build) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

fn build() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = dir.join("gonode");
    // Another test binary may build at the same moment: each writes its own file and
    // renames it into place, which is atomic.
    let tmp = dir.join(format!("gonode.{}.tmp", std::process::id()));
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    let built = run_bounded(
        Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&tmp)
            .arg("./cmd/gonode")
            .current_dir(&interop),
        BUILD_TIMEOUT,
    )
    .map_err(|e| format!("building gonode needs Go on PATH (https://go.dev/dl): {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "go build ./cmd/gonode failed ({}):\n{}",
            built.status,
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    std::fs::rename(&tmp, &out).map_err(|e| format!("installing {}: {e}", out.display()))?;
    Ok(out)
}

/// memberlist's timing profiles (`DefaultLANConfig`, `DefaultWANConfig`,
/// `DefaultLocalConfig`).
#[derive(Clone, Copy, Debug)]
pub enum Profile {
    Lan,
    Wan,
    Local,
}

/// How to start a node; every unset option keeps gonode's default (the profile's).
#[derive(Clone, Debug)]
pub struct GoNodeOpts {
    name: String,
    bind: SocketAddr,
    advertise: Option<SocketAddr>,
    joins: Vec<SocketAddr>,
    profile: Profile,
    keys: Vec<String>,
    label: Option<String>,
    protocol: Option<u8>,
    meta: Option<String>,
    verify_incoming: Option<bool>,
    verify_outgoing: Option<bool>,
    compress: Option<bool>,
    probe_interval: Option<Duration>,
    probe_timeout: Option<Duration>,
    gossip_interval: Option<Duration>,
    pushpull_interval: Option<Duration>,
    suspicion_mult: Option<u32>,
    queue_check_interval: Option<Duration>,
    /// A network namespace to run in (`ip netns exec`), for tests that make them.
    netns: Option<String>,
}

impl GoNodeOpts {
    /// A node named `name` on 127.0.0.1 with a free port and the LAN profile.
    pub fn new(name: &str) -> Self {
        GoNodeOpts {
            name: name.to_owned(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            joins: Vec::new(),
            profile: Profile::Lan,
            keys: Vec::new(),
            label: None,
            protocol: None,
            meta: None,
            verify_incoming: None,
            verify_outgoing: None,
            compress: None,
            probe_interval: None,
            probe_timeout: None,
            gossip_interval: None,
            pushpull_interval: None,
            suspicion_mult: None,
            queue_check_interval: None,
            netns: None,
        }
    }

    /// The local profile with timers fast enough for tests: probe every 200 ms,
    /// gossip every 50 ms, push/pull every 2 s.
    pub fn fast(name: &str) -> Self {
        Self::new(name)
            .profile(Profile::Local)
            .probe_interval(Duration::from_millis(200))
            .gossip_interval(Duration::from_millis(50))
            .pushpull_interval(Duration::from_secs(2))
    }

    /// Address to bind; port 0 lets the node pick a free one.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }
    /// A node to join right after start (repeatable).
    pub fn join(mut self, addr: SocketAddr) -> Self {
        self.joins.push(addr);
        self
    }
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }
    /// A base64 gossip key (repeatable; the first is primary).
    pub fn key(mut self, base64: &str) -> Self {
        self.keys.push(base64.to_owned());
        self
    }
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }
    /// Protocol version 1 to 5.
    pub fn protocol(mut self, version: u8) -> Self {
        self.protocol = Some(version);
        self
    }
    pub fn meta(mut self, meta: &str) -> Self {
        self.meta = Some(meta.to_owned());
        self
    }
    pub fn verify_incoming(mut self, on: bool) -> Self {
        self.verify_incoming = Some(on);
        self
    }
    pub fn verify_outgoing(mut self, on: bool) -> Self {
        self.verify_outgoing = Some(on);
        self
    }
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = Some(on);
        self
    }
    pub fn probe_interval(mut self, d: Duration) -> Self {
        self.probe_interval = Some(d);
        self
    }
    /// Without it the profile's, capped at half the probe interval.
    pub fn probe_timeout(mut self, d: Duration) -> Self {
        self.probe_timeout = Some(d);
        self
    }
    pub fn gossip_interval(mut self, d: Duration) -> Self {
        self.gossip_interval = Some(d);
        self
    }
    /// Runs the node in network namespace `name` (which the test made).
    pub fn netns(mut self, name: &str) -> Self {
        self.netns = Some(name.to_owned());
        self
    }
    pub fn pushpull_interval(mut self, d: Duration) -> Self {
        self.pushpull_interval = Some(d);
        self
    }
    pub fn suspicion_mult(mut self, mult: u32) -> Self {
        self.suspicion_mult = Some(mult);
        self
    }

    /// How often memberlist samples `memberlist.queue.broadcasts` (Go's 30 s default
    /// is longer than a test).
    pub fn queue_check_interval(mut self, d: Duration) -> Self {
        self.queue_check_interval = Some(d);
        self
    }

    /// gonode's command line for these options.
    pub fn args(&self) -> Vec<String> {
        let profile = match self.profile {
            Profile::Lan => "lan",
            Profile::Wan => "wan",
            Profile::Local => "local",
        };
        let mut a = vec![
            format!("-name={}", self.name),
            format!("-bind={}", self.bind),
            format!("-profile={profile}"),
        ];
        let mut opt = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                a.push(format!("-{flag}={v}"));
            }
        };
        let ms = |d: Option<Duration>| d.map(|d| format!("{}ms", d.as_millis()));
        opt("advertise", self.advertise.map(|s| s.to_string()));
        opt("label", self.label.clone());
        opt("protocol", self.protocol.map(|v| v.to_string()));
        opt("meta", self.meta.clone());
        opt(
            "gossip-verify-incoming",
            self.verify_incoming.map(|v| v.to_string()),
        );
        opt(
            "gossip-verify-outgoing",
            self.verify_outgoing.map(|v| v.to_string()),
        );
        opt("compress", self.compress.map(|v| v.to_string()));
        opt("probe-interval", ms(self.probe_interval));
        opt("probe-timeout", ms(self.probe_timeout));
        opt("gossip-interval", ms(self.gossip_interval));
        opt("pushpull-interval", ms(self.pushpull_interval));
        opt("suspicion-mult", self.suspicion_mult.map(|v| v.to_string()));
        opt("queue-check-interval", ms(self.queue_check_interval));
        for j in &self.joins {
            a.push(format!("-join={j}"));
        }
        for k in &self.keys {
            a.push(format!("-key={k}"));
        }
        a
    }
}

/// One node as gonode's `members` command reports it (dead and left nodes included).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Member {
    pub name: String,
    pub addr: SocketAddr,
    /// `alive`, `suspect`, `dead` or `left`.
    pub state: String,
    pub incarnation: u32,
    pub meta: String,
    /// PMin, PMax, PCur, DMin, DMax, DCur.
    pub vsn: [u8; 6],
}

/// A running Go node. Dropping it kills the process.
pub struct GoNode {
    name: String,
    addr: SocketAddr,
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    events: Arc<LineLog<Value>>,
    stderr: Arc<LineLog<String>>,
    next_id: AtomicU64,
}

impl GoNode {
    /// Starts a node and waits for it to be ready; panics with its stderr if it fails.
    pub fn spawn(opts: GoNodeOpts) -> GoNode {
        Self::try_spawn(opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a node and waits for it to be ready.
    pub fn try_spawn(opts: GoNodeOpts) -> Result<GoNode, String> {
        // `ip netns exec` enters the namespace and execs gonode in the same process.
        let mut cmd = match &opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        let mut child = cmd
            .args(opts.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting gonode {}: {e}", opts.name))?;
        let events = LineLog::spawn(child.stdout.take().expect("piped stdout"), |line| {
            serde_json::from_str(&line).unwrap_or(Value::String(line))
        });
        let stderr = LineLog::spawn(child.stderr.take().expect("piped stderr"), |l| l);
        let stdin = Mutex::new(child.stdin.take());
        let mut node = GoNode {
            name: opts.name.clone(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            child,
            stdin,
            events,
            stderr,
            next_id: AtomicU64::new(1),
        };
        let ready = node
            .wait_event(|e| e["event"] == "ready", READY_TIMEOUT)
            .map_err(|e| format!("gonode {} did not start: {e}", opts.name))?;
        node.addr = ready["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("gonode {}: bad ready line {ready}", opts.name))?;
        Ok(node)
    }

    /// Spawns one node per `opts`, every one after the first joining the first, and waits
    /// until each sees every one alive.
    pub fn spawn_joined(opts: Vec<GoNodeOpts>, timeout: Duration) -> Vec<GoNode> {
        let mut nodes: Vec<GoNode> = Vec::new();
        for o in opts {
            let o = match nodes.first() {
                Some(first) => o.join(first.addr()),
                None => o,
            };
            nodes.push(GoNode::spawn(o));
        }
        for n in &nodes {
            for m in &nodes {
                n.wait_member_state(m.name(), "alive", timeout).unwrap();
            }
        }
        nodes
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the node really bound and advertises.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every event printed so far, in order.
    pub fn events(&self) -> Vec<Value> {
        self.events.snapshot()
    }

    /// The first event since start that satisfies `pred`, waiting up to `timeout`.
    /// The error names the node and shows its last events and stderr lines.
    pub fn wait_event(
        &self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, String> {
        self.events
            .wait_for(pred, timeout)
            .map_err(|e| self.explain(&e))
    }

    fn explain(&self, what: &str) -> String {
        let events: Vec<String> = self.events.tail(20).iter().map(Value::to_string).collect();
        format!(
            "gonode {}: {what}\nlast events:\n  {}\nlast stderr:\n  {}",
            self.name,
            events.join("\n  "),
            self.stderr.tail(20).join("\n  ")
        )
    }

    /// memberlist's own log lines (`[WARN] memberlist: ...`), as written so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Sends one command (an object with `cmd` and its arguments) and returns the
    /// node's reply. A reply of `{"event":"error"}` is an `Err`.
    pub fn send_cmd(&self, mut cmd: Value) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        cmd["id"] = json!(id);
        let line = format!("{cmd}\n");
        {
            let mut stdin = self.stdin.lock().unwrap();
            let pipe = stdin
                .as_mut()
                .ok_or_else(|| self.explain("stdin already closed"))?;
            pipe.write_all(line.as_bytes())
                .and_then(|()| pipe.flush())
                .map_err(|e| self.explain(&format!("writing {cmd}: {e}")))?;
        }
        let reply = self.wait_event(|e| e["id"] == json!(id), REPLY_TIMEOUT)?;
        if reply["event"] == "error" {
            return Err(self.explain(&format!("{cmd} failed: {}", reply["error"])));
        }
        Ok(reply)
    }

    /// Every node this one knows, dead and left ones included.
    pub fn members(&self) -> Vec<Member> {
        let reply = self
            .send_cmd(json!({"cmd": "members"}))
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_value(reply["members"].clone())
            .unwrap_or_else(|e| panic!("gonode {}: bad members reply {reply}: {e}", self.name))
    }

    /// Polls `members` until `pred` holds, for at most `timeout`; returns the list that
    /// satisfied it.
    pub fn wait_members(
        &self,
        pred: impl Fn(&[Member]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Member>, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let members = self.members();
            if pred(&members) {
                return Ok(members);
            }
            if std::time::Instant::now() >= deadline {
                return Err(self.explain(&format!(
                    "members did not reach the wanted state within {timeout:?}: {members:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until this node sees `name` in `state` (e.g. "alive", "dead", "left").
    pub fn wait_member_state(
        &self,
        name: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<Member, String> {
        let members = self.wait_members(
            |ms| ms.iter().any(|m| m.name == name && m.state == state),
            timeout,
        )?;
        Ok(members
            .into_iter()
            .find(|m| m.name == name)
            .expect("checked"))
    }

    /// Asks the node to shut down (no leave message) and waits for it to exit.
    pub fn shutdown(mut self) -> Result<(), String> {
        self.stdin.lock().unwrap().take();
        let status = super::process::wait_bounded(&mut self.child, READY_TIMEOUT)
            .map_err(|e| self.explain(&e))?;
        if status.success() {
            Ok(())
        } else {
            Err(self.explain(&format!("exited with {status}")))
        }
    }

    /// SIGKILL: the node vanishes without a word, as a crash would.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for GoNode {
    fn drop(&mut self) {
        self.kill();
    }
}
