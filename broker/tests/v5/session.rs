use mqttsim_broker::{BrokerConfig, DisconnectReason, Event, MemoryStore};
use mqttsim_codec::{Disconnect, Packet, Property, ReasonCode};

use crate::harness::{Harness, Q1, connect5, payloads, secs};

fn expiry(secs: u32) -> Vec<Property> {
    vec![Property::SessionExpiryInterval(secs)]
}

fn expired(h: &mut Harness) -> Vec<String> {
    h.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SessionExpired { client_id } => Some(client_id.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn mqtt5_3_1_2_23_a_session_outlives_its_connection_by_its_expiry_interval() {
    let mut h = Harness::default();
    let (sub, _) = h.connect5(connect5("sub", true, expiry(60)));
    h.subscribe(sub, "t", Q1);
    h.lose(sub);
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "while away", Q1, false);
    h.advance(secs(59));
    let (sub, connack) = h.connect5(connect5("sub", false, expiry(60)));
    assert!(connack.session_present, "[MQTT-3.1.2-5]");
    assert_eq!(payloads(&h.publishes(sub)), ["while away"]);
    assert!(expired(&mut h).is_empty());
}

#[test]
fn mqtt5_4_1_0_2_an_offline_session_is_discarded_when_its_interval_passes() {
    let mut h = Harness::default();
    let (sub, _) = h.connect5(connect5("sub", true, expiry(60)));
    h.subscribe(sub, "t", Q1);
    h.advance(secs(5));
    h.lose(sub);
    // The interval runs from the close, not from the CONNECT.
    h.advance(secs(59));
    assert!(h.broker.session("sub").is_some());
    h.advance(secs(1));
    assert_eq!(expired(&mut h), ["sub"]);
    assert!(h.broker.session("sub").is_none());
    assert_eq!(h.broker.poll_timeout(), None, "nothing left to wait for");
    let (_, connack) = h.connect5(connect5("sub", false, expiry(60)));
    assert!(!connack.session_present, "[MQTT-3.1.2-6]");
}

#[test]
fn mqtt5_3_1_2_23_absent_expiry_ends_the_session_with_the_connection_and_max_keeps_it() {
    let mut h = Harness::default();
    let conn = h.connect5(connect5("zero", false, Vec::new())).0;
    h.lose(conn);
    assert!(h.broker.session("zero").is_none());
    let conn = h.connect5(connect5("forever", false, expiry(u32::MAX))).0;
    h.lose(conn);
    h.advance(secs(10 * 365 * 24 * 3600));
    assert!(h.broker.session("forever").is_some());
}

#[test]
fn disconnect_may_change_a_non_zero_expiry() {
    let mut h = Harness::default();
    let conn = h.connect5(connect5("c", true, expiry(60))).0;
    let props = mqttsim_codec::Properties(expiry(5));
    h.send(
        conn,
        Packet::Disconnect(Disconnect { reason_code: ReasonCode::SUCCESS, properties: props }),
    );
    assert_eq!(h.closed(conn), Some(&DisconnectReason::ClientDisconnect));
    h.advance(secs(5));
    assert_eq!(expired(&mut h), ["c"]);
    // ... and 0 ends the session at once.
    let conn = h.connect5(connect5("d", true, expiry(60))).0;
    let props = mqttsim_codec::Properties(expiry(0));
    h.send(
        conn,
        Packet::Disconnect(Disconnect { reason_code: ReasonCode::SUCCESS, properties: props }),
    );
    assert!(h.broker.session("d").is_none());
}

#[test]
fn raising_expiry_from_zero_at_disconnect_is_a_protocol_error() {
    let mut h = Harness::default();
    let watcher = h.client5("watcher");
    h.subscribe(watcher, "w", Q1);
    let mut c = connect5("c", true, Vec::new());
    c.will = Some(crate::harness::will("w", "gone", Q1, false));
    let (conn, _) = h.connect5(c);
    let props = mqttsim_codec::Properties(expiry(30));
    h.send(
        conn,
        Packet::Disconnect(Disconnect { reason_code: ReasonCode::SUCCESS, properties: props }),
    );
    assert_eq!(h.disconnect_sent(conn).unwrap().reason_code, ReasonCode::PROTOCOL_ERROR);
    assert!(matches!(h.closed(conn), Some(DisconnectReason::ProtocolViolation { .. })));
    assert!(h.broker.session("c").is_none(), "the session still ends with the connection");
    assert_eq!(
        crate::harness::payloads(&h.publishes(watcher)),
        ["gone"],
        "not a normal disconnect"
    );
}

#[test]
fn session_expiry_runs_on_across_a_durable_restart() {
    let mut h = Harness::with_store(BrokerConfig::default(), Box::new(MemoryStore::durable()));
    let away = h.connect5(connect5("away", true, expiry(60))).0;
    h.subscribe(away, "t", Q1);
    h.lose(away);
    h.advance(secs(10));
    // Connected when the broker crashes: it counts as disconnected at the crash.
    let (_online, _) = h.connect5(connect5("online", true, expiry(60)));
    h.advance(secs(10));
    let mut h = h.crash();
    // The restarted core asks for the time at once, then waits for away's expiry.
    assert_eq!(h.broker.poll_timeout(), Some(secs(0)));
    h.advance(secs(0));
    assert_eq!(h.broker.poll_timeout(), Some(secs(60)), "away's expiry survived");
    h.advance(secs(39));
    assert!(h.broker.session("away").is_some());
    h.advance(secs(1));
    assert_eq!(expired(&mut h), ["away"]);
    assert!(h.broker.session("online").is_some());
    h.advance(secs(20));
    assert_eq!(expired(&mut h), ["online"], "60 s after the restart at 20 s");
}

#[test]
fn session_expiry_is_capped_by_the_configuration() {
    let config = BrokerConfig { max_session_expiry_interval: 10, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let (conn, connack) = h.connect5(connect5("c", true, expiry(3600)));
    assert_eq!(connack.properties.session_expiry_interval(), Some(10));
    h.lose(conn);
    h.advance(secs(10));
    assert_eq!(expired(&mut h), ["c"]);
}
