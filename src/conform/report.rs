//! A run's results and their renderings: text for a terminal, JSON for scripts,
//! JUnit XML for a CI pipeline (one test case per check; a failure carries its
//! evidence, a check that does not apply is skipped).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use super::session::{Direction, Exchange, Transport};
use super::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    NotApplicable,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NotApplicable => "n/a",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: &'static str,
    pub title: &'static str,
    pub verdict: Verdict,
    pub evidence: Vec<Exchange>,
    pub elapsed: Duration,
}

impl CheckResult {
    pub fn outcome(&self) -> Outcome {
        match self.verdict {
            Verdict::Pass(_) => Outcome::Pass,
            Verdict::Fail(_) => Outcome::Fail,
            Verdict::NotApplicable(_) => Outcome::NotApplicable,
        }
    }

    pub fn detail(&self) -> &str {
        match &self.verdict {
            Verdict::Pass(d) | Verdict::Fail(d) | Verdict::NotApplicable(d) => d,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub target: SocketAddr,
    /// The peer's name from its push/pull state, when it answered one.
    pub peer_name: Option<String>,
    /// Why the push/pull at the start failed (a wrong key or label, most often): the
    /// checks that need the peer's state fail for this reason.
    pub setup_problem: Option<String>,
    pub results: Vec<CheckResult>,
}

impl Report {
    /// True when no applicable check failed (the exit status of `memberlist conform`).
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.outcome() != Outcome::Fail)
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome() == outcome)
            .count()
    }

    fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} not applicable",
            self.count(Outcome::Pass),
            self.count(Outcome::Fail),
            self.count(Outcome::NotApplicable)
        )
    }

    fn peer(&self) -> String {
        match &self.peer_name {
            Some(n) => format!("{n} at {}", self.target),
            None => self.target.to_string(),
        }
    }

    /// One line per check; with `evidence`, the bytes of every check, else only of
    /// the failed ones.
    pub fn text(&self, evidence: bool) -> String {
        let mut out = format!("conformance of {}\n", self.peer());
        if let Some(problem) = &self.setup_problem {
            let _ = writeln!(
                out,
                "the peer's state is unknown, push/pull failed: {problem}"
            );
        }
        for r in &self.results {
            let _ = writeln!(out, "{:<5} {:<15} {}", r.outcome().name(), r.id, r.detail());
            if evidence || r.outcome() == Outcome::Fail {
                for e in &r.evidence {
                    let _ = writeln!(out, "        {}", evidence_line(e));
                }
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }

    pub fn json(&self) -> Value {
        json!({
            "target": self.target.to_string(),
            "peer": self.peer_name,
            "setup_problem": self.setup_problem,
            "passed": self.passed(),
            "counts": {
                "pass": self.count(Outcome::Pass),
                "fail": self.count(Outcome::Fail),
                "not_applicable": self.count(Outcome::NotApplicable),
            },
            "checks": self.results.iter().map(|r| json!({
                "id": r.id,
                "title": r.title,
                "outcome": r.outcome().name(),
                "detail": r.detail(),
                "seconds": r.elapsed.as_secs_f64(),
                "evidence": r.evidence.iter().map(evidence_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn junit(&self) -> String {
        let total: f64 = self.results.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"memberlist conform {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{total:.3}\">",
            xml(&self.peer()),
            self.results.len(),
            self.count(Outcome::Fail),
            self.count(Outcome::NotApplicable)
        );
        for r in &self.results {
            let _ = write!(
                out,
                "  <testcase classname=\"memberlist.conform\" name=\"{}\" time=\"{:.3}\">",
                xml(r.id),
                r.elapsed.as_secs_f64()
            );
            let evidence: Vec<String> = r.evidence.iter().map(evidence_line).collect();
            match r.outcome() {
                Outcome::Pass => {}
                Outcome::NotApplicable => {
                    let _ = write!(out, "<skipped message=\"{}\"/>", xml(r.detail()));
                }
                Outcome::Fail => {
                    let _ = write!(
                        out,
                        "<failure message=\"{}\">{}</failure>",
                        xml(r.detail()),
                        xml(&evidence.join("\n"))
                    );
                }
            }
            let _ = writeln!(
                out,
                "<system-out>{}</system-out></testcase>",
                xml(&format!("{}\n{}", r.title, evidence.join("\n")))
            );
        }
        out.push_str("</testsuite>\n");
        out
    }
}

fn arrow(e: &Exchange) -> &'static str {
    match e.direction {
        Direction::Sent => "->",
        Direction::Received => "<-",
    }
}

fn transport(e: &Exchange) -> &'static str {
    match e.transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

fn evidence_line(e: &Exchange) -> String {
    format!(
        "{} {} {} {}: {}",
        arrow(e),
        transport(e),
        e.peer,
        e.note,
        hex::encode(&e.bytes)
    )
}

fn evidence_json(e: &Exchange) -> Value {
    json!({
        "direction": match e.direction { Direction::Sent => "sent", Direction::Received => "received" },
        "transport": transport(e),
        "peer": e.peer.to_string(),
        "note": e.note,
        "hex": hex::encode(&e.bytes),
    })
}

/// Text escaped for an XML attribute or element.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdicts: Vec<Verdict>) -> Report {
        Report {
            target: "127.0.0.1:7946".parse().unwrap(),
            peer_name: Some("a<b".into()),
            setup_problem: None,
            results: verdicts
                .into_iter()
                .map(|verdict| CheckResult {
                    id: "udp-ping",
                    title: "t",
                    verdict,
                    evidence: vec![Exchange {
                        direction: Direction::Sent,
                        transport: Transport::Udp,
                        peer: "127.0.0.1:7946".parse().unwrap(),
                        note: "ping \"x\"".into(),
                        bytes: vec![0, 0xff],
                    }],
                    elapsed: Duration::from_millis(5),
                })
                .collect(),
        }
    }

    #[test]
    fn a_not_applicable_check_does_not_fail_the_run() {
        let r = report(vec![
            Verdict::Pass("ok".into()),
            Verdict::NotApplicable("no key".into()),
        ]);
        assert!(r.passed());
        assert!(r.junit().contains("<skipped message=\"no key\"/>"));
        let r = report(vec![
            Verdict::Pass("ok".into()),
            Verdict::Fail("bad & worse".into()),
        ]);
        assert!(!r.passed());
        assert_eq!(r.json()["counts"]["fail"], 1);
    }

    #[test]
    fn junit_escapes_names_and_evidence() {
        let xml = report(vec![Verdict::Fail("seq <1>".into())]).junit();
        assert!(
            xml.contains("name=\"memberlist conform a&lt;b at 127.0.0.1:7946\""),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"seq &lt;1&gt;\">-&gt; udp 127.0.0.1:7946 ping &quot;x&quot;: 00ff</failure>"), "{xml}");
        assert!(xml.contains("failures=\"1\""));
    }
}
