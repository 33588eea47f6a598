//! SUBSCRIBE and UNSUBSCRIBE: SUBACK codes, replacement, `$` topics, limits.

use mqttsim_broker::{BrokerConfig, DisconnectReason, Event, Limit};
use mqttsim_codec::{Packet, Properties, QoS, ReasonCode, Subscribe, UnsubAck, Unsubscribe};

use crate::harness::{Harness, Q0, Q1, Q2, payloads};

const FAIL: ReasonCode = ReasonCode::UNSPECIFIED_ERROR;

#[test]
fn mqtt_3_8_4_suback_codes() {
    // (max_qos, filters with requested QoS, expected SUBACK codes)
    type Case = (QoS, &'static [(&'static str, QoS)], &'static [u8]);
    let cases: [Case; 5] = [
        (Q2, &[("a", Q0), ("b", Q1), ("c", Q2)], &[0, 1, 2]),
        (Q1, &[("a", Q0), ("b", Q1), ("c", Q2)], &[0, 1, 1]), // [MQTT-3.8.4-5]
        (Q0, &[("a", Q2)], &[0]),
        // [MQTT-3.8.4-5]: 0x80 for an invalid filter, the others still granted.
        (Q2, &[("a/#/b", Q1), ("ok/+", Q1), ("x+", Q0), ("", Q0)], &[0x80, 1, 0x80, 0x80]),
        (Q2, &[("$share/g", Q1), ("$SYS/#", Q1)], &[0x80, 1]),
    ];
    for (max_qos, filters, expected) in cases {
        let mut h = Harness::new(BrokerConfig { max_qos, ..BrokerConfig::default() });
        let conn = h.connect("c", true);
        let codes: Vec<u8> = h.subscribe_many(conn, filters).iter().map(|c| c.0).collect();
        assert_eq!(codes, expected, "{filters:?}");
        let stored = h.broker.session("c").unwrap().subscriptions.len();
        assert_eq!(stored, expected.iter().filter(|&&c| c != FAIL.0).count());
        assert_eq!(h.closed(conn), None);
    }
}

#[test]
fn mqtt_3_8_4_3_resubscribing_replaces_the_subscription() {
    let mut h = Harness::default();
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q2);
    h.subscribe(sub, "t", Q0);
    assert_eq!(h.broker.session("sub").unwrap().subscriptions.len(), 1);
    let conn = h.connect("pub", true);
    h.publish(conn, "t", "x", Q2, false);
    let got = h.publishes(sub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos, Q0, "the new QoS applies");
}

#[test]
fn mqtt_3_10_4_unsubscribe_stops_delivery_and_is_always_acknowledged() {
    let mut h = Harness::default();
    let sub = h.connect("sub", true);
    h.subscribe(sub, "a/+", Q1);
    h.subscribe(sub, "b", Q1);
    h.unsubscribe(sub, "a/+");
    h.unsubscribe(sub, "never/subscribed");
    let acks: Vec<_> = h.take(sub);
    assert!(
        matches!(&acks[..], [Packet::UnsubAck(UnsubAck { reason_codes: a, .. }), Packet::UnsubAck(UnsubAck { reason_codes: b, .. })] if a.is_empty() && b.is_empty())
    );
    let conn = h.connect("pub", true);
    h.publish(conn, "a/x", "gone", Q1, false);
    h.publish(conn, "b", "kept", Q1, false);
    assert_eq!(h.receive(sub), ["kept"]);
}

#[test]
fn mqtt_3_10_4_3_messages_in_flight_survive_unsubscribe() {
    let config = BrokerConfig { max_inflight: 1, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", Q1);
    let conn = h.connect("pub", true);
    h.publish(conn, "t", "one", Q1, false);
    h.publish(conn, "t", "two", Q1, false);
    h.unsubscribe(sub, "t");
    let packets = h.take(sub);
    assert!(matches!(packets.last(), Some(Packet::UnsubAck(_))));
    let Packet::Publish(first) = &packets[0] else { panic!("{packets:?}") };
    h.send(sub, Packet::PubAck(mqttsim_codec::Ack::new(first.packet_id)));
    assert_eq!(h.receive(sub), ["two"]);
}

#[test]
fn empty_subscribe_and_unsubscribe_are_violations() {
    let cases = [
        (
            Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![],
                properties: Properties::new(),
            }),
            "MQTT-3.8.3-3",
        ),
        (
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 1,
                filters: vec![],
                properties: Properties::new(),
            }),
            "MQTT-3.10.3-2",
        ),
    ];
    for (packet, statement) in cases {
        let mut h = Harness::default();
        let conn = h.connect("c", true);
        h.send(conn, packet);
        assert!(h.take(conn).is_empty());
        assert!(
            matches!(h.closed(conn), Some(DisconnectReason::ProtocolViolation { statement: Some(s), .. }) if *s == statement)
        );
    }
}

#[test]
fn mqtt_4_7_2_1_wildcards_do_not_match_dollar_topics() {
    let mut h = Harness::default();
    let all = h.connect("all", true);
    h.subscribe_many(all, &[("#", Q0), ("+/status", Q0)]);
    let sys = h.connect("sys", true);
    h.subscribe(sys, "$SYS/+", Q0);
    let conn = h.connect("pub", true);
    h.publish(conn, "$SYS/status", "s", Q0, false);
    h.publish(conn, "dev/status", "d", Q0, false);
    assert_eq!(payloads(&h.publishes(all)), ["d"]);
    assert_eq!(payloads(&h.publishes(sys)), ["s"]);
}

/// The 1,001st filter used to close the connection without a SUBACK.
#[test]
fn subscription_limit_answers_suback_0x80_and_keeps_the_connection() {
    let config = BrokerConfig { max_subscriptions_per_session: 3, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let conn = h.connect("c", true);
    let ok = |q: QoS| ReasonCode(q.as_u8());
    assert_eq!(h.subscribe_many(conn, &[("a", Q0), ("b", Q0), ("c", Q0)]), [ok(Q0); 3]);
    // Replacing an existing filter fits; an invalid filter and a fourth new one get 0x80, each
    // for itself [MQTT-3.8.4-5], in the one SUBACK [MQTT-3.8.4-1].
    let codes = h.subscribe_many(conn, &[("a", Q1), ("bad#", Q0), ("d", Q1), ("b", Q2)]);
    assert_eq!(codes, [ok(Q1), ReasonCode(0x80), ReasonCode(0x80), ok(Q2)]);
    assert_eq!(h.closed(conn), None, "the connection stays open");
    let publisher = h.connect("p", true);
    h.publish(publisher, "d", "not subscribed", Q0, false);
    h.publish(publisher, "a", "subscribed", Q0, false);
    assert_eq!(payloads(&h.publishes(conn)), ["subscribed"]);
    // Once a filter is gone, there is room again.
    h.unsubscribe(conn, "c");
    h.take(conn);
    assert_eq!(h.subscribe(conn, "d", Q1), ok(Q1));
    let _ = Limit::Subscriptions;
}

#[test]
fn subscription_events() {
    let mut h = Harness::default();
    let conn = h.connect("c", true);
    h.take_events();
    h.subscribe_many(conn, &[("a", Q1), ("a+", Q0)]);
    h.unsubscribe(conn, "a");
    let c = bytestring::ByteString::from_static("c");
    assert_eq!(
        h.take_events(),
        [
            Event::Subscribed { client_id: c.clone(), filter: "a".into(), granted: Some(Q1) },
            Event::Subscribed { client_id: c.clone(), filter: "a+".into(), granted: None },
            Event::Unsubscribed { client_id: c, filter: "a".into() },
        ]
    );
    let _ = Q2;
}
