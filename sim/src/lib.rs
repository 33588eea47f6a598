//! The deterministic simulator.
//!
//! Modules:
//! - [`scenario`]: the YAML scenario format: model, parser with located errors, JSON Schema.
//! - [`world`]: builds the turmoil world from a seed, host names, the simulated clock.
//! - [`rng`]: per-purpose, per-device random streams derived from the scenario seed.
//! - [`link`]: the per-device link model (pure) and its async adapter on turmoil streams.
//!
//! Layout of a simulation: the broker runs on the host [`world::BROKER_HOST`]; devices run as
//! tasks on a few site hosts ([`world::site_host`]). Turmoil's own links are perfect (no
//! random latency, loss or partitions, which would stall its TCP for ever); each device's
//! link — latency, loss as retransmission delay, blackouts, flapping, resets — is modelled by
//! [`link::LinkModel`] and applied on the device side by [`link::DeviceLink`].

pub mod link;
pub mod rng;
pub mod scenario;
pub mod world;
