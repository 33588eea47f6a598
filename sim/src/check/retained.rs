//! Retained messages (MQTT 3.1.1 §3.3.1.3).
//!
//! The oracle keeps its own retained store from the trace: the last retained message accepted
//! on each topic replaces the one before [MQTT-3.3.1-5], a retained Will with an empty payload
//! clears it [MQTT-3.3.1-10], a volatile broker restart forgets them all. Then:
//! - a copy with RETAIN=1 and DUP=0 must be the message retained on its topic when the
//!   subscriber last subscribed with a matching filter (a DUP=1 resend may come from any earlier
//!   subscription of the same session) [MQTT-3.3.1-6];
//! - every retained message matching a new subscription must reach the subscriber, unless its
//!   connection did not stay up, undisturbed, for `settle` afterwards.

use std::collections::BTreeMap;

use super::facts::{Delivery, Facts, Key, SubEvent};
use super::verdict::{Findings, Guarantee, Violation};
use mqttsim_codec::topic;

pub(crate) fn check(facts: &Facts<'_>, settle_us: u64) -> Findings {
    let mut findings = Findings::new(Guarantee::Retained);
    let describe = |key: &Option<Key>| match key {
        Some(Key::App(id)) => (*id).to_owned(),
        Some(Key::Will(a)) => format!("the Will of {}", facts.accepts[*a].publisher),
        None => "an unidentified message".to_owned(),
    };
    let mut subscribes: BTreeMap<&str, Vec<&SubEvent>> = BTreeMap::new();
    for s in &facts.subscribes {
        subscribes.entry(s.sub).or_default().push(s);
    }
    let mut retained_copies: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for d in facts.deliveries.iter().filter(|d| d.retain) {
        retained_copies.entry(d.sub).or_default().push(d);
    }
    for d in facts.deliveries.iter().filter(|d| d.retain) {
        let mut earlier = subscribes
            .get(d.sub)
            .into_iter()
            .flatten()
            .copied()
            .filter(|s| s.idx < d.idx && topic::matches(s.filter, d.topic));
        let candidates: Vec<_> =
            if d.dup { earlier.collect() } else { earlier.next_back().into_iter().collect() };
        let fits = candidates
            .iter()
            .any(|s| s.snapshot.iter().any(|(t, k)| t == &d.topic && (k.is_none() || *k == d.key)));
        if fits {
            continue;
        }
        let expected = match candidates.last() {
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
    for s in &facts.subscribes {
        for (t, key) in &s.snapshot {
            let Some(key) = key else { continue };
            let got = retained_copies
                .get(s.sub)
                .into_iter()
                .flatten()
                .any(|d| d.idx > s.idx && d.key.as_ref() == Some(key));
            if got || !facts.settled_after(s.sub, s.t_us, settle_us) {
                continue;
            }
            // Only the last connection is judged: it is the one `settled_after` saw.
            let on_last = facts
                .spans
                .get(&s.sub)
                .and_then(|spans| spans.last())
                .is_some_and(|span| span.start_us <= s.t_us);
            if !on_last {
                continue;
            }
            let accept = facts.first_accept(key);
            let mut lines = vec![s.idx];
            lines.extend(accept.map(|a| a.idx));
            findings.push(Violation {
                guarantee: Guarantee::Retained,
                message: Some(facts.message_ref(key)),
                device: Some(s.sub.to_string()),
                expected: format!(
                    "the retained message on {t} sent on subscription to {} [MQTT-3.3.1-6]",
                    s.filter
                ),
                observed: "never received with RETAIN=1".to_owned(),
                trace: facts.quote(&lines),
            });
        }
    }
    findings
}
