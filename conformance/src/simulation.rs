//! The in-simulation target: the reference broker (the `mqttsim-broker` core on the `mqttsim-net`
//! driver) on a turmoil host, and the checks on another, in simulated time.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mqttsim_broker::{Broker, BrokerConfig, MemoryStore};
use mqttsim_net::{BrokerDriver, BrokerDriverConfig};

use crate::check::Check;
use crate::report::Report;
use crate::runner::{SuiteConfig, run_suite};
use crate::target::TurmoilTarget;

/// The simulated host name of the broker.
pub const BROKER_HOST: &str = "broker";

/// The port it listens on.
pub const BROKER_PORT: u16 = 1883;

/// Why a simulated run did not produce a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// Turmoil stopped the simulation (a host failed, or the simulated time ran out).
    #[error("the simulation failed: {0}")]
    Turmoil(String),
}

/// Runs the selected `checks` against a reference broker built with `broker` inside a turmoil
/// simulation seeded from `suite.seed`, and returns the report.
///
/// Time is simulated: keep-alive and timeout waits cost no real time, and the same inputs give
/// the same report and the same simulated duration.
pub fn run_against_reference(
    broker: BrokerConfig,
    checks: &[Check],
    suite: &SuiteConfig,
) -> Result<Report, SimulationError> {
    let count = checks.iter().filter(|c| suite.selection.selects(c)).count();
    let mut sim = turmoil::Builder::new()
        .simulation_duration(suite.overall_bound(count) + Duration::from_secs(60))
        .rng_seed(suite.seed)
        .epoch(std::time::UNIX_EPOCH)
        .build();
    sim.host(BROKER_HOST, move || {
        let config = broker.clone();
        async move {
            let core = Broker::new(config, Box::new(MemoryStore::volatile()));
            let driver = BrokerDriver::new(core, BrokerDriverConfig::default());
            tokio::task::spawn_local(driver.clone().run_timers());
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", BROKER_PORT)).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                driver.spawn_connection(stream);
            }
        }
    });
    let out = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let checks = checks.to_vec();
    let suite = suite.clone();
    sim.client("suite", async move {
        let target = Rc::new(TurmoilTarget { host: BROKER_HOST.into(), port: BROKER_PORT });
        *slot.borrow_mut() = Some(run_suite(target, &checks, &suite).await);
        Ok(())
    });
    sim.run().map_err(|e| SimulationError::Turmoil(e.to_string()))?;
    let report = out.borrow_mut().take();
    report.ok_or_else(|| SimulationError::Turmoil("the suite client did not finish".into()))
}
