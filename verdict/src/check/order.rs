//! Ordering, as MQTT 3.1.1 §4.6 states it.
//!
//! The server must send PUBLISH packets to a subscriber, for the same topic and QoS, in the
//! order it received them from any one client [MQTT-4.6.0-6], and resend unacknowledged ones in
//! their original order [MQTT-4.6.0-1]. With QoS 1 and an in-flight window above one, a resend
//! may repeat an earlier message after a later one (the standard's own example: sent 1,2,3,4,
//! received 1,2,3,2,3,4), so what is guaranteed is that the *final copy* of each message
//! arrives in acceptance order. Nothing is promised across QoS levels (a QoS 0 message may
//! overtake a QoS 1 retransmission), across publishers or topics, or for retained copies sent
//! on subscription.
//!
//! The rule: for each subscriber, publisher, topic and delivered QoS, take each message's last
//! routed copy; sorted by that copy's position, the messages must be in the order the broker
//! first accepted them.

use std::collections::BTreeMap;

use super::facts::{Facts, Key};
use super::name::Name;
use super::verdict::{Findings, Guarantee, Violation};

/// The ordering findings, and how many streams had two messages or more to compare.
pub(crate) fn check(facts: &Facts<'_>) -> (Findings, usize) {
    let mut findings = Findings::new(Guarantee::Ordering);
    // The rank of each message: its first acceptance.
    let mut rank: BTreeMap<Name<'_>, usize> = BTreeMap::new();
    for (i, a) in facts.accepts.iter().enumerate() {
        if let Some(Key::App(id)) = &a.key {
            rank.entry(*id).or_insert(i);
        }
    }
    // (subscriber, publisher, topic, qos) → message → index of its last routed copy.
    type Stream<'a> = (Name<'a>, Name<'a>, &'a str, u8);
    let mut last_copy: BTreeMap<Stream<'_>, BTreeMap<Name<'_>, usize>> = BTreeMap::new();
    for (i, d) in facts.deliveries.iter().enumerate() {
        let Some(Key::App(id)) = &d.key else { continue };
        // A shared subscription's copies are spread over its members, and a redistributed
        // message may follow newer ones (MQTT 5.0 §4.8.2): not judged for order.
        if d.on_subscribe || d.group.is_some() {
            continue;
        }
        let Some(m) = facts.messages.get(id) else { continue };
        let stream = (d.sub, m.publisher, d.topic, d.qos);
        last_copy.entry(stream).or_default().insert(*id, i);
    }
    let mut judged = 0;
    for ((sub, publisher, topic, qos), copies) in last_copy {
        judged += usize::from(copies.len() > 1);
        let mut finals: Vec<(usize, Name<'_>)> =
            copies.into_iter().map(|(id, i)| (i, id)).collect();
        finals.sort_unstable();
        let mut highest: Option<(usize, Name<'_>, usize)> = None;
        for (copy, id) in finals {
            let Some(&r) = rank.get(&id) else { continue };
            match highest {
                Some((hr, hid, hcopy)) if r < hr => {
                    let lines = [
                        facts.accepts[r].idx,
                        facts.accepts[hr].idx,
                        facts.deliveries[hcopy].idx,
                        facts.deliveries[copy].idx,
                    ];
                    findings.push(Violation {
                        guarantee: Guarantee::Ordering,
                        message: Some(facts.message_ref(&Key::App(id))),
                        device: Some(sub.to_owned()),
                        expected: format!(
                            "{id} (accepted before {hid}) delivered before the last copy of \
                             {hid}: same publisher {publisher}, topic {topic}, QoS {qos} \
                             [MQTT-4.6.0-6]"
                        ),
                        observed: format!("its last copy arrived after {hid}'s last copy"),
                        trace: facts.quote(&lines),
                    });
                }
                _ => highest = Some((r, id, copy)),
            }
        }
    }
    (findings, judged)
}
