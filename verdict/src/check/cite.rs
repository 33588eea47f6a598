//! The statement ids the checker cites where MQTT 3.1.1 and 5.0 number the same rule
//! differently. A violation cites the id of the version the device it is about speaks (for a
//! delivery, the subscriber; for a resend taken as a duplicate, the publisher).

/// The retained messages sent on a new subscription: 3.1.1 [MQTT-3.3.1-6]; in 5.0, Retain
/// Handling 0 [MQTT-3.3.1-9] or 1 (only if the subscription is new) [MQTT-3.3.1-10].
pub(crate) fn retained_on_subscribe(v5: bool, retain_handling: u8) -> &'static str {
    match (v5, retain_handling) {
        (false, _) => "MQTT-3.3.1-6",
        (true, 1) => "MQTT-3.3.1-10",
        (true, _) => "MQTT-3.3.1-9",
    }
}

/// A zero-byte retained PUBLISH is forwarded like any other and clears the topic's retained
/// message: 3.1.1 [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6].
pub(crate) fn retained_clear(v5: bool) -> &'static str {
    if v5 { "MQTT-3.3.1-6" } else { "MQTT-3.3.1-10" }
}

/// A message goes to a subscriber at the lower of the publish and the granted QoS: 3.1.1
/// [MQTT-3.8.4-6], 5.0 [MQTT-3.8.4-8].
pub(crate) fn effective_qos(v5: bool) -> &'static str {
    if v5 { "MQTT-3.8.4-8" } else { "MQTT-3.8.4-6" }
}

/// A QoS 2 receiver passes a message on once, however often its PUBLISH is repeated before
/// PUBREL: 3.1.1 [MQTT-4.3.3-2], 5.0 [MQTT-4.3.3-10].
pub(crate) fn qos2_once(v5: bool) -> &'static str {
    if v5 { "MQTT-4.3.3-10" } else { "MQTT-4.3.3-2" }
}

/// The receiver acknowledges a message (PUBACK, PUBREC) once it has taken it over: 3.1.1
/// [MQTT-4.3.2-2] and [MQTT-4.3.3-2], 5.0 [MQTT-4.3.2-4] and [MQTT-4.3.3-8].
pub(crate) fn acknowledged_ownership(v5: bool) -> &'static str {
    if v5 { "MQTT-4.3.2-4, MQTT-4.3.3-8" } else { "MQTT-4.3.2-2, MQTT-4.3.3-2" }
}

/// The sender of a QoS 1 or 2 message keeps it unacknowledged (and sends it) until the
/// acknowledgement: 3.1.1 [MQTT-4.3.2-1] / [MQTT-4.3.3-1], 5.0 [MQTT-4.3.2-3] / [MQTT-4.3.3-3].
pub(crate) fn sender_keeps(v5: bool, qos: u8) -> &'static str {
    match (v5, qos) {
        (false, 2) => "MQTT-4.3.3-1",
        (false, _) => "MQTT-4.3.2-1",
        (true, 2) => "MQTT-4.3.3-3",
        (true, _) => "MQTT-4.3.2-3",
    }
}

/// A new connection with a connected client's id closes the old connection: 3.1.1
/// [MQTT-3.1.4-2], 5.0 [MQTT-3.1.4-3].
pub(crate) fn takeover(v5: bool) -> &'static str {
    if v5 { "MQTT-3.1.4-3" } else { "MQTT-3.1.4-2" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id cited exists in its version's numbering (3.1.1: section 3 and 4 ids of the
    /// standard; 5.0: Appendix B), and the two versions differ where this module says so.
    #[test]
    fn the_versions_number_these_rules_differently() {
        for v5 in [false, true] {
            let all = [
                retained_on_subscribe(v5, 0),
                retained_clear(v5),
                effective_qos(v5),
                qos2_once(v5),
                acknowledged_ownership(v5),
                sender_keeps(v5, 1),
                sender_keeps(v5, 2),
                takeover(v5),
            ];
            for id in all {
                assert!(id.starts_with("MQTT-"), "{id}");
            }
        }
        assert_ne!(retained_clear(false), retained_clear(true));
        assert_ne!(retained_on_subscribe(false, 0), retained_on_subscribe(true, 0));
        assert_eq!(retained_on_subscribe(true, 1), "MQTT-3.3.1-10");
    }
}
