//! Consul's Serf tags read for a person: what a member says about itself in the LAN or
//! WAN pool. `role=consul` is a server, `role=node` a client agent. A server whose tags
//! Consul cannot read (a port, protocol, expect, raft version or build that does not
//! parse) is not taken as a server by the other servers: those are listed as problems.

use serde_json::{json, Map, Value};

use super::product::{int, present, problems_text, TagMap};

/// Consul's feature flags (`ft_*` tags) by name, as its servers advertise them.
const FEATURES: [(&str, &str); 2] = [("fs", "federation states"), ("si", "service intentions")];

/// The reading of a member's tags when they are Consul's (`role` is `consul` or `node`).
pub fn explain(tags: &TagMap) -> Option<Value> {
    let role = match tags.get("role")?.as_str() {
        "consul" => "server",
        "node" => "client",
        _ => return None,
    };
    let mut problems = Vec::new();
    let mut o = Map::new();
    o.insert("product".into(), json!("consul"));
    o.insert("role".into(), json!(role));
    for (tag, field) in [
        ("dc", "datacenter"),
        ("id", "node_id"),
        ("ap", "partition"),
        ("acls", "acls"),
    ] {
        if let Some(v) = tags.get(tag).filter(|v| !v.is_empty()) {
            o.insert(field.into(), json!(v));
        }
    }
    if let Some(s) = tags.get("segment").filter(|s| !s.is_empty()) {
        o.insert("segment".into(), json!(s));
    }
    if let Some(b) = tags.get("build") {
        // Consul writes VERSION:REVISION and reads the first x.y.z in it.
        let (v, rev) = b.split_once(':').unwrap_or((b, ""));
        o.insert("version".into(), json!(v));
        if !rev.is_empty() {
            o.insert("revision".into(), json!(rev));
        }
        if role == "server" && !has_version(b) {
            problems.push(format!(
                "build {b:?} holds no x.y.z version: Consul servers do not take it as a server"
            ));
        }
    } else if role == "server" {
        problems.push("no build tag: Consul servers do not take it as a server".into());
    }
    let required = role == "server";
    for (tag, field, needed) in [
        ("port", "rpc_port", required),
        ("vsn", "protocol", required),
        ("vsn_min", "protocol_min", false),
        ("vsn_max", "protocol_max", false),
        ("raft_vsn", "raft_protocol", false),
        ("expect", "bootstrap_expect", false),
        ("wan_join_port", "wan_join_port", false),
        ("grpc_port", "grpc_port", false),
        ("grpc_tls_port", "grpc_tls_port", false),
    ] {
        match int(tags, tag) {
            Ok(Some(n)) => {
                o.insert(field.into(), json!(n));
            }
            Ok(None) if needed => problems.push(format!(
                "no {tag} tag: Consul servers do not take it as a server"
            )),
            Ok(None) => {}
            Err(e) if role == "server" => {
                problems.push(format!("{e}: Consul servers do not take it as a server"))
            }
            Err(e) => problems.push(e),
        }
    }
    for (tag, field) in [
        ("bootstrap", "bootstrap"),
        ("use_tls", "use_tls"),
        ("read_replica", "read_replica"),
        ("nonvoter", "read_replica"),
    ] {
        if present(tags, tag) {
            o.insert(field.into(), json!(true));
        }
    }
    let mut features = Vec::new();
    let mut listeners = Map::new();
    for (k, v) in tags {
        if let Some(f) = k.strip_prefix("ft_") {
            let name = FEATURES
                .iter()
                .find(|(n, _)| *n == f)
                .map_or(f, |(_, long)| long);
            match v.parse::<i64>() {
                Ok(1) => features.push(name.to_owned()),
                Ok(_) => {}
                Err(_) => problems.push(format!("feature flag {k}={v:?} is not a number")),
            }
        } else if let Some(seg) = k.strip_prefix("sl_") {
            listeners.insert(seg.into(), json!(v));
        }
    }
    if !features.is_empty() {
        o.insert("features".into(), json!(features));
    }
    if !listeners.is_empty() {
        o.insert("segment_listeners".into(), Value::Object(listeners));
    }
    if present(tags, "fips") {
        o.insert("fips".into(), json!(tags["fips"]));
    }
    if !problems.is_empty() {
        o.insert("problems".into(), json!(problems));
    }
    Some(Value::Object(o))
}

/// Whether `build` holds an `x.y.z`, as Consul looks for one.
fn has_version(build: &str) -> bool {
    let b = build.as_bytes();
    (0..b.len()).any(|i| {
        let mut j = i;
        for part in 0..3 {
            let start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j == start || (part < 2 && b.get(j) != Some(&b'.')) {
                return false;
            }
            if part < 2 {
                j += 1;
            }
        }
        true
    })
}

/// The one-line text of a reading.
pub fn text(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or_default();
    let mut out = format!("Consul {}", s("role"));
    if !s("datacenter").is_empty() {
        out.push_str(&format!(" of datacenter {}", s("datacenter")));
    }
    for (k, label) in [("segment", "segment"), ("partition", "partition")] {
        if !s(k).is_empty() {
            out.push_str(&format!(", {label} {}", s(k)));
        }
    }
    if !s("version").is_empty() {
        out.push_str(&format!(", Consul {}", s("version")));
    }
    if let Some(p) = v["protocol"].as_u64() {
        out.push_str(&format!(", protocol {p}"));
        if let (Some(lo), Some(hi)) = (v["protocol_min"].as_u64(), v["protocol_max"].as_u64()) {
            out.push_str(&format!(" ({lo} to {hi})"));
        }
    }
    for (k, label) in [
        ("raft_protocol", "raft protocol"),
        ("rpc_port", "RPC port"),
        ("wan_join_port", "WAN join port"),
        ("grpc_port", "gRPC port"),
        ("grpc_tls_port", "gRPC TLS port"),
        ("bootstrap_expect", "bootstrap-expect"),
    ] {
        if let Some(n) = v[k].as_u64() {
            out.push_str(&format!(", {label} {n}"));
        }
    }
    for (k, label) in [
        ("bootstrap", "bootstrap"),
        ("read_replica", "read replica"),
        ("use_tls", "TLS"),
    ] {
        if v[k] == true {
            out.push_str(&format!(", {label}"));
        }
    }
    if let Some(f) = v["features"].as_array() {
        let f: Vec<&str> = f.iter().filter_map(Value::as_str).collect();
        out.push_str(&format!(", features: {}", f.join(", ")));
    }
    out.push_str(&problems_text(v));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::apps::product::tag_map as tags;

    #[test]
    fn a_server_reads_as_consul_writes_it() {
        let v = explain(&tags(&[
            ("role", "consul"),
            ("dc", "dc1"),
            ("segment", ""),
            ("id", "0b5e2f0c-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
            ("vsn", "2"),
            ("vsn_min", "2"),
            ("vsn_max", "3"),
            ("raft_vsn", "3"),
            ("build", "1.22.7:7926532a"),
            ("port", "8300"),
            ("wan_join_port", "8302"),
            ("expect", "3"),
            ("acls", "0"),
            ("ft_fs", "1"),
            ("ft_si", "1"),
        ]))
        .unwrap();
        assert_eq!(v["role"], "server");
        assert_eq!(v["version"], "1.22.7");
        assert_eq!(v["revision"], "7926532a");
        assert_eq!(v["rpc_port"], 8300);
        assert_eq!(v["bootstrap_expect"], 3);
        assert_eq!(
            v["features"],
            json!(["federation states", "service intentions"])
        );
        assert!(v.get("problems").is_none(), "{v}");
        assert_eq!(
            text(&v),
            "Consul server of datacenter dc1, Consul 1.22.7, protocol 2 (2 to 3), raft protocol 3, \
             RPC port 8300, WAN join port 8302, bootstrap-expect 3, features: federation states, \
             service intentions"
        );
    }

    #[test]
    fn what_servers_would_not_read_is_a_problem() {
        let v = explain(&tags(&[
            ("role", "consul"),
            ("port", "x"),
            ("build", "dev"),
        ]))
        .unwrap();
        let p: Vec<&str> = v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(p.iter().any(|p| p.contains("build \"dev\"")), "{p:?}");
        assert!(p.iter().any(|p| p.contains("port")), "{p:?}");
        assert!(p.iter().any(|p| p.contains("no vsn tag")), "{p:?}");
        // A client needs neither port nor vsn.
        let c = explain(&tags(&[
            ("role", "node"),
            ("dc", "dc1"),
            ("build", "1.22.7:"),
        ]))
        .unwrap();
        assert_eq!(c["role"], "client");
        assert!(c.get("problems").is_none(), "{c}");
        assert!(explain(&tags(&[("role", "nomad")])).is_none());
        assert!(explain(&tags(&[])).is_none());
    }
}
