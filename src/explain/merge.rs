//! Several captures (possibly recorded on different hosts) as one timeline.
//!
//! A packet between two hosts appears in both hosts' captures: the same bytes, read
//! into the same rows. Rows are matched by a fingerprint of their addresses and
//! decoded message. The time between the two sightings of a packet is the clock
//! offset plus the one-way delay; packets going the other way give the offset minus
//! the delay, so the offset is the mean of the two directions' medians and the delay
//! bounds how sure it is. Then the captures are read together, each row's time moved
//! onto the first capture's clock, in time order, and the second sighting of a
//! packet is dropped.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::BufReader;
use std::net::SocketAddr;
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use serde::Serialize;

use crate::inspect::{CaptureReader, Inspector, InspectorConfig, Row};

/// Rows of each capture fingerprinted to estimate the clock offsets.
const SAMPLE_ROWS: usize = 50_000;
/// Most fingerprints held for de-duplication.
const MAX_SEEN: usize = 1 << 18;
/// A packet's second sighting is looked for this long after the first (beyond the
/// offset's uncertainty).
const DEDUP_WINDOW: Duration = Duration::from_secs(2);

/// A clock offset and how sure it is.
#[derive(Debug, Clone, Serialize)]
pub struct Offset {
    /// Microseconds to subtract from this capture's times to put them on the first
    /// capture's clock.
    pub micros: i64,
    /// Half the round trip the matched packets imply: the offset is within this.
    /// `None` when packets were matched in one direction only (the offset then
    /// includes the one-way delay).
    pub plus_minus_micros: Option<u64>,
    pub matched_packets: u64,
    /// The capture the offset was measured against.
    pub against: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptureInfo {
    pub file: String,
    pub frames: u64,
    pub rows: u64,
    /// Rows dropped as the second sighting of a packet another capture holds.
    pub duplicates: u64,
    #[serde(serialize_with = "super::report::opt_time")]
    pub first: Option<Duration>,
    #[serde(serialize_with = "super::report::opt_time")]
    pub last: Option<Duration>,
    /// `None` for the first capture (the reference clock) and for one that shares
    /// no packets with the others.
    pub offset: Option<Offset>,
    pub error: Option<String>,
}

struct Source {
    reader: Option<CaptureReader<BufReader<File>>>,
    inspector: Inspector,
    queue: VecDeque<Row>,
    buf: Vec<Row>,
    shift: i64,
    info: CaptureInfo,
}

fn open(path: &str) -> Result<CaptureReader<BufReader<File>>, String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    CaptureReader::new(BufReader::with_capacity(1 << 16, file)).map_err(|e| format!("{path}: {e}"))
}

impl Source {
    fn new(path: &str, cfg: InspectorConfig) -> Self {
        let (reader, error) = match open(path) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        Source {
            reader,
            inspector: Inspector::new(cfg),
            queue: VecDeque::new(),
            buf: Vec::new(),
            shift: 0,
            info: CaptureInfo {
                file: path.to_string(),
                frames: 0,
                rows: 0,
                duplicates: 0,
                first: None,
                last: None,
                offset: None,
                error,
            },
        }
    }

    /// Reads frames until some row is queued or the capture ends.
    fn fill(&mut self) {
        while self.queue.is_empty() {
            let Some(reader) = self.reader.as_mut() else {
                return;
            };
            match reader.next_frame() {
                Some(Ok(f)) => {
                    self.info.frames += 1;
                    self.inspector.frame(&f, &mut self.buf);
                }
                Some(Err(e)) => {
                    self.info.error = Some(format!("{}: {e}", self.info.file));
                    self.end();
                }
                None => self.end(),
            }
            for mut r in self.buf.drain(..) {
                self.info.rows += 1;
                self.info.first.get_or_insert(r.time);
                self.info.last = Some(r.time);
                r.time = shifted(r.time, self.shift);
                self.queue.push_back(r);
            }
        }
    }

    fn end(&mut self) {
        self.reader = None;
        self.inspector.finish(&mut self.buf);
    }
}

fn shifted(t: Duration, shift: i64) -> Duration {
    let micros = t.as_micros() as i64 - shift;
    Duration::from_micros(micros.max(0) as u64)
}

/// A row's identity across captures: addresses, transport, the decoded message (or
/// the error) and its place in its frame.
fn fingerprint(r: &Row, index: u32) -> u64 {
    let mut h = FxHasher::default();
    r.src.hash(&mut h);
    r.dst.hash(&mut h);
    r.transport.hash(&mut h);
    index.hash(&mut h);
    match &r.body {
        Ok(b) => format!("{b:?}").hash(&mut h),
        Err(e) => e.hash(&mut h),
    }
    h.finish()
}

/// Numbers each row within its frame (a compound gives several rows).
#[derive(Default)]
struct FrameIndex {
    frame: u64,
    next: u32,
}

impl FrameIndex {
    fn of(&mut self, r: &Row) -> u32 {
        if r.frame != self.frame {
            self.frame = r.frame;
            self.next = 0;
        }
        self.next += 1;
        self.next - 1
    }
}

/// The first `SAMPLE_ROWS` UDP rows of a capture by fingerprint (those that occur
/// once), with their times in microseconds.
fn sample(path: &str, cfg: InspectorConfig) -> FxHashMap<u64, (i64, SocketAddr, SocketAddr)> {
    let mut out = FxHashMap::default();
    let mut dup = FxHashSet::default();
    let Ok(mut reader) = open(path) else {
        return out;
    };
    let mut inspector = Inspector::new(cfg);
    let mut rows = Vec::new();
    let mut index = FrameIndex::default();
    let mut seen = 0;
    while let Some(Ok(f)) = reader.next_frame() {
        inspector.frame(&f, &mut rows);
        for r in rows.drain(..).filter(|r| r.transport == "udp") {
            seen += 1;
            let fp = fingerprint(&r, index.of(&r));
            if out
                .insert(fp, (r.time.as_micros() as i64, r.src, r.dst))
                .is_some()
            {
                dup.insert(fp);
            }
        }
        if seen >= SAMPLE_ROWS {
            break;
        }
    }
    for fp in dup {
        out.remove(&fp);
    }
    out
}

fn median(v: &mut [i64]) -> i64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// The offset of capture `b` against `a` from the packets both hold.
fn estimate(
    a: &FxHashMap<u64, (i64, SocketAddr, SocketAddr)>,
    b: &FxHashMap<u64, (i64, SocketAddr, SocketAddr)>,
    against: usize,
) -> Option<Offset> {
    let mut by_dir: BTreeMap<(SocketAddr, SocketAddr), Vec<i64>> = BTreeMap::new();
    let mut matched = 0;
    for (fp, (tb, src, dst)) in b {
        if let Some((ta, _, _)) = a.get(fp) {
            by_dir.entry((*src, *dst)).or_default().push(tb - ta);
            matched += 1;
        }
    }
    if matched == 0 {
        return None;
    }
    let mut both = Vec::new();
    let mut halves = Vec::new();
    for ((src, dst), d) in &by_dir {
        if src >= dst {
            continue;
        }
        if let Some(back) = by_dir.get(&(*dst, *src)) {
            let (m1, m2) = (median(&mut d.clone()), median(&mut back.clone()));
            both.push((m1 + m2) / 2);
            halves.push((m1 - m2).abs() / 2);
        }
    }
    Some(if both.is_empty() {
        let mut all: Vec<i64> = by_dir.into_values().flatten().collect();
        Offset {
            micros: median(&mut all),
            plus_minus_micros: None,
            matched_packets: matched,
            against,
        }
    } else {
        let spread = both.iter().max().expect("some") - both.iter().min().expect("some");
        Offset {
            micros: median(&mut both),
            plus_minus_micros: Some(median(&mut halves).max(spread / 2) as u64),
            matched_packets: matched,
            against,
        }
    })
}

/// The captures read together in time order, duplicates dropped.
pub struct Merged {
    sources: Vec<Source>,
    seen: FxHashMap<u64, (usize, Duration)>,
    expiry: VecDeque<(Duration, u64)>,
    index: Vec<FrameIndex>,
    window: Duration,
}

impl Merged {
    /// Opens the captures; with more than one, first estimates their clock offsets.
    pub fn open(paths: &[String], cfg: impl Fn() -> InspectorConfig) -> Self {
        let mut sources: Vec<Source> = paths.iter().map(|p| Source::new(p, cfg())).collect();
        let mut window = DEDUP_WINDOW;
        if paths.len() > 1 {
            let samples: Vec<_> = paths.iter().map(|p| sample(p, cfg())).collect();
            let mut shifts: Vec<Option<i64>> = vec![None; paths.len()];
            shifts[0] = Some(0);
            // Each capture against the first, else against one already placed.
            for _ in 0..paths.len() {
                for i in 1..paths.len() {
                    if shifts[i].is_some() {
                        continue;
                    }
                    let found = (0..paths.len())
                        .filter(|&j| j != i)
                        .filter_map(|j| Some((j, shifts[j]?)))
                        .find_map(|(j, base)| {
                            estimate(&samples[j], &samples[i], j).map(|o| (o, base))
                        });
                    if let Some((o, base)) = found {
                        shifts[i] = Some(base + o.micros);
                        if let Some(pm) = o.plus_minus_micros {
                            window = window.max(DEDUP_WINDOW + Duration::from_micros(pm));
                        }
                        sources[i].info.offset = Some(Offset {
                            micros: base + o.micros,
                            ..o
                        });
                    }
                }
            }
            for (s, shift) in sources.iter_mut().zip(shifts) {
                s.shift = shift.unwrap_or(0);
            }
        }
        let index = (0..sources.len()).map(|_| FrameIndex::default()).collect();
        Merged {
            sources,
            seen: FxHashMap::default(),
            expiry: VecDeque::new(),
            index,
            window,
        }
    }

    /// The next row on the merged timeline, with the index of its capture.
    pub fn next_row(&mut self) -> Option<(usize, Row)> {
        loop {
            for s in &mut self.sources {
                s.fill();
            }
            let i = (0..self.sources.len())
                .filter(|&i| !self.sources[i].queue.is_empty())
                .min_by_key(|&i| self.sources[i].queue[0].time)?;
            let row = self.sources[i].queue.pop_front().expect("non-empty");
            if self.sources.len() == 1 || !self.duplicate(i, &row) {
                return Some((i, row));
            }
            self.sources[i].info.duplicates += 1;
        }
    }

    fn duplicate(&mut self, source: usize, r: &Row) -> bool {
        let fp = fingerprint(r, self.index[source].of(r));
        while let Some((t, old)) = self.expiry.front() {
            if *t + self.window >= r.time && self.expiry.len() < MAX_SEEN {
                break;
            }
            if self.seen.get(old).is_some_and(|(_, seen)| seen == t) {
                self.seen.remove(old);
            }
            self.expiry.pop_front();
        }
        match self.seen.get(&fp) {
            Some((other, _)) if *other != source => {
                self.seen.remove(&fp);
                true
            }
            _ => {
                self.seen.insert(fp, (source, r.time));
                self.expiry.push_back((r.time, fp));
                false
            }
        }
    }

    pub fn captures(&self) -> Vec<CaptureInfo> {
        self.sources.iter().map(|s| s.info.clone()).collect()
    }
}
