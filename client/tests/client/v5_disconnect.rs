//! 5.0 DISCONNECT from the client: reason codes, the Will, Session Expiry Interval changes.

use mqttsim_client::{CloseReason, DisconnectError, DisconnectOptions, Event, State};
use mqttsim_codec::{Protocol, ReasonCode};

use crate::harness::{Harness, lines};

fn connected(protocol: Protocol, session_expiry: u32) -> Harness {
    let mut config = Harness::device();
    config.protocol = protocol;
    config.session_expiry_interval = session_expiry;
    let mut h = Harness::new(config);
    h.connect_with(false, vec![]);
    h.clear();
    h
}

#[test]
fn disconnect_with_will_message_says_0x04() {
    let mut h = connected(Protocol::V5, 0);
    let options = DisconnectOptions::reason(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
    h.client.disconnect_with(h.now, options).unwrap();
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x04)", "CLOSE"]));
    assert_eq!(h.events(), vec![Event::Closed { reason: CloseReason::ClientDisconnect }]);
}

#[test]
fn mqtt_3_14_2_1_only_disconnect_codes_a_client_may_send_are_accepted() {
    for code in 0..=255u8 {
        let mut h = connected(Protocol::V5, 0);
        let result = h.client.disconnect_with(h.now, DisconnectOptions::reason(ReasonCode(code)));
        let allowed =
            [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99]
                .contains(&code);
        if allowed {
            assert_eq!(result, Ok(()), "{code:#04x}");
            assert_eq!(h.out(), vec![format!("DISCONNECT {:?}", ReasonCode(code)), "CLOSE".into()]);
        } else {
            assert_eq!(result, Err(DisconnectError::InvalidReasonCode(ReasonCode(code))));
            assert_eq!(h.client.state(), State::Connected, "a refused disconnect changes nothing");
            assert!(h.out().is_empty());
        }
    }
}

#[test]
fn session_expiry_may_change_at_disconnect_but_not_from_zero() {
    let mut h = connected(Protocol::V5, 0);
    let options =
        DisconnectOptions { session_expiry_interval: Some(60), ..DisconnectOptions::default() };
    assert_eq!(
        h.client.disconnect_with(h.now, options),
        Err(DisconnectError::SessionExpiryFromZero)
    );
    let zero = DisconnectOptions { session_expiry_interval: Some(0), ..Default::default() };
    assert_eq!(h.client.disconnect_with(h.now, zero), Ok(()));

    let mut h = connected(Protocol::V5, 3600);
    let options =
        DisconnectOptions { session_expiry_interval: Some(0), ..DisconnectOptions::default() };
    h.client.disconnect_with(h.now, options).unwrap();
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x00) [session-expiry=0]", "CLOSE"]));
    assert_eq!(h.client.session_expiry_interval(), 0);
}

#[test]
fn mqtt_3_14_4_1_and_mqtt_3_14_4_2_nothing_follows_a_disconnect_but_the_close() {
    let mut h = connected(Protocol::V5, 0);
    h.client.disconnect_with(h.now, DisconnectOptions::reason(ReasonCode(0x80))).unwrap();
    h.publish("after", 1);
    h.client.subscribe(h.now, vec![("s".into(), mqttsim_codec::QoS::AtMostOnce)]).unwrap();
    h.at(1000.0);
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x80)", "CLOSE"]));
}

#[test]
fn v311_has_no_reason_so_a_will_reason_closes_without_disconnect() {
    // 3.1.1: DISCONNECT discards the Will; closing without one makes the server publish it.
    let mut h = connected(Protocol::V311, 0);
    let options = DisconnectOptions::reason(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
    h.client.disconnect_with(h.now, options).unwrap();
    assert_eq!(h.out(), lines(&["CLOSE"]));
    let mut h = connected(Protocol::V311, 0);
    h.client.disconnect_with(h.now, DisconnectOptions::default()).unwrap();
    assert_eq!(h.out(), lines(&["DISCONNECT ReasonCode(0x00)", "CLOSE"]));
}
