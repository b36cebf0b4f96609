//! Presentation of decoded messages for people: addresses as IP strings and version
//! vectors as numbers, on top of the Go-named JSON of `wire::json`.

use std::net::IpAddr;

use serde_json::Value;

/// Byte fields that hold an IP address.
const ADDRESS_FIELDS: [&str; 3] = ["Addr", "SourceAddr", "Target"];

/// Renders 4- or 16-byte addresses as text (IPv4-mapped IPv6 as IPv4).
pub fn ip(bytes: &[u8]) -> Option<IpAddr> {
    memberlist_interop::node::member::ip_from_bytes(bytes)
}

/// Rewrites a `fields` object in place for display.
pub fn humanize(fields: &mut Value) {
    let Some(map) = fields.as_object_mut() else {
        return;
    };
    for (k, v) in map.iter_mut() {
        let Some(h) = v.as_str() else { continue };
        let Ok(bytes) = hex::decode(h) else { continue };
        if ADDRESS_FIELDS.contains(&k.as_str()) {
            if let Some(addr) = ip(&bytes) {
                *v = Value::String(addr.to_string());
            }
        } else if k == "Vsn" {
            *v = bytes.iter().map(|&b| Value::from(b)).collect();
        }
    }
}

/// Rewrites a `serf` object in place for display: addresses as IPs and payloads as
/// text when they are printable UTF-8, at any depth (relayed and nested messages).
pub fn humanize_serf(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let bytes = v.as_str().and_then(|h| hex::decode(h).ok());
                match (k.as_str(), bytes) {
                    ("Addr" | "IP", Some(b)) => {
                        if let Some(addr) = ip(&b) {
                            *v = Value::String(addr.to_string());
                        }
                    }
                    ("Payload", Some(b)) => *v = Value::String(meta_text(&b)),
                    _ => humanize_serf(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(humanize_serf),
        _ => {}
    }
}

/// Meta as text when it is printable UTF-8, else as hex.
pub fn meta_text(meta: &[u8]) -> String {
    match std::str::from_utf8(meta) {
        Ok(t) if !t.chars().any(char::is_control) => t.to_string(),
        _ => hex::encode(meta),
    }
}

/// One member as JSON, with Go's field names.
pub fn member_fields(
    name: &str,
    addr: &[u8],
    port: u16,
    state: &str,
    incarnation: u32,
    meta: &[u8],
    vsn: &[u8],
) -> Value {
    serde_json::json!({
        "Name": name,
        "Addr": ip(addr).map_or_else(|| hex::encode(addr), |a| a.to_string()),
        "Port": port,
        "State": state,
        "Incarnation": incarnation,
        "Meta": meta_text(meta),
        "Vsn": vsn,
    })
}

/// A member of our own list as JSON.
pub fn member_json(m: &memberlist_interop::node::Member) -> Value {
    member_fields(
        &m.name,
        &m.addr,
        m.port,
        m.state.name(),
        m.incarnation,
        &m.meta,
        &m.versions.to_vsn(),
    )
}

/// `Key=value` pairs on one line, in Go's field order as JSON gives it.
pub fn text_fields(fields: &Value) -> String {
    let Some(map) = fields.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_versions() {
        let mut f = serde_json::json!({"Addr": "00000000000000000000ffff0a000001", "SourceAddr": "7f000001", "Vsn": "010502000000", "Meta": "6869"});
        humanize(&mut f);
        assert_eq!(
            f,
            serde_json::json!({"Addr": "10.0.0.1", "SourceAddr": "127.0.0.1", "Vsn": [1, 5, 2, 0, 0, 0], "Meta": "6869"})
        );
    }

    #[test]
    fn serf_addresses_and_text_payloads() {
        let mut v = serde_json::json!({"type": "relay", "fields": {
            "DestAddr": {"IP": "7f000001", "Port": 7946},
            "Message": {"type": "query_response", "fields": {"Payload": "706f6e67"}}}});
        humanize_serf(&mut v);
        assert_eq!(v["fields"]["DestAddr"]["IP"], "127.0.0.1");
        assert_eq!(v["fields"]["Message"]["fields"]["Payload"], "pong");
        let mut bin = serde_json::json!({"Payload": "00ff", "Key": "0102"});
        humanize_serf(&mut bin);
        assert_eq!(bin, serde_json::json!({"Payload": "00ff", "Key": "0102"}));
    }
}
