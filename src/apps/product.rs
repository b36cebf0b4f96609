//! Which HashiCorp product a Serf member belongs to, read from its tags (`role`): a
//! Consul server or client, or a Nomad server; each product's module reads the rest.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{consul, nomad};

/// A member's tags, by name.
pub type TagMap = BTreeMap<String, String>;

/// The product's reading of tags given as a JSON object (as `serf::json::tags` writes
/// them); `None` when no product claims them.
pub fn explain(tags: &Value) -> Option<Value> {
    let tags = tags.as_object()?;
    // Most members are no product's: they cost one lookup.
    if !matches!(tags.get("role")?.as_str()?, "consul" | "node" | "nomad") {
        return None;
    }
    let tags: TagMap = tags
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    consul::explain(&tags).or_else(|| nomad::explain(&tags))
}

/// The one-line text of a reading.
pub fn text(v: &Value) -> String {
    match v["product"].as_str() {
        Some("consul") => consul::text(v),
        Some("nomad") => nomad::text(v),
        _ => String::new(),
    }
}

/// A tag that must be a whole number when present.
pub(super) fn int(tags: &TagMap, tag: &str) -> Result<Option<u64>, String> {
    tags.get(tag)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("{tag} tag {v:?} is not a number"))
        })
        .transpose()
}

/// The `; problem` suffixes a reading's text ends with.
pub(super) fn problems_text(v: &Value) -> String {
    v["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("; {}", p.as_str().unwrap_or_default()))
        .collect()
}

/// Tags from `(name, value)` pairs, for the products' unit tests.
#[cfg(test)]
pub(super) fn tag_map(pairs: &[(&str, &str)]) -> TagMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A flag tag: set by being there, whatever its value.
pub(super) fn present(tags: &TagMap, tag: &str) -> bool {
    tags.contains_key(tag)
}

/// Adds the product's reading beside the tags in a row's Serf data: `product` for an
/// alive message's tags, `products` (by node) for a push/pull's. Serf's own fields are
/// left as they are.
pub fn annotate(serf: &mut Value) {
    let Some(tags) = serf.get("tags").and_then(Value::as_object) else {
        return;
    };
    if !tags.is_empty() && tags.values().all(Value::is_object) {
        let by_node: serde_json::Map<String, Value> = tags
            .iter()
            .filter_map(|(node, t)| Some((node.clone(), explain(t)?)))
            .collect();
        if !by_node.is_empty() {
            serf["products"] = Value::Object(by_node);
        }
    } else if let Some(p) = explain(&serf["tags"]) {
        serf["product"] = p;
    }
}

/// The text of `annotate`'s readings, to follow Serf's text of the row.
pub fn annotation_text(serf: &Value) -> String {
    let mut out = String::new();
    if let Some(p) = serf.get("product") {
        out.push_str(&format!(" | {}", text(p)));
    }
    for (node, p) in serf
        .get("products")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(" | {node}: {}", text(p)));
    }
    out
}
