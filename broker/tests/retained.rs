//! Retained messages: set, replace, clear; RETAIN flag on delivery.

use mqttsim_broker::BrokerConfig;
use mqttsim_codec::QoS;

use crate::harness::{Harness, Q0, Q1, Q2, payloads};

/// Retained publishes on one topic, then what a new subscriber gets.
#[test]
fn mqtt_3_3_1_retained_set_replace_clear() {
    // (publishes as (payload, qos, retain), expected retained (payload, qos) for a new subscriber)
    type Case = (&'static [(&'static str, QoS, bool)], Option<(&'static str, QoS)>);
    let cases: [Case; 7] = [
        (&[("a", Q1, true)], Some(("a", Q1))), // [MQTT-3.3.1-5]
        (&[("a", Q1, true), ("b", Q0, true)], Some(("b", Q0))), // [MQTT-3.3.1-7]
        (&[("a", Q1, true), ("", Q1, true)], None), // [MQTT-3.3.1-10]
        (&[("", Q1, true)], None),             // [MQTT-3.3.1-11]
        (&[("a", Q2, true), ("b", Q2, false)], Some(("a", Q2))), // [MQTT-3.3.1-12]
        (&[("a", Q1, true), ("", Q0, true), ("c", Q2, true)], Some(("c", Q2))),
        (&[("a", Q1, false)], None),
    ];
    for (publishes, expected) in cases {
        let mut h = Harness::default();
        let conn = h.connect("pub", true);
        for &(payload, qos, retain) in publishes {
            h.publish(conn, "t", payload, qos, retain);
        }
        let sub = h.connect("sub", true);
        h.subscribe(sub, "t", Q2);
        let got = h.publishes(sub);
        let got: Option<(&str, QoS)> =
            got.first().map(|p| (std::str::from_utf8(&p.payload).unwrap(), p.qos));
        assert_eq!(got, expected, "{publishes:?}");
        if expected.is_some() {
            assert!(h.broker.store().state().retained.get("t").is_some());
        }
    }
}

#[test]
fn mqtt_3_3_1_8_and_9_retain_flag_on_delivery() {
    let mut h = Harness::default();
    let early = h.connect("early", true);
    h.subscribe(early, "t/#", Q1);
    let conn = h.connect("pub", true);
    h.publish(conn, "t/a", "x", Q1, true);
    let forwarded = h.publishes(early);
    assert!(!forwarded[0].retain, "[MQTT-3.3.1-9]");
    let late = h.connect("late", true);
    h.subscribe(late, "t/+", Q0);
    let sent = h.publishes(late);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].retain, "[MQTT-3.3.1-8]");
    assert_eq!(sent[0].qos, Q0, "at min(retained QoS, granted QoS)");
}

#[test]
fn mqtt_3_8_4_3_replacing_a_subscription_resends_retained() {
    let mut h = Harness::default();
    let conn = h.connect("pub", true);
    h.publish(conn, "t/1", "one", Q1, true);
    h.publish(conn, "t/2", "two", Q1, true);
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t/+", Q1);
    assert_eq!(h.receive(sub), ["one", "two"]);
    h.subscribe(sub, "t/+", Q1);
    assert_eq!(h.receive(sub), ["one", "two"]);
}

#[test]
fn retained_messages_match_wildcards_in_topic_order() {
    let mut h = Harness::default();
    let conn = h.connect("pub", true);
    for topic in ["b/x", "a/x", "a/y/z", "$SYS/x", "a"] {
        h.publish(conn, topic, topic, Q0, true);
    }
    let sub = h.connect("sub", true);
    h.subscribe(sub, "#", Q0);
    assert_eq!(payloads(&h.publishes(sub)), ["a", "a/x", "a/y/z", "b/x"]);
    h.subscribe(sub, "a/+", Q0);
    assert_eq!(payloads(&h.publishes(sub)), ["a/x"]);
}

#[test]
fn retained_topics_beyond_the_cap_are_forwarded_but_not_retained() {
    let config = BrokerConfig { max_retained_messages: 2, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let early = h.connect("early", true);
    h.subscribe(early, "#", Q0);
    let conn = h.connect("pub", true);
    for topic in ["a", "b", "c", "a"] {
        h.publish(conn, topic, topic, Q0, true);
    }
    assert_eq!(payloads(&h.publishes(early)), ["a", "b", "c", "a"]);
    assert_eq!(h.broker.store().state().retained.len(), 2);
    let late = h.connect("late", true);
    h.subscribe(late, "#", Q0);
    assert_eq!(payloads(&h.publishes(late)), ["a", "b"]);
}
