//! The verdicts of a run and their renderings: a terminal table, JSON, JUnit XML, Markdown, and
//! the plain expectation text committed for known brokers.

use std::fmt::Write as _;
use std::time::Duration;

use mqttsim_codec::Protocol;

use crate::statements::{Coverage, Status};

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The broker behaved as the cited statements require.
    Pass,
    /// It did not, or it misbehaved so that the check could not go on; the reason says which.
    Fail(String),
    /// The check needs an optional feature the broker lacks.
    Skip(String),
}

impl Verdict {
    /// `PASS`, `FAIL` or `SKIP`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "SKIP",
        }
    }

    /// The reason, empty for a pass.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Fail(r) | Verdict::Skip(r) => r,
        }
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name.
    pub name: &'static str,
    /// The protocol version it spoke.
    pub protocol: Protocol,
    /// The statements it cites.
    pub statements: &'static [&'static str],
    /// How it ended.
    pub verdict: Verdict,
}

/// The results of a run, in the order of the check table.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target's description.
    pub target: String,
    /// The run id that prefixed topics and client ids.
    pub run_id: String,
    /// The seed the run id came from.
    pub seed: u64,
    /// One result per selected check.
    pub results: Vec<CheckResult>,
    /// Why clearing retained messages failed, if it did.
    pub cleanup: Option<String>,
    /// How long the run took (simulated time inside the simulator).
    pub elapsed: Duration,
}

fn version(p: Protocol) -> &'static str {
    match p {
        Protocol::V31 => "3.1",
        Protocol::V311 => "3.1.1",
        Protocol::V5 => "5.0",
    }
}

impl Report {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        !self.results.iter().any(|r| matches!(r.verdict, Verdict::Fail(_)))
    }

    /// Counts of passes, failures and skips.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |l: &str| self.results.iter().filter(|r| r.verdict.label() == l).count();
        (count("PASS"), count("FAIL"), count("SKIP"))
    }

    /// One line summing up the run.
    pub fn summary(&self) -> String {
        let (pass, fail, skip) = self.counts();
        format!(
            "{} checks against {}: {pass} passed, {fail} failed, {skip} skipped (run {}, seed {})",
            self.results.len(),
            self.target,
            self.run_id,
            self.seed
        )
    }

    /// An aligned text table: verdict, check, statements, reason.
    pub fn to_table(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .results
            .iter()
            .map(|r| {
                [
                    r.verdict.label().to_string(),
                    r.name.to_string(),
                    r.statements.join(" "),
                    r.verdict.reason().to_string(),
                ]
            })
            .collect();
        let head = ["VERDICT", "CHECK", "STATEMENTS", "REASON"];
        let width =
            |i: usize| rows.iter().map(|r| r[i].len()).chain([head[i].len()]).max().unwrap_or(0);
        let (w0, w1, w2) = (width(0), width(1), width(2));
        let mut out = String::new();
        let mut line = |r: [&str; 4]| {
            let text = format!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(head);
        for r in &rows {
            line([&r[0], &r[1], &r[2], &r[3]]);
        }
        let _ = writeln!(out, "\n{}", self.summary());
        if let Some(c) = &self.cleanup {
            let _ = writeln!(out, "warning: {c}");
        }
        out
    }

    /// The expectation text: one line per check, nothing that changes from run to run.
    pub fn to_expectation(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            let _ = write!(out, "{} {} [{}]", r.verdict.label(), r.name, r.statements.join(" "));
            if !r.verdict.reason().is_empty() {
                let reason = r.verdict.reason().replace(&self.run_id, "<run>");
                let _ = write!(out, " {reason}");
            }
            out.push('\n');
        }
        out
    }

    /// A JSON document with the run and every result.
    pub fn to_json(&self) -> String {
        let results: Vec<serde_json::Value> = self
            .results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "check": r.name,
                    "protocol": version(r.protocol),
                    "statements": r.statements,
                    "verdict": r.verdict.label().to_lowercase(),
                    "reason": r.verdict.reason(),
                })
            })
            .collect();
        let (pass, fail, skip) = self.counts();
        let doc = serde_json::json!({
            "target": self.target,
            "run_id": self.run_id,
            "seed": self.seed,
            "passed": pass,
            "failed": fail,
            "skipped": skip,
            "cleanup_error": self.cleanup,
            "results": results,
        });
        serde_json::to_string_pretty(&doc).expect("a JSON value always serialises") + "\n"
    }

    /// JUnit XML, one test suite per protocol version and one test case per check.
    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut report = quick_junit::Report::new("mqtt-sim conformance");
        for protocol in [Protocol::V311, Protocol::V5] {
            let mine: Vec<&CheckResult> =
                self.results.iter().filter(|r| r.protocol == protocol).collect();
            if mine.is_empty() {
                continue;
            }
            let mut suite = TestSuite::new(format!("MQTT {}", version(protocol)));
            for r in mine {
                let status = match &r.verdict {
                    Verdict::Pass => TestCaseStatus::success(),
                    Verdict::Fail(reason) => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(reason.as_str());
                        s
                    }
                    Verdict::Skip(reason) => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(reason.as_str());
                        s
                    }
                };
                let mut case = TestCase::new(r.name, status);
                case.set_classname(r.statements.join(" "));
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        report.to_string().expect("JUnit XML of plain strings always serialises")
    }

    /// A Markdown table of the results, followed by the coverage of the manifest if given.
    pub fn to_markdown(&self, coverage: Option<&Coverage>) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        let _ = writeln!(out, "| Verdict | Check | Statements | Reason |");
        let _ = writeln!(out, "| --- | --- | --- | --- |");
        for r in &self.results {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                r.verdict.label(),
                r.name,
                r.statements.join(", "),
                cell(&r.verdict.reason().replace(&self.run_id, "<run>"))
            );
        }
        let _ =
            writeln!(out, "\n{}", self.summary().replace(&format!("run {}, ", self.run_id), ""));
        if let Some(c) = coverage {
            out.push('\n');
            out.push_str(&coverage_markdown(c));
        }
        out
    }
}

/// The coverage manifest as Markdown: the figure, then every statement with its status.
pub fn coverage_markdown(c: &Coverage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Coverage: {} of {} server-side statements testable over the wire are checked ({:.1}%).\n",
        c.server_checked,
        c.server_testable,
        c.percent()
    );
    let _ = writeln!(out, "| Statement | Binds | Status |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for (st, status) in &c.rows {
        let status = match status {
            Status::Checked(names) => format!(
                "checked by {}",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
            Status::NotTestable(why) => format!("not testable: {why}"),
            Status::NotYet => "not yet checked".to_string(),
        };
        let _ = writeln!(out, "| {} | {:?} | {} |", st.id, st.role, status);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let result = |name, statements, verdict| CheckResult {
            name,
            protocol: Protocol::V311,
            statements,
            verdict,
        };
        Report {
            target: "tcp 127.0.0.1:1883".into(),
            run_id: "abc123".into(),
            seed: 7,
            results: vec![
                result("connect-accepted", &["MQTT-3.1.4-4", "MQTT-3.2.0-1"], Verdict::Pass),
                result(
                    "pingreq-bad-flags",
                    &["MQTT-2.2.2-2"],
                    Verdict::Fail("a: expected a close, got PINGRESP on mqttsim/abc123/x|y".into()),
                ),
                result(
                    "overlapping-subscriptions",
                    &["MQTT-3.3.5-1"],
                    Verdict::Skip("QoS 2 was not granted (0x01)".into()),
                ),
            ],
            cleanup: None,
            elapsed: Duration::from_millis(1234),
        }
    }

    #[test]
    fn renderings() {
        let report = sample();
        assert!(!report.passed());
        assert_eq!(report.counts(), (1, 1, 1));
        insta::assert_snapshot!("table", report.to_table());
        insta::assert_snapshot!("expectation", report.to_expectation());
        insta::assert_snapshot!("json", report.to_json());
        insta::assert_snapshot!("junit", report.to_junit());
        insta::assert_snapshot!("markdown", report.to_markdown(None));
    }
}
