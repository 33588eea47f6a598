//! One candidate run and what shrinking needs of its verdict — which guarantees failed, the
//! devices and the statement the first violation names — and nothing else of the checker's
//! types, so that the checker's verdicts can grow without touching the shrinker.

use std::time::Duration;

use crate::check::{CheckOptions, Guarantee, Status, Verdict, check};
use crate::scenario::Scenario;
use crate::trace::Collect;
use crate::{RunOptions, run};

/// What a run showed, as far as shrinking is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The guarantees that failed, in verdict order.
    pub failed: Vec<Guarantee>,
    /// The first violation of each failed guarantee, as shrinking sees it.
    pub first: Vec<(Guarantee, FirstViolation)>,
    /// Records in the trace.
    pub trace_records: u64,
}

/// The first violation of a guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstViolation {
    /// The devices it names: the subscriber or device concerned, and the message's publisher.
    pub devices: Vec<String>,
    /// The first normative statement its text cites (`MQTT-3.1.2-8`), if any.
    pub statement: Option<String>,
    /// A one-line account: what was expected and what happened.
    pub summary: String,
}

impl Judgement {
    /// Whether `guarantee` failed.
    pub fn fails(&self, guarantee: Guarantee) -> bool {
        self.failed.contains(&guarantee)
    }

    /// The first violation of `guarantee`, if it failed.
    pub fn first(&self, guarantee: Guarantee) -> Option<&FirstViolation> {
        self.first.iter().find(|(g, _)| *g == guarantee).map(|(_, v)| v)
    }
}

/// Runs `scenario` (with its own seed and duration) as `mqtt-sim run` does and judges it with
/// the options `mqtt-sim run` uses. A run that cannot complete, or panics, is `None`.
pub fn judge(scenario: &Scenario, tick: Duration) -> Option<Judgement> {
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut trace = Collect::default();
        let options = RunOptions { tick, trace: vec![&mut trace], ..RunOptions::default() };
        let report = run(scenario, options).ok()?;
        let end = scenario.duration.get();
        let verdict = check(scenario, &trace.0, &CheckOptions { end, ..CheckOptions::default() });
        Some(from_verdict(&verdict, report.trace_records))
    }));
    attempt.ok().flatten()
}

fn from_verdict(verdict: &Verdict, trace_records: u64) -> Judgement {
    let mut failed = Vec::new();
    let mut first = Vec::new();
    for outcome in &verdict.outcomes {
        if outcome.status != Status::Fail {
            continue;
        }
        failed.push(outcome.guarantee);
        if let Some(v) = outcome.violations.first() {
            let mut devices: Vec<String> = Vec::new();
            for d in v.device.iter().chain(v.message.as_ref().map(|m| &m.publisher)) {
                if !devices.contains(d) {
                    devices.push(d.clone());
                }
            }
            let text = format!("{} {}", v.expected, v.observed);
            let summary = match &v.device {
                Some(d) => format!("device {d}: expected {}; observed {}", v.expected, v.observed),
                None => format!("expected {}; observed {}", v.expected, v.observed),
            };
            first.push((
                outcome.guarantee,
                FirstViolation { devices, statement: statement(&text), summary },
            ));
        }
    }
    Judgement { failed, first, trace_records }
}

/// The first `[MQTT-…]` citation in `text`, without its brackets.
fn statement(text: &str) -> Option<String> {
    let start = text.find("[MQTT-")? + 1;
    let len = text[start..].find(']')?;
    Some(text[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_citation_is_the_statement() {
        assert_eq!(
            statement("a Will when the keepalive expires [MQTT-3.1.2-8] and [MQTT-3.1.2-24]"),
            Some("MQTT-3.1.2-8".to_owned())
        );
        assert_eq!(statement("nothing cited"), None);
        assert_eq!(statement("broken [MQTT-3.1"), None);
    }
}
