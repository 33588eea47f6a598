//! 5.0 CONNECT and CONNACK: the properties the client sends, and what it makes of the server's.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mqttsim_client::{ClientConfig, CloseReason, Event, MessageProperties, ProtocolViolation};
use mqttsim_codec::{Packet, PacketType, Properties, Property, QoS, ReasonCode, Will, encode};

use crate::harness::{Harness, ack_with, connack, lines, puback, suback};

fn everything() -> ClientConfig {
    let mut config = ClientConfig::new("meter-7").v5();
    config.keep_alive = 30;
    config.session_expiry_interval = 3600;
    config.max_inbound_qos2 = 10;
    config.maximum_packet_size = Some(4096);
    config.topic_alias_maximum = 8;
    config.request_response_information = true;
    config.request_problem_information = false;
    config.user_properties = vec![("site".into(), "north".into()), ("site".into(), "south".into())];
    let will_properties = MessageProperties {
        payload_utf8: true,
        message_expiry_interval: Some(600),
        content_type: Some("text/plain".into()),
        response_topic: Some("meters/7/ack".into()),
        correlation_data: Some(Bytes::from_static(b"c-1")),
        user_properties: vec![("reason".into(), "power".into())],
    };
    config.will = Some(Will {
        topic: "meters/7/status".into(),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: will_properties.will_properties(Some(30)),
    });
    config
}

#[test]
fn mqtt_3_1_3_1_connect_carries_every_configured_property_and_the_will_properties() {
    let mut h = Harness::new(everything());
    h.client.handle_transport_up(h.now);
    assert_eq!(
        h.out(),
        lines(&[
            "CONNECT id=meter-7 clean=0 ka=30 [session-expiry=3600 receive-max=10 max-packet=4096 \
             alias-max=8 request-response=1 request-problem=0 site:north site:south] \
             will=meters/7/status q1 retain [will-delay=30 expiry=600 utf8=1 \
             content-type=text/plain response-topic=meters/7/ack correlation=c-1 reason:power]"
        ])
    );
}

#[test]
fn mqtt_3_1_3_1_connect_payload_order_on_the_wire() {
    // Client Identifier, Will Properties, Will Topic, Will Payload, User Name, Password.
    let mut config = ClientConfig::new("c").v5();
    config.keep_alive = 0;
    config.max_inbound_qos2 = u16::MAX;
    config.username = Some("u".into());
    config.password = Some(Bytes::from_static(b"p"));
    config.will = Some(Will {
        topic: "w".into(),
        payload: Bytes::from_static(b"x"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: MessageProperties::default().will_properties(Some(5)),
    });
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    let [mqttsim_client::Output::Send(packet)] = &h.raw_out()[..] else { panic!("one CONNECT") };
    let mut wire = BytesMut::new();
    encode(packet, mqttsim_codec::Protocol::V5, &mut wire).unwrap();
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x10, 32, // CONNECT, remaining length
        0, 4, b'M', b'Q', b'T', b'T', 5, // protocol name and level
        0b1100_0100, 0, 0, // flags: user name, password, will QoS 0; keep alive 0
        0, // no CONNECT properties
        0, 1, b'c', // client identifier
        5, 0x18, 0, 0, 0, 5, // will properties: Will Delay Interval 5
        0, 1, b'w', 0, 1, b'x', // will topic, will payload
        0, 1, b'u', 0, 1, b'p', // user name, password
    ];
    assert_eq!(&wire[..], expected);
}

#[test]
fn v311_connect_carries_no_properties_even_when_configured() {
    let mut config = everything();
    config.protocol = mqttsim_codec::Protocol::V311;
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    let [mqttsim_client::Output::Send(Packet::Connect(connect))] = &h.raw_out()[..] else {
        panic!("one CONNECT")
    };
    assert!(connect.properties.is_empty());
    // The Will keeps its properties in the model; the 3.1.1 encoder leaves them out.
    let mut wire = BytesMut::new();
    encode(&Packet::Connect(connect.clone()), mqttsim_codec::Protocol::V311, &mut wire).unwrap();
    let decoded = mqttsim_codec::decode(&mut wire, mqttsim_codec::Protocol::V311, 1 << 16);
    let Ok(Some(Packet::Connect(decoded))) = decoded else { panic!("decodes") };
    assert!(decoded.will.unwrap().properties.is_empty());
}

#[test]
fn mqtt_3_1_2_21_and_mqtt_3_2_2_21_server_keep_alive_replaces_ours() {
    let mut config = Harness::device_v5();
    config.keep_alive = 60;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![Property::ServerKeepAlive(5)]);
    assert_eq!(h.client.limits().server_keep_alive, Some(5));
    assert_eq!(h.client.poll_timeout(), Some(Duration::from_secs(5)));
    h.at(5.0);
    assert_eq!(h.out(), lines(&["PINGREQ"]));
    // Server Keep Alive 0 turns pings off; a new connection starts from our own value again.
    h.client.handle_transport_down(h.now);
    h.connect_with(false, vec![Property::ServerKeepAlive(0)]);
    assert_eq!(h.client.poll_timeout(), None);
    h.client.handle_transport_down(h.now);
    h.connect_with(false, vec![]);
    assert_eq!(h.client.poll_timeout(), Some(h.now + Duration::from_secs(60)));
}

#[test]
fn connack_session_expiry_interval_replaces_ours() {
    let mut config = Harness::device_v5();
    config.session_expiry_interval = 3600;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![]);
    assert_eq!(h.client.session_expiry_interval(), 3600);
    h.client.handle_transport_down(h.now);
    h.connect_with(false, vec![Property::SessionExpiryInterval(60)]);
    assert_eq!(h.client.session_expiry_interval(), 60);
    assert_eq!(h.client.limits().session_expiry_interval, Some(60));
}

#[test]
fn connack_capabilities_are_kept_for_the_connection_only() {
    let mut h = Harness::new(Harness::device_v5());
    h.connect_with(
        false,
        vec![
            Property::ReceiveMaximum(3),
            Property::MaximumPacketSize(500),
            Property::TopicAliasMaximum(4),
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::WildcardSubscriptionAvailable(0),
            Property::SubscriptionIdentifierAvailable(0),
            Property::SharedSubscriptionAvailable(0),
            Property::ResponseInformation("replies/".into()),
            Property::ServerReference("other:1883".into()),
        ],
    );
    let limits = h.client.limits().clone();
    assert_eq!(
        (limits.receive_maximum, limits.maximum_packet_size, limits.topic_alias_maximum),
        (3, Some(500), 4)
    );
    assert_eq!((limits.maximum_qos, limits.retain_available), (QoS::AtLeastOnce, false));
    assert!(!limits.wildcard_subscription_available);
    assert!(!limits.subscription_identifier_available);
    assert!(!limits.shared_subscription_available);
    assert_eq!(limits.response_information.as_deref(), Some("replies/"));
    assert_eq!(limits.server_reference.as_deref(), Some("other:1883"));
    assert_eq!(h.client.window(), 3);
    // A new transport forgets all of it until its own CONNACK.
    h.client.handle_transport_up(h.now);
    assert_eq!(h.client.limits(), &mqttsim_client::ServerLimits::default());
}

#[test]
fn mqtt_4_13_2_1_connack_refusal_closes_and_busy_servers_advise_backing_off() {
    // (reason, advises backing off)
    let cases = [
        (ReasonCode::NOT_AUTHORIZED, false),
        (ReasonCode::BANNED, false),
        (ReasonCode::SERVER_BUSY, true),
        (ReasonCode::QUOTA_EXCEEDED, true),
        (ReasonCode::CONNECTION_RATE_EXCEEDED, true),
        (ReasonCode::SERVER_UNAVAILABLE, true),
    ];
    for (reason, backoff) in cases {
        let mut h = Harness::new(Harness::device_v5());
        h.client.handle_transport_up(h.now);
        h.clear();
        h.recv(connack(false, reason));
        assert_eq!(h.out(), lines(&["CLOSE"]), "{reason:?}");
        let mut expected = vec![Event::ConnectionRefused(reason)];
        if backoff {
            expected.push(Event::BackOff { reason });
        }
        expected.push(Event::Closed { reason: CloseReason::Refused(reason) });
        assert_eq!(h.events(), expected, "{reason:?}");
        assert_eq!(h.client.backoff_advised(), backoff.then_some(reason));
        // The advice lasts until a connection is accepted.
        h.connect_with(false, vec![]);
        assert_eq!(h.client.backoff_advised(), None);
    }
}

#[test]
fn mqtt_3_1_2_29_problem_information_refused_means_no_reason_strings_on_acks() {
    let mut config = Harness::device_v5();
    config.request_problem_information = false;
    let reason = Property::ReasonString("why".into());
    let user = Property::UserProperty("k".into(), "v".into());
    for (property, packet) in [(reason.clone(), PacketType::PubAck), (user, PacketType::SubAck)] {
        let mut h = Harness::new(config.clone());
        h.connect_with(false, vec![]);
        h.publish("t", 1);
        h.client.subscribe(h.now, vec![("s".into(), QoS::AtMostOnce)]).unwrap();
        h.clear();
        let mut bad = match packet {
            PacketType::PubAck => ack_with(PacketType::PubAck, 1, ReasonCode::SUCCESS),
            _ => suback(2, &[0]),
        };
        match &mut bad {
            Packet::PubAck(a) => a.properties = Properties(vec![property.clone()]),
            Packet::SubAck(s) => s.properties = Properties(vec![property.clone()]),
            _ => unreachable!(),
        }
        h.recv(bad);
        assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x82)", "CLOSE"]));
        let violation = ProtocolViolation::ProblemInformationNotRequested(packet);
        assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Protocol(violation) }]);
    }
    // With problem information requested (the default), a reason string is fine.
    let mut h = Harness::new(Harness::device_v5());
    h.connect_with(false, vec![]);
    h.publish("t", 1);
    h.clear();
    let Packet::PubAck(mut ack) = puback(1) else { unreachable!() };
    ack.properties = Properties(vec![reason]);
    h.recv(Packet::PubAck(ack));
    assert_eq!(h.client.state(), mqttsim_client::State::Connected);
}
