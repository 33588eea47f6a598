//! 5.0 reason codes the server sends: on acknowledgements, SUBACK, UNSUBACK and DISCONNECT.

use mqttsim_client::{CloseReason, DropReason, Event, MessageId, ProtocolViolation};
use mqttsim_codec::{PacketType, Property, QoS, ReasonCode};

use crate::harness::{
    Harness, ack_with, lines, pubcomp, pubrec, server_disconnect, suback, unsuback_v5,
};

fn connected() -> Harness {
    let mut h = Harness::new(Harness::device_v5());
    h.connect_with(false, vec![]);
    h.clear();
    h
}

#[test]
fn success_codes_below_0x80_complete_the_message_with_their_reason() {
    let mut h = connected();
    let id = MessageId(h.publish("nobody", 1));
    let reason = ReasonCode::NO_MATCHING_SUBSCRIBERS;
    h.recv(ack_with(PacketType::PubAck, 1, reason));
    let acked = Event::Acked { id, packet_id: 1, qos: QoS::AtLeastOnce, reason };
    assert_eq!(h.events()[1..], [acked]);
    let id = MessageId(h.publish("nobody", 2));
    h.recv(ack_with(PacketType::PubRec, 2, reason));
    assert_eq!(
        h.out(),
        lines(&["PUBLISH q1 id=1 dup=0 nobody", "PUBLISH q2 id=2 dup=0 nobody", "PUBREL 2"])
    );
    h.recv(pubcomp(2));
    let acked =
        Event::Acked { id, packet_id: 2, qos: QoS::ExactlyOnce, reason: ReasonCode::SUCCESS };
    assert_eq!(h.events()[1..], [acked]);
}

#[test]
fn mqtt_4_4_0_2_failure_codes_drop_the_message_and_quota_or_rate_codes_advise_backing_off() {
    // (code, advises backing off)
    let cases = [
        (ReasonCode::NOT_AUTHORIZED, false),
        (ReasonCode::TOPIC_NAME_INVALID, false),
        (ReasonCode::QUOTA_EXCEEDED, true),
        (ReasonCode::PAYLOAD_FORMAT_INVALID, false),
    ];
    for (code, backoff) in cases {
        for kind in [PacketType::PubAck, PacketType::PubRec] {
            let mut h = connected();
            let qos = if kind == PacketType::PubAck { 1 } else { 2 };
            let id = MessageId(h.publish("t", qos));
            h.clear();
            h.recv(ack_with(kind, 1, code));
            assert!(h.out().is_empty(), "no PUBREL after a failed PUBREC");
            let mut expected = Vec::new();
            if backoff {
                expected.push(Event::BackOff { reason: code });
            }
            expected.push(Event::Dropped { id, reason: DropReason::Rejected(code) });
            assert_eq!(h.events(), expected, "{kind:?} {code:?}");
            assert_eq!(h.client.inflight_len(), 0);
        }
    }
}

#[test]
fn suback_reason_codes_per_filter_keep_only_what_was_granted() {
    let mut h = connected();
    let filters = vec![
        ("a".to_string(), QoS::AtLeastOnce),
        ("$share/g/b".to_string(), QoS::AtLeastOnce),
        ("c/#".to_string(), QoS::ExactlyOnce),
    ];
    h.client.subscribe(h.now, filters).unwrap();
    h.recv(suback(1, &[0x01, 0x9E, 0xA2]));
    assert_eq!(
        h.events(),
        vec![Event::Subscribed {
            packet_id: 1,
            granted: vec![
                ReasonCode::GRANTED_QOS_1,
                ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
                ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
            ]
        }]
    );
    let kept: Vec<&str> = h.client.subscriptions().iter().map(|s| s.filter.as_str()).collect();
    assert_eq!(kept, vec!["a"]);
}

#[test]
fn unsuback_reason_codes_are_reported_one_per_filter() {
    let mut h = connected();
    h.client.unsubscribe(h.now, vec!["a".into(), "b".into()]).unwrap();
    h.recv(unsuback_v5(1, &[0x00, 0x11]));
    assert_eq!(
        h.events(),
        vec![Event::Unsubscribed {
            packet_id: 1,
            codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED]
        }]
    );
    h.client.unsubscribe(h.now, vec!["a".into(), "b".into()]).unwrap();
    h.recv(unsuback_v5(2, &[0x00]));
    let violation = ProtocolViolation::UnsubAckCount { expected: 2, got: 1 };
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Protocol(violation) }]);
}

#[test]
fn server_disconnect_reasons_close_and_busy_ones_advise_backing_off() {
    // (reason, advises backing off)
    let cases = [
        (ReasonCode::NORMAL_DISCONNECTION, false),
        (ReasonCode::SESSION_TAKEN_OVER, false),
        (ReasonCode::KEEP_ALIVE_TIMEOUT, false),
        (ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, false),
        (ReasonCode::SERVER_BUSY, true),
        (ReasonCode::QUOTA_EXCEEDED, true),
        (ReasonCode::MESSAGE_RATE_TOO_HIGH, true),
        (ReasonCode::SERVER_SHUTTING_DOWN, true),
        (ReasonCode::CONNECTION_RATE_EXCEEDED, true),
    ];
    for (reason, backoff) in cases {
        let mut h = connected();
        h.recv(server_disconnect(reason, vec![]));
        assert_eq!(h.out(), lines(&["CLOSE"]), "nothing is sent after a server DISCONNECT");
        let mut expected = Vec::new();
        if backoff {
            expected.push(Event::BackOff { reason });
        }
        expected.push(Event::Closed { reason: CloseReason::ServerDisconnect(reason) });
        assert_eq!(h.events(), expected, "{reason:?}");
        assert_eq!(h.client.backoff_advised(), backoff.then_some(reason));
    }
}

#[test]
fn a_server_reference_on_disconnect_is_kept() {
    let mut h = connected();
    let reference = Property::ServerReference("backup:1883".into());
    h.recv(server_disconnect(ReasonCode::USE_ANOTHER_SERVER, vec![reference]));
    assert_eq!(h.client.limits().server_reference.as_deref(), Some("backup:1883"));
}

#[test]
fn mqtt_3_14_2_2_a_server_disconnect_with_session_expiry_is_a_violation() {
    let mut h = connected();
    h.recv(server_disconnect(ReasonCode::SUCCESS, vec![Property::SessionExpiryInterval(0)]));
    assert_eq!(h.out(), lines(&["CLOSE"]), "no DISCONNECT answers a DISCONNECT");
    let violation = ProtocolViolation::SessionExpiryInServerDisconnect;
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Protocol(violation) }]);
}

#[test]
fn v311_has_no_reason_codes_so_no_advice() {
    let mut h = Harness::new(Harness::device());
    h.connect(false);
    h.publish("t", 2);
    h.recv(pubrec(1));
    assert_eq!(h.client.backoff_advised(), None);
}

#[test]
fn a_pubrel_with_packet_identifier_not_found_still_releases_and_completes() {
    let mut h = connected();
    h.recv(crate::harness::publish(2, 4, "in", false));
    assert_eq!(h.out(), lines(&["PUBREC 4"]));
    h.recv(ack_with(PacketType::PubRel, 4, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND));
    assert_eq!(h.out(), lines(&["PUBCOMP 4"]));
    assert_eq!(h.client.inbound_qos2_len(), 0);
}
