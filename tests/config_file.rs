//! `--config-file` / `--config-dir` in the serf agent's JSON format: our `--serf`
//! agent configured only by files (plus one flag) joins an encrypted serf agent
//! with the merged tags; `retry_join` waits for a member that starts later; an
//! exhausted `retry_max_attempts` and an unknown key exit with the cause named; a
//! file's `rpc_auth` is the control port's token.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use support::gonode::{GoNode, GoNodeOpts};
use support::process::{free_port, run_bounded, LineLog};
use support::serf::{SerfAgent, SerfOpts};

const KEY: &str = "EBESExQVFhcYGRobHB0eHw==";
const WAIT: Duration = Duration::from_secs(30);

struct Agent {
    child: Child,
    out: Arc<LineLog<Value>>,
    /// What it wrote on stderr, for a failing assertion to show.
    err: Arc<LineLog<String>>,
}

impl Agent {
    fn spawn(args: &[String]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .arg("agent")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start memberlist agent");
        let out = LineLog::spawn(child.stdout.take().expect("stdout"), |l| {
            serde_json::from_str(&l).unwrap_or(Value::String(l))
        });
        let err = LineLog::spawn(child.stderr.take().expect("stderr"), |l| l);
        Agent { child, out, err }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addr() -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    SocketAddr::new(ip, free_port(ip))
}

#[test]
fn a_serf_member_configured_by_files_joins_an_encrypted_serf_agent() {
    let serf = SerfAgent::spawn(SerfOpts::new("serf-1").encrypt(KEY));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.json");
    std::fs::write(
        &base,
        json!({
            "node_name": "from-file",
            "bind": addr().to_string(),
            "rpc_addr": addr().to_string(),
            "encrypt_key": KEY,
            "tags": {"role": "web", "dc": "dc1"},
            "retry_join": [serf.bind_addr().to_string()],
            "retry_interval": "500ms",
            "profile": "local",
            "log_level": "warn",
        })
        .to_string(),
    )
    .unwrap();
    let more = dir.path().join("conf.d");
    std::fs::create_dir(&more).unwrap();
    std::fs::write(
        more.join("10-tags.json"),
        r#"{"tags": {"dc": "dc2", "rack": "r1"}}"#,
    )
    .unwrap();
    std::fs::write(more.join("README"), "not json, not read").unwrap();
    let ours = Agent::spawn(&[
        "--serf".into(),
        "--format=json".into(),
        format!("--config-file={}", base.display()),
        format!("--config-dir={}", more.display()),
        "--tag=rack=r9".into(),
    ]);
    ours.out
        .wait_for(|e| e["event"] == "joined", WAIT)
        .expect("our agent joined through retry_join");
    let members = serf
        .wait_members(|m| m.len() == 2, WAIT)
        .expect("serf-1 lists two members");
    let us = members
        .iter()
        .find(|m| m["name"] == "from-file")
        .unwrap_or_else(|| panic!("no member named from-file: {members:?}"));
    // base.json's tags, then conf.d's over them, then the flag over both.
    assert_eq!(
        us["tags"],
        json!({"role": "web", "dc": "dc2", "rack": "r9"}),
        "{us}"
    );
    assert_eq!(us["status"], "alive", "{us}");
}

#[test]
fn retry_join_waits_for_a_member_that_starts_later() {
    let go_addr = addr();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("agent.json");
    std::fs::write(
        &file,
        json!({
            "node_name": "rust-1",
            "bind": addr().to_string(),
            "rpc_addr": addr().to_string(),
            "retry_join": [go_addr.to_string()],
            "retry_interval": "300ms",
            "profile": "local",
        })
        .to_string(),
    )
    .unwrap();
    let ours = Agent::spawn(&[
        "--format=json".into(),
        format!("--config-file={}", file.display()),
    ]);
    ours.out
        .wait_for(|e| e["event"] == "started", WAIT)
        .expect("started");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        !ours.out.snapshot().iter().any(|e| e["event"] == "joined"),
        "joined before the peer existed"
    );
    let go = GoNode::spawn(GoNodeOpts::fast("go-1").bind(go_addr));
    ours.out
        .wait_for(|e| e["event"] == "joined", WAIT)
        .expect("joined once the peer started");
    go.wait_members(|m| m.iter().any(|m| m.name == "rust-1"), WAIT)
        .expect("go-1 lists rust-1");
}

#[test]
fn exhausted_retries_and_unknown_keys_exit_with_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("agent.json");
    std::fs::write(
        &file,
        json!({
            "bind": addr().to_string(),
            "rpc_addr": addr().to_string(),
            "retry_join": [addr().to_string()],
            "retry_interval": "100ms",
            "retry_max_attempts": 2,
        })
        .to_string(),
    )
    .unwrap();
    let run = |args: &[String]| {
        run_bounded(
            Command::new(env!("CARGO_BIN_EXE_memberlist"))
                .args(["agent", "--name", "rust-1"])
                .args(args),
            WAIT,
        )
        .expect("agent ran")
    };
    let out = run(&[format!("--config-file={}", file.display())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no member answered in 3 attempts") && stderr.contains("--retry-max"),
        "{stderr}"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"node_name": "x", "encrypt": "typo"}"#).unwrap();
    let out = run(&[format!("--config-file={}", bad.display())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.json") && stderr.contains("unknown key \"encrypt\""),
        "{stderr}"
    );
}

#[test]
fn a_config_files_rpc_auth_guards_the_control_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("agent.json");
    let rpc = addr();
    std::fs::write(
        &file,
        json!({
            "node_name": "guarded",
            "bind": addr().to_string(),
            "rpc_addr": rpc.to_string(),
            "rpc_auth": "s3cret",
            "profile": "local",
        })
        .to_string(),
    )
    .unwrap();
    let ours = Agent::spawn(&[
        "--serf".into(),
        "--format=json".into(),
        format!("--config-file={}", file.display()),
    ]);
    ours.out
        .wait_for(|e| e["event"] == "started", WAIT)
        .unwrap_or_else(|e| {
            panic!(
                "our agent did not start: {e}; its stderr: {:?}",
                ours.err.snapshot()
            )
        });
    let members = |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_memberlist"));
        cmd.args(["members", "--rpc-addr", &rpc.to_string()])
            .env_remove("MEMBERLIST_RPC_AUTH");
        if let Some(t) = token {
            cmd.env("MEMBERLIST_RPC_AUTH", t);
        }
        run_bounded(&mut cmd, WAIT).expect("memberlist members finished")
    };
    let refused = members(None);
    assert!(!refused.status.success(), "no token was accepted");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("the agent wants a token"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let wrong = members(Some("guess"));
    assert!(!wrong.status.success(), "a wrong token was accepted");
    let allowed = members(Some("s3cret"));
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(String::from_utf8_lossy(&allowed.stdout).contains("guarded"));
}
