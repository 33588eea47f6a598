//! The delivery guarantees per (message, subscriber) pair: QoS 0 at most once (up to the
//! allowed duplicates), QoS 1 at least once, QoS 2 exactly once, at the effective QoS
//! min(publish QoS, granted QoS); the loss and duplicate counts; the expected-loss bounds.
//!
//! A pair is owed when the subscriber had a matching subscription at the moment the broker
//! accepted the message (for a Will: published it). An owed QoS 1 or 2 pair that was never
//! delivered is a violation unless the loss was allowed or the guarantee's conditions failed:
//! - the broker dropped the copy from a bounded queue or by its offline policy (allowed loss);
//! - the subscriber's session ended before delivery: a clean session that disconnected, a
//!   session the broker no longer had, a volatile broker restart (exempt);
//! - the subscriber was offline at the end, or its last connection did not have an undisturbed
//!   stretch of `settle` after the acceptance (exempt: still in flight).
//!
//! Duplicates are measured against acceptances: a publisher that resends a message whose
//! PUBACK or PUBREC was lost makes the broker accept it twice, and each acceptance is a new
//! message to the broker. QoS 2 deliveries beyond the number of acceptances are a violation,
//! unless the subscriber device lost its client state (power loss, crash, reboot) in between.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{Facts, Key};
use super::verdict::{Findings, Guarantee, QosCounts, Violation};
use crate::scenario::Expectations;

/// The findings of the delivery rules and the counts.
pub(crate) struct DeliveryFindings {
    pub qos0: Findings,
    pub qos1: Findings,
    pub qos2: Findings,
    /// Undelivered Will copies at QoS 1 or 2.
    pub wills: Findings,
    pub counts: [QosCounts; 3],
}

impl DeliveryFindings {
    /// Files a violation under the guarantee of its effective QoS (Wills under `wills`).
    fn push(&mut self, key: &Key<'_>, effective: u8, mut violation: Violation) {
        let findings = match (key, effective) {
            (Key::Will(_), _) => &mut self.wills,
            (_, 0) => &mut self.qos0,
            (_, 1) => &mut self.qos1,
            _ => &mut self.qos2,
        };
        violation.guarantee = findings.guarantee;
        findings.push(violation);
    }
}

pub(crate) fn check(facts: &Facts<'_>, expect: &Expectations, settle_us: u64) -> DeliveryFindings {
    let mut out = DeliveryFindings {
        qos0: Findings::new(Guarantee::Qos0MaxDuplicates),
        qos1: Findings::new(Guarantee::Qos1AtLeastOnce),
        qos2: Findings::new(Guarantee::Qos2ExactlyOnce),
        wills: Findings::new(Guarantee::Wills),
        counts: [QosCounts::default(); 3],
    };
    let mut copies: BTreeMap<(&Key<'_>, &str), Vec<usize>> = BTreeMap::new();
    for (i, d) in facts.deliveries.iter().enumerate() {
        if let Some(key) = &d.key {
            copies.entry((key, d.sub)).or_default().push(i);
        }
    }
    for m in facts.messages.values() {
        out.counts[usize::from(m.qos.min(2))].published += 1;
    }
    let mut accepted: BTreeSet<&Key<'_>> = BTreeSet::new();
    for a in &facts.accepts {
        if let Some(key) = &a.key
            && accepted.insert(key)
        {
            let q = usize::from(a.qos.min(2));
            if matches!(key, Key::Will(_)) {
                out.counts[q].published += 1;
            }
            out.counts[q].accepted += 1;
        }
    }

    for ((key, sub), owes) in &facts.owed {
        let publish_qos = match key {
            Key::App(id) => facts.messages.get(id).map_or(0, |m| m.qos),
            Key::Will(a) => facts.accepts[*a].qos,
        };
        let q = usize::from(publish_qos.min(2));
        out.counts[q].pairs += 1;
        let effective =
            owes.iter().map(|o| facts.accepts[o.accept].qos.min(o.granted)).max().unwrap_or(0);
        let all = copies.get(&(key, *sub)).map_or(&[][..], Vec::as_slice);
        let routed: Vec<usize> =
            all.iter().copied().filter(|&i| !facts.deliveries[i].retain).collect();
        let mut lines: Vec<usize> = owes.iter().map(|o| facts.accepts[o.accept].idx).collect();
        lines.extend(all.iter().map(|&i| facts.deliveries[i].idx));
        if let Some(&wrong) = routed.iter().find(|&&i| facts.deliveries[i].qos != effective) {
            let violation = Violation {
                guarantee: Guarantee::Qos0MaxDuplicates,
                message: Some(facts.message_ref(key)),
                device: Some((*sub).to_owned()),
                expected: format!(
                    "delivered at QoS {effective}, the lower of the publish QoS and the granted \
                     QoS [MQTT-3.8.4-6]"
                ),
                observed: format!("a copy at QoS {}", facts.deliveries[wrong].qos),
                trace: facts.quote(&lines),
            };
            out.push(key, effective, violation);
        }
        if !all.is_empty() {
            out.counts[q].delivered += 1;
            out.counts[q].duplicates += routed.len().saturating_sub(1) as u64;
            let acceptances = owes.len();
            if effective == 0
                && let Some(max) = expect.qos0_max_duplicates
                && routed.len() > acceptances + max as usize
            {
                out.qos0.push(Violation {
                    guarantee: Guarantee::Qos0MaxDuplicates,
                    message: Some(facts.message_ref(key)),
                    device: Some((*sub).to_owned()),
                    expected: format!(
                        "at most {} cop{} at QoS 0 (accepted {acceptances} time(s), {max} duplicate(s) allowed)",
                        acceptances + max as usize,
                        if acceptances + max as usize == 1 { "y" } else { "ies" }
                    ),
                    observed: format!("{} copies delivered", routed.len()),
                    trace: facts.quote(&lines),
                });
            }
            if effective == 2 && routed.len() > acceptances {
                let first = facts.deliveries[routed[0]].t_us;
                let last = facts.deliveries[routed[routed.len() - 1]].t_us;
                if !facts.lost_state_between(sub, first, last) {
                    out.qos2.push(Violation {
                        guarantee: Guarantee::Qos2ExactlyOnce,
                        message: Some(facts.message_ref(key)),
                        device: Some((*sub).to_owned()),
                        expected: format!(
                            "exactly once at QoS 2 per acceptance (accepted {acceptances} time(s)) [MQTT-4.3.3]"
                        ),
                        observed: format!("{} copies delivered", routed.len()),
                        trace: facts.quote(&lines),
                    });
                }
            }
            continue;
        }
        if owes.iter().any(|o| facts.broker_drops.contains_key(&(o.accept, *sub))) {
            out.counts[q].allowed_losses += 1;
            continue;
        }
        if effective == 0 {
            out.counts[q].lost += 1;
            continue;
        }
        let last = owes.last().expect("an owed pair has an acceptance");
        let accept = &facts.accepts[last.accept];
        if facts.epochs[last.epoch].end_us.is_some()
            || !facts.settled_after(sub, accept.t_us, settle_us)
        {
            out.counts[q].exempt += 1;
            continue;
        }
        out.counts[q].lost += 1;
        if let Some(span) = facts.spans.get(sub).and_then(|s| s.last()) {
            lines.push(span.start_idx);
        }
        let violation = Violation {
            guarantee: Guarantee::Qos1AtLeastOnce,
            message: Some(facts.message_ref(key)),
            device: Some((*sub).to_owned()),
            expected: format!(
                "delivered at least once at QoS {effective}: the subscription existed when the \
                 broker accepted it, the session lasted, and the subscriber was online for at \
                 least {}s afterwards",
                settle_us / 1_000_000
            ),
            observed: "never delivered, and no drop reported".to_owned(),
            trace: facts.quote(&lines),
        };
        out.push(key, effective, violation);
    }

    // Messages the broker never accepted, per subscriber that would have received them: given
    // up by the publisher (its queue, or its state lost to a power loss, crash or reboot) is an
    // allowed loss; still with a publisher whose link or connection was disturbed up to the end
    // is in flight; only a publisher that then had a settled, undisturbed connection and still
    // never got it accepted has lost it.
    for (id, m) in &facts.messages {
        if accepted.contains(&Key::App(id)) {
            continue;
        }
        let counts = &mut out.counts[usize::from(m.qos.min(2))];
        let published_at = facts.records[m.idx].t_us;
        let gave_up = facts.device_drops.contains_key(id)
            || facts.lost_state_between(m.publisher, published_at, facts.end_us);
        let settled = facts.settled_after(m.publisher, published_at, settle_us);
        for _ in &m.candidates {
            counts.pairs += 1;
            if gave_up {
                counts.allowed_losses += 1;
            } else if !settled {
                counts.exempt += 1;
            } else {
                counts.lost += 1;
            }
        }
    }
    out
}

/// Evaluates the `expected_loss` bounds against the counts.
pub(crate) fn expected_loss(counts: &[QosCounts; 3], expect: &Expectations) -> Option<Findings> {
    let bounds = expect.expected_loss?;
    let mut findings = Findings::new(Guarantee::ExpectedLoss);
    for (q, bound) in [bounds.qos0, bounds.qos1, bounds.qos2].into_iter().enumerate() {
        let Some(bound) = bound else { continue };
        let c = &counts[q];
        let ratio = c.loss_ratio();
        let lost = c.allowed_losses + c.lost;
        let text = format!(
            "q{q}: lost {lost} of {} pairs ({:.3}%), bound {}",
            c.delivered + lost,
            ratio * 100.0,
            bound_text(bound)
        );
        if bound.holds(ratio) {
            findings.notes.push(format!("{text}: holds"));
        } else {
            findings.push(Violation {
                guarantee: Guarantee::ExpectedLoss,
                message: None,
                device: None,
                expected: format!("QoS {q} loss {}", bound_text(bound)),
                observed: format!(
                    "{:.3}% ({} allowed drops, {} other losses, {} delivered)",
                    ratio * 100.0,
                    c.allowed_losses,
                    c.lost,
                    c.delivered
                ),
                trace: Vec::new(),
            });
        }
    }
    Some(findings)
}

fn bound_text(bound: crate::scenario::Bound) -> String {
    use crate::scenario::BoundOp;
    let op = match bound.op {
        BoundOp::Less => "<",
        BoundOp::AtMost => "<=",
        BoundOp::Equal => "=",
        BoundOp::AtLeast => ">=",
        BoundOp::Greater => ">",
    };
    format!("{op} {}%", bound.value.get() * 100.0)
}
