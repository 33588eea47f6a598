use mqttsim_client::{DropReason, Event, MessageId, OfflineQos0, QueuePolicy};

use crate::harness::{Harness, lines};

fn dropped(events: Vec<Event>) -> Vec<(u64, DropReason)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Dropped { id: MessageId(id), reason } => Some((id, reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn offline_queue_is_bounded_by_its_policy() {
    // (policy, messages dropped, what is sent after connecting)
    let cases: [(QueuePolicy, &[u64], &[&str]); 2] = [
        (
            QueuePolicy::DropOldest,
            &[1, 2],
            &["PUBLISH q1 id=1 dup=0 m3", "PUBLISH q2 id=2 dup=0 m4", "PUBLISH q1 id=3 dup=0 m5"],
        ),
        (
            QueuePolicy::DropNewest,
            &[4, 5],
            &["PUBLISH q1 id=1 dup=0 m1", "PUBLISH q1 id=2 dup=0 m2", "PUBLISH q1 id=3 dup=0 m3"],
        ),
    ];
    for (policy, expected_drops, expected_sent) in cases {
        let mut config = Harness::device();
        config.max_queued = 3;
        config.queue_policy = policy;
        let mut h = Harness::new(config);
        for (topic, qos) in [("m1", 1), ("m2", 1), ("m3", 1), ("m4", 2), ("m5", 1)] {
            h.publish(topic, qos);
        }
        assert!(h.out().is_empty(), "nothing is sent while offline");
        assert_eq!(h.client.queued_len(), 3);
        let expected: Vec<_> =
            expected_drops.iter().map(|&id| (id, DropReason::QueueFull)).collect();
        assert_eq!(dropped(h.events()), expected, "{policy:?}");
        assert_eq!(h.connect(false), lines(expected_sent), "{policy:?}");
    }
}

#[test]
fn queue_bound_also_applies_behind_a_full_window() {
    let mut config = Harness::device();
    config.max_inflight = 1;
    config.max_queued = 1;
    let mut h = Harness::new(config);
    h.connect(false);
    h.clear();
    h.publish("a", 1); // in flight
    h.publish("b", 1); // waits
    h.publish("c", 1); // pushes out b
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 a"]));
    assert_eq!(dropped(h.events()), vec![(2, DropReason::QueueFull)]);
}

#[test]
fn zero_queue_still_sends_when_the_window_has_room() {
    let mut config = Harness::device();
    config.max_queued = 0;
    let mut h = Harness::new(config);
    h.connect(false);
    h.clear();
    h.publish("a", 1);
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=1 dup=0 a"]));
    assert!(dropped(h.events()).is_empty());
}

#[test]
fn offline_qos0_policy() {
    // (policy, dropped, sent after connecting)
    type Case = (OfflineQos0, &'static [(u64, DropReason)], &'static [&'static str]);
    let cases: [Case; 2] = [
        (OfflineQos0::Drop, &[(1, DropReason::Offline)], &["PUBLISH q1 id=1 dup=0 b"]),
        (OfflineQos0::Queue, &[], &["PUBLISH q0 id=0 dup=0 a", "PUBLISH q1 id=1 dup=0 b"]),
    ];
    for (policy, expected_drops, expected_sent) in cases {
        let mut config = Harness::device();
        config.offline_qos0 = policy;
        let mut h = Harness::new(config);
        h.publish("a", 0);
        h.publish("b", 1);
        assert_eq!(dropped(h.events()), expected_drops.to_vec(), "{policy:?}");
        assert_eq!(h.connect(false), lines(expected_sent), "{policy:?}");
    }
}

#[test]
fn queue_drains_through_the_window_on_connect() {
    let mut config = Harness::device();
    config.max_inflight = 2;
    let mut h = Harness::new(config);
    for topic in ["a", "b", "c"] {
        h.publish(topic, 1);
    }
    assert_eq!(h.connect(false), lines(&["PUBLISH q1 id=1 dup=0 a", "PUBLISH q1 id=2 dup=0 b"]));
    h.recv(crate::harness::puback(1));
    assert_eq!(h.out(), lines(&["PUBLISH q1 id=3 dup=0 c"]));
}
