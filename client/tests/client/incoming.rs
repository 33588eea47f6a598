use mqttsim_client::Event;
use mqttsim_codec::{Packet, Protocol, ReasonCode};

use crate::harness::{Harness, lines, publish, pubrel};

fn connected(protocol: Protocol) -> Harness {
    let mut config = Harness::device();
    config.protocol = protocol;
    let mut h = Harness::new(config);
    h.connect(false);
    h.clear();
    h
}

fn received(h: &mut Harness) -> Vec<(u16, bool)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Received(p) => Some((p.packet_id, p.dup)),
            _ => None,
        })
        .collect()
}

#[test]
fn qos0_and_qos1_are_delivered_and_qos1_acknowledged() {
    let mut h = connected(Protocol::V311);
    h.recv(publish(0, 0, "a", false));
    assert!(h.out().is_empty());
    assert_eq!(
        h.events(),
        vec![Event::Received(match publish(0, 0, "a", false) {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        })]
    );
    h.recv(publish(1, 9, "a", false));
    assert_eq!(h.out(), lines(&["PUBACK 9"]));
    // A resent QoS 1 message is delivered again: QoS 1 is at least once.
    h.recv(publish(1, 9, "a", true));
    assert_eq!(h.out(), lines(&["PUBACK 9"]));
    assert_eq!(received(&mut h), vec![(9, false), (9, true)]);
}

/// A server packet, the client's answer, and the (packet id, dup) of what it delivered.
type Step = (Packet, &'static [&'static str], &'static [(u16, bool)]);

#[test]
fn qos2_is_delivered_exactly_once_on_first_publish() {
    // Each step: a server packet, the client's answer, the packet ids delivered by that step.
    let steps: &[Step] = &[
        (publish(2, 7, "a", false), &["PUBREC 7"], &[(7, false)]),
        (publish(2, 7, "a", true), &["PUBREC 7"], &[]),
        (publish(2, 8, "a", false), &["PUBREC 8"], &[(8, false)]),
        (publish(2, 7, "a", true), &["PUBREC 7"], &[]),
        (pubrel(7), &["PUBCOMP 7"], &[]),
        (pubrel(7), &["PUBCOMP 7"], &[]),
        // After PUBREL, id 7 is free: a PUBLISH with it is a new message.
        (publish(2, 7, "b", false), &["PUBREC 7"], &[(7, false)]),
        (pubrel(8), &["PUBCOMP 8"], &[]),
    ];
    let mut h = connected(Protocol::V311);
    for (index, (packet, answer, delivered)) in steps.iter().enumerate() {
        h.recv(packet.clone());
        assert_eq!(h.out(), lines(answer), "step {index}");
        assert_eq!(received(&mut h), delivered.to_vec(), "step {index}");
    }
    assert_eq!(h.client.inbound_qos2_len(), 1);
}

#[test]
fn pubrel_for_an_unknown_id_is_completed_and_v5_says_not_found() {
    let mut h = connected(Protocol::V311);
    h.recv(pubrel(3));
    assert_eq!(h.out(), lines(&["PUBCOMP 3"]));
    let mut h = connected(Protocol::V5);
    h.recv(pubrel(3));
    assert_eq!(h.out(), vec![format!("PUBCOMP 3 {:?}", ReasonCode::PACKET_IDENTIFIER_NOT_FOUND)]);
    assert_eq!(h.client.state(), mqttsim_client::State::Connected);
}
