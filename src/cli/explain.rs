//! `memberlist explain CAPTURE...`: why members were suspected or declared dead, from
//! one or more captures merged into one timeline.

use std::io::Write;
use std::process::ExitCode;

use memberlist_interop::explain::{explain, Report};

use super::decode::{CaptureOpts, Format};

#[derive(clap::Args)]
pub struct Args {
    /// pcap or pcapng captures, possibly recorded on different hosts of one cluster.
    #[arg(required = true)]
    captures: Vec<String>,
    #[command(flatten)]
    opts: CaptureOpts,
    /// `json`: the whole report as one JSON document (its shape is in the README).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Also write the report as one self-contained HTML page (a timeline per member).
    #[arg(long, value_name = "FILE")]
    html: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    if let Err(e) = check(&args) {
        eprintln!("memberlist explain: {e}");
        return ExitCode::from(2);
    }
    let report = explain(&args.captures, || {
        args.opts.inspector(false).expect("options checked above")
    });
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is the reader's choice.
    let _ = match args.format {
        Format::Text => out.write_all(report.text().as_bytes()),
        Format::Json => serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
    };
    let _ = out.flush();
    let (problems, mut code) = problems(&report);
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, memberlist_interop::explain::html::page(&report)) {
            eprintln!("memberlist explain: --html {}: {e}", path.display());
            code = 2;
        }
    }
    for p in problems {
        eprintln!("memberlist explain: {p}");
    }
    ExitCode::from(code)
}

fn check(args: &Args) -> Result<(), String> {
    if args.captures.iter().any(|c| c == "-") {
        return Err("reads capture files, not stdin (record with `tcpdump -w FILE`)".into());
    }
    args.opts.inspector(false).map(|_| ())
}

/// What went wrong, for stderr, and the exit status: 2 when a capture could not be
/// read (in whole or in part), 1 when packets did not open or captures do not match.
fn problems(r: &Report) -> (Vec<String>, u8) {
    let mut out = Vec::new();
    let mut code = 0;
    for c in &r.captures {
        if let Some(e) = &c.error {
            out.push(format!("{e} (the report holds what was read before)"));
            code = 2;
        }
    }
    if r.captures.len() > 1 {
        for c in r.captures.iter().skip(1) {
            if c.offset.is_none() && c.rows > 0 {
                out.push(format!(
                    "{} shares no packet with the other captures: they are not of the same \
                     cluster, or were not recorded at the same time; its times are taken as they are",
                    c.file
                ));
                code = code.max(1);
            }
        }
    }
    let undecrypted: u64 = r
        .members
        .iter()
        .filter_map(|m| m.decrypt_failures.as_ref().map(|d| d.count))
        .chain(r.undecrypted_sources.values().copied())
        .sum();
    if undecrypted > 0 {
        let mut from: Vec<String> = r
            .members
            .iter()
            .filter(|m| m.decrypt_failures.is_some())
            .map(|m| m.name.to_string())
            .chain(r.undecrypted_sources.keys().cloned())
            .collect();
        from.truncate(8);
        out.push(format!(
            "{undecrypted} packets no key opened (from {}): pass the cluster's key with --key or --keyring-file",
            from.join(", ")
        ));
        code = code.max(1);
    }
    if r.rows == 0 && code == 0 {
        out.push(
            "no memberlist traffic found in the captures (if the gossip uses other ports, try --port or --any-port)"
                .into(),
        );
        code = 1;
    }
    (out, code)
}
