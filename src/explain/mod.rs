//! `memberlist explain`: why members were suspected or declared dead, told from the
//! inspector's decoded rows of one or more captures.
//!
//! The captures are merged into one timeline (`merge`: clock offsets from packets seen
//! on both ends, duplicates dropped), the rows folded into per-member aggregates and
//! a bounded table of probes in flight (`analysis`, `member`, `probes`), and each
//! suspicion's unanswered probes judged (`verdict`) into the `report`; Alertmanager's
//! silences are followed from member to member (`silences`) and dskit's hash rings per
//! instance (`rings`). Memory grows
//! with the number of members, not of packets. `html` draws the report as a page.

pub mod analysis;
pub mod html;
pub mod member;
pub mod merge;
pub mod names;
pub mod probes;
pub mod report;
pub mod rings;
pub mod rtt;
pub mod silences;
pub mod verdict;

pub use report::Report;

use crate::inspect::InspectorConfig;

/// Reads the captures and explains them. Captures that cannot be read (or are
/// damaged part way) carry their error in the report, after what they gave.
pub fn explain(paths: &[String], cfg: impl Fn() -> InspectorConfig) -> Report {
    let mut merged = merge::Merged::open(paths, cfg);
    let mut a = analysis::Analysis::default();
    while let Some((capture, row)) = merged.next_row() {
        a.row(capture, &row);
    }
    Report::build(a, merged.captures())
}
