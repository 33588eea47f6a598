use mqttsim_client::{CloseReason, Event, MessageId, ProtocolViolation};
use mqttsim_codec::ReasonCode;

use crate::harness::{Harness, connack, lines, puback, pubcomp, publish, pubrec, pubrel};

/// A connected client with three messages in flight: `a` (QoS 1, id 1), `b` (QoS 2 PUBREC'd,
/// id 2) and `c` (QoS 2, id 3), plus `d` waiting behind the window of 3; then the link drops.
fn three_in_flight_then_lost(clean_session: bool) -> Harness {
    let mut config = Harness::device();
    config.clean_session = clean_session;
    config.max_inflight = 3;
    let mut h = Harness::new(config);
    h.connect(false);
    h.publish("a", 1);
    h.publish("b", 2);
    h.publish("c", 2);
    h.publish("d", 1);
    h.recv(pubrec(2));
    assert_eq!(
        h.out(),
        lines(&[
            "PUBLISH q1 id=1 dup=0 a",
            "PUBLISH q2 id=2 dup=0 b",
            "PUBLISH q2 id=3 dup=0 c",
            "PUBREL 2",
        ])
    );
    h.client.handle_transport_down(h.now);
    h.clear();
    h
}

#[test]
fn session_present_resends_with_dup_and_pubrel_in_original_order() {
    let mut h = three_in_flight_then_lost(false);
    assert_eq!(
        h.connect(true),
        lines(&["PUBLISH q1 id=1 dup=1 a", "PUBREL 2", "PUBLISH q2 id=3 dup=1 c"])
    );
    h.events();
    // The flows then complete as usual and the waiting message goes out.
    h.recv(puback(1));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=4 dup=0 d"]));
    h.recv(pubcomp(2));
    h.recv(pubrec(3));
    assert_eq!(h.out(), lines(&["PUBREL 3"]));
    h.recv(pubcomp(3));
    h.recv(puback(4));
    let acked: Vec<u64> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Acked { id, .. } => Some(id.0),
            _ => None,
        })
        .collect();
    assert_eq!(acked, vec![1, 2, 3, 4]);
}

#[test]
fn session_lost_resends_fresh_and_releases_pubrecd_messages() {
    for clean_session in [false, true] {
        let mut h = three_in_flight_then_lost(clean_session);
        assert_eq!(
            h.connect(false),
            lines(&[
                "PUBLISH q1 id=1 dup=0 a",
                "PUBLISH q2 id=3 dup=0 c",
                "PUBLISH q1 id=4 dup=0 d"
            ]),
            "clean_session={clean_session}"
        );
        let events = h.events();
        assert_eq!(
            events[..2],
            [
                Event::Connected { session_present: false },
                Event::SessionLost {
                    resent: vec![MessageId(1), MessageId(3)],
                    released: vec![MessageId(2)]
                },
            ]
        );
        // id 2 is no longer in flight: a PUBCOMP for it is a protocol error now.
        assert_eq!(h.client.inflight_packet_ids().collect::<Vec<_>>(), vec![1, 3, 4]);
    }
}

#[test]
fn clean_session_with_session_present_is_a_protocol_error() {
    let mut config = Harness::device();
    config.clean_session = true;
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    h.clear();
    h.recv(connack(true, ReasonCode::SUCCESS));
    assert_eq!(h.out(), lines(&["CLOSE"]));
    assert_eq!(
        h.events(),
        vec![Event::Closed {
            reason: CloseReason::Protocol(ProtocolViolation::SessionPresentOnCleanSession)
        }]
    );
}

#[test]
fn inbound_qos2_state_survives_a_persistent_reconnect_only() {
    // (session present on reconnect, is the resent PUBLISH delivered again)
    for (session_present, delivered_again) in [(true, false), (false, true)] {
        let mut h = Harness::new(Harness::device());
        h.connect(false);
        h.recv(publish(2, 5, "x", false));
        assert_eq!(h.out(), lines(&["PUBREC 5"]));
        h.client.handle_transport_down(h.now);
        h.connect(session_present);
        h.events();
        h.recv(publish(2, 5, "x", true));
        assert_eq!(h.out(), lines(&["PUBREC 5"]));
        let delivered = h.events().iter().any(|e| matches!(e, Event::Received(_)));
        assert_eq!(delivered, delivered_again, "session_present={session_present}");
        h.recv(pubrel(5));
        assert_eq!(h.out(), lines(&["PUBCOMP 5"]));
    }
}

#[test]
fn nothing_in_flight_means_no_session_lost_event() {
    let mut h = Harness::new(Harness::device());
    h.connect(false);
    h.client.handle_transport_down(h.now);
    h.clear();
    assert!(h.connect(false).is_empty());
    assert_eq!(h.events(), vec![Event::Connected { session_present: false }]);
}
