//! `mqtt-sim report`: render the HTML report, summary.md and junit.xml again from a saved trace.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mqttsim_sim::check::{CheckOptions, ReadTraceError, check};
use mqttsim_sim::report::{Analysis, ReportInput, write_analysis};
use mqttsim_sim::scenario::load_scenario;

use crate::trace_file::read_trace;
use crate::{Failure, Replay};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim report reports/flaky-farm/20240611/trace.jsonl
  mqtt-sim report /tmp/wills.jsonl --scenario scenarios/will-takeover.yaml --out /tmp/wills
  mqtt-sim report reports/flaky-farm/20240611/trace.jsonl --device valve-east-field-03
  mqtt-sim report reports/smart-building/1/trace.jsonl.zst

Reads the trace (plain or zstd-compressed JSON Lines), judges it again with the checker, and writes report.html, summary.md and
junit.xml into --out (default: the trace's directory). The scenario, seed and duration come from
the summary.json beside the trace (written by `mqtt-sim run`) unless --scenario is given.
Exit codes: 0 the expectations held, 1 an expectation was violated, 2 bad input, 3 an I/O failure.")]
pub struct ReportArgs {
    /// The JSON Lines trace (`trace.jsonl`, or `trace.jsonl.zst` compressed with zstd).
    trace: PathBuf,
    /// The scenario file (default: the one named in the summary.json beside the trace).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// The output directory (default: the trace's directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The device whose sequence diagram to draw.
    #[arg(long)]
    device: Option<String>,
}

/// Prints the MQTT 5.0 facts of a report (Will Delay waits, expired sessions, shared groups,
/// expired messages) under an `mqtt 5.0:` heading; nothing for a scenario without a 5.0 group.
/// `mqtt-sim run` and `mqtt-sim report` both print them through this.
pub fn print_v5_facts(analysis: &Analysis) {
    if let Some(v5) = &analysis.v5 {
        println!("mqtt 5.0:");
        for line in v5.lines() {
            println!("  {line}");
        }
    }
}

/// What `mqtt-sim run` recorded in summary.json about how it ran.
#[derive(Debug, Default, serde::Deserialize)]
struct RunMeta {
    scenario_path: Option<PathBuf>,
    scenario_arg: Option<String>,
    seed: Option<u64>,
    duration_ms: Option<u64>,
    duration_arg: Option<String>,
    #[serde(default)]
    swarm: bool,
    tick_arg: Option<String>,
}

fn read_meta(dir: &Path) -> Result<RunMeta, Failure> {
    let path = dir.join("summary.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("reading {}", path.display()))
            .map_err(Failure::input),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RunMeta::default()),
        Err(e) => Err(Failure::environment(
            anyhow::Error::new(e).context(format!("reading {}", path.display())),
        )),
    }
}

pub fn run(args: ReportArgs) -> Result<u8, Failure> {
    let dir = args.trace.parent().map_or_else(|| PathBuf::from("."), Path::to_owned);
    let meta = read_meta(&dir)?;
    let Some(scenario_path) = args.scenario.clone().or_else(|| meta.scenario_path.clone()) else {
        return Err(Failure::input(anyhow::anyhow!(
            "no summary.json with a scenario_path beside {}: name the scenario with --scenario",
            args.trace.display()
        )));
    };
    let scenario = match load_scenario(&scenario_path) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("{error}");
            return Ok(2);
        }
    };
    let seed = meta.seed.unwrap_or(scenario.seed);
    let scenario = if meta.swarm { mqttsim_sim::explore::swarm(&scenario, seed) } else { scenario };
    let end = meta.duration_ms.map_or(scenario.duration.get(), Duration::from_millis);
    let records = match read_trace(&args.trace) {
        Ok(records) => records,
        // A file that is not zstd or not text is the user's input, not the machine's failure.
        Err(ReadTraceError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(Failure::input(
                anyhow::Error::new(e).context(format!("reading {}", args.trace.display())),
            ));
        }
        Err(ReadTraceError::Io(e)) => {
            return Err(Failure::environment(
                anyhow::Error::new(e).context(format!("reading {}", args.trace.display())),
            ));
        }
        Err(e @ ReadTraceError::Line(_)) => {
            return Err(Failure::input(
                anyhow::Error::new(e).context(format!("reading {}", args.trace.display())),
            ));
        }
    };
    let verdict = check(&scenario, &records, &CheckOptions { end, ..CheckOptions::default() });
    let shown = args
        .scenario
        .as_ref()
        .map(|p| p.display().to_string())
        .or(meta.scenario_arg)
        .unwrap_or_else(|| scenario_path.display().to_string());
    let replay = Replay {
        scenario: shown,
        duration: meta.duration_arg,
        swarm: meta.swarm,
        tick: meta.tick_arg,
    }
    .command(seed);
    let out = args.out.unwrap_or(dir);
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the output directory {}", out.display()))
        .map_err(Failure::environment)?;
    let input = ReportInput {
        scenario: &scenario,
        records: &records,
        verdict: &verdict,
        seed,
        end,
        replay: &replay,
        device: args.device.as_deref(),
    };
    let analysis = Analysis::build(&input);
    let files = write_analysis(&out, &analysis).map_err(Failure::environment)?;
    println!("checks: {} violation(s)", verdict.violation_count());
    print_v5_facts(&analysis);
    println!("report: {}", files.html.display());
    println!("summary: {}", files.markdown.display());
    println!("junit: {}", files.junit.display());
    println!("replay: {replay}");
    Ok(if verdict.failed() { 1 } else { 0 })
}
