//! Byte limits of queues and retained messages, and topics at the maximum depth.

use mqttsim_broker::{BrokerConfig, DropReason, Event, OverflowPolicy};

use crate::harness::{Harness, Q0, Q1};

fn queue_drops(h: &mut Harness) -> Vec<String> {
    h.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageDropped { payload, reason: DropReason::QueueFull, .. } => {
                Some(String::from_utf8(payload.to_vec()).unwrap())
            }
            _ => None,
        })
        .collect()
}

/// An offline persistent session subscribed at QoS 1, and a publisher.
fn offline_subscriber(config: BrokerConfig, ids: &[&str]) -> (Harness, mqttsim_broker::ConnId) {
    let mut h = Harness::new(config);
    for id in ids {
        let sub = h.connect(id, false);
        h.subscribe(sub, "t", Q1);
        h.lose(sub);
    }
    let publisher = h.connect("pub", true);
    h.take_events();
    (h, publisher)
}

#[test]
fn a_session_queue_is_bounded_by_bytes() {
    // Topic "t" and a 9-byte payload: 10 bytes a message, 35 bytes hold three.
    let config = BrokerConfig { max_queued_bytes: 35, ..BrokerConfig::default() };
    let (mut h, publisher) = offline_subscriber(config, &["s"]);
    for k in 0..5 {
        h.publish(publisher, "t", &format!("message-{k}"), Q1, false);
    }
    assert_eq!(queue_drops(&mut h), ["message-3", "message-4"]);
    assert_eq!(h.broker.session("s").unwrap().queue.bytes(), 30);
    let sub = h.connect("s", false);
    assert_eq!(h.receive(sub), ["message-0", "message-1", "message-2"]);
    assert_eq!(h.broker.session("s").unwrap().queue.bytes(), 0);
}

#[test]
fn all_session_queues_together_are_bounded_by_bytes() {
    // 10 bytes a message; 45 bytes in all over two sessions of ample room each.
    let config = BrokerConfig {
        max_queued_bytes_total: 45,
        overflow: OverflowPolicy::DropOldest,
        ..BrokerConfig::default()
    };
    let (mut h, publisher) = offline_subscriber(config, &["a", "b"]);
    for k in 0..3 {
        h.publish(publisher, "t", &format!("message-{k}"), Q1, false);
    }
    // The fifth copy (a's message-2) brings the total to 50: a loses its oldest; so does b
    // for the sixth. Each arrival over the total costs its own session one message.
    assert_eq!(queue_drops(&mut h), ["message-0", "message-0"]);
    let a = h.broker.session("a").unwrap().queue.bytes();
    let b = h.broker.session("b").unwrap().queue.bytes();
    assert_eq!((a, b), (20, 20));
    drop(h);
}

#[test]
fn retained_messages_are_bounded_by_bytes_and_never_left_stale() {
    // "r/1" + 7 bytes = 10 bytes a message; 25 bytes hold two.
    let config = BrokerConfig { max_retained_bytes: 25, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    let publisher = h.connect("pub", true);
    for k in 1..=3 {
        h.publish(publisher, &format!("r/{k}"), "retain!", Q0, true);
    }
    let retained = &h.broker.store().state().retained;
    assert_eq!((retained.len(), retained.bytes()), (2, 20));
    // A replacement too big to fit clears the topic instead of keeping the old message.
    h.publish(publisher, "r/1", "a much longer message", Q0, true);
    let retained = &h.broker.store().state().retained;
    assert!(retained.get("r/1").is_none());
    assert_eq!((retained.len(), retained.bytes()), (1, 10));
    let sub = h.connect("sub", true);
    h.subscribe(sub, "r/#", Q0);
    assert_eq!(h.receive(sub), ["retain!"]);
}

/// A topic or filter of 65,535 `/` characters is valid (65,536 empty levels). UNSUBSCRIBE of such
/// a filter, the end of a clean session holding it, clearing a retained message on such a topic
/// and dropping the broker with one used to overflow the stack (recursive removal and drop).
#[test]
fn deep_topic_trees_survive_unsubscribe_session_end_retained_clear_and_shutdown() {
    let deepest = "/".repeat(65_535);
    let mut h = Harness::default();
    let sub = h.connect("sub", true);
    assert_eq!(h.subscribe(sub, &deepest, Q1).0, 1);
    let publisher = h.connect("pub", true);
    h.publish(publisher, &deepest, "deep", Q1, true);
    assert_eq!(h.receive(sub), ["deep"]);
    h.unsubscribe(sub, &deepest);
    h.take(sub);
    h.subscribe(sub, &format!("{}#", "/".repeat(65_534)), Q0);
    let late = h.connect("late", true);
    h.subscribe(late, &deepest, Q0);
    assert_eq!(h.receive(late), ["deep"], "the retained message");
    // The end of a clean session removes its deep subscriptions.
    h.lose(late);
    h.lose(sub);
    // An empty retained message clears the deep topic.
    h.publish(publisher, &deepest, "", Q0, true);
    assert!(h.broker.store().state().retained.is_empty());
    // Shutting down with a deep retained message and a deep subscription drops both trees.
    h.publish(publisher, &deepest, "again", Q0, true);
    let keeper = h.connect("keeper", false);
    h.subscribe(keeper, &deepest, Q0);
    drop(h);
}
