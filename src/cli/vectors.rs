//! `memberlist vectors export DIR` writes the Go fixtures as a corpus of test vectors;
//! `memberlist vectors check DIR --decoder CMD` runs another implementation's decoder
//! over it. `memberlist decode --vector` is our own decoder for that protocol.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use memberlist_interop::conform::vectors::{self, reference, CheckOptions, Input, Kind};

use super::agent::Format;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write every Go-produced fixture, with its decoded JSON and keys, as a corpus.
    Export(ExportArgs),
    /// Run a decoder over a corpus and report where it disagrees with Go.
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Directory to write `vectors.jsonl`, `manifest.json` and `README.md` into.
    dir: PathBuf,
    /// The fixtures to export (this repository's `fixtures/`, with `serf/` inside).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))]
    fixtures: PathBuf,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// A directory written by `memberlist vectors export`.
    dir: PathBuf,
    /// The decoder command, run with `sh -c` once per vector: hex on stdin,
    /// `MEMBERLIST_VECTOR_*` in the environment, one JSON object on stdout (see the
    /// corpus README). Ours: `memberlist decode --vector`.
    #[arg(long)]
    decoder: String,
    /// Only vectors whose name contains this (repeatable).
    #[arg(long = "only", value_name = "TEXT")]
    only: Vec<String>,
    /// How long one decoder run may take, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Export(args) => export(&args),
        Command::Check(args) => check(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("memberlist vectors: {e}");
            ExitCode::from(2)
        }
    }
}

fn export(args: &ExportArgs) -> Result<bool, String> {
    let done = vectors::export(&args.fixtures, &args.dir)
        .map_err(|e| format!("{e} (pass --fixtures DIR)"))?;
    let kinds: Vec<String> = done
        .by_kind
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    println!(
        "{} vectors ({}) written to {}",
        done.vectors,
        kinds.join(", "),
        args.dir.display()
    );
    Ok(true)
}

fn check(args: &CheckArgs) -> Result<bool, String> {
    // A decoder may exit before reading its stdin; writing to it must be an error we
    // ignore, not the SIGPIPE that would end this process.
    // SAFETY: changing the disposition of SIGPIPE; no handler runs.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let mut all = vectors::load(&args.dir)?;
    if !args.only.is_empty() {
        all.retain(|v| args.only.iter().any(|o| v.name.contains(o.as_str())));
        if all.is_empty() {
            return Err(format!(
                "--only {:?}: no vector name contains it",
                args.only
            ));
        }
    }
    let report = vectors::check(
        &all,
        &CheckOptions {
            decoder: args.decoder.clone(),
            timeout: Duration::from_millis(args.timeout_ms),
        },
    );
    // With SIGPIPE ignored, a closed stdout (`| head`) is a write error: stop writing.
    let mut out = std::io::stdout().lock();
    let _ = match args.format {
        Format::Text => {
            for (name, finding) in &report.findings {
                let _ = writeln!(out, "mismatch {name}: {finding}");
            }
            for (name, why) in &report.unsupported {
                let _ = writeln!(out, "unsupported {name}: {why}");
            }
            writeln!(
                out,
                "{} vectors: {} match, {} mismatch, {} unsupported",
                report.total,
                report.matched,
                report.findings.len(),
                report.unsupported.len()
            )
        }
        Format::Json => writeln!(
            out,
            "{}",
            json!({
                "total": report.total,
                "matched": report.matched,
                "mismatches": report.findings.iter().map(|(n, f)| json!({"name": n, "finding": f.to_string()})).collect::<Vec<_>>(),
                "unsupported": report.unsupported.iter().map(|(n, w)| json!({"name": n, "why": w})).collect::<Vec<_>>(),
            })
        ),
    };
    Ok(report.passed())
}

/// `memberlist decode --vector`: one vector from stdin and `MEMBERLIST_VECTOR_*`.
pub fn decode_vector() -> ExitCode {
    let var = |name: &str| std::env::var(format!("MEMBERLIST_VECTOR_{name}")).unwrap_or_default();
    let kind_name = var("KIND");
    let Ok(kind) = serde_json::from_value::<Kind>(json!(kind_name)) else {
        println!(
            "{}",
            json!({ "unsupported": format!("unknown kind {kind_name:?} in MEMBERLIST_VECTOR_KIND") })
        );
        return ExitCode::from(2);
    };
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        println!("{}", json!({ "error": format!("reading stdin: {e}") }));
        return ExitCode::from(2);
    }
    let Ok(bytes) = hex::decode(text.trim()) else {
        println!("{}", json!({ "error": "stdin is not hex" }));
        return ExitCode::from(2);
    };
    let keys = var("KEYS");
    let input = Input {
        keys: keys
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        label: var("LABEL"),
        direction: Some(var("DIRECTION")).filter(|d| !d.is_empty()),
        aad: Some(var("AAD")),
    };
    let out = reference::decode(kind, &input, &bytes);
    println!("{out}");
    if out.get("error").is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
