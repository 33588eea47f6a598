//! The deterministic simulator.
//!
//! Modules:
//! - [`scenario`]: the YAML scenario format: model, parser with located errors, JSON Schema.
//! - [`world`]: builds the turmoil world from a seed, host names, the simulated clock.
//! - [`rng`]: per-purpose, per-device random streams derived from the scenario seed.
//! - [`link`]: the per-device link model (pure) and its async adapter on turmoil streams.
//! - [`plan`]: a scenario resolved for one seed: devices, start times, links, fault schedule.
//! - [`run`]: the runner: broker and site hosts on turmoil, the step loop, the summary.
//! - [`trace`]: the typed trace records and their JSON Lines and text writers.
//! - `device`: one device's task: application, client core, reconnects, faults (private).
//!
//! Layout of a simulation: the broker runs on the host [`world::BROKER_HOST`]; devices run as
//! tasks on a few site hosts ([`world::site_host`]). Turmoil's own links are perfect (no
//! random latency, loss or partitions, which would stall its TCP for ever); each device's
//! link — latency, loss as retransmission delay, blackouts, flapping, resets — is modelled by
//! [`link::LinkModel`] and applied on the device side by [`link::DeviceLink`].

mod device;
pub mod link;
pub mod plan;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod trace;
pub mod world;

pub use run::{RunOptions, RunReport, SimError, run};
