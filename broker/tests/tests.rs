//! Behaviour tests of the broker core, each named after the normative statement it checks.
//!
//! - `harness`: the in-memory harness (fake clock, inbox per connection).
//! - `connect`: CONNECT, CONNACK codes, client identifiers, session present, takeover.
//! - `keepalive`: keepalive expiry, PINGREQ, the connect timeout and the deadline index.
//! - `will`: when the Will is and is not published.
//! - `publish`: QoS 0, 1 and 2 in both directions, in-flight window, ordering, offline queue.
//! - `subscribe`: SUBACK codes, replacement, overlapping filters, UNSUBSCRIBE, `$` topics.
//! - `retained`: set, replace, clear, RETAIN flag on delivery.
//! - `crash`: volatile and durable stores across a restart.
//! - `limits`: byte limits of queues and retained messages; topics at the maximum depth.
//! - `acl`: topic authorisation (SUBACK 0x80, refused PUBLISH acknowledged, filtered deliveries).
//! - `bugs`: each planted bug changes behaviour, and the default broker has none.
//! - `script`: scenario scripts in `tests/scripts`, their transcripts snapshotted with insta.
//! - `v5`: MQTT 5.0 behaviour, named after the 5.0 statements (see `v5/mod.rs`).

mod harness;

mod acl;
mod bugs;
mod connect;
mod crash;
mod keepalive;
mod limits;
mod publish;
mod retained;
mod script;
mod subscribe;
mod v5;
mod will;
