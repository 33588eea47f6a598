//! Every packet type of both versions against hex checked by hand against the standards
//! (3.1.1 chapter 3 and 5.0 chapter 3; property identifiers from 5.0 table 2-4).

use bytes::{Bytes, BytesMut};
use mqttsim_codec::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, Properties, Property, Protocol, Publish, QoS,
    ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, UnsubAck,
    Unsubscribe, Will, decode, encode, encoded_len,
};

use crate::helpers::{buf, hex, to_hex};

use Protocol::{V5, V311};

fn props(list: Vec<Property>) -> Properties {
    Properties(list)
}

fn user(k: &str, v: &str) -> Property {
    Property::UserProperty(k.into(), v.into())
}

fn connect(protocol: Protocol, client_id: &str) -> Connect {
    Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    }
}

fn publish(qos: QoS, topic: &'static str, packet_id: u16, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id,
        payload: Bytes::from_static(payload),
        properties: Properties::new(),
    }
}

fn ack(packet_id: u16, code: u8, properties: Vec<Property>) -> Ack {
    Ack { packet_id, reason_code: ReasonCode(code), properties: props(properties) }
}

fn sub(filter: &str, qos: QoS) -> SubscribeFilter {
    SubscribeFilter {
        filter: filter.into(),
        options: SubscriptionOptions { qos, ..SubscriptionOptions::default() },
    }
}

/// (name, version, hex, packet): decode(hex) == packet and encode(packet) == hex.
fn canonical() -> Vec<(&'static str, Protocol, &'static str, Packet)> {
    vec![
        // ---------------------------------------------------------------- MQTT 3.1.1
        (
            "3.1.1 CONNECT minimal: clean session, keep alive 60, client id \"c\"",
            V311,
            "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 63",
            Packet::Connect(connect(V311, "c")),
        ),
        (
            "3.1.1 CONNECT with a QoS 1 retained Will, user name and password",
            V311,
            // Flags 0xEC: user name, password, Will retain, Will QoS 1, Will flag.
            "10 1C 00 04 4D 51 54 54 04 EC 00 0A 00 02 69 64 00 01 77 00 03 62 79 65 \
             00 01 75 00 01 70",
            Packet::Connect(Connect {
                clean_start: false,
                keep_alive: 10,
                will: Some(Will {
                    topic: "w".into(),
                    payload: Bytes::from_static(b"bye"),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    properties: Properties::new(),
                }),
                username: Some("u".into()),
                password: Some(Bytes::from_static(b"p")),
                ..connect(V311, "id")
            }),
        ),
        (
            "3.1.1 CONNACK accepted with session present",
            V311,
            "20 02 01 00",
            Packet::ConnAck(ConnAck {
                session_present: true,
                reason_code: ReasonCode::SUCCESS,
                properties: Properties::new(),
            }),
        ),
        (
            "3.1.1 CONNACK return code 5 is 5.0's not authorized",
            V311,
            "20 02 00 05",
            Packet::ConnAck(ConnAck {
                session_present: false,
                reason_code: ReasonCode::NOT_AUTHORIZED,
                properties: Properties::new(),
            }),
        ),
        (
            "3.1.1 PUBLISH QoS 0",
            V311,
            "30 07 00 03 61 2F 62 68 69",
            Packet::Publish(publish(QoS::AtMostOnce, "a/b", 0, b"hi")),
        ),
        (
            "3.1.1 PUBLISH QoS 1 with DUP and RETAIN",
            V311,
            "3B 09 00 03 61 2F 62 00 0A 68 69",
            Packet::Publish(Publish {
                dup: true,
                retain: true,
                ..publish(QoS::AtLeastOnce, "a/b", 10, b"hi")
            }),
        ),
        (
            "3.1.1 PUBLISH QoS 2 with an empty payload",
            V311,
            "34 05 00 01 74 FF FF",
            Packet::Publish(publish(QoS::ExactlyOnce, "t", 0xFFFF, b"")),
        ),
        ("3.1.1 PUBACK", V311, "40 02 00 0A", Packet::PubAck(Ack::new(10))),
        ("3.1.1 PUBREC", V311, "50 02 00 0A", Packet::PubRec(Ack::new(10))),
        ("3.1.1 PUBREL", V311, "62 02 00 0A", Packet::PubRel(Ack::new(10))),
        ("3.1.1 PUBCOMP", V311, "70 02 00 0A", Packet::PubComp(Ack::new(10))),
        (
            "3.1.1 SUBSCRIBE two filters",
            V311,
            "82 0C 00 01 00 03 61 2F 2B 01 00 01 23 02",
            Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![sub("a/+", QoS::AtLeastOnce), sub("#", QoS::ExactlyOnce)],
                properties: Properties::new(),
            }),
        ),
        (
            "3.1.1 SUBACK granted QoS 1 and failure",
            V311,
            "90 04 00 01 01 80",
            Packet::SubAck(SubAck {
                packet_id: 1,
                reason_codes: vec![ReasonCode::GRANTED_QOS_1, ReasonCode::UNSPECIFIED_ERROR],
                properties: Properties::new(),
            }),
        ),
        (
            "3.1.1 UNSUBSCRIBE",
            V311,
            "A2 07 00 02 00 03 61 2F 2B",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 2,
                filters: vec!["a/+".into()],
                properties: Properties::new(),
            }),
        ),
        (
            "3.1.1 UNSUBACK",
            V311,
            "B0 02 00 02",
            Packet::UnsubAck(UnsubAck {
                packet_id: 2,
                reason_codes: vec![],
                properties: Properties::new(),
            }),
        ),
        ("3.1.1 PINGREQ", V311, "C0 00", Packet::PingReq),
        ("3.1.1 PINGRESP", V311, "D0 00", Packet::PingResp),
        ("3.1.1 DISCONNECT", V311, "E0 00", Packet::Disconnect(Disconnect::default())),
        // ---------------------------------------------------------------- MQTT 5.0
        (
            "5.0 CONNECT with session expiry, receive maximum and a user property",
            V5,
            "10 1D 00 04 4D 51 54 54 05 02 00 3C 0F 11 00 00 00 78 21 00 14 \
             26 00 01 6B 00 01 76 00 01 63",
            Packet::Connect(Connect {
                properties: props(vec![
                    Property::SessionExpiryInterval(120),
                    Property::ReceiveMaximum(20),
                    user("k", "v"),
                ]),
                ..connect(V5, "c")
            }),
        ),
        (
            "5.0 CONNECT with a Will with properties and a password without user name",
            V5,
            // Flags 0x46: password, Will QoS 0, Will flag, clean start.
            "10 1F 00 04 4D 51 54 54 05 46 00 00 00 00 01 63 07 18 00 00 00 05 01 01 \
             00 01 77 00 00 00 02 70 77",
            Packet::Connect(Connect {
                keep_alive: 0,
                will: Some(Will {
                    topic: "w".into(),
                    payload: Bytes::new(),
                    qos: QoS::AtMostOnce,
                    retain: false,
                    properties: props(vec![
                        Property::WillDelayInterval(5),
                        Property::PayloadFormatIndicator(1),
                    ]),
                }),
                password: Some(Bytes::from_static(b"pw")),
                ..connect(V5, "c")
            }),
        ),
        (
            "5.0 CONNACK with assigned client id, topic alias maximum, maximum QoS, retain",
            V5,
            "20 0E 00 00 0B 12 00 01 78 22 00 0A 24 01 25 00",
            Packet::ConnAck(ConnAck {
                session_present: false,
                reason_code: ReasonCode::SUCCESS,
                properties: props(vec![
                    Property::AssignedClientIdentifier("x".into()),
                    Property::TopicAliasMaximum(10),
                    Property::MaximumQoS(1),
                    Property::RetainAvailable(0),
                ]),
            }),
        ),
        (
            "5.0 CONNACK not authorized",
            V5,
            "20 03 00 87 00",
            Packet::ConnAck(ConnAck {
                session_present: false,
                reason_code: ReasonCode::NOT_AUTHORIZED,
                properties: Properties::new(),
            }),
        ),
        (
            "5.0 PUBLISH QoS 0 without properties",
            V5,
            "30 05 00 01 74 00 78",
            Packet::Publish(publish(QoS::AtMostOnce, "t", 0, b"x")),
        ),
        (
            "5.0 PUBLISH QoS 1 with topic alias, two subscription identifiers, expiry",
            V5,
            "32 14 00 01 74 00 05 0D 23 00 03 0B C8 01 0B 01 02 00 00 00 3C 78",
            Packet::Publish(Publish {
                properties: props(vec![
                    Property::TopicAlias(3),
                    Property::SubscriptionIdentifier(200),
                    Property::SubscriptionIdentifier(1),
                    Property::MessageExpiryInterval(60),
                ]),
                ..publish(QoS::AtLeastOnce, "t", 5, b"x")
            }),
        ),
        (
            "5.0 PUBLISH with an empty topic name standing for topic alias 7",
            V5,
            "30 06 00 00 03 23 00 07",
            Packet::Publish(Publish {
                properties: props(vec![Property::TopicAlias(7)]),
                ..publish(QoS::AtMostOnce, "", 0, b"")
            }),
        ),
        (
            "5.0 PUBLISH with correlation data, response topic and content type",
            V5,
            "30 16 00 01 74 10 09 00 02 AB CD 08 00 01 72 03 00 04 74 65 78 74 7B 7D",
            Packet::Publish(Publish {
                properties: props(vec![
                    Property::CorrelationData(Bytes::from_static(&[0xAB, 0xCD])),
                    Property::ResponseTopic("r".into()),
                    Property::ContentType("text".into()),
                ]),
                ..publish(QoS::AtMostOnce, "t", 0, b"{}")
            }),
        ),
        ("5.0 PUBACK success, short form", V5, "40 02 00 05", Packet::PubAck(Ack::new(5))),
        (
            "5.0 PUBACK no matching subscribers, reason code only",
            V5,
            "40 03 00 05 10",
            Packet::PubAck(ack(5, 0x10, vec![])),
        ),
        (
            "5.0 PUBREC unspecified error with a reason string",
            V5,
            "50 09 00 05 80 05 1F 00 02 6E 6F",
            Packet::PubRec(ack(5, 0x80, vec![Property::ReasonString("no".into())])),
        ),
        (
            "5.0 PUBREL packet identifier not found",
            V5,
            "62 03 00 05 92",
            Packet::PubRel(ack(5, 0x92, vec![])),
        ),
        ("5.0 PUBCOMP success, short form", V5, "70 02 00 05", Packet::PubComp(Ack::new(5))),
        (
            "5.0 SUBSCRIBE with subscription identifier and every option bit",
            V5,
            // Options 0x2D: retain handling 2, retain as published, no local, QoS 1.
            "82 0B 00 01 02 0B 07 00 03 61 2F 23 2D",
            Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![SubscribeFilter {
                    filter: "a/#".into(),
                    options: SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                }],
                properties: props(vec![Property::SubscriptionIdentifier(7)]),
            }),
        ),
        (
            "5.0 SUBACK granted QoS 0, QoS 2 and wildcards not supported",
            V5,
            "90 06 00 01 00 00 02 A2",
            Packet::SubAck(SubAck {
                packet_id: 1,
                reason_codes: vec![
                    ReasonCode::GRANTED_QOS_0,
                    ReasonCode::GRANTED_QOS_2,
                    ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
                ],
                properties: Properties::new(),
            }),
        ),
        (
            "5.0 UNSUBSCRIBE with a user property",
            V5,
            "A2 0D 00 02 07 26 00 01 6B 00 01 76 00 01 61",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 2,
                filters: vec!["a".into()],
                properties: props(vec![user("k", "v")]),
            }),
        ),
        (
            "5.0 UNSUBACK success and no subscription existed",
            V5,
            "B0 05 00 02 00 00 11",
            Packet::UnsubAck(UnsubAck {
                packet_id: 2,
                reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
                properties: Properties::new(),
            }),
        ),
        ("5.0 PINGREQ", V5, "C0 00", Packet::PingReq),
        ("5.0 PINGRESP", V5, "D0 00", Packet::PingResp),
        (
            "5.0 DISCONNECT normal, short form",
            V5,
            "E0 00",
            Packet::Disconnect(Disconnect::default()),
        ),
        (
            "5.0 DISCONNECT with Will message, reason code only",
            V5,
            "E0 01 04",
            Packet::Disconnect(Disconnect {
                reason_code: ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
                properties: Properties::new(),
            }),
        ),
        (
            "5.0 DISCONNECT server shutting down with a reason string",
            V5,
            "E0 06 8B 04 1F 00 01 78",
            Packet::Disconnect(Disconnect {
                reason_code: ReasonCode::SERVER_SHUTTING_DOWN,
                properties: props(vec![Property::ReasonString("x".into())]),
            }),
        ),
        ("5.0 AUTH success, short form", V5, "F0 00", Packet::Auth(Auth::default())),
        (
            "5.0 AUTH continue with method and data",
            V5,
            "F0 0A 18 08 15 00 01 6D 16 00 01 AB",
            Packet::Auth(Auth {
                reason_code: ReasonCode::CONTINUE_AUTHENTICATION,
                properties: props(vec![
                    Property::AuthenticationMethod("m".into()),
                    Property::AuthenticationData(Bytes::from_static(&[0xAB])),
                ]),
            }),
        ),
    ]
}

/// (name, version, hex, packet): forms the decoder accepts but the encoder does not produce.
fn decode_only() -> Vec<(&'static str, Protocol, &'static str, Packet)> {
    vec![
        ("5.0 PUBACK success spelt out", V5, "40 03 00 05 00", Packet::PubAck(Ack::new(5))),
        (
            "5.0 PUBCOMP success with empty properties",
            V5,
            "70 04 00 05 00 00",
            Packet::PubComp(Ack::new(5)),
        ),
        (
            "5.0 DISCONNECT normal spelt out",
            V5,
            "E0 02 00 00",
            Packet::Disconnect(Disconnect::default()),
        ),
        ("5.0 AUTH success spelt out", V5, "F0 02 00 00", Packet::Auth(Auth::default())),
        (
            "CONNECT carries its own version whatever the connection says",
            V311,
            "10 0E 00 04 4D 51 54 54 05 02 00 3C 00 00 01 63",
            Packet::Connect(connect(V5, "c")),
        ),
    ]
}

#[test]
fn decode_and_encode_are_byte_exact() {
    for (name, protocol, wire, packet) in canonical() {
        let wire = hex(wire);
        let mut b = buf(&wire);
        assert_eq!(decode(&mut b, protocol, 1 << 20), Ok(Some(packet.clone())), "decode {name}");
        assert!(b.is_empty(), "decode {name} left {} bytes", b.len());
        let mut out = BytesMut::new();
        encode(&packet, protocol, &mut out).unwrap_or_else(|e| panic!("encode {name}: {e}"));
        assert_eq!(to_hex(&out), to_hex(&wire), "encode {name}");
        assert_eq!(encoded_len(&packet, protocol), Ok(wire.len()), "encoded_len {name}");
    }
}

#[test]
fn non_canonical_forms_decode() {
    for (name, protocol, wire, packet) in decode_only() {
        let mut b = buf(&hex(wire));
        assert_eq!(decode(&mut b, protocol, 1 << 20), Ok(Some(packet)), "decode {name}");
        assert!(b.is_empty(), "decode {name} left bytes");
    }
}

#[test]
fn decode_takes_one_packet_at_a_time() {
    let mut b = buf(&hex("C0 00 40 02 00 0A D0"));
    assert_eq!(decode(&mut b, V311, 64), Ok(Some(Packet::PingReq)));
    assert_eq!(decode(&mut b, V311, 64), Ok(Some(Packet::PubAck(Ack::new(10)))));
    assert_eq!(decode(&mut b, V311, 64), Ok(None));
    assert_eq!(&b[..], [0xD0], "an incomplete packet stays in the buffer");
}

#[test]
fn encoding_for_311_drops_what_311_cannot_carry() {
    let cases = [
        (Packet::PubAck(ack(3, 0x10, vec![user("k", "v")])), "40 02 00 03"),
        (
            Packet::SubAck(SubAck {
                packet_id: 1,
                reason_codes: vec![ReasonCode::GRANTED_QOS_2, ReasonCode::QUOTA_EXCEEDED],
                properties: Properties::new(),
            }),
            "90 04 00 01 02 80",
        ),
        (
            Packet::Disconnect(Disconnect {
                reason_code: ReasonCode::SERVER_SHUTTING_DOWN,
                properties: Properties::new(),
            }),
            "E0 00",
        ),
    ];
    for (packet, wire) in cases {
        let mut out = BytesMut::new();
        encode(&packet, V311, &mut out).unwrap();
        assert_eq!(to_hex(&out), wire, "{packet:?}");
    }
    let mut out = BytesMut::new();
    assert!(encode(&Packet::Auth(Auth::default()), V311, &mut out).is_err());
    let refused = Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ReasonCode::BANNED,
        properties: Properties::new(),
    });
    assert!(encode(&refused, V311, &mut out).is_err());
    assert!(out.is_empty(), "a failed encode writes nothing");
}

#[test]
fn encode_refuses_oversized_fields() {
    let mut p = publish(QoS::AtMostOnce, "t", 0, b"");
    p.topic = "a".repeat(70_000).into();
    let mut out = BytesMut::new();
    assert_eq!(
        encode(&Packet::Publish(p), V311, &mut out),
        Err(mqttsim_codec::EncodeError::FieldTooLong(70_000))
    );
}

/// MQTT 3.1 clients say "MQIsdp" at level 3; the rest of the wire is 3.1.1's.
#[test]
fn mqtt_3_1_connect_decodes_and_encodes() {
    let wire = "10 0F 00 06 4D 51 49 73 64 70 03 02 00 3C 00 01 63";
    let expected = Packet::Connect(connect(Protocol::V31, "c"));
    let mut input = buf(&hex(wire));
    assert_eq!(decode(&mut input, V311, 1 << 20).unwrap(), Some(expected.clone()));
    let mut out = BytesMut::new();
    encode(&expected, Protocol::V31, &mut out).unwrap();
    assert_eq!(to_hex(&out), wire);
}
