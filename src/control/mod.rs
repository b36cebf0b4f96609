//! Serf's RPC protocol (the agent's "IPC"): what `serf members`, `serf query`, serf's
//! Go `client` package and our own subcommands speak to a running agent.
//!
//! A client opens a TCP connection, sends `handshake {Version: 1}` (and `auth` when
//! the agent has a token), then requests: a header `{Command, Seq}` and a body for
//! most commands. Every answer starts with a header `{Error, Seq}` naming the request;
//! `stream`, `monitor` and `query` keep sending records under their request's `Seq`.
//! [`codec`] frames the values, [`messages`] names them, [`server`] answers them over
//! a running [`crate::serf::Serf`], [`client`] is the blocking client the CLI uses.

pub mod client;
pub mod codec;
pub mod filter;
pub mod log_bus;
pub mod messages;
pub mod server;

use std::fmt;

/// serf's default RPC address, where `serf` commands look for an agent.
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:7373";

/// The one IPC version serf has defined.
pub const IPC_VERSION: i32 = 1;

/// The error strings serf's agent answers with; clients compare some of them.
pub mod errors {
    pub const UNSUPPORTED_COMMAND: &str = "Unsupported command";
    pub const UNSUPPORTED_IPC_VERSION: &str = "Unsupported IPC version";
    pub const DUPLICATE_HANDSHAKE: &str = "Handshake already performed";
    pub const HANDSHAKE_REQUIRED: &str = "Handshake required";
    pub const MONITOR_EXISTS: &str = "Monitor already exists";
    pub const INVALID_FILTER: &str = "Invalid event filter";
    pub const STREAM_EXISTS: &str = "Stream with given sequence exists";
    pub const INVALID_QUERY_ID: &str = "No pending queries matching ID";
    pub const AUTH_REQUIRED: &str = "Authentication required";
    pub const INVALID_AUTH_TOKEN: &str = "Invalid authentication token";
    /// Ours: what the plain (non-Serf) agent answers a serf handshake with, so a
    /// serf client pointed at it fails with a reason instead of waiting.
    pub const PLAIN_AGENT: &str = "this is a plain memberlist agent, not a Serf agent \
        (started without --serf); it answers only `memberlist members`";
}

/// The shared secret of `--rpc-auth`. Never printed: `Debug` and `Display` show a
/// placeholder, so the token cannot leak into logs through formatting.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    /// An empty token is no token (serf treats `-rpc-auth=""` as none).
    pub fn new(token: String) -> Option<Self> {
        let t = token.trim_end_matches(['\r', '\n']).to_owned();
        (!t.is_empty()).then_some(AuthToken(t))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares without stopping at the first difference, so the answer time does
    /// not tell how much of a guess was right.
    pub fn matches(&self, guess: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), guess.as_bytes());
        let diff = a
            .iter()
            .zip(b.iter())
            .fold(a.len() ^ b.len(), |acc, (x, y)| acc | usize::from(x ^ y));
        diff == 0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

impl fmt::Display for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole_and_never_print() {
        let t = AuthToken::new("s3cret\n".into()).unwrap();
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre") && !t.matches("s3cret!") && !t.matches(""));
        assert_eq!(format!("{t} {t:?}"), "<redacted> AuthToken(<redacted>)");
        assert!(AuthToken::new(String::new()).is_none());
    }
}
