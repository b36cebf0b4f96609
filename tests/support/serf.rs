//! A `serf` agent in a child process, with its RPC driven through the same binary's
//! command line: Debian's (0.9.4 packaging, memberlist 0.2.x inside) or the newest
//! release built from the Go module proxy by `scripts/build-serf`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process::{free_port, run_bounded, LineLog};

/// Where the Debian package installs serf (`.ci/run` installs it).
pub const SERF: &str = "/usr/bin/serf";
/// Where `scripts/build-serf` puts the newest serf agent (`.ci/run` builds it).
pub const SERF_NEWEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/bin/serf-newest");
/// How long an agent may take to answer its first RPC.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `serf` command-line call may take (a query waits for its answers).
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Which serf build runs an agent: the two speak different memberlist and msgpack
/// generations, so a test that should hold for both runs against each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerfBinary {
    /// Debian's package: serf 0.9.4 sources, memberlist 0.2.x, go-msgpack 0.5.
    Debian,
    /// serf v0.11.0 (memberlist v0.7.0, go-msgpack v2) from interop/serfagent.
    Newest,
}

impl SerfBinary {
    /// Both builds, for tests that run against each.
    pub const ALL: [SerfBinary; 2] = [SerfBinary::Debian, SerfBinary::Newest];

    /// The executable; panics (a test failure, never a skip) when it is missing.
    pub fn path(self) -> &'static str {
        let (path, how) = match self {
            SerfBinary::Debian => (SERF, "apt-get install serf"),
            SerfBinary::Newest => (SERF_NEWEST, "run scripts/build-serf"),
        };
        assert!(
            std::path::Path::new(path).is_file(),
            "{self:?} serf binary {path} is missing ({how})"
        );
        path
    }
}

/// How to start an agent.
#[derive(Clone, Debug)]
pub struct SerfOpts {
    binary: SerfBinary,
    node: String,
    ip: IpAddr,
    encrypt: Option<String>,
    tags: Vec<(String, String)>,
    joins: Vec<SocketAddr>,
    extra_args: Vec<String>,
    rpc_auth: Option<String>,
}

impl SerfOpts {
    /// An agent named `node` on 127.0.0.1, unencrypted, without tags.
    pub fn new(node: &str) -> Self {
        SerfOpts {
            binary: SerfBinary::Debian,
            node: node.to_owned(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            encrypt: None,
            tags: Vec::new(),
            joins: Vec::new(),
            extra_args: Vec::new(),
            rpc_auth: None,
        }
    }
    /// Which serf build to run (default: Debian's).
    pub fn binary(mut self, binary: SerfBinary) -> Self {
        self.binary = binary;
        self
    }
    /// The gossip key (base64).
    pub fn encrypt(mut self, base64: &str) -> Self {
        self.encrypt = Some(base64.to_owned());
        self
    }
    /// A tag (repeatable).
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }
    /// The agent requires RPC token `token` (its configuration's `rpc_auth`), and
    /// `cli` passes it with `-rpc-auth`.
    pub fn rpc_auth(mut self, token: &str) -> Self {
        self.rpc_auth = Some(token.to_owned());
        self
    }
    /// An agent to join at start (repeatable).
    pub fn join(mut self, addr: SocketAddr) -> Self {
        self.joins.push(addr);
        self
    }
    /// One more command-line argument for `serf agent` (repeatable).
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_owned());
        self
    }
}

/// A running serf agent. Dropping it kills the process.
pub struct SerfAgent {
    binary: &'static str,
    node: String,
    bind: SocketAddr,
    rpc: SocketAddr,
    child: Child,
    log: Arc<LineLog<String>>,
    rpc_auth: Option<String>,
}

impl SerfAgent {
    /// Starts an agent on free ports and waits until its RPC answers; panics with the
    /// agent's output if it does not.
    pub fn spawn(opts: SerfOpts) -> SerfAgent {
        let bind = SocketAddr::new(opts.ip, free_port(opts.ip));
        let rpc = SocketAddr::new(opts.ip, free_port(opts.ip));
        let binary = opts.binary.path();
        let mut cmd = Command::new(binary);
        cmd.arg("agent")
            .arg(format!("-node={}", opts.node))
            .arg(format!("-bind={bind}"))
            .arg(format!("-rpc-addr={rpc}"));
        if let Some(k) = &opts.encrypt {
            cmd.arg(format!("-encrypt={k}"));
        }
        for (k, v) in &opts.tags {
            cmd.arg("-tag").arg(format!("{k}={v}"));
        }
        for j in &opts.joins {
            cmd.arg(format!("-join={j}"));
        }
        cmd.args(&opts.extra_args);
        if let Some(t) = &opts.rpc_auth {
            // The agent takes its token from a configuration file only.
            let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "serf-rpc-auth-{}-{}.json",
                std::process::id(),
                rpc.port()
            ));
            std::fs::write(&file, serde_json::json!({ "rpc_auth": t }).to_string())
                .expect("write the serf agent's rpc_auth configuration");
            cmd.arg(format!("-config-file={}", file.display()));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        let log = LineLog::spawn(child.stdout.take().expect("piped stdout"), |l| l);
        let mut agent = SerfAgent {
            binary,
            node: opts.node,
            bind,
            rpc,
            child,
            log,
            rpc_auth: opts.rpc_auth,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while let Err(e) = agent.members_json_checked() {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("{}", agent.explain(&format!("exited with {status}")));
            }
            if Instant::now() >= deadline {
                panic!("{}", agent.explain(&format!("RPC never answered: {e}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        agent
    }

    pub fn node(&self) -> &str {
        &self.node
    }
    /// The gossip address (TCP and UDP).
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind
    }
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc
    }

    fn explain(&self, what: &str) -> String {
        format!(
            "serf agent {} ({}): {what}\nlast output:\n  {}",
            self.node,
            self.binary,
            self.log.tail(30).join("\n  ")
        )
    }

    /// The serf executable this agent runs.
    pub fn binary(&self) -> &'static str {
        self.binary
    }

    /// Runs `serf SUBCOMMAND -rpc-addr=.. [-rpc-auth=..] ARGS` against this agent;
    /// its stdout.
    pub fn cli(&self, subcommand: &str, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(self.binary);
        cmd.arg(subcommand).arg(format!("-rpc-addr={}", self.rpc));
        if let Some(t) = &self.rpc_auth {
            cmd.arg(format!("-rpc-auth={t}"));
        }
        let out = run_bounded(cmd.args(args), CLI_TIMEOUT)?;
        if !out.status.success() {
            return Err(format!(
                "serf {subcommand} {args:?}: {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn members_json_checked(&self) -> Result<Value, String> {
        let text = self.cli("members", &["-format=json"])?;
        serde_json::from_str(&text).map_err(|e| format!("serf members output {text:?}: {e}"))
    }

    /// `serf members -format=json`: `{"members":[{name, addr, port, tags, status,
    /// protocol}]}`.
    pub fn members_json(&self) -> Value {
        self.members_json_checked()
            .unwrap_or_else(|e| panic!("{}", self.explain(&e)))
    }

    /// Polls `members_json` until `pred` holds on the members array.
    pub fn wait_members(
        &self,
        pred: impl Fn(&[Value]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.members_json();
            let members = v["members"].as_array().cloned().unwrap_or_default();
            if pred(&members) {
                return Ok(members);
            }
            if Instant::now() >= deadline {
                return Err(self.explain(&format!(
                    "members did not reach the wanted state within {timeout:?}: {v}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `serf join ADDR`.
    pub fn join(&self, addr: SocketAddr) -> Result<(), String> {
        self.cli("join", &[&addr.to_string()]).map(drop)
    }

    /// `serf event NAME PAYLOAD`: a user event gossiped to the cluster.
    pub fn event(&self, name: &str, payload: &str) -> Result<(), String> {
        self.cli("event", &[name, payload]).map(drop)
    }

    /// `serf query -format=json NAME PAYLOAD`: the query's acks and responses.
    pub fn query(&self, name: &str, payload: &str) -> Result<Value, String> {
        let text = self.cli("query", &["-format=json", "-timeout=3s", name, payload])?;
        serde_json::from_str(&text).map_err(|e| format!("serf query output {text:?}: {e}"))
    }

    /// `serf leave`: a graceful leave; the agent then exits.
    pub fn leave(&self) -> Result<(), String> {
        self.cli("leave", &[]).map(drop)
    }

    /// The agent's log so far.
    pub fn log(&self) -> Vec<String> {
        self.log.snapshot()
    }

    /// SIGKILL: the agent vanishes without a word.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for SerfAgent {
    fn drop(&mut self) {
        self.kill();
    }
}

impl SerfOpts {
    /// `-event-handler SPEC` (repeatable), e.g. `user=cat >> FILE`.
    pub fn event_handler(mut self, spec: &str) -> Self {
        self.extra_args.push(format!("-event-handler={spec}"));
        self
    }
}

impl SerfAgent {
    /// `serf event [-coalesce=false] NAME PAYLOAD`.
    pub fn event_coalesce(&self, name: &str, payload: &str, coalesce: bool) -> Result<(), String> {
        self.cli("event", &[&format!("-coalesce={coalesce}"), name, payload])
            .map(drop)
    }

    /// `serf query -format=json` with extra flags (e.g. `-node=x`, `-tag=k=re`).
    pub fn query_with(&self, flags: &[&str], name: &str, payload: &str) -> Result<Value, String> {
        let mut args = vec!["-format=json"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[name, payload]);
        let text = self.cli("query", &args)?;
        serde_json::from_str(&text).map_err(|e| format!("serf query output {text:?}: {e}"))
    }

    /// `serf keys -install=K` / `-use=K` / `-remove=K` / `-list` (`op` without the
    /// dash and `=`); the command's output, or its failure output as the error.
    pub fn keys(&self, op: &str, key: Option<&str>) -> Result<String, String> {
        let arg = match key {
            Some(k) => format!("-{op}={k}"),
            None => format!("-{op}"),
        };
        self.cli("keys", &[&arg])
    }

    /// The status of `name` in `serf members -format=json`, if listed.
    pub fn status_of(&self, name: &str) -> Option<String> {
        let v = self.members_json();
        v["members"]
            .as_array()?
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["status"].as_str().map(str::to_owned))
    }
}
