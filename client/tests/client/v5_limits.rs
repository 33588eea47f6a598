//! The server's 5.0 limits from the client's side: Receive Maximum as a send quota, Maximum
//! Packet Size, Maximum QoS and Retain Available.

use bytes::Bytes;
use mqttsim_client::{
    DisconnectOptions, DropReason, Event, LimitPolicy, MessageId, SubscribeRequest,
};
use mqttsim_codec::{PacketType, Property, QoS, ReasonCode, SubscriptionOptions};

use crate::harness::{Harness, ack_with, lines, puback, pubcomp, publish, pubrec};

fn connected(properties: Vec<Property>) -> Harness {
    let mut config = Harness::device_v5();
    config.max_inflight = 10;
    let mut h = Harness::new(config);
    h.connect_with(false, properties);
    h.clear();
    h
}

#[test]
fn mqtt_3_3_4_7_and_mqtt_4_9_0_2_no_more_unacknowledged_publishes_than_receive_maximum() {
    let mut h = connected(vec![Property::ReceiveMaximum(2)]);
    for topic in ["a", "b", "c", "d"] {
        h.publish(topic, if topic == "b" { 2 } else { 1 });
    }
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 a", "PUBLISH q2 id=2 dup=0 b"]));
    assert_eq!(h.client.quota_used(), 2);
    // PUBREC frees nothing: the QoS 2 message counts until PUBCOMP.
    h.recv(pubrec(2));
    assert_eq!(h.out(), lines(&["PUBREL 2"]));
    h.recv(pubcomp(2));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=3 dup=0 c"]));
    h.recv(puback(1));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=4 dup=0 d"]));
    assert_eq!(h.client.quota_used(), 2);
}

#[test]
fn mqtt_4_4_0_2_a_failed_pubrec_frees_the_quota_and_is_not_resent() {
    let mut h = connected(vec![Property::ReceiveMaximum(1)]);
    h.publish("a", 2);
    h.publish("b", 1);
    h.recv(ack_with(PacketType::PubRec, 1, ReasonCode::QUOTA_EXCEEDED));
    assert_eq!(h.out(), lines(&["PUBLISH q2 id=1 dup=0 a", "PUBLISH q1 id=2 dup=0 b"]));
    let events = h.events();
    assert!(events.contains(&Event::BackOff { reason: ReasonCode::QUOTA_EXCEEDED }));
    assert!(events.contains(&Event::Dropped {
        id: MessageId(1),
        reason: DropReason::Rejected(ReasonCode::QUOTA_EXCEEDED)
    }));
    assert_eq!(h.client.backoff_advised(), Some(ReasonCode::QUOTA_EXCEEDED));
    // Not retransmitted on the next connection either.
    h.client.handle_transport_down(h.now);
    assert_eq!(h.connect_with(true, vec![]), lines(&["PUBLISH q1 id=2 dup=1 b"]));
}

#[test]
fn mqtt_3_3_4_8_and_mqtt_4_9_0_3_other_packets_go_while_the_quota_is_used_up() {
    let mut h = connected(vec![Property::ReceiveMaximum(1)]);
    h.publish("a", 1);
    h.publish("b", 1);
    h.publish("q0", 0);
    h.client.subscribe(h.now, vec![("s".into(), QoS::AtLeastOnce)]).unwrap();
    h.recv(publish(1, 7, "in", false));
    h.recv(publish(2, 8, "in", false));
    assert_eq!(
        h.out(),
        lines(&["PUBLISH q1 id=1 dup=0 a", "SUBSCRIBE id=2 s:1", "PUBACK 7", "PUBREC 8"]),
        "QoS 0 waits behind b to keep order; the rest are not PUBLISHes"
    );
}

#[test]
fn mqtt_4_9_0_1_quota_starts_again_on_a_new_connection_and_holds_back_resends() {
    let mut h = connected(vec![Property::ReceiveMaximum(10)]);
    for topic in ["a", "b", "c", "d"] {
        h.publish(topic, 1);
    }
    h.recv(pubrec(9)); // unknown: closes; the four stay in flight
    h.clear();
    // The next server allows 2: two resends now, in order [MQTT-4.6.0-1], two when acked.
    assert_eq!(
        h.connect_with(true, vec![Property::ReceiveMaximum(2)]),
        lines(&["PUBLISH q1 id=1 dup=1 a", "PUBLISH q1 id=2 dup=1 b"])
    );
    h.publish("e", 1);
    assert!(h.out().is_empty(), "a new message waits behind the held resends");
    h.recv(puback(2));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=3 dup=1 c"]));
    h.recv(puback(1));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=4 dup=1 d"]));
    h.recv(puback(3));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=5 dup=0 e"]));
}

#[test]
fn session_lost_restarts_in_flight_messages_within_the_quota() {
    let mut h = connected(vec![]);
    for topic in ["a", "b", "c"] {
        h.publish(topic, 2);
    }
    h.client.handle_transport_down(h.now);
    h.clear();
    assert_eq!(
        h.connect_with(false, vec![Property::ReceiveMaximum(1)]),
        lines(&["PUBLISH q2 id=1 dup=0 a"])
    );
    h.recv(ack_with(PacketType::PubRec, 1, ReasonCode::NO_MATCHING_SUBSCRIBERS));
    assert_eq!(h.out(), lines(&["PUBREL 1"]));
    h.recv(pubcomp(1));
    assert_eq!(h.out(), lines(&["PUBLISH q2 id=2 dup=0 b"]), "never sent to this session: no DUP");
}

#[test]
fn mqtt_3_2_2_15_a_publish_larger_than_the_servers_maximum_is_dropped_not_sent() {
    let mut h = connected(vec![Property::MaximumPacketSize(30)]);
    let now = h.now;
    // PUBLISH QoS 1 "t" with 20 bytes: 2 + 1 (topic) + 2 (id) + 1 (properties) + 20 = 26
    // remaining, 28 in all: fits. 23 bytes of payload make 31: too large.
    let fits =
        h.client.publish(now, "t".into(), Bytes::from(vec![b'x'; 22]), QoS::AtLeastOnce, false);
    let big =
        h.client.publish(now, "t".into(), Bytes::from(vec![b'x'; 23]), QoS::AtLeastOnce, false);
    let (fits, big) = (fits.unwrap(), big.unwrap());
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 t"]));
    assert_eq!(
        h.events(),
        vec![
            Event::Published { id: fits, packet_id: 1, qos: QoS::AtLeastOnce, dup: false },
            Event::Dropped { id: big, reason: DropReason::PacketTooLarge { size: 31, max: 30 } },
        ]
    );
    assert_eq!(h.client.inflight_len(), 1, "the dropped message holds no packet identifier");
}

#[test]
fn mqtt_3_2_2_15_a_subscribe_too_large_is_given_up_and_reported() {
    let mut h = connected(vec![Property::MaximumPacketSize(20)]);
    let long = "x".repeat(40);
    h.client.subscribe(h.now, vec![(long, QoS::AtMostOnce)]).unwrap();
    h.client.subscribe(h.now, vec![("ok".into(), QoS::AtMostOnce)]).unwrap();
    assert_eq!(h.out(), lines(&["SUBSCRIBE id=2 ok:0"]));
    assert_eq!(
        h.events(),
        vec![Event::PacketTooLarge { packet: PacketType::Subscribe, size: 48, max: 20 }]
    );
}

#[test]
fn mqtt_3_14_2_3_and_mqtt_3_14_2_4_disconnect_drops_reason_string_then_user_properties() {
    // (server maximum, what the DISCONNECT keeps)
    let cases = [
        (100, "DISCONNECT ReasonCode(0x04) [reason=\"going\" k:v]"),
        (12, "DISCONNECT ReasonCode(0x04) [k:v]"),
        (6, "DISCONNECT ReasonCode(0x04)"),
    ];
    for (max, expected) in cases {
        let mut h = connected(vec![Property::MaximumPacketSize(max)]);
        let options = DisconnectOptions {
            reason_code: ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
            reason_string: Some("going".into()),
            user_properties: vec![("k".into(), "v".into())],
            ..DisconnectOptions::default()
        };
        h.client.disconnect_with(h.now, options).unwrap();
        assert_eq!(h.out(), vec![expected.to_string(), "CLOSE".into()], "max {max}");
    }
}

#[test]
fn mqtt_3_2_2_15_even_an_acknowledgement_is_not_sent_too_large() {
    // A server announcing 3 bytes gets no 4-byte PUBACK; the client says so.
    let mut h = connected(vec![Property::MaximumPacketSize(3)]);
    h.recv(publish(1, 5, "in", false));
    assert!(h.out().is_empty());
    let events = h.events();
    assert_eq!(events[1], Event::PacketTooLarge { packet: PacketType::PubAck, size: 4, max: 3 });
}

#[test]
fn mqtt_3_2_2_11_above_maximum_qos_downgrades_or_refuses() {
    let mut h = connected(vec![Property::MaximumQoS(0)]);
    let id = MessageId(h.publish("a", 2));
    assert_eq!(h.out(), lines(&["PUBLISH q0 id=0 dup=0 a"]));
    assert_eq!(
        h.events(),
        vec![
            Event::Downgraded { id, qos: QoS::AtMostOnce, retain: false },
            Event::Published { id, packet_id: 0, qos: QoS::AtMostOnce, dup: false },
        ]
    );
    let mut config = Harness::device_v5();
    config.limit_policy = LimitPolicy::Refuse;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![Property::MaximumQoS(1)]);
    h.clear();
    let id = MessageId(h.publish("a", 2));
    h.publish("b", 1);
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 b"]));
    assert_eq!(
        h.events()[0],
        Event::Dropped { id, reason: DropReason::Unsupported(ReasonCode::QOS_NOT_SUPPORTED) }
    );
}

#[test]
fn mqtt_3_2_2_14_retain_unavailable_clears_retain_or_refuses() {
    for (policy, expected) in [
        (LimitPolicy::Downgrade, lines(&["PUBLISH q1 id=1 dup=0 state"])),
        (LimitPolicy::Refuse, vec![]),
        (LimitPolicy::RefuseRetain, vec![]),
    ] {
        let mut config = Harness::device_v5();
        config.limit_policy = policy;
        let mut h = Harness::new(config);
        h.connect_with(false, vec![Property::RetainAvailable(0)]);
        h.clear();
        let now = h.now;
        let id = h.client.publish(now, "state".into(), Bytes::new(), QoS::AtLeastOnce, true);
        let id = id.unwrap();
        assert_eq!(h.out(), expected, "{policy:?}");
        let first = h.events().remove(0);
        match policy {
            LimitPolicy::Downgrade => {
                assert_eq!(first, Event::Downgraded { id, qos: QoS::AtLeastOnce, retain: false })
            }
            LimitPolicy::Refuse | LimitPolicy::RefuseRetain => assert_eq!(
                first,
                Event::Dropped {
                    id,
                    reason: DropReason::Unsupported(ReasonCode::RETAIN_NOT_SUPPORTED)
                }
            ),
        }
    }
}

/// `RefuseRetain` gives up a retained message (also one queued before the CONNACK said
/// Retain Available 0) but sends one above Maximum QoS at it.
#[test]
fn refuse_retain_downgrades_the_qos_and_refuses_the_retain() {
    let mut config = Harness::device_v5();
    config.limit_policy = LimitPolicy::RefuseRetain;
    let mut h = Harness::new(config);
    let now = h.now;
    let queued = h.client.publish(now, "early".into(), Bytes::new(), QoS::AtLeastOnce, true);
    let queued = queued.unwrap();
    let sent = h.connect_with(false, vec![Property::MaximumQoS(1), Property::RetainAvailable(0)]);
    assert_eq!(sent, Vec::<String>::new(), "nothing is sent after CONNACK");
    assert!(
        h.events().contains(&Event::Dropped {
            id: queued,
            reason: DropReason::Unsupported(ReasonCode::RETAIN_NOT_SUPPORTED)
        }),
        "the message queued before CONNACK is given up"
    );
    let id = MessageId(h.publish("a", 2));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 a"]));
    assert_eq!(
        h.events(),
        vec![
            Event::Downgraded { id, qos: QoS::AtLeastOnce, retain: false },
            Event::Published { id, packet_id: 1, qos: QoS::AtLeastOnce, dup: false },
        ]
    );
}

#[test]
fn a_server_without_subscription_identifiers_gets_subscribes_without_one() {
    let mut h = connected(vec![Property::SubscriptionIdentifierAvailable(0)]);
    let options = SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() };
    let mut request = SubscribeRequest::new(vec![("a".into(), options)]);
    request.identifier = Some(7);
    h.client.subscribe_with(h.now, request).unwrap();
    assert_eq!(h.out(), lines(&["SUBSCRIBE id=1 a:1"]));
}
