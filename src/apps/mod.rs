//! Application payloads carried by memberlist: what the products built on it put in user
//! messages and in the push/pull user state. One module per application; each stands on
//! the bytes only (and `serf` for Serf's own), so the inspector can hand them any payload.
//!
//! Which decoder runs is chosen by the traffic (`App::Auto`: Serf's msgpack first, then
//! the others, each accepted only when its bytes prove it) or forced by the user (`--app`).
//! A forced or hinted decoder that fails says why; the row keeps its memberlist fields and
//! raw payload either way.

#![warn(missing_docs)]

pub mod dskit;
pub mod networkdb;

use serde_json::{json, Value};

/// Which application's payloads a capture carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum App {
    /// Decided per payload from its bytes (and from how it travelled).
    #[default]
    Auto,
    /// grafana/dskit's memberlist KV store (Loki, Mimir, Tempo, Cortex rings).
    Dskit,
    /// Docker's NetworkDB (Swarm overlay networks).
    NetworkDb,
    /// Serf, Consul and Nomad: Serf's messages (shown by `serf::json`).
    Serf,
    /// No payload decoding: user messages and user state as hex.
    Raw,
}

impl App {
    /// Whether Serf's decoder should look at payloads.
    pub fn serf(self) -> bool {
        matches!(self, App::Auto | App::Serf)
    }
}

/// Where a payload came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// A user message (packet or stream).
    UserMessage,
    /// The user state of a push/pull.
    UserState,
}

/// The decoded payload as `{"app", "type", "fields"}`, or `{"app", "error"}` when a decoder
/// that was asked for (`app`) or hinted at (`hint`, e.g. dskit's transport) gave up.
/// `None`: nothing recognised it, or `serf_found` (Serf's decoder already took it).
pub fn decode(
    app: App,
    hint: Option<App>,
    carrier: Carrier,
    payload: &[u8],
    serf_found: bool,
) -> Option<Value> {
    if serf_found || payload.is_empty() {
        return None;
    }
    let chosen = match app {
        App::Auto => hint.unwrap_or(App::Auto),
        forced => forced,
    };
    let dskit = |p: &[u8]| {
        match carrier {
            Carrier::UserMessage => dskit::user_message(p),
            Carrier::UserState => dskit::user_state(p),
        }
        .map_err(|e| e.to_string())
    };
    let (name, result) = match chosen {
        App::Raw | App::Serf => return None,
        App::Dskit => ("dskit", dskit(payload)),
        App::NetworkDb => (
            "networkdb",
            networkdb::payload(payload).map_err(|e| e.to_string()),
        ),
        App::Auto => {
            // Each decoder accepts only what proves it: dskit's pair needs a key and a
            // codec, NetworkDB's envelope a known type whose message decodes.
            return dskit(payload).ok().map(|v| tagged("dskit", v)).or_else(|| {
                networkdb::payload(payload)
                    .ok()
                    .map(|v| tagged("networkdb", v))
            });
        }
    };
    Some(match result {
        Ok(v) => tagged(name, v),
        Err(e) => json!({"app": name, "error": e.to_string()}),
    })
}

fn tagged(name: &str, mut v: Value) -> Value {
    v["app"] = json!(name);
    v
}

/// The one-line text of a decoded payload (`{"app", ...}` from `decode`).
pub fn text(v: &Value) -> String {
    let name = v["app"].as_str().unwrap_or_default();
    if let Some(e) = v["error"].as_str() {
        return format!("({name}: {e})");
    }
    match name {
        "dskit" => dskit::text(v),
        "networkdb" => networkdb::text(v),
        other => other.to_string(),
    }
}
