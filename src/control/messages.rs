//! The values serf's RPC exchanges, under Go's field names. Every struct lists its
//! fields in name order because serf's encoder writes them so (bytes compared with a
//! real agent's); maps are `BTreeMap`s, in key order (Go's are in random order).
//! Fields Go may send as nil (a nil slice, map or `[]byte`) decode to their default.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_bytes::ByteBuf;

/// Go's nil and an absent field both mean "empty".
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub type StringMap = BTreeMap<String, String>;

/// In front of every request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestHeader {
    #[serde(rename = "Command", default, deserialize_with = "nullable")]
    pub command: String,
    #[serde(rename = "Seq", default, deserialize_with = "nullable")]
    pub seq: u64,
}

/// In front of every response and every streamed record; `Error` is empty on success.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseHeader {
    #[serde(rename = "Error", default, deserialize_with = "nullable")]
    pub error: String,
    #[serde(rename = "Seq", default, deserialize_with = "nullable")]
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handshake {
    #[serde(rename = "Version", default, deserialize_with = "nullable")]
    pub version: i32,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Auth {
    #[serde(rename = "AuthKey", default, deserialize_with = "nullable")]
    pub auth_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRequest {
    #[serde(rename = "Node", default, deserialize_with = "nullable")]
    pub node: String,
}

/// Go's `coordinate.Coordinate` as the RPC carries it (seconds; `Error` unitless).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coord {
    #[serde(rename = "Adjustment", default, deserialize_with = "nullable")]
    pub adjustment: f64,
    #[serde(rename = "Error", default, deserialize_with = "nullable")]
    pub error: f64,
    #[serde(rename = "Height", default, deserialize_with = "nullable")]
    pub height: f64,
    #[serde(rename = "Vec", default)]
    pub vec: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoordinateResponse {
    #[serde(rename = "Coord", default, deserialize_with = "nullable")]
    pub coord: Coord,
    #[serde(rename = "Ok", default, deserialize_with = "nullable")]
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRequest {
    #[serde(rename = "Coalesce", default, deserialize_with = "nullable")]
    pub coalesce: bool,
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "Payload", default)]
    pub payload: Option<ByteBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForceLeave {
    #[serde(rename = "Node", default, deserialize_with = "nullable")]
    pub node: String,
    #[serde(rename = "Prune", default, deserialize_with = "nullable")]
    pub prune: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Join {
    #[serde(rename = "Existing", default, deserialize_with = "nullable")]
    pub existing: Vec<String>,
    #[serde(rename = "Replay", default, deserialize_with = "nullable")]
    pub replay: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinResponse {
    #[serde(rename = "Num", default, deserialize_with = "nullable")]
    pub num: i32,
}

/// `members-filtered`: each field a regular expression, anchored at both ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MembersFiltered {
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(rename = "Tags", default, deserialize_with = "nullable")]
    pub tags: StringMap,
}

/// One member as `members` and member events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Go's `net.IP`: 4 or 16 bytes.
    #[serde(rename = "Addr", default, deserialize_with = "nullable")]
    pub addr: ByteBuf,
    #[serde(rename = "DelegateCur", default, deserialize_with = "nullable")]
    pub delegate_cur: u8,
    #[serde(rename = "DelegateMax", default, deserialize_with = "nullable")]
    pub delegate_max: u8,
    #[serde(rename = "DelegateMin", default, deserialize_with = "nullable")]
    pub delegate_min: u8,
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "Port", default, deserialize_with = "nullable")]
    pub port: u16,
    #[serde(rename = "ProtocolCur", default, deserialize_with = "nullable")]
    pub protocol_cur: u8,
    #[serde(rename = "ProtocolMax", default, deserialize_with = "nullable")]
    pub protocol_max: u8,
    #[serde(rename = "ProtocolMin", default, deserialize_with = "nullable")]
    pub protocol_min: u8,
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(rename = "Tags", default, deserialize_with = "nullable")]
    pub tags: StringMap,
}

impl Member {
    /// The address as text (`?` when it is neither 4 nor 16 bytes).
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        let b: &[u8] = &self.addr;
        match b.len() {
            4 => Some(<[u8; 4]>::try_from(b).ok()?.into()),
            16 => {
                let v6 = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?);
                Some(v6.to_ipv4_mapped().map_or(v6.into(), Into::into))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersResponse {
    #[serde(rename = "Members", default, deserialize_with = "nullable")]
    pub members: Vec<Member>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct KeyRequest {
    #[serde(rename = "Key", default, deserialize_with = "nullable")]
    pub key: String,
}

/// The answer to a key command; `Keys` only for `list-keys` (nil otherwise, as Go).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyResponse {
    #[serde(rename = "Keys", default)]
    pub keys: Option<BTreeMap<String, i64>>,
    #[serde(rename = "Messages", default, deserialize_with = "nullable")]
    pub messages: StringMap,
    #[serde(rename = "NumErr", default, deserialize_with = "nullable")]
    pub num_err: i64,
    #[serde(rename = "NumNodes", default, deserialize_with = "nullable")]
    pub num_nodes: i64,
    #[serde(rename = "NumResp", default, deserialize_with = "nullable")]
    pub num_resp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Monitor {
    #[serde(rename = "LogLevel", default, deserialize_with = "nullable")]
    pub log_level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stream {
    #[serde(rename = "Type", default, deserialize_with = "nullable")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stop {
    #[serde(rename = "Stop", default, deserialize_with = "nullable")]
    pub stop: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagsRequest {
    #[serde(rename = "DeleteTags", default, deserialize_with = "nullable")]
    pub delete_tags: Vec<String>,
    #[serde(rename = "Tags", default, deserialize_with = "nullable")]
    pub tags: StringMap,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueryRequest {
    #[serde(rename = "FilterNodes", default, deserialize_with = "nullable")]
    pub filter_nodes: Vec<String>,
    #[serde(rename = "FilterTags", default, deserialize_with = "nullable")]
    pub filter_tags: StringMap,
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "Payload", default)]
    pub payload: Option<ByteBuf>,
    #[serde(rename = "RelayFactor", default, deserialize_with = "nullable")]
    pub relay_factor: u8,
    #[serde(rename = "RequestAck", default, deserialize_with = "nullable")]
    pub request_ack: bool,
    /// Go's `time.Duration`: nanoseconds; 0 means Serf's default.
    #[serde(rename = "Timeout", default, deserialize_with = "nullable")]
    pub timeout: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Respond {
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: u64,
    #[serde(rename = "Payload", default)]
    pub payload: Option<ByteBuf>,
}

/// One record of a query's response stream: `ack`, `response` or `done`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryRecord {
    #[serde(rename = "From", default, deserialize_with = "nullable")]
    pub from: String,
    #[serde(rename = "Payload", default)]
    pub payload: Option<ByteBuf>,
    #[serde(rename = "Type", default, deserialize_with = "nullable")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogRecord {
    #[serde(rename = "Log", default, deserialize_with = "nullable")]
    pub log: String,
}

/// A record of an event stream; which fields are present depends on `Event`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventRecord {
    User {
        #[serde(rename = "Coalesce")]
        coalesce: bool,
        #[serde(rename = "Event")]
        event: String,
        #[serde(rename = "LTime")]
        ltime: u64,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Payload")]
        payload: Option<ByteBuf>,
    },
    Query {
        #[serde(rename = "Event")]
        event: String,
        /// Opaque to the client: what `respond` names the query by.
        #[serde(rename = "ID")]
        id: u64,
        #[serde(rename = "LTime")]
        ltime: u64,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Payload")]
        payload: Option<ByteBuf>,
    },
    Member {
        #[serde(rename = "Event")]
        event: String,
        #[serde(rename = "Members")]
        members: Vec<Member>,
    },
}

/// `stats`: sections (`agent`, `runtime`, `serf`, `tags`, `event_handlers`) of strings.
pub type Stats = BTreeMap<String, StringMap>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::codec::encode;

    #[test]
    fn a_member_encodes_as_the_serf_agent_sends_it() {
        // One member of a `members` answer from the Debian serf 0.9.4 agent.
        let go = hex::decode(concat!(
            "8ba441646472c4047f000001ab44656c656761746543757205ab44656c65676174654d617805",
            "ab44656c65676174654d696e02a44e616d65a670726f626531a4506f7274cd6d2aab50726f74",
            "6f636f6c43757202ab50726f746f636f6c4d617805ab50726f746f636f6c4d696e01a6537461",
            "747573a5616c697665a45461677381a4726f6c65a26462"
        ))
        .unwrap();
        let m: Member = rmp_serde::from_slice(&go).unwrap();
        assert_eq!(m.name, "probe1");
        assert_eq!(m.ip(), Some([127, 0, 0, 1].into()));
        assert_eq!((m.port, m.protocol_min, m.delegate_cur), (27946, 1, 5));
        let mut ours = Vec::new();
        encode(&m, &mut ours);
        assert_eq!(hex::encode(ours), hex::encode(go));
    }

    #[test]
    fn go_nil_fields_decode_as_empty() {
        // {"Keys": nil, "Messages": nil, "NumErr": 0, "NumNodes": 1, "NumResp": 1}
        let mut v = Vec::new();
        rmp::encode::write_map_len(&mut v, 5).unwrap();
        for (k, nil) in [("Keys", true), ("Messages", true)] {
            rmp::encode::write_str(&mut v, k).unwrap();
            assert!(nil);
            rmp::encode::write_nil(&mut v).unwrap();
        }
        for (k, n) in [("NumErr", 0), ("NumNodes", 1), ("NumResp", 1)] {
            rmp::encode::write_str(&mut v, k).unwrap();
            rmp::encode::write_uint(&mut v, n).unwrap();
        }
        let r: KeyResponse = rmp_serde::from_slice(&v).unwrap();
        assert!(r.keys.is_none() && r.messages.is_empty());
        assert_eq!((r.num_nodes, r.num_resp), (1, 1));
    }
}
