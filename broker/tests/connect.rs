//! CONNECT handling: first packet, CONNACK codes, identifiers, session present, takeover.

use std::sync::Arc;

use bytes::Bytes;
use mqttsim_broker::{BrokerConfig, DisconnectReason, Event, PasswordFile};
use mqttsim_codec::{
    Ack, ConnAck, DecodeError, Disconnect, Packet, PacketType, Properties, Protocol, ReasonCode,
    SubAck, UnsubAck,
};

use crate::harness::{Harness, Q0, connect, secs, will};

fn violation(statement: &'static str) -> impl Fn(&DisconnectReason) -> bool {
    move |reason| matches!(reason, DisconnectReason::ProtocolViolation { statement: Some(s), .. } if *s == statement)
}

#[test]
fn mqtt_3_1_0_1_first_packet_must_be_connect() {
    let packets = [
        Packet::PingReq,
        Packet::Publish(crate::harness::publish("a", "x", Q0, false, 0)),
        Packet::PubAck(Ack::new(1)),
        Packet::Disconnect(Disconnect::default()),
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: ReasonCode::SUCCESS,
            properties: Properties::new(),
        }),
    ];
    for packet in packets {
        let mut h = Harness::default();
        let conn = h.open();
        h.send(conn, packet.clone());
        assert!(h.take(conn).is_empty(), "nothing is answered to {packet:?}");
        assert!(h.closed(conn).is_some_and(violation("MQTT-3.1.0-1")), "{packet:?}");
        assert_eq!(h.broker.connection_count(), 0);
    }
}

#[test]
fn mqtt_3_1_0_2_second_connect_is_a_violation_and_fires_the_will() {
    let mut h = Harness::default();
    let mut first = connect("c", true);
    first.will = Some(will("w", "gone", Q0, false));
    let (conn, _) = h.connect_with(first);
    h.send(conn, Packet::Connect(connect("c", true)));
    assert!(h.take(conn).is_empty(), "no second CONNACK");
    assert!(h.closed(conn).is_some_and(violation("MQTT-3.1.0-2")));
    assert_eq!(h.wills(), ["c"]);
}

/// One CONNECT against one configuration, and the CONNACK it must get.
struct ConnectCase {
    name: &'static str,
    client_id: &'static str,
    clean: bool,
    username: Option<&'static str>,
    password: Option<&'static [u8]>,
    protocol: Protocol,
    passwords: Option<&'static str>,
    expected: ReasonCode,
}

const CASE: ConnectCase = ConnectCase {
    name: "",
    client_id: "c",
    clean: true,
    username: None,
    password: None,
    protocol: Protocol::V311,
    passwords: None,
    expected: ReasonCode::SUCCESS,
};

#[test]
fn connack_return_codes() {
    let cases = [
        ConnectCase { name: "plain", ..CASE },
        ConnectCase { name: "MQTT-3.1.3-6 empty id, clean", client_id: "", ..CASE },
        ConnectCase {
            name: "MQTT-3.1.3-8 empty id, persistent",
            client_id: "",
            clean: false,
            expected: ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            ..CASE
        },
        ConnectCase {
            name: "password file, right password",
            username: Some("alice"),
            password: Some(b"secret"),
            passwords: Some("alice:secret"),
            ..CASE
        },
        ConnectCase {
            name: "password file, wrong password",
            username: Some("alice"),
            password: Some(b"guess"),
            passwords: Some("alice:secret"),
            expected: ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            ..CASE
        },
        ConnectCase {
            name: "password file, unknown user",
            username: Some("mallory"),
            password: Some(b"secret"),
            passwords: Some("alice:secret"),
            expected: ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            ..CASE
        },
        ConnectCase {
            name: "password file, no user name",
            passwords: Some("alice:secret"),
            expected: ReasonCode::NOT_AUTHORIZED,
            ..CASE
        },
        ConnectCase {
            name: "allow-all ignores credentials",
            username: Some("anyone"),
            password: Some(b"anything"),
            ..CASE
        },
        ConnectCase { name: "5.0 on the same broker", protocol: Protocol::V5, ..CASE },
        ConnectCase {
            name: "5.0 empty id, persistent (allowed in 5.0)",
            protocol: Protocol::V5,
            client_id: "",
            clean: false,
            ..CASE
        },
    ];
    for case in cases {
        let mut config = BrokerConfig::default();
        if let Some(text) = case.passwords {
            config.authenticator = Arc::new(PasswordFile::parse(text).unwrap());
        }
        let mut h = Harness::new(config);
        let mut packet = connect(case.client_id, case.clean);
        packet.username = case.username.map(str::to_owned);
        packet.password = case.password.map(Bytes::from_static);
        packet.protocol = case.protocol;
        let (conn, connack) = h.connect_with(packet);
        let connack = connack.unwrap_or_else(|| panic!("{}: no CONNACK", case.name));
        assert_eq!(connack.reason_code, case.expected, "{}", case.name);
        // A refusal has session present 0 and closes [MQTT-3.2.2-4] [MQTT-3.2.2-5].
        let refused = case.expected != ReasonCode::SUCCESS;
        assert!(!connack.session_present || !refused, "{}", case.name);
        assert_eq!(
            h.closed(conn),
            refused.then_some(&DisconnectReason::ConnectRefused(case.expected)),
            "{}",
            case.name
        );
        // The CONNACK is encoded in the client's protocol, even when the connection is closed.
        assert_eq!(h.encoded_with(conn), Some(case.protocol), "{}", case.name);
        let after_close = (!refused).then_some(case.protocol);
        assert_eq!(h.broker.protocol(conn), after_close, "{}: forgotten once closed", case.name);
    }
}

#[test]
fn mqtt_3_1_3_6_generated_client_ids_are_unique() {
    let mut h = Harness::default();
    for _ in 0..3 {
        h.connect("", true);
    }
    let ids: Vec<String> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ClientConnected { client_id, .. } => Some(client_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["mqttsim-0", "mqttsim-1", "mqttsim-2"]);
}

#[test]
fn generated_client_ids_skip_ids_in_use() {
    let mut h = Harness::default();
    h.connect("mqttsim-0", false);
    h.connect("", true);
    let connected: Vec<String> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ClientConnected { client_id, .. } => Some(client_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(connected, ["mqttsim-0", "mqttsim-1"]);
}

#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level_gets_connack_1() {
    let mut h = Harness::default();
    let conn = h.open();
    h.decode_error(conn, &DecodeError::UnsupportedProtocolLevel(3));
    let expected = ConnAck {
        session_present: false,
        reason_code: ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        properties: Properties::new(),
    };
    assert_eq!(h.take(conn), [Packet::ConnAck(expected)]);
    assert_eq!(h.encoded_with(conn), None, "no CONNECT was read: the driver encodes as 3.1.1");
    assert_eq!(
        h.closed(conn),
        Some(&DisconnectReason::ConnectRefused(ReasonCode::UNSUPPORTED_PROTOCOL_VERSION))
    );
    assert_eq!(ReasonCode::UNSUPPORTED_PROTOCOL_VERSION.to_v311_connack(), Some(1));
}

#[test]
fn decode_error_after_connect_closes_without_connack_and_fires_the_will() {
    let mut h = Harness::default();
    let mut packet = connect("c", true);
    packet.will = Some(will("w", "gone", Q0, false));
    let (conn, _) = h.connect_with(packet);
    let error = DecodeError::InvalidFixedHeaderFlags { packet: PacketType::PingReq, flags: 0b0100 };
    h.decode_error(conn, &error);
    assert!(h.take(conn).is_empty());
    assert!(h.closed(conn).is_some_and(violation("MQTT-2.2.2-1")));
    assert_eq!(h.wills(), ["c"]);
}

#[test]
fn mqtt_3_1_2_22_password_without_user_name_is_a_violation() {
    let mut h = Harness::default();
    let mut packet = connect("c", true);
    packet.password = Some(Bytes::from_static(b"pw"));
    let (conn, connack) = h.connect_with(packet);
    assert_eq!(connack, None);
    assert!(h.closed(conn).is_some_and(violation("MQTT-3.1.2-22")));
}

#[test]
fn invalid_will_topic_is_a_violation() {
    let mut h = Harness::default();
    let mut packet = connect("c", true);
    packet.will = Some(will("a/+", "x", Q0, false));
    let (conn, connack) = h.connect_with(packet);
    assert_eq!(connack, None);
    assert!(h.closed(conn).is_some_and(violation("MQTT-3.3.2-2")));
    assert!(h.wills().is_empty(), "an invalid Will is never published");
}

#[test]
fn server_only_packets_from_a_client_are_violations() {
    let packets = [
        Packet::PingResp,
        Packet::SubAck(SubAck {
            packet_id: 1,
            reason_codes: vec![],
            properties: Properties::new(),
        }),
        Packet::UnsubAck(UnsubAck {
            packet_id: 1,
            reason_codes: vec![],
            properties: Properties::new(),
        }),
        Packet::Auth(Default::default()),
    ];
    for packet in packets {
        let mut h = Harness::default();
        let conn = h.connect("c", true);
        h.send(conn, packet.clone());
        assert!(h.closed(conn).is_some_and(violation("MQTT-4.8.0-1")), "{packet:?}");
    }
}

/// Session present after a first connection (with `first_clean`) ended, for a second one.
#[test]
fn mqtt_3_2_2_1_to_3_session_present() {
    let cases = [
        // (first connection clean?, second connection clean?, session present)
        (None, false, false),       // [MQTT-3.2.2-3] no stored session
        (None, true, false),        // [MQTT-3.2.2-1]
        (Some(false), false, true), // [MQTT-3.2.2-2] stored session resumed
        (Some(false), true, false), // [MQTT-3.2.2-1] clean discards it
        (Some(true), false, false), // a clean session ended with its connection
    ];
    for (first, second, present) in cases {
        let mut h = Harness::default();
        if let Some(clean) = first {
            let conn = h.connect("c", clean);
            h.send(conn, Packet::Disconnect(Disconnect::default()));
        }
        let (_, connack) = h.connect_with(connect("c", second));
        let connack = connack.unwrap();
        assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
        assert_eq!(connack.session_present, present, "{first:?} then {second}");
    }
}

#[test]
fn mqtt_3_1_4_2_takeover_closes_the_first_connection() {
    let mut h = Harness::default();
    let mut packet = connect("c", false);
    packet.will = Some(will("w", "gone", Q0, false));
    let (first, _) = h.connect_with(packet);
    h.take_events();
    let (second, connack) = h.connect_with(connect("c", false));
    assert_eq!(h.closed(first), Some(&DisconnectReason::TakenOver));
    assert_eq!(h.closed(second), None);
    let connack = connack.unwrap();
    assert_eq!((connack.reason_code, connack.session_present), (ReasonCode::SUCCESS, true));
    let events = h.take_events();
    assert!(
        matches!(&events[0], Event::ClientDisconnected { conn, reason: DisconnectReason::TakenOver, .. } if *conn == first)
    );
    assert!(events.iter().any(|e| matches!(e, Event::WillPublished { .. })), "the Will fires");
    // The old connection is forgotten: its packets are ignored.
    h.send(first, Packet::PingReq);
    assert!(h.take(first).is_empty());
    h.send(second, Packet::PingReq);
    assert_eq!(h.take(second), [Packet::PingResp]);
}

#[test]
fn calls_for_closed_or_unknown_connections_are_ignored() {
    let mut h = Harness::default();
    let conn = h.connect("c", true);
    h.lose(conn);
    assert_eq!(h.closed(conn), None, "no Close output for a transport that is already gone");
    let ghost = mqttsim_broker::ConnId(999);
    for target in [conn, ghost] {
        h.send(target, Packet::PingReq);
        h.decode_error(target, &DecodeError::UnsupportedProtocolLevel(3));
        h.lose(target);
        assert!(h.take(target).is_empty());
        assert_eq!(h.broker.protocol(target), None);
    }
    h.advance(secs(3600));
    assert_eq!(h.broker.connection_count(), 0);
}

#[test]
fn events_of_a_connection_life() {
    let mut h = Harness::default();
    let conn = h.connect("c", true);
    h.send(conn, Packet::Disconnect(Disconnect::default()));
    let client_id = bytestring::ByteString::from_static("c");
    assert_eq!(
        h.take_events(),
        [
            Event::ClientConnected {
                conn,
                client_id: client_id.clone(),
                clean_session: true,
                session_present: false
            },
            Event::ClientDisconnected {
                conn,
                client_id,
                reason: DisconnectReason::ClientDisconnect
            },
        ]
    );
    assert_eq!(h.closed(conn), Some(&DisconnectReason::ClientDisconnect));
    assert!(h.broker.session("c").is_none(), "the clean session ended [MQTT-3.1.2-6]");
}

#[test]
fn mqtt_3_1_4_2_takeover_keeps_or_discards_the_session_by_clean_session() {
    // (first connection clean?, second connection clean?, session present on the second)
    let cases =
        [(false, false, true), (false, true, false), (true, false, false), (true, true, false)];
    for (first_clean, second_clean, present) in cases {
        let mut h = Harness::default();
        let first = h.connect("c", first_clean);
        h.subscribe(first, "t", crate::harness::Q1);
        let (second, connack) = h.connect_with(connect("c", second_clean));
        assert_eq!(h.closed(first), Some(&DisconnectReason::TakenOver));
        let connack = connack.unwrap();
        assert_eq!(connack.session_present, present, "{first_clean} then {second_clean}");
        // The subscription lives on exactly when the session does.
        let publisher = h.connect("pub", true);
        h.publish(publisher, "t", "x", crate::harness::Q1, false);
        assert_eq!(h.publishes(second).len(), usize::from(present), "{first_clean} {second_clean}");
    }
}
