//! MQTT 5.0 Maximum QoS, from what each device saw on each connection: its `connected` record
//! holds the Maximum QoS the CONNACK announced (none: 2).
//!
//! - The device never sends a PUBLISH above the Maximum QoS it was told [MQTT-3.2.2-11] (a
//!   client rule: it judges the devices, which downgrade such messages to it).
//! - A server that does not support a QoS announces its highest one [MQTT-3.2.2-9]: a server
//!   DISCONNECT with 0x9B (QoS not supported) after the device published at a QoS the CONNACK
//!   did not rule out is a violation — the server did not support what it let the device use.
//!
//! Which QoS subscriptions were granted, and so the effective QoS of each pair, comes from the
//! trace as for any broker: a broker may grant less than asked [MQTT-3.2.2-10].

use super::facts::{Facts, Key};
use super::flow::{Connection, closed_by_device, connections};
use super::verdict::{Findings, Guarantee, Violation};
use crate::trace::Event;

/// DISCONNECT reason 0x9B, QoS not supported.
const QOS_NOT_SUPPORTED: u8 = 0x9B;

/// The rule; the second value says what was missing to judge, if anything.
pub(crate) fn check(facts: &Facts<'_>) -> (Findings, Option<String>) {
    let mut out = Findings::new(Guarantee::MaximumQos);
    let mut judged = 0u64;
    for (device, conns) in connections(facts) {
        if !facts.devices.get(device).is_some_and(|i| i.v5) {
            continue;
        }
        for conn in &conns {
            judged += judge(facts, device, conn, &mut out);
        }
    }
    let missing = (judged == 0).then(|| {
        "no 5.0 device published on a connection whose CONNACK announced a Maximum QoS, and \
         none was disconnected with 0x9B (QoS not supported)"
            .to_owned()
    });
    (out, missing)
}

/// Judges one connection; returns how many of its records were judged.
fn judge(facts: &Facts<'_>, device: &str, conn: &Connection, out: &mut Findings) -> u64 {
    let Some((connected, limits)) = conn.limits else { return 0 };
    let announced = limits.server_maximum_qos;
    let max = announced.unwrap_or(2);
    let mut judged = 0;
    // The PUBLISH of the highest QoS the device sent on this connection.
    let mut highest: Option<(usize, u8)> = None;
    for &idx in &conn.records {
        let event = &facts.records[idx].event;
        match event {
            Event::PublishSent { msg, qos, .. } => {
                judged += u64::from(announced.is_some());
                if *qos > max {
                    out.push(Violation {
                        guarantee: Guarantee::MaximumQos,
                        message: facts
                            .messages
                            .get_key_value(msg.as_str())
                            .map(|(id, _)| facts.message_ref(&Key::App(*id))),
                        device: Some(device.to_owned()),
                        expected: format!(
                            "no PUBLISH above QoS {max}, the Maximum QoS its CONNACK announced \
                             [MQTT-3.2.2-11]"
                        ),
                        observed: format!("sent {msg} at QoS {qos}"),
                        trace: facts.quote(&[connected, idx]),
                    });
                }
                if highest.is_none_or(|(_, q)| *qos > q) {
                    highest = Some((idx, *qos));
                }
            }
            Event::Closed { code: Some(QOS_NOT_SUPPORTED), .. }
                if !closed_by_device(event, 0x9B) =>
            {
                let Some((sent, qos)) = highest.filter(|&(_, q)| q > 0 && q <= max) else {
                    continue;
                };
                judged += 1;
                let told = match announced {
                    Some(q) => format!("announced Maximum QoS {q}"),
                    None => "announced no Maximum QoS (so 2)".to_owned(),
                };
                out.push(Violation {
                    guarantee: Guarantee::MaximumQos,
                    message: None,
                    device: Some(device.to_owned()),
                    expected: format!(
                        "a server that does not support QoS {qos} says so as Maximum QoS in \
                         CONNACK [MQTT-3.2.2-9]"
                    ),
                    observed: format!(
                        "its CONNACK {told}, then the server disconnected it with 0x9B (QoS not \
                         supported) after a PUBLISH at QoS {qos}"
                    ),
                    trace: facts.quote(&[connected, sent, idx]),
                });
            }
            _ => {}
        }
    }
    judged
}
