//! Topic authorisation through an ACL file: SUBACK 0x80, PUBLISH acknowledged and not delivered
//! [MQTT-3.3.5-2], deliveries filtered, Will topics checked at CONNECT.

use std::sync::Arc;

use mqttsim_broker::{AclFile, BrokerConfig, DropReason, Event};
use mqttsim_codec::{Ack, Packet, ReasonCode, Will};

use crate::harness::{Harness, Q0, Q1, Q2, connect};

const ACL: &str = "\
user alice
topic readwrite alice/#
topic read news/#
topic deny news/secret

user ops
topic write devices/#
topic write news/#

pattern write devices/%c/up
pattern read devices/%c/down
";

fn harness() -> Harness {
    let acl = AclFile::parse(ACL).unwrap();
    Harness::new(BrokerConfig { authorizer: Arc::new(acl), ..BrokerConfig::default() })
}

fn as_user(h: &mut Harness, client_id: &str, user: Option<&str>) -> mqttsim_broker::ConnId {
    let mut c = connect(client_id, true);
    c.username = user.map(Into::into);
    let (conn, connack) = h.connect_with(c);
    assert_eq!(connack.map(|a| a.reason_code), Some(ReasonCode::SUCCESS));
    conn
}

#[test]
fn refused_filters_get_0x80_and_the_rest_are_granted() {
    let mut h = harness();
    let alice = as_user(&mut h, "a1", Some("alice"));
    let codes =
        h.subscribe_many(alice, &[("alice/#", Q1), ("#", Q0), ("news/+", Q2), ("bob/x", Q0)]);
    assert_eq!(codes, [ReasonCode(1), ReasonCode(0x80), ReasonCode(2), ReasonCode(0x80)]);
    assert_eq!(h.closed(alice), None);
}

#[test]
fn an_unauthorised_publish_is_acknowledged_at_its_qos_and_not_delivered() {
    let mut h = harness();
    let alice = as_user(&mut h, "a1", Some("alice"));
    h.subscribe(alice, "alice/#", Q2);
    let device = as_user(&mut h, "d7", None);
    h.take_events();
    // d7 may write devices/d7/up only.
    let q1 = h.publish(device, "alice/inbox", "forged", Q1, false);
    let q2 = h.publish(device, "alice/inbox", "forged", Q2, false);
    assert_eq!(
        h.take(device),
        [Packet::PubAck(Ack::new(q1)), Packet::PubRec(Ack::new(q2))],
        "acknowledged at its QoS [MQTT-3.3.5-2]"
    );
    h.send(device, Packet::PubRel(Ack::new(q2)));
    assert_eq!(h.take(device), [Packet::PubComp(Ack::new(q2))]);
    assert!(h.receive(alice).is_empty(), "not delivered");
    let refused =
        h.take_events().into_iter().filter(|e| matches!(e, Event::PublishRefused { .. })).count();
    assert_eq!(refused, 2);
    let alice_too = as_user(&mut h, "a2", Some("alice"));
    h.publish(alice_too, "alice/inbox", "mine", Q1, false);
    assert_eq!(h.receive(alice), ["mine"]);
}

#[test]
fn patterns_substitute_the_client_identifier() {
    let mut h = harness();
    let d7 = as_user(&mut h, "d7", None);
    let d8 = as_user(&mut h, "d8", None);
    assert_eq!(h.subscribe(d7, "devices/d7/down", Q1), ReasonCode(1));
    assert_eq!(h.subscribe(d8, "devices/d7/down", Q1), ReasonCode(0x80));
    let ops = as_user(&mut h, "ops-1", Some("ops"));
    h.publish(ops, "devices/d7/down", "reboot", Q0, false);
    assert_eq!(h.receive(d7), ["reboot"]);
    assert!(h.receive(d8).is_empty());
}

#[test]
fn a_denied_topic_under_an_allowed_filter_is_not_delivered() {
    let mut h = harness();
    let alice = as_user(&mut h, "a1", Some("alice"));
    assert_eq!(h.subscribe(alice, "news/#", Q0), ReasonCode(0));
    let other = as_user(&mut h, "ops-1", Some("ops"));
    h.take_events();
    h.publish(other, "news/open", "shown", Q0, false);
    h.publish(other, "news/secret", "hidden", Q0, false);
    assert_eq!(h.receive(alice), ["shown"]);
    let denied: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageDropped { topic, reason: DropReason::NotAuthorized, .. } => Some(topic),
            _ => None,
        })
        .collect();
    assert_eq!(denied, ["news/secret"]);
}

#[test]
fn a_will_on_a_topic_the_client_may_not_write_refuses_the_connect() {
    let mut h = harness();
    let will = |topic: &str| Will {
        topic: topic.into(),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: Q0,
        retain: false,
        properties: Default::default(),
    };
    let mut c = connect("d7", true);
    c.will = Some(will("alice/x"));
    let (_, connack) = h.connect_with(c);
    assert_eq!(connack.map(|a| a.reason_code), Some(ReasonCode::NOT_AUTHORIZED));
    let mut c = connect("d7", true);
    c.will = Some(will("devices/d7/up"));
    let (_, connack) = h.connect_with(c);
    assert_eq!(connack.map(|a| a.reason_code), Some(ReasonCode::SUCCESS));
}
