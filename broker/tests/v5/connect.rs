use mqttsim_broker::{BrokerConfig, DisconnectReason, Event};
use mqttsim_codec::{Packet, Property, QoS, ReasonCode};

use crate::harness::{Harness, Q0, Q1, connect, connect5, secs, will};

#[test]
fn mqtt5_3_1_3_7_and_3_2_2_16_an_empty_client_id_is_assigned_one_and_told() {
    let mut h = Harness::default();
    // 5.0 allows an empty identifier with Clean Start 0 too.
    let (_, first) = h.connect5(connect5("", false, Vec::new()));
    let (_, second) = h.connect5(connect5("", true, Vec::new()));
    let assigned = |c: &mqttsim_codec::ConnAck| {
        c.properties.iter().find_map(|p| match p {
            Property::AssignedClientIdentifier(id) => Some(id.clone()),
            _ => None,
        })
    };
    let (a, b) = (assigned(&first).unwrap(), assigned(&second).unwrap());
    assert_ne!(a, b, "unique among current sessions");
    assert!(h.broker.session(&a).is_some() && h.broker.session(&b).is_some());
    // A client that named itself is not told an identifier.
    let (_, named) = h.connect5(connect5("named", true, Vec::new()));
    assert_eq!(assigned(&named), None);
}

#[test]
fn mqtt5_4_12_0_1_an_unsupported_authentication_method_gets_0x8c_and_a_close() {
    let mut h = Harness::default();
    let method = Property::AuthenticationMethod("SCRAM-SHA-1".into());
    let (conn, connack) = h.connect_with(connect5("c", true, vec![method]));
    assert_eq!(connack.unwrap().reason_code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    assert_eq!(
        h.closed(conn),
        Some(&DisconnectReason::ConnectRefused(ReasonCode::BAD_AUTHENTICATION_METHOD))
    );
    // AUTH after a CONNECT without a method is a Protocol Error.
    let conn = h.client5("d");
    h.send(conn, Packet::Auth(Default::default()));
    assert_eq!(h.disconnect_sent(conn).unwrap().reason_code, ReasonCode::PROTOCOL_ERROR);
}

#[test]
fn mqtt5_3_2_2_9_connack_announces_only_what_differs_from_the_defaults() {
    let mut h = Harness::default();
    let (_, connack) = h.connect5(connect5("c", true, Vec::new()));
    assert_eq!(
        connack.properties.0,
        [
            Property::ReceiveMaximum(1000),
            Property::MaximumPacketSize(1 << 20),
            Property::TopicAliasMaximum(10),
        ]
    );
    let config = BrokerConfig {
        max_qos: QoS::AtLeastOnce,
        retain_available: false,
        wildcard_subscriptions: false,
        subscription_identifiers: false,
        shared_subscriptions: false,
        topic_alias_maximum: 0,
        max_session_expiry_interval: 100,
        server_keep_alive: Some(5),
        response_information: Some("reply/".into()),
        ..BrokerConfig::default()
    };
    let mut h = Harness::new(config);
    let asked =
        vec![Property::SessionExpiryInterval(3600), Property::RequestResponseInformation(1)];
    let (_, connack) = h.connect5(connect5("c", true, asked));
    assert_eq!(
        connack.properties.0,
        [
            Property::SessionExpiryInterval(100),
            Property::ReceiveMaximum(1000),
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::MaximumPacketSize(1 << 20),
            Property::WildcardSubscriptionAvailable(0),
            Property::SubscriptionIdentifierAvailable(0),
            Property::SharedSubscriptionAvailable(0),
            Property::ServerKeepAlive(5),
            Property::ResponseInformation("reply/".into()),
        ]
    );
    assert_eq!(h.broker.session("c").unwrap().expiry_interval, 100);
}

#[test]
fn mqtt5_3_1_2_28_no_response_information_unless_asked() {
    let config =
        BrokerConfig { response_information: Some("reply/".into()), ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let (_, connack) = h.connect5(connect5("c", true, Vec::new()));
    assert!(!connack.properties.iter().any(|p| matches!(p, Property::ResponseInformation(_))));
}

#[test]
fn mqtt5_3_2_2_12_and_13_a_will_the_broker_cannot_honour_is_refused() {
    let config = BrokerConfig {
        max_qos: QoS::AtMostOnce,
        retain_available: false,
        ..BrokerConfig::default()
    };
    let cases = [
        (will("w", "x", Q1, false), ReasonCode::QOS_NOT_SUPPORTED),
        (will("w", "x", Q0, true), ReasonCode::RETAIN_NOT_SUPPORTED),
    ];
    for (w, code) in cases {
        let mut h = Harness::new(config.clone());
        let mut c = connect5("c", true, Vec::new());
        c.will = Some(w);
        let (conn, connack) = h.connect_with(c);
        assert_eq!(connack.unwrap().reason_code, code);
        assert_eq!(h.closed(conn), Some(&DisconnectReason::ConnectRefused(code)));
    }
}

#[test]
fn mqtt5_3_1_2_22_the_server_keep_alive_replaces_the_clients_and_times_out_with_0x8d() {
    let config = BrokerConfig { server_keep_alive: Some(4), ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let mut c = connect5("c", true, Vec::new());
    c.keep_alive = 60;
    let (conn, _) = h.connect5(c);
    h.advance(secs(5));
    assert!(h.closed(conn).is_none());
    // 1.5 times the Server Keep Alive of 4 s [MQTT-3.1.2-22].
    h.advance(secs(1));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::KeepAliveTimeout));
    assert_eq!(h.disconnect_sent(conn).unwrap().reason_code, ReasonCode::KEEP_ALIVE_TIMEOUT);
    // A 3.1.1 client keeps its own keepalive.
    let mut c = connect("old", true);
    c.keep_alive = 60;
    let (old, _) = h.connect_with(c);
    h.advance(secs(60));
    assert!(h.closed(old).is_none());
}

#[test]
fn mqtt5_3_1_4_3_takeover_sends_0x8e_to_the_old_connection() {
    let mut h = Harness::default();
    let first = h.client5("c");
    let second = h.client5("c");
    assert_eq!(h.disconnect_sent(first).unwrap().reason_code, ReasonCode::SESSION_TAKEN_OVER);
    assert_eq!(h.closed(first), Some(&DisconnectReason::TakenOver));
    assert!(h.closed(second).is_none());
}

#[test]
fn mqtt5_3_14_0_1_no_disconnect_before_a_successful_connack() {
    let mut h = Harness::default();
    let silent = h.open();
    h.advance(secs(10));
    assert_eq!(h.closed(silent), Some(&DisconnectReason::ConnectTimeout));
    assert!(h.take(silent).is_empty());
    let (refused, _) =
        h.connect_with(connect5("", true, vec![Property::AuthenticationMethod("x".into())]));
    assert!(h.take(refused).iter().all(|p| !matches!(p, Packet::Disconnect(_))));
}

#[test]
fn shutdown_sends_0x8b_to_5_0_clients_closes_everyone_and_publishes_wills() {
    let mut h = Harness::default();
    let watcher = h.client5("watcher");
    h.subscribe(watcher, "w/#", Q0);
    let mut c = connect5("five", true, Vec::new());
    c.will = Some(will("w/five", "gone", Q0, false));
    let (five, _) = h.connect5(c);
    let old = h.connect("old", true);
    h.take_events();
    h.shutdown();
    assert_eq!(h.disconnect_sent(five).unwrap().reason_code, ReasonCode::SERVER_SHUTTING_DOWN);
    assert!(h.take(old).is_empty(), "3.1.1 has no server DISCONNECT");
    for conn in [watcher, five, old] {
        assert_eq!(h.closed(conn), Some(&DisconnectReason::ServerShuttingDown));
    }
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::WillPublished { client_id, .. } if client_id == "five"))
    );
}
