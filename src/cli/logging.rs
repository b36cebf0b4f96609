//! The agent's log: `tracing` events on stderr, in the shape memberlist and Serf
//! write theirs (`[WARN] memberlist: Refuting a suspect message (from: b)`), so
//! an operator's greps for Go's lines find ours; `--log-json` for log shippers.
//!
//! Bad input is logged from the machine's diagnostics, a few lines a second per
//! cause: a flood of packets with the wrong key must not flood the log (every one
//! is still counted in the machine's stats).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use memberlist_interop::control::log_bus::{Level as BusLevel, LogBus};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Serf's `-log-level` names (its `ERR` is also accepted as `error`).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    #[value(alias = "error")]
    Err,
}

impl LogLevel {
    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Trace => LevelFilter::TRACE,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Err => LevelFilter::ERROR,
        }
    }
}

#[derive(clap::Args, Clone)]
pub struct LogArgs {
    /// Lowest level logged on stderr: trace, debug, info, warn or err (as serf's).
    #[arg(long, value_enum, default_value = "info", ignore_case = true)]
    pub log_level: LogLevel,
    /// Log one JSON object per line (timestamp, level, target, fields) instead of
    /// memberlist's text lines.
    #[arg(long)]
    pub log_json: bool,
}

/// Another layer to run beside the stderr log (a `monitor` stream that forwards
/// formatted lines to RPC clients, for one): it sees every event, at every level,
/// and filters by itself. Build its lines with [`GoFormat`] to match stderr's.
pub type ExtraLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber: stderr at `args`' level and format, and `extra`
/// if given. Call once, before the runtime starts.
pub fn install(args: &LogArgs, extra: Option<ExtraLayer>) {
    let stderr: ExtraLayer = if args.log_json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(args.log_level.filter())
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .event_format(GoFormat)
            .with_writer(std::io::stderr)
            .with_filter(args.log_level.filter())
            .boxed()
    };
    let layers: Vec<ExtraLayer> = std::iter::once(stderr).chain(extra).collect();
    // Only fails if a subscriber is already set, which `main` never does.
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

/// memberlist's log line: `TIME [LEVEL] target: message field=value`, with Go's
/// level names (`ERR`, not `ERROR`).
pub struct GoFormat;

impl<S, N> FormatEvent<S, N> for GoFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        SystemTime.format_time(&mut writer)?;
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => "ERR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        write!(writer, " [{level}] {}: ", meta.target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Where a diagnostic came from, which is the log line's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Memberlist,
    Serf,
}

/// Emits one line at a level and target known only at run time (tracing's macros
/// want both as constants).
pub fn emit(source: Source, level: Level, line: &str) {
    macro_rules! at {
        ($target:literal) => {
            match level {
                Level::ERROR => tracing::error!(target: $target, "{line}"),
                Level::WARN => tracing::warn!(target: $target, "{line}"),
                Level::INFO => tracing::info!(target: $target, "{line}"),
                Level::DEBUG => tracing::debug!(target: $target, "{line}"),
                Level::TRACE => tracing::trace!(target: $target, "{line}"),
            }
        };
    }
    match source {
        Source::Memberlist => at!("memberlist"),
        Source::Serf => at!("serf"),
    }
}

/// Lines per cause per window before the rest are only counted.
const BURST: u32 = 5;
const WINDOW: Duration = Duration::from_secs(1);

struct Window {
    start: Instant,
    shown: u32,
    suppressed: u64,
    level: Level,
}

/// Logs diagnostics a few a second per cause (the counter's name); at the end of
/// a window in which some were held back, one line says how many.
#[derive(Default)]
pub struct DiagnosticLog {
    windows: HashMap<(Source, &'static str), Window>,
    /// Each cause's counter at the last [`DiagnosticLog::note_counts`].
    counted: HashMap<(Source, &'static str), u64>,
    /// Explanations logged (or held back) per cause since then.
    explained: HashMap<(Source, &'static str), u64>,
}

impl DiagnosticLog {
    pub fn log(&mut self, source: Source, cause: &'static str, level: Level, line: &str) {
        let now = Instant::now();
        *self.explained.entry((source, cause)).or_insert(0) += 1;
        let w = self.windows.entry((source, cause)).or_insert(Window {
            start: now,
            shown: 0,
            suppressed: 0,
            level,
        });
        if now.duration_since(w.start) >= WINDOW {
            report_suppressed(source, cause, w);
            w.start = now;
            w.shown = 0;
        }
        if w.shown < BURST {
            w.shown += 1;
            emit(source, level, line);
        } else {
            w.suppressed += 1;
        }
    }

    /// Takes the counters' values after the explanations polled with them were
    /// logged: events counted beyond those explanations (the machine keeps a
    /// bounded number between two polls) are lines suppressed too, so the summary
    /// says how many events really went unlogged.
    pub fn note_counts(
        &mut self,
        source: Source,
        counts: impl IntoIterator<Item = (&'static str, Level, u64)>,
    ) {
        let now = Instant::now();
        for (cause, level, value) in counts {
            let last = self.counted.entry((source, cause)).or_insert(0);
            let explained = self.explained.remove(&(source, cause)).unwrap_or(0);
            let unexplained = value.saturating_sub(*last).saturating_sub(explained);
            *last = value;
            if unexplained > 0 {
                let w = self.windows.entry((source, cause)).or_insert(Window {
                    start: now,
                    shown: BURST,
                    suppressed: 0,
                    level,
                });
                w.suppressed += unexplained;
            }
        }
    }

    /// Reports the causes whose window has ended with lines held back; call it
    /// now and then, so a burst that stopped is still summed up.
    pub fn flush(&mut self) {
        let now = Instant::now();
        for ((source, cause), w) in &mut self.windows {
            if now.duration_since(w.start) >= WINDOW {
                report_suppressed(*source, cause, w);
            }
        }
    }
}

fn report_suppressed(source: Source, cause: &str, w: &mut Window) {
    if w.suppressed > 0 {
        let line = format!(
            "{} more {cause} lines suppressed in the last {}s (all of them counted)",
            w.suppressed,
            WINDOW.as_secs()
        );
        emit(source, w.level, &line);
        w.suppressed = 0;
    }
}

/// Forwards every log event to a [`LogBus`], where serf's RPC `monitor` clients
/// read them: the same events as stderr, in serf's line shape, at any level (each
/// monitor filters by the level it asked for).
pub struct MonitorLayer(pub LogBus);

impl<S: Subscriber> Layer<S> for MonitorLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => BusLevel::Err,
            Level::WARN => BusLevel::Warn,
            Level::INFO => BusLevel::Info,
            Level::DEBUG => BusLevel::Debug,
            Level::TRACE => BusLevel::Trace,
        };
        let mut text = String::new();
        if DefaultFields::new()
            .format_fields(Writer::new(&mut text), event)
            .is_ok()
        {
            self.0.publish(level, meta.target(), &text);
        }
    }
}
