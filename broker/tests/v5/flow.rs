use mqttsim_broker::{BrokerConfig, DisconnectReason, DropReason, Event, Limit};
use mqttsim_codec::{Ack, DecodeError, Packet, Property, ReasonCode};

use crate::harness::{Harness, Q0, Q1, Q2, connect5, opts, payloads, publish};

#[test]
fn mqtt5_3_3_4_9_never_more_unacknowledged_publishes_than_the_clients_receive_maximum() {
    let mut h = Harness::default();
    let sub = h.connect5(connect5("sub", true, vec![Property::ReceiveMaximum(2)])).0;
    h.subscribe(sub, "t", Q2);
    let publisher = h.client5("pub");
    for i in 0..5 {
        h.publish(publisher, "t", &i.to_string(), if i % 2 == 0 { Q1 } else { Q2 }, false);
    }
    let first = h.publishes(sub);
    assert_eq!(payloads(&first), ["0", "1"]);
    // Non-PUBLISH packets are not held back [MQTT-3.3.4-10].
    h.send(sub, Packet::PingReq);
    assert_eq!(h.take(sub), [Packet::PingResp]);
    // A PUBREC does not free quota; the PUBCOMP does [MQTT-4.9.0-2].
    h.send(sub, Packet::PubRec(Ack::new(first[1].packet_id)));
    assert_eq!(h.take(sub), [Packet::PubRel(Ack::new(first[1].packet_id))]);
    h.send(sub, Packet::PubComp(Ack::new(first[1].packet_id)));
    assert_eq!(payloads(&h.publishes(sub)), ["2"]);
    h.send(sub, Packet::PubAck(Ack::new(first[0].packet_id)));
    assert_eq!(payloads(&h.publishes(sub)), ["3"]);
}

#[test]
fn mqtt5_3_3_4_9_a_resumed_session_resends_no_more_than_the_new_receive_maximum() {
    let mut h = Harness::default();
    let props = |max: u16| vec![Property::SessionExpiryInterval(60), Property::ReceiveMaximum(max)];
    let sub = h.connect5(connect5("sub", true, props(10))).0;
    h.subscribe(sub, "t", Q1);
    let publisher = h.client5("pub");
    for i in 0..3 {
        h.publish(publisher, "t", &i.to_string(), Q1, false);
    }
    assert_eq!(h.publishes(sub).len(), 3);
    h.lose(sub);
    let sub = h.connect5(connect5("sub", false, props(1))).0;
    let resent = h.publishes(sub);
    assert_eq!((payloads(&resent), resent[0].dup), (vec!["0"], true));
    h.send(sub, Packet::PubAck(Ack::new(resent[0].packet_id)));
    let next = h.publishes(sub);
    assert_eq!((payloads(&next), next[0].dup), (vec!["1"], true), "in order, with DUP=1");
}

#[test]
fn mqtt5_3_3_4_7_a_client_beyond_the_brokers_receive_maximum_gets_0x93() {
    let config = BrokerConfig { max_inbound_qos2: 1, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let (publisher, connack) = h.connect5(connect5("pub", true, Vec::new()));
    assert_eq!(connack.properties.receive_maximum(), Some(1));
    h.publish(publisher, "t", "1", Q2, false);
    h.publish(publisher, "t", "2", Q2, false);
    assert_eq!(
        h.disconnect_sent(publisher).unwrap().reason_code,
        ReasonCode::RECEIVE_MAXIMUM_EXCEEDED
    );
    assert_eq!(h.closed(publisher), Some(&DisconnectReason::LimitExceeded(Limit::InboundQos2)));
}

#[test]
fn mqtt5_3_1_2_24_and_25_a_publish_too_large_for_the_client_is_dropped_as_if_sent() {
    let mut h = Harness::default();
    let sub = h.connect5(connect5("sub", true, vec![Property::MaximumPacketSize(40)])).0;
    h.subscribe(sub, "t", Q1);
    h.take_events();
    let publisher = h.client5("pub");
    h.publish(publisher, "t", &"x".repeat(100), Q1, false);
    h.publish(publisher, "t", "small", Q1, false);
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["small"]);
    assert_eq!(got[0].packet_id, 1, "the dropped message took no packet identifier");
    assert!(
        h.take_events()
            .iter()
            .any(|e| matches!(e, Event::MessageDropped { reason: DropReason::PacketTooLarge, .. }))
    );
    // Every packet sent fits.
    for packet in h.take(sub) {
        assert!(mqttsim_codec::encoded_len(&packet, mqttsim_codec::Protocol::V5).unwrap() <= 40);
    }
}

#[test]
fn mqtt5_3_9_2_1_a_reason_string_is_left_out_when_it_would_not_fit() {
    let config = BrokerConfig { wildcard_subscriptions: false, ..BrokerConfig::default() };
    let mut h = Harness::new(config.clone());
    let roomy = h.client5("roomy");
    let suback = h.subscribe5(roomy, &[("a/#", opts(Q0))], Vec::new());
    assert_eq!(
        suback.properties.0,
        [Property::ReasonString("wildcard subscriptions not supported".into())]
    );
    let tight = h.connect5(connect5("tight", true, vec![Property::MaximumPacketSize(20)])).0;
    let suback = h.subscribe5(tight, &[("a/#", opts(Q0))], Vec::new());
    assert_eq!(suback.reason_codes, [ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED]);
    assert!(suback.properties.is_empty());
    // Request Problem Information 0: no Reason String on SUBACK [MQTT-3.1.2-29].
    let quiet = h.connect5(connect5("quiet", true, vec![Property::RequestProblemInformation(0)])).0;
    assert!(h.subscribe5(quiet, &[("a/#", opts(Q0))], Vec::new()).properties.is_empty());
}

#[test]
fn a_packet_too_large_for_the_broker_gets_disconnect_0x95() {
    let mut h = Harness::default();
    let conn = h.client5("c");
    h.decode_error(conn, &DecodeError::PacketTooLarge { size: 2 << 20, max: 1 << 20 });
    assert_eq!(h.disconnect_sent(conn).unwrap().reason_code, ReasonCode::PACKET_TOO_LARGE);
    let conn = h.client5("d");
    h.decode_error(conn, &DecodeError::ReservedPacketType);
    assert_eq!(h.disconnect_sent(conn).unwrap().reason_code, ReasonCode::MALFORMED_PACKET);
    // QoS 0 messages are not counted against the Receive Maximum.
    let sub = h.connect5(connect5("sub", true, vec![Property::ReceiveMaximum(1)])).0;
    h.subscribe(sub, "t", Q0);
    let publisher = h.client5("pub");
    for _ in 0..3 {
        h.send(publisher, Packet::Publish(publish("t", "x", Q0, false, 0)));
    }
    assert_eq!(h.publishes(sub).len(), 3);
}
