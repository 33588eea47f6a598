use std::time::Duration;

use bytes::Bytes;
use mqttsim_client::{ClientConfig, CloseReason, Event, Output, State};
use mqttsim_codec::{Connect, Packet, Properties, Property, Protocol, QoS, ReasonCode, Will};

use crate::harness::{Harness, connack, lines};

fn full_config(protocol: Protocol) -> ClientConfig {
    let mut config = ClientConfig::new("sensor-42");
    config.protocol = protocol;
    config.keep_alive = 30;
    config.clean_session = false;
    config.username = Some("user".into());
    config.password = Some(Bytes::from_static(b"secret"));
    config.will = Some(Will {
        topic: "devices/sensor-42/status".into(),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Properties::new(),
    });
    config
}

fn connect_packet(config: ClientConfig) -> Packet {
    let mut h = Harness::new(config);
    h.client.handle_transport_up(Duration::ZERO);
    let mut out = h.raw_out();
    assert_eq!(out.len(), 1);
    assert_eq!(h.client.state(), State::Connecting);
    match out.remove(0) {
        Output::Send(packet) => packet,
        Output::Close => panic!("transport up must send CONNECT"),
    }
}

#[test]
fn connect_v311_carries_every_configured_field() {
    let expected = Connect {
        protocol: Protocol::V311,
        clean_start: false,
        keep_alive: 30,
        client_id: "sensor-42".into(),
        will: full_config(Protocol::V311).will,
        username: Some("user".into()),
        password: Some(Bytes::from_static(b"secret")),
        properties: Properties::new(),
    };
    assert_eq!(connect_packet(full_config(Protocol::V311)), Packet::Connect(expected));
}

#[test]
fn connect_clean_session_and_empty_fields() {
    let mut config = ClientConfig::new("");
    config.clean_session = true;
    config.keep_alive = 0;
    let Packet::Connect(connect) = connect_packet(config) else { panic!("not CONNECT") };
    assert!(connect.clean_start);
    assert_eq!(connect.keep_alive, 0);
    assert_eq!(connect.client_id, "");
    assert_eq!((connect.will, connect.username, connect.password), (None, None, None));
}

#[test]
fn connect_v5_adds_session_expiry_and_receive_maximum() {
    let mut config = full_config(Protocol::V5);
    config.session_expiry_interval = 3600;
    config.max_inbound_qos2 = 10;
    let Packet::Connect(connect) = connect_packet(config) else { panic!("not CONNECT") };
    assert_eq!(connect.protocol, Protocol::V5);
    assert_eq!(
        connect.properties.0,
        vec![Property::SessionExpiryInterval(3600), Property::ReceiveMaximum(10)]
    );
}

#[test]
fn connack_success_connects_and_reports_session_present() {
    for session_present in [false, true] {
        let mut h = Harness::new(Harness::device());
        assert!(h.connect(session_present).is_empty());
        assert_eq!(h.events(), vec![Event::Connected { session_present }]);
    }
}

#[test]
fn connack_refusals_close_with_the_reason() {
    // 3.1.1 return codes 1 to 5 travel as their 5.0 equivalents.
    for code in 1..=5u8 {
        let reason = ReasonCode::from_v311_connack(code).unwrap();
        let mut h = Harness::new(Harness::device());
        h.client.handle_transport_up(h.now);
        h.clear();
        h.recv(connack(false, reason));
        assert_eq!(h.out(), lines(&["CLOSE"]), "code {code}");
        assert_eq!(
            h.events(),
            vec![
                Event::ConnectionRefused(reason),
                Event::Closed { reason: CloseReason::Refused(reason) }
            ]
        );
        assert_eq!(h.client.state(), State::Disconnected);
    }
}

#[test]
fn connect_timeout_closes_when_no_connack_arrives() {
    let mut config = Harness::device();
    config.connect_timeout = Duration::from_secs(5);
    let mut h = Harness::new(config);
    h.at(1.0);
    h.client.handle_transport_up(h.now);
    h.clear();
    assert_eq!(h.client.poll_timeout(), Some(Duration::from_secs(6)));
    h.at(5.999);
    assert!(h.out().is_empty());
    assert_eq!(h.client.state(), State::Connecting);
    h.at(6.0);
    assert_eq!(h.out(), lines(&["CLOSE"]));
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::ConnectTimeout }]);
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn connack_in_time_cancels_the_connect_timeout() {
    let mut h = Harness::new(Harness::device());
    h.connect(false);
    assert_eq!(h.client.poll_timeout(), None, "keep alive is off, nothing else is due");
    h.at(100.0);
    assert_eq!(h.client.state(), State::Connected);
}

#[test]
fn disconnect_sends_disconnect_then_close() {
    let mut h = Harness::new(Harness::device());
    h.connect(false);
    h.clear();
    h.client.disconnect(h.now);
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x00)", "CLOSE"]));
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::ClientDisconnect }]);
    assert_eq!(h.client.state(), State::Disconnected);
    // Nothing more happens on a second call, nor for packets still in the driver's buffer.
    h.client.disconnect(h.now);
    h.recv(crate::harness::puback(1));
    h.client.handle_transport_down(h.now);
    assert!(h.out().is_empty());
    assert!(h.events().is_empty());
}

#[test]
fn transport_loss_is_reported_without_close_output() {
    let mut h = Harness::new(Harness::device());
    h.connect(false);
    h.clear();
    h.client.handle_transport_down(h.now);
    assert!(h.out().is_empty());
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::TransportLost }]);
}

#[test]
fn decode_error_closes_and_v5_says_why() {
    let error = mqttsim_codec::DecodeError::PacketTooLarge { size: 10, max: 5 };
    for (protocol, expected) in [
        (Protocol::V311, lines(&["CLOSE"])),
        (Protocol::V5, lines(&["DISCONNECT ReasonCode(0x95)", "CLOSE"])),
    ] {
        let mut config = Harness::device();
        config.protocol = protocol;
        let mut h = Harness::new(config);
        h.connect(false);
        h.clear();
        h.client.handle_decode_error(h.now, &error);
        assert_eq!(h.out(), expected);
        assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Decode(error.clone()) }]);
    }
}

#[test]
fn v5_server_disconnect_closes_with_its_reason() {
    let mut config = Harness::device();
    config.protocol = Protocol::V5;
    let mut h = Harness::new(config);
    h.connect(false);
    h.clear();
    h.recv(Packet::Disconnect(mqttsim_codec::Disconnect {
        reason_code: ReasonCode::SERVER_SHUTTING_DOWN,
        properties: Properties::new(),
    }));
    assert_eq!(h.out(), lines(&["CLOSE"]));
    assert_eq!(
        h.events(),
        vec![
            Event::BackOff { reason: ReasonCode::SERVER_SHUTTING_DOWN },
            Event::Closed {
                reason: CloseReason::ServerDisconnect(ReasonCode::SERVER_SHUTTING_DOWN)
            }
        ]
    );
}

#[test]
fn outputs_of_a_lost_transport_are_discarded() {
    let mut h = Harness::new(Harness::device());
    h.connect(false);
    h.clear();
    h.publish("never-polled", 1);
    h.client.handle_transport_down(h.now);
    assert!(h.out().is_empty(), "nothing can be written to a transport that is gone");
    h.publish("again", 1);
    h.client.handle_transport_up(h.now);
    assert_eq!(h.out(), lines(&["CONNECT id=dev-1 clean=0 ka=0"]));
}

#[test]
fn transport_up_while_connected_starts_over_with_connect_first() {
    let mut h = Harness::new(Harness::device());
    h.connect(false);
    h.clear();
    h.publish("unpolled", 1);
    h.client.handle_transport_up(h.now);
    assert_eq!(h.out(), lines(&["CONNECT id=dev-1 clean=0 ka=0"]));
    assert_eq!(h.events()[1], Event::Closed { reason: CloseReason::TransportLost });
    assert_eq!(h.client.state(), State::Connecting);
    // Likewise after a disconnect whose DISCONNECT and close were never polled.
    h.recv(connack(true, ReasonCode::SUCCESS));
    h.clear();
    h.client.disconnect(h.now);
    h.client.handle_transport_up(h.now);
    assert_eq!(h.out(), lines(&["CONNECT id=dev-1 clean=0 ka=0"]));
}

#[test]
fn v5_assigned_client_identifier_is_used_on_reconnect() {
    let mut config = ClientConfig::new("");
    config.protocol = Protocol::V5;
    config.keep_alive = 0;
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    assert_eq!(h.out(), lines(&["CONNECT id= clean=0 ka=0 [receive-max=64]"]));
    h.recv(Packet::ConnAck(mqttsim_codec::ConnAck {
        session_present: false,
        reason_code: ReasonCode::SUCCESS,
        properties: Properties(vec![Property::AssignedClientIdentifier("auto-7".into())]),
    }));
    h.client.handle_transport_down(h.now);
    h.client.handle_transport_up(h.now);
    assert_eq!(h.out(), lines(&["CONNECT id=auto-7 clean=0 ka=0 [receive-max=64]"]));
}
