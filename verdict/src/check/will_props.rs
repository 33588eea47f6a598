//! MQTT 5.0 Will properties (§3.1.3.2), from what the subscribers saw, under the `wills`
//! guarantee.
//!
//! - A published Will is an Application Message whose properties are the Will Properties the
//!   device registered, less the Will Delay Interval, which only says when to publish it: every
//!   copy a 5.0 device received carries the Payload Format Indicator [MQTT-3.3.2-4], the
//!   Response Topic [MQTT-3.3.2-15], the Correlation Data [MQTT-3.3.2-16], the Content Type
//!   [MQTT-3.3.2-20] and the User Properties, all of them [MQTT-3.3.2-17] and in their order
//!   [MQTT-3.1.3-10], unchanged. The Will of a 3.1.1 device has none of them. The Topic Alias
//!   belongs to one connection and is left out (the topic alias rule judges it); the Message
//!   Expiry Interval is judged by `expiry`, which gives a Will with one its window from its
//!   publication.
//! - The Will Delay Interval is a Will property only: a PUBLISH carrying it is a Malformed
//!   Packet (§2.2.2.2, §3.3.2.3; no statement id), which a 5.0 device refuses by closing its
//!   connection with 0x81. A device whose connection closed for that reason was sent the Will
//!   with its delay. The statement-free sections are cited as such.

use mqttsim_codec::{DecodeError, PacketType};

use super::facts::{Facts, Key, WillInfo};
use super::properties::{differences, props_of};
use super::verdict::{Findings, Guarantee, Violation};
use crate::scenario::{DeviceGroup, PayloadFormat, WillSpec};
use crate::trace::{Event, MessageProps};

/// The Will Delay Interval's property identifier.
const WILL_DELAY_INTERVAL: u8 = 0x18;

/// The properties the Will of device `i` of `group` is published with (a 5.0 group's).
pub(crate) fn expected(group: &DeviceGroup, w: &WillSpec, i: usize) -> MessageProps {
    MessageProps {
        payload_format: (w.payload_format == Some(PayloadFormat::Utf8)).then_some(1),
        content_type: w.content_type.clone(),
        response_topic: w.response_topic.as_ref().map(|t| group.expand(t, i)),
        correlation: w.correlation_data.as_ref().map(|c| group.expand(c, i)),
        user: w
            .user_properties
            .iter()
            .map(|u| (group.expand(&u.key, i), group.expand(&u.value, i)))
            .collect(),
        alias: None,
    }
}

/// The `closed` reason of a device that refused a PUBLISH carrying a Will Delay Interval.
fn leak_reason() -> String {
    let error =
        DecodeError::PropertyNotAllowed { packet: PacketType::Publish, id: WILL_DELAY_INTERVAL };
    format!("decode: {error}")
}

pub(crate) fn check(facts: &Facts<'_>) -> Findings {
    let mut out = Findings::new(Guarantee::Wills);
    let v5 = |device: &str| facts.devices.get(device).is_some_and(|d| d.v5);
    let mut judged = 0u64;
    for d in &facts.deliveries {
        let Some(Key::Will(a)) = d.key else { continue };
        if !v5(d.sub.as_str()) {
            continue;
        }
        let accept = &facts.accepts[a];
        let Some(info) = facts.devices.get(accept.publisher.as_str()).and_then(|p| p.will.as_ref())
        else {
            continue;
        };
        judged += 1;
        let got = props_of(facts, d.idx);
        let diff = differences(&info.props, &got, "MQTT-3.1.3-10");
        // Copies of Wills are told apart by topic and payload: another device's Will with the
        // same topic and payload and these properties may be the one that arrived.
        let other = || {
            facts.accepts.iter().any(|o| {
                matches!(o.key, Some(Key::Will(_)))
                    && o.topic == accept.topic
                    && o.payload == accept.payload
                    && facts
                        .devices
                        .get(o.publisher.as_str())
                        .and_then(|p| p.will.as_ref())
                        .is_some_and(|w| w.props == got)
            })
        };
        if !diff.is_empty() && !other() {
            out.push(Violation {
                guarantee: Guarantee::Wills,
                message: Some(facts.message_ref(&Key::Will(a))),
                device: Some(d.sub.to_owned()),
                expected: format!(
                    "the Will of {} with the properties it registered, unchanged and in order: \
                     {}",
                    accept.publisher,
                    shown(info)
                ),
                observed: diff.join("; "),
                trace: facts.quote(&[accept.idx, d.idx]),
            });
        }
    }
    let leak = leak_reason();
    for (idx, r) in facts.records.iter().enumerate() {
        let Event::Closed { reason, .. } = &r.event else { continue };
        let Some(device) = r.device.as_deref() else { continue };
        if *reason != leak || !v5(device) {
            continue;
        }
        // The Will it was sent: the latest one owed to the device before the close.
        let will = facts
            .accepts
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, a)| a.t_us <= r.t_us)
            .find(|(i, _)| facts.owed.contains_key(&(Key::Will(*i), facts.names.of(device))));
        let mut lines = vec![idx];
        lines.extend(will.map(|(_, a)| a.idx));
        out.push(Violation {
            guarantee: Guarantee::Wills,
            message: will.map(|(i, _)| facts.message_ref(&Key::Will(i))),
            device: Some(device.to_owned()),
            expected: "a published Will without its Will Delay Interval, a Will property that a \
                       PUBLISH may not carry (MQTT 5.0 §3.1.3.2.2, §3.3.2.3; a Malformed Packet, \
                       §2.2.2.2)"
                .to_owned(),
            observed: "the device received a PUBLISH with a Will Delay Interval (property 0x18) \
                       and closed its connection as malformed (0x81)"
                .to_owned(),
            trace: facts.quote(&lines),
        });
    }
    if judged > 0 {
        out.notes.push(format!(
            "{judged} Will copies to 5.0 devices compared with the Will properties registered"
        ));
    }
    out
}

/// A Will's expected properties for a report.
fn shown(info: &WillInfo) -> String {
    if info.props == MessageProps::default() { "none".to_owned() } else { info.props.to_string() }
}
