//! Integration tests of the conformance suite.
//!
//! - `mosquitto`: the whole suite against a Mosquitto the test starts, compared with the
//!   committed expectation.
//! - `bad_brokers`: the runner against tiny fake brokers that stay silent, speak garbage or drop
//!   connections, on tokio TCP and inside turmoil.
//! - `manifest`: the statement manifest against the check table.
//! - `reference_broker`: the whole suite against our own broker inside turmoil, and its planted
//!   bugs each caught by a check.

mod bad_brokers;
mod manifest;
mod mosquitto;
mod reference_broker;
