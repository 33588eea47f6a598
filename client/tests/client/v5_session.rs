//! 5.0 sessions from the client's side: state kept across connections, session present, and
//! the client's own Receive Maximum.

use mqttsim_client::{CloseReason, Event, MessageId, ProtocolViolation};
use mqttsim_codec::ReasonCode;

use crate::harness::{Harness, connack, lines, publish, pubrec, pubrel};

#[test]
fn mqtt_3_1_2_23_session_state_outlives_the_connection_and_resumes_with_session_present() {
    let mut config = Harness::device_v5();
    config.session_expiry_interval = 300;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![]);
    h.publish("a", 1);
    h.publish("b", 2);
    h.recv(pubrec(2));
    h.recv(publish(2, 9, "in", false));
    h.client.handle_transport_down(h.now);
    h.clear();
    h.at(120.0);
    assert_eq!(h.connect_with(true, vec![]), lines(&["PUBLISH q1 id=1 dup=1 a", "PUBREL 2"]));
    // Inbound QoS 2 state survived too: the server's resend is not delivered twice.
    h.events();
    h.recv(publish(2, 9, "in", true));
    assert!(!h.events().iter().any(|e| matches!(e, Event::Received(_))));
    h.recv(pubrel(9));
    assert_eq!(h.out(), lines(&["PUBREC 9", "PUBCOMP 9"]));
}

#[test]
fn mqtt_3_2_2_5_session_present_0_drops_the_session_state_and_restarts_it() {
    let mut config = Harness::device_v5();
    config.session_expiry_interval = 0;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![]);
    h.publish("a", 1);
    h.publish("b", 2);
    h.recv(pubrec(2));
    h.client.handle_transport_down(h.now);
    h.clear();
    assert_eq!(h.connect_with(false, vec![]), lines(&["PUBLISH q1 id=1 dup=0 a"]));
    assert_eq!(
        h.events()[1],
        Event::SessionLost { resent: vec![MessageId(1)], released: vec![MessageId(2)] }
    );
}

#[test]
fn mqtt_3_2_2_4_clean_start_with_session_present_closes() {
    let mut config = Harness::device_v5();
    config.clean_session = true;
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    h.clear();
    h.recv(connack(true, ReasonCode::SUCCESS));
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x82)", "CLOSE"]));
    let violation = ProtocolViolation::SessionPresentOnCleanSession;
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Protocol(violation) }]);
}

#[test]
fn mqtt_3_3_4_9_a_server_beyond_our_receive_maximum_is_disconnected_with_0x93() {
    let mut config = Harness::device_v5();
    config.max_inbound_qos2 = 2;
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    assert_eq!(h.out(), lines(&["CONNECT id=dev-1 clean=0 ka=0 [receive-max=2]"]));
    h.recv(connack(false, ReasonCode::SUCCESS));
    h.recv(publish(2, 1, "t", false));
    h.recv(publish(2, 2, "t", false));
    // Released identifiers make room again.
    h.recv(pubrel(1));
    h.recv(publish(2, 3, "t", false));
    assert_eq!(h.out(), lines(&["PUBREC 1", "PUBREC 2", "PUBCOMP 1", "PUBREC 3"]));
    h.clear();
    h.recv(publish(2, 4, "t", false));
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x93)", "CLOSE"]));
    let violation = ProtocolViolation::TooManyInboundQos2(2);
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::Protocol(violation) }]);
}

#[test]
fn the_client_knows_whether_its_session_should_still_exist() {
    // (protocol, clean session, session expiry, seconds away, expected)
    let cases = [
        (false, false, 60, 59.0, true),
        (false, false, 60, 60.0, false),
        (false, false, 0, 0.5, false),
        (false, false, u32::MAX, 1e6, true),
        (false, true, 60, 1.0, false),
        (true, false, 0, 1e6, true),
    ];
    for (v311, clean, expiry, away, expected) in cases {
        let mut config = if v311 { Harness::device() } else { Harness::device_v5() };
        config.clean_session = clean;
        config.session_expiry_interval = expiry;
        let mut h = Harness::new(config);
        h.client.handle_transport_up(h.now);
        assert!(!h.client.expects_session(), "a first connection expects none");
        h.recv(connack(false, ReasonCode::SUCCESS));
        h.at(10.0);
        h.client.handle_transport_down(h.now);
        h.at(10.0 + away);
        h.client.handle_transport_up(h.now);
        assert_eq!(h.client.expects_session(), expected, "{v311} {clean} {expiry} {away}");
    }
}

#[test]
fn the_expiry_in_force_when_the_connection_ended_counts() {
    let mut config = Harness::device_v5();
    config.session_expiry_interval = 600;
    let mut h = Harness::new(config);
    // The server shortens it to 5 s.
    h.connect_with(false, vec![mqttsim_codec::Property::SessionExpiryInterval(5)]);
    h.client.handle_transport_down(h.now);
    h.at(6.0);
    h.client.handle_transport_up(h.now);
    assert!(!h.client.expects_session());
    // A DISCONNECT lengthens it.
    h.recv(connack(false, ReasonCode::SUCCESS));
    let options = mqttsim_client::DisconnectOptions {
        session_expiry_interval: Some(3600),
        ..Default::default()
    };
    h.client.disconnect_with(h.now, options).unwrap();
    h.at(1000.0);
    h.client.handle_transport_up(h.now);
    assert!(h.client.expects_session());
}
