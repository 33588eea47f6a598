//! MQTT 5.0 topic aliases, both ways, from what the devices saw:
//! - towards a device the broker uses no Topic Alias above the Topic Alias Maximum the device
//!   announced, nor any when it announced none [MQTT-3.3.2-11, MQTT-3.1.2-26, MQTT-3.1.2-27],
//!   nor 0 [MQTT-3.3.2-8]: a delivery that carried one is compared with the device's limit, and
//!   a device that refused one closed with 0x94 Topic Alias invalid;
//! - an alias resolves to its topic: the broker accepted each message on the topic its
//!   publisher published it on, and every copy arrived on that topic (5.0 §3.3.2.3.4, which
//!   gives this no statement id), whether the publisher sent the topic or an alias; a device
//!   that received an alias never set up on its connection closed saying so.

use std::collections::BTreeMap;

use super::facts::{Facts, Key};
use super::verdict::{Findings, Guarantee};
use super::{MessageRef, Violation};
use crate::trace::{Event, Limits};

fn violation(
    device: &str,
    message: Option<MessageRef>,
    expected: String,
    observed: String,
    trace: Vec<String>,
) -> Violation {
    Violation {
        guarantee: Guarantee::TopicAliases,
        message,
        device: Some(device.to_owned()),
        expected,
        observed,
        trace,
    }
}

/// The statements an alias towards a device with this Topic Alias Maximum breaks.
fn alias_statements(alias: u16, maximum: u16) -> &'static str {
    match (alias, maximum) {
        (0, _) => "[MQTT-3.3.2-8]",
        (_, 0) => "[MQTT-3.1.2-27]",
        _ => "[MQTT-3.3.2-11, MQTT-3.1.2-26]",
    }
}

/// The topic alias rule; the second value says what was missing to judge, if anything.
pub(crate) fn check(facts: &Facts<'_>) -> (Findings, Option<String>) {
    let mut out = Findings::new(Guarantee::TopicAliases);
    // The limits of each device's current connection, and the record that announced them.
    let mut limits: BTreeMap<&str, (usize, Limits)> = BTreeMap::new();
    let mut judged = 0u64;
    let mut with_alias = 0u64;
    let mut aliasing_publishers = 0u64;
    for (idx, r) in facts.records.iter().enumerate() {
        let Some(device) = r.device.as_deref() else { continue };
        match &r.event {
            Event::ConnectAttempt { .. } => {
                limits.remove(device);
            }
            Event::Connected { limits: Some(l), .. } => {
                limits.insert(device, (idx, *l));
            }
            Event::Delivered { props, .. } => {
                let Some(&(at, l)) = limits.get(device) else { continue };
                judged += 1;
                let Some(alias) = props.as_ref().and_then(|p| p.alias) else { continue };
                with_alias += 1;
                if alias == 0 || alias > l.topic_alias_maximum {
                    let max = l.topic_alias_maximum;
                    out.push(violation(
                        device,
                        None,
                        format!(
                            "no Topic Alias above the device's Topic Alias Maximum {max}, nor 0 {}",
                            alias_statements(alias, max)
                        ),
                        format!("a PUBLISH arrived with Topic Alias {alias}"),
                        facts.quote(&[at, idx]),
                    ));
                }
            }
            Event::Closed { reason, code } => {
                let Some(&(at, l)) = limits.get(device) else { continue };
                let own = reason.starts_with("protocol");
                let max = l.topic_alias_maximum;
                if own && *code == Some(0x94) {
                    out.push(violation(
                        device,
                        None,
                        format!(
                            "no Topic Alias above the device's Topic Alias Maximum {max}, nor 0 {}",
                            if max == 0 {
                                "[MQTT-3.1.2-27]"
                            } else {
                                "[MQTT-3.3.2-11, MQTT-3.1.2-26]"
                            }
                        ),
                        format!(
                            "the device refused a Topic Alias and disconnected with 0x94: {reason}"
                        ),
                        facts.quote(&[at, idx]),
                    ));
                } else if own && reason.contains("was never set up") {
                    out.push(violation(
                        device,
                        None,
                        "a PUBLISH without a topic name carries an alias set up on the same \
                         connection (5.0 §3.3.2.3.4)"
                            .to_owned(),
                        format!("the device could not resolve an alias and disconnected: {reason}"),
                        facts.quote(&[at, idx]),
                    ));
                }
            }
            _ => {}
        }
    }
    // Devices that publish with aliases: the broker resolved them to the message's topic.
    let aliasing: BTreeMap<&str, bool> = limits_of_publishers(facts);
    for (idx, r) in facts.records.iter().enumerate() {
        let Event::BrokerAccepted { msg: Some(msg), topic, .. } = &r.event else { continue };
        let Some(m) = facts.messages.get(msg.as_str()) else { continue };
        if aliasing.get(m.publisher.as_str()).copied().unwrap_or(false) {
            aliasing_publishers += 1;
        }
        if m.topic != topic.as_str() && r.device.as_deref() == Some(m.publisher.as_str()) {
            out.push(violation(
                &m.publisher,
                Some(facts.message_ref(&Key::App(facts.names.of(msg)))),
                format!(
                    "the broker takes the message on its topic `{}`, whatever alias carried it \
                     (5.0 §3.3.2.3.4, no statement id)",
                    m.topic
                ),
                format!("the broker accepted it on `{topic}`"),
                facts.quote(&[m.idx, idx]),
            ));
        }
    }
    for d in &facts.deliveries {
        let Some(Key::App(id)) = d.key else { continue };
        let Some(m) = facts.messages.get(&id) else { continue };
        if m.topic != d.topic {
            out.push(violation(
                &d.sub,
                Some(facts.message_ref(&Key::App(id))),
                format!(
                    "every copy arrives on the message's topic `{}`, whatever alias carried it \
                     (5.0 §3.3.2.3.4, no statement id)",
                    m.topic
                ),
                format!("a copy arrived on `{}`", d.topic),
                facts.quote(&[m.idx, d.idx]),
            ));
        }
    }
    if judged > 0 {
        out.notes.push(format!(
            "{judged} deliveries to 5.0 devices judged against their Topic Alias Maximum \
             ({with_alias} with an alias); {aliasing_publishers} acceptances of messages from \
             devices that publish with aliases"
        ));
    }
    let missing = (judged == 0 && aliasing_publishers == 0)
        .then(|| "no 5.0 device received a message or published with a topic alias".to_owned());
    (out, missing)
}

/// Whether each device was allowed to publish with aliases on some connection (the broker's
/// Topic Alias Maximum above 0); only devices configured to use them do.
fn limits_of_publishers<'r>(facts: &Facts<'r>) -> BTreeMap<&'r str, bool> {
    let mut out = BTreeMap::new();
    for r in facts.records {
        if let (Some(device), Event::Connected { limits: Some(l), .. }) =
            (r.device.as_deref(), &r.event)
        {
            let uses = facts.devices.get(device).is_some_and(|d| d.topic_aliases > 0);
            *out.entry(device).or_insert(false) |= uses && l.server_topic_alias_maximum > 0;
        }
    }
    out
}
