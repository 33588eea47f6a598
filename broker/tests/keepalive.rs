//! Keepalive expiry [MQTT-3.1.2-24], PINGREQ, the connect timeout and the deadline index.

use std::time::Duration;

use mqttsim_broker::{BrokerConfig, DisconnectReason, Event};
use mqttsim_codec::Packet;

use crate::harness::{Harness, connect, secs};

fn keepalive_conn(h: &mut Harness, client_id: &str, keep_alive: u16) -> mqttsim_broker::ConnId {
    let mut packet = connect(client_id, true);
    packet.keep_alive = keep_alive;
    h.connect_with(packet).0
}

#[test]
fn a_configured_grace_replaces_one_and_a_half() {
    let config = BrokerConfig { keepalive_grace_permille: 2000, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let conn = keepalive_conn(&mut h, "c", 10);
    h.advance(Duration::from_millis(19_999));
    assert_eq!(h.closed(conn), None, "open just before 2 × keepalive");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::KeepAliveTimeout));
}

#[test]
fn mqtt_3_1_2_24_closed_after_one_and_a_half_keepalives_of_silence() {
    // (keepalive in seconds, activity times, silent until which it must still be open,
    //  time at which it must be closed)
    let cases: [(u16, &[u64], u64, u64); 4] = [
        (10, &[], 14_999, 15_000),
        (10, &[10_000], 24_999, 25_000),
        (1, &[1_000, 2_000], 3_499, 3_500),
        (60, &[89_999], 179_998, 179_999),
    ];
    for (keep_alive, activity, open_until_ms, closed_at_ms) in cases {
        let mut h = Harness::default();
        let conn = keepalive_conn(&mut h, "c", keep_alive);
        for &at in activity {
            h.advance(Duration::from_millis(at) - h.now);
            h.send(conn, Packet::PingReq);
            assert_eq!(h.take(conn), [Packet::PingResp], "[MQTT-3.12.4-1]");
        }
        h.advance(Duration::from_millis(open_until_ms) - h.now);
        assert_eq!(h.closed(conn), None, "keepalive {keep_alive}: open at {open_until_ms} ms");
        assert_eq!(h.broker.poll_timeout(), Some(Duration::from_millis(closed_at_ms)));
        h.advance(Duration::from_millis(closed_at_ms) - h.now);
        assert_eq!(h.closed(conn), Some(&DisconnectReason::KeepAliveTimeout), "{keep_alive}");
    }
}

#[test]
fn any_packet_resets_the_keepalive_timer() {
    let mut h = Harness::default();
    let conn = keepalive_conn(&mut h, "c", 2);
    for _ in 0..10 {
        h.advance(secs(2));
        h.publish(conn, "t", "x", crate::harness::Q0, false);
    }
    assert_eq!(h.closed(conn), None);
    h.advance(secs(3));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::KeepAliveTimeout));
}

#[test]
fn keepalive_zero_never_expires() {
    let mut h = Harness::default();
    let conn = keepalive_conn(&mut h, "c", 0);
    assert_eq!(h.broker.poll_timeout(), None);
    h.advance(secs(1_000_000));
    assert_eq!(h.closed(conn), None);
}

#[test]
fn connection_without_connect_is_closed_after_the_connect_timeout() {
    let config = BrokerConfig { connect_timeout: secs(5), ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let conn = h.open();
    assert_eq!(h.broker.poll_timeout(), Some(secs(5)));
    h.advance(secs(5));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::ConnectTimeout));
    assert_eq!(
        h.take_events(),
        [Event::ConnectionClosed { conn, reason: DisconnectReason::ConnectTimeout }]
    );
    assert_eq!(h.broker.poll_timeout(), None);
}

#[test]
fn poll_timeout_is_the_earliest_deadline_and_timeouts_fire_in_order() {
    let mut h = Harness::default();
    let keepalives = [30u16, 5, 20, 5, 60];
    let conns: Vec<_> = keepalives
        .iter()
        .enumerate()
        .map(|(i, &k)| keepalive_conn(&mut h, &format!("c{i}"), k))
        .collect();
    assert_eq!(h.broker.poll_timeout(), Some(Duration::from_millis(7_500)));
    h.take_events();
    h.advance(secs(100));
    let order: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ClientDisconnected { conn, .. } => Some(conn),
            _ => None,
        })
        .collect();
    assert_eq!(order, [conns[1], conns[3], conns[2], conns[0], conns[4]]);
}

#[test]
fn many_connections_share_one_deadline_index() {
    let mut h = Harness::default();
    for i in 0..2_000u16 {
        keepalive_conn(&mut h, &format!("c{i}"), 1 + i % 100);
    }
    assert_eq!(h.broker.poll_timeout(), Some(Duration::from_millis(1_500)));
    h.advance(Duration::from_millis(75_000));
    // Keepalives 1..=50 expired (1.5 × 50 s = 75 s), 51..=100 did not.
    assert_eq!(h.broker.connection_count(), 1_000);
    assert_eq!(h.broker.poll_timeout(), Some(Duration::from_millis(76_500)));
}
