//! Counters of what went wrong or was refused, and a bounded queue of messages that
//! explain it. Bad input never changes the member list; it is counted here instead,
//! so an operator can see it (`memberlist agent` logs the messages).

use std::collections::VecDeque;
use std::fmt;

/// How many explanations are kept for [`Stats::poll`]; older ones are dropped (the
/// counters still count them) so a flood of bad packets cannot grow memory.
const MAX_DIAGNOSTICS: usize = 256;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Datagrams whose outer layers did not decode (label, key, CRC, truncation).
    BadPackets,
    /// Messages inside a datagram that did not decode (their siblings still count).
    BadMessages,
    /// Inbound or outbound stream exchanges that failed or carried bad frames.
    BadStreams,
    /// Alive messages refused (bad versions, CIDR, delegate).
    RefusedAlive,
    /// Alive messages for a known name from another address.
    Conflicts,
    /// Pings addressed to another node name.
    MisaddressedPings,
    /// Acks and nacks for no running probe or relay.
    UnexpectedAcks,
    /// Push/pull merges refused (protocol versions or the merge delegate).
    RefusedMerges,
    /// Times we refuted an accusation against ourselves.
    Refutations,
    /// Probes that ended without any ack.
    FailedProbes,
}

impl Counter {
    const ALL: [Counter; 10] = [
        Counter::BadPackets,
        Counter::BadMessages,
        Counter::BadStreams,
        Counter::RefusedAlive,
        Counter::Conflicts,
        Counter::MisaddressedPings,
        Counter::UnexpectedAcks,
        Counter::RefusedMerges,
        Counter::Refutations,
        Counter::FailedProbes,
    ];

    /// The level Go logs such an event at (`[ERR]`, `[WARN]`, ...), for the agent's
    /// log: wrong keys and undecodable input are errors, refused or odd but
    /// harmless news warnings, a probe that found a member silent news.
    pub fn level(self) -> tracing::Level {
        use tracing::Level;
        match self {
            Counter::BadPackets
            | Counter::BadMessages
            | Counter::BadStreams
            | Counter::Conflicts
            | Counter::RefusedMerges => Level::ERROR,
            Counter::RefusedAlive | Counter::MisaddressedPings | Counter::Refutations => {
                Level::WARN
            }
            Counter::FailedProbes => Level::INFO,
            Counter::UnexpectedAcks => Level::DEBUG,
        }
    }

    /// The counter's name in reports (snake case).
    pub fn name(self) -> &'static str {
        match self {
            Counter::BadPackets => "bad_packets",
            Counter::BadMessages => "bad_messages",
            Counter::BadStreams => "bad_streams",
            Counter::RefusedAlive => "refused_alive",
            Counter::Conflicts => "conflicts",
            Counter::MisaddressedPings => "misaddressed_pings",
            Counter::UnexpectedAcks => "unexpected_acks",
            Counter::RefusedMerges => "refused_merges",
            Counter::Refutations => "refutations",
            Counter::FailedProbes => "failed_probes",
        }
    }
}

/// One explanation: which counter moved and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Which counter moved.
    pub counter: Counter,
    /// Usually the counter's [`Counter::level`].
    pub level: tracing::Level,
    /// What happened, in words, for a log line.
    pub detail: String,
}

/// The explanation alone: worded as Go logs the same event, so an operator's grep
/// for memberlist's lines finds ours too.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Counts of everything that went wrong, and the explanations not yet reported
/// (the oldest kept, up to a bound, so a flood cannot take the memory).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    counts: [u64; Counter::ALL.len()],
    pending: VecDeque<Diagnostic>,
}

impl Stats {
    /// Counts one event; the explanation is only built if it will be kept.
    pub fn count(&mut self, counter: Counter, detail: impl FnOnce() -> String) {
        self.count_at(counter, counter.level(), detail);
    }

    /// Counts one event whose explanation matters at another level than the
    /// counter's (a failed join, which its caller reports anyway, is only debug).
    pub fn count_at(
        &mut self,
        counter: Counter,
        level: tracing::Level,
        detail: impl FnOnce() -> String,
    ) {
        self.counts[counter as usize] += 1;
        if self.pending.len() < MAX_DIAGNOSTICS {
            self.pending.push_back(Diagnostic {
                counter,
                level,
                detail: detail(),
            });
        }
    }

    /// How many times `counter` moved.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counts[counter as usize]
    }

    /// Every counter with its value.
    pub fn all(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.iter().map(|&c| (c, self.get(c)))
    }

    pub(super) fn poll(&mut self) -> Option<Diagnostic> {
        self.pending.pop_front()
    }
}
