use std::time::Duration;

use mqttsim_client::{ClientConfig, CloseReason, Event, State};
use mqttsim_codec::{ConnAck, Packet, Properties, Property, Protocol, ReasonCode};

use crate::harness::{Harness, lines};

fn with_keep_alive(keep_alive: u16, ping_timeout: Option<u64>) -> Harness {
    let mut config = ClientConfig::new("dev-1");
    config.keep_alive = keep_alive;
    config.ping_timeout = ping_timeout.map(Duration::from_secs);
    let mut h = Harness::new(config);
    h.connect(false);
    h.clear();
    h
}

#[test]
fn pingreq_after_keep_alive_of_silence_and_pingresp_rearms() {
    let mut h = with_keep_alive(10, None);
    assert_eq!(h.client.poll_timeout(), Some(Duration::from_secs(10)));
    h.at(9.999);
    assert!(h.out().is_empty());
    h.at(10.0);
    assert_eq!(h.out(), lines(&["PINGREQ"]));
    h.at(12.0);
    h.recv(Packet::PingResp);
    assert!(h.out().is_empty());
    // The next ping is due keep_alive after the last packet we sent, the PINGREQ at 10 s.
    assert_eq!(h.client.poll_timeout(), Some(Duration::from_secs(20)));
    h.at(20.0);
    assert_eq!(h.out(), lines(&["PINGREQ"]));
    assert!(h.events().is_empty());
}

#[test]
fn any_packet_sent_postpones_the_ping() {
    let mut h = with_keep_alive(10, None);
    h.at(7.0);
    h.publish("t", 0);
    assert_eq!(h.out(), lines(&["PUBLISH q0 id=0 dup=0 t"]));
    h.at(10.0);
    assert!(h.out().is_empty(), "no PINGREQ: a packet went out 3 s ago");
    h.at(17.0);
    assert_eq!(h.out(), lines(&["PINGREQ"]));
}

#[test]
fn keep_alive_timeout_without_pingresp() {
    // (ping timeout configured, when the PINGREQ goes, when the client gives up)
    for (ping_timeout, ping_at, give_up_at) in [(None, 10.0, 20.0), (Some(3), 10.0, 13.0)] {
        let mut h = with_keep_alive(10, ping_timeout);
        h.at(ping_at);
        assert_eq!(h.out(), lines(&["PINGREQ"]));
        h.at(give_up_at - 0.001);
        assert!(h.out().is_empty());
        assert_eq!(h.client.state(), State::Connected);
        h.at(give_up_at);
        assert_eq!(h.out(), lines(&["CLOSE"]));
        assert_eq!(
            h.events(),
            vec![Event::KeepAliveTimeout, Event::Closed { reason: CloseReason::KeepAliveTimeout }]
        );
        assert_eq!(h.client.state(), State::Disconnected);
    }
}

#[test]
fn other_traffic_does_not_answer_a_ping() {
    let mut h = with_keep_alive(10, Some(5));
    h.at(10.0);
    h.out();
    h.at(12.0);
    h.recv(crate::harness::publish(0, 0, "a", false));
    h.at(15.0);
    assert_eq!(h.out(), lines(&["CLOSE"]));
}

#[test]
fn keep_alive_zero_never_pings() {
    let mut h = with_keep_alive(0, None);
    assert_eq!(h.client.poll_timeout(), None);
    h.client.handle_timeout(Duration::from_secs(1_000_000));
    assert!(h.out().is_empty());
}

#[test]
fn v5_server_keep_alive_replaces_ours() {
    let mut config = ClientConfig::new("dev-1");
    config.protocol = Protocol::V5;
    config.keep_alive = 60;
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    h.recv(Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ReasonCode::SUCCESS,
        properties: Properties(vec![Property::ServerKeepAlive(5)]),
    }));
    h.clear();
    assert_eq!(h.client.poll_timeout(), Some(Duration::from_secs(5)));
    h.at(5.0);
    assert_eq!(h.out(), lines(&["PINGREQ"]));
}
