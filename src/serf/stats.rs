//! Counters of bad or refused Serf input, with a bounded queue of explanations: a
//! peer's garbage is counted and logged, never allowed to change the member list.

use std::collections::VecDeque;
use std::fmt;

/// Explanations kept for [`SerfStats::poll`]; counters keep counting past it.
const MAX_DIAGNOSTICS: usize = 256;

/// What a Serf counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SerfCounter {
    /// Serf messages with an unknown type byte.
    UnknownMessages,
    /// Serf messages of a known type that did not decode (push/pull state included).
    BadMessages,
    /// Node meta whose tags did not decode (the member is kept).
    BadTags,
    /// Queries not processed because a filter did not decode or its regex is invalid.
    BadFilters,
    /// User events from peers above the hard size limit, dropped.
    OversizedEvents,
    /// Ack payloads whose coordinate was refused.
    BadCoordinates,
    /// Query answers for no running query, or duplicates.
    UnexpectedResponses,
    /// Messages we did not send because they were too big or had no address.
    RefusedSends,
    /// Name conflicts about us that the cluster decided against us (we shut down).
    LostConflicts,
    /// Snapshot lines that could not be written or read back.
    SnapshotErrors,
}

impl SerfCounter {
    /// Every counter, in report order.
    pub const ALL: [SerfCounter; 10] = [
        SerfCounter::UnknownMessages,
        SerfCounter::BadMessages,
        SerfCounter::BadTags,
        SerfCounter::BadFilters,
        SerfCounter::OversizedEvents,
        SerfCounter::BadCoordinates,
        SerfCounter::UnexpectedResponses,
        SerfCounter::RefusedSends,
        SerfCounter::LostConflicts,
        SerfCounter::SnapshotErrors,
    ];

    /// The counter's name in reports (snake case, `serf_` first).
    pub fn name(self) -> &'static str {
        match self {
            SerfCounter::UnknownMessages => "serf_unknown_messages",
            SerfCounter::BadMessages => "serf_bad_messages",
            SerfCounter::BadTags => "serf_bad_tags",
            SerfCounter::BadFilters => "serf_bad_filters",
            SerfCounter::OversizedEvents => "serf_oversized_events",
            SerfCounter::BadCoordinates => "serf_bad_coordinates",
            SerfCounter::UnexpectedResponses => "serf_unexpected_responses",
            SerfCounter::RefusedSends => "serf_refused_sends",
            SerfCounter::LostConflicts => "serf_lost_conflicts",
            SerfCounter::SnapshotErrors => "serf_snapshot_errors",
        }
    }
}

/// One explanation: which counter moved and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerfDiagnostic {
    /// Which counter moved.
    pub counter: SerfCounter,
    /// What happened, in words, for a log line.
    pub detail: String,
}

impl fmt::Display for SerfDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.counter.name(), self.detail)
    }
}

impl SerfCounter {
    /// The level Serf logs such an event at: input it cannot use is an error,
    /// input it refuses on purpose a warning.
    pub fn level(self) -> tracing::Level {
        use tracing::Level;
        match self {
            SerfCounter::BadFilters
            | SerfCounter::OversizedEvents
            | SerfCounter::UnexpectedResponses => Level::WARN,
            SerfCounter::UnknownMessages
            | SerfCounter::BadMessages
            | SerfCounter::BadTags
            | SerfCounter::BadCoordinates
            | SerfCounter::RefusedSends
            | SerfCounter::LostConflicts
            | SerfCounter::SnapshotErrors => Level::ERROR,
        }
    }
}

/// Counts of bad or refused Serf input and the explanations not yet reported (a
/// bounded queue, so a flood cannot take the memory).
#[derive(Debug, Default, Clone)]
pub struct SerfStats {
    counts: [u64; SerfCounter::ALL.len()],
    pending: VecDeque<SerfDiagnostic>,
}

impl SerfStats {
    /// Counts one event; the explanation is only built if it will be kept.
    pub fn count(&mut self, counter: SerfCounter, detail: impl FnOnce() -> String) {
        self.counts[counter as usize] += 1;
        if self.pending.len() < MAX_DIAGNOSTICS {
            self.pending.push_back(SerfDiagnostic {
                counter,
                detail: detail(),
            });
        }
    }

    /// How many times `counter` moved.
    pub fn get(&self, counter: SerfCounter) -> u64 {
        self.counts[counter as usize]
    }

    /// Every counter and its count.
    pub fn all(&self) -> impl Iterator<Item = (SerfCounter, u64)> + '_ {
        SerfCounter::ALL.iter().map(|&c| (c, self.get(c)))
    }

    /// The oldest explanation not yet reported.
    pub fn poll(&mut self) -> Option<SerfDiagnostic> {
        self.pending.pop_front()
    }
}
