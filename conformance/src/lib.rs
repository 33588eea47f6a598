//! MQTT conformance checks that run against any broker: an external one over TCP, or the
//! reference broker inside the simulator. Each check cites the normative statements it tests.
//!
//! Modules:
//! - [`statements`]: the coverage manifest, every normative statement with its testability.
//! - [`check`]: what a check is ([`Check`], [`Ctx`], [`Stop`]) and the `check!`/`fail!` macros.
//! - [`conn`]: a test client connection with bounded waits for packets, silence and closes.
//! - [`checks`]: the checks themselves, one module per area of the standard.
//! - [`target`]: where the broker is (tokio TCP or turmoil TCP) and broker URL parsing.
//! - [`runner`]: runs a selection of checks concurrently with timeouts and cleans up after them.
//! - [`report`]: verdicts rendered as a table, JSON, JUnit XML, Markdown or the expectation text.
//! - [`raw`]: a byte builder for deliberately malformed packets.
//! - `wire`: the path from packets to bytes and back (the project codec).

#[macro_use]
pub mod check;
pub mod checks;
pub mod conn;
pub mod raw;
pub mod report;
pub mod runner;
pub mod statements;
pub mod target;
mod wire;

pub use check::{Check, Ctx, Outcome, Stop};
pub use report::{Report, Verdict};
pub use runner::{Selection, SuiteConfig, run_suite};
pub use target::{BrokerUrl, Target, TcpTarget, TurmoilTarget, UrlError};
