use std::sync::Arc;

use bytes::Bytes;
use mqttsim_broker::{BrokerConfig, DisconnectReason, DropReason};
use mqttsim_codec::{Ack, Packet, Property, QoS, ReasonCode};

use crate::harness::{Harness, Q0, Q1, Q2, connect5, payloads, publish, publish5, secs};

fn ack_of(h: &mut Harness, conn: mqttsim_broker::ConnId) -> Ack {
    match h.take(conn).into_iter().next() {
        Some(Packet::PubAck(a)) | Some(Packet::PubRec(a)) => a,
        other => panic!("expected PUBACK or PUBREC, got {other:?}"),
    }
}

#[test]
fn mqtt5_3_3_2_17_and_18_properties_are_forwarded_unchanged_and_in_order() {
    let mut h = Harness::default();
    let sub = h.client5("sub");
    h.subscribe(sub, "t", Q1);
    let publisher = h.client5("pub");
    let sent = vec![
        Property::UserProperty("z".into(), "1".into()),
        Property::PayloadFormatIndicator(1),
        Property::ContentType("text/plain".into()),
        Property::UserProperty("a".into(), "2".into()),
        Property::ResponseTopic("reply/pub".into()),
        Property::CorrelationData(Bytes::from_static(b"\x00\x01")),
        Property::UserProperty("z".into(), "3".into()),
    ];
    h.send(publisher, Packet::Publish(publish5("t", "m", Q1, 1, sent.clone())));
    let got = h.publishes(sub);
    // [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20]
    assert_eq!(got[0].properties.0, sent);
}

#[test]
fn mqtt5_3_3_2_5_an_expired_message_is_not_delivered() {
    let mut h = Harness::default();
    let sub = h.connect5(connect5("sub", true, vec![Property::SessionExpiryInterval(600)])).0;
    h.subscribe(sub, "t", Q1);
    h.lose(sub);
    let publisher = h.client5("pub");
    h.send(
        publisher,
        Packet::Publish(publish5("t", "short", Q1, 1, vec![Property::MessageExpiryInterval(10)])),
    );
    h.send(
        publisher,
        Packet::Publish(publish5("t", "long", Q1, 2, vec![Property::MessageExpiryInterval(100)])),
    );
    h.take_events();
    h.advance(secs(10));
    let sub = h.connect5(connect5("sub", false, vec![Property::SessionExpiryInterval(600)])).0;
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["long"]);
    // The forwarded interval is what is left [MQTT-3.3.2-6].
    assert_eq!(got[0].properties.0, [Property::MessageExpiryInterval(90)]);
    let dropped = h.drops();
    assert_eq!(dropped, [(DropReason::Expired, Bytes::from_static(b"short"))]);
}

#[test]
fn mqtt5_3_3_2_6_a_retained_message_expires_and_carries_the_time_left() {
    let mut h = Harness::default();
    let publisher = h.client5("pub");
    let mut retained = publish5("t", "r", Q1, 1, vec![Property::MessageExpiryInterval(5)]);
    retained.retain = true;
    h.send(publisher, Packet::Publish(retained));
    h.advance(secs(2));
    let early = h.client5("early");
    h.subscribe(early, "t", Q1);
    let got = h.publishes(early);
    assert_eq!(got[0].properties.0, [Property::MessageExpiryInterval(3)]);
    h.advance(secs(3));
    let late = h.client5("late");
    h.subscribe(late, "t", Q1);
    assert!(h.publishes(late).is_empty());
}

#[test]
fn mqtt5_3_3_2_12_inbound_topic_aliases_are_resolved_and_never_forwarded() {
    let mut h = Harness::default();
    let sub = h.client5("sub");
    h.subscribe(sub, "long/topic/name", Q0);
    let publisher = h.client5("pub");
    h.send(
        publisher,
        Packet::Publish(publish5("long/topic/name", "1", Q0, 0, vec![Property::TopicAlias(3)])),
    );
    h.send(publisher, Packet::Publish(publish5("", "2", Q0, 0, vec![Property::TopicAlias(3)])));
    // Re-pointing an alias is allowed.
    h.send(
        publisher,
        Packet::Publish(publish5("other", "3", Q0, 0, vec![Property::TopicAlias(3)])),
    );
    h.send(publisher, Packet::Publish(publish5("", "4", Q0, 0, vec![Property::TopicAlias(3)])));
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["1", "2"]);
    // The broker sends no alias [MQTT-3.3.2-11] [MQTT-3.1.2-27].
    assert!(got.iter().all(|p| p.topic == "long/topic/name" && p.properties.is_empty()));
    // Aliases belong to one connection [MQTT-3.3.2-7].
    let again = h.client5("pub");
    h.send(again, Packet::Publish(publish5("", "5", Q0, 0, vec![Property::TopicAlias(3)])));
    assert_eq!(h.disconnect_sent(again).unwrap().reason_code, ReasonCode::PROTOCOL_ERROR);
}

#[test]
fn mqtt5_3_3_2_9_an_alias_above_the_maximum_gets_0x94() {
    let config = BrokerConfig { topic_alias_maximum: 2, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let publisher = h.client5("pub");
    h.send(publisher, Packet::Publish(publish5("t", "x", Q0, 0, vec![Property::TopicAlias(3)])));
    assert_eq!(h.disconnect_sent(publisher).unwrap().reason_code, ReasonCode::TOPIC_ALIAS_INVALID);
}

#[test]
fn mqtt5_3_3_4_6_a_subscription_identifier_from_a_client_is_a_protocol_error() {
    let mut h = Harness::default();
    let publisher = h.client5("pub");
    h.send(
        publisher,
        Packet::Publish(publish5("t", "x", Q0, 0, vec![Property::SubscriptionIdentifier(1)])),
    );
    assert_eq!(h.disconnect_sent(publisher).unwrap().reason_code, ReasonCode::PROTOCOL_ERROR);
}

#[test]
fn puback_and_pubrec_say_0x10_when_no_subscription_matched() {
    let mut h = Harness::default();
    let publisher = h.client5("pub");
    h.publish(publisher, "nobody", "x", Q1, false);
    assert_eq!(ack_of(&mut h, publisher).reason_code, ReasonCode::NO_MATCHING_SUBSCRIBERS);
    h.publish(publisher, "nobody", "x", Q2, false);
    let pubrec = ack_of(&mut h, publisher);
    assert_eq!(pubrec.reason_code, ReasonCode::NO_MATCHING_SUBSCRIBERS);
    // 0x10 is a success: the QoS 2 flow goes on [MQTT-4.3.3-4].
    h.send(publisher, Packet::PubRel(Ack::new(pubrec.packet_id)));
    assert_eq!(h.take(publisher), [Packet::PubComp(Ack::new(pubrec.packet_id))]);
    let sub = h.client5("sub");
    h.subscribe(sub, "some", Q0);
    h.publish(publisher, "some", "x", Q1, false);
    assert_eq!(ack_of(&mut h, publisher).reason_code, ReasonCode::SUCCESS);
    // 3.1.1 publishers get plain acknowledgements.
    let old = h.connect("old", true);
    h.publish(old, "nobody", "x", Q1, false);
    assert_eq!(ack_of(&mut h, old).reason_code, ReasonCode::SUCCESS);
}

#[test]
fn puback_and_pubrec_say_0x87_when_not_authorized_and_nothing_is_forwarded() {
    let config =
        BrokerConfig { authorizer: Arc::new(crate::harness::NoSecrets), ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let sub = h.client5("sub");
    h.subscribe(sub, "#", Q2);
    let publisher = h.client5("pub");
    h.publish(publisher, "secret/a", "x", Q1, false);
    let puback = ack_of(&mut h, publisher);
    assert_eq!(puback.reason_code, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(puback.properties.0, [Property::ReasonString("not authorized".into())]);
    h.publish(publisher, "secret/a", "x", Q2, false);
    assert_eq!(ack_of(&mut h, publisher).reason_code, ReasonCode::NOT_AUTHORIZED);
    assert!(h.take(sub).is_empty());
    assert!(h.broker.session("pub").unwrap().inbound_qos2.is_empty(), "the QoS 2 flow ended");
    // 3.1.1 cannot say it: acknowledged and dropped.
    let old = h.connect("old", true);
    h.publish(old, "secret/a", "x", Q1, false);
    assert_eq!(ack_of(&mut h, old).reason_code, ReasonCode::SUCCESS);
    assert!(h.take(sub).is_empty());
}

#[test]
fn puback_says_0x97_when_a_new_retained_topic_exceeds_the_quota() {
    let config = BrokerConfig { max_retained_messages: 1, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let sub = h.client5("sub");
    h.subscribe(sub, "#", Q1);
    let publisher = h.client5("pub");
    h.publish(publisher, "a", "1", Q1, true);
    assert_eq!(ack_of(&mut h, publisher).reason_code, ReasonCode::SUCCESS);
    h.publish(publisher, "b", "2", Q1, true);
    assert_eq!(ack_of(&mut h, publisher).reason_code, ReasonCode::QUOTA_EXCEEDED);
    // Replacing the retained message of a known topic is within the quota.
    h.publish(publisher, "a", "3", Q1, true);
    assert_eq!(ack_of(&mut h, publisher).reason_code, ReasonCode::SUCCESS);
    assert_eq!(h.receive(sub), ["1", "3"]);
}

#[test]
fn mqtt5_3_2_2_11_and_14_qos_and_retain_beyond_what_connack_allowed_close_with_their_codes() {
    let config = BrokerConfig {
        max_qos: QoS::AtLeastOnce,
        retain_available: false,
        ..BrokerConfig::default()
    };
    let mut h = Harness::new(config);
    let a = h.client5("a");
    h.publish(a, "t", "x", Q2, false);
    assert_eq!(h.disconnect_sent(a).unwrap().reason_code, ReasonCode::QOS_NOT_SUPPORTED);
    let b = h.client5("b");
    h.send(b, Packet::Publish(publish("t", "x", Q0, true, 0)));
    assert_eq!(h.disconnect_sent(b).unwrap().reason_code, ReasonCode::RETAIN_NOT_SUPPORTED);
    assert!(matches!(h.closed(b), Some(DisconnectReason::ProtocolViolation { .. })));
}

#[test]
fn pubrel_for_an_unknown_identifier_gets_pubcomp_0x92() {
    let mut h = Harness::default();
    let c = h.client5("c");
    h.send(c, Packet::PubRel(Ack::new(9)));
    let mut expected = Ack::new(9);
    expected.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
    assert_eq!(h.take(c), [Packet::PubComp(expected)]);
}
