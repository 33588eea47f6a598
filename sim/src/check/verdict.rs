//! The checker's answer: one result per expectation, the violations found, and the counts.

use std::fmt::{self, Write as _};

use serde::Serialize;

/// The most violations kept per expectation; the rest are only counted.
pub const MAX_VIOLATIONS_KEPT: usize = 20;

/// The expectations of a scenario's `expect:` section, in the order a verdict lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// `qos0_max_duplicates`: a QoS 0 copy is not delivered more often than allowed.
    Qos0MaxDuplicates,
    /// `qos1_at_least_once`.
    Qos1AtLeastOnce,
    /// `qos2_exactly_once`.
    Qos2ExactlyOnce,
    /// `ordering` [MQTT-4.6.0-6].
    Ordering,
    /// `wills`.
    Wills,
    /// `retained`.
    Retained,
    /// `liveness`.
    Liveness,
    /// `expected_loss`.
    ExpectedLoss,
}

impl Guarantee {
    /// Every guarantee, in report order.
    pub const ALL: [Guarantee; 8] = [
        Guarantee::Qos0MaxDuplicates,
        Guarantee::Qos1AtLeastOnce,
        Guarantee::Qos2ExactlyOnce,
        Guarantee::Ordering,
        Guarantee::Wills,
        Guarantee::Retained,
        Guarantee::Liveness,
        Guarantee::ExpectedLoss,
    ];

    /// The field name in the scenario's `expect:` section.
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::Qos0MaxDuplicates => "qos0_max_duplicates",
            Guarantee::Qos1AtLeastOnce => "qos1_at_least_once",
            Guarantee::Qos2ExactlyOnce => "qos2_exactly_once",
            Guarantee::Ordering => "ordering",
            Guarantee::Wills => "wills",
            Guarantee::Retained => "retained",
            Guarantee::Liveness => "liveness",
            Guarantee::ExpectedLoss => "expected_loss",
        }
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The message a violation concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRef {
    /// The message id (`<client_id>#<n>`), or `will of <client_id>` for a Will.
    pub id: String,
    /// The publishing device.
    pub publisher: String,
    /// The topic.
    pub topic: String,
    /// The packet identifier the broker accepted it with, if known.
    pub pid: Option<u16>,
    /// The QoS it was published with.
    pub qos: u8,
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The expectation broken.
    pub guarantee: Guarantee,
    /// The message, if the violation concerns one.
    pub message: Option<MessageRef>,
    /// The subscriber (or, for Wills and liveness, the device) concerned.
    pub device: Option<String>,
    /// What the standard or the scenario promised.
    pub expected: String,
    /// What the trace shows.
    pub observed: String,
    /// The trace lines that show it, in text form, each prefixed with its line number.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.guarantee)?;
        if let Some(m) = &self.message {
            write!(f, " message {} from {} on {} q{}", m.id, m.publisher, m.topic, m.qos)?;
            if let Some(pid) = m.pid {
                write!(f, " pid={pid}")?;
            }
        }
        if let Some(d) = &self.device {
            write!(f, " device {d}")?;
        }
        writeln!(f)?;
        writeln!(f, "    expected: {}", self.expected)?;
        writeln!(f, "    observed: {}", self.observed)?;
        for line in &self.trace {
            writeln!(f, "      {line}")?;
        }
        Ok(())
    }
}

/// The outcome of one expectation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// The expectation held.
    Pass,
    /// It was broken; the violations are in [`Outcome::violations`].
    Fail,
    /// It was not evaluated, for this reason.
    NotChecked {
        /// Why.
        reason: String,
    },
}

/// One expectation's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Which expectation.
    pub guarantee: Guarantee,
    /// Pass, fail or not checked.
    pub status: Status,
    /// Facts worth reading beside the status (allowed losses, bounds evaluated, ...).
    pub notes: Vec<String>,
    /// The first [`MAX_VIOLATIONS_KEPT`] violations.
    pub violations: Vec<Violation>,
    /// How many violations there were in all.
    pub violation_count: u64,
}

/// Counts for one QoS level (the QoS the message was published with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QosCounts {
    /// Messages the applications published (Wills: published by the broker).
    pub published: u64,
    /// Of those, messages the broker accepted at least once.
    pub accepted: u64,
    /// (message, subscriber) pairs the oracle counted: a matching subscription existed.
    pub pairs: u64,
    /// Pairs delivered at least once.
    pub delivered: u64,
    /// Copies delivered beyond the first, over all pairs.
    pub duplicates: u64,
    /// Pairs lost to a documented bounded queue or an offline policy (device or broker drop).
    pub allowed_losses: u64,
    /// Pairs lost otherwise (a network loss at QoS 0; a violation at QoS 1 and 2).
    pub lost: u64,
    /// Pairs the guarantee did not cover: the subscriber's session ended, it was offline at
    /// the end, or the message was still in flight when the run stopped.
    pub exempt: u64,
}

impl QosCounts {
    /// The fraction of counted pairs (delivered or lost) that were lost, allowed or not.
    pub fn loss_ratio(&self) -> f64 {
        let lost = self.allowed_losses + self.lost;
        let total = self.delivered + lost;
        if total == 0 { 0.0 } else { lost as f64 / total as f64 }
    }
}

/// The whole verdict of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// One outcome per expectation, in [`Guarantee::ALL`] order.
    pub outcomes: Vec<Outcome>,
    /// Counts per QoS level: index 0, 1, 2.
    pub counts: [QosCounts; 3],
    /// Trace facts the oracle could not tie to a message (should be zero).
    pub unattributed: u64,
}

impl Verdict {
    /// Whether any expectation failed.
    pub fn failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.status == Status::Fail)
    }

    /// The number of violations over all expectations.
    pub fn violation_count(&self) -> u64 {
        self.outcomes.iter().map(|o| o.violation_count).sum()
    }

    /// The outcome of one expectation.
    pub fn outcome(&self, guarantee: Guarantee) -> &Outcome {
        self.outcomes
            .iter()
            .find(|o| o.guarantee == guarantee)
            .expect("a verdict has an outcome for every guarantee")
    }

    /// The report as text: a line per expectation, its violations, then the counts.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for o in &self.outcomes {
            let status = match &o.status {
                Status::Pass => "pass".to_owned(),
                Status::Fail => format!("FAIL ({})", violations(o.violation_count)),
                Status::NotChecked { reason } => format!("not checked ({reason})"),
            };
            let _ = writeln!(out, "  {:<20} {status}", o.guarantee.name());
            for note in &o.notes {
                let _ = writeln!(out, "      {note}");
            }
            for v in &o.violations {
                let _ = write!(out, "    {v}");
            }
            let more = o.violation_count.saturating_sub(o.violations.len() as u64);
            if more > 0 {
                let _ = writeln!(out, "    ... and {more} more");
            }
        }
        let _ = writeln!(
            out,
            "  counts (qos: published accepted | pairs delivered duplicates allowed-loss lost exempt | loss):"
        );
        for (q, c) in self.counts.iter().enumerate() {
            let _ = writeln!(
                out,
                "    q{q}: {} {} | {} {} {} {} {} {} | {:.2}%",
                c.published,
                c.accepted,
                c.pairs,
                c.delivered,
                c.duplicates,
                c.allowed_losses,
                c.lost,
                c.exempt,
                c.loss_ratio() * 100.0
            );
        }
        if self.unattributed > 0 {
            let _ = writeln!(out, "  unattributed trace facts: {}", self.unattributed);
        }
        out
    }
}

/// Collects one expectation's violations, keeping only the first few.
#[derive(Debug)]
pub(crate) struct Findings {
    pub guarantee: Guarantee,
    pub violations: Vec<Violation>,
    pub count: u64,
    pub notes: Vec<String>,
}

impl Findings {
    pub(crate) fn new(guarantee: Guarantee) -> Findings {
        Findings { guarantee, violations: Vec::new(), count: 0, notes: Vec::new() }
    }

    pub(crate) fn push(&mut self, violation: Violation) {
        self.count += 1;
        if self.violations.len() < MAX_VIOLATIONS_KEPT {
            self.violations.push(violation);
        }
    }

    /// Takes another set of findings for the same expectation in.
    pub(crate) fn absorb(&mut self, other: Findings) {
        self.count += other.count;
        let room = MAX_VIOLATIONS_KEPT.saturating_sub(self.violations.len());
        self.violations.extend(other.violations.into_iter().take(room));
        self.notes.extend(other.notes);
    }

    pub(crate) fn into_outcome(self) -> Outcome {
        let status = if self.count > 0 { Status::Fail } else { Status::Pass };
        Outcome {
            guarantee: self.guarantee,
            status,
            notes: self.notes,
            violations: self.violations,
            violation_count: self.count,
        }
    }
}

/// `1 violation`, `3 violations`.
pub(crate) fn violations(n: u64) -> String {
    format!("{n} violation{}", if n == 1 { "" } else { "s" })
}
