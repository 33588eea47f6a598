//! `mqtt-sim bench`: how fast the simulator runs the fleets the project promises to handle, and
//! how fast it sweeps seeds.
//!
//! Each fleet case runs in a child process of this same binary, so that its peak memory is its
//! own. The child runs the scenario exactly as `mqtt-sim run` does (trace serialised as JSON
//! Lines, into a sink that discards the bytes so the disk is not measured) and prints one JSON
//! line; the parent prints a table with the goal of each case and the ratio of the goal to the
//! wall time.
//!
//! The sweep case runs `explore`'s own code over a 50-device, 5-minute scenario with 1 and 2
//! jobs at several ticks, and splits a seed's time into idle turmoil steps (measured on a world
//! of the same hosts with nothing running), traffic (the rest of the simulation) and checking.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use mqttsim_sim::explore::{ExploreOptions, explore};
use mqttsim_sim::plan::Plan;
use mqttsim_sim::scenario::{TimeSpan, load_scenario};
use mqttsim_sim::trace::{JsonLines, TraceSink};
use mqttsim_sim::world::{self, WorldConfig};
use mqttsim_sim::{RunOptions, run};
use serde::{Deserialize, Serialize};

use crate::Failure;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim bench                      # every case
  mqtt-sim bench --case flaky-farm    # one case
  mqtt-sim bench --case sweep         # seeds per second of a sweep, and where a seed's time goes

Cases (goals on a 2-core machine):
  flaky-farm      scenarios/flaky-farm.yaml, 1,000 devices, 1 simulated hour      (≤ 10 s)
  building-10k    scenarios/smart-building.yaml, 10,000 devices, 1 simulated hour (≤ 60 s)
  building-100k   smart-building with every indexed group ten times larger (99,991 devices), 10 simulated minutes
                  (must complete within the machine's 24 GiB)
  sweep           scenarios/qos2-heavy-loss.yaml cut to 5 minutes (51 devices), seeds 1..=40, 1 and 2 jobs,
                  ticks 10, 20 and 50 ms                                          (≥ 20 seeds/s on 2 jobs)
  shrink          each planted broker bug's catching shipped scenario and first failing seed, shrunk
                  (≤ 3 devices and ≤ 2 faults, in < 2 min each); exits 1 if a case misses it
  flaky-farm-run  `mqtt-sim run scenarios/flaky-farm.yaml` as a user runs it: simulate, check, write the
                  trace, trace.txt, verdict and report                            (≤ 3 s)
  idle-devices    2,000 and 10,000 connected, subscribed, silent MQTT 5.0 devices for 10 simulated
                  minutes: peak memory of each, and the bytes one more idle device costs")]
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
    /// Internal: the fleet size of an `idle-devices` child.
    #[arg(long, hide = true, default_value_t = IDLE_FLEETS[0])]
    devices: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Case {
    FlakyFarm,
    #[value(name = "building-10k")]
    Building10k,
    #[value(name = "building-100k")]
    Building100k,
    Sweep,
    Shrink,
    FlakyFarmRun,
    IdleDevices,
}

impl Case {
    const ALL: [Case; 7] = [
        Case::FlakyFarm,
        Case::Building10k,
        Case::Building100k,
        Case::Sweep,
        Case::Shrink,
        Case::FlakyFarmRun,
        Case::IdleDevices,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::FlakyFarm => "flaky-farm",
            Case::Building10k => "building-10k",
            Case::Building100k => "building-100k",
            Case::Sweep => "sweep",
            Case::Shrink => "shrink",
            Case::FlakyFarmRun => "flaky-farm-run",
            Case::IdleDevices => "idle-devices",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Case::FlakyFarm | Case::FlakyFarmRun => "flaky-farm.yaml",
            Case::Building10k | Case::Building100k => "smart-building.yaml",
            Case::Sweep => "qos2-heavy-loss.yaml",
            // Its scenarios are each planted bug's (see bench_shrink).
            Case::Shrink | Case::IdleDevices => "",
        }
    }

    fn duration(self) -> Duration {
        match self {
            Case::FlakyFarm | Case::Building10k | Case::FlakyFarmRun => Duration::from_secs(3600),
            Case::Building100k | Case::IdleDevices => Duration::from_secs(600),
            Case::Sweep => Duration::from_secs(300),
            Case::Shrink => Duration::ZERO,
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
            Case::FlakyFarmRun => Some(Duration::from_secs(3)),
            Case::Building100k | Case::Sweep | Case::Shrink | Case::IdleDevices => None,
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
        let m = if case == Case::IdleDevices {
            measure_idle(args.devices)
        } else {
            measure(case, &args.scenarios)
        }
        .map_err(Failure::input)?;
        println!("{}", serde_json::to_string(&m).map_err(Failure::environment)?);
        return Ok(0);
    }
    let cases = if args.case.is_empty() { Case::ALL.to_vec() } else { args.case.clone() };
    let exe =
        std::env::current_exe().context("finding this binary").map_err(Failure::environment)?;
    let (fleets, others): (Vec<Case>, Vec<Case>) = cases.into_iter().partition(|&c| {
        !matches!(c, Case::Sweep | Case::Shrink | Case::FlakyFarmRun | Case::IdleDevices)
    });
    if !fleets.is_empty() {
        run_fleets(&exe, &fleets, &args.scenarios)?;
    }
    if others.contains(&Case::Sweep) {
        sweep_bench(&args.scenarios.join(Case::Sweep.file())).map_err(Failure::input)?;
    }
    if others.contains(&Case::FlakyFarmRun) {
        run_as_a_user(&exe, &args.scenarios)?;
    }
    if others.contains(&Case::IdleDevices) {
        idle_bench(&exe)?;
    }
    if others.contains(&Case::Shrink) {
        let met = crate::bench_shrink::shrink_bench(&args.scenarios).map_err(Failure::input)?;
        return Ok(if met { 0 } else { 1 });
    }
    Ok(0)
}

/// Runs one case in a child process of this binary, so that its peak memory is its own.
fn child(exe: &Path, args: &[&str]) -> Result<Measurement, Failure> {
    let out = Command::new(exe)
        .arg("bench")
        .args(args)
        .output()
        .context("starting a benchmark child")
        .map_err(Failure::environment)?;
    if !out.status.success() {
        return Err(Failure::environment(anyhow::anyhow!(
            "benchmark child {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    serde_json::from_slice(&out.stdout)
        .context("reading the child's measurement")
        .map_err(Failure::environment)
}

fn run_fleets(exe: &Path, cases: &[Case], scenarios: &Path) -> Result<(), Failure> {
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
    for &case in cases {
        eprintln!("running {} ...", case.name());
        let dir = scenarios.to_string_lossy();
        let m = child(exe, &["--child", case.name(), "--scenarios", &dir])?;
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
    Ok(())
}

/// The seeds of the sweep case.
const SWEEP_SEEDS: std::ops::RangeInclusive<u64> = 1..=40;

/// Seeds per second of `explore` over the sweep case's scenario, and where a seed's time goes.
fn sweep_bench(path: &Path) -> anyhow::Result<()> {
    let case = Case::Sweep;
    let mut scenario = load_scenario(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    scenario.duration = TimeSpan(case.duration());
    let seeds: Vec<u64> = SWEEP_SEEDS.collect();
    let hosts = 1 + Plan::new(&scenario, scenario.seed, case.duration())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .hosts
        .len();
    println!(
        "\nsweep: {} cut to {} s ({} devices, {hosts} turmoil hosts), seeds {}..={}; goal \
         >= 20 seeds/s with 2 jobs",
        scenario.name,
        case.duration().as_secs(),
        scenario.device_count(),
        SWEEP_SEEDS.start(),
        SWEEP_SEEDS.end()
    );
    println!(
        "{:>5} {:>5} {:>8} {:>8} | per seed, 1 job: {:>7} {:>11} {:>8} {:>7}",
        "tick", "jobs", "seeds/s", "speedup", "total", "idle steps", "traffic", "check"
    );
    for tick_ms in [10u64, 20, 50] {
        let tick = Duration::from_millis(tick_ms);
        let steps = case.duration().as_micros() / tick.as_micros();
        let idle = idle_step_cost(hosts, tick) * u32::try_from(steps)?;
        let mut one_job = 0.0;
        for jobs in [1usize, 2] {
            eprintln!("sweeping with tick {tick_ms} ms on {jobs} job(s) ...");
            let options = ExploreOptions { jobs, tick, ..ExploreOptions::default() };
            let started = Instant::now();
            let results = explore(&scenario, &seeds, &options, &|_| {});
            let wall = started.elapsed().as_secs_f64();
            if let Some(failed) = results.iter().find(|r| r.failed) {
                bail!(
                    "seed {} failed: {:?} {:?}",
                    failed.seed,
                    failed.failed_guarantees,
                    failed.error
                );
            }
            let rate = seeds.len() as f64 / wall;
            let n = results.len() as f64;
            if jobs == 1 {
                one_job = rate;
                let total = results.iter().map(|r| r.wall_ms).sum::<u64>() as f64 / n;
                let check = results.iter().map(|r| r.check_ms).sum::<u64>() as f64 / n;
                let idle_ms = idle.as_secs_f64() * 1000.0;
                println!(
                    "{:>3}ms {jobs:>5} {rate:>8.1} {:>8} | {:>24.0} ms {:>8.0} ms {:>5.0} ms {:>4.0} ms",
                    tick_ms,
                    "1.00x",
                    total,
                    idle_ms,
                    (total - check - idle_ms).max(0.0),
                    check
                );
            } else {
                println!("{:>3}ms {jobs:>5} {rate:>8.1} {:>7.2}x |", tick_ms, rate / one_job);
            }
        }
    }
    println!(
        "idle steps: {hosts} hosts stepped with nothing running (turmoil ticks each host's runtime and \
         its network's every step); traffic: the rest of the simulation"
    );
    Ok(())
}

/// The wall time of one turmoil step of a world of `hosts` hosts where nothing happens: the
/// floor under every seed, paid once per tick of simulated time.
fn idle_step_cost(hosts: usize, tick: Duration) -> Duration {
    let mut sim = world::build_sim(&WorldConfig { tick, ..WorldConfig::default() });
    for k in 0..hosts {
        let name = if k == 0 { world::BROKER_HOST.to_owned() } else { world::device_host(k - 1) };
        sim.host(name.as_str(), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    let steps = 20_000u32;
    let started = Instant::now();
    for _ in 0..steps {
        sim.step().expect("an idle world steps");
    }
    started.elapsed() / steps
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
    measure_scenario(&scenario)
}

/// Runs `scenario` as `mqtt-sim run` does, its trace serialised into a sink that counts bytes.
fn measure_scenario(scenario: &mqttsim_sim::scenario::Scenario) -> anyhow::Result<Measurement> {
    let mut sink = JsonLines(Counting(0));
    let started = Instant::now();
    let report = {
        let trace: Vec<&mut dyn TraceSink> = vec![&mut sink];
        run(scenario, RunOptions { trace, ..RunOptions::default() })
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

/// The fleet sizes of the idle-devices case: the cost of one more idle device is the difference
/// of their peak memory over the difference of their sizes, so what every run holds whatever its
/// size (the binary, the runtime, the broker's own tables) drops out.
const IDLE_FLEETS: [u32; 2] = [2_000, 10_000];

/// A fleet that connects, subscribes to one topic of its own and then says nothing but its
/// keepalive: what an idle device costs the simulator (its client core, link model, driver
/// buffers and its session at the broker).
fn idle_scenario(devices: u32) -> String {
    format!(
        "name: idle-devices
seed: 1
duration: 10m
protocol: \"5.0\"
sites:
  - name: plant
    link: {{ latency: 5ms }}
devices:
  - group: idle
    site: plant
    count: {devices}
    client_id: \"idle-{{i:05}}\"
    clean_session: false
    session_expiry: 1h
    keepalive: 60s
    subscribe:
      - {{ filter: \"idle/{{i:05}}/cmd\", qos: 1 }}
"
    )
}

fn measure_idle(devices: u32) -> anyhow::Result<Measurement> {
    let source = idle_scenario(devices);
    let scenario = mqttsim_sim::scenario::parse_scenario(&source, Path::new("idle-devices.yaml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    measure_scenario(&scenario)
}

/// Peak memory of the idle fleets, and the bytes per idle device.
fn idle_bench(exe: &Path) -> Result<(), Failure> {
    println!(
        "{:<14} {:>8} {:>10} {:>9} {:>10}",
        "case", "devices", "simulated", "wall", "peak RSS"
    );
    let mut runs = Vec::new();
    for devices in IDLE_FLEETS {
        eprintln!("running idle-devices with {devices} devices ...");
        let m = child(exe, &["--child", "idle-devices", "--devices", &devices.to_string()])?;
        println!(
            "{:<14} {:>8} {:>9.0}s {:>8.2}s {:>6.0} MiB",
            "idle-devices", m.devices, m.simulated_s, m.wall_s, m.peak_rss_mib
        );
        runs.push(m);
    }
    if let [small, large] = &runs[..]
        && large.devices > small.devices
    {
        let bytes = (large.peak_rss_mib - small.peak_rss_mib) * 1024.0 * 1024.0
            / (large.devices - small.devices) as f64;
        println!(
            "one more idle device: {:.1} KiB of peak memory (the difference of the two runs' peaks \
             over the difference of their sizes)",
            bytes / 1024.0
        );
    }
    Ok(())
}

/// `mqtt-sim run` on flaky-farm in a child process, timed from its start to its exit: what a
/// user waits for (the simulation, the checker, the trace files, the verdict and the report).
fn run_as_a_user(exe: &Path, scenarios: &Path) -> Result<(), Failure> {
    let case = Case::FlakyFarmRun;
    let scenario = scenarios.join(case.file());
    let devices = load_scenario(&scenario).map_err(|e| Failure::input(anyhow::anyhow!("{e}")))?;
    let out = std::env::temp_dir().join(format!("mqtt-sim-bench-run-{}", std::process::id()));
    eprintln!("running {} ...", case.name());
    let started = Instant::now();
    let status = Command::new(exe)
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("starting mqtt-sim run")
        .map_err(Failure::environment);
    let wall = started.elapsed();
    let written = std::fs::read_dir(&out)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0u64);
    let _ = std::fs::remove_dir_all(&out);
    let status = status?;
    // 0: the expectations held; 1: a violation, which a benchmark of the shipped scenario would
    // be wrong to time as a success.
    if !status.success() {
        return Err(Failure::environment(anyhow::anyhow!("mqtt-sim run failed: {status}")));
    }
    let goal = case.goal().unwrap_or_default().as_secs_f64();
    println!(
        "{:<14} {:>8} {:>10} {:>9} {:>14} {:>18}",
        "case", "devices", "simulated", "wall", "written", "goal (goal/wall)"
    );
    println!(
        "{:<14} {:>8} {:>9.0}s {:>8.2}s {:>10.1} MiB {:>18}",
        case.name(),
        devices.device_count(),
        case.duration().as_secs_f64(),
        wall.as_secs_f64(),
        written as f64 / (1024.0 * 1024.0),
        format!("{goal:.0} s ({:.1}x)", goal / wall.as_secs_f64())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The idle fleet is a valid scenario of the size asked for, whose devices subscribe and
    /// never publish.
    #[test]
    fn the_idle_fleet_is_a_valid_scenario_of_silent_subscribers() {
        let scenario = mqttsim_sim::scenario::parse_scenario(
            &idle_scenario(12),
            Path::new("idle-devices.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.device_count(), 12);
        let group = &scenario.devices[0];
        assert!(group.publish.is_empty());
        assert_eq!(group.subscribe.len(), 1);
    }
}
