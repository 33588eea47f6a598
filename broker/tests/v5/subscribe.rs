use std::sync::Arc;

use mqttsim_broker::BrokerConfig;
use mqttsim_codec::{
    Packet, Properties, Property, QoS, ReasonCode, RetainHandling, SubscriptionOptions, UnsubAck,
    Unsubscribe,
};

use crate::harness::{Harness, Q0, Q1, Q2, opts, payloads, publish};

fn with(qos: QoS, f: impl FnOnce(&mut SubscriptionOptions)) -> SubscriptionOptions {
    let mut o = opts(qos);
    f(&mut o);
    o
}

#[test]
fn mqtt5_3_8_3_3_no_local_skips_the_publishers_own_messages() {
    let mut h = Harness::default();
    let me = h.client5("me");
    h.subscribe5(me, &[("t", with(Q0, |o| o.no_local = true))], Vec::new());
    let other = h.client5("other");
    h.subscribe5(other, &[("t", with(Q0, |o| o.no_local = true))], Vec::new());
    h.publish(me, "t", "mine", Q0, false);
    assert!(h.publishes(me).is_empty());
    assert_eq!(payloads(&h.publishes(other)), ["mine"]);
    // An overlapping subscription without No Local still delivers it.
    h.subscribe5(me, &[("#", opts(Q0))], Vec::new());
    h.publish(me, "t", "again", Q0, false);
    assert_eq!(payloads(&h.publishes(me)), ["again"]);
}

#[test]
fn mqtt5_3_3_1_12_and_13_retain_as_published() {
    let mut h = Harness::default();
    let plain = h.client5("plain");
    h.subscribe5(plain, &[("t", opts(Q0))], Vec::new());
    let rap = h.client5("rap");
    h.subscribe5(rap, &[("t", with(Q0, |o| o.retain_as_published = true))], Vec::new());
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "kept", Q0, true);
    h.publish(publisher, "t", "live", Q0, false);
    let flags = |v: Vec<mqttsim_codec::Publish>| v.iter().map(|p| p.retain).collect::<Vec<_>>();
    assert_eq!(flags(h.publishes(plain)), [false, false]);
    assert_eq!(flags(h.publishes(rap)), [true, false]);
}

#[test]
fn mqtt5_3_3_1_9_to_11_retain_handling_0_1_2() {
    let mut h = Harness::default();
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "r", Q0, true);
    let cases = [
        (RetainHandling::SendAtSubscribe, 1, 1),
        (RetainHandling::SendIfNew, 1, 0),
        (RetainHandling::DoNotSend, 0, 0),
    ];
    for (handling, first, again) in cases {
        let sub = h.client5("sub");
        let options = with(Q0, |o| o.retain_handling = handling);
        h.subscribe5(sub, &[("t", options)], Vec::new());
        assert_eq!(h.publishes(sub).len(), first, "{handling:?} on a new subscription");
        h.subscribe5(sub, &[("t", options)], Vec::new());
        assert_eq!(h.publishes(sub).len(), again, "{handling:?} on an existing one [MQTT-3.8.4-4]");
    }
}

#[test]
fn mqtt5_3_3_4_3_and_4_one_copy_carries_every_matching_subscription_identifier() {
    let mut h = Harness::default();
    let sub = h.client5("sub");
    h.subscribe5(sub, &[("a/+", opts(Q1))], vec![Property::SubscriptionIdentifier(7)]);
    h.subscribe5(sub, &[("a/#", opts(Q0))], vec![Property::SubscriptionIdentifier(300)]);
    h.subscribe5(sub, &[("a/b", opts(Q0))], Vec::new());
    let publisher = h.client5("pub");
    h.publish(publisher, "a/b", "x", Q1, false);
    let got = h.publishes(sub);
    assert_eq!(got.len(), 1, "one copy at the highest QoS [MQTT-3.3.4-2]");
    assert_eq!(got[0].qos, Q1);
    let mut ids: Vec<u32> = got[0]
        .properties
        .iter()
        .filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
        .collect();
    ids.sort();
    assert_eq!(ids, [7, 300]);
    // Replacing a subscription without an identifier removes it.
    h.subscribe5(sub, &[("a/+", opts(Q1))], Vec::new());
    h.subscribe5(sub, &[("a/#", opts(Q0))], Vec::new());
    h.publish(publisher, "a/b", "y", Q0, false);
    assert!(h.publishes(sub)[0].properties.is_empty());
}

#[test]
fn retained_messages_sent_at_subscribe_carry_the_subscription_identifier() {
    let mut h = Harness::default();
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "r", Q0, true);
    let sub = h.client5("sub");
    h.subscribe5(sub, &[("t", opts(Q0))], vec![Property::SubscriptionIdentifier(42)]);
    let got = h.publishes(sub);
    assert!(got[0].retain);
    assert_eq!(got[0].properties.0, [Property::SubscriptionIdentifier(42)]);
}

#[test]
fn mqtt5_3_8_4_6_and_3_9_3_1_one_suback_code_per_filter_in_order() {
    let config = BrokerConfig {
        shared_subscriptions: false,
        wildcard_subscriptions: false,
        max_subscriptions_per_session: 2,
        max_qos: QoS::AtLeastOnce,
        authorizer: Arc::new(crate::harness::NoSecrets),
        ..BrokerConfig::default()
    };
    let mut h = Harness::new(config.clone());
    let conn = h.client5("c");
    let suback = h.subscribe5(
        conn,
        &[
            ("a", opts(Q2)),
            ("$share/g/a", opts(Q0)),
            ("a/+", opts(Q0)),
            ("secret", opts(Q0)),
            ("b", opts(Q0)),
            ("c", opts(Q0)),
        ],
        Vec::new(),
    );
    assert_eq!(
        suback.reason_codes,
        [
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
            ReasonCode::NOT_AUTHORIZED,
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::QUOTA_EXCEEDED,
        ]
    );
    let config = BrokerConfig { subscription_identifiers: false, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let conn = h.client5("c");
    let suback = h.subscribe5(conn, &[("a", opts(Q0))], vec![Property::SubscriptionIdentifier(1)]);
    assert_eq!(suback.reason_codes, [ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED]);
    // 3.1.1 has 0x80 only.
    let mut h = Harness::new(BrokerConfig {
        authorizer: Arc::new(crate::harness::NoSecrets),
        ..BrokerConfig::default()
    });
    let old = h.connect("old", true);
    assert_eq!(h.subscribe(old, "secret", Q0), ReasonCode::UNSPECIFIED_ERROR);
}

#[test]
fn mqtt5_3_11_3_1_unsuback_says_0x11_for_a_filter_that_had_no_subscription() {
    let mut h = Harness::default();
    let conn = h.client5("c");
    h.subscribe(conn, "a", Q0);
    let filters = vec!["a".to_owned(), "b".to_owned()];
    h.send(
        conn,
        Packet::Unsubscribe(Unsubscribe { packet_id: 5, filters, properties: Properties::new() }),
    );
    assert_eq!(
        h.take(conn),
        [Packet::UnsubAck(UnsubAck {
            packet_id: 5,
            reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
            properties: Properties::new(),
        })]
    );
    // After UNSUBSCRIBE nothing more arrives [MQTT-3.10.4-2].
    let publisher = h.client5("pub");
    h.send(publisher, Packet::Publish(publish("a", "x", Q0, false, 0)));
    assert!(h.take(conn).is_empty());
}
