//! 5.0 message properties on publish, and the Message Expiry Interval in the client's hands.

use bytes::Bytes;
use mqttsim_client::{DropReason, Event, MessageId, MessageProperties, OfflineQos0, PublishError};
use mqttsim_codec::topic::TopicError;
use mqttsim_codec::{Packet, Property, QoS};

use crate::harness::{Harness, lines, puback};

fn properties() -> MessageProperties {
    MessageProperties {
        payload_utf8: true,
        message_expiry_interval: Some(60),
        content_type: Some("application/json".into()),
        response_topic: Some("replies/dev-1".into()),
        correlation_data: Some(Bytes::from_static(b"req-42")),
        user_properties: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
    }
}

fn connected() -> Harness {
    let mut config = Harness::device_v5();
    config.offline_qos0 = OfflineQos0::Queue;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![]);
    h.clear();
    h
}

fn publish_with(
    h: &mut Harness,
    topic: &str,
    qos: QoS,
    properties: &MessageProperties,
) -> MessageId {
    let now = h.now;
    h.client
        .publish_with(now, topic.into(), Bytes::from_static(b"{}"), qos, false, properties)
        .unwrap()
}

#[test]
fn every_message_property_goes_with_the_publish_in_order() {
    let mut h = connected();
    publish_with(&mut h, "cmd", QoS::AtLeastOnce, &properties());
    assert_eq!(
        h.out(),
        lines(&["PUBLISH q1 id=1 dup=0 cmd [expiry=60 utf8=1 content-type=application/json \
             response-topic=replies/dev-1 correlation=req-42 b:2 a:1]"])
    );
}

#[test]
fn configured_message_properties_go_with_every_plain_publish() {
    let mut config = Harness::device_v5();
    let mut defaults = MessageProperties::default();
    defaults.user_properties.push(("fleet".into(), "north".into()));
    config.message_properties = Some(Box::new(defaults));
    let mut h = Harness::new(config.clone());
    h.connect_with(false, vec![]);
    h.clear();
    h.publish("a", 0);
    assert_eq!(h.out(), lines(&["PUBLISH q0 id=0 dup=0 a [fleet:north]"]));
    // A 3.1.1 client has nowhere to put them.
    config.protocol = mqttsim_codec::Protocol::V311;
    let mut h = Harness::new(config);
    h.connect(false);
    h.clear();
    h.publish("a", 0);
    let [mqttsim_client::Output::Send(Packet::Publish(p))] = &h.raw_out()[..] else { panic!() };
    assert!(p.properties.is_empty());
}

#[test]
fn mqtt_3_3_2_14_a_response_topic_with_wildcards_is_refused() {
    let mut h = connected();
    let now = h.now;
    let mut bad = properties();
    bad.response_topic = Some("replies/#".into());
    let result = h.client.publish_with(now, "t".into(), Bytes::new(), QoS::AtMostOnce, false, &bad);
    assert_eq!(result, Err(PublishError::InvalidResponseTopic(TopicError::WildcardInName)));
    let mut bad = properties();
    bad.user_properties.push(("nul".into(), "a\0b".into()));
    let result = h.client.publish_with(now, "t".into(), Bytes::new(), QoS::AtMostOnce, false, &bad);
    assert_eq!(result, Err(PublishError::InvalidProperty { field: "user property" }));
    assert!(h.out().is_empty());
    assert_eq!(h.publish("ok", 0), 1, "refused publishes take no message id");
}

#[test]
fn mqtt_3_3_4_6_a_client_publish_never_carries_a_subscription_identifier() {
    let mut h = connected();
    publish_with(&mut h, "t", QoS::ExactlyOnce, &properties());
    for output in h.raw_out() {
        let mqttsim_client::Output::Send(Packet::Publish(p)) = output else { continue };
        assert!(!p.properties.iter().any(|p| matches!(p, Property::SubscriptionIdentifier(_))));
    }
}

#[test]
fn a_waiting_message_carries_what_is_left_of_its_expiry_and_is_dropped_when_it_runs_out() {
    let mut config = Harness::device_v5();
    config.offline_qos0 = OfflineQos0::Queue;
    let mut h = Harness::new(config);
    let expiring = |seconds| MessageProperties {
        message_expiry_interval: Some(seconds),
        ..MessageProperties::default()
    };
    let short = publish_with(&mut h, "short", QoS::AtMostOnce, &expiring(10));
    publish_with(&mut h, "long", QoS::AtLeastOnce, &expiring(100));
    publish_with(&mut h, "forever", QoS::AtLeastOnce, &MessageProperties::default());
    h.at(25.5);
    h.events();
    assert_eq!(
        h.connect_with(false, vec![]),
        lines(&["PUBLISH q1 id=1 dup=0 long [expiry=75]", "PUBLISH q1 id=2 dup=0 forever"])
    );
    assert_eq!(h.events()[1], Event::Dropped { id: short, reason: DropReason::Expired });
}

#[test]
fn mqtt_4_3_3_7_an_in_flight_message_is_never_expired_by_its_sender() {
    let mut h = connected();
    let props = MessageProperties { message_expiry_interval: Some(5), ..Default::default() };
    publish_with(&mut h, "q2", QoS::ExactlyOnce, &props);
    publish_with(&mut h, "q1", QoS::AtLeastOnce, &props);
    assert_eq!(
        h.out(),
        lines(&["PUBLISH q2 id=1 dup=0 q2 [expiry=5]", "PUBLISH q1 id=2 dup=0 q1 [expiry=5]"])
    );
    h.client.handle_transport_down(h.now);
    h.at(3.0);
    // Resent with what is left of the interval ...
    assert_eq!(
        h.connect_with(true, vec![]),
        lines(&["PUBLISH q2 id=1 dup=1 q2 [expiry=2]", "PUBLISH q1 id=2 dup=1 q1 [expiry=2]"])
    );
    h.client.handle_transport_down(h.now);
    h.at(60.0);
    // ... and after it ran out still resent, with at least a second, never dropped.
    assert_eq!(
        h.connect_with(true, vec![]),
        lines(&["PUBLISH q2 id=1 dup=1 q2 [expiry=1]", "PUBLISH q1 id=2 dup=1 q1 [expiry=1]"])
    );
    h.recv(puback(2));
    assert!(h.events().iter().any(|e| matches!(e, Event::Acked { id: MessageId(2), .. })));
}
