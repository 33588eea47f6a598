//! MQTT conformance checks that run against any broker: an external one over TCP, or the
//! reference broker inside the simulator. Each check cites the normative statements it tests.
//!
//! A check is an async body that gets a [`Ctx`]: it opens connections to the target through the
//! context and waits with tokio time, so the same body runs over tokio TCP against a real broker
//! and over turmoil TCP in simulated time. The runner bounds every wait, every check and the
//! whole run, and reports the verdicts in table order however the checks interleaved.
//!
//! ```no_run
//! use std::rc::Rc;
//! use mqttsim_conformance::{BrokerUrl, SuiteConfig, TcpTarget, checks, run_suite};
//!
//! # async fn example() -> Result<(), mqttsim_conformance::UrlError> {
//! let url = BrokerUrl::parse("mqtt://127.0.0.1:1883")?;
//! let config = SuiteConfig { seed: 7, ..SuiteConfig::default() };
//! let report = run_suite(Rc::new(TcpTarget::new(&url)), &checks::all(), &config).await;
//! print!("{}", report.to_table());
//! assert!(report.passed(), "{}", report.summary());
//! # Ok(())
//! # }
//! ```
//!
//! Modules:
//! - [`statements`]: the coverage manifest, every normative statement with its testability.
//! - [`check`](mod@check): what a check is ([`Check`], [`Ctx`], [`Stop`]) and the `check!`/`fail!` macros.
//! - [`conn`]: a test client connection with bounded waits for packets, silence and closes.
//! - [`checks`]: the checks themselves, one module per area of the standard.
//! - [`target`]: where the broker is (tokio TCP or turmoil TCP) and broker URL parsing.
//! - [`simulation`]: the in-simulation target, the reference broker on a turmoil host.
//! - [`runner`]: runs a selection of checks concurrently with timeouts and cleans up after them.
//! - [`report`]: verdicts rendered as a table, JSON, JUnit XML, Markdown or the expectation text.
//! - `wire`: the path from packets to bytes and back (the project codec; malformed packets are
//!   built with `mqttsim_codec::raw`).

#[macro_use]
pub mod check;
pub mod checks;
pub mod conn;
pub mod report;
pub mod runner;
pub mod simulation;
pub mod statements;
pub mod target;
mod wire;

pub use check::{Check, Ctx, Outcome, Stop};
pub use report::{Report, Verdict};
pub use runner::{Selection, SuiteConfig, login, run_suite};
pub use simulation::{SimulationError, run_against_reference};
pub use target::{BrokerUrl, Credentials, Target, TcpTarget, TurmoilTarget, UrlError};
