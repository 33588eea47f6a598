//! `mqtt-sim conformance`: runs the conformance suite against a broker over TCP.

use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::Duration;

use crate::Failure;
use anyhow::Context;
use mqttsim_broker::{BrokerConfig, PlantedBug};
use mqttsim_codec::Protocol;
use mqttsim_conformance::report::{coverage_markdown, matrix_of_dir};
use mqttsim_conformance::statements::{Status, coverage};
use mqttsim_conformance::{
    Credentials, Selection, SuiteConfig, Target, TcpTarget, checks, login, run_against_reference,
    run_suite,
};

use crate::broker_access::{Access, BrokerAccess};

const EXAMPLES: &str = "\
Examples:
  mqtt-sim conformance --broker mqtt://127.0.0.1:1883
  mqtt-sim conformance --broker mqtt://localhost --format junit > conformance.xml
  mqtt-sim conformance --broker mqtt://localhost --only MQTT-3.1.2-24 --only will-on-socket-close
  mqtt-sim conformance --broker mqtt://localhost --skip keepalive-enforced --timeout 2s --seed 7
  mqtt-sim conformance --broker mqtt://localhost --protocol 5.0 --only MQTT-3.3.2-6
  mqtt-sim conformance --broker mqtts://localhost:8883 --ca-file ca.pem --username suite
  mqtt-sim conformance --broker mqtts://127.0.0.1:8883 --insecure   # a self-signed test broker
  mqtt-sim conformance --broker ws://127.0.0.1:8080/mqtt            # MQTT over WebSocket
  mqtt-sim conformance --broker wss://broker.lan/mqtt --ca-file ca.pem
  mqtt-sim conformance --sim                       # the reference broker in simulated time
  mqtt-sim conformance --sim --bug will-after-disconnect
  mqtt-sim conformance --list --protocol 5.0
  mqtt-sim conformance --coverage                  # both versions; --protocol picks one
  mqtt-sim conformance --matrix conformance/expected   # the cross-broker table

Verdicts: PASS; FAIL (a cited statement was broken); INCONCLUSIVE (a precondition failed, such
as a refused subscription: the cause is named, and each root cause is listed once at the end);
SKIP (the broker lacks an optional feature the check is about, as its CONNACK announces it, or
does not speak MQTT 5.0 at all). JUnit shows INCONCLUSIVE as skipped, with the cause in the
message.

Exit codes: 0 when no check failed (inconclusive and skipped checks do not fail a run), 1 when a
check failed, 2 on a usage error or a bad URL, 3 when the broker cannot be reached.";

/// Output formats of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table on the terminal.
    Table,
    /// A JSON document.
    Json,
    /// JUnit XML, for CI.
    Junit,
    /// A Markdown table followed by the statement coverage.
    Markdown,
}

/// Which protocol versions a run checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Versions {
    /// MQTT 3.1.1 only.
    #[value(name = "3.1.1")]
    V311,
    /// MQTT 5.0 only.
    #[value(name = "5.0")]
    V5,
    /// Both versions.
    Both,
}

impl Versions {
    fn only(self) -> Option<Protocol> {
        match self {
            Versions::V311 => Some(Protocol::V311),
            Versions::V5 => Some(Protocol::V5),
            Versions::Both => None,
        }
    }

    fn protocols(self) -> Vec<Protocol> {
        match self.only() {
            Some(p) => vec![p],
            None => vec![Protocol::V311, Protocol::V5],
        }
    }
}

/// Arguments of `mqtt-sim conformance`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Run MQTT 3.1.1 and 5.0 conformance checks against a broker",
    long_about = "Run MQTT 3.1.1 and 5.0 conformance checks against a broker. Each check cites \
                  the normative statements it tests; topics and client ids of a run share a \
                  prefix derived from the seed, and retained messages the checks set are cleared \
                  after. A broker that does not speak MQTT 5.0 gets every 5.0 check skipped with \
                  what it answered; a 5.0 check about an optional feature the broker's CONNACK \
                  rules out (shared subscriptions, QoS 2, retained messages, ...) is skipped.",
    after_help = EXAMPLES
)]
pub struct Args {
    /// The broker under test, as mqtt://host[:port] (TCP, port 1883 by default),
    /// mqtts://host[:port] (TLS, port 8883 by default), ws://host[:port][/path] (MQTT over
    /// WebSocket, port 80 and path /mqtt by default) or wss://host[:port][/path] (WebSocket over
    /// TLS, port 443 by default).
    #[arg(
        long,
        value_name = "URL",
        required_unless_present_any = ["list", "coverage", "sim", "matrix"]
    )]
    broker: Option<String>,
    /// TLS and login (every CONNECT of the suite carries the user name; hand-made malformed
    /// CONNECTs refused as not authorised are then inconclusive).
    #[command(flatten)]
    access: BrokerAccess,
    /// Run against the reference broker inside the simulator instead, in simulated time.
    #[arg(long, conflicts_with = "broker")]
    sim: bool,
    /// With --sim, switch on a planted bug of the reference broker (repeatable).
    #[arg(long, value_name = "NAME", value_parser = parse_bug)]
    bug: Vec<PlantedBug>,
    /// Which protocol versions to check.
    #[arg(long, value_enum, value_name = "VERSION", default_value_t = Versions::Both)]
    protocol: Versions,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Run only these checks or the checks citing these statements (repeatable, or comma separated).
    #[arg(long, value_name = "CHECK|STATEMENT", value_delimiter = ',')]
    only: Vec<String>,
    /// Skip these checks or the checks citing these statements (repeatable, or comma separated).
    #[arg(long, value_name = "CHECK|STATEMENT", value_delimiter = ',')]
    skip: Vec<String>,
    /// The longest wait for any one expected packet, such as 5s or 500ms.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Seed of the run id that prefixes topics and client ids; random when not given.
    #[arg(long)]
    seed: Option<u64>,
    /// How many checks run at the same time.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// List the checks and the statements they cite, then exit.
    #[arg(long, conflicts_with = "coverage")]
    list: bool,
    /// Print the statement manifest with each statement's coverage, then exit.
    #[arg(long)]
    coverage: bool,
    /// Print the cross-broker table (checks x brokers) of the expectation files in DIR, then exit.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["list", "coverage", "sim", "broker"])]
    matrix: Option<std::path::PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration such as 5s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}; use ms, s or m")),
    };
    if !(0.001..=3600.0).contains(&seconds) {
        return Err(format!("{text:?} is out of range (1ms to 1h)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub(crate) fn parse_bug(name: &str) -> Result<PlantedBug, String> {
    name.parse().map_err(|e: mqttsim_broker::UnknownBug| e.to_string())
}

/// A seed for runs that were not given one; printed so the run can be replayed.
fn fresh_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Runs the subcommand: exit code 0 when no check failed, 1 when one did.
pub fn run(args: Args) -> Result<u8, Failure> {
    let all = checks::all();
    if args.list {
        for c in all.iter().filter(|c| args.protocol.only().is_none_or(|p| p == c.protocol)) {
            println!("{:<36} {}\n{:<36} {}", c.name, c.statements.join(" "), "", c.summary);
        }
        return Ok(0);
    }
    if args.coverage {
        for (i, protocol) in args.protocol.protocols().into_iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{}", coverage_markdown(&coverage(protocol, &all)));
        }
        return Ok(0);
    }
    if let Some(dir) = &args.matrix {
        let table = matrix_of_dir(dir)
            .with_context(|| format!("cannot read the expectation files in {}", dir.display()))
            .map_err(Failure::input)?;
        print!("{table}");
        return Ok(0);
    }
    if args.sim {
        return run_simulated(args, &all);
    }
    if !args.bug.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "--bug plants bugs in the simulated broker: it needs --sim"
        )));
    }
    let url = args.broker.as_deref().context("--broker is required").map_err(Failure::input)?;
    let target = tcp_target(&args.access, url)?;
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
        protocol: args.protocol.only(),
    };
    let unknown = selection.unknown_keys(&all);
    if !unknown.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "--only/--skip name no check or cited statement: {}",
            unknown.join(", ")
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::environment)?;
    // The whole way in (TCP, and the TLS handshake for mqtts://) must work before any check
    // runs: a broker the suite cannot reach has not failed any statement.
    let reached = runtime.block_on(async {
        match tokio::time::timeout(args.timeout, target.connect()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(anyhow::Error::from(e)),
            Err(_) => Err(anyhow::anyhow!("connecting took longer than {:?}", args.timeout)),
        }
    });
    reached
        .with_context(|| format!("cannot reach the broker at {}", target.describe()))
        .map_err(Failure::environment)?;
    if let Err(why) = runtime.block_on(login(&target, args.timeout)) {
        return Err(Failure::input(anyhow::anyhow!(
            "the broker at {} refused the suite's login: {why}",
            target.describe()
        )));
    }
    let passed = execute(args, &all, target, selection, &runtime);
    Ok(if passed { 0 } else { 1 })
}

/// Runs against the reference broker inside turmoil.
fn run_simulated(args: Args, all: &[mqttsim_conformance::Check]) -> Result<u8, Failure> {
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
        protocol: args.protocol.only(),
    };
    let unknown = selection.unknown_keys(all);
    if !unknown.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "--only/--skip name no check or cited statement: {}",
            unknown.join(", ")
        )));
    }
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let suite =
        SuiteConfig { seed, timeout: args.timeout, jobs: usize::from(args.jobs), selection };
    let mut broker = BrokerConfig::default();
    broker.bugs.extend(args.bug.iter().copied());
    eprintln!(
        "running against the reference broker in simulation with seed {seed} (replay: --seed {seed})"
    );
    let report = run_against_reference(broker, all, &suite)
        .context("simulating the reference broker")
        .map_err(Failure::environment)?;
    print!("{}", render(&report, args.format, all, args.protocol));
    if args.format != Format::Table {
        eprintln!("{}", report.summary());
    }
    eprintln!("simulated time {:.1?}", report.elapsed);
    Ok(if report.passed() { 0 } else { 1 })
}

fn render(
    report: &mqttsim_conformance::Report,
    format: Format,
    all: &[mqttsim_conformance::Check],
    versions: Versions,
) -> String {
    match format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json(),
        Format::Junit => report.to_junit(),
        Format::Markdown => {
            let mut out = report.to_markdown(None);
            for protocol in versions.protocols() {
                out.push('\n');
                out.push_str(&coverage_markdown(&coverage(protocol, all)));
            }
            out
        }
    }
}

/// The target for `--broker`: TCP or TLS, or WebSocket over either, with the credentials given.
fn tcp_target(access: &BrokerAccess, broker: &str) -> Result<TcpTarget, Failure> {
    let Access { url, tls, login } = access.resolve(broker)?;
    let target = match tls {
        Some(connector) => TcpTarget::tls(&url, connector),
        None => TcpTarget::new(&url),
    };
    let Some((username, password)) = login else { return Ok(target) };
    let password = password.map(|p| bytes::Bytes::from(p.into_bytes()));
    Ok(target.with_credentials(Credentials { username, password }))
}

fn execute(
    args: Args,
    all: &[mqttsim_conformance::Check],
    target: TcpTarget,
    selection: Selection,
    runtime: &tokio::runtime::Runtime,
) -> bool {
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let config =
        SuiteConfig { seed, timeout: args.timeout, jobs: usize::from(args.jobs), selection };
    let described = target.describe();
    let target = Rc::new(target);
    eprintln!(
        "running against {described} with seed {seed} (replay: --seed {seed}); bound {:?}",
        config.overall_bound(all.iter().filter(|c| config.selection.selects(c)).count())
    );
    let report = runtime.block_on(run_suite(target, all, &config));
    print!("{}", render(&report, args.format, all, args.protocol));
    if args.format != Format::Table {
        eprintln!("{}", report.summary());
    }
    eprintln!("took {:.1?}", report.elapsed);
    if let Some(warning) = &report.cleanup {
        eprintln!("warning: {warning}");
    }
    let not_yet: usize = args
        .protocol
        .protocols()
        .into_iter()
        .map(|p| coverage(p, all).rows.iter().filter(|(_, s)| *s == Status::NotYet).count())
        .sum();
    if not_yet > 0 {
        eprintln!("{not_yet} testable statements have no check yet (see --coverage)");
    }
    report.passed()
}

#[cfg(test)]
mod tests {
    use super::{Args, parse_duration, run};
    use clap::Parser;
    use std::time::Duration;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    /// The exit code of `mqtt-sim conformance <argv>`.
    fn exit_code(argv: &[&str]) -> u8 {
        let cli = Cli::try_parse_from(std::iter::once("conformance").chain(argv.iter().copied()));
        match cli {
            Err(e) => u8::try_from(e.exit_code()).unwrap(),
            Ok(cli) => run(cli.args).unwrap_or_else(|f| f.code),
        }
    }

    #[test]
    fn exit_codes() {
        let cases: &[(&[&str], u8)] = &[
            (&["--sim", "--seed", "1", "--only", "pingreq,retained-replaced-by-qos0"], 0),
            (
                &[
                    "--sim",
                    "--seed",
                    "1",
                    "--only",
                    "retained-replaced-by-qos0",
                    "--bug",
                    "stale-retained",
                ],
                1,
            ),
            (&["--broker", "http://127.0.0.1:1883"], 2),
            (&["--broker", "mqtt://127.0.0.1:0"], 2),
            (&["--broker", "mqtt://127.0.0.1:1883", "--only", "no-such-check"], 2),
            (&["--broker", "mqtt://127.0.0.1:1883", "--bug", "stale-retained"], 2),
            (&["--sim", "--bug", "no-such-bug"], 2),
            (&["--timeout", "5h", "--sim"], 2),
            (&[], 2),
            (&["--list"], 0),
            (&["--list", "--protocol", "5.0"], 0),
            (&["--coverage"], 0),
            (&["--coverage", "--protocol", "3.1.1"], 0),
            (&["--coverage", "--protocol", "4"], 2),
            (&["--matrix", concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/expected")], 0),
            (&["--matrix", "/no/such/dir"], 2),
        ];
        for (argv, code) in cases {
            assert_eq!(exit_code(argv), *code, "mqtt-sim conformance {}", argv.join(" "));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
