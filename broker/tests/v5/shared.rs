use bytes::Bytes;
use mqttsim_broker::DropReason;
use mqttsim_codec::{Ack, Packet, Property};

use crate::harness::{Harness, Q0, Q1, Q2, connect5, opts, payloads};

fn persistent(h: &mut Harness, id: &str) -> mqttsim_broker::ConnId {
    h.connect5(connect5(id, false, vec![Property::SessionExpiryInterval(600)])).0
}

#[test]
fn each_message_of_a_shared_subscription_goes_to_one_member_in_turn() {
    let mut h = Harness::default();
    let members: Vec<_> = ["m1", "m2", "m3"].into_iter().map(|id| h.client5(id)).collect();
    for &m in &members {
        h.subscribe5(m, &[("$share/g/t/+", opts(Q1))], Vec::new());
    }
    // Another group of the same filter gets its own copy.
    let other = h.client5("other");
    h.subscribe5(other, &[("$share/h/t/+", opts(Q0))], Vec::new());
    let publisher = h.client5("pub");
    for i in 0..6 {
        h.publish(publisher, "t/x", &i.to_string(), Q0, false);
    }
    let got: Vec<Vec<String>> = members.iter().map(|&m| h.receive(m)).collect();
    assert_eq!(got, [["0", "3"], ["1", "4"], ["2", "5"]]);
    assert_eq!(h.receive(other).len(), 6);
}

#[test]
fn mqtt5_4_8_2_3_a_member_gets_its_granted_qos_and_its_subscription_identifier() {
    let mut h = Harness::default();
    let m = h.client5("m");
    h.subscribe5(m, &[("$share/g/t", opts(Q0))], vec![Property::SubscriptionIdentifier(9)]);
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "x", Q2, false);
    let got = h.publishes(m);
    assert_eq!(
        (got[0].qos, got[0].properties.0.clone()),
        (Q0, vec![Property::SubscriptionIdentifier(9)])
    );
}

#[test]
fn no_retained_messages_on_a_shared_subscription() {
    let mut h = Harness::default();
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "r", Q0, true);
    let m = h.client5("m");
    h.subscribe5(m, &[("$share/g/t", opts(Q0))], Vec::new());
    assert!(h.publishes(m).is_empty());
}

#[test]
fn online_members_are_preferred_and_an_offline_one_queues_when_none_is_online() {
    let mut h = Harness::default();
    let away = persistent(&mut h, "away");
    h.subscribe5(away, &[("$share/g/t", opts(Q1))], Vec::new());
    h.lose(away);
    let here = h.client5("here");
    h.subscribe5(here, &[("$share/g/t", opts(Q1))], Vec::new());
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "1", Q1, false);
    h.publish(publisher, "t", "2", Q1, false);
    assert_eq!(h.receive(here), ["1", "2"]);
    h.lose(here);
    h.publish(publisher, "t", "3", Q1, false);
    let away = persistent(&mut h, "away");
    assert_eq!(h.receive(away), ["3"]);
}

#[test]
fn a_leaving_members_queued_messages_go_to_the_other_members() {
    let mut h = Harness::default();
    let config_window = h.broker.config().max_inflight;
    assert!(config_window > 1);
    let slow = h
        .connect5(connect5(
            "slow",
            false,
            vec![Property::SessionExpiryInterval(600), Property::ReceiveMaximum(1)],
        ))
        .0;
    h.subscribe5(slow, &[("$share/g/t", opts(Q1))], Vec::new());
    let publisher = h.client5("pub");
    // slow takes "1" in flight and queues "2" and "3" behind its Receive Maximum of 1.
    for i in 1..=3 {
        h.publish(publisher, "t", &i.to_string(), Q1, false);
    }
    assert_eq!(payloads(&h.publishes(slow)), ["1"]);
    let fast = h.client5("fast");
    h.subscribe5(fast, &[("$share/g/t", opts(Q1))], Vec::new());
    // slow's connection ends; its session lives on. Queued messages move to fast, the one in
    // flight waits for slow's return [MQTT-4.4.0-1].
    h.lose(slow);
    assert_eq!(h.receive(fast), ["2", "3"]);
    let slow = h.connect5(connect5("slow", false, vec![Property::SessionExpiryInterval(600)])).0;
    let resent = h.publishes(slow);
    assert_eq!((payloads(&resent), resent[0].dup), (vec!["1"], true));
}

#[test]
fn a_members_session_end_moves_its_qos1_in_flight_but_not_its_qos2_in_flight() {
    let mut h = Harness::default();
    let leaving = h.client5("leaving");
    h.subscribe5(leaving, &[("$share/g/t", opts(Q2))], Vec::new());
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "q1", Q1, false);
    h.publish(publisher, "t", "q2", Q2, false);
    assert_eq!(payloads(&h.publishes(leaving)), ["q1", "q2"]);
    let staying = h.client5("staying");
    h.subscribe5(staying, &[("$share/g/t", opts(Q2))], Vec::new());
    h.take_events();
    // Clean session: it ends with the connection.
    h.lose(leaving);
    assert_eq!(h.receive(staying), ["q1"]);
    let dropped = h.drops();
    // [MQTT-4.8.2-5]
    assert_eq!(dropped, [(DropReason::SharedSessionEnded, Bytes::from_static(b"q2"))]);
}

#[test]
fn unsubscribing_member_hands_its_queue_over_and_finishes_what_is_in_flight() {
    let mut h = Harness::default();
    let a = h.connect5(connect5("a", true, vec![Property::ReceiveMaximum(1)])).0;
    h.subscribe5(a, &[("$share/g/t", opts(Q1))], Vec::new());
    let publisher = h.client5("pub");
    for i in 1..=2 {
        h.publish(publisher, "t", &i.to_string(), Q1, false);
    }
    let first = h.publishes(a);
    let b = h.client5("b");
    h.subscribe5(b, &[("$share/g/t", opts(Q1))], Vec::new());
    h.unsubscribe(a, "$share/g/t");
    assert!(matches!(h.take(a).as_slice(), [Packet::UnsubAck(_)]));
    assert_eq!(h.receive(b), ["2"]);
    // The one in flight is still a's to acknowledge [MQTT-3.10.4-3].
    h.send(a, Packet::PubAck(Ack::new(first[0].packet_id)));
    assert!(h.broker.session("a").unwrap().inflight.is_empty());
}

#[test]
fn over_3_1_1_a_share_filter_is_an_ordinary_one() {
    let mut h = Harness::default();
    let old = h.connect("old", true);
    h.subscribe(old, "$share/g/t", Q0);
    let publisher = h.client5("pub");
    h.publish(publisher, "t", "x", Q0, false);
    assert!(h.publishes(old).is_empty());
    h.publish(publisher, "$share/g/t", "literal", Q0, false);
    assert_eq!(payloads(&h.publishes(old)), ["literal"]);
}
