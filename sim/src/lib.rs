//! The deterministic simulator.
//!
//! Modules:
//! - [`world`]: builds the turmoil world from a seed, host names, the simulated clock.
//! - [`rng`]: per-purpose, per-device random streams derived from the scenario seed.
//! - [`link`]: the per-device link model (pure) and its async adapter on turmoil streams.

pub mod link;
pub mod rng;
pub mod world;
