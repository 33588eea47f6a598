//! Integration tests of the client core, one binary for quick builds.
//!
//! - `harness`: the in-memory harness with a fake clock and compact output descriptions.
//! - `connect`: CONNECT contents, CONNACK handling, connect timeout, graceful disconnect.
//! - `keepalive`: PINGREQ scheduling and the keep-alive timeout.
//! - `outgoing`: QoS 0/1/2 flows to the server, the in-flight window and packet identifiers.
//! - `incoming`: QoS 0/1/2 flows from the server, QoS 2 exactly-once on receipt.
//! - `session`: reconnection with and without a session present.
//! - `queue`: the offline queue bound and policies.
//! - `subscribe`: subscriptions, offline requests and re-subscription.
//! - `violations`: every unexpected server packet closes with a typed reason.
//! - `backoff`: reconnect delay growth, cap, jitter bounds and reset.
//! - `props`: property tests — no server sequence panics; window and identifier invariants hold.
//! - `props_v5`: property tests of a 5.0 client under random server limits and packets.
//! - `v5_connect`: 5.0 CONNECT properties, CONNACK properties honoured, refusals and advice.
//! - `transcripts`: scripted 5.0 sessions start to end, as insta snapshots.
//! - `v5_alias`: topic aliases towards the server (when configured) and from it.
//! - `v5_disconnect`: DISCONNECT with a reason (0x04 and the Will), Session Expiry changes.
//! - `v5_limits`: the server's Receive Maximum, Maximum Packet Size, Maximum QoS, Retain Available.
//! - `v5_publish`: message properties on PUBLISH, the Message Expiry Interval.
//! - `v5_reasons`: reason codes on acknowledgements, SUBACK, UNSUBACK and server DISCONNECT.
//! - `v5_session`: session state across connections, session present, our Receive Maximum.
//! - `v5_subscribe`: subscription options, identifiers, renewal after a lost session.
//!
//! The 5.0 tests are named after the statement of the standard they show (`mqtt_3_2_2_15_...` is
//! [MQTT-3.2.2-15]); where the standard's body and Appendix B differ, the body wins.

mod backoff;
mod connect;
mod harness;
mod incoming;
mod keepalive;
mod outgoing;
mod props;
mod props_v5;
mod queue;
mod session;
mod subscribe;
mod transcripts;
mod v5_alias;
mod v5_connect;
mod v5_disconnect;
mod v5_limits;
mod v5_publish;
mod v5_reasons;
mod v5_session;
mod v5_subscribe;
mod violations;
