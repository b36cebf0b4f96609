//! The corpus: `vectors.jsonl` (one vector per line: bytes as hex, what the decoder
//! needs to open them, and what Go says they decode to), `manifest.json` (format
//! version and the Go releases that produced the bytes) and `README.md` (the format).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The corpus format version; a change that breaks readers bumps it.
pub const FORMAT_VERSION: u32 = 1;

/// The Go module pins the fixtures were generated with.
const GO_MOD: &str = include_str!("../../../interop/go.mod");
/// The project README, whose "Test vectors" section is the corpus's README.
const README: &str = include_str!("../../../README.md");
const FORMAT_START: &str = "<!-- vectors-format:start -->";
const FORMAT_END: &str = "<!-- vectors-format:end -->";

/// What a vector's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One memberlist message: type byte + msgpack body.
    Message,
    /// One UDP payload.
    Packet,
    /// Everything one side wrote on a TCP connection.
    Stream,
    /// Go's `compress/lzw` (LSB, literal width 8) output.
    Lzw,
    /// memberlist's encrypted payload `[version][nonce][ciphertext+tag]`.
    Encrypt,
    /// One Serf message (what follows memberlist's user message type byte).
    SerfMessage,
    /// Serf node meta holding tags (`0xFF` + msgpack map).
    SerfTags,
    /// Serf's ack payload: `01` + a Vivaldi coordinate.
    SerfPingPayload,
    /// One Serf query filter.
    SerfFilter,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Packet => "packet",
            Kind::Stream => "stream",
            Kind::Lzw => "lzw",
            Kind::Encrypt => "encrypt",
            Kind::SerfMessage => "serf_message",
            Kind::SerfTags => "serf_tags",
            Kind::SerfPingPayload => "serf_ping_payload",
            Kind::SerfFilter => "serf_filter",
        }
    }
}

/// What a decoder needs besides the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Base64 keys, primary first (may hold keys that do not open the bytes).
    pub keys: Vec<String>,
    /// The label the sender was configured with (`""`: none).
    pub label: String,
    /// Streams: `dialer` (it writes the label header) or `acceptor`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub direction: Option<String>,
    /// Encrypt vectors: the additional data, hex.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aad: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vector {
    /// Unique; Serf vectors start with `serf/`.
    pub name: String,
    pub kind: Kind,
    /// `encoder` (Go's encoder on mirror structs), `node` (recorded from running
    /// memberlist nodes) or `cluster` (recorded from a running Serf cluster).
    pub origin: String,
    /// The Go modules (and msgpack codec) that produced the bytes.
    pub produced_by: BTreeMap<String, String>,
    pub description: String,
    pub hex: String,
    pub input: Input,
    /// What the bytes decode to, as Go decoded them.
    pub expected: Value,
}

/// The version `go.mod` pins for `module`.
fn pinned(module: &str) -> Option<&'static str> {
    GO_MOD.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(module))
            .then(|| words.next())
            .flatten()
    })
}

/// The "Test vectors" section of the README: the corpus's own README.
pub fn format_doc() -> &'static str {
    let start = README.find(FORMAT_START).map(|i| i + FORMAT_START.len());
    let end = README.find(FORMAT_END);
    match (start, end) {
        (Some(s), Some(e)) if s < e => README[s..e].trim(),
        _ => "See the memberlist-interop README, section \"Test vectors\".",
    }
}

/// The sidecars (`NAME.json` beside `NAME.bin`) of one fixture directory, by name.
fn sidecars(dir: &Path) -> Result<Vec<(String, Vec<u8>, Value)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let bin = path.with_extension("bin");
        let Ok(bytes) = std::fs::read(&bin) else {
            continue; // README-like JSON without bytes
        };
        let side: Value = serde_json::from_slice(
            &std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((name, bytes, side));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Go's generated LZW inputs (`fixtures/README.md`), as bytes.
fn pattern(name: &str, len: usize) -> Result<Vec<u8>, String> {
    let mut x = 1u32;
    (0..len)
        .map(|i| match name {
            "zeros" => Ok(0),
            "mod256" => Ok(i as u8),
            "lcg" => {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                Ok((x >> 16) as u8)
            }
            other => Err(format!("unknown LZW input pattern {other:?}")),
        })
        .collect()
}

fn text(side: &Value, key: &str) -> String {
    side[key].as_str().unwrap_or_default().to_owned()
}

fn keys(side: &Value) -> Vec<String> {
    side["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect()
}

/// The sidecar's keys `keep`, those present.
fn pick(side: &Value, keep: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for k in keep {
        if let Some(v) = side.get(*k) {
            out.insert((*k).to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// One memberlist fixture as a vector.
fn memberlist_vector(
    name: String,
    bytes: &[u8],
    side: &Value,
    versions: &BTreeMap<String, String>,
) -> Result<Vector, String> {
    let mut input = Input {
        keys: keys(side),
        label: text(side, "label"),
        ..Input::default()
    };
    let (kind, expected) = match side["kind"].as_str() {
        Some("message") => (Kind::Message, pick(side, &["message"])),
        Some("packet") => (
            Kind::Packet,
            pick(
                side,
                &[
                    "label",
                    "layers",
                    "messages",
                    "encryption_version",
                    "key_index",
                ],
            ),
        ),
        Some("stream") => {
            input.direction = Some(text(side, "direction"));
            (
                Kind::Stream,
                pick(
                    side,
                    &["layers", "message", "encryption_version", "key_index"],
                ),
            )
        }
        Some("lzw") => {
            let p = &side["plain"];
            let plain = match p["hex"].as_str() {
                Some(h) => h.to_owned(),
                None => hex::encode(pattern(
                    p["pattern"].as_str().unwrap_or_default(),
                    p["len"].as_u64().unwrap_or(0) as usize,
                )?),
            };
            (Kind::Lzw, json!({ "plain": plain }))
        }
        Some("encrypt") => {
            input.keys = vec![text(side, "key")];
            input.aad = Some(text(side, "aad"));
            (Kind::Encrypt, pick(side, &["version", "plain"]))
        }
        other => return Err(format!("fixture {name}: unknown kind {other:?}")),
    };
    let mut produced_by = versions.clone();
    if let Some(codec) = side["codec"].as_str() {
        produced_by.insert("codec".into(), codec.to_owned());
    }
    Ok(Vector {
        name,
        kind,
        origin: text(side, "origin"),
        produced_by,
        description: text(side, "description"),
        hex: hex::encode(bytes),
        input,
        expected,
    })
}

/// One Serf fixture as a vector.
fn serf_vector(
    name: String,
    bytes: &[u8],
    side: &Value,
    versions: &BTreeMap<String, String>,
) -> Result<Vector, String> {
    let (kind, expected) = match side["kind"].as_str() {
        Some("message") => (Kind::SerfMessage, pick(side, &["message"])),
        Some("tags") => (Kind::SerfTags, pick(side, &["tags"])),
        Some("ping_payload") => (Kind::SerfPingPayload, pick(side, &["coordinate"])),
        Some("filter") => (Kind::SerfFilter, pick(side, &["filter"])),
        other => return Err(format!("serf fixture {name}: unknown kind {other:?}")),
    };
    let mut produced_by = versions.clone();
    if let Some(codec) = side["codec"].as_str() {
        produced_by.insert("codec".into(), codec.to_owned());
    }
    Ok(Vector {
        name: format!("serf/{name}"),
        kind,
        origin: text(side, "origin"),
        produced_by,
        description: text(side, "description"),
        hex: hex::encode(bytes),
        input: Input::default(),
        expected,
    })
}

/// Every vector of a fixtures directory (`fixtures/`, with Serf's in `serf/`).
pub fn from_fixtures(fixtures: &Path) -> Result<Vec<Vector>, String> {
    let module = |m: &str| {
        pinned(m)
            .map(str::to_owned)
            .ok_or_else(|| format!("interop/go.mod pins no {m}"))
    };
    let memberlist = BTreeMap::from([(
        "memberlist".to_owned(),
        module("github.com/hashicorp/memberlist")?,
    )]);
    let mut serf = memberlist.clone();
    serf.insert("serf".into(), module("github.com/hashicorp/serf")?);
    let mut out = Vec::new();
    for (name, bytes, side) in sidecars(fixtures)? {
        out.push(memberlist_vector(name, &bytes, &side, &memberlist)?);
    }
    let serf_dir = fixtures.join("serf");
    if serf_dir.is_dir() {
        for (name, bytes, side) in sidecars(&serf_dir)? {
            out.push(serf_vector(name, &bytes, &side, &serf)?);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "{}: no fixtures (NAME.bin with NAME.json) there",
            fixtures.display()
        ));
    }
    Ok(out)
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub vectors: usize,
    pub by_kind: BTreeMap<&'static str, usize>,
}

/// Writes the corpus of `fixtures` into `dir` (created if needed; its three files
/// are replaced).
pub fn export(fixtures: &Path, dir: &Path) -> Result<Exported, String> {
    let vectors = from_fixtures(fixtures)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut lines = String::new();
    let mut by_kind = BTreeMap::new();
    for v in &vectors {
        lines.push_str(&serde_json::to_string(v).map_err(|e| e.to_string())?);
        lines.push('\n');
        *by_kind.entry(v.kind.name()).or_insert(0) += 1;
    }
    let manifest = json!({
        "format": "memberlist-interop test vectors",
        "format_version": FORMAT_VERSION,
        "decoder_protocol": super::check::PROTOCOL_VERSION,
        "produced_by": {
            "memberlist": pinned("github.com/hashicorp/memberlist"),
            "serf": pinned("github.com/hashicorp/serf"),
            "go-msgpack/v2": pinned("github.com/hashicorp/go-msgpack/v2"),
            "go-msgpack": pinned("github.com/hashicorp/go-msgpack"),
        },
        "vectors": vectors.len(),
        "kinds": by_kind,
    });
    let files = ["vectors.jsonl", "manifest.json", "README.md"].map(|f| dir.join(f));
    let contents = [
        lines,
        serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n",
        format!("# memberlist test vectors\n\n{}\n", format_doc()),
    ];
    for (path, text) in files.iter().zip(contents) {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Exported {
        vectors: vectors.len(),
        by_kind,
    })
}

/// Reads a corpus directory's `vectors.jsonl`.
pub fn load(dir: &Path) -> Result<Vec<Vector>, String> {
    let path = dir.join("vectors.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (is it a directory written by `memberlist vectors export`?)",
            path.display()
        )
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_holds_the_format_and_go_mod_the_versions() {
        assert!(
            format_doc().contains("MEMBERLIST_VECTOR_KIND"),
            "README markers missing"
        );
        assert!(pinned("github.com/hashicorp/memberlist").is_some_and(|v| v.starts_with('v')));
        assert!(pinned("github.com/hashicorp/serf").is_some());
    }
}
