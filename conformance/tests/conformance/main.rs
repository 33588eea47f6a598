//! Integration tests of the conformance suite.
//!
//! - `brokers`: real brokers started on free loopback ports, or skipped with the reason.
//! - `matrix`: the whole suite (3.1.1 and 5.0), three times, against each real broker, compared
//!   with `expected/<broker>.txt` and `expected/5.0/<broker>.txt`.
//! - `bad_brokers`: the runner against tiny fake brokers that stay silent, speak garbage or drop
//!   connections, on tokio TCP and inside turmoil.
//! - `fake_broker`: the reference broker core behind a layer that bends its output the way real
//!   brokers do (allowed interleavings, refusals, downgrades, unsolicited packets), in simulation:
//!   each defect class of the checks, shown on a broker that has it.
//! - `manifest`: the statement manifests against the check table.
//! - `mosquitto5`: each MQTT 5.0 deviation of Mosquitto 2.0 the suite reports, confirmed by a
//!   probe of hand-written packets.
//! - `readme`: the generated tables of conformance/README.md are current.
//! - `reference_broker`: the whole suite against our own broker inside turmoil, and its planted
//!   bugs each caught by a check.

mod bad_brokers;
mod brokers;
mod fake_broker;
mod manifest;
mod matrix;
mod mosquitto5;
mod readme;
mod reference_broker;
