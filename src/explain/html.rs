//! `explain --html FILE`: the report as one self-contained page (`page.html`: inline
//! CSS and JavaScript, no network): a swim lane per member with its changes and
//! unanswered probes, the rows behind each mark on hover, the verdicts and a
//! round-trip view. The report's JSON is embedded and drawn by the page's script.

use super::Report;

const PAGE: &str = include_str!("page.html");

/// The page for `report`.
pub fn page(report: &Report) -> String {
    let json = serde_json::to_string(report).expect("a report serializes");
    // Inside a <script> element only `</` could end it early.
    PAGE.replace("/*REPORT*/", &json.replace("</", "<\\/"))
}
