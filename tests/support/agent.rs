//! Our plain `memberlist agent` (or `--serf` one, driven through the plain control
//! commands) in a child process, its stderr collected line by line.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::process::{free_port, LineLog};

/// How long a control command may take to answer.
const REPLY_WAIT: Duration = Duration::from_secs(30);

/// A running agent; killed when dropped.
pub struct Agent {
    pub child: Child,
    /// Started with `--serf`: its RPC is serf's, whose `stats` has serf's sections only.
    pub serf: bool,
    pub bind: SocketAddr,
    pub rpc: SocketAddr,
    pub stderr: Arc<LineLog<String>>,
}

impl Agent {
    /// Starts `name` on free loopback ports joining `join`, with `extra` flags.
    pub fn spawn(name: &str, join: SocketAddr, extra: &[&str]) -> Agent {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let bind = SocketAddr::new(ip, free_port(ip));
        let rpc = SocketAddr::new(ip, free_port(ip));
        let mut child = Command::new(env!("CARGO_BIN_EXE_memberlist"))
            .args(["agent", "--name", name])
            .arg(format!("--bind={bind}"))
            .arg(format!("--rpc-addr={rpc}"))
            .arg(format!("--join={join}"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start memberlist agent");
        let stderr = LineLog::spawn(child.stderr.take().expect("stderr"), |l| l);
        Agent {
            child,
            serf: extra.contains(&"--serf"),
            bind,
            rpc,
            stderr,
        }
    }

    /// The JSON reply to control command `cmd` (`{"cmd": cmd}` on the control address).
    pub fn control(&self, cmd: &str) -> Value {
        let mut conn = TcpStream::connect(self.rpc).expect("control address");
        conn.set_read_timeout(Some(REPLY_WAIT)).ok();
        writeln!(conn, "{{\"cmd\":\"{cmd}\"}}").expect("ask");
        let mut line = String::new();
        BufReader::new(conn).read_line(&mut line).expect("reply");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{cmd} reply {line:?}: {e}"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
