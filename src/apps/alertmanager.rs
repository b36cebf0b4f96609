//! Prometheus Alertmanager's cluster state (port 9094): the `Part{key, data}` envelope of its
//! broadcasts (user messages) and the `FullState{parts}` of its push/pulls, with the two
//! states it gossips: silences (`sil`) and the notification log (`nfl`). Each part's data is
//! a run of length-delimited protobuf messages (a varint length before each). Read off the
//! wire (field numbers and types); the types are our own.

use std::fmt;

/// Alertmanager's default cluster port; with `--cluster.tls-config` it carries TLS.
pub const CLUSTER_PORT: u16 = 9094;

use prost::Message as _;
use serde_json::{json, Map, Value};

#[derive(Clone, PartialEq, prost::Message)]
struct Part {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(bytes = "vec", tag = "2")]
    data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FullState {
    #[prost(message, repeated, tag = "1")]
    parts: Vec<Part>,
}

/// google.protobuf.Timestamp.
#[derive(Clone, Copy, PartialEq, prost::Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Matcher {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    pattern: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Silence {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(message, repeated, tag = "2")]
    matchers: Vec<Matcher>,
    #[prost(message, optional, tag = "3")]
    starts_at: Option<Timestamp>,
    #[prost(message, optional, tag = "4")]
    ends_at: Option<Timestamp>,
    #[prost(message, optional, tag = "5")]
    updated_at: Option<Timestamp>,
    #[prost(string, tag = "8")]
    created_by: String,
    #[prost(string, tag = "9")]
    comment: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MeshSilence {
    #[prost(message, optional, tag = "1")]
    silence: Option<Silence>,
    #[prost(message, optional, tag = "2")]
    expires_at: Option<Timestamp>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Receiver {
    #[prost(string, tag = "1")]
    group_name: String,
    #[prost(string, tag = "2")]
    integration: String,
    #[prost(uint32, tag = "3")]
    idx: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Entry {
    #[prost(bytes = "vec", tag = "1")]
    group_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    receiver: Option<Receiver>,
    #[prost(bool, tag = "4")]
    resolved: bool,
    #[prost(message, optional, tag = "5")]
    timestamp: Option<Timestamp>,
    #[prost(uint64, repeated, tag = "6")]
    firing_alerts: Vec<u64>,
    #[prost(uint64, repeated, tag = "7")]
    resolved_alerts: Vec<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MeshEntry {
    #[prost(message, optional, tag = "1")]
    entry: Option<Entry>,
    #[prost(message, optional, tag = "2")]
    expires_at: Option<Timestamp>,
}

/// Matcher types by wire number.
const MATCH_TYPES: [&str; 4] = ["=", "=~", "!=", "!~"];

/// Why a payload is not Alertmanager's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A broadcast (user message): one part, as `{"type": "part", "fields"}`.
pub fn user_message(payload: &[u8]) -> Result<Value, PayloadError> {
    let p = Part::decode(payload).map_err(|e| PayloadError(format!("not a cluster part: {e}")))?;
    Ok(json!({"type": "part", "fields": part(&p)?}))
}

/// A push/pull user state: every part, as `{"type": "full_state", "fields": {"Parts"}}`.
pub fn user_state(state: &[u8]) -> Result<Value, PayloadError> {
    let s = FullState::decode(state)
        .map_err(|e| PayloadError(format!("not a cluster full state: {e}")))?;
    if s.parts.is_empty() {
        return Err(PayloadError("not a cluster full state: no parts".into()));
    }
    let parts = s.parts.iter().map(part).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"type": "full_state", "fields": {"Parts": parts}}))
}

/// One part: its key and, for the silences and the notification log, their entries.
fn part(p: &Part) -> Result<Value, PayloadError> {
    let mut f = Map::new();
    f.insert("Key".into(), json!(p.key));
    f.insert("DataLen".into(), json!(p.data.len()));
    match p.key.as_str() {
        "sil" => {
            let s = delimited(&p.data, |b| MeshSilence::decode(b).map(|m| silence(&m)))?;
            f.insert("Silences".into(), json!(s));
        }
        "nfl" => {
            let e = delimited(&p.data, |b| MeshEntry::decode(b).map(|m| entry(&m)))?;
            f.insert("Entries".into(), json!(e));
        }
        "" => return Err(PayloadError("not a cluster part: no key".into())),
        _ => {}
    }
    Ok(Value::Object(f))
}

/// The messages of a run of varint-length-delimited ones.
fn delimited(
    mut data: &[u8],
    one: impl Fn(&[u8]) -> Result<Value, prost::DecodeError>,
) -> Result<Vec<Value>, PayloadError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let len = prost::encoding::decode_varint(&mut data)
            .map_err(|e| PayloadError(format!("entry {}: bad length: {e}", out.len())))?
            as usize;
        if data.len() < len {
            return Err(PayloadError(format!(
                "entry {} claims {len} bytes, {} left",
                out.len(),
                data.len()
            )));
        }
        let (msg, rest) = data.split_at(len);
        out.push(one(msg).map_err(|e| PayloadError(format!("entry {}: {e}", out.len())))?);
        data = rest;
    }
    Ok(out)
}

/// A timestamp as RFC 3339 text would need a calendar: Unix seconds with nanoseconds.
fn time(t: &Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(format!("{}.{:09}", t.seconds, t.nanos.max(0)))
    })
}

fn silence(m: &MeshSilence) -> Value {
    let s = m.silence.clone().unwrap_or_default();
    let matchers: Vec<Value> = s
        .matchers
        .iter()
        .map(|x| {
            let op = usize::try_from(x.kind)
                .ok()
                .and_then(|k| MATCH_TYPES.get(k))
                .map_or_else(|| json!(x.kind), |o| json!(o));
            json!({"Name": x.name, "Type": op, "Pattern": x.pattern})
        })
        .collect();
    json!({
        "Id": s.id, "Matchers": matchers, "StartsAt": time(&s.starts_at),
        "EndsAt": time(&s.ends_at), "UpdatedAt": time(&s.updated_at),
        "CreatedBy": s.created_by, "Comment": s.comment, "ExpiresAt": time(&m.expires_at),
    })
}

fn entry(m: &MeshEntry) -> Value {
    let e = m.entry.clone().unwrap_or_default();
    let r = e.receiver.clone().unwrap_or_default();
    json!({
        "GroupKey": String::from_utf8_lossy(&e.group_key),
        "Receiver": {"GroupName": r.group_name, "Integration": r.integration, "Idx": r.idx},
        "Resolved": e.resolved, "Timestamp": time(&e.timestamp),
        "FiringAlerts": e.firing_alerts, "ResolvedAlerts": e.resolved_alerts,
        "ExpiresAt": time(&m.expires_at),
    })
}

/// The one-line text of a decoded Alertmanager payload.
pub fn text(v: &Value) -> String {
    let parts: Vec<&Value> = match v["type"].as_str() {
        Some("part") => vec![&v["fields"]],
        _ => v["fields"]["Parts"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default(),
    };
    let mut out = format!("alertmanager {}", v["type"].as_str().unwrap_or_default());
    for p in parts {
        out.push_str(&format!(" | key={}", p["Key"].as_str().unwrap_or_default()));
        for s in p["Silences"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                " silence {} {} starts={} ends={} by={:?} comment={:?}",
                s["Id"].as_str().unwrap_or_default(),
                matchers_text(s),
                s["StartsAt"].as_str().unwrap_or_default(),
                s["EndsAt"].as_str().unwrap_or_default(),
                s["CreatedBy"].as_str().unwrap_or_default(),
                s["Comment"].as_str().unwrap_or_default(),
            ));
        }
        for e in p["Entries"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                " nflog receiver={}/{}/{} group={} firing={} resolved={} at={}",
                e["Receiver"]["GroupName"].as_str().unwrap_or_default(),
                e["Receiver"]["Integration"].as_str().unwrap_or_default(),
                e["Receiver"]["Idx"],
                e["GroupKey"].as_str().unwrap_or_default(),
                e["FiringAlerts"].as_array().map_or(0, Vec::len),
                e["ResolvedAlerts"].as_array().map_or(0, Vec::len),
                e["Timestamp"].as_str().unwrap_or_default(),
            ));
        }
    }
    out
}

/// Which replica of Alertmanager's states a silence or notification-log entry came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A broadcast part (a user message).
    Gossip,
    /// A peer's full state in a push/pull.
    PushPull,
}

impl Via {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Via::Gossip => "gossip",
            Via::PushPull => "push-pull",
        }
    }
}

/// A silence or notification-log entry a watcher had not seen in this form before.
#[derive(Debug, Clone, PartialEq)]
pub enum News {
    /// A silence (as `part` decodes it), new or changed.
    Silence(Value),
    /// A notification-log entry (as `part` decodes it), new or changed.
    Entry(Value),
}

/// What a watcher has seen of the cluster's states. Every push/pull repeats a peer's
/// whole state and every broadcast reaches us several times, so a silence is news only
/// when its ID is new or its content changed (an update or an expiry), and an entry only
/// when its group and receiver are new or it was notified again. What Alertmanager itself
/// has dropped (past its expiry, the end of its retention) is forgotten at each push/pull,
/// so a long watch holds no more than the cluster does.
#[derive(Debug, Default)]
pub struct Seen {
    silences: std::collections::HashMap<String, Value>,
    entries: std::collections::HashMap<(String, String), Value>,
}

impl Seen {
    /// The news in `payload`, a user message (`Via::Gossip`) or a push/pull state
    /// (`Via::PushPull`); parts with keys other than `sil` and `nfl` carry none.
    pub fn news(&mut self, via: Via, payload: &[u8]) -> Result<Vec<News>, PayloadError> {
        let parts: Vec<Part> = match via {
            Via::Gossip => vec![Part::decode(payload)
                .map_err(|e| PayloadError(format!("not a cluster part: {e}")))?],
            Via::PushPull => {
                FullState::decode(payload)
                    .map_err(|e| PayloadError(format!("not a cluster full state: {e}")))?
                    .parts
            }
        };
        if via == Via::PushPull {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.forget_expired(now);
        }
        let mut out = Vec::new();
        for p in &parts {
            let v = part(p)?;
            for s in v["Silences"].as_array().into_iter().flatten() {
                let id = s["Id"].as_str().unwrap_or_default().to_owned();
                if self.silences.get(&id) != Some(s) {
                    self.silences.insert(id, s.clone());
                    out.push(News::Silence(s.clone()));
                }
            }
            for e in v["Entries"].as_array().into_iter().flatten() {
                let key = (
                    e["GroupKey"].as_str().unwrap_or_default().to_owned(),
                    e["Receiver"].to_string(),
                );
                if self.entries.get(&key) != Some(e) {
                    self.entries.insert(key, e.clone());
                    out.push(News::Entry(e.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Drops what expired before `now` (Unix seconds); what has no expiry stays.
    fn forget_expired(&mut self, now: f64) {
        let live = |v: &Value| {
            v["ExpiresAt"]
                .as_str()
                .and_then(|t| t.parse::<f64>().ok())
                .is_none_or(|t| t > now)
        };
        self.silences.retain(|_, v| live(v));
        self.entries.retain(|_, v| live(v));
    }
}

/// A silence's matchers as Alertmanager writes them: `{name="value",other=~"re"}`.
pub fn matchers_text(silence: &Value) -> String {
    let m: Vec<String> = silence["Matchers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            format!(
                "{}{}{:?}",
                m["Name"].as_str().unwrap_or_default(),
                m["Type"].as_str().unwrap_or_default(),
                m["Pattern"].as_str().unwrap_or_default()
            )
        })
        .collect();
    format!("{{{}}}", m.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(comment: &str) -> Vec<u8> {
        let s = MeshSilence {
            silence: Some(Silence {
                id: "s1".into(),
                comment: comment.into(),
                ..Default::default()
            }),
            expires_at: None,
        };
        let sil = Part {
            key: "sil".into(),
            data: s.encode_length_delimited_to_vec(),
        };
        let other = Part {
            key: "someone-elses".into(),
            data: vec![1, 2, 3],
        };
        FullState {
            parts: vec![sil, other],
        }
        .encode_to_vec()
    }

    #[test]
    fn a_silence_is_news_once_and_again_when_it_changes() {
        let mut seen = Seen::default();
        let news = seen.news(Via::PushPull, &state("first")).unwrap();
        assert!(matches!(&news[..], [News::Silence(s)] if s["Comment"] == "first"));
        assert_eq!(seen.news(Via::PushPull, &state("first")).unwrap(), vec![]);
        let news = seen.news(Via::PushPull, &state("edited")).unwrap();
        assert!(matches!(&news[..], [News::Silence(s)] if s["Comment"] == "edited"));
        // Zero bytes are an empty FullState (what a watcher sends): no news, no error.
        assert_eq!(seen.news(Via::PushPull, &[]).unwrap(), vec![]);
        assert!(seen.news(Via::Gossip, &[0xff, 0xff]).is_err());
        // Once past its expiry Alertmanager drops it, and so does the watcher.
        seen.forget_expired(0.0);
        assert_eq!(seen.silences.len(), 1, "no expiry: kept");
        seen.silences.get_mut("s1").unwrap()["ExpiresAt"] = json!("10.000000000");
        seen.forget_expired(9.0);
        assert_eq!(seen.silences.len(), 1);
        seen.forget_expired(11.0);
        assert!(seen.silences.is_empty());
    }
}
