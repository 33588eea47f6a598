//! What a run is judged by, and how: the scenario format, the trace model, the checker and the
//! reports. Nothing here simulates, connects or waits: the simulator (`mqttsim-sim`, which
//! re-exports these modules under the same names) and a run against a real broker produce the
//! same trace records and are judged by the same checker.
//!
//! - [`scenario`]: the YAML scenario format, its validation and located errors, the JSON Schema.
//! - [`trace`]: the typed trace records and their JSON Lines and text writers.
//! - [`check`]: the oracle that judges a trace against the scenario's `expect:` section.
//! - [`report`]: the HTML report, `summary.md` and `junit.xml` of a run, and a sweep's index.
//! - [`sweep`]: what one seed of a sweep gave.

pub mod check;
pub mod report;
pub mod scenario;
pub mod sweep;
pub mod trace;
