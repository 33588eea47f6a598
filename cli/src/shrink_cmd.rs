//! `mqtt-sim shrink`: reduce a failing seed to a small scenario that fails the same guarantee.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mqttsim_sim::check::Guarantee;
use mqttsim_sim::scenario::{Scenario, TimeSpan, load_scenario};
use mqttsim_sim::shrink::{Figures, Progress, ShrinkError, ShrinkOptions, Stop, shrink};

use crate::Failure;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim shrink scenarios/will-takeover.yaml --seed 17
  mqtt-sim shrink scenarios/flaky-farm.yaml --seed 4 --swarm --duration 20m --out farm-4.yaml
  mqtt-sim shrink scenarios/qos2-heavy-loss.yaml --seed 9 --guarantee ordering --max-runs 200
  mqtt-sim explore scenarios/will-takeover.yaml --seeds 1..=100 --shrink   # the first failure

Runs the scenario with the seed, takes the guarantee that failed (the first, or --guarantee),
writes the run out as plain faults at their times (random mixes drawn, swarm variation
applied, repetitions listed), then keeps removing what the failure does not need: device groups
and devices (never those the violation names), faults, simulated time, link loss, jitter and
flapping (latency made fixed), fault time and length, publish streams, subscriptions, Wills.
Each candidate is a whole run; the same input gives the same output unless the time budget
stops it. The result is a standalone scenario with the seed in it: `mqtt-sim run FILE` fails
the same guarantee. A comment header says where it came from and what was removed.
Exit codes: 0 shrunk, 2 bad input or a seed that does not fail, 3 the result could not be
written.")]
pub struct ShrinkArgs {
    /// The scenario file (YAML).
    scenario: PathBuf,
    /// The failing seed.
    #[arg(long)]
    seed: u64,
    /// The seed failed in a swarm sweep (`explore --swarm`): vary the scenario by it first.
    #[arg(long)]
    swarm: bool,
    /// Replaces the scenario's duration, as in the sweep that failed (`90s`, `10m`).
    #[arg(long, value_parser = TimeSpan::parse)]
    duration: Option<TimeSpan>,
    /// Simulated time per turmoil step, as in the sweep that failed (default 10ms).
    #[arg(long, value_parser = crate::parse_tick)]
    tick: Option<TimeSpan>,
    /// The guarantee to keep failing (default: the first that failed), such as `wills`.
    #[arg(long, value_parser = parse_guarantee)]
    guarantee: Option<Guarantee>,
    /// Where to write the shrunk scenario (default: reports/<scenario>/shrunk-<seed>.yaml).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The most runs to make.
    #[arg(long, default_value_t = 500)]
    max_runs: u32,
    /// The most wall time to spend (`5m`).
    #[arg(long, value_parser = TimeSpan::parse, default_value = "5m")]
    time_limit: TimeSpan,
}

fn parse_guarantee(text: &str) -> Result<Guarantee, String> {
    Guarantee::ALL.into_iter().find(|g| g.name() == text).ok_or_else(|| {
        let names: Vec<&str> = Guarantee::ALL.iter().map(|g| g.name()).collect();
        format!("`{text}` is not a guarantee: expected one of {}", names.join(", "))
    })
}

pub fn run(args: ShrinkArgs) -> Result<u8, Failure> {
    let scenario = match load_scenario(&args.scenario) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("{error}");
            return Ok(2);
        }
    };
    let options = ShrinkOptions {
        seed: args.seed,
        swarm: args.swarm,
        duration: args.duration.map(TimeSpan::get),
        tick: args.tick.map_or(ShrinkOptions::new(0).tick, TimeSpan::get),
        guarantee: args.guarantee,
        max_runs: args.max_runs,
        time_limit: args.time_limit.get(),
    };
    let source = args.scenario.display().to_string();
    shrink_to_file(&scenario, &source, &options, args.out.as_deref())
}

/// Shrinks, shows progress on stderr, writes the result and prints before and after; the exit
/// code. `explore --shrink` calls it too.
pub fn shrink_to_file(
    scenario: &Scenario,
    source: &str,
    options: &ShrinkOptions,
    out: Option<&Path>,
) -> Result<u8, Failure> {
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| {
        Path::new("reports").join(&scenario.name).join(format!("shrunk-{}.yaml", options.seed))
    });
    println!(
        "shrinking {} ({source}), seed {}: at most {} runs and {}",
        scenario.name,
        options.seed,
        options.max_runs,
        TimeSpan(options.time_limit)
    );
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut on_progress = |p: &Progress<'_>| {
        let now = figures(&p.current);
        match &bar {
            Some(bar) => bar.set_message(format!(
                "run {}/{}: reducing {}; smallest failing so far: {now}",
                p.runs, p.max_runs, p.pass
            )),
            // Off a terminal, a line for each step that kept the failure.
            None if p.accepted => eprintln!("run {}: {} -> {now}", p.runs, p.pass),
            None => {}
        }
    };
    let result = shrink(scenario, source, options, &mut on_progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let shrunk = match result {
        Ok(shrunk) => shrunk,
        Err(error @ (ShrinkError::Plan(_) | ShrinkError::RunFailed { .. })) => {
            return Err(Failure::input(error));
        }
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(2);
        }
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))
            .map_err(Failure::environment)?;
    }
    std::fs::write(&out, &shrunk.yaml)
        .with_context(|| format!("writing {}", out.display()))
        .map_err(Failure::environment)?;
    let statement = shrunk.statement.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default();
    println!("guarantee: {}{statement}", shrunk.guarantee);
    if !shrunk.violation.is_empty() {
        println!("first violation: {}", shrunk.violation);
    }
    let (b, a) = (&shrunk.before, &shrunk.after);
    println!("                 before -> after");
    println!("  devices        {:>6} -> {}", b.devices, a.devices);
    println!(
        "  faults         {:>6} -> {}   ({} once made explicit)",
        b.faults, a.faults, shrunk.explicit_faults
    );
    println!("  duration       {:>6} -> {}", TimeSpan(b.duration), TimeSpan(a.duration));
    println!("  trace records  {:>6} -> {}", b.trace_records, a.trace_records);
    for line in &shrunk.removed {
        println!("removed {line}");
    }
    let why = match shrunk.stop {
        Stop::Done => "nothing more could be removed",
        Stop::Runs => "the run budget was spent (--max-runs)",
        Stop::Time => "the time budget was spent (--time-limit)",
    };
    println!(
        "{} runs in {:.1} s; stopped because {why}",
        shrunk.runs,
        started.elapsed().as_secs_f64()
    );
    println!("shrunk: {}", out.display());
    let tick = if options.tick == ShrinkOptions::new(0).tick {
        String::new()
    } else {
        format!(" --tick {}", TimeSpan(options.tick))
    };
    println!("replay: mqtt-sim run {}{tick}", out.display());
    Ok(0)
}

fn figures(f: &Figures) -> String {
    format!(
        "{} device(s), {} fault(s), {}, {} trace records",
        f.devices,
        f.faults,
        TimeSpan(f.duration),
        f.trace_records
    )
}
