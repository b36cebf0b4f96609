//! The client side of the plain agent's control socket: one JSON request per line,
//! one JSON answer per line. (The `--serf` agent speaks serf's RPC instead; see
//! `memberlist_interop::control`.)

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use memberlist_interop::control::AuthToken;

/// Sends `request` (with the token, if any, under `auth`) to the agent at `rpc` and
/// returns its answer, or the agent's `error` as the error. `wait` bounds the exchange.
pub fn call(
    rpc: SocketAddr,
    token: Option<&AuthToken>,
    request: &Value,
    wait: Duration,
) -> Result<Value, String> {
    let mut conn = TcpStream::connect_timeout(&rpc, Duration::from_secs(5))
        .map_err(|e| format!("no agent at {rpc} ({e}); start one with `memberlist agent`"))?;
    conn.set_read_timeout(Some(wait))
        .map_err(|e| e.to_string())?;
    let mut request = request.clone();
    if let Some(t) = token {
        request["auth"] = Value::String(t.expose().to_owned());
    }
    conn.write_all(format!("{request}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(conn)
        .read_line(&mut line)
        .map_err(|e| format!("no answer from the agent: {e}"))?;
    let v: Value = serde_json::from_str(&line).map_err(|e| format!("bad answer: {e}"))?;
    match v["error"].as_str() {
        Some(e) => Err(e.to_string()),
        None => Ok(v),
    }
}
