//! The flags every client subcommand shares to reach an agent's RPC address, as
//! serf's `-rpc-addr` / `-rpc-auth` (with `SERF_RPC_ADDR` / `SERF_RPC_AUTH`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use memberlist_interop::control::client::Client;
use memberlist_interop::control::{AuthToken, DEFAULT_RPC_ADDR};

/// The agent to talk to and its token.
#[derive(clap::Args, Clone)]
pub struct RpcTarget {
    /// The agent's RPC address (a `memberlist agent --serf` or a `serf agent`).
    #[arg(long, value_name = "ADDR", env = "MEMBERLIST_RPC_ADDR", default_value = DEFAULT_RPC_ADDR)]
    pub rpc_addr: SocketAddr,
    #[command(flatten)]
    pub auth: RpcAuth,
}

/// `--rpc-auth`: the agent's token, given on the command line, in a file, or in the
/// environment (the last two keep it out of process listings).
#[derive(clap::Args, Clone, Default)]
pub struct RpcAuth {
    /// The RPC token, as serf's -rpc-auth: an agent requires it of every client, a
    /// client sends it (visible in process listings: prefer --rpc-auth-file or
    /// MEMBERLIST_RPC_AUTH).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MEMBERLIST_RPC_AUTH",
        hide_env_values = true
    )]
    rpc_auth: Option<String>,
    /// Read the RPC token from this file (its first line).
    #[arg(long, value_name = "PATH", conflicts_with = "rpc_auth")]
    rpc_auth_file: Option<PathBuf>,
}

impl RpcAuth {
    /// A config file's `rpc_auth`, used unless the flags or the environment gave one
    /// (serf: the command line wins over files).
    pub fn or_from_config(&mut self, token: &str) {
        if self.rpc_auth.is_none() && self.rpc_auth_file.is_none() {
            self.rpc_auth = Some(token.to_owned());
        }
    }

    /// The token, read from its file if given so.
    pub fn token(&self) -> Result<Option<AuthToken>, String> {
        match (&self.rpc_auth, &self.rpc_auth_file) {
            (_, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--rpc-auth-file {}: {e}", path.display()))?;
                let first = text.lines().next().unwrap_or_default().to_owned();
                AuthToken::new(first)
                    .map(Some)
                    .ok_or_else(|| format!("--rpc-auth-file {}: the file is empty", path.display()))
            }
            (Some(t), None) => Ok(AuthToken::new(t.clone())),
            (None, None) => Ok(None),
        }
    }
}

/// How long a client waits for the agent's answer to a plain command. Key commands
/// run a cluster-wide query, so they get the query's time on top.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting and the handshake may take: an agent answers at once.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a client command failed: a flag value that cannot work (exit 2, like clap's
/// own usage errors) or anything else (exit 1).
pub enum Failure {
    Usage(String),
    Failed(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Failed(e)
    }
}

impl Failure {
    /// Prints the failure (after `prefix`) and gives the exit status.
    pub fn report(self, prefix: &str) -> ExitCode {
        match self {
            Failure::Usage(e) => {
                eprintln!("{prefix}{e}\n\nFor more information, try '--help'.");
                ExitCode::from(2)
            }
            Failure::Failed(e) => {
                eprintln!("{prefix}{e}");
                ExitCode::from(1)
            }
        }
    }
}

impl RpcTarget {
    pub fn connect(&self) -> Result<Client, Failure> {
        let token = self.auth.token().map_err(Failure::Usage)?;
        let mut c = Client::connect(self.rpc_addr, token.as_ref(), HANDSHAKE_TIMEOUT)
            .map_err(|e| e.to_string())?;
        c.set_timeout(Some(ANSWER_TIMEOUT))
            .map_err(|e| e.to_string())?;
        Ok(c)
    }
}
