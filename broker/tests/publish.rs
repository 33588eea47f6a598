//! QoS 0, 1 and 2 in both directions, the in-flight window, ordering and the offline queue.

use bytestring::ByteString;
use mqttsim_broker::{BrokerConfig, DisconnectReason, DropReason, Event, Limit, OverflowPolicy};
use mqttsim_codec::{Ack, Disconnect, Packet, QoS};

use crate::harness::{Harness, Q0, Q1, Q2, payloads, publish};

#[test]
fn mqtt_4_3_inbound_acknowledgements_per_qos() {
    let cases = [
        (Q0, vec![]),
        (Q1, vec![Packet::PubAck(Ack::new(7))]), // [MQTT-4.3.2-2]
        (Q2, vec![Packet::PubRec(Ack::new(7))]), // [MQTT-4.3.3-2]
    ];
    for (qos, expected) in cases {
        let mut h = Harness::default();
        let conn = h.connect("pub", true);
        let id = if qos == Q0 { 0 } else { 7 };
        h.send(conn, Packet::Publish(publish("t", "x", qos, false, id)));
        assert_eq!(h.take(conn), expected, "{qos:?}");
        let accepted =
            h.take_events().into_iter().find(|e| matches!(e, Event::MessageAccepted { .. }));
        let expected_event = Event::MessageAccepted {
            client_id: ByteString::from_static("pub"),
            topic: ByteString::from_static("t"),
            packet_id: id,
            qos,
            retain: false,
            payload: bytes::Bytes::from_static(b"x"),
        };
        assert_eq!(accepted, Some(expected_event), "{qos:?}");
    }
}

#[test]
fn mqtt_3_6_4_1_pubrel_is_answered_with_pubcomp_even_if_unknown() {
    let mut h = Harness::default();
    let conn = h.connect("pub", true);
    h.send(conn, Packet::Publish(publish("t", "x", Q2, false, 3)));
    h.take(conn);
    for id in [3, 3, 99] {
        h.send(conn, Packet::PubRel(Ack::new(id)));
        assert_eq!(h.take(conn), [Packet::PubComp(Ack::new(id))]);
    }
    assert_eq!(h.closed(conn), None);
}

#[test]
fn mqtt_4_3_3_2_qos2_resent_before_pubrel_is_not_forwarded_again() {
    let mut h = Harness::default();
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q0);
    let conn = h.connect("pub", true);
    let mut packet = publish("t", "once", Q2, false, 5);
    h.send(conn, Packet::Publish(packet.clone()));
    packet.dup = true;
    h.send(conn, Packet::Publish(packet.clone()));
    assert_eq!(h.take(conn), [Packet::PubRec(Ack::new(5)), Packet::PubRec(Ack::new(5))]);
    assert_eq!(payloads(&h.publishes(sub)), ["once"]);
    // After PUBREL the identifier is free: the same id is a new message.
    h.send(conn, Packet::PubRel(Ack::new(5)));
    h.send(conn, Packet::Publish(publish("t", "twice", Q2, false, 5)));
    assert_eq!(payloads(&h.publishes(sub)), ["twice"]);
}

#[test]
fn mqtt_3_8_4_6_delivery_qos_is_the_minimum_of_publish_and_subscription_qos() {
    for sub_qos in [Q0, Q1, Q2] {
        for pub_qos in [Q0, Q1, Q2] {
            let mut h = Harness::default();
            let sub = h.connect("sub", true);
            h.subscribe(sub, "t", sub_qos);
            let conn = h.connect("pub", true);
            h.publish(conn, "t", "x", pub_qos, false);
            let got = h.publishes(sub);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].qos, pub_qos.min(sub_qos), "pub {pub_qos:?} sub {sub_qos:?}");
            assert_eq!(got[0].packet_id == 0, got[0].qos == Q0, "ids only for QoS 1 and 2");
            assert!(!got[0].dup);
        }
    }
}

#[test]
fn outgoing_qos1_and_qos2_flows() {
    let mut h = Harness::default();
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q2);
    let conn = h.connect("pub", true);
    h.publish(conn, "t", "one", Q1, false);
    h.publish(conn, "t", "two", Q2, false);
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["one", "two"]);
    let (one, two) = (got[0].packet_id, got[1].packet_id);
    assert_ne!(one, two);
    assert_eq!(h.broker.session("sub").unwrap().inflight.len(), 2);
    h.send(sub, Packet::PubAck(Ack::new(one)));
    h.send(sub, Packet::PubRec(Ack::new(two)));
    assert_eq!(h.take(sub), [Packet::PubRel(Ack::new(two))]);
    // A repeated PUBREC gets the PUBREL again.
    h.send(sub, Packet::PubRec(Ack::new(two)));
    assert_eq!(h.take(sub), [Packet::PubRel(Ack::new(two))]);
    h.send(sub, Packet::PubComp(Ack::new(two)));
    assert!(h.broker.session("sub").unwrap().inflight.is_empty());
    // Stray acknowledgements are ignored.
    for packet in
        [Packet::PubAck(Ack::new(one)), Packet::PubComp(Ack::new(9)), Packet::PubRec(Ack::new(9))]
    {
        h.send(sub, packet);
    }
    assert!(h.take(sub).is_empty());
    assert_eq!(h.closed(sub), None);
}

#[test]
fn inflight_window_holds_later_messages_in_order() {
    let config = BrokerConfig { max_inflight: 2, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q2);
    let conn = h.connect("pub", true);
    // QoS 0 messages keep their place behind waiting QoS 1 ones [MQTT-4.6.0-6].
    let sent = [("a", Q1), ("b", Q1), ("c", Q1), ("d", Q0), ("e", Q2), ("f", Q0)];
    for (payload, qos) in sent {
        h.publish(conn, "t", payload, qos, false);
    }
    let first = h.publishes(sub);
    assert_eq!(payloads(&first), ["a", "b"]);
    h.send(sub, Packet::PubAck(Ack::new(first[1].packet_id)));
    let second = h.publishes(sub);
    assert_eq!(payloads(&second), ["c", "d"]);
    h.send(sub, Packet::PubAck(Ack::new(first[0].packet_id)));
    assert_eq!(payloads(&h.publishes(sub)), ["e", "f"]);
}

#[test]
fn mqtt_4_6_0_order_per_publisher_and_topic_is_kept_across_subscribers() {
    let config = BrokerConfig { max_inflight: 3, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let subs: Vec<_> = (0..3).map(|i| h.connect(&format!("sub{i}"), true)).collect();
    for (i, &sub) in subs.iter().enumerate() {
        h.subscribe(sub, if i == 0 { "t/#" } else { "t/+" }, [Q0, Q1, Q2][i]);
    }
    let conn = h.connect("pub", true);
    let expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    for (i, payload) in expected.iter().enumerate() {
        h.publish(conn, "t/x", payload, [Q0, Q1, Q2][i % 3], false);
    }
    for sub in subs {
        assert_eq!(h.receive(sub), expected, "{sub}");
    }
}

#[test]
fn mqtt_4_4_0_1_unacknowledged_messages_are_resent_with_dup_on_reconnect() {
    let mut h = Harness::default();
    let sub = h.connect("sub", false);
    h.subscribe(sub, "t", Q2);
    let conn = h.connect("pub", true);
    h.publish(conn, "t", "q1", Q1, false);
    h.publish(conn, "t", "q2-rec", Q2, false);
    h.publish(conn, "t", "q2-comp", Q2, false);
    let got = h.publishes(sub);
    h.send(sub, Packet::PubRec(Ack::new(got[2].packet_id)));
    h.take(sub);
    h.lose(sub);
    h.publish(conn, "t", "queued", Q1, false);
    let back = h.connect("sub", false);
    let resent = h.take(back);
    let expected_dups = [&got[0], &got[1]]
        .map(|p| Packet::Publish(mqttsim_codec::Publish { dup: true, ..p.clone() }));
    assert_eq!(resent[..2], expected_dups);
    assert_eq!(resent[2], Packet::PubRel(Ack::new(got[2].packet_id)));
    let Packet::Publish(queued) = &resent[3] else { panic!("{:?}", resent[3]) };
    assert_eq!((&*queued.payload, queued.dup), (&b"queued"[..], false));
    assert_eq!(resent.len(), 4);
}

#[test]
fn offline_persistent_session_queues_qos1_and_qos2_and_drops_qos0_by_default() {
    for queue_qos0_offline in [false, true] {
        let config = BrokerConfig { queue_qos0_offline, ..BrokerConfig::default() };
        let mut h = Harness::new(config);
        let sub = h.connect("sub", false);
        h.subscribe(sub, "t", Q2);
        h.send(sub, Packet::Disconnect(Disconnect::default()));
        let conn = h.connect("pub", true);
        for (payload, qos) in [("a", Q1), ("b", Q0), ("c", Q2)] {
            h.publish(conn, "t", payload, qos, false);
        }
        let dropped: Vec<_> = h
            .take_events()
            .into_iter()
            .filter(|e| matches!(e, Event::MessageDropped { reason: DropReason::QoS0Offline, .. }))
            .collect();
        assert_eq!(dropped.len(), usize::from(!queue_qos0_offline));
        let back = h.connect("sub", false);
        let expected: &[&str] = if queue_qos0_offline { &["a", "b", "c"] } else { &["a", "c"] };
        assert_eq!(h.receive(back), expected);
    }
}

#[test]
fn clean_session_subscriptions_do_not_outlive_the_connection() {
    let mut h = Harness::default();
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q1);
    h.lose(sub);
    let conn = h.connect("pub", true);
    h.publish(conn, "t", "x", Q1, false);
    let back = h.connect("sub", false);
    assert!(h.take(back).is_empty());
}

#[test]
fn offline_queue_overflow_policies() {
    let cases = [
        (OverflowPolicy::DropNewest, ["m0", "m1", "m2"], ["m3", "m4"]),
        (OverflowPolicy::DropOldest, ["m2", "m3", "m4"], ["m0", "m1"]),
    ];
    for (overflow, kept, dropped) in cases {
        let config = BrokerConfig { max_queued_messages: 3, overflow, ..BrokerConfig::default() };
        let mut h = Harness::new(config);
        let sub = h.connect("sub", false);
        h.subscribe(sub, "t/+", Q1);
        h.lose(sub);
        let conn = h.connect("pub", true);
        for i in 0..5 {
            h.publish(conn, &format!("t/m{i}"), &format!("m{i}"), Q1, false);
        }
        let dropped_topics: Vec<String> = h
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::MessageDropped {
                    client_id,
                    topic,
                    payload,
                    reason: DropReason::QueueFull,
                } => {
                    assert_eq!(client_id, "sub");
                    assert_eq!(format!("t/{}", String::from_utf8_lossy(&payload)), &*topic);
                    Some(topic.to_string())
                }
                _ => None,
            })
            .collect();
        assert_eq!(dropped_topics, dropped.map(|d| format!("t/{d}")), "{overflow:?}");
        let back = h.connect("sub", false);
        assert_eq!(h.receive(back), kept, "{overflow:?}");
    }
}

#[test]
fn online_queue_behind_the_inflight_window_is_bounded_too() {
    let config =
        BrokerConfig { max_inflight: 1, max_queued_messages: 2, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q1);
    let conn = h.connect("pub", true);
    for i in 0..6 {
        h.publish(conn, "t", &format!("m{i}"), Q1, false);
    }
    let session = h.broker.session("sub").unwrap();
    assert_eq!((session.inflight.len(), session.queue.len()), (1, 2));
    assert_eq!(h.receive(sub), ["m0", "m1", "m2"]);
}

#[test]
fn publish_violations_close_only_that_connection() {
    let cases = [
        (publish("a/+", "x", Q0, false, 0), "MQTT-3.3.2-2"),
        (publish("a\0b", "x", Q0, false, 0), "MQTT-4.7.3-2"),
        (publish("", "x", Q0, false, 0), "MQTT-4.7.3-1"),
        (publish("a", "x", Q1, false, 0), "MQTT-2.3.1-1"),
        (publish("a", "x", Q2, false, 0), "MQTT-2.3.1-1"),
    ];
    for (packet, statement) in cases {
        let mut h = Harness::default();
        let bystander = h.connect("other", true);
        h.subscribe(bystander, "#", Q0);
        let conn = h.connect("pub", true);
        h.send(conn, Packet::Publish(packet.clone()));
        match h.closed(conn) {
            Some(DisconnectReason::ProtocolViolation { statement: Some(s), .. }) => {
                assert_eq!(*s, statement, "{packet:?}")
            }
            other => panic!("{packet:?}: {other:?}"),
        }
        assert_eq!(h.closed(bystander), None);
        assert!(h.take(bystander).is_empty(), "nothing forwarded for {packet:?}");
    }
}

#[test]
fn inbound_qos2_awaiting_pubrel_is_capped() {
    let config = BrokerConfig { max_inbound_qos2: 3, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let conn = h.connect("pub", false);
    for id in 1..=3 {
        h.send(conn, Packet::Publish(publish("t", "x", Q2, false, id)));
    }
    h.send(conn, Packet::PubRel(Ack::new(1)));
    h.send(conn, Packet::Publish(publish("t", "x", Q2, false, 4)));
    assert_eq!(h.closed(conn), None, "PUBREL freed a slot");
    h.send(conn, Packet::Publish(publish("t", "x", Q2, false, 5)));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::LimitExceeded(Limit::InboundQos2)));
}

#[test]
fn overlapping_subscriptions_deliver_once_at_the_highest_qos() {
    let mut h = Harness::default();
    let sub = h.connect("sub", true);
    h.subscribe_many(sub, &[("a/+", Q1), ("a/#", Q2), ("#", Q0), ("a/b", Q0)]);
    let conn = h.connect("pub", true);
    h.publish(conn, "a/b", "x", Q2, false);
    let got = h.publishes(sub);
    assert_eq!(got.len(), 1, "[MQTT-3.3.5-1]");
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
}

#[test]
fn an_inflight_window_of_zero_still_sends_one_message_at_a_time() {
    let config = BrokerConfig { max_inflight: 0, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q1);
    let conn = h.connect("pub", true);
    for payload in ["a", "b"] {
        h.publish(conn, "t", payload, Q1, false);
    }
    assert_eq!(payloads(&h.publishes(sub)), ["a"]);
}
