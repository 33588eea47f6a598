//! Building the turmoil world deterministically, host naming and the simulated clock.
//!
//! Turmoil's own network is kept perfect: no random latency, no partitions, no loss. Every
//! imperfection a device sees is modelled by [`crate::link`] on the device side.

use std::time::{Duration, SystemTime};

use crate::rng::Seeds;

/// The name of the host that runs the broker.
pub const BROKER_HOST: &str = "broker";

/// Returns the turmoil host name of the `k`-th device host (`devices`, `devices-1`, …).
pub fn device_host(k: usize) -> String {
    if k == 0 { "devices".to_string() } else { format!("devices-{k}") }
}

/// Returns the turmoil host name of the site called `name` (`site-<name>`), for tests and
/// benchmarks that build a turmoil world by hand.
pub fn site_host(name: &str) -> String {
    format!("site-{name}")
}

/// How the turmoil world is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldConfig {
    /// The scenario seed; turmoil's generator is seeded from it.
    pub seed: u64,
    /// Simulated time per turmoil step; cross-host delivery is quantised to it.
    pub tick: Duration,
    /// How long the simulation may run (simulated) before turmoil gives up.
    pub duration: Duration,
    /// The listener backlog and per-stream segment buffer of every host.
    pub tcp_capacity: usize,
    /// The one-way latency of turmoil's own links (min = max, so never random).
    pub wire_latency: Duration,
}

impl Default for WorldConfig {
    fn default() -> WorldConfig {
        WorldConfig {
            seed: 0,
            tick: Duration::from_millis(10),
            duration: Duration::from_secs(24 * 3600),
            tcp_capacity: 65_536,
            wire_latency: Duration::ZERO,
        }
    }
}

/// The fixed wall-clock epoch of every simulation: 2024-01-01T00:00:00Z.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

/// Builds a turmoil simulation from `config`; the same config always gives the same world.
pub fn build_sim<'a>(config: &WorldConfig) -> turmoil::Sim<'a> {
    let seeds = Seeds::new(config.seed);
    turmoil::Builder::new()
        .epoch(epoch())
        .rng_seed(seeds.turmoil_seed())
        .tick_duration(config.tick)
        .simulation_duration(config.duration)
        .tcp_capacity(config.tcp_capacity)
        .min_message_latency(config.wire_latency)
        .max_message_latency(config.wire_latency)
        .ephemeral_ports(1024..=65535)
        .build()
}

/// Returns the simulated time since the start of the simulation, identical on every host.
///
/// Inside a host it includes the time tokio has advanced within the current tick, so timers
/// are exact. Outside a simulation (plain tokio tests) it returns `None`.
pub fn sim_now() -> Option<Duration> {
    turmoil::sim_elapsed()
}
