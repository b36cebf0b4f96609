//! Runs another implementation's decoder over a corpus, as the decoder protocol says
//! (README, "Test vectors"): once per vector, `sh -c CMD` with the bytes as hex on
//! stdin and the rest in `MEMBERLIST_VECTOR_*` variables; its stdout is one JSON
//! object, compared with the vector's `expected`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::corpus::Vector;

/// The decoder protocol version (in the manifest); a change that breaks decoders bumps it.
pub const PROTOCOL_VERSION: u32 = 1;

pub struct CheckOptions {
    /// The decoder command line, run with `sh -c`.
    pub decoder: String,
    /// How long one decoder run may take.
    pub timeout: Duration,
}

/// Where the decoder disagreed with Go, or could not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The output differs from Go's decoding at `path`.
    Mismatch {
        path: String,
        expected: String,
        got: String,
    },
    /// The decoder reported an error for bytes Go produced.
    DecoderError(String),
    /// The output was not one JSON object.
    NotJson(String),
    /// The decoder did not finish, could not start, or was killed.
    Failed(String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Mismatch {
                path,
                expected,
                got,
            } => write!(f, "at {path}: expected {expected}, got {got}"),
            Finding::DecoderError(e) => write!(f, "the decoder reported an error: {e}"),
            Finding::NotJson(out) => write!(f, "the output is not a JSON object: {out:?}"),
            Finding::Failed(why) => write!(f, "the decoder failed: {why}"),
        }
    }
}

#[derive(Debug, Default)]
pub struct CheckReport {
    pub total: usize,
    pub matched: usize,
    /// Vectors the decoder said it does not support (`{"unsupported": why}`).
    pub unsupported: Vec<(String, String)>,
    pub findings: Vec<(String, Finding)>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Feeds every vector to the decoder.
pub fn check(vectors: &[Vector], opts: &CheckOptions) -> CheckReport {
    let mut report = CheckReport {
        total: vectors.len(),
        ..CheckReport::default()
    };
    for v in vectors {
        match run_decoder(v, opts) {
            Ok(out) => match out.get("unsupported") {
                Some(why) => report
                    .unsupported
                    .push((v.name.clone(), why.as_str().unwrap_or("").to_owned())),
                None => match compare(&v.expected, &out) {
                    None => report.matched += 1,
                    Some(f) => report.findings.push((v.name.clone(), f)),
                },
            },
            Err(f) => report.findings.push((v.name.clone(), f)),
        }
    }
    report
}

/// One decoder run: its stdout as a JSON object.
fn run_decoder(v: &Vector, opts: &CheckOptions) -> Result<Value, Finding> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&opts.decoder)
        .env("MEMBERLIST_VECTOR_NAME", &v.name)
        .env("MEMBERLIST_VECTOR_KIND", v.kind.name())
        .env("MEMBERLIST_VECTOR_KEYS", v.input.keys.join(","))
        .env("MEMBERLIST_VECTOR_LABEL", &v.input.label)
        .env(
            "MEMBERLIST_VECTOR_DIRECTION",
            v.input.direction.as_deref().unwrap_or(""),
        )
        .env(
            "MEMBERLIST_VECTOR_AAD",
            v.input.aad.as_deref().unwrap_or(""),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Finding::Failed(format!("cannot run sh -c {:?}: {e}", opts.decoder)))?;
    // Pipes are drained by threads so a large answer (or input) never blocks both sides.
    let mut stdin = child.stdin.take().expect("piped");
    let input = format!("{}\n", v.hex);
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + opts.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Finding::Failed(format!(
                    "no answer within {:?}",
                    opts.timeout
                )));
            }
            Err(e) => return Err(Finding::Failed(e.to_string())),
        }
    };
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default())
        .trim()
        .to_owned();
    let text = String::from_utf8_lossy(&stdout);
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(v @ Value::Object(_)) => match v.get("error") {
            Some(e) => Err(Finding::DecoderError(
                e.as_str().map_or_else(|| e.to_string(), str::to_owned),
            )),
            None => Ok(v),
        },
        _ if !status.success() && text.trim().is_empty() => Err(Finding::Failed(format!(
            "exited with {status}: {}",
            shorten(&stderr)
        ))),
        _ => Err(Finding::NotJson(shorten(text.trim()))),
    }
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// `None` when `got` holds everything `expected` says: every key of the expected
/// object (extra keys at the top are the decoder's own), each value equal below that
/// (numbers by value, so `1.0` equals `1`).
pub fn compare(expected: &Value, got: &Value) -> Option<Finding> {
    let Value::Object(want) = expected else {
        return differ("", expected, got);
    };
    want.iter().find_map(|(k, v)| match got.get(k) {
        Some(g) => differ(&format!("/{k}"), v, g),
        None => Some(Finding::Mismatch {
            path: format!("/{k}"),
            expected: short(v),
            got: "nothing".into(),
        }),
    })
}

fn differ(path: &str, want: &Value, got: &Value) -> Option<Finding> {
    let mismatch = || {
        Some(Finding::Mismatch {
            path: path.to_owned(),
            expected: short(want),
            got: short(got),
        })
    };
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let same = a == b || a.as_f64().zip(b.as_f64()).is_some_and(|(x, y)| x == y);
            if same {
                None
            } else {
                mismatch()
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(Finding::Mismatch {
                    path: path.to_owned(),
                    expected: format!("{} items", a.len()),
                    got: format!("{} items", b.len()),
                });
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| differ(&format!("{path}/{i}"), x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            if let Some(extra) = b.keys().find(|k| !a.contains_key(*k)) {
                return Some(Finding::Mismatch {
                    path: format!("{path}/{extra}"),
                    expected: "nothing".into(),
                    got: short(&b[extra]),
                });
            }
            a.iter().find_map(|(k, x)| match b.get(k) {
                Some(y) => differ(&format!("{path}/{k}"), x, y),
                None => Some(Finding::Mismatch {
                    path: format!("{path}/{k}"),
                    expected: short(x),
                    got: "nothing".into(),
                }),
            })
        }
        _ if want == got => None,
        _ => mismatch(),
    }
}

fn short(v: &Value) -> String {
    shorten(&v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_top_level_keys_are_allowed_and_deeper_ones_are_not() {
        let want = json!({"message": {"type": "ping", "fields": {"SeqNo": 1}}});
        assert_eq!(
            compare(
                &want,
                &json!({"message": {"type": "ping", "fields": {"SeqNo": 1}}, "note": 1})
            ),
            None
        );
        assert_eq!(compare(&json!({"x": 1}), &json!({"x": 1.0})), None);
        let extra = compare(
            &want,
            &json!({"message": {"type": "ping", "fields": {"SeqNo": 1, "X": 2}}}),
        );
        assert!(
            matches!(extra, Some(Finding::Mismatch { ref path, .. }) if path == "/message/fields/X"),
            "{extra:?}"
        );
        let wrong = compare(
            &want,
            &json!({"message": {"type": "ping", "fields": {"SeqNo": 2}}}),
        );
        assert_eq!(
            wrong,
            Some(Finding::Mismatch {
                path: "/message/fields/SeqNo".into(),
                expected: "1".into(),
                got: "2".into()
            })
        );
        assert!(compare(&json!({"a": [1, 2]}), &json!({"a": [1]})).is_some());
        assert!(compare(&json!({"a": 1}), &json!({})).is_some());
    }
}
