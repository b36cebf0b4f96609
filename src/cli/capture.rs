//! `memberlist decode FILE|-`: every gossip message in a capture, as text or JSON lines.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use memberlist_interop::inspect::{decode::DEFAULT_PORTS, CaptureReader, Inspector, Row};

use super::decode::{write_row, Args, Format};
use super::{render, view};

pub fn run(args: &Args) -> ExitCode {
    match inspect(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("memberlist decode: {e}");
            ExitCode::from(2)
        }
    }
}

/// Decodes the capture; `Ok(false)` when some rows were errors, `Err` when the
/// capture itself could not be read (after printing what came before the damage).
fn inspect(args: &Args) -> Result<bool, String> {
    let mut progress = ProgressBar::hidden();
    let input: Box<dyn Read> = match args.input() {
        "-" => Box::new(std::io::stdin().lock()),
        path => {
            let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
            let size = file.metadata().map_or(0, |m| m.len());
            if show_progress(size, std::io::stderr().is_terminal()) {
                progress = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
                progress.set_style(
                    ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("valid template"),
                );
                Box::new(progress.wrap_read(file))
            } else {
                Box::new(file)
            }
        }
    };
    let mut reader =
        CaptureReader::new(BufReader::with_capacity(1 << 16, input)).map_err(|e| e.to_string())?;
    let mut inspector = Inspector::new(args.opts.inspector(args.summary())?);
    // Stdin is likely `tcpdump -U -w -`: rows go out as their frames arrive. A file
    // is read as fast as it goes, its rows written in large blocks.
    let live = args.input() == "-";
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut buf = Vec::with_capacity(OUTPUT_BLOCK + (1 << 16));
    let mut all_ok = true;
    let mut failure = None;
    while let Some(frame) = reader.next_frame() {
        match frame {
            Ok(f) => inspector.frame(&f, &mut rows),
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
        if !rows.is_empty() {
            all_ok &= emit(&mut buf, &mut rows, args);
            if live || buf.len() >= OUTPUT_BLOCK {
                flush(&mut out, &mut buf);
            }
        }
    }
    progress.finish_and_clear();
    inspector.finish(&mut rows);
    all_ok &= emit(&mut buf, &mut rows, args);
    flush(&mut out, &mut buf);
    if let Some(ports) = inspector.found_elsewhere() {
        eprintln!("memberlist decode: {}", found_elsewhere(&ports));
    }
    let tls = inspector.tls_ports();
    if !tls.is_empty() {
        eprintln!("memberlist decode: {}", tls_notice(&tls));
    }
    if args.summary() {
        let mut out = std::io::BufWriter::new(&mut out);
        let pretty = matches!(args.format(), Format::Text);
        // As for rows, a closed stdout is the reader's choice.
        let _ = inspector.summary.write_json(&mut out, pretty);
        let _ = writeln!(out);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(all_ok),
    }
}

/// The notice for gossip found only off the default ports, naming the flags that
/// select it.
pub(crate) fn found_elsewhere(ports: &[u16]) -> String {
    let list = |ps: &[u16]| ps.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let flags: Vec<String> = ports.iter().map(|p| format!("--port {p}")).collect();
    format!(
        "nothing on the default ports ({}); memberlist traffic recognised on port{} {} (pass {} to decode only those)",
        list(&DEFAULT_PORTS),
        if ports.len() == 1 { "" } else { "s" },
        list(ports),
        flags.join(" ")
    )
}

/// The notice for TLS where gossip was expected: nothing of it can be decoded.
pub(crate) fn tls_notice(ports: &[u16]) -> String {
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "TLS connections on port{} {list}: a TLS cluster transport (Alertmanager's \
         --cluster.tls-config on its port 9094) or another TLS service; memberlist inside \
         TLS cannot be decoded (capture without TLS, or decode on the hosts' side)",
        if ports.len() == 1 { "" } else { "s" },
    )
}

/// Rows are written to stdout in blocks of about this size (reading a file).
const OUTPUT_BLOCK: usize = 1 << 20;

/// Captures smaller than this decode in about a second: no progress bar for them.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// A progress bar only for a big file, and only for a person watching stderr.
fn show_progress(size: u64, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && size >= PROGRESS_MIN_BYTES
}

/// Appends the rows to `buf` (unless only the summary is wanted) and empties `rows`;
/// false if any was an error row.
fn emit(buf: &mut Vec<u8>, rows: &mut Vec<Row>, args: &Args) -> bool {
    let mut all_ok = true;
    for r in rows.iter() {
        all_ok &= r.body.is_ok();
        if args.summary() {
            continue;
        }
        match (args.format(), args.verbose()) {
            (Format::Json, _) => render::json(buf, r),
            (Format::Text, false) => render::text(buf, r),
            (Format::Text, true) => {
                let _ = write_row(buf, &present(r.to_json()), Format::Text, true);
            }
        }
    }
    rows.clear();
    all_ok
}

/// Empties `buf` into `out`. A closed stdout (`| head`) is the reader's choice, not an
/// error of the capture: the rest is dropped.
fn flush(out: &mut impl Write, buf: &mut Vec<u8>) {
    let _ = out.write_all(buf).and_then(|()| out.flush());
    buf.clear();
}

/// Addresses as IPs, versions as numbers, in message fields and push/pull node lists;
/// addresses and text payloads readable in the Serf data.
pub(crate) fn present(mut row: serde_json::Value) -> serde_json::Value {
    if let Some(f) = row.get_mut("fields") {
        view::humanize(f);
    }
    if let Some(nodes) = row.get_mut("nodes").and_then(|n| n.as_array_mut()) {
        nodes.iter_mut().for_each(view::humanize);
    }
    if let Some(serf) = row.get_mut("serf") {
        view::humanize_serf(serf);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_for_big_files_on_a_terminal() {
        assert!(show_progress(PROGRESS_MIN_BYTES, true));
        assert!(!show_progress(PROGRESS_MIN_BYTES, false));
        assert!(!show_progress(PROGRESS_MIN_BYTES - 1, true));
    }
}
