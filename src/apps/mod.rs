//! Application payloads carried by memberlist: what the products built on it put in user
//! messages and in the push/pull user state. One module per application; each stands on
//! the bytes only (and `serf` for Serf's own), so the inspector can hand them any payload.
//!
//! Which decoder runs is chosen by the traffic (`App::Auto`: Serf's msgpack first, then
//! the others, each accepted only when its bytes prove it) or forced by the user (`--app`).
//! A forced or hinted decoder that fails says why; the row keeps its memberlist fields and
//! raw payload either way.

#![warn(missing_docs)]

pub mod alertmanager;
pub mod consul;
pub mod dskit;
pub mod networkdb;
pub mod nomad;
pub mod product;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHasher};
use serde_json::{json, Value};

/// Which application's payloads a capture carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum App {
    /// Decided per payload from its bytes (and from how it travelled).
    #[default]
    Auto,
    /// grafana/dskit's memberlist KV store (Loki, Mimir, Tempo, Cortex rings).
    Dskit,
    /// Docker's NetworkDB (Swarm overlay networks).
    NetworkDb,
    /// Prometheus Alertmanager's cluster: silences and the notification log.
    Alertmanager,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    let alertmanager = |p: &[u8]| {
        match carrier {
            Carrier::UserMessage => alertmanager::user_message(p),
            Carrier::UserState => alertmanager::user_state(p),
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
        App::Alertmanager => ("alertmanager", alertmanager(payload)),
        App::Auto => {
            // Each decoder accepts only what proves it: dskit's pair needs a key and a
            // codec, NetworkDB's envelope a known type whose message decodes,
            // Alertmanager's parts its own state keys.
            return dskit(payload)
                .ok()
                .map(|v| tagged("dskit", v))
                .or_else(|| {
                    networkdb::payload(payload)
                        .ok()
                        .map(|v| tagged("networkdb", v))
                })
                .or_else(|| alertmanager_proven(carrier, payload));
        }
    };
    Some(match result {
        Ok(v) => tagged(name, v),
        Err(e) => json!({"app": name, "error": e.to_string()}),
    })
}

/// Most payloads a `Decoder` remembers before it starts afresh.
const CACHE_ENTRIES: usize = 4096;

/// `decode` with a memory of recent payloads: gossip sends each broadcast to several
/// members, several times, so the same bytes come again and again (in a dskit ring
/// capture most user messages repeat one seen just before); a repeat costs a hash and a
/// comparison instead of a decode, and its rows share one value.
pub struct Decoder {
    app: App,
    /// By a hash of the payload and how it came: the payload and what it decoded to.
    cache: FxHashMap<u64, Remembered>,
}

/// A payload's bytes and what they decoded to.
type Remembered = (Box<[u8]>, Option<Arc<Value>>);

impl Decoder {
    /// A decoder for `app` (`--app`).
    pub fn new(app: App) -> Self {
        Decoder {
            app,
            cache: FxHashMap::default(),
        }
    }

    /// The application it was made for.
    pub fn app(&self) -> App {
        self.app
    }

    /// `decode` for this decoder's application.
    pub fn decode(
        &mut self,
        hint: Option<App>,
        carrier: Carrier,
        payload: &[u8],
        serf_found: bool,
    ) -> Option<Arc<Value>> {
        if serf_found || payload.is_empty() || self.app == App::Raw {
            return None;
        }
        let mut h = FxHasher::default();
        (hint, carrier).hash(&mut h);
        payload.hash(&mut h);
        let key = h.finish();
        if let Some((bytes, v)) = self.cache.get(&key) {
            if **bytes == *payload {
                return v.clone();
            }
        }
        let v = decode(self.app, hint, carrier, payload, false).map(Arc::new);
        if self.cache.len() >= CACHE_ENTRIES {
            self.cache.clear();
        }
        self.cache.insert(key, (payload.into(), v.clone()));
        v
    }
}

/// Alertmanager's payload when its parts are only the states Alertmanager keeps (`sil`,
/// `nfl`): a bare protobuf string-and-bytes message proves little by itself.
fn alertmanager_proven(carrier: Carrier, payload: &[u8]) -> Option<Value> {
    let v = match carrier {
        Carrier::UserMessage => alertmanager::user_message(payload),
        Carrier::UserState => alertmanager::user_state(payload),
    }
    .ok()?;
    let known = |p: &Value| matches!(p["Key"].as_str(), Some("sil" | "nfl"));
    let proven = match v["type"].as_str() {
        Some("part") => known(&v["fields"]),
        _ => v["fields"]["Parts"]
            .as_array()
            .is_some_and(|p| p.iter().all(known)),
    };
    proven.then(|| tagged("alertmanager", v))
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
        "alertmanager" => alertmanager::text(v),
        other => other.to_string(),
    }
}
