//! The serf agent's snapshot file (`-snapshot`): an append-only text log of which
//! members are alive, the last Lamport times seen, and whether we left. Read back at
//! start, it tells a restarted member whom to rejoin and which old events and
//! queries not to replay. The file format is serf's, so either can read the other's:
//!
//! ```text
//! alive: NAME IP:PORT
//! not-alive: NAME
//! clock: N
//! event-clock: N
//! query-clock: N
//! leave
//! ```
//!
//! Lines are written as they happen, unbuffered (they are rare), so a member that is
//! killed loses nothing already recorded. When the log outgrows a size tied to the
//! number of alive members it is compacted into a new file that replaces it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::lamport::LamportTime;
use super::member_state::{MemberEventKind, SerfMember};
use crate::node::Metrics;

/// Go's `snapshotSizeLimit`: the log is compacted beyond this size at least.
pub const MIN_COMPACT_SIZE: u64 = 128 * 1024;
/// Go's estimate of one member's share of the log, for the compaction threshold.
const BYTES_PER_NODE: u64 = 128;
/// Go's `snapshotCompactionThreshold`: compact past this many times the estimate.
const COMPACTION_FACTOR: u64 = 2;
/// Suffix of the file a compaction writes before it replaces the log.
const COMPACT_SUFFIX: &str = ".compact";

/// Why the snapshot could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[error("snapshot {path}: {source}")]
pub struct SnapshotError {
    path: PathBuf,
    source: std::io::Error,
}

/// What a snapshot says about the member's past.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Members alive when the log ends, by name: where to rejoin.
    pub alive: BTreeMap<String, String>,
    /// The member clock when the log ends.
    pub clock: LamportTime,
    /// The user-event clock when the log ends.
    pub event_clock: LamportTime,
    /// The query clock when the log ends.
    pub query_clock: LamportTime,
    /// Lines that were not understood, for the caller to report.
    pub warnings: Vec<String>,
}

impl Recovered {
    /// Replays a log. A `leave` forgets everything before it unless
    /// `rejoin_after_leave`; a last line without its newline was cut short by a
    /// crash and is ignored, as serf does.
    pub fn parse(text: &str, rejoin_after_leave: bool) -> Recovered {
        let mut r = Recovered::default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.lines() {
            let clock = |r: &mut Recovered, v: &str| match v.parse::<u64>() {
                Ok(n) => Some(LamportTime(n)),
                Err(e) => {
                    r.warnings.push(format!("bad clock in {line:?}: {e}"));
                    None
                }
            };
            if let Some(rest) = line.strip_prefix("alive: ") {
                match rest.rsplit_once(' ') {
                    Some((name, addr)) => {
                        r.alive.insert(name.to_owned(), addr.to_owned());
                    }
                    None => r.warnings.push(format!("no address in {line:?}")),
                }
            } else if let Some(name) = line.strip_prefix("not-alive: ") {
                r.alive.remove(name);
            } else if let Some(v) = line.strip_prefix("clock: ") {
                r.clock = clock(&mut r, v).unwrap_or(r.clock);
            } else if let Some(v) = line.strip_prefix("event-clock: ") {
                r.event_clock = clock(&mut r, v).unwrap_or(r.event_clock);
            } else if let Some(v) = line.strip_prefix("query-clock: ") {
                r.query_clock = clock(&mut r, v).unwrap_or(r.query_clock);
            } else if line == "leave" {
                if !rejoin_after_leave {
                    let warnings = std::mem::take(&mut r.warnings);
                    r = Recovered {
                        warnings,
                        ..Recovered::default()
                    };
                }
            } else if !(line.starts_with('#') || line.starts_with("coordinate: ")) {
                // Old serf versions logged coordinates; they are re-learned instead.
                r.warnings.push(format!("unrecognized line {line:?}"));
            }
        }
        r
    }

    /// The alive members other than `me`, with addresses that parse, to rejoin.
    pub fn rejoin_targets(&self, me: &str) -> Vec<(String, SocketAddr)> {
        self.alive
            .iter()
            .filter(|(name, _)| name.as_str() != me)
            .filter_map(|(name, addr)| Some((name.clone(), addr.parse().ok()?)))
            .collect()
    }
}

/// The open log: appends what the member sees.
#[derive(Debug)]
pub struct Snapshot {
    path: PathBuf,
    file: File,
    /// Bytes in the log, for the compaction threshold.
    size: u64,
    state: Recovered,
    rejoin_after_leave: bool,
    /// After our leave nothing more is recorded (a restart must not rejoin).
    leaving: bool,
    metrics: Metrics,
}

impl Snapshot {
    /// Opens (or creates) the log at `path` and replays it.
    pub fn open(path: &Path, rejoin_after_leave: bool) -> Result<Snapshot, SnapshotError> {
        let err = |source| SnapshotError {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(err)?;
        let bytes = std::fs::read(path).map_err(err)?;
        let state = Recovered::parse(&String::from_utf8_lossy(&bytes), rejoin_after_leave);
        Ok(Snapshot {
            path: path.to_owned(),
            file,
            size: bytes.len() as u64,
            state,
            rejoin_after_leave,
            leaving: false,
            metrics: Metrics::default(),
        })
    }

    /// Times appends and compactions into `metrics` (Go's `serf.snapshot.*`).
    pub fn set_metrics(&mut self, metrics: Metrics) {
        self.metrics = metrics;
    }

    /// What the log held when it was opened, and has recorded since.
    pub fn recovered(&self) -> &Recovered {
        &self.state
    }

    fn error(&self, source: std::io::Error) -> SnapshotError {
        SnapshotError {
            path: self.path.clone(),
            source,
        }
    }

    fn append(&mut self, line: &str) -> Result<(), SnapshotError> {
        let start = self.metrics.start();
        let written = self.append_line(line);
        self.metrics
            .measure_since(&super::metrics::SNAPSHOT_APPEND_LINE, start);
        written
    }

    fn append_line(&mut self, line: &str) -> Result<(), SnapshotError> {
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| self.error(e))?;
        self.size += line.len() as u64;
        let estimate = self.state.alive.len() as u64 * BYTES_PER_NODE * COMPACTION_FACTOR;
        if self.size > estimate.max(MIN_COMPACT_SIZE) {
            self.compact()?;
        }
        Ok(())
    }

    /// Records a member event; `member_clock` is the member clock's current time.
    pub fn member_event(
        &mut self,
        kind: MemberEventKind,
        member: &SerfMember,
        member_clock: LamportTime,
    ) -> Result<(), SnapshotError> {
        if self.leaving {
            return Ok(());
        }
        match kind {
            MemberEventKind::Join => {
                if let Some(ip) = member.ip() {
                    let addr = SocketAddr::new(ip, member.port).to_string();
                    self.state.alive.insert(member.name.clone(), addr.clone());
                    self.append(&format!("alive: {} {addr}\n", member.name))?;
                }
            }
            MemberEventKind::Leave | MemberEventKind::Failed => {
                self.state.alive.remove(&member.name);
                self.append(&format!("not-alive: {}\n", member.name))?;
            }
            MemberEventKind::Update | MemberEventKind::Reap => {}
        }
        self.clock(member_clock)
    }

    /// Records the member clock when it moved: the last time seen is one before it.
    pub fn clock(&mut self, member_clock: LamportTime) -> Result<(), SnapshotError> {
        let seen = LamportTime(member_clock.0.saturating_sub(1));
        if self.leaving || seen <= self.state.clock {
            return Ok(());
        }
        self.state.clock = seen;
        self.append(&format!("clock: {}\n", seen.0))
    }

    /// Records a user event's time (only a later one is written).
    pub fn user_event(&mut self, ltime: LamportTime) -> Result<(), SnapshotError> {
        if self.leaving || ltime <= self.state.event_clock {
            return Ok(());
        }
        self.state.event_clock = ltime;
        self.append(&format!("event-clock: {}\n", ltime.0))
    }

    /// Records a query's time (only a later one is written).
    pub fn query(&mut self, ltime: LamportTime) -> Result<(), SnapshotError> {
        if self.leaving || ltime <= self.state.query_clock {
            return Ok(());
        }
        self.state.query_clock = ltime;
        self.append(&format!("query-clock: {}\n", ltime.0))
    }

    /// Our graceful leave: a restart will not rejoin (unless `rejoin_after_leave`),
    /// and nothing more is recorded.
    pub fn leave(&mut self) -> Result<(), SnapshotError> {
        if self.leaving {
            return Ok(());
        }
        if !self.rejoin_after_leave {
            self.state.alive.clear();
        }
        self.append("leave\n")?;
        self.leaving = true;
        self.file.sync_all().map_err(|e| self.error(e))
    }

    /// Rewrites the log as its current state alone, through a new file renamed over
    /// the old one.
    fn compact(&mut self) -> Result<(), SnapshotError> {
        let start = self.metrics.start();
        let done = self.rewrite();
        self.metrics
            .measure_since(&super::metrics::SNAPSHOT_COMPACT, start);
        done
    }

    /// Writes the live state to a new log and renames it over the old one.
    fn rewrite(&mut self) -> Result<(), SnapshotError> {
        let mut text = String::new();
        for (name, addr) in &self.state.alive {
            text.push_str(&format!("alive: {name} {addr}\n"));
        }
        text.push_str(&format!(
            "clock: {}\nevent-clock: {}\nquery-clock: {}\n",
            self.state.clock.0, self.state.event_clock.0, self.state.query_clock.0
        ));
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(COMPACT_SUFFIX);
        let tmp = PathBuf::from(tmp);
        let replaced = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            OpenOptions::new().append(true).read(true).open(&self.path)
        })();
        match replaced {
            Ok(file) => {
                self.file = file;
                self.size = text.len() as u64;
                Ok(())
            }
            Err(e) => {
                std::fs::remove_file(&tmp).ok();
                Err(self.error(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Versions;
    use crate::serf::MemberStatus;

    fn member(name: &str, last: u8) -> SerfMember {
        SerfMember {
            name: name.into(),
            addr: vec![127, 0, 0, last],
            port: 7946,
            tags: BTreeMap::new(),
            status: MemberStatus::Alive,
            versions: Versions::default(),
            status_ltime: LamportTime(0),
            leave_time: None,
        }
    }

    fn scratch(test: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("snapshot-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replay_follows_serfs_rules() {
        let log = "# comment\nalive: a 127.0.0.1:7946\nalive: b c 127.0.0.2:7946\n\
                   alive: gone 127.0.0.3:1\nnot-alive: gone\nclock: 7\nevent-clock: 3\n\
                   query-clock: 2\ncoordinate: {}\nclock: x\nwhat\nclock: 99";
        let r = Recovered::parse(log, false);
        let alive: Vec<(&str, &str)> = r
            .alive
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(alive, [("a", "127.0.0.1:7946"), ("b c", "127.0.0.2:7946")]);
        // The cut-off `clock: 99` is not believed; the bad lines are reported.
        assert_eq!(
            (r.clock, r.event_clock, r.query_clock),
            (LamportTime(7), LamportTime(3), LamportTime(2))
        );
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert_eq!(
            r.rejoin_targets("a"),
            [("b c".to_owned(), "127.0.0.2:7946".parse().unwrap())]
        );

        let left = format!("{log}\nleave\n");
        let forgotten = Recovered::parse(&left, false);
        assert!(forgotten.alive.is_empty() && forgotten.clock == LamportTime(0));
        let kept = Recovered::parse(&left, true);
        assert_eq!((kept.alive.len(), kept.clock), (2, LamportTime(99)));
    }

    #[test]
    fn recorded_events_read_back_and_leave_ends_the_log() {
        let dir = scratch("record");
        let path = dir.join("snap");
        let mut s = Snapshot::open(&path, false).unwrap();
        s.member_event(MemberEventKind::Join, &member("a", 1), LamportTime(3))
            .unwrap();
        s.member_event(MemberEventKind::Join, &member("b", 2), LamportTime(4))
            .unwrap();
        s.member_event(MemberEventKind::Failed, &member("b", 2), LamportTime(4))
            .unwrap();
        s.member_event(MemberEventKind::Update, &member("a", 1), LamportTime(4))
            .unwrap();
        s.user_event(LamportTime(5)).unwrap();
        s.user_event(LamportTime(4)).unwrap();
        s.query(LamportTime(2)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "alive: a 127.0.0.1:7946\nclock: 2\nalive: b 127.0.0.2:7946\nclock: 3\n\
             not-alive: b\nevent-clock: 5\nquery-clock: 2\n"
        );
        drop(s);
        let mut s = Snapshot::open(&path, false).unwrap();
        let r = s.recovered().clone();
        assert_eq!(r.alive.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            (r.clock, r.event_clock, r.query_clock),
            (LamportTime(3), LamportTime(5), LamportTime(2))
        );
        s.leave().unwrap();
        s.member_event(MemberEventKind::Join, &member("c", 3), LamportTime(9))
            .unwrap();
        drop(s);
        let after = Snapshot::open(&path, false).unwrap();
        assert!(after.recovered().alive.is_empty());
        assert!(!std::fs::read_to_string(&path).unwrap().contains("alive: c"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_long_log_is_compacted_to_its_state() {
        let dir = scratch("compact");
        let path = dir.join("snap");
        let mut s = Snapshot::open(&path, false).unwrap();
        s.member_event(MemberEventKind::Join, &member("keep", 1), LamportTime(1))
            .unwrap();
        // A flapping member grows the log until it passes the limit and shrinks.
        let (mut t, mut largest) = (1, 0);
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        while size(&path) >= largest {
            largest = size(&path);
            assert!(largest <= MIN_COMPACT_SIZE, "never compacted: {largest}");
            t += 1;
            s.member_event(MemberEventKind::Join, &member("flap", 2), LamportTime(t))
                .unwrap();
            s.member_event(MemberEventKind::Failed, &member("flap", 2), LamportTime(t))
                .unwrap();
        }
        s.user_event(LamportTime(t)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("alive: keep 127.0.0.1:7946\nclock: {}\nevent-clock: 0\nquery-clock: 0\nevent-clock: {t}\n", t - 1)
        );
        let r = Snapshot::open(&path, false).unwrap().recovered().clone();
        assert_eq!(r.alive.keys().collect::<Vec<_>>(), ["keep"]);
        assert_eq!(r.event_clock, LamportTime(t));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_unopenable_snapshot_is_an_error() {
        let dir = scratch("unopenable");
        let err = Snapshot::open(&dir, false).unwrap_err();
        assert!(err.to_string().contains("snapshot"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
