//! `mqtt-sim bench`: how fast the simulator runs the fleets the project promises to handle.
//!
//! Each case runs in a child process of this same binary, so that its peak memory is its own.
//! The child runs the scenario exactly as `mqtt-sim run` does (trace serialised as JSON Lines, into
//! a sink that discards the bytes so the disk is not measured) and prints one JSON line; the
//! parent prints a table with the goal of each case and the ratio of the goal to the wall time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use mqttsim_sim::scenario::{TimeSpan, load_scenario};
use mqttsim_sim::trace::{JsonLines, TraceSink};
use mqttsim_sim::{RunOptions, run};
use serde::{Deserialize, Serialize};

use crate::Failure;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim bench                      # all three cases, each in its own process
  mqtt-sim bench --case flaky-farm    # one case

Cases (goals on a 2-core machine):
  flaky-farm      scenarios/flaky-farm.yaml, 1,000 devices, 1 simulated hour      (≤ 10 s)
  building-10k    scenarios/smart-building.yaml, 10,000 devices, 1 simulated hour (≤ 60 s)
  building-100k   smart-building with every indexed group ten times larger (99,991 devices), 10 simulated minutes
                  (must complete within the machine's 24 GiB)")]
pub struct BenchArgs {
    /// Which cases to run; all of them by default.
    #[arg(long, value_enum)]
    case: Vec<Case>,
    /// The folder holding the shipped scenarios.
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
    /// Internal: run one case in this process and print its JSON result.
    #[arg(long, hide = true)]
    child: Option<Case>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Case {
    FlakyFarm,
    #[value(name = "building-10k")]
    Building10k,
    #[value(name = "building-100k")]
    Building100k,
}

impl Case {
    const ALL: [Case; 3] = [Case::FlakyFarm, Case::Building10k, Case::Building100k];

    fn name(self) -> &'static str {
        match self {
            Case::FlakyFarm => "flaky-farm",
            Case::Building10k => "building-10k",
            Case::Building100k => "building-100k",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Case::FlakyFarm => "flaky-farm.yaml",
            Case::Building10k | Case::Building100k => "smart-building.yaml",
        }
    }

    fn duration(self) -> Duration {
        match self {
            Case::FlakyFarm | Case::Building10k => Duration::from_secs(3600),
            Case::Building100k => Duration::from_secs(600),
        }
    }

    fn scale(self) -> u32 {
        match self {
            Case::Building100k => 10,
            _ => 1,
        }
    }

    /// The wall-time goal, where the issue sets one.
    fn goal(self) -> Option<Duration> {
        match self {
            Case::FlakyFarm => Some(Duration::from_secs(10)),
            Case::Building10k => Some(Duration::from_secs(60)),
            Case::Building100k => None,
        }
    }
}

/// What one case measured.
#[derive(Debug, Serialize, Deserialize)]
struct Measurement {
    devices: u64,
    simulated_s: f64,
    wall_s: f64,
    delivered: u64,
    trace_records: u64,
    trace_bytes: u64,
    peak_rss_mib: f64,
}

pub fn run_bench(args: BenchArgs) -> Result<u8, Failure> {
    if let Some(case) = args.child {
        let m = measure(case, &args.scenarios).map_err(Failure::input)?;
        println!("{}", serde_json::to_string(&m).map_err(Failure::environment)?);
        return Ok(0);
    }
    let cases = if args.case.is_empty() { Case::ALL.to_vec() } else { args.case.clone() };
    let exe =
        std::env::current_exe().context("finding this binary").map_err(Failure::environment)?;
    println!(
        "{:<14} {:>8} {:>10} {:>9} {:>12} {:>13} {:>10} {:>18}",
        "case",
        "devices",
        "simulated",
        "wall",
        "sim s/wall s",
        "delivered/s",
        "peak RSS",
        "goal (goal/wall)"
    );
    for case in cases {
        eprintln!("running {} ...", case.name());
        let out = Command::new(&exe)
            .args(["bench", "--child", case.name(), "--scenarios"])
            .arg(&args.scenarios)
            .output()
            .context("starting a benchmark child")
            .map_err(Failure::environment)?;
        if !out.status.success() {
            return Err(Failure::environment(anyhow::anyhow!(
                "case {} failed: {}",
                case.name(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let m: Measurement = serde_json::from_slice(&out.stdout)
            .context("reading the child's measurement")
            .map_err(Failure::environment)?;
        let goal = match case.goal() {
            Some(goal) => {
                format!("{:.0} s ({:.1}x)", goal.as_secs_f64(), goal.as_secs_f64() / m.wall_s)
            }
            None => "fits in 24 GiB".to_string(),
        };
        println!(
            "{:<14} {:>8} {:>9.0}s {:>8.2}s {:>12.0} {:>13.0} {:>7.0} MiB {:>18}",
            case.name(),
            m.devices,
            m.simulated_s,
            m.wall_s,
            m.simulated_s / m.wall_s,
            m.delivered as f64 / m.wall_s,
            m.peak_rss_mib,
            goal
        );
        let _ = std::io::stdout().flush();
    }
    Ok(0)
}

/// Counts what passes through, like a file would, without a disk.
struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn measure(case: Case, scenarios: &Path) -> anyhow::Result<Measurement> {
    let path = scenarios.join(case.file());
    let mut scenario = load_scenario(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Groups whose client ids carry the index grow; a singleton (one id) stays one device.
    for group in &mut scenario.devices {
        if group.client_id.uses_index() {
            group.count *= case.scale();
        }
    }
    scenario.duration = TimeSpan(case.duration());
    let mut sink = JsonLines(Counting(0));
    let started = Instant::now();
    let report = {
        let trace: Vec<&mut dyn TraceSink> = vec![&mut sink];
        run(&scenario, RunOptions { trace, ..RunOptions::default() })
            .map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let wall = started.elapsed();
    if report.devices == 0 {
        bail!("the scenario has no devices");
    }
    let delivered = report.delivered.qos0 + report.delivered.qos1 + report.delivered.qos2;
    Ok(Measurement {
        devices: report.devices,
        simulated_s: report.simulated_ms as f64 / 1000.0,
        wall_s: wall.as_secs_f64(),
        delivered,
        trace_records: report.trace_records,
        trace_bytes: sink.0.0,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// The process's peak resident memory (VmHWM), in MiB; 0 where /proc is not there.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
