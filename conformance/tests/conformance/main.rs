//! Integration tests of the conformance suite.
//!
//! - `brokers`: real brokers started on free loopback ports, or skipped with the reason.
//! - `matrix`: the whole suite, three times, against each real broker, compared with
//!   `expected/<broker>.txt`.
//! - `bad_brokers`: the runner against tiny fake brokers that stay silent, speak garbage or drop
//!   connections, on tokio TCP and inside turmoil.
//! - `fake_broker`: the reference broker core behind a layer that bends its output the way real
//!   brokers do (allowed interleavings, refusals, downgrades, unsolicited packets), in simulation:
//!   each defect class of the checks, shown on a broker that has it.
//! - `manifest`: the statement manifest against the check table.
//! - `readme`: the generated tables of conformance/README.md are current.
//! - `reference_broker`: the whole suite against our own broker inside turmoil, and its planted
//!   bugs each caught by a check.

mod bad_brokers;
mod brokers;
mod fake_broker;
mod manifest;
mod matrix;
mod readme;
mod reference_broker;
