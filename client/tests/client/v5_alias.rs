//! 5.0 topic aliases: the client's own towards the server, and the server's towards the client.

use bytes::{Bytes, BytesMut};
use mqttsim_client::{CloseReason, Event, ProtocolViolation};
use mqttsim_codec::{Packet, Property, Protocol, decode, encode};

use crate::harness::{Harness, lines, publish_with};

fn aliasing(ours: u16, servers: Option<u16>) -> Harness {
    let mut config = Harness::device_v5();
    config.outbound_topic_aliases = ours;
    let mut h = Harness::new(config);
    h.connect_with(false, servers.map(Property::TopicAliasMaximum).into_iter().collect());
    h.clear();
    h
}

#[test]
fn mqtt_3_3_2_9_and_mqtt_3_3_2_8_first_topics_get_aliases_from_1_within_the_servers_maximum() {
    let mut h = aliasing(5, Some(2));
    for topic in ["a", "b", "a", "c", "b", "c"] {
        h.publish(topic, 0);
    }
    assert_eq!(
        h.out(),
        lines(&[
            "PUBLISH q0 id=0 dup=0 a [alias=1]",
            "PUBLISH q0 id=0 dup=0 b [alias=2]",
            "PUBLISH q0 id=0 dup=0  [alias=1]",
            "PUBLISH q0 id=0 dup=0 c",
            "PUBLISH q0 id=0 dup=0  [alias=2]",
            "PUBLISH q0 id=0 dup=0 c",
        ])
    );
}

#[test]
fn mqtt_3_2_2_18_no_aliases_when_the_servers_maximum_is_absent_or_0() {
    for servers in [None, Some(0)] {
        let mut h = aliasing(5, servers);
        h.publish("a", 1);
        h.publish("a", 1);
        assert_eq!(
            h.out(),
            lines(&["PUBLISH q1 id=1 dup=0 a", "PUBLISH q1 id=2 dup=0 a"]),
            "{servers:?}"
        );
    }
}

#[test]
fn no_aliases_unless_configured() {
    let mut h = aliasing(0, Some(10));
    h.publish("a", 0);
    h.publish("a", 0);
    assert_eq!(h.out(), lines(&["PUBLISH q0 id=0 dup=0 a", "PUBLISH q0 id=0 dup=0 a"]));
}

#[test]
fn mqtt_3_3_2_7_aliases_start_over_on_each_connection_and_resends_name_their_topic() {
    let mut h = aliasing(4, Some(4));
    h.publish("a", 1);
    h.publish("a", 1);
    assert_eq!(
        h.out(),
        lines(&["PUBLISH q1 id=1 dup=0 a [alias=1]", "PUBLISH q1 id=2 dup=0  [alias=1]"])
    );
    h.client.handle_transport_down(h.now);
    // The resend of id 2 sets the alias up again: the new connection knows none.
    assert_eq!(
        h.connect_with(true, vec![Property::TopicAliasMaximum(4)]),
        lines(&["PUBLISH q1 id=1 dup=1 a [alias=1]", "PUBLISH q1 id=2 dup=1  [alias=1]"])
    );
}

fn receiving(maximum: u16) -> Harness {
    let mut config = Harness::device_v5();
    config.topic_alias_maximum = maximum;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![]);
    h.clear();
    h
}

fn received_topics(h: &mut Harness) -> Vec<String> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Received(p) => Some(p.topic.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn mqtt_3_3_2_10_every_alias_up_to_our_maximum_is_accepted_and_resolved() {
    let mut h = receiving(3);
    h.recv(publish_with(0, 0, "x/1", vec![Property::TopicAlias(1)]));
    h.recv(publish_with(1, 4, "x/3", vec![Property::TopicAlias(3)]));
    h.recv(publish_with(0, 0, "", vec![Property::TopicAlias(1)]));
    h.recv(publish_with(2, 5, "", vec![Property::TopicAlias(3)]));
    // An alias may be set up again for another topic.
    h.recv(publish_with(0, 0, "x/9", vec![Property::TopicAlias(1)]));
    h.recv(publish_with(0, 0, "", vec![Property::TopicAlias(1)]));
    assert_eq!(h.out(), lines(&["PUBACK 4", "PUBREC 5"]));
    assert_eq!(received_topics(&mut h), vec!["x/1", "x/3", "x/1", "x/3", "x/9", "x/9"]);
}

#[test]
fn mqtt_3_1_2_26_and_mqtt_3_1_2_27_an_alias_above_our_maximum_disconnects_with_0x94() {
    // (our maximum, the alias the server uses)
    for (maximum, alias) in [(0, 1), (2, 3)] {
        let mut h = receiving(maximum);
        h.recv(publish_with(0, 0, "t", vec![Property::TopicAlias(alias)]));
        assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x94)", "CLOSE"]));
        let violation = ProtocolViolation::TopicAliasInvalid { alias, maximum };
        assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Protocol(violation) }]);
    }
}

#[test]
fn an_alias_never_set_up_is_a_protocol_error_also_after_a_reconnect() {
    let mut h = receiving(5);
    h.recv(publish_with(0, 0, "", vec![Property::TopicAlias(2)]));
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x82)", "CLOSE"]));
    let violation = ProtocolViolation::UnknownTopicAlias(2);
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Protocol(violation) }]);
    // Set up on one connection, unknown on the next [MQTT-3.3.2-7].
    h.connect_with(false, vec![]);
    h.recv(publish_with(0, 0, "t", vec![Property::TopicAlias(2)]));
    h.client.handle_transport_down(h.now);
    h.connect_with(true, vec![]);
    h.clear();
    h.recv(publish_with(0, 0, "", vec![Property::TopicAlias(2)]));
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x82)", "CLOSE"]));
}

#[test]
fn the_alias_table_copies_its_topics_out_of_their_packets() {
    let mut h = receiving(1);
    // Decoded from the wire, a PUBLISH's topic and payload share one buffer.
    let Packet::Publish(mut p) = publish_with(0, 0, "t", vec![Property::TopicAlias(1)]) else {
        unreachable!()
    };
    p.payload = Bytes::from(vec![0u8; 1 << 20]);
    let mut wire = BytesMut::new();
    encode(&Packet::Publish(p), Protocol::V5, &mut wire).unwrap();
    let Ok(Some(Packet::Publish(p))) = decode(&mut wire, Protocol::V5, 2 << 20) else {
        panic!("decodes")
    };
    drop(wire);
    let payload = p.payload.clone();
    h.recv(Packet::Publish(p));
    h.events();
    assert!(payload.is_unique(), "the alias table keeps the 1 MiB packet alive");
    h.recv(publish_with(0, 0, "", vec![Property::TopicAlias(1)]));
    assert_eq!(received_topics(&mut h), vec!["t"]);
}
