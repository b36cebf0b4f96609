//! Our `memberlist agent --serf --format json` in a child process: its event lines
//! collected, its control socket driven through the `memberlist` front ends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::process::{free_port, run_bounded, wait_bounded, LineLog};
use super::serf::SerfAgent;

/// How long the agent may take to start, join, or show an event.
pub const WAIT: Duration = Duration::from_secs(30);

/// A running agent. Dropping it kills the process.
pub struct RustSerfAgent {
    pub child: Child,
    pub bind: SocketAddr,
    pub rpc: SocketAddr,
    pub events: Arc<LineLog<Value>>,
    /// Its stderr, line by line (diagnostics and RPC warnings).
    pub stderr: Arc<LineLog<String>>,
}

impl RustSerfAgent {
    /// Starts `name` on free ports, joining `join`, and waits until it has joined.
    pub fn spawn(name: &str, join: SocketAddr, extra: &[&str]) -> RustSerfAgent {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let bind = SocketAddr::new(ip, free_port(ip));
        let rpc = SocketAddr::new(ip, free_port(ip));
        let join = format!("--join={join}");
        let mut args = vec![join.as_str()];
        args.extend_from_slice(extra);
        let agent = Self::spawn_at(name, bind, rpc, &args);
        agent
            .wait_event(|e| e["event"] == "joined")
            .expect("our agent joined");
        agent
    }

    /// Starts `name` at the given addresses and waits until it has started (not
    /// joined: `extra` may hold no `--join`).
    pub fn spawn_at(
        name: &str,
        bind: SocketAddr,
        rpc: SocketAddr,
        extra: &[&str],
    ) -> RustSerfAgent {
        Self::spawn_env(name, bind, rpc, extra, &[])
    }

    /// [`Self::spawn_at`] with extra environment variables.
    pub fn spawn_env(
        name: &str,
        bind: SocketAddr,
        rpc: SocketAddr,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> RustSerfAgent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["agent", "--serf", "--format", "json", "--name", name])
            .arg(format!("--bind={bind}"))
            .arg(format!("--rpc-addr={rpc}"))
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start memberlist agent");
        let events = LineLog::spawn(child.stdout.take().expect("stdout"), |l| {
            serde_json::from_str(&l).unwrap_or(Value::Null)
        });
        let stderr = LineLog::spawn(child.stderr.take().expect("stderr"), |l| l);
        let agent = RustSerfAgent {
            child,
            bind,
            rpc,
            events,
            stderr,
        };
        agent
            .wait_event(|e| e["event"] == "started")
            .expect("our agent started");
        agent
    }

    pub fn wait_event(&self, pred: impl Fn(&Value) -> bool) -> Result<Value, String> {
        self.events.wait_for(pred, WAIT)
    }

    /// Starts `name` joining `join` with extra environment variables.
    pub fn spawn_joined_env(
        name: &str,
        join: SocketAddr,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> RustSerfAgent {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let bind = SocketAddr::new(ip, free_port(ip));
        let rpc = SocketAddr::new(ip, free_port(ip));
        let join = format!("--join={join}");
        let mut args = vec![join.as_str()];
        args.extend_from_slice(extra);
        let agent = Self::spawn_env(name, bind, rpc, &args, env);
        agent
            .wait_event(|e| e["event"] == "joined")
            .expect("our agent joined");
        agent
    }

    /// Runs `memberlist SUBCOMMAND --rpc-addr=.. ARGS`; its stdout, or the failure.
    pub fn cli(&self, subcommand: &str, args: &[&str]) -> Result<String, String> {
        let out = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_memberlist"))
                .arg(subcommand)
                .arg(format!("--rpc-addr={}", self.rpc))
                .args(args),
            WAIT,
        )?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "{subcommand} {args:?}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Sends `sig`, waits for the agent to exit, then until `watcher` lists member
    /// `name` with `status` (left after SIGTERM, failed after SIGKILL).
    pub fn stop_and_wait_status(
        &mut self,
        sig: i32,
        watcher: &SerfAgent,
        name: &str,
        status: &str,
    ) {
        self.signal(sig);
        wait_bounded(&mut self.child, WAIT).unwrap();
        watcher
            .wait_members(
                |m| m.iter().any(|m| m["name"] == name && m["status"] == status),
                WAIT,
            )
            .unwrap();
    }

    pub fn signal(&mut self, sig: i32) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for RustSerfAgent {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
