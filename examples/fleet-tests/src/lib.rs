//! An orchard's irrigation fleet, as a user of mqtt-sim would test it.
//!
//! The crate's own code would live here (firmware settings, topic layout, ...). What matters for
//! the example is `tests/orchard.rs`: its own scenario (`scenarios/orchard.yaml`), a verdict test,
//! a snapshot of one valve's trace, a small seed sweep, and an expected-failure test of a broker
//! with a planted bug. `MQTT_SIM_SEED=N cargo test -p fleet-tests` replays seed N.

/// The topic every valve takes commands on; `{i}` is the valve's number.
pub const VALVE_COMMANDS: &str = "orchard/valve/{i}/set";
