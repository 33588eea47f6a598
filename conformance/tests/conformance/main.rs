//! Integration tests of the conformance suite.
//!
//! - `mosquitto`: the whole suite against a Mosquitto the test starts, compared with the
//!   committed expectation.
//! - `bad_brokers`: the runner against tiny fake brokers that stay silent, speak garbage or drop
//!   connections, on tokio TCP and inside turmoil.
//! - `manifest`: the statement manifest against the check table.

mod bad_brokers;
mod manifest;
mod mosquitto;
