//! `memberlist decode -v`: under each message's one-line form, an indented tree of
//! every layer it was wrapped in and every field it carries, as `tshark -V` shows a
//! packet, so nothing the JSON form holds is hidden from the text form.

use std::fmt::Write;

use serde_json::Value;

/// Row keys shown in the tree's header and layer lines rather than as fields.
const SHOWN_ABOVE: [&str; 11] = [
    "frame",
    "time",
    "src",
    "dst",
    "transport",
    "layers",
    "label",
    "key",
    "encryption_version",
    "type",
    "fields",
];

/// Appends the tree of one output row (as `present`ed JSON) to `out`.
pub fn tree(row: &Value, out: &mut String) {
    if let (Some(src), Some(dst)) = (row["src"].as_str(), row["dst"].as_str()) {
        let _ = writeln!(
            out,
            "  frame {} at {}: {src} -> {dst} over {}",
            row["frame"],
            row["time"].as_str().unwrap_or_default(),
            row["transport"].as_str().unwrap_or_default()
        );
    }
    let mut depth = 1;
    for layer in row["layers"].as_array().into_iter().flatten() {
        let layer = layer.as_str().unwrap_or_default();
        let detail = match layer {
            "has_label" => format!(" {:?}", row["label"].as_str().unwrap_or_default()),
            "encrypt" => format!(
                " (version {}, key {})",
                row["encryption_version"], row["key"]
            ),
            _ => String::new(),
        };
        let _ = writeln!(out, "{:w$}{layer}{detail}", "", w = 2 * depth);
        depth += 1;
    }
    let pad = 2 * depth;
    if let Some(e) = row.get("error") {
        let _ = writeln!(out, "{:pad$}error: {}", "", e.as_str().unwrap_or_default());
        return;
    }
    let _ = writeln!(out, "{:pad$}{}", "", row["type"].as_str().unwrap_or("?"));
    if let Some(fields) = row["fields"].as_object() {
        for (k, v) in fields {
            field(out, depth + 1, k, v);
        }
    }
    if let Some(map) = row.as_object() {
        for (k, v) in map
            .iter()
            .filter(|(k, _)| !SHOWN_ABOVE.contains(&k.as_str()))
        {
            field(out, depth + 1, k, v);
        }
    }
}

fn field(out: &mut String, depth: usize, key: &str, v: &Value) {
    let pad = 2 * depth;
    match v {
        Value::Object(map) if !map.is_empty() => {
            let _ = writeln!(out, "{:pad$}{key}:", "");
            for (k, v) in map {
                field(out, depth + 1, k, v);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            let _ = writeln!(out, "{:pad$}{key}:", "");
            for (i, item) in items.iter().enumerate() {
                field(out, depth + 1, &format!("[{i}]"), item);
            }
        }
        Value::String(s) => {
            let _ = writeln!(out, "{:pad$}{key}: {s}", "");
        }
        other => {
            let _ = writeln!(out, "{:pad$}{key}: {other}", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_nest_and_every_field_is_shown() {
        let row = serde_json::json!({
            "frame": 3, "time": "1.000001", "src": "127.0.0.1:1", "dst": "127.0.0.1:7946",
            "transport": "udp", "layers": ["has_label", "encrypt", "compound"],
            "label": "prod", "key": 1, "encryption_version": 1, "type": "alive",
            "fields": {"Node": "a", "Vsn": [1, 5, 2, 0, 0, 0]},
            "serf": {"tags": {"role": "web"}},
        });
        let mut out = String::new();
        tree(&row, &mut out);
        assert_eq!(
            out,
            "  frame 3 at 1.000001: 127.0.0.1:1 -> 127.0.0.1:7946 over udp
  has_label \"prod\"
    encrypt (version 1, key 1)
      compound
        alive
          Node: a
          Vsn: [1,5,2,0,0,0]
          serf:
            tags:
              role: web
"
        );
    }
}
