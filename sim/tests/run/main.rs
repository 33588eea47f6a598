//! End-to-end runs of the simulator: determinism over the shipped scenarios, the fault models
//! seen through the trace, and text-trace snapshots of small canonical scenarios.
//!
//! Modules:
//! - `determinism`: same seed, same trace bytes; another seed, another trace.
//! - `faults`: loss, blackouts, power loss versus crash, broker restarts with durable and
//!   volatile state.
//! - `plan`: targets, start times and fault schedules drawn from the seed.
//! - `snapshots`: insta snapshots of the text trace of the scenarios in `tests/scenarios/run/`.

mod determinism;
mod faults;
mod helpers;
mod plan;
mod snapshots;
