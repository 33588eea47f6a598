//! MQTT 5.0 Retain As Published: the RETAIN flag of every copy the broker forwards to a 5.0
//! subscriber as the message was published (not a retained message sent because a subscription
//! was made, which `retained` judges). On a subscription without Retain As Published the copy
//! has RETAIN=0 whatever the flag it was published with [MQTT-3.3.1-12]; on one with it, the
//! flag it was published with [MQTT-3.3.1-13].
//!
//! - Which copies are forwarded is decided in `facts` (`Delivery::on_subscribe`): a RETAIN=1
//!   copy no subscription's retained snapshot can account for, of a message owed to the session
//!   as published, is a forwarded one.
//! - The options come from the scenario (the trace does not carry them), as Retain Handling
//!   does: a shared subscription's copy is judged by that subscription's option, any other copy
//!   by the options of the device's non-shared filters matching its topic, and only when they
//!   agree (with overlapping subscriptions the broker may send one copy for all of them).
//! - The flag a message was published with is the application's, unless its publisher was ever
//!   told Retain Available 0 (a simulated device then gives its retained messages up; another
//!   client might send them with RETAIN=0): such messages are not judged. A Will's flag is its
//!   Will Retain.
//! - 3.1.1 subscribers have no such option; their RETAIN=1 copies are judged by `retained`.

use super::facts::{Facts, Key};
use super::routes::shared_inner;
use super::verdict::{Findings, Guarantee, Violation};
use crate::trace::Event;
use mqttsim_codec::topic;

/// The rule; the second value says what was missing to judge, if anything.
pub(crate) fn check(facts: &Facts<'_>) -> (Findings, Option<String>) {
    let mut out = Findings::new(Guarantee::RetainAsPublished);
    // Publishers told Retain Available 0 on some connection.
    let no_retain: std::collections::BTreeSet<&str> = facts
        .records
        .iter()
        .filter(|r| {
            matches!(&r.event, Event::Connected { limits: Some(l), .. } if !l.server_retain_available)
        })
        .filter_map(|r| r.device.as_deref())
        .collect();
    let mut judged_retained = 0u64;
    for d in facts.deliveries.iter().filter(|d| !d.on_subscribe) {
        let Some(key) = d.key else { continue };
        let Some(info) = facts.devices.get(d.sub.as_str()).filter(|i| i.v5) else { continue };
        let published = match key {
            Key::App(id) => facts
                .messages
                .get(id.as_str())
                .filter(|m| !no_retain.contains(m.publisher.as_str()))
                .map(|m| (m.retain, m.idx)),
            Key::Will(a) => {
                let accept = &facts.accepts[a];
                let will =
                    facts.devices.get(accept.publisher.as_str()).and_then(|i| i.will.as_ref());
                will.map(|w| (w.retain, accept.idx))
            }
        };
        let Some((published, published_idx)) = published else { continue };
        let options: Vec<(&str, bool)> = info
            .retain_as_published
            .iter()
            .filter(|(f, _)| match d.group {
                Some(g) => f == g,
                None => shared_inner(f).is_none() && topic::matches(f, d.topic),
            })
            .map(|(f, rap)| (f.as_str(), *rap))
            .collect();
        let Some(&(filter, rap)) = options.first() else { continue };
        if options.iter().any(|&(_, r)| r != rap) {
            continue;
        }
        judged_retained += u64::from(published);
        let want = rap && published;
        if d.retain == want {
            continue;
        }
        let expected = if rap {
            format!(
                "RETAIN={} as published, on the subscription to {filter} with Retain As \
                 Published [MQTT-3.3.1-13]",
                u8::from(published)
            )
        } else {
            format!(
                "RETAIN=0 on the subscription to {filter} without Retain As Published, although \
                 it was published with RETAIN=1 [MQTT-3.3.1-12]"
            )
        };
        out.push(Violation {
            guarantee: Guarantee::RetainAsPublished,
            message: Some(facts.message_ref(&key)),
            device: Some(d.sub.to_owned()),
            expected,
            observed: format!(
                "forwarded with RETAIN={} at {:.3}s",
                u8::from(d.retain),
                d.t_us as f64 / 1e6
            ),
            trace: facts.quote(&[published_idx, d.idx]),
        });
    }
    let missing = (judged_retained == 0)
        .then(|| "no message published with RETAIN=1 was forwarded to a 5.0 subscriber".to_owned());
    (out, missing)
}
