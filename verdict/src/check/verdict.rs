//! The checker's answer: one result per expectation, the violations found, the counts, every
//! pair not delivered with its reason, and what the run exercised.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

pub use super::coverage::Coverage;
pub use crate::scenario::{LossClass, LossReason};

/// The most violations kept per expectation; the rest are only counted.
pub const MAX_VIOLATIONS_KEPT: usize = 20;

/// The most undelivered pairs the text form lists (`verdict.json` has them all).
pub const MAX_UNDELIVERED_LISTED: usize = 10;

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
    /// `shared_subscriptions` (MQTT 5.0 §4.8.2).
    SharedSubscriptions,
    /// `shared_redistribution`: a SHOULD of MQTT 5.0 §4.8.2 without a statement id, kept apart
    /// from the numbered statements.
    SharedRedistribution,
    /// `no_local` [MQTT-3.8.3-3].
    NoLocal,
    /// `sessions`.
    Sessions,
    /// `message_expiry` (MQTT 5.0): never delivered after the Message Expiry Interval, the
    /// interval forwarded reduced by the time at the broker [MQTT-3.3.2-5, MQTT-3.3.2-6].
    MessageExpiry,
    /// `receive_maximum` (MQTT 5.0) [MQTT-3.3.4-9].
    ReceiveMaximum,
    /// `maximum_packet_size` (MQTT 5.0) [MQTT-3.1.2-24].
    MaximumPacketSize,
    /// `topic_aliases` (MQTT 5.0).
    TopicAliases,
    /// `message_properties` (MQTT 5.0).
    MessageProperties,
    /// `request_response` (MQTT 5.0).
    RequestResponse,
    /// `retain_as_published` (MQTT 5.0) [MQTT-3.3.1-12, MQTT-3.3.1-13].
    RetainAsPublished,
    /// `maximum_qos` (MQTT 5.0) [MQTT-3.2.2-9, MQTT-3.2.2-11].
    MaximumQos,
}

impl Guarantee {
    /// Every guarantee, in report order.
    pub const ALL: [Guarantee; 20] = [
        Guarantee::Qos0MaxDuplicates,
        Guarantee::Qos1AtLeastOnce,
        Guarantee::Qos2ExactlyOnce,
        Guarantee::Ordering,
        Guarantee::Wills,
        Guarantee::Retained,
        Guarantee::Liveness,
        Guarantee::ExpectedLoss,
        Guarantee::SharedSubscriptions,
        Guarantee::SharedRedistribution,
        Guarantee::NoLocal,
        Guarantee::Sessions,
        Guarantee::MessageExpiry,
        Guarantee::ReceiveMaximum,
        Guarantee::MaximumPacketSize,
        Guarantee::TopicAliases,
        Guarantee::MessageProperties,
        Guarantee::RequestResponse,
        Guarantee::RetainAsPublished,
        Guarantee::MaximumQos,
    ];

    /// The width of the name column in text forms: the longest name (`shared_redistribution`).
    pub const NAME_WIDTH: usize = {
        let mut widest = 0;
        let mut i = 0;
        while i < Guarantee::ALL.len() {
            let n = Guarantee::ALL[i].name().len();
            if n > widest {
                widest = n;
            }
            i += 1;
        }
        widest
    };

    /// The field name in the scenario's `expect:` section.
    pub const fn name(self) -> &'static str {
        match self {
            Guarantee::Qos0MaxDuplicates => "qos0_max_duplicates",
            Guarantee::Qos1AtLeastOnce => "qos1_at_least_once",
            Guarantee::Qos2ExactlyOnce => "qos2_exactly_once",
            Guarantee::Ordering => "ordering",
            Guarantee::Wills => "wills",
            Guarantee::Retained => "retained",
            Guarantee::Liveness => "liveness",
            Guarantee::ExpectedLoss => "expected_loss",
            Guarantee::SharedSubscriptions => "shared_subscriptions",
            Guarantee::SharedRedistribution => "shared_redistribution",
            Guarantee::NoLocal => "no_local",
            Guarantee::Sessions => "sessions",
            Guarantee::MessageExpiry => "message_expiry",
            Guarantee::ReceiveMaximum => "receive_maximum",
            Guarantee::MaximumPacketSize => "maximum_packet_size",
            Guarantee::TopicAliases => "topic_aliases",
            Guarantee::MessageProperties => "message_properties",
            Guarantee::RequestResponse => "request_response",
            Guarantee::RetainAsPublished => "retain_as_published",
            Guarantee::MaximumQos => "maximum_qos",
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
    /// It was asked for, but the run gave it nothing to judge (no message at that QoS, no
    /// connection of a device with a Will, ...): not a pass.
    NotExercised {
        /// What was missing.
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

/// Counts for one QoS level. Messages (`published`, `accepted`) count by the QoS they were
/// published with; pairs by their *effective* QoS, the lower of the publish QoS and the QoS
/// granted to the subscription, which is what the guarantees and the loss bounds judge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QosCounts {
    /// Messages the applications published (Wills: published by the broker).
    pub published: u64,
    /// Of those, messages the broker accepted at least once.
    pub accepted: u64,
    /// (message, subscriber) pairs: a matching subscription existed when the broker accepted
    /// the message (for one never accepted: when it was published).
    pub pairs: u64,
    /// Pairs delivered: the subscriber received at least one copy (forwarded, or sent with
    /// RETAIN=1 on a subscription). Wills count; retained copies to subscribers that were not
    /// owed the message do not.
    pub delivered: u64,
    /// Copies forwarded beyond the first, over all pairs.
    pub duplicates: u64,
    /// Undelivered pairs whose reason is an allowed loss.
    pub allowed_losses: u64,
    /// Undelivered pairs with no reason the standard accepts (violations at QoS 1 and 2).
    pub lost: u64,
    /// Undelivered pairs the guarantee did not, or not yet, cover.
    pub exempt: u64,
    /// Undelivered pairs per reason (the three classes above, split).
    pub reasons: BTreeMap<LossReason, u64>,
}

impl QosCounts {
    /// Pairs not delivered, whatever the reason.
    pub fn undelivered(&self) -> u64 {
        self.allowed_losses + self.lost + self.exempt
    }

    /// The fraction of pairs not delivered, leaving out the pairs of `excluding`.
    pub fn undelivered_ratio(&self, excluding: &[LossReason]) -> f64 {
        let left_out: u64 =
            excluding.iter().map(|r| self.reasons.get(r).copied().unwrap_or(0)).sum();
        let undelivered = self.undelivered().saturating_sub(left_out);
        let total = self.delivered + undelivered;
        if total == 0 { 0.0 } else { undelivered as f64 / total as f64 }
    }

    /// Counts one undelivered pair.
    pub(crate) fn add_undelivered(&mut self, reason: LossReason) {
        match reason.class() {
            LossClass::AllowedLoss => self.allowed_losses += 1,
            LossClass::Exempt => self.exempt += 1,
            LossClass::Lost => self.lost += 1,
        }
        *self.reasons.entry(reason).or_default() += 1;
    }
}

/// A (message, subscriber) pair that was not delivered, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Undelivered {
    /// The message.
    pub message: MessageRef,
    /// The subscriber.
    pub subscriber: String,
    /// The effective QoS of the pair.
    pub qos: u8,
    /// Why it was not delivered.
    pub reason: LossReason,
    /// The reason's class: `allowed-loss`, `exempt` or `lost`.
    pub class: LossClass,
    /// The trace's evidence for the reason, in words.
    pub detail: String,
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
    /// Every pair not delivered, with its reason, in message order.
    pub undelivered: Vec<Undelivered>,
    /// What protocol situations the run went through.
    pub coverage: Coverage,
    /// Per effective QoS, the latency of each delivered pair: from the publish (a Will: from its
    /// publication) to the first copy, in microseconds. The same pairs `counts` calls
    /// delivered.
    #[serde(skip)]
    pub latencies: [Vec<u64>; 3],
}

impl Verdict {
    /// Whether any expectation failed.
    pub fn failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.status == Status::Fail)
    }

    /// The expectations asked for that had nothing to judge, with what was missing.
    pub fn not_exercised(&self) -> Vec<(Guarantee, &str)> {
        self.outcomes
            .iter()
            .filter_map(|o| match &o.status {
                Status::NotExercised { reason } => Some((o.guarantee, reason.as_str())),
                _ => None,
            })
            .collect()
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
                Status::NotExercised { reason } => format!("NOT EXERCISED ({reason})"),
            };
            let _ =
                writeln!(out, "  {:<w$} {status}", o.guarantee.name(), w = Guarantee::NAME_WIDTH);
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
            "  counts (messages by publish QoS; pairs by effective QoS; a pair is delivered when \
             it got a copy):"
        );
        let _ = writeln!(
            out,
            "    qos  published accepted |    pairs delivered duplicates | allowed-loss exempt lost"
        );
        for (q, c) in self.counts.iter().enumerate() {
            let _ = writeln!(
                out,
                "    q{q}   {:>9} {:>8} | {:>8} {:>9} {:>10} | {:>12} {:>6} {:>4}",
                c.published,
                c.accepted,
                c.pairs,
                c.delivered,
                c.duplicates,
                c.allowed_losses,
                c.exempt,
                c.lost,
            );
        }
        let reasons = self.reason_lines();
        if !reasons.is_empty() {
            let _ = writeln!(out, "  undelivered pairs by reason:");
            for line in reasons {
                let _ = writeln!(out, "    {line}");
            }
            let n = self.undelivered.len();
            let shown = n.min(MAX_UNDELIVERED_LISTED);
            let _ = writeln!(
                out,
                "  undelivered pairs ({}{n}; all in verdict.json):",
                if shown < n { format!("first {shown} of ") } else { String::new() }
            );
            for u in &self.undelivered[..shown] {
                let _ = writeln!(out, "    {}", u.line());
            }
        }
        let _ = writeln!(out, "  coverage: {}", self.coverage.summary());
        if self.unattributed > 0 {
            let _ = writeln!(out, "  unattributed trace facts: {}", self.unattributed);
        }
        out
    }

    /// One line per reason that occurred: `in-flight-at-end (exempt): q1 3, q2 1`.
    pub fn reason_lines(&self) -> Vec<String> {
        LossReason::ALL
            .iter()
            .filter_map(|&r| {
                let per_qos: Vec<String> = self
                    .counts
                    .iter()
                    .enumerate()
                    .filter_map(|(q, c)| c.reasons.get(&r).map(|n| format!("q{q} {n}")))
                    .collect();
                (!per_qos.is_empty()).then(|| format!("{}: {}", r.labelled(), per_qos.join(", ")))
            })
            .collect()
    }
}

impl Undelivered {
    /// One line: message, subscriber, reason and detail.
    pub fn line(&self) -> String {
        format!(
            "{} ({} on {}) -> {} q{}: {}: {}",
            self.message.id,
            self.message.publisher,
            self.message.topic,
            self.subscriber,
            self.qos,
            self.reason.labelled(),
            self.detail
        )
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

    /// The outcome; a guarantee without violations that had nothing to judge (`missing`
    /// says what) is "not exercised", not a pass.
    pub(crate) fn into_outcome(self, missing: Option<String>) -> Outcome {
        let status = match missing {
            _ if self.count > 0 => Status::Fail,
            Some(reason) => Status::NotExercised { reason },
            None => Status::Pass,
        };
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
