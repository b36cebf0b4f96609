//! Nomad's Serf tags read for a person. Only Nomad servers gossip over Serf (clients
//! talk RPC to them), each as `NAME.REGION` with `role=nomad`. A server whose port,
//! build, expect or raft version does not parse is not taken as a server by the others:
//! those are listed as problems.

use serde_json::{json, Map, Value};

use super::product::{int, present, problems_text, TagMap};

/// The reading of a member's tags when they are a Nomad server's (`role=nomad`).
pub fn explain(tags: &TagMap) -> Option<Value> {
    if tags.get("role")? != "nomad" {
        return None;
    }
    let mut problems = Vec::new();
    let mut o = Map::new();
    o.insert("product".into(), json!("nomad"));
    o.insert("role".into(), json!("server"));
    for (tag, field) in [
        ("region", "region"),
        ("dc", "datacenter"),
        ("id", "node_id"),
        ("build", "version"),
        ("revision", "revision"),
        ("rpc_addr", "rpc_addr"),
        ("ap_zone", "redundancy_zone"),
        ("ap_version", "upgrade_version"),
    ] {
        if let Some(v) = tags.get(tag).filter(|v| !v.is_empty()) {
            o.insert(field.into(), json!(v));
        }
    }
    match tags.get("build") {
        Some(b) if is_version(b) => {}
        Some(b) => problems.push(format!(
            "build {b:?} is not a version: Nomad servers do not take it as a server"
        )),
        None => problems.push("no build tag: Nomad servers do not take it as a server".into()),
    }
    for (tag, field, needed) in [
        ("port", "rpc_port", true),
        ("raft_vsn", "raft_protocol", false),
        ("expect", "bootstrap_expect", false),
    ] {
        match int(tags, tag) {
            Ok(Some(n)) => {
                o.insert(field.into(), json!(n));
            }
            Ok(None) if needed => problems.push(format!(
                "no {tag} tag: Nomad servers do not take it as a server"
            )),
            Ok(None) => {}
            Err(e) => problems.push(format!("{e}: Nomad servers do not take it as a server")),
        }
    }
    for (tag, field) in [("bootstrap", "bootstrap"), ("nonvoter", "non_voter")] {
        if present(tags, tag) {
            o.insert(field.into(), json!(true));
        }
    }
    if !problems.is_empty() {
        o.insert("problems".into(), json!(problems));
    }
    Some(Value::Object(o))
}

/// Whether `v` reads as a version the way Nomad parses its build tag: numbers joined by
/// dots (an optional leading `v`), then optionally `-prerelease` and `+metadata`.
fn is_version(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let rest = &v[core.len()..];
    !core.is_empty()
        && core
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && (rest.is_empty() || rest.len() > 1)
}

/// The one-line text of a reading.
pub fn text(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or_default();
    let mut out = String::from("Nomad server");
    if !s("region").is_empty() {
        out.push_str(&format!(" of region {}", s("region")));
    }
    if !s("datacenter").is_empty() {
        out.push_str(&format!(", datacenter {}", s("datacenter")));
    }
    if !s("version").is_empty() {
        out.push_str(&format!(", Nomad {}", s("version")));
    }
    match (s("rpc_addr"), v["rpc_port"].as_u64()) {
        ("", Some(p)) => out.push_str(&format!(", RPC port {p}")),
        (a, Some(p)) => out.push_str(&format!(", RPC {a}:{p}")),
        _ => {}
    }
    for (k, label) in [
        ("raft_protocol", "raft protocol"),
        ("bootstrap_expect", "bootstrap-expect"),
    ] {
        if let Some(n) = v[k].as_u64() {
            out.push_str(&format!(", {label} {n}"));
        }
    }
    for (k, label) in [("bootstrap", "bootstrap"), ("non_voter", "non-voter")] {
        if v[k] == true {
            out.push_str(&format!(", {label}"));
        }
    }
    if !s("redundancy_zone").is_empty() {
        out.push_str(&format!(", redundancy zone {}", s("redundancy_zone")));
    }
    out.push_str(&problems_text(v));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::apps::product::tag_map as tags;

    /// The tags a Nomad server sets in its Serf config (nomad/server.go, setupSerf).
    #[test]
    fn a_server_reads_as_nomad_writes_it() {
        let v = explain(&tags(&[
            ("role", "nomad"),
            ("region", "global"),
            ("dc", "dc1"),
            ("build", "1.9.3"),
            ("revision", "d92bf1014886c0ff9f882f4a2691d5ae8ad8131c"),
            ("vsn", "1"),
            ("raft_vsn", "3"),
            ("id", "5b0a1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d"),
            ("rpc_addr", "10.0.0.5"),
            ("port", "4647"),
            ("expect", "3"),
        ]))
        .unwrap();
        assert_eq!(v["region"], "global");
        assert_eq!(v["rpc_port"], 4647);
        assert!(v.get("problems").is_none(), "{v}");
        assert_eq!(
            text(&v),
            "Nomad server of region global, datacenter dc1, Nomad 1.9.3, RPC 10.0.0.5:4647, \
             raft protocol 3, bootstrap-expect 3"
        );
    }

    #[test]
    fn what_servers_would_not_read_is_a_problem() {
        let v = explain(&tags(&[
            ("role", "nomad"),
            ("build", "1.9.x"),
            ("raft_vsn", "three"),
        ]))
        .unwrap();
        let p = v["problems"].to_string();
        assert!(p.contains("build \\\"1.9.x\\\" is not a version"), "{p}");
        assert!(p.contains("no port tag"), "{p}");
        assert!(
            p.contains("raft_vsn tag \\\"three\\\" is not a number"),
            "{p}"
        );
        assert!(is_version("1.10.0-beta.1+ent") && is_version("v1.2"));
        assert!(!is_version("") && !is_version("1..2") && !is_version("1.2-"));
        assert!(explain(&tags(&[("role", "consul")])).is_none());
    }
}
