//! The verdicts of a run and their renderings: a terminal table, JSON, JUnit XML, Markdown, and
//! the plain expectation text committed for known brokers; and the cross-broker matrix built from
//! those expectation texts.
//!
//! Every rendering shows an inconclusive check as such, with its reason, and ends with the root
//! causes: each cause of an inconclusive outcome once, with the checks it stopped and the check
//! that judges it when it is a deviation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use mqttsim_codec::Protocol;

use crate::check::Cause;
use crate::statements::{Coverage, Status};

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The broker behaved as the cited statements require.
    Pass,
    /// It did not, or it misbehaved so that the check could not go on; the reason says which.
    Fail(String),
    /// The check is about an optional feature the broker lacks.
    Skip(String),
    /// A precondition failed, so the statements could not be judged; `cause` is the root cause.
    Inconclusive {
        /// The root cause.
        cause: Cause,
        /// What the check saw.
        reason: String,
    },
}

impl Verdict {
    /// Every label, in report order.
    pub const LABELS: [&'static str; 4] = ["PASS", "FAIL", "INCONCLUSIVE", "SKIP"];

    /// `PASS`, `FAIL`, `INCONCLUSIVE` or `SKIP`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "SKIP",
            Verdict::Inconclusive { .. } => "INCONCLUSIVE",
        }
    }

    /// The reason, empty for a pass.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Fail(r) | Verdict::Skip(r) | Verdict::Inconclusive { reason: r, .. } => r,
        }
    }

    /// The root cause of an inconclusive verdict.
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Verdict::Inconclusive { cause, .. } => Some(*cause),
            _ => None,
        }
    }

    /// The reason as the expectation text and Markdown show it: the cause's key first for an
    /// inconclusive verdict.
    fn detail(&self) -> String {
        match self {
            Verdict::Inconclusive { cause, reason } => format!("({cause}) {reason}"),
            other => other.reason().to_string(),
        }
    }
}

/// One root cause of a run: the checks it made inconclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    /// The cause.
    pub cause: Cause,
    /// The checks it stopped, in table order.
    pub checks: Vec<&'static str>,
    /// The verdict of the check that judges it, when that check ran.
    pub judged: Option<&'static str>,
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
    /// How many PUBLISH packets the broker sent that no subscription of their client matched
    /// (set aside and not judged; `publish-without-subscription` judges that behaviour).
    pub unsolicited: usize,
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
    /// The same report with the results of one protocol version only.
    pub fn for_protocol(&self, protocol: Protocol) -> Report {
        Report {
            results: self.results.iter().filter(|r| r.protocol == protocol).cloned().collect(),
            ..self.clone()
        }
    }

    /// True when no check failed.
    pub fn passed(&self) -> bool {
        !self.results.iter().any(|r| matches!(r.verdict, Verdict::Fail(_)))
    }

    /// Counts of passes, failures, inconclusive checks and skips.
    pub fn counts(&self) -> Counts {
        let count = |l: &str| self.results.iter().filter(|r| r.verdict.label() == l).count();
        Counts {
            passed: count("PASS"),
            failed: count("FAIL"),
            inconclusive: count("INCONCLUSIVE"),
            skipped: count("SKIP"),
        }
    }

    /// One line summing up the run.
    pub fn summary(&self) -> String {
        format!(
            "{} checks against {}: {} (run {}, seed {})",
            self.results.len(),
            self.target,
            self.counts(),
            self.run_id,
            self.seed
        )
    }

    /// The root causes of the inconclusive checks, each once, in [`Cause::ALL`] order.
    pub fn root_causes(&self) -> Vec<RootCause> {
        let mut by_cause: BTreeMap<Cause, Vec<&'static str>> = BTreeMap::new();
        for r in &self.results {
            if let Some(cause) = r.verdict.cause() {
                by_cause.entry(cause).or_default().push(r.name);
            }
        }
        Cause::ALL
            .iter()
            .filter_map(|cause| {
                let checks = by_cause.remove(cause)?;
                let judged = cause.judged_by().and_then(|name| {
                    self.results.iter().find(|r| r.name == name).map(|r| r.verdict.label())
                });
                Some(RootCause { cause: *cause, checks, judged })
            })
            .collect()
    }

    /// The root causes as text lines, one per cause.
    fn root_cause_lines(&self) -> Vec<String> {
        self.root_causes()
            .iter()
            .map(|rc| {
                let judged = match (rc.cause.judged_by(), rc.judged) {
                    (Some(by), Some(verdict)) => format!("; judged by `{by}`: {verdict}"),
                    (Some(by), None) => format!("; judged by `{by}` (not run)"),
                    (None, _) => String::new(),
                };
                format!(
                    "{}: {} ({} {}: {}){judged}",
                    rc.cause,
                    rc.cause.explain(),
                    rc.checks.len(),
                    if rc.checks.len() == 1 { "check" } else { "checks" },
                    rc.checks.join(", ")
                )
            })
            .collect()
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
                    r.verdict.detail(),
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
        let causes = self.root_cause_lines();
        if !causes.is_empty() {
            let _ = writeln!(out, "root causes of the inconclusive checks:");
            for line in causes {
                let _ = writeln!(out, "  {line}");
            }
        }
        if self.unsolicited > 0 {
            let _ = writeln!(
                out,
                "note: the broker sent {} PUBLISH packets that no subscription of their client matches; \
                 they were set aside, not judged (see publish-without-subscription)",
                self.unsolicited
            );
        }
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
                let reason = r.verdict.detail().replace(&self.run_id, "<run>");
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
                    "cause": r.verdict.cause().map(Cause::key),
                })
            })
            .collect();
        let causes: Vec<serde_json::Value> = self
            .root_causes()
            .iter()
            .map(|rc| {
                serde_json::json!({
                    "cause": rc.cause.key(),
                    "explanation": rc.cause.explain(),
                    "checks": rc.checks,
                    "judged_by": rc.cause.judged_by(),
                    "judged_verdict": rc.judged.map(str::to_lowercase),
                })
            })
            .collect();
        let counts = self.counts();
        let doc = serde_json::json!({
            "target": self.target,
            "run_id": self.run_id,
            "seed": self.seed,
            "passed": counts.passed,
            "failed": counts.failed,
            "inconclusive": counts.inconclusive,
            "skipped": counts.skipped,
            "cleanup_error": self.cleanup,
            "results": results,
            "root_causes": causes,
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
                    // JUnit has no inconclusive outcome: skipped, with the cause in the message.
                    Verdict::Inconclusive { cause, reason } => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(format!("inconclusive ({cause}): {reason}"));
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
                cell(&r.verdict.detail().replace(&self.run_id, "<run>"))
            );
        }
        let _ =
            writeln!(out, "\n{}", self.summary().replace(&format!("run {}, ", self.run_id), ""));
        let causes = self.root_cause_lines();
        if !causes.is_empty() {
            let _ = writeln!(out, "\nRoot causes of the inconclusive checks:\n");
            for line in causes {
                let _ = writeln!(out, "- {}", cell(&line));
            }
        }
        if let Some(c) = coverage {
            out.push('\n');
            out.push_str(&coverage_markdown(c));
        }
        out
    }
}

/// Counts of a run's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Checks whose precondition failed.
    pub inconclusive: usize,
    /// Checks about a feature the broker lacks.
    pub skipped: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} inconclusive, {} skipped",
            self.passed, self.failed, self.inconclusive, self.skipped
        )
    }
}

/// The verdict label of each check in an expectation text (`LABEL name [statements] ...`),
/// in order: `VARIES` for a check marked `nondeterministic:` on an indented line below it.
/// Other indented lines (notes) and `#` comments are ignored.
pub fn expectation_labels(text: &str) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("nondeterministic:")
            && line.starts_with(char::is_whitespace)
        {
            if let Some(last) = out.last_mut() {
                last.0 = "VARIES";
            }
            continue;
        }
        if line.starts_with(char::is_whitespace) || line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut words = line.split(' ');
        if let (Some(label), Some(name)) = (words.next(), words.next())
            && Verdict::LABELS.contains(&label)
        {
            out.push((label, name));
        }
    }
    out
}

/// The cross-broker table: one row per check, one column per broker, built from each broker's
/// expectation text (the files in `conformance/expected/`), then each column's counts.
pub fn matrix_markdown(brokers: &[(&str, &str)]) -> String {
    let columns: Vec<BTreeMap<&str, &str>> = brokers
        .iter()
        .map(|(_, text)| expectation_labels(text).into_iter().map(|(l, n)| (n, l)).collect())
        .collect();
    let mut rows: Vec<&str> = Vec::new();
    for (_, text) in brokers {
        for (_, name) in expectation_labels(text) {
            if !rows.contains(&name) {
                rows.push(name);
            }
        }
    }
    let mut out = String::new();
    let names: Vec<&str> = brokers.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(out, "| Check | {} |", names.join(" | "));
    let _ = writeln!(out, "| --- |{}", " --- |".repeat(names.len()));
    for row in &rows {
        let cells: Vec<&str> = columns
            .iter()
            .map(|c| match c.get(row) {
                Some(&"PASS") => "pass",
                Some(&"FAIL") => "**FAIL**",
                Some(&"INCONCLUSIVE") => "inconclusive",
                Some(&"SKIP") => "skip",
                Some(&"VARIES") => "varies",
                Some(_) => "?",
                None => "",
            })
            .collect();
        let _ = writeln!(out, "| `{row}` | {} |", cells.join(" | "));
    }
    for (label, word) in [
        ("PASS", "passed"),
        ("FAIL", "failed"),
        ("INCONCLUSIVE", "inconclusive"),
        ("SKIP", "skipped"),
        ("VARIES", "varies between runs"),
    ] {
        let counts: Vec<String> = columns
            .iter()
            .map(|c| c.values().filter(|l| **l == label).count().to_string())
            .collect();
        let _ = writeln!(out, "| *{word}* | {} |", counts.join(" | "));
    }
    out
}

/// The cross-broker table of every expectation file (`*.txt`) in `dir`, one column per file
/// named after it, in file-name order.
pub fn matrix_of_dir(dir: &std::path::Path) -> std::io::Result<String> {
    let mut files: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "txt") {
            let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            files.push((name, std::fs::read_to_string(&path)?));
        }
    }
    files.sort();
    let columns: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Ok(matrix_markdown(&columns))
}

/// The coverage manifest as Markdown: the figure, then every statement with its status.
pub fn coverage_markdown(c: &Coverage) -> String {
    let mut out = String::new();
    match c.protocol {
        Protocol::V311 | Protocol::V31 => {
            let _ = writeln!(
                out,
                "Coverage, counted against the {} statement ids of appendix B: {} of {} server-side \
                 statements testable over the wire are checked ({:.1}%). Statements of the body text that \
                 appendix B leaves out are listed but not counted.\n",
                c.appendix_b,
                c.server_checked,
                c.server_testable,
                c.percent()
            );
        }
        Protocol::V5 => {
            let _ = writeln!(
                out,
                "MQTT 5.0 coverage, counted against the {} statement ids of appendix B: {} of {} \
                 server-side statements testable over TCP are checked ({:.1}%); {} client-only \
                 statements are probed by sending their violation and judging the server's reaction. \
                 Notes give the known misprints of appendix B; the body text is followed.\n",
                c.appendix_b,
                c.server_checked,
                c.server_testable,
                c.percent(),
                c.client_probed
            );
        }
    }
    let _ = writeln!(out, "| Statement | Binds | Status |");
    let _ = writeln!(out, "| --- | --- | --- |");
    let names =
        |names: &[&str]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    for (st, status) in &c.rows {
        let status = match status {
            Status::Checked(list) => format!("checked by {}", names(list)),
            Status::Probed(list) => format!("client rule, probed by {}", names(list)),
            Status::NotTestable(why) => format!("not testable: {why}"),
            Status::NotYet => "not yet checked".to_string(),
        };
        let status = if st.in_appendix_b {
            status
        } else {
            format!("{status} (body text only, not in appendix B)")
        };
        let status = match st.note {
            Some(note) => format!("{status}; note: {}", note.replace('|', "\\|")),
            None => status,
        };
        let id = match st.aliases {
            [] => st.id.to_string(),
            aliases => format!("{} (alias {})", st.id, aliases.join(", ")),
        };
        let _ = writeln!(out, "| {id} | {:?} | {status} |", st.role);
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
                    "client-id-empty-clean",
                    &["MQTT-3.1.3-6"],
                    Verdict::Skip("the broker does not allow empty client ids".into()),
                ),
                result(
                    "qos2-inbound",
                    &["MQTT-3.3.4-1"],
                    Verdict::Fail("QoS 2 PUBLISH was answered with PUBACK [MQTT-3.3.4-1]".into()),
                ),
                result(
                    "qos2-exactly-once",
                    &["MQTT-4.3.3-2"],
                    Verdict::Inconclusive {
                        cause: Cause::Qos2PublishRefused,
                        reason: "p: QoS 2 PUBLISH 3 was answered with PUBACK".into(),
                    },
                ),
                result(
                    "pubrel-bad-flags",
                    &["MQTT-3.6.1-1"],
                    Verdict::Inconclusive {
                        cause: Cause::Qos2PublishRefused,
                        reason: "a: QoS 2 PUBLISH 1 was answered with PUBACK".into(),
                    },
                ),
                result(
                    "overlapping-high-first",
                    &["MQTT-3.3.5-1"],
                    Verdict::Inconclusive {
                        cause: Cause::SubscriptionRefused,
                        reason:
                            "s: the subscription to \"mqttsim/abc123/t/#\" was refused with 0x80"
                                .into(),
                    },
                ),
            ],
            unsolicited: 0,
            cleanup: None,
            elapsed: Duration::from_millis(1234),
        }
    }

    #[test]
    fn the_matrix_has_a_column_per_broker_and_a_row_per_check() {
        let a = "# header\nPASS one [X]\nFAIL two [Y] why\n  note: what it does\nPASS four [W]\n  nondeterministic: why\n";
        let b = "INCONCLUSIVE one [X] (qos-granted-lower) s: ...\nSKIP three [Z] lacks it\n";
        insta::assert_snapshot!("matrix", matrix_markdown(&[("a", a), ("b", b)]));
    }

    #[test]
    fn renderings() {
        let report = sample();
        assert!(!report.passed());
        assert_eq!(report.counts(), Counts { passed: 1, failed: 2, inconclusive: 3, skipped: 1 });
        let causes = report.root_causes();
        assert_eq!(causes.len(), 2, "each root cause once: {causes:?}");
        assert_eq!(causes[0].cause, Cause::SubscriptionRefused);
        assert_eq!(causes[1].checks, ["qos2-exactly-once", "pubrel-bad-flags"]);
        assert_eq!(causes[1].judged, Some("FAIL"));
        insta::assert_snapshot!("table", report.to_table());
        insta::assert_snapshot!("expectation", report.to_expectation());
        insta::assert_snapshot!("json", report.to_json());
        insta::assert_snapshot!("junit", report.to_junit());
        insta::assert_snapshot!("markdown", report.to_markdown(None));
    }
}
