//! The delivery guarantees per (message, subscriber) pair: QoS 0 at most once (up to the
//! allowed duplicates), QoS 1 at least once, QoS 2 exactly once, at the effective QoS
//! min(publish QoS, granted QoS); every undelivered pair's reason; the counts; the latencies;
//! the expected-loss bounds.
//!
//! A pair is owed when the subscriber had a matching subscription at the moment the broker
//! accepted the message (for a Will: published it). An owed pair that was never delivered gets
//! one reason, checked in this order:
//! - the broker reported dropping the copy (`broker-queue-full`, `broker-qos0-offline`);
//! - its effective QoS is 0 (`at-most-once`);
//! - the trace shows the broker had its chance to deliver it in the subscriber's session (see
//!   `due`): `lost`, a violation;
//! - the subscriber's session ended first (`session-ended`);
//! - the session still held it at the end, the subscriber offline (`subscriber-away`) or
//!   online (`in-flight-at-end`).
//!
//! A message the broker never accepted is owed nowhere, but its would-be pairs (subscribers
//! matching when it was published) are counted with the publisher's reason:
//! `publisher-dropped`, `publisher-lost-state`, `at-most-once` for QoS 0, else
//! `in-flight-at-end` (its publisher still holds it).
//!
//! Duplicates are measured against acceptances: a publisher that resends a message whose
//! PUBACK or PUBREC was lost makes the broker accept it twice, and each acceptance is a new
//! message to the broker. QoS 2 deliveries beyond the number of acceptances are a violation,
//! unless the subscriber device lost its client state (power loss, crash, reboot) in between.
//! A copy with the packet identifier of an earlier copy of the same message is a re-delivery
//! and must have DUP=1 [MQTT-3.3.1-1].
//!
//! Violations go under the guarantee of the pair's effective QoS; those of a Will's copies
//! under `wills`, those of a zero-byte retained message's (a retained clear) under `retained`.

use std::collections::{BTreeMap, BTreeSet};

use super::cite;
use super::due::{Due, Stream};
use super::expiry;
use super::facts::{Facts, Key};
use super::name::Name;
use super::verdict::{Findings, Guarantee, LossReason, QosCounts, Undelivered, Violation};
use crate::scenario::Expectations;

/// The findings of the delivery rules and the counts.
pub(crate) struct DeliveryFindings {
    pub qos0: Findings,
    pub qos1: Findings,
    pub qos2: Findings,
    /// Violations of Wills' copies.
    pub wills: Findings,
    /// Violations of retained clears' copies [MQTT-3.3.1-10] (5.0: [MQTT-3.3.1-6]).
    pub retained: Findings,
    pub counts: [QosCounts; 3],
    pub undelivered: Vec<Undelivered>,
    pub latencies: [Vec<u64>; 3],
    /// Pairs of application messages (not Wills) per effective QoS, and how many were
    /// delivered: what the QoS guarantees have to judge.
    pub app_pairs: [u64; 3],
    pub app_delivered: [u64; 3],
    /// Pairs of retained clears.
    pub clear_pairs: u64,
}

impl DeliveryFindings {
    /// Files a violation under the guarantee it concerns.
    fn push(&mut self, facts: &Facts<'_>, key: &Key<'_>, effective: u8, mut violation: Violation) {
        let findings = match (key, effective) {
            (Key::Will(_), _) => &mut self.wills,
            (Key::App(id), _) if is_clear(facts, *id) => &mut self.retained,
            (_, 0) => &mut self.qos0,
            (_, 1) => &mut self.qos1,
            _ => &mut self.qos2,
        };
        violation.guarantee = findings.guarantee;
        findings.push(violation);
    }
}

/// Whether a message is a zero-byte retained message (a retained clear).
fn is_clear(facts: &Facts<'_>, id: Name<'_>) -> bool {
    facts.messages.get(&id).is_some_and(|m| m.empty && m.retain)
}

pub(crate) fn check(
    facts: &Facts<'_>,
    expect: &Expectations,
    due: &Due<'_, '_>,
    tolerance_us: u64,
    settle_us: u64,
) -> DeliveryFindings {
    let mut out = DeliveryFindings {
        qos0: Findings::new(Guarantee::Qos0MaxDuplicates),
        qos1: Findings::new(Guarantee::Qos1AtLeastOnce),
        qos2: Findings::new(Guarantee::Qos2ExactlyOnce),
        wills: Findings::new(Guarantee::Wills),
        retained: Findings::new(Guarantee::Retained),
        counts: Default::default(),
        undelivered: Vec::new(),
        latencies: Default::default(),
        app_pairs: [0; 3],
        app_delivered: [0; 3],
        clear_pairs: 0,
    };
    let mut copies: BTreeMap<(&Key<'_>, Name<'_>), Vec<usize>> = BTreeMap::new();
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
        let effective =
            owes.iter().map(|o| facts.accepts[o.accept].qos.min(o.granted)).max().unwrap_or(0);
        let q = usize::from(effective.min(2));
        out.counts[q].pairs += 1;
        let will = matches!(key, Key::Will(_));
        if !will {
            out.app_pairs[q] += 1;
        }
        if matches!(key, Key::App(id) if is_clear(facts, *id)) {
            out.clear_pairs += 1;
        }
        let all = copies.get(&(key, *sub)).map_or(&[][..], Vec::as_slice);
        let routed: Vec<usize> =
            all.iter().copied().filter(|&i| !facts.deliveries[i].on_subscribe).collect();
        let mut lines: Vec<usize> = owes.iter().map(|o| facts.accepts[o.accept].idx).collect();
        lines.extend(all.iter().map(|&i| facts.deliveries[i].idx));
        if let Some(&wrong) = routed.iter().find(|&&i| facts.deliveries[i].qos != effective) {
            let violation = Violation {
                guarantee: Guarantee::Qos0MaxDuplicates,
                message: Some(facts.message_ref(key)),
                device: Some((*sub).to_owned()),
                expected: format!(
                    "delivered at QoS {effective}, the lower of the publish QoS and the granted \
                     QoS [{}]",
                    cite::effective_qos(facts.is_v5(sub))
                ),
                observed: format!("a copy at QoS {}", facts.deliveries[wrong].qos),
                trace: facts.quote(&lines),
            };
            out.push(facts, key, effective, violation);
        }
        // A re-delivery carries DUP=1: a copy with DUP=0 beyond one per acceptance that has
        // the packet identifier of an earlier copy is a re-delivery without it.
        let mut pids: BTreeSet<u16> = BTreeSet::new();
        let mut fresh = 0;
        for &i in &routed {
            let d = &facts.deliveries[i];
            if d.qos == 0 || d.dup {
                pids.insert(d.pid);
                continue;
            }
            fresh += 1;
            if !pids.insert(d.pid) && fresh > owes.len() {
                let violation = Violation {
                    guarantee: Guarantee::Qos1AtLeastOnce,
                    message: Some(facts.message_ref(key)),
                    device: Some((*sub).to_owned()),
                    expected: format!(
                        "a re-delivery of packet identifier {} sent with DUP=1 [MQTT-3.3.1-1]",
                        d.pid
                    ),
                    observed: format!(
                        "a second copy with pid={} and DUP=0 at {:.3}s",
                        d.pid,
                        d.t_us as f64 / 1e6
                    ),
                    trace: facts.quote(&lines),
                };
                out.push(facts, key, effective, violation);
                break;
            }
        }
        if let Some(&first) = all.first() {
            out.counts[q].delivered += 1;
            if !will {
                out.app_delivered[q] += 1;
            }
            let published = match key {
                Key::App(id) => facts.messages.get(id).map(|m| facts.records[m.idx].t_us),
                Key::Will(a) => Some(facts.accepts[*a].t_us),
            };
            if let Some(published) = published {
                let latency = facts.deliveries[first].t_us.saturating_sub(published);
                out.latencies[q].push(latency);
            }
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
                if !facts.lost_state_between(*sub, first, last) {
                    let violation = Violation {
                        guarantee: Guarantee::Qos2ExactlyOnce,
                        message: Some(facts.message_ref(key)),
                        device: Some((*sub).to_owned()),
                        expected: format!(
                            "exactly once at QoS 2 per acceptance (accepted {acceptances} \
                             time(s)) [{}]",
                            cite::qos2_once(facts.is_v5(sub))
                        ),
                        observed: format!("{} copies delivered", routed.len()),
                        trace: facts.quote(&lines),
                    };
                    out.push(facts, key, effective, violation);
                }
            }
            continue;
        }

        // Not delivered: why?
        let drop = owes.iter().find_map(|o| facts.broker_drops.get(&(o.accept, *sub)));
        let last = owes.last().expect("an owed pair has an acceptance");
        let accept = &facts.accepts[last.accept];
        let epoch = &facts.epochs[last.epoch];
        // The broker's word that the message expired is judged by its expiry (`expiry`).
        let (drop, expired_drop) = match drop {
            Some(&d) if expiry::is_expiry_drop(facts, d) => {
                (None, expiry::dropped(facts, accept, d))
            }
            other => (other, None),
        };
        let (reason, detail) = if let Some(found) = expired_drop {
            found
        } else if let Some(&drop) = drop {
            let reason = match &facts.records[drop].event {
                crate::trace::Event::BrokerDropped { reason, .. } if reason == "qos0-offline" => {
                    LossReason::BrokerQos0Offline
                }
                // MQTT 5.0: the copy would not fit the subscriber's Maximum Packet Size
                // [MQTT-3.1.2-25].
                crate::trace::Event::BrokerDropped { reason, .. }
                    if reason == "packet-too-large" =>
                {
                    LossReason::TooLargeForSubscriber
                }
                _ => LossReason::BrokerQueueFull,
            };
            let at = facts.records[drop].t_us as f64 / 1e6;
            (reason, format!("the broker dropped its copy at {at:.3}s (trace line {})", drop + 1))
        } else if effective == 0 {
            let publish_qos = facts.accepts[last.accept].qos;
            if accept.t_us.saturating_add(tolerance_us) > facts.end_us {
                let at = accept.t_us as f64 / 1e6;
                (
                    LossReason::InFlightAtEnd,
                    format!("QoS 0, accepted at {at:.3}s, just before the end"),
                )
            } else if publish_qos > 0 {
                (
                    LossReason::AtMostOnce,
                    format!(
                        "effective QoS 0 (published at QoS {publish_qos}, granted QoS 0): sent at \
                         most once"
                    ),
                )
            } else {
                (LossReason::AtMostOnce, "QoS 0: sent at most once".to_owned())
            }
        } else {
            let first_accept = facts.accepts_of.get(key).and_then(|a| a.first()).copied();
            let stream = Stream {
                publisher: accept.publisher,
                topic: accept.topic,
                qos: effective,
                rank: first_accept.unwrap_or(last.accept),
            };
            let evidence = due.evidence(*sub, last.epoch, accept.t_us, Some(stream));
            let expired = expiry::undelivered(facts, accept, evidence, epoch.end_us, settle_us);
            match (expired, evidence) {
                (Some(found), _) => found,
                (None, Some(evidence)) => {
                    let text = evidence.describe(facts, tolerance_us, settle_us);
                    lines.extend(evidence.record(facts));
                    let how = if accept.implied {
                        format!(
                            "its publisher's acknowledgement at {:.3}s says the broker took it over \
                             [{}] (the broker reported no acceptance)",
                            accept.t_us as f64 / 1e6,
                            cite::acknowledged_ownership(facts.is_v5(&accept.publisher))
                        )
                    } else {
                        format!("the broker accepted it at {:.3}s", accept.t_us as f64 / 1e6)
                    };
                    let violation = Violation {
                        guarantee: Guarantee::Qos1AtLeastOnce,
                        message: Some(facts.message_ref(key)),
                        device: Some((*sub).to_owned()),
                        expected: format!(
                            "delivered at least once at QoS {effective}{}: the subscription \
                             existed when {how}, and the session lasted [{}]",
                            if is_clear_key(facts, key) {
                                format!(
                                    ", a zero-byte retained PUBLISH forwarded like any other \
                                     [{}]",
                                    cite::retained_clear(facts.is_v5(sub))
                                )
                            } else {
                                String::new()
                            },
                            cite::sender_keeps(facts.is_v5(sub), effective)
                        ),
                        observed: format!("never delivered, and no drop reported; yet {text}"),
                        trace: facts.quote(&lines),
                    };
                    out.push(facts, key, effective, violation);
                    (LossReason::Lost, text)
                }
                (None, None) if epoch.end_us.is_some() => {
                    let at = epoch.end_us.unwrap_or_default() as f64 / 1e6;
                    let cause = epoch.end_cause.unwrap_or("the session ended");
                    // A 5.0 session that expired has its own reason (see `sessions`).
                    let reason = match epoch.end_kind {
                        Some(super::facts::EndKind::Expired) => LossReason::SessionExpired,
                        _ => LossReason::SessionEnded,
                    };
                    (reason, format!("{cause} at {at:.3}s"))
                }
                (None, None)
                    if facts
                        .spans
                        .get(sub)
                        .and_then(|s| s.last())
                        .is_none_or(|s| s.end_us.is_some()) =>
                {
                    (
                        LossReason::SubscriberAway,
                        "its session held it, the subscriber offline at the end".to_owned(),
                    )
                }
                (None, None) => (
                    LossReason::InFlightAtEnd,
                    format!(
                        "accepted at {:.3}s; no sign since that the broker could deliver it",
                        accept.t_us as f64 / 1e6
                    ),
                ),
            }
        };
        out.counts[q].add_undelivered(reason);
        out.undelivered.push(Undelivered {
            message: facts.message_ref(key),
            subscriber: (*sub).to_owned(),
            qos: effective,
            reason,
            class: reason.class(),
            detail,
        });
    }

    // Messages the broker never accepted, per subscriber that would have received them.
    for (id, m) in &facts.messages {
        if accepted.contains(&Key::App(*id)) || m.candidates.is_empty() {
            continue;
        }
        let published_at = facts.records[m.idx].t_us;
        let (reason, detail) = if let Some(&(earlier, at)) = facts.swallowed.get(id) {
            let detail = format!(
                "its publisher lost its state at {:.3}s and reused the packet identifier of \
                 {earlier}, whose QoS 2 flow it had left open: the broker rightly took it for a \
                 resend [{}]",
                at as f64 / 1e6,
                cite::qos2_once(facts.is_v5(&m.publisher))
            );
            (LossReason::PublisherLostState, detail)
        } else if let Some(&drop) = facts.device_drops.get(id) {
            let why = match &facts.records[drop].event {
                crate::trace::Event::Dropped { reason, .. } => reason.as_str(),
                _ => "dropped",
            };
            match expiry::at_publisher(facts, m, Some(why)) {
                Some(found) => found,
                // Retain Available 0: the client may not send it with RETAIN=1 [MQTT-3.2.2-14].
                None if why == "unsupported 0x9A" => (
                    LossReason::PublisherDropped,
                    "its publisher gave it up (unsupported 0x9A): a retained message, and the \
                     broker's CONNACK said Retain Available 0"
                        .to_owned(),
                ),
                None => (LossReason::PublisherDropped, format!("its publisher dropped it ({why})")),
            }
        } else if facts.lost_state_between(m.publisher, published_at, facts.end_us) {
            (
                LossReason::PublisherLostState,
                "its publisher lost it with its memory (power loss, crash or reboot)".to_owned(),
            )
        } else if m.qos_sent == 0 {
            (LossReason::AtMostOnce, "QoS 0: the broker never received it".to_owned())
        } else if let Some(found) = expiry::at_publisher(facts, m, None) {
            found
        } else {
            let at = published_at as f64 / 1e6;
            let detail = format!("published at {at:.3}s; its publisher still held it at the end");
            (LossReason::InFlightAtEnd, detail)
        };
        for &(sub, _, granted) in &m.candidates {
            let effective = m.qos_sent.min(granted);
            let q = usize::from(effective.min(2));
            out.counts[q].pairs += 1;
            out.app_pairs[q] += 1;
            if m.empty && m.retain {
                out.clear_pairs += 1;
            }
            out.counts[q].add_undelivered(reason);
            out.undelivered.push(Undelivered {
                message: facts.message_ref(&Key::App(*id)),
                subscriber: sub.to_owned(),
                qos: effective,
                reason,
                class: reason.class(),
                detail: detail.clone(),
            });
        }
    }
    out
}

fn is_clear_key(facts: &Facts<'_>, key: &Key<'_>) -> bool {
    matches!(key, Key::App(id) if is_clear(facts, *id))
}

/// Evaluates the `expected_loss` bounds against the counts: the findings, and what was missing
/// when no bound had a pair to judge.
pub(crate) fn expected_loss(
    counts: &[QosCounts; 3],
    expect: &Expectations,
) -> Option<(Findings, Option<String>)> {
    let bounds = expect.expected_loss.as_ref()?;
    let mut findings = Findings::new(Guarantee::ExpectedLoss);
    let excluding = &bounds.excluding;
    let mut judged = 0;
    for (q, bound) in [bounds.qos0, bounds.qos1, bounds.qos2].into_iter().enumerate() {
        let Some(bound) = bound else { continue };
        let c = &counts[q];
        let left_out: u64 = excluding.iter().map(|r| c.reasons.get(r).copied().unwrap_or(0)).sum();
        let undelivered = c.undelivered().saturating_sub(left_out);
        let total = c.delivered + undelivered;
        if total == 0 {
            findings.notes.push(format!(
                "q{q}: no (message, subscriber) pair at effective QoS {q}{}: bound {} not \
                 exercised",
                if left_out > 0 { " once the excluded reasons are left out" } else { "" },
                bound_text(bound)
            ));
            continue;
        }
        judged += 1;
        let ratio = c.undelivered_ratio(excluding);
        let reasons: Vec<String> = c
            .reasons
            .iter()
            .filter(|(r, _)| !excluding.contains(r))
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let mut text = format!(
            "q{q}: {undelivered} of {total} pairs not delivered ({:.3}%{}{})",
            ratio * 100.0,
            if reasons.is_empty() { String::new() } else { format!(": {}", reasons.join(", ")) },
            if left_out > 0 {
                let names: Vec<&str> = excluding.iter().map(|r| r.name()).collect();
                format!("; {left_out} left out: {}", names.join(", "))
            } else {
                String::new()
            }
        );
        text.push_str(&format!(", bound {}", bound_text(bound)));
        if bound.holds(ratio) {
            findings.notes.push(format!("{text}: holds"));
        } else {
            findings.push(Violation {
                guarantee: Guarantee::ExpectedLoss,
                message: None,
                device: None,
                expected: format!("pairs at effective QoS {q} not delivered {}", bound_text(bound)),
                observed: text,
                trace: Vec::new(),
            });
        }
    }
    let missing = (judged == 0).then(|| "no pair at the QoS of any bound".to_owned());
    Some((findings, missing))
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
