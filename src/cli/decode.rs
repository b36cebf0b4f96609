//! `memberlist decode`: a capture file (pcap/pcapng, or `-` for stdin) or one pasted
//! UDP payload (`--hex`), printed one row per memberlist message.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::{json, Value};

use memberlist_interop::serf::json as serf_json;
use memberlist_interop::wire::{
    json as wjson, peel_packet, Keyring, Label, LabelPolicy, PacketConfig, SecretKey, WireError,
};

use super::view;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// A pcap or pcapng capture, or `-` for stdin (e.g. `tcpdump -U -w - port 7946`).
    #[arg(required_unless_present_any = ["hex", "vector"], conflicts_with_all = ["hex", "vector"])]
    input: Option<String>,
    /// One UDP payload as hex (spaces and colons allowed) instead of a capture.
    #[arg(long)]
    hex: Option<String>,
    /// Gossip port to decode (repeatable); default 7946, 8301 and 8302.
    #[arg(long = "port")]
    ports: Vec<u16>,
    /// Try every UDP and TCP payload, whatever its ports.
    #[arg(long)]
    any_port: bool,
    /// A Serf or Consul keyring file: a JSON list of base64 keys.
    #[arg(long)]
    keyring_file: Option<std::path::PathBuf>,
    /// Print counts per message type and source, errors, and the membership timeline.
    #[arg(long)]
    summary: bool,
    /// A gossip key in base64 (repeatable; each is tried in order).
    #[arg(long = "key")]
    keys: Vec<String>,
    /// The label the packet must carry; without it any label is accepted and shown.
    #[arg(long)]
    label: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// With `--format text`: under each line, the tree of every layer and field.
    #[arg(short, long)]
    verbose: bool,
    /// Act as a test-vector decoder: hex on stdin, `MEMBERLIST_VECTOR_*` in the
    /// environment, the decoded JSON on stdout (`memberlist vectors check`).
    #[arg(long, conflicts_with = "hex")]
    vector: bool,
}

pub fn run(args: Args) -> ExitCode {
    if args.vector {
        return super::vectors::decode_vector();
    }
    if args.input.is_some() {
        return super::capture::run(&args);
    }
    match decode(&args) {
        Ok((rows, all_ok)) => {
            let mut out = io::stdout().lock();
            for row in rows {
                // A closed stdout (`| head`) ends the output; nothing else to report.
                if write_row(&mut out, &row, args.format, args.verbose).is_err() {
                    break;
                }
            }
            if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("memberlist decode: {e}");
            ExitCode::from(2)
        }
    }
}

/// Decodes the packet into output rows (one per message or error) and whether every
/// part decoded. Bad arguments are an `Err`; a bad packet is an error row.
fn decode(args: &Args) -> Result<(Vec<Value>, bool), String> {
    let cleaned: String = args
        .hex
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    let bytes = hex::decode(&cleaned).map_err(|e| format!("--hex: {e}"))?;
    let keyring = args.keyring()?;
    let label = args.label()?;
    let policy = match &args.label {
        Some(_) => LabelPolicy::Expect(label.as_ref()),
        None => LabelPolicy::Any,
    };
    let cfg = PacketConfig {
        label: policy,
        keyring: keyring.as_ref(),
        verify_incoming: true,
    };
    let mut rows = Vec::new();
    let mut all_ok = true;
    let info = peel_packet(&bytes, &cfg, |layers, msg| {
        let names: Vec<&str> = layers.as_slice().iter().map(|t| t.name()).collect();
        rows.push(match msg {
            Ok(m) => {
                let mut v = wjson::message(&m);
                if let Some(f) = v.get_mut("fields") {
                    view::humanize(f);
                }
                if let Some(mut serf) = serf_json::from_message(&m) {
                    view::humanize_serf(&mut serf);
                    v["serf"] = serf;
                }
                v["layers"] = json!(names);
                v
            }
            Err(e) => {
                all_ok = false;
                let top_level = names.iter().all(|n| *n == "has_label");
                let text = if top_level {
                    explain(&e, &bytes, keyring.as_ref())
                } else {
                    e.to_string()
                };
                json!({"layers": names, "error": text})
            }
        });
    });
    match info {
        Ok(info) => {
            for row in &mut rows {
                if !info.label.is_empty() {
                    row["label"] = json!(String::from_utf8_lossy(info.label));
                }
                if let Some((version, key)) = info.decrypted {
                    row["key"] = json!(key);
                    row["encryption_version"] = json!(version as u8);
                }
            }
            Ok((rows, all_ok))
        }
        Err(e) => Ok((
            vec![json!({"error": explain(&e, &bytes, keyring.as_ref())})],
            false,
        )),
    }
}

/// The error text, naming the likely cause when it is about keys.
fn explain(e: &WireError, bytes: &[u8], keyring: Option<&Keyring>) -> String {
    let body = memberlist_interop::wire::label::strip(bytes).map_or(bytes, |(_, b)| b);
    memberlist_interop::inspect::decode::explain(e, keyring, body)
}

impl Args {
    /// The keys of `--key` (first is primary) and then those of `--keyring-file`.
    pub fn keyring(&self) -> Result<Option<Keyring>, String> {
        let mut texts = self.keys.clone();
        if let Some(path) = &self.keyring_file {
            let raw = std::fs::read(path)
                .map_err(|e| format!("--keyring-file {}: {e}", path.display()))?;
            let list: Vec<String> = serde_json::from_slice(&raw).map_err(|e| {
                format!(
                    "--keyring-file {}: not a JSON list of keys: {e}",
                    path.display()
                )
            })?;
            texts.extend(list);
        }
        let mut keys = texts
            .iter()
            .map(|k| SecretKey::from_base64(k).map_err(|e| format!("key {k:?}: {e}")));
        Ok(match keys.next() {
            None => None,
            Some(primary) => Some(Keyring::with_keys(
                primary?,
                keys.collect::<Result<Vec<_>, _>>()?,
            )),
        })
    }

    pub fn label(&self) -> Result<Option<Label>, String> {
        Ok(self
            .label
            .as_deref()
            .map(Label::parse_optional)
            .transpose()
            .map_err(|e| format!("--label: {e}"))?
            .flatten())
    }

    pub fn ports(&self) -> Vec<u16> {
        if self.ports.is_empty() {
            memberlist_interop::inspect::decode::DEFAULT_PORTS.to_vec()
        } else {
            self.ports.clone()
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn input(&self) -> &str {
        self.input.as_deref().unwrap_or("-")
    }

    pub fn any_port(&self) -> bool {
        self.any_port
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    pub fn summary(&self) -> bool {
        self.summary
    }
}

/// Writes one row: a JSON line, or a text line (with `-v`, the row's tree under it).
pub fn write_row(
    out: &mut impl Write,
    row: &Value,
    format: Format,
    verbose: bool,
) -> io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{row}"),
        Format::Text => {
            writeln!(out, "{}", text_line(row))?;
            if verbose {
                let mut t = String::new();
                super::tree::tree(row, &mut t);
                writeln!(out, "{t}")?;
            }
            Ok(())
        }
    }
}

/// The one-line, tshark-style form of a row.
pub(crate) fn text_line(row: &Value) -> String {
    let mut layers: Vec<String> = row["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(String::from))
        .collect();
    if let Some(k) = row.get("key") {
        if let Some(l) = layers.iter_mut().find(|l| *l == "encrypt") {
            *l = format!("encrypt(v{}, key {k})", row["encryption_version"]);
        }
    }
    let mut prefix = format!("[{}]", layers.join(" "));
    if let (Some(src), Some(dst)) = (row["src"].as_str(), row["dst"].as_str()) {
        prefix = format!(
            "{:>5} {} {src} -> {dst} {} {prefix}",
            row["frame"].as_u64().unwrap_or_default(),
            row["time"].as_str().unwrap_or_default(),
            row["transport"].as_str().unwrap_or_default()
        );
    }
    let kind = row["type"].as_str().unwrap_or_default();
    let serf = row.get("serf").map(serf_json::text);
    if let Some(e) = row.get("error") {
        format!("{prefix} error: {}", e.as_str().unwrap_or_default())
    } else if let (Some(serf), Some(_)) = (&serf, row.get("payload")) {
        format!("{prefix} {kind} {serf}")
    } else if let Some(p) = row.get("payload") {
        format!("{prefix} {kind} payload={}", p.as_str().unwrap_or_default())
    } else {
        format!(
            "{prefix} {kind} {}{}",
            view::text_fields(&row["fields"]),
            serf.map(|s| format!(" {s}")).unwrap_or_default()
        )
    }
}
