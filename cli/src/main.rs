//! The `mqtt-sim` command line.

mod conformance_cmd;

use clap::{Parser, Subcommand};

/// Deterministic network simulator and conformance tester for MQTT.
#[derive(Debug, Parser)]
#[command(name = "mqtt-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run conformance checks against a broker.
    Conformance(conformance_cmd::Args),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Conformance(args) => conformance_cmd::run(args),
    }
}
