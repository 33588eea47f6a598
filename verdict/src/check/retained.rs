//! Retained messages (MQTT 3.1.1 §3.3.1.3, MQTT 5.0 §3.3.1.3). Ids below are 3.1.1's, with
//! 5.0's after a slash where it numbers the rule differently (`cite`); a violation cites the
//! subscriber's version.
//!
//! The oracle keeps its own retained store from the trace: the last retained message accepted
//! on each topic replaces the one before [MQTT-3.3.1-5], a zero-byte retained message (an
//! application's "clear", or a retained Will with an empty payload) clears it [MQTT-3.3.1-10 /
//! MQTT-3.3.1-6], a volatile broker restart forgets them all. Then:
//! - a copy with RETAIN=1 and DUP=0 answers one subscription of the subscriber's session made
//!   before it with a matching filter, and must be the message retained on its topic at that
//!   moment [MQTT-3.3.1-5]; each subscription gets each of its retained messages once
//!   [MQTT-3.3.1-6 / MQTT-3.3.1-9], so a copy with no subscription left to answer is a
//!   duplicate (a DUP=1 resend may repeat any earlier subscription's copy of the same session);
//! - every retained message matching a new subscription at effective QoS 1 or 2 must reach the
//!   subscriber once the broker has had its chance (see `due`) [MQTT-3.3.1-6 / MQTT-3.3.1-9,
//!   and MQTT-3.3.1-10 for Retain Handling 1];
//! - the forwarded copies of a retained clear are owed like any message (see `delivery`);
//! - MQTT 5.0: a subscription with Retain Handling 2, or 1 when the session already had it,
//!   gets no retained message [MQTT-3.3.1-10, MQTT-3.3.1-11]: a RETAIN=1 copy that answers
//!   no other subscription is a violation, and nothing is owed to it; a retained message whose
//!   Message Expiry Interval may have run out before the broker had its chance is owed no more
//!   (`expiry` judges a copy sent after it did).
//!
//! The copies judged here are those sent because a subscription was made
//! (`Delivery::on_subscribe`): for a 3.1.1 device every RETAIN=1 copy, for a 5.0 one not the
//! forwarded copies that Retain As Published leaves RETAIN=1 (`retain_flag` judges those).

use std::collections::BTreeMap;

use super::cite;
use super::due::Due;
use super::expiry;
use super::facts::{Delivery, Facts, Key, SubEvent};
use super::verdict::{Findings, Guarantee, Violation};
use mqttsim_codec::topic;

/// The retained findings, and whether there was anything to judge.
pub(crate) struct RetainedFindings {
    pub findings: Findings,
    pub exercised: bool,
}

pub(crate) fn check(
    facts: &Facts<'_>,
    due: &Due<'_, '_>,
    tolerance_us: u64,
    settle_us: u64,
) -> RetainedFindings {
    let mut findings = Findings::new(Guarantee::Retained);
    let describe = |key: &Option<Key>| match key {
        Some(Key::App(id)) => (*id).to_owned(),
        Some(Key::Will(a)) => format!("the Will of {}", facts.accepts[*a].publisher),
        None => "an unidentified message".to_owned(),
    };
    let mut subscribes: BTreeMap<&str, Vec<(usize, &SubEvent)>> = BTreeMap::new();
    for (i, s) in facts.subscribes.iter().enumerate() {
        subscribes.entry(s.sub.as_str()).or_default().push((i, s));
    }
    let mut retained_copies: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for d in facts.deliveries.iter().filter(|d| d.on_subscribe) {
        retained_copies.entry(d.sub.as_str()).or_default().push(d);
    }
    let exercised = facts.subscribes.iter().any(|s| s.snapshot.iter().any(|(_, k)| k.is_some()))
        || !retained_copies.is_empty();
    // (subscription, topic): its retained copy arrived.
    let mut answered: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for d in facts.deliveries.iter().filter(|d| d.on_subscribe) {
        let earlier: Vec<(usize, &SubEvent)> = subscribes
            .get(d.sub.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|(_, s)| s.idx < d.idx && topic::matches(s.filter, d.topic))
            .collect();
        let fits = |s: &SubEvent| {
            s.sends_retained()
                && s.snapshot.iter().any(|(t, k)| t == &d.topic && (k.is_none() || *k == d.key))
        };
        let same_session =
            |s: &SubEvent| s.epoch.is_none() || d.epoch.is_none() || s.epoch == d.epoch;
        if d.dup {
            if earlier.iter().any(|(_, s)| fits(s)) {
                continue;
            }
        } else {
            let fitting: Vec<usize> = earlier
                .iter()
                .filter(|(_, s)| fits(s) && same_session(s))
                .map(|(i, _)| *i)
                .collect();
            if let Some(&free) =
                fitting.iter().rev().find(|&&i| !answered.contains_key(&(i, d.topic)))
            {
                answered.insert((free, d.topic), d.idx);
                continue;
            }
            // A subscription made again without retained messages (Retain Handling 1 or 2)
            // owes nothing: a copy after it that answers no earlier one breaks its handling.
            let withheld =
                earlier.last().is_some_and(|(_, s)| !s.sends_retained() && same_session(s));
            if let Some(&used) = fitting.last().filter(|_| !withheld) {
                let s = &facts.subscribes[used];
                let first = answered[&(used, d.topic)];
                let mut lines = vec![s.idx, first, d.idx];
                if let Some(key) = &d.key {
                    lines.extend(facts.first_accept(key).map(|a| a.idx));
                }
                findings.push(Violation {
                    guarantee: Guarantee::Retained,
                    message: d.key.as_ref().map(|k| facts.message_ref(k)),
                    device: Some(d.sub.to_string()),
                    expected: format!(
                        "the message retained on {} sent once for the subscription to {} at \
                         {:.3}s [{}]",
                        d.topic,
                        s.filter,
                        s.t_us as f64 / 1e6,
                        cite::retained_on_subscribe(facts.is_v5(d.sub.as_str()), s.retain_handling)
                    ),
                    observed: format!(
                        "{} received again with RETAIN=1 and DUP=0 at {:.3}s, with no other \
                         subscription to answer",
                        describe(&d.key),
                        d.t_us as f64 / 1e6
                    ),
                    trace: facts.quote(&lines),
                });
                continue;
            }
        }
        let candidates: Vec<&SubEvent> = if d.dup {
            earlier.iter().map(|(_, s)| *s).collect()
        } else {
            earlier.last().map(|(_, s)| *s).into_iter().collect()
        };
        let expected = match candidates.last() {
            Some(s) if !s.sends_retained() => {
                let why = if s.retain_handling == 1 {
                    "Retain Handling 1 (send if new) on a subscription that already existed \
                     [MQTT-3.3.1-10]"
                } else {
                    "Retain Handling 2 (never) [MQTT-3.3.1-11]"
                };
                format!(
                    "no retained message for the subscription to {} at {:.3}s: {why}",
                    s.filter,
                    s.t_us as f64 / 1e6
                )
            }
            Some(s) => match s.snapshot.iter().find(|(t, _)| t == &d.topic) {
                Some((_, k)) => format!(
                    "the message retained on {} when it subscribed: {} [MQTT-3.3.1-5]",
                    d.topic,
                    describe(k)
                ),
                None => format!(
                    "no retained message: none was retained on {} when it subscribed",
                    d.topic
                ),
            },
            None => "no RETAIN=1 copy without a matching subscription".to_owned(),
        };
        let mut lines: Vec<usize> = candidates.iter().map(|s| s.idx).collect();
        lines.push(d.idx);
        if let Some(key) = &d.key {
            lines.extend(facts.first_accept(key).map(|a| a.idx));
        }
        findings.push(Violation {
            guarantee: Guarantee::Retained,
            message: d.key.as_ref().map(|k| facts.message_ref(k)),
            device: Some(d.sub.to_string()),
            expected,
            observed: format!("received {} with RETAIN=1", describe(&d.key)),
            trace: facts.quote(&lines),
        });
    }
    // (subscriber, message) → its last RETAIN=1 copy.
    let mut last_copy: BTreeMap<(&str, &Key), usize> = BTreeMap::new();
    for d in facts.deliveries.iter().filter(|d| d.on_subscribe) {
        if let Some(key) = &d.key {
            last_copy.insert((d.sub.as_str(), key), d.idx);
        }
    }
    for s in facts.subscribes.iter().filter(|s| s.sends_retained()) {
        let Some(epoch) = s.epoch else { continue };
        for (t, key) in &s.snapshot {
            let Some(key) = key else { continue };
            let Some(accept) = facts.first_accept(key) else { continue };
            if accept.qos.min(s.granted) == 0 {
                // At QoS 0 the copy may be lost like any QoS 0 message.
                continue;
            }
            if last_copy.get(&(s.sub.as_str(), key)).is_some_and(|&copy| copy > s.idx) {
                continue;
            }
            let Some(evidence) = due.evidence(s.sub, epoch, s.t_us, None) else { continue };
            // A retained message that may have expired before the broker had its chance is
            // owed no more (MQTT 5.0 §3.3.2.3.3).
            let due_us = expiry::evidence_moment(facts, evidence, settle_us);
            if expiry::retained_may_have_expired(facts, key, s.t_us, due_us) {
                continue;
            }
            let mut lines = vec![s.idx, accept.idx];
            lines.extend(evidence.record(facts));
            findings.push(Violation {
                guarantee: Guarantee::Retained,
                message: Some(facts.message_ref(key)),
                device: Some(s.sub.to_string()),
                expected: format!(
                    "the retained message on {t} sent on subscription to {} [{}]",
                    s.filter,
                    cite::retained_on_subscribe(facts.is_v5(s.sub.as_str()), s.retain_handling)
                ),
                observed: format!(
                    "never received with RETAIN=1; yet {}",
                    evidence.describe(facts, tolerance_us, settle_us)
                ),
                trace: facts.quote(&lines),
            });
        }
    }
    RetainedFindings { findings, exercised }
}
