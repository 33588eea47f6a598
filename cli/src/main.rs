//! The `mqtt-sim` command line: one thin binary over the library crates.
//!
//! Exit codes: 0 success, 1 a check or expectation failed, 2 bad input or usage, 3 an I/O or
//! environment failure (such as a port already in use).

mod bench_cmd;
mod bench_shrink;
mod broker_access;
mod broker_cmd;
mod broker_log;
mod conformance_cmd;
mod explore_cmd;
mod report_cmd;
mod run_cmd;
mod shrink_cmd;
mod trace_file;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Deterministic network simulator and conformance tester for MQTT.
#[derive(Debug, Parser)]
#[command(name = "mqtt-sim", version, about, long_about = None)]
#[command(after_help = "Examples:
  mqtt-sim run scenarios/flaky-farm.yaml
  mqtt-sim run scenarios/flaky-farm.yaml --seed 7 --duration 10m
  mqtt-sim report reports/flaky-farm/20240611/trace.jsonl
  mqtt-sim explore scenarios/will-takeover.yaml --seeds 1..1000 --jobs 2
  mqtt-sim shrink scenarios/will-takeover.yaml --seed 17
  mqtt-sim broker --listen 127.0.0.1:1883
  mqtt-sim broker --listen 127.0.0.1:1884 --password-file users.txt --acl-file topics.acl
  mqtt-sim passwd users.txt alice
  mqtt-sim conformance --broker mqtt://127.0.0.1:1883
  mqtt-sim bench --case flaky-farm")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario in the simulator; write its trace and summary.
    Run(run_cmd::RunArgs),
    /// Render the HTML report, summary.md and junit.xml again from a saved trace.
    Report(report_cmd::ReportArgs),
    /// Sweep a scenario over many seeds and list the failing ones.
    Explore(explore_cmd::ExploreArgs),
    /// Shrink a failing seed to a small scenario that fails the same guarantee.
    Shrink(shrink_cmd::ShrinkArgs),
    /// Run the reference broker on real TCP (and TLS).
    Broker(broker_cmd::BrokerArgs),
    /// Add, replace or remove a user in a broker password file (Argon2id hashes).
    Passwd(broker_cmd::PasswdArgs),
    /// Run conformance checks against a broker.
    Conformance(conformance_cmd::Args),
    /// Measure how fast the simulator runs large fleets.
    Bench(bench_cmd::BenchArgs),
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

/// How a run was made, as far as replaying one of its seeds needs to know (shared with the
/// library, so that tests built on it print the same command).
pub use mqttsim_sim::replay::Replay;

/// `--tick` of `run`, `explore` and `shrink`: a span of at least 1 ms (the simulator advances
/// one tick per step, so a zero tick would never advance).
pub fn parse_tick(text: &str) -> Result<mqttsim_sim::scenario::TimeSpan, String> {
    let tick = mqttsim_sim::scenario::TimeSpan::parse(text)?;
    if tick.get() < std::time::Duration::from_millis(1) {
        return Err(format!(
            "`{text}`: the tick must be at least 1ms (the simulated time of one step)"
        ));
    }
    Ok(tick)
}

impl Failure {
    /// Bad input or usage: exit code 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 2, error: error.into() }
    }

    /// The environment failed us (I/O, ports): exit code 3.
    pub fn environment(error: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 3, error: error.into() }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Explore(args) => explore_cmd::run(args),
        Command::Shrink(args) => shrink_cmd::run(args),
        Command::Broker(args) => broker_cmd::run(args),
        Command::Passwd(args) => broker_cmd::passwd(args),
        Command::Conformance(args) => conformance_cmd::run(args),
        Command::Bench(args) => bench_cmd::run_bench(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
