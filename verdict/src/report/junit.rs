//! `junit.xml`: one test suite per run, one test case per expectation.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::check::Status;

use super::ReportError;
use super::analysis::Analysis;

/// Renders the JUnit XML (no wall times or timestamps, so it is deterministic).
pub(crate) fn render(a: &Analysis) -> Result<String, ReportError> {
    let mut suite = TestSuite::new(format!("{} (seed {})", a.name, a.seed));
    suite.add_property(("seed", a.seed.to_string().as_str()));
    suite.add_property(("replay", a.replay.as_str()));
    for o in &a.verdict.outcomes {
        let status = match &o.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} violation(s)", o.violation_count));
                s.set_type(o.guarantee.name());
                let text: String = o.violations.iter().map(ToString::to_string).collect();
                s.set_description(format!("{text}replay: {}\n", a.replay));
                s
            }
            Status::NotChecked { reason } => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(reason.as_str());
                s
            }
            Status::NotExercised { reason } => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("not exercised: {reason}"));
                s
            }
        };
        let mut case = TestCase::new(o.guarantee.name(), status);
        case.set_classname(format!("mqtt-sim.{}", a.name));
        suite.add_test_case(case);
    }
    let mut report = Report::new("mqtt-sim");
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}
