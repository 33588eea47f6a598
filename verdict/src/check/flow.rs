//! MQTT 5.0 flow control, from what each device saw: the broker never has more unacknowledged
//! QoS 1 and 2 PUBLISH packets towards a device than the Receive Maximum the device announced
//! [MQTT-3.3.4-9], and never sends it a packet larger than its Maximum Packet Size
//! [MQTT-3.1.2-24].
//!
//! What a device announced comes from its `connected` record (`limits`), which follows the
//! CONNACK in the trace; so a connection's records are gathered first and judged after.
//!
//! - Receive Maximum. In a packet-level trace every QoS 1 and 2 PUBLISH the device read is
//!   counted until the device wrote its PUBACK or PUBCOMP: a PUBLISH read while the device had
//!   not yet answered Receive Maximum others was sent before the broker could have had their
//!   answers, so the broker had more unacknowledged than allowed (the count errs low, never
//!   high). A default trace has no packets: there, only the device's own count of QoS 2
//!   messages awaiting PUBREL is seen (it disconnects with 0x93 when the broker exceeds it),
//!   which errs low the same way; QoS 1 is not judged.
//! - Maximum Packet Size. At the packet level each packet's size is compared with the limit; in
//!   a default trace a device that refused a larger packet closed with 0x95, and each delivery
//!   a device accepted fitted.

use std::collections::{BTreeMap, BTreeSet};

use super::Violation;
use super::facts::Facts;
use super::verdict::{Findings, Guarantee};
use crate::trace::{Event, Limits};

/// A device's connection as its records show it.
#[derive(Default)]
pub(super) struct Connection {
    /// The `connected` record and what it announced.
    pub(super) limits: Option<(usize, Limits)>,
    /// Record indices of the connection's packets, publishes and deliveries, in order.
    pub(super) records: Vec<usize>,
}

/// Splits each device's records into connections: a new one starts at each CONNECT the device
/// wrote (packet level) or each connection attempt.
pub(super) fn connections<'r>(facts: &Facts<'r>) -> BTreeMap<&'r str, Vec<Connection>> {
    let mut out: BTreeMap<&'r str, Vec<Connection>> = BTreeMap::new();
    for (idx, r) in facts.records.iter().enumerate() {
        let Some(device) = r.device.as_deref() else { continue };
        let starts = match &r.event {
            Event::ConnectAttempt { .. } => true,
            // At the packet level the attempt record comes first; CONNECT marks the same start.
            Event::PacketSent { packet, .. } => packet == "CONNECT",
            _ => false,
        };
        let conns = out.entry(device).or_default();
        if starts {
            let fresh = conns.last().is_some_and(|c| c.limits.is_none() && c.records.is_empty());
            if !fresh {
                conns.push(Connection::default());
            }
            continue;
        }
        let Some(conn) = conns.last_mut() else { continue };
        match &r.event {
            Event::Connected { limits: Some(l), .. } => conn.limits = Some((idx, *l)),
            Event::PacketReceived { .. }
            | Event::PacketSent { .. }
            | Event::Delivered { .. }
            | Event::PublishSent { .. }
            | Event::Closed { .. } => conn.records.push(idx),
            _ => {}
        }
    }
    out
}

/// Whether a `closed` record is the device's own DISCONNECT with `code` (not the server's).
pub(super) fn closed_by_device(event: &Event, code: u8) -> bool {
    matches!(event, Event::Closed { reason, code: Some(c) }
        if *c == code && (reason.starts_with("protocol") || reason.starts_with("decode")))
}

/// The Receive Maximum rule; the second value says what was missing to judge, if anything.
pub(crate) fn receive_maximum(facts: &Facts<'_>) -> (Findings, Option<String>) {
    let mut out = Findings::new(Guarantee::ReceiveMaximum);
    let mut counted = 0u64;
    let mut qos2_seen = 0u64;
    for (device, conns) in connections(facts) {
        for conn in &conns {
            let Some((limits_idx, limits)) = conn.limits else { continue };
            let max = usize::from(limits.receive_maximum);
            let mut open: BTreeMap<u16, usize> = BTreeMap::new();
            let mut reported = false;
            for &idx in &conn.records {
                let event = &facts.records[idx].event;
                match event {
                    Event::PacketReceived { packet, pid: Some(pid), qos: Some(q), .. }
                        if packet == "PUBLISH" && *q > 0 =>
                    {
                        counted += 1;
                        open.entry(*pid).or_insert(idx);
                        if open.len() > max && !reported {
                            reported = true;
                            let mut lines: Vec<usize> = open.values().copied().collect();
                            lines.push(limits_idx);
                            out.push(Violation {
                                guarantee: Guarantee::ReceiveMaximum,
                                message: None,
                                device: Some(device.to_owned()),
                                expected: format!(
                                    "at most {max} unacknowledged QoS 1 and 2 PUBLISH packets \
                                     towards the device, its Receive Maximum [MQTT-3.3.4-9]"
                                ),
                                observed: format!(
                                    "{} QoS 1/2 PUBLISH packets arrived before the device had \
                                     answered them (PUBACK, PUBCOMP)",
                                    open.len()
                                ),
                                trace: facts.quote(&lines),
                            });
                        }
                    }
                    Event::PacketSent { packet, pid: Some(pid), .. }
                        if packet == "PUBACK" || packet == "PUBCOMP" =>
                    {
                        open.remove(pid);
                    }
                    Event::Delivered { qos: 2, .. } => qos2_seen += 1,
                    e if closed_by_device(e, 0x93) && !facts.packet_level => {
                        out.push(Violation {
                            guarantee: Guarantee::ReceiveMaximum,
                            message: None,
                            device: Some(device.to_owned()),
                            expected: format!(
                                "at most {max} unacknowledged QoS 1 and 2 PUBLISH packets \
                                 towards the device, its Receive Maximum [MQTT-3.3.4-9]"
                            ),
                            observed: "the device disconnected with 0x93 Receive Maximum \
                                       exceeded: more QoS 2 messages awaited PUBREL than it \
                                       allows"
                                .to_owned(),
                            trace: facts.quote(&[limits_idx, idx]),
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    let missing = if facts.packet_level {
        (counted == 0).then(|| {
            "no 5.0 device received a QoS 1 or 2 PUBLISH after announcing its Receive Maximum"
                .to_owned()
        })
    } else {
        out.notes.push(
            "without the packet level (`mqtt-sim run --packets`) only QoS 2 messages awaiting \
             PUBREL are counted, by the devices themselves; QoS 1 is not judged"
                .to_owned(),
        );
        (qos2_seen == 0).then(|| {
            "no 5.0 device received a QoS 2 message, and counting QoS 1 PUBLISH packets needs \
             the packet-level trace (`mqtt-sim run --packets`)"
                .to_owned()
        })
    };
    (out, missing)
}

/// The Maximum Packet Size rule; the second value says what was missing to judge, if anything.
pub(crate) fn maximum_packet_size(facts: &Facts<'_>) -> (Findings, Option<String>) {
    let mut out = Findings::new(Guarantee::MaximumPacketSize);
    let mut judged = 0u64;
    let mut devices: BTreeSet<&str> = BTreeSet::new();
    for (device, conns) in connections(facts) {
        for conn in &conns {
            let Some((limits_idx, limits)) = conn.limits else { continue };
            let Some(max) = limits.maximum_packet_size else { continue };
            for &idx in &conn.records {
                let event = &facts.records[idx].event;
                let observed = match event {
                    Event::PacketReceived { packet, size: Some(size), .. } => {
                        judged += 1;
                        devices.insert(device);
                        (*size > max).then(|| format!("a {packet} of {size} bytes arrived"))
                    }
                    Event::Delivered { .. } if !facts.packet_level => {
                        judged += 1;
                        devices.insert(device);
                        None
                    }
                    e if closed_by_device(e, 0x95) => Some(
                        "the device refused a packet larger than its limit and disconnected \
                         with 0x95 Packet too large"
                            .to_owned(),
                    ),
                    _ => None,
                };
                if let Some(observed) = observed {
                    out.push(Violation {
                        guarantee: Guarantee::MaximumPacketSize,
                        message: None,
                        device: Some(device.to_owned()),
                        expected: format!(
                            "no packet larger than the device's Maximum Packet Size of {max} \
                             bytes [MQTT-3.1.2-24]"
                        ),
                        observed,
                        trace: facts.quote(&[limits_idx, idx]),
                    });
                }
            }
        }
    }
    if judged > 0 {
        let what = if facts.packet_level { "packets" } else { "deliveries" };
        out.notes.push(format!(
            "{judged} {what} to {} 5.0 device(s) judged against their Maximum Packet Size",
            devices.len()
        ));
    }
    let missing = (judged == 0 && out.count == 0)
        .then(|| "no 5.0 device that announced a Maximum Packet Size received anything".to_owned());
    (out, missing)
}
