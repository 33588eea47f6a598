//! Crash and restart over volatile and durable stores.

use mqttsim_broker::{BrokerConfig, MemoryStore, Store};
use mqttsim_codec::{Ack, Packet};

use crate::harness::{Harness, Q1, Q2, publish};

fn before_crash(store: MemoryStore) -> Harness {
    let mut h = Harness::with_store(BrokerConfig::default(), Box::new(store));
    let sub = h.connect("sub", false);
    h.subscribe(sub, "t", Q1);
    let clean = h.connect("clean", true);
    h.subscribe(clean, "t", Q1);
    let conn = h.connect("pub", false);
    h.publish(conn, "t", "retained", Q1, true);
    h.lose(sub);
    h.publish(conn, "t", "queued", Q1, false);
    // An inbound QoS 2 message awaiting PUBREL.
    h.send(conn, Packet::Publish(publish("other", "x", Q2, false, 77)));
    h
}

#[test]
fn durable_store_keeps_sessions_and_retained_across_a_crash() {
    let mut h = before_crash(MemoryStore::durable()).crash();
    assert!(h.broker.session("clean").is_none(), "clean sessions end with their connection");
    let (sub, connack) = h.connect_with(crate::harness::connect("sub", false));
    assert!(connack.unwrap().session_present);
    // The in-flight "retained" (never acknowledged) comes back with DUP, then the queue.
    let got = h.publishes(sub);
    assert_eq!(crate::harness::payloads(&got), ["retained", "queued"]);
    assert_eq!((got[0].dup, got[1].dup), (true, false));
    // The subscription survived.
    let conn = h.connect("pub", false);
    h.publish(conn, "t", "after", Q1, false);
    h.take(conn);
    assert_eq!(crate::harness::payloads(&h.publishes(sub)), ["after"]);
    // The QoS 2 receive state survived: the resent PUBLISH is not forwarded again.
    let watcher = h.connect("watcher", true);
    h.subscribe(watcher, "other", Q2);
    let mut dup = publish("other", "x", Q2, false, 77);
    dup.dup = true;
    h.send(conn, Packet::Publish(dup));
    assert_eq!(h.take(conn), [Packet::PubRec(Ack::new(77))]);
    assert!(h.take(watcher).is_empty());
    // Retained survived.
    let late = h.connect("late", true);
    h.subscribe(late, "t", Q1);
    assert_eq!(crate::harness::payloads(&h.publishes(late)), ["retained"]);
}

#[test]
fn volatile_store_forgets_everything_on_a_crash() {
    let h = before_crash(MemoryStore::volatile()).crash();
    let state = h.broker.store().state();
    assert!(state.sessions.is_empty());
    assert!(state.retained.is_empty());
    let mut h = h;
    let (_, connack) = h.connect_with(crate::harness::connect("sub", false));
    assert!(!connack.unwrap().session_present);
}

#[test]
fn a_store_without_crash_is_unchanged_by_into_store() {
    let h = before_crash(MemoryStore::volatile());
    let sessions = h.broker.store().state().sessions.len();
    let store: Box<dyn Store> = h.broker.into_store();
    assert_eq!(store.state().sessions.len(), sessions);
}
