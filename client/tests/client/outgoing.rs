use bytes::Bytes;
use mqttsim_client::{DropReason, Event, MessageId, PublishError};
use mqttsim_codec::topic::TopicError;
use mqttsim_codec::{Ack, ConnAck, Packet, Properties, Property, Protocol, QoS, ReasonCode};

use crate::harness::{Harness, lines, puback, pubcomp, pubrec};

fn connected(max_inflight: u16) -> Harness {
    let mut config = Harness::device();
    config.max_inflight = max_inflight;
    config.max_queued = 1000;
    let mut h = Harness::new(config);
    h.connect(false);
    h.clear();
    h
}

#[test]
fn qos0_is_sent_at_once_and_never_acknowledged() {
    let mut h = connected(1);
    let id = h.publish("a", 0);
    assert_eq!(h.out(), lines(&["PUBLISH q0 id=0 dup=0 a"]));
    assert_eq!(
        h.events(),
        vec![Event::Published {
            id: MessageId(id),
            packet_id: 0,
            qos: QoS::AtMostOnce,
            dup: false
        }]
    );
    assert_eq!(h.client.inflight_len(), 0);
}

#[test]
fn qos1_flow() {
    let mut h = connected(10);
    let id = MessageId(h.publish("a", 1));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 a"]));
    assert_eq!(h.client.inflight_len(), 1);
    h.recv(puback(1));
    assert!(h.out().is_empty());
    assert_eq!(
        h.events(),
        vec![
            Event::Published { id, packet_id: 1, qos: QoS::AtLeastOnce, dup: false },
            Event::Acked { id, packet_id: 1, qos: QoS::AtLeastOnce, reason: ReasonCode::SUCCESS },
        ]
    );
    assert_eq!(h.client.inflight_len(), 0);
}

#[test]
fn qos2_flow_and_repeated_pubrec() {
    let mut h = connected(10);
    let id = MessageId(h.publish("b", 2));
    assert_eq!(h.out(), lines(&["PUBLISH q2 id=1 dup=0 b"]));
    h.recv(pubrec(1));
    assert_eq!(h.out(), lines(&["PUBREL 1"]));
    h.recv(pubrec(1));
    assert_eq!(h.out(), lines(&["PUBREL 1"]), "a repeated PUBREC gets PUBREL again");
    h.events();
    h.recv(pubcomp(1));
    assert!(h.out().is_empty());
    assert_eq!(
        h.events(),
        vec![Event::Acked { id, packet_id: 1, qos: QoS::ExactlyOnce, reason: ReasonCode::SUCCESS }]
    );
    assert_eq!(h.client.inflight_len(), 0);
}

#[test]
fn window_holds_messages_back_in_order() {
    let mut h = connected(2);
    for topic in ["m1", "m2", "m3", "m4", "m5"] {
        h.publish(topic, 1);
    }
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 m1", "PUBLISH q1 id=2 dup=0 m2"]));
    assert_eq!((h.client.inflight_len(), h.client.queued_len()), (2, 3));
    // Acknowledging out of order frees one slot each time; the queue drains in publish order.
    h.recv(puback(2));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=3 dup=0 m3"]));
    h.recv(puback(1));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=4 dup=0 m4"]));
    h.recv(puback(3));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=5 dup=0 m5"]));
    assert_eq!((h.client.inflight_len(), h.client.queued_len()), (2, 0));
}

#[test]
fn qos0_waits_behind_a_full_window_to_keep_order() {
    let mut h = connected(1);
    h.publish("q1-a", 1);
    h.publish("q1-b", 1);
    h.publish("q0-c", 0);
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 q1-a"]));
    h.recv(puback(1));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=2 dup=0 q1-b", "PUBLISH q0 id=0 dup=0 q0-c"]));
}

#[test]
fn packet_ids_wrap_past_65535_skip_zero_and_ids_in_use() {
    let mut h = connected(2);
    h.publish("stuck", 1); // holds packet id 1 for the whole test
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 stuck"]));
    for expected in 2..=u16::MAX {
        h.publish("t", 1);
        assert_eq!(h.out(), vec![format!("PUBLISH q1 id={expected} dup=0 t")]);
        h.recv(puback(expected));
    }
    // 65535 wraps to 1, which is in use, then 0 is never used: the next id is 2.
    h.publish("t", 1);
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=2 dup=0 t"]));
    h.events();
    h.recv(puback(1));
    assert_eq!(
        h.events(),
        vec![Event::Acked {
            id: MessageId(1),
            packet_id: 1,
            qos: QoS::AtLeastOnce,
            reason: ReasonCode::SUCCESS
        }]
    );
}

#[test]
fn message_ids_increase_across_qos_and_drops() {
    let mut h = Harness::new(Harness::device());
    let ids: Vec<u64> = ["a", "b", "c"].iter().map(|t| h.publish(t, 0)).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    h.connect(false);
    assert_eq!(h.publish("d", 2), 4);
}

#[test]
fn invalid_topics_and_sizes_are_refused_without_an_id() {
    let mut h = connected(1);
    let now = h.now;
    for (topic, error) in [("a/+", TopicError::WildcardInName), ("", TopicError::Empty)] {
        let result = h.client.publish(now, topic.into(), Bytes::new(), QoS::AtLeastOnce, false);
        assert_eq!(result, Err(PublishError::InvalidTopic(error)));
    }
    let huge = Bytes::from(vec![0u8; 268_435_455]);
    assert_eq!(
        h.client.publish(now, "t".into(), huge, QoS::AtMostOnce, false),
        Err(PublishError::TooLarge(268_435_460))
    );
    assert!(h.out().is_empty());
    assert_eq!(h.publish("ok", 0), 1, "refused publishes consumed no message id");
}

#[test]
fn v5_receive_maximum_lowers_the_window_and_rejections_drop() {
    let mut config = Harness::device();
    config.protocol = Protocol::V5;
    config.max_inflight = 10;
    let mut h = Harness::new(config);
    h.client.handle_transport_up(h.now);
    h.recv(Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ReasonCode::SUCCESS,
        properties: Properties(vec![Property::ReceiveMaximum(1)]),
    }));
    h.clear();
    assert_eq!(h.client.window(), 1);
    h.publish("a", 1);
    h.publish("b", 2);
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 a"]));
    let refused = Ack {
        packet_id: 1,
        reason_code: ReasonCode::NOT_AUTHORIZED,
        properties: Properties::new(),
    };
    h.recv(Packet::PubAck(refused.clone()));
    assert_eq!(h.out(), lines(&["PUBLISH q2 id=2 dup=0 b"]));
    h.events();
    h.recv(Packet::PubRec(Ack { packet_id: 2, ..refused }));
    assert!(h.out().is_empty(), "no PUBREL after a failed PUBREC");
    assert_eq!(
        h.events(),
        vec![Event::Dropped {
            id: MessageId(2),
            reason: DropReason::Rejected(ReasonCode::NOT_AUTHORIZED)
        }]
    );
    assert_eq!(h.client.inflight_len(), 0);
}

#[test]
fn v5_pubcomp_with_not_found_still_completes_the_message() {
    let mut config = Harness::device();
    config.protocol = Protocol::V5;
    let mut h = Harness::new(config);
    h.connect(false);
    let id = MessageId(h.publish("a", 2));
    h.recv(pubrec(1));
    h.clear();
    h.recv(Packet::PubComp(Ack {
        packet_id: 1,
        reason_code: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
        properties: Properties::new(),
    }));
    let reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
    assert_eq!(h.events(), vec![Event::Acked { id, packet_id: 1, qos: QoS::ExactlyOnce, reason }]);
}
