//! MQTT 5.0 message properties and request/response, from what the devices saw.
//!
//! - Message properties: every copy a 5.0 device received carries the properties its message
//!   was published with, unchanged: the Payload Format Indicator [MQTT-3.3.2-4], the Response
//!   Topic [MQTT-3.3.2-15], the Correlation Data [MQTT-3.3.2-16], the Content Type
//!   [MQTT-3.3.2-20] and the User Properties, all of them [MQTT-3.3.2-17] and in order
//!   [MQTT-3.3.2-18]. A message from a 3.1.1 device has none, so its copies have none either.
//!   The Topic Alias belongs to one connection and is left out of the comparison (the topic
//!   alias rule judges it).
//! - Request/response: a request (a message with a Response Topic) delivered to a device that
//!   answers requests on a matching filter carries the Response Topic and Correlation Data it
//!   was published with [MQTT-3.3.2-15, MQTT-3.3.2-16]; the responder published its response
//!   on that topic with that Correlation Data; and the response reached the requester with it
//!   [MQTT-3.3.2-16], or is undelivered with a reason the standard allows (a response lost is
//!   also a violation of the response's QoS guarantee).

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{Facts, Key};
use super::name::Name;
use super::verdict::{Findings, Guarantee};
use super::{LossClass, Undelivered, Violation};
use crate::trace::{Event, MessageProps};

/// The properties a record carries (an `app_publish` or a `delivered`), the alias left out.
pub(crate) fn props_of(facts: &Facts<'_>, idx: usize) -> MessageProps {
    match &facts.records[idx].event {
        Event::AppPublish { props, .. } | Event::Delivered { props, .. } => {
            props.as_deref().map(MessageProps::without_alias).unwrap_or_default()
        }
        _ => MessageProps::default(),
    }
}

/// A property's value for a report: quoted, or `none`.
fn shown(v: &Option<String>) -> String {
    v.as_deref().map_or("none".to_owned(), |v| format!("{v:?}"))
}

/// What differs between the published and the delivered properties, with the statements
/// (`order`: the one that keeps the User Properties' order).
pub(crate) fn differences(sent: &MessageProps, got: &MessageProps, order: &str) -> Vec<String> {
    let mut out = Vec::new();
    let show = shown;
    if sent.payload_format != got.payload_format {
        out.push(format!(
            "Payload Format Indicator {:?} became {:?} [MQTT-3.3.2-4]",
            sent.payload_format, got.payload_format
        ));
    }
    if sent.response_topic != got.response_topic {
        out.push(format!(
            "Response Topic {} became {} [MQTT-3.3.2-15]",
            show(&sent.response_topic),
            show(&got.response_topic)
        ));
    }
    if sent.correlation != got.correlation {
        out.push(format!(
            "Correlation Data {} became {} [MQTT-3.3.2-16]",
            show(&sent.correlation),
            show(&got.correlation)
        ));
    }
    if sent.content_type != got.content_type {
        out.push(format!(
            "Content Type {} became {} [MQTT-3.3.2-20]",
            show(&sent.content_type),
            show(&got.content_type)
        ));
    }
    if sent.user != got.user {
        let mut a = sent.user.clone();
        let mut b = got.user.clone();
        a.sort();
        b.sort();
        let statement = if a == b {
            format!("in another order [{order}]")
        } else {
            "[MQTT-3.3.2-17]".to_owned()
        };
        out.push(format!("User Properties {:?} became {:?} {statement}", sent.user, got.user));
    }
    out
}

/// Whether `device` speaks MQTT 5.0 in the scenario.
fn v5(facts: &Facts<'_>, device: &str) -> bool {
    facts.devices.get(device).is_some_and(|d| d.v5)
}

/// The message properties rule; the second value says what was missing to judge, if anything.
pub(crate) fn message_properties(facts: &Facts<'_>) -> (Findings, Option<String>) {
    let mut out = Findings::new(Guarantee::MessageProperties);
    let mut judged = 0u64;
    let mut with_props = 0u64;
    for d in &facts.deliveries {
        let Some(Key::App(id)) = d.key else { continue };
        let Some(m) = facts.messages.get(id.as_str()) else { continue };
        if !v5(facts, d.sub.as_str()) {
            continue;
        }
        judged += 1;
        let sent = props_of(facts, m.idx);
        if sent != MessageProps::default() {
            with_props += 1;
        }
        let got = props_of(facts, d.idx);
        let diff = differences(&sent, &got, "MQTT-3.3.2-18");
        if !diff.is_empty() {
            out.push(Violation {
                guarantee: Guarantee::MessageProperties,
                message: Some(facts.message_ref(&Key::App(id))),
                device: Some(d.sub.to_owned()),
                expected: "the message's properties reach the subscriber unchanged and in order"
                    .to_owned(),
                observed: diff.join("; "),
                trace: facts.quote(&[m.idx, d.idx]),
            });
        }
    }
    if judged > 0 {
        out.notes.push(format!(
            "{judged} copies to 5.0 devices compared with their publish ({with_props} of \
             messages with properties)"
        ));
    }
    let missing = (judged == 0).then(|| "no 5.0 device received an application message".to_owned());
    (out, missing)
}

/// The request/response rule; the second value says what was missing to judge, if anything.
pub(crate) fn request_response(
    facts: &Facts<'_>,
    undelivered: &[Undelivered],
) -> (Findings, Option<String>) {
    let mut out = Findings::new(Guarantee::RequestResponse);
    // (responder, correlation data) → the responses it published.
    let mut responses: BTreeMap<(&str, String), Vec<Name<'_>>> = BTreeMap::new();
    for (id, m) in &facts.messages {
        if facts.devices.get(m.publisher.as_str()).is_some_and(|d| d.respond.is_some())
            && let Some(c) = props_of(facts, m.idx).correlation
        {
            responses.entry((m.publisher.as_str(), c)).or_default().push(*id);
        }
    }
    let lost: BTreeMap<(&str, &str), &Undelivered> =
        undelivered.iter().map(|u| ((u.message.id.as_str(), u.subscriber.as_str()), u)).collect();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let (mut requests, mut answered, mut excused) = (0u64, 0u64, 0u64);
    for d in &facts.deliveries {
        let Some(Key::App(id)) = d.key else { continue };
        let Some(m) = facts.messages.get(id.as_str()) else { continue };
        let Some(filter) = facts.devices.get(d.sub.as_str()).and_then(|i| i.respond.as_deref())
        else {
            continue;
        };
        let sent = props_of(facts, m.idx);
        let (Some(topic), Some(correlation)) = (&sent.response_topic, &sent.correlation) else {
            continue;
        };
        if !mqttsim_codec::topic::matches(filter, d.topic)
            || !seen.insert((id.as_str(), d.sub.as_str()))
        {
            continue;
        }
        requests += 1;
        let message = Some(facts.message_ref(&Key::App(id)));
        let mut fail = |observed: String, lines: Vec<usize>| {
            out.push(Violation {
                guarantee: Guarantee::RequestResponse,
                message: message.clone(),
                device: Some(d.sub.to_owned()),
                expected: format!(
                    "the request is answered on `{topic}` with its Correlation Data, and the \
                     answer reaches `{}`",
                    m.publisher
                ),
                observed,
                trace: facts.quote(&lines),
            });
        };
        let got = props_of(facts, d.idx);
        if got.response_topic.as_ref() != Some(topic)
            || got.correlation.as_ref() != Some(correlation)
        {
            fail(
                format!(
                    "the request reached the responder with Response Topic {} and Correlation \
                     Data {} [MQTT-3.3.2-15, MQTT-3.3.2-16]",
                    shown(&got.response_topic),
                    shown(&got.correlation)
                ),
                vec![m.idx, d.idx],
            );
            continue;
        }
        let Some(response) = responses.get(&(d.sub.as_str(), correlation.clone())).and_then(|r| {
            r.iter().find(|r| facts.messages[(**r).as_str()].topic == topic.as_str())
        }) else {
            fail("the responder published no response".to_owned(), vec![m.idx, d.idx]);
            continue;
        };
        let r = &facts.messages[response];
        let copy = facts
            .deliveries
            .iter()
            .find(|c| c.key == Some(Key::App(*response)) && c.sub == m.publisher);
        match copy {
            Some(c) => {
                answered += 1;
                let back = props_of(facts, c.idx);
                if back.correlation.as_ref() != Some(correlation) {
                    fail(
                        format!(
                            "the response reached the requester with Correlation Data {} \
                             [MQTT-3.3.2-16]",
                            shown(&back.correlation)
                        ),
                        vec![m.idx, d.idx, r.idx, c.idx],
                    );
                }
            }
            None => match lost.get(&((*response).as_str(), m.publisher.as_str())) {
                Some(u) if u.class == LossClass::Lost => fail(
                    format!("the response {response} was lost: {}", u.detail),
                    vec![m.idx, d.idx, r.idx],
                ),
                // Allowed or exempt, or not owed (the requester was not subscribed then).
                _ => excused += 1,
            },
        }
    }
    if requests > 0 {
        out.notes.push(format!(
            "{requests} requests delivered to responders: {answered} answered, {excused} \
             responses undelivered for a reason the standard allows or not owed"
        ));
    }
    let missing = (requests == 0).then(|| "no request was delivered to a responder".to_owned());
    (out, missing)
}
