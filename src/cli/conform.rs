//! `memberlist conform ADDR`: the black-box conformance run against any member (see
//! `memberlist_interop::conform`), printed as text or JSON, optionally also written
//! as a JUnit XML report for CI.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use memberlist_interop::conform::{self, Options, CHECKS};

use super::agent::Format;
use super::gossip::{resolve, Security};

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when every applicable check passed, 1 when one failed, 2 on bad arguments.\n\
Disturbance: a temporary member conform-<run>-member joins and leaves (not with --no-join); the peer refutes \
a suspicion and a death notice about itself (its incarnation rises by two or more); with --serf one user event \
per transport and two queries filtered to the peer (one of them _serf_ping), the others named conform-<run>-…."
)]
pub struct Args {
    /// The member's gossip address (`host`, `host:port`).
    addr: String,
    #[command(flatten)]
    security: Security,
    /// The peer is a Serf or Consul agent: also check tags, user events, queries and
    /// `_serf_ping`.
    #[arg(long)]
    serf: bool,
    /// Do not join a temporary member; run only the checks that need no membership.
    #[arg(long)]
    no_join: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Also write a JUnit XML report here (one test case per check).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the bytes of every check, not only of the failed ones (text format).
    #[arg(long)]
    evidence: bool,
    /// Run only this check (repeatable); ids as the report prints them.
    #[arg(long = "check", value_name = "ID")]
    checks: Vec<String>,
    /// How long to wait for an answer that should come, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// How long to listen before concluding that a refused message got no answer, in
    /// milliseconds.
    #[arg(long, default_value_t = 1000)]
    quiet_ms: u64,
}

pub fn run(args: Args) -> ExitCode {
    match conform_run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("memberlist conform: {e}");
            ExitCode::from(2)
        }
    }
}

fn conform_run(args: &Args) -> Result<bool, String> {
    if let Some(unknown) = args
        .checks
        .iter()
        .find(|id| !CHECKS.iter().any(|c| c.id == *id))
    {
        let known: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        return Err(format!(
            "--check {unknown}: no such check (known: {})",
            known.join(", ")
        ));
    }
    let opts = Options {
        target: resolve(&args.addr)?,
        keyring: args.security.keyring()?,
        label: args.security.label()?,
        serf: args.serf,
        join: !args.no_join,
        timeout: Duration::from_millis(args.timeout_ms),
        quiet: Duration::from_millis(args.quiet_ms),
        only: args.checks.clone(),
    };
    let report = conform::run(&opts).map_err(|e| format!("binding a probe socket: {e}"))?;
    match args.format {
        Format::Text => print!("{}", report.text(args.evidence)),
        Format::Json => println!("{}", report.json()),
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit())
            .map_err(|e| format!("--junit {}: {e}", path.display()))?;
    }
    Ok(report.passed())
}
