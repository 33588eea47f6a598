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

mod backoff;
mod connect;
mod harness;
mod incoming;
mod keepalive;
mod outgoing;
mod props;
mod queue;
mod session;
mod subscribe;
mod violations;
