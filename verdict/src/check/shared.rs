//! MQTT 5.0 shared subscriptions (§4.8.2) and No Local (§3.8.3.1).
//!
//! A shared subscription `$share/{name}/{filter}` is one subscription held by a group of
//! sessions: a message matching it goes to one of its members, chosen by the broker, not to
//! every member. The checker does not know which member the broker chose; it judges the
//! (message, group) pair, owed when the group had members at the acceptance:
//! - **QoS 1 and 2, to at least one member.** Not delivered, it is `lost` only when every
//!   member session that could have been chosen (the members at the acceptance) shows the
//!   broker had its chance (see `due`) before any of them lost its connection or session (when
//!   the broker may move the message to another member): wherever it was put, it was due
//!   there [MQTT-4.5.0-1].
//! - **QoS 2, exactly once to the group**: copies to two members are a violation
//!   ([MQTT-4.8.2-5] when the first member's session had ended, [MQTT-4.8.2-4] when only its
//!   connection had; else §4.8.2, which sends each message to one session).
//! - **QoS 0, at most once to the group**, and **QoS 1 to a second member** only after a
//!   member that had a copy lost its connection (the broker may then send it to another
//!   member, §4.8.2).
//! - **Redistribution** (`shared_redistribution`, a SHOULD of §4.8.2 without a statement id,
//!   kept apart from the numbered statements): a QoS 1 message not delivered, one of whose
//!   candidate members' sessions ended, while another member's session was then being served
//!   (evidence after that end), should have gone to that member.
//! - **No Local**: a device's own message never reaches it on a subscription with No Local
//!   [MQTT-3.8.3-3]; its own message is not owed to it then (see `facts`).
//!
//! Every undelivered (message, group) pair gets a reason, listed with the group's filter as
//! the subscriber, and counts with the pairs of its effective QoS: the lower of the publish
//! QoS and the lowest QoS granted to a member at the acceptance [MQTT-4.8.2-3].

use std::collections::{BTreeMap, BTreeSet};

use mqttsim_codec::topic;

use super::due::{Due, Evidence, Stream};
use super::facts::{Facts, GroupOwe, Key};
use super::name::Name;
use super::verdict::{Findings, Guarantee, LossReason, QosCounts, Undelivered, Violation};

/// What the shared-subscription and No Local rules found.
pub(crate) struct SharedFindings {
    pub groups: Findings,
    pub redistribution: Findings,
    pub no_local: Findings,
    /// (message, group) pairs judged.
    pub group_pairs: u64,
    /// QoS 1 pairs one of whose candidate members' sessions ended after the acceptance.
    pub redistribution_chances: u64,
    /// Acceptances of a message its publisher's No Local subscriptions kept from it.
    pub no_local_judged: usize,
}

/// The pieces of the verdict the group pairs add to.
pub(crate) struct Tally<'a> {
    pub counts: &'a mut [QosCounts; 3],
    pub undelivered: &'a mut Vec<Undelivered>,
    pub latencies: &'a mut [Vec<u64>; 3],
}

/// When a piece of evidence happened.
fn evidence_at(facts: &Facts<'_>, e: Evidence, settle_us: u64) -> u64 {
    match e {
        Evidence::Overtaken(d) | Evidence::Served(d) => facts.deliveries[d].t_us,
        Evidence::RoundTrip(idx) => facts.records[idx].t_us,
        Evidence::Settled(from) => from.saturating_add(settle_us),
    }
}

/// The first moment at or after `from_us` when `member`'s session `epoch` lost a connection or
/// ended: when the broker may move a message it held to another member.
fn next_move(facts: &Facts<'_>, member: &str, epoch: usize, from_us: u64) -> Option<u64> {
    let spans = facts.spans.get(member).into_iter().flatten();
    let ends = spans.filter(|s| s.epoch == Some(epoch)).filter_map(|s| s.end_us);
    let session = facts.epochs[epoch].end_us;
    ends.chain(session).filter(|&t| t >= from_us).min()
}

pub(crate) fn check(
    facts: &Facts<'_>,
    due: &Due<'_, '_>,
    settle_us: u64,
    tally: Tally<'_>,
) -> SharedFindings {
    let mut out = SharedFindings {
        groups: Findings::new(Guarantee::SharedSubscriptions),
        redistribution: Findings::new(Guarantee::SharedRedistribution),
        no_local: Findings::new(Guarantee::NoLocal),
        group_pairs: 0,
        redistribution_chances: 0,
        no_local_judged: facts.no_local_spared.len(),
    };
    let mut copies: BTreeMap<(&Key<'_>, &str), Vec<usize>> = BTreeMap::new();
    for (i, d) in facts.deliveries.iter().enumerate() {
        if let (Some(key), Some(group), false) = (&d.key, d.group, d.on_subscribe) {
            copies.entry((key, group)).or_default().push(i);
        }
    }
    for ((key, group), owes) in &facts.group_owed {
        out.group_pairs += 1;
        let effective = owes
            .iter()
            .map(|o| {
                let lowest = o.members.iter().map(|m| m.2).min().unwrap_or(0);
                facts.accepts[o.accept].qos.min(lowest)
            })
            .max()
            .unwrap_or(0);
        let q = usize::from(effective.min(2));
        tally.counts[q].pairs += 1;
        let all = copies.get(&(key, *group)).map_or(&[][..], Vec::as_slice);
        let mut lines: Vec<usize> = owes.iter().map(|o| facts.accepts[o.accept].idx).collect();
        lines.extend(all.iter().map(|&i| facts.deliveries[i].idx));
        // The earliest end of a candidate member's session after the acceptance: from then on
        // the message may have been redistributed.
        let last = owes.last().expect("an owed pair has an acceptance");
        let accepted_at = facts.accepts[last.accept].t_us;
        let ended = last
            .members
            .iter()
            .filter_map(|&(_, e, _)| facts.epochs[e].end_us.filter(|&end| end >= accepted_at))
            .min();
        if effective == 1
            && let Some(end) = ended
            && all.first().is_none_or(|&f| facts.deliveries[f].t_us >= end)
        {
            out.redistribution_chances += 1;
        }
        if let Some(&first) = all.first() {
            tally.counts[q].delivered += 1;
            tally.counts[q].duplicates += all.len().saturating_sub(1) as u64;
            if let Key::App(id) = key
                && let Some(m) = facts.messages.get(id)
            {
                let published = facts.records[m.idx].t_us;
                tally.latencies[q].push(facts.deliveries[first].t_us.saturating_sub(published));
            }
            copy_rules(facts, key, group, owes, all, &lines, &mut out.groups);
            continue;
        }
        let (reason, detail) =
            undelivered(facts, due, settle_us, key, group, owes, effective, &mut lines, &mut out);
        tally.counts[q].add_undelivered(reason);
        tally.undelivered.push(Undelivered {
            message: facts.message_ref(key),
            subscriber: (*group).to_owned(),
            qos: effective,
            reason,
            class: reason.class(),
            detail,
        });
    }
    no_local(facts, &mut out.no_local);
    out
}

/// The rules on the copies of a delivered (message, group) pair: how many members got it.
fn copy_rules(
    facts: &Facts<'_>,
    key: &Key<'_>,
    group: &str,
    owes: &[GroupOwe<'_>],
    all: &[usize],
    lines: &[usize],
    findings: &mut Findings,
) {
    let acceptances = owes.len();
    let copy = |i: usize| &facts.deliveries[i];
    // Each member's first copy, in time order.
    let mut firsts: Vec<usize> = Vec::new();
    for &i in all {
        if !firsts.iter().any(|&f| copy(f).sub == copy(i).sub) {
            firsts.push(i);
        }
    }
    let at = |i: usize| copy(i).t_us as f64 / 1e6;
    let push = |findings: &mut Findings, expected: String, observed: String| {
        findings.push(Violation {
            guarantee: Guarantee::SharedSubscriptions,
            message: Some(facts.message_ref(key)),
            device: Some(group.to_owned()),
            expected,
            observed,
            trace: facts.quote(lines),
        });
    };
    let qos2: Vec<usize> = all.iter().copied().filter(|&i| copy(i).qos == 2).collect();
    if !qos2.is_empty() {
        // One copy per member, unless it lost its state in between (it may then get the
        // message again, as a single subscriber may).
        let mut per_member: BTreeMap<Name<'_>, Vec<usize>> = BTreeMap::new();
        for &i in &qos2 {
            per_member.entry(copy(i).sub).or_default().push(i);
        }
        let mut total = 0;
        for (member, cs) in &per_member {
            let (first, last) = (copy(cs[0]).t_us, copy(cs[cs.len() - 1]).t_us);
            total += if facts.lost_state_between(*member, first, last) { 1 } else { cs.len() };
        }
        if total > acceptances {
            let first = qos2[0];
            let other = qos2.iter().copied().find(|&i| copy(i).sub != copy(first).sub);
            let (statement, why) = match other {
                Some(o) => {
                    let (a, b) = (copy(first), copy(o));
                    let epoch_end = a.epoch.and_then(|e| facts.epochs[e].end_us);
                    let conn_end = facts
                        .spans
                        .get(a.sub.as_str())
                        .and_then(|s| a.span.and_then(|i| s.get(i)))
                        .and_then(|s| s.end_us);
                    if epoch_end.is_some_and(|t| t <= b.t_us) {
                        (
                            "[MQTT-4.8.2-5]",
                            format!("{}'s session ended first: it goes to no other member", a.sub),
                        )
                    } else if conn_end.is_some_and(|t| t <= b.t_us) {
                        (
                            "[MQTT-4.8.2-4]",
                            format!(
                                "only {}'s connection ended: it is completed to {}",
                                a.sub, a.sub
                            ),
                        )
                    } else {
                        ("(MQTT 5.0 §4.8.2)", format!("{} kept its connection", a.sub))
                    }
                }
                None => ("[MQTT-4.3.3-10]", "one member got it twice".to_owned()),
            };
            push(
                findings,
                format!(
                    "QoS 2: exactly once to the group per acceptance (accepted {acceptances} \
                     time(s)); {why} {statement}"
                ),
                format!(
                    "{total} copies: {}",
                    qos2.iter()
                        .map(|&i| format!("{} at {:.3}s", copy(i).sub, at(i)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        return;
    }
    let qos0 = all.iter().filter(|&&i| copy(i).qos == 0).count();
    if qos0 > 0 && all.len() > acceptances && firsts.len() > 1 {
        push(
            findings,
            format!(
                "QoS 0: at most once to the group per acceptance (accepted {acceptances} time(s)): \
                 each message goes to one member (MQTT 5.0 §4.8.2)"
            ),
            format!("{} copies on {} members", all.len(), firsts.len()),
        );
        return;
    }
    // QoS 1: a second member only after a member that had a copy lost its connection.
    for (n, &f) in firsts.iter().enumerate().skip(acceptances.max(1)) {
        let t = copy(f).t_us;
        let moved = firsts[..n].iter().any(|&e| {
            let earlier = copy(e);
            facts.spans.get(earlier.sub.as_str()).is_some_and(|spans| {
                spans.iter().any(|s| s.end_us.is_some_and(|end| end >= earlier.t_us && end <= t))
            })
        });
        if !moved {
            let before: Vec<String> =
                firsts[..n].iter().map(|&e| format!("{} at {:.3}s", copy(e).sub, at(e))).collect();
            push(
                findings,
                format!(
                    "one member per acceptance (accepted {acceptances} time(s)), another only once a \
                     member that had it lost its connection (MQTT 5.0 §4.8.2)"
                ),
                format!(
                    "{} got it at {:.3}s after {}, whose connection(s) stayed up",
                    copy(f).sub,
                    at(f),
                    before.join(", ")
                ),
            );
            return;
        }
    }
}

/// The reason a (message, group) pair was not delivered; files a violation when it is lost,
/// and a redistribution finding when the SHOULD of §4.8.2 applied.
#[allow(clippy::too_many_arguments)]
fn undelivered(
    facts: &Facts<'_>,
    due: &Due<'_, '_>,
    settle_us: u64,
    key: &Key<'_>,
    group: &str,
    owes: &[GroupOwe<'_>],
    effective: u8,
    lines: &mut Vec<usize>,
    out: &mut SharedFindings,
) -> (LossReason, String) {
    let last = owes.last().expect("an owed pair has an acceptance");
    let accept = &facts.accepts[last.accept];
    let members = &last.members;
    for o in owes {
        for &(m, _, _) in &o.members {
            if let Some(&drop) = facts.broker_drops.get(&(o.accept, m)) {
                let at = facts.records[drop].t_us as f64 / 1e6;
                return match &facts.records[drop].event {
                    crate::trace::Event::BrokerDropped { reason, .. }
                        if reason == "shared-session-ended" =>
                    {
                        (
                            LossReason::SessionEnded,
                            format!(
                                "QoS 2 in flight to {m}, whose session ended at {at:.3}s: it goes \
                                 to no other member [MQTT-4.8.2-5]"
                            ),
                        )
                    }
                    crate::trace::Event::BrokerDropped { reason, .. }
                        if reason == "qos0-offline" =>
                    {
                        (
                            LossReason::BrokerQos0Offline,
                            format!("the broker dropped {m}'s copy at {at:.3}s"),
                        )
                    }
                    _ => (
                        LossReason::BrokerQueueFull,
                        format!(
                            "the broker dropped {m}'s copy at {at:.3}s (trace line {})",
                            drop + 1
                        ),
                    ),
                };
            }
        }
    }
    if effective == 0 {
        return (LossReason::AtMostOnce, "QoS 0 to the group: sent at most once".to_owned());
    }
    let stream = Stream {
        publisher: accept.publisher,
        topic: accept.topic,
        qos: effective,
        rank: facts.accepts_of.get(key).and_then(|a| a.first()).copied().unwrap_or(last.accept),
    };
    let first_move =
        members.iter().filter_map(|&(m, e, _)| next_move(facts, m.as_str(), e, accept.t_us)).min();
    let evidence: Vec<Option<(Evidence, u64)>> = members
        .iter()
        .map(|&(m, e, _)| {
            let ev = due.evidence(m, e, accept.t_us, Some(stream))?;
            let at = evidence_at(facts, ev, settle_us);
            first_move.is_none_or(|mv| at < mv).then_some((ev, at))
        })
        .collect();
    if evidence.iter().all(Option::is_some) {
        let mut text = Vec::new();
        for (&(m, _, _), ev) in members.iter().zip(&evidence) {
            let (ev, _) = ev.expect("all present");
            lines.extend(ev.record(facts));
            text.push(format!("{m}: {}", ev.describe(facts, due_tolerance(due), settle_us)));
        }
        let text = text.join("; ");
        out.groups.push(Violation {
            guarantee: Guarantee::SharedSubscriptions,
            message: Some(facts.message_ref(key)),
            device: Some(group.to_owned()),
            expected: format!(
                "delivered at least once at QoS {effective} to one member of the group: it had \
                 members when the broker accepted it at {:.3}s [MQTT-4.5.0-1]",
                accept.t_us as f64 / 1e6
            ),
            observed: format!(
                "no member got it, and no drop reported; yet every member it could have gone to \
                 was served before any lost its connection: {text}"
            ),
            trace: facts.quote(lines),
        });
        return (LossReason::Lost, text);
    }
    // A candidate's session ended after the acceptance: the message may have ended with it.
    let ended: Option<(Name<'_>, u64, usize)> = members
        .iter()
        .filter_map(|&(m, e, _)| {
            let end = facts.epochs[e].end_us?;
            (end >= accept.t_us).then_some((m, end, facts.epochs[e].end_idx.unwrap_or(0)))
        })
        .min_by_key(|&(_, end, _)| end);
    if let Some((member, end, end_idx)) = ended {
        if effective == 1
            && let Some((other, ev)) =
                served_after(facts, due, group, member.as_str(), end, settle_us)
        {
            let mut lines = lines.clone();
            lines.push(end_idx);
            lines.extend(ev.record(facts));
            out.redistribution.push(Violation {
                guarantee: Guarantee::SharedRedistribution,
                message: Some(facts.message_ref(key)),
                device: Some(group.to_owned()),
                expected: format!(
                    "SHOULD (MQTT 5.0 §4.8.2, no statement id): when the session of the member \
                         holding a QoS 1 message ends ({member}'s, at {:.3}s), the message goes to \
                         another member of the group",
                    end as f64 / 1e6
                ),
                observed: format!(
                    "no member got it; {other} was a member after that, and {}",
                    ev.describe(facts, due_tolerance(due), settle_us)
                ),
                trace: facts.quote(&lines),
            });
        }
        let cause = format!(
            "{member}'s session ended at {:.3}s: it may have held the message, which the standard \
             only recommends to send to another member (§4.8.2)",
            end as f64 / 1e6
        );
        return (LossReason::SessionEnded, cause);
    }
    let online = members.iter().any(|&(m, _, _)| {
        facts.spans.get(m.as_str()).and_then(|s| s.last()).is_some_and(|s| s.end_us.is_none())
    });
    if online {
        (
            LossReason::InFlightAtEnd,
            format!(
                "accepted at {:.3}s; no sign from every member it could have gone to that the \
                 broker could deliver it",
                accept.t_us as f64 / 1e6
            ),
        )
    } else {
        (LossReason::SubscriberAway, "the group's members were offline at the end".to_owned())
    }
}

fn due_tolerance(due: &Due<'_, '_>) -> u64 {
    due.tolerance_us()
}

/// A member of `group` other than `leaver` whose session existed after `from_us` and was
/// being served after it, before it lost a connection itself.
fn served_after<'f>(
    facts: &'f Facts<'_>,
    due: &Due<'_, '_>,
    group: &str,
    leaver: &str,
    from_us: u64,
    settle_us: u64,
) -> Option<(&'f str, Evidence)> {
    let mut seen = BTreeSet::new();
    for s in facts.subscribes.iter().filter(|s| s.filter == group && s.sub != leaver) {
        let Some(epoch) = s.epoch else { continue };
        if !seen.insert((s.sub, epoch)) || facts.epochs[epoch].end_us.is_some_and(|e| e < from_us) {
            continue;
        }
        let from = from_us.max(s.t_us);
        let Some(ev) = due.evidence(s.sub, epoch, from, None) else { continue };
        let at = evidence_at(facts, ev, settle_us);
        if next_move(facts, s.sub.as_str(), epoch, from).is_none_or(|mv| at < mv) {
            return Some((s.sub.as_str(), ev));
        }
    }
    None
}

/// No Local: a copy of a device's own message on a topic all of whose matching subscriptions
/// of the device have No Local [MQTT-3.8.3-3].
fn no_local(facts: &Facts<'_>, findings: &mut Findings) {
    for d in &facts.deliveries {
        let Some(Key::App(id)) = &d.key else { continue };
        let Some(m) = facts.messages.get(id) else { continue };
        if m.publisher != d.sub || d.group.is_some() {
            continue;
        }
        let Some(info) = facts.devices.get(d.sub.as_str()).filter(|i| !i.no_local.is_empty())
        else {
            continue;
        };
        let mine: Vec<&str> = facts
            .subscribes
            .iter()
            .filter(|s| s.sub == d.sub && s.idx < d.idx && topic::matches(s.filter, d.topic))
            .map(|s| s.filter)
            .collect();
        if mine.is_empty() || !mine.iter().all(|f| info.no_local.contains(*f)) {
            continue;
        }
        findings.push(Violation {
            guarantee: Guarantee::NoLocal,
            message: Some(facts.message_ref(&Key::App(*id))),
            device: Some(d.sub.to_owned()),
            expected: format!(
                "never sent to its own publisher on a No Local subscription ({}) [MQTT-3.8.3-3]",
                mine.join(", ")
            ),
            observed: format!("{} got its own message at {:.3}s", d.sub, d.t_us as f64 / 1e6),
            trace: facts.quote(&[m.idx, d.idx]),
        });
    }
}
