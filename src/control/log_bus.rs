//! The agent's log lines, for `monitor` subscribers. The agent publishes what it
//! prints on stderr (and its events) here; a tracing layer could publish the same way.
//! Lines are formatted as serf's agent writes its log (`2006/01/02 15:04:05 [INFO]
//! agent: …`), which is what `serf monitor` prints.

use tokio::sync::broadcast;

/// serf's log levels (logutils), least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Err,
}

impl Level {
    /// The level a `monitor` request names (case-insensitive, as serf upper-cases it).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERR" => Level::Err,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Err => "ERR",
        }
    }
}

/// One published line with its level (the line already carries the level too).
#[derive(Debug, Clone)]
pub struct LogLine {
    pub level: Level,
    pub line: String,
}

/// A broadcast of log lines; clones publish to the same subscribers. A subscriber
/// that falls more than [`LogBus::BACKLOG`] lines behind loses the oldest, as serf
/// drops lines for a slow monitor instead of blocking the agent.
#[derive(Clone)]
pub struct LogBus {
    tx: broadcast::Sender<LogLine>,
}

impl Default for LogBus {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBus {
    /// serf's per-monitor channel holds 512 lines.
    pub const BACKLOG: usize = 512;

    pub fn new() -> Self {
        LogBus {
            tx: broadcast::channel(Self::BACKLOG).0,
        }
    }

    /// Formats `text` as a serf log line (`source` is serf's subsystem, e.g.
    /// `agent` or `agent.ipc`), publishes it and returns it.
    pub fn publish(&self, level: Level, source: &str, text: &str) -> String {
        let line = format!("{} [{}] {source}: {text}", timestamp(), level.name());
        // No subscriber is not an error: nobody is monitoring.
        let _ = self.tx.send(LogLine {
            level,
            line: line.clone(),
        });
        line
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx.subscribe()
    }
}

/// The time as Go's standard logger prints it: `2006/01/02 15:04:05`, local time.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` we own; it is the thread-safe form.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return String::from("0000/00/00 00:00:00");
    }
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_subscribers_in_serfs_format() {
        let bus = LogBus::new();
        let mut rx = bus.subscribe();
        let line = bus.publish(Level::Warn, "agent", "bad packet");
        let got = rx.try_recv().unwrap();
        assert_eq!(got.level, Level::Warn);
        assert_eq!(got.line, line);
        // 2026/12/06 21:40:00 [WARN] agent: bad packet
        let (stamp, rest) = line.split_at(19);
        assert_eq!(rest, " [WARN] agent: bad packet");
        assert_eq!(stamp.as_bytes()[4], b'/');
        assert_eq!(stamp.as_bytes()[13], b':');
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("ERROR"), None);
    }
}
