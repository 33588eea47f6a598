//! `mqtt-sim explore`: sweep a scenario over many seeds, in parallel, and list the failing ones.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mqttsim_sim::explore::{ExploreOptions, SeedResult, Shard, explore, parse_seeds};
use mqttsim_sim::report::render_explore_index;
use mqttsim_sim::scenario::{TimeSpan, load_scenario};

use crate::{Failure, Replay};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim explore scenarios/will-takeover.yaml --seeds 1..1000 --jobs 2
  mqtt-sim explore scenarios/flaky-farm.yaml --seeds 1..=200 --duration 10m --swarm
  mqtt-sim explore scenarios/flaky-farm.yaml --seeds 1..10000 --shard 3/8   # one CI machine of 8
  mqtt-sim explore --merge shard-*.jsonl                                      # the whole sweep

Each seed is a full run judged by the checker; the sweep prints what its seeds went through
(coverage: resends, takeovers, resumptions, overflows, Wills by cause, ...) and warns of
expectations some seeds gave nothing to judge. Results go to a JSON Lines file, one line per
seed in seed order, written as the sweep goes, so an interrupted sweep keeps what it finished
(default reports/<scenario>/explore-<seeds>.jsonl); files of the shards of one sweep
concatenate, and --merge summarises them. A failing seed is printed as soon as it is found, and
listed again at the end, with the command that replays it. Without a terminal, a progress line
goes to stderr every 5% of the seeds. A seed on which the simulator itself panics fails with
the panic's message; the sweep goes on. Exit codes: 0 no seed failed, 1 some seed failed,
2 bad input, 3 the results could not be written.")]
pub struct ExploreArgs {
    /// The scenario file (YAML).
    scenario: Option<PathBuf>,
    /// The seeds: `N`, `A..B` (B excluded) or `A..=B`.
    #[arg(long, default_value = "1..101")]
    seeds: String,
    /// Worker threads, at least 1 (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    jobs: Option<u64>,
    /// Vary faults, loss and fault rates per seed (swarm testing).
    #[arg(long)]
    swarm: bool,
    /// Take only shard K of N of the seeds (every N-th, from the K-th).
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Replaces the scenario's duration (`90s`, `10m`).
    #[arg(long, value_parser = TimeSpan::parse)]
    duration: Option<TimeSpan>,
    /// Simulated time per turmoil step (default 10ms): larger steps make idle time cheaper.
    #[arg(long, value_parser = TimeSpan::parse)]
    tick: Option<TimeSpan>,
    /// Where to write the per-seed results (JSON Lines).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Summarise result files of earlier sweeps or shards instead of running.
    #[arg(long, num_args = 1.., conflicts_with_all = ["scenario", "shard", "swarm"])]
    merge: Vec<PathBuf>,
}

pub fn run(args: ExploreArgs) -> Result<u8, Failure> {
    if !args.merge.is_empty() {
        return merge(&args.merge);
    }
    let Some(path) = args.scenario.clone() else {
        return Err(Failure::input(anyhow::anyhow!(
            "name a scenario file, or --merge result files"
        )));
    };
    let scenario = match load_scenario(&path) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("{error}");
            return Ok(2);
        }
    };
    let range =
        parse_seeds(&args.seeds).map_err(|e| Failure::input(anyhow::anyhow!("--seeds: {e}")))?;
    let shard = args.shard.unwrap_or(Shard::ALL);
    let seeds = shard.select(range.clone());
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| usize::try_from(j).unwrap_or(1),
    );
    let options = ExploreOptions {
        jobs,
        swarm: args.swarm,
        duration: args.duration.map(TimeSpan::get),
        tick: args.tick.map_or(ExploreOptions::default().tick, TimeSpan::get),
    };
    let results_path = args.results.clone().unwrap_or_else(|| {
        let mut name = format!("explore-{}", args.seeds.replace("..", "-").replace('=', ""));
        if shard != Shard::ALL {
            name.push_str(&format!("-shard-{}-of-{}", shard.index, shard.count));
        }
        Path::new("reports").join(&scenario.name).join(name + ".jsonl")
    });
    if let Some(dir) = results_path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))
            .map_err(Failure::environment)?;
    }

    println!(
        "exploring {} ({}) over {} seed(s) {}{}{} on {jobs} job(s)",
        scenario.name,
        path.display(),
        seeds.len(),
        args.seeds,
        if shard == Shard::ALL {
            String::new()
        } else {
            format!(", shard {}/{}", shard.index, shard.count)
        },
        if args.swarm { ", swarm" } else { "" },
    );
    let how = Replay {
        scenario: path.display().to_string(),
        duration: args.duration.map(|d| d.to_string()),
        swarm: args.swarm,
        tick: args.tick.map(|t| t.to_string()),
    };
    let replay = |seed: u64| how.command(seed);
    let bar = (std::io::stderr().is_terminal() && seeds.len() > 1).then(|| {
        let bar = ProgressBar::new(seeds.len() as u64);
        let style = ProgressStyle::with_template("{pos}/{len} seeds [{wide_bar}] {msg} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    });
    let started = Instant::now();
    let sink = ResultSink::create(&results_path, &seeds)?;
    let progress = std::sync::Mutex::new(Progress::default());
    let on_result = |r: &SeedResult| {
        let mut p = progress.lock().expect("no panic while reporting progress");
        p.done += 1;
        if r.failed {
            p.failing += 1;
            // Say a failing seed at once: a long sweep should not hide it until the end.
            let line =
                format!("seed {} failed: {}; replay: {}", r.seed, what_failed(r), replay(r.seed));
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
        if let Err(error) = sink.push(r.clone()) {
            p.write_error.get_or_insert(error);
        }
        match &bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(format!("{} failing", p.failing));
            }
            // Without a terminal (CI logs, nohup), a line every 5% of the seeds.
            None if p.done * 20 / seeds.len() > (p.done - 1) * 20 / seeds.len() => eprintln!(
                "{}/{} seeds, {} failing, {:.0} s",
                p.done,
                seeds.len(),
                p.failing,
                started.elapsed().as_secs_f64()
            ),
            None => {}
        }
    };
    let results = explore(&scenario, &seeds, &options, &on_result);
    let wall = started.elapsed();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(error) =
        progress.into_inner().expect("no panic while reporting progress").write_error
    {
        return Err(Failure::environment(error));
    }
    sink.finish()?;
    let sim_ms: u64 = results.iter().map(|r| r.wall_ms - r.check_ms).sum();
    let check_ms: u64 = results.iter().map(|r| r.check_ms).sum();
    let n = results.len().max(1) as u64;
    println!(
        "{} seeds in {:.1} s: {:.1} seeds/s on {jobs} job(s); per seed {} ms simulating, {} ms checking",
        results.len(),
        wall.as_secs_f64(),
        results.len() as f64 / wall.as_secs_f64().max(f64::EPSILON),
        sim_ms / n,
        check_ms / n,
    );
    print_exercised(&results);
    println!("results: {}", results_path.display());
    let index = results_path.with_file_name("index.html");
    std::fs::write(&index, render_explore_index(&scenario.name, &results, &replay))
        .with_context(|| format!("writing {}", index.display()))
        .map_err(Failure::environment)?;
    println!("index: {}", index.display());
    Ok(summarise(&results, &replay))
}

/// What the sweep went through, and the expectations some seeds had nothing to judge for.
fn print_exercised(results: &[SeedResult]) {
    let mut coverage = mqttsim_sim::check::Coverage::default();
    let mut unexercised: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in results {
        coverage.merge(&r.coverage);
        for g in &r.not_exercised {
            *unexercised.entry(g.as_str()).or_default() += 1;
        }
    }
    println!("coverage: {}", coverage.summary());
    for (g, n) in unexercised {
        eprintln!(
            "warning: `{g}` was asked for but not exercised in {n} of {} seed(s)",
            results.len()
        );
    }
}

/// How far a sweep has come.
#[derive(Default)]
struct Progress {
    done: usize,
    failing: usize,
    write_error: Option<anyhow::Error>,
}

/// Writes seed results to the results file in seed order as soon as every earlier seed is in,
/// so that an interrupted sweep leaves the results of a prefix of its seeds.
struct ResultSink {
    path: PathBuf,
    state: std::sync::Mutex<SinkState>,
}

struct SinkState {
    out: BufWriter<File>,
    /// The seeds in the order their lines go out.
    order: Vec<u64>,
    /// How many lines are out.
    written: usize,
    /// Results that came in before an earlier seed's.
    waiting: std::collections::BTreeMap<u64, SeedResult>,
}

impl ResultSink {
    fn create(path: &Path, seeds: &[u64]) -> Result<ResultSink, Failure> {
        let file = File::create(path)
            .with_context(|| format!("creating {}", path.display()))
            .map_err(Failure::environment)?;
        let state = SinkState {
            out: BufWriter::new(file),
            order: seeds.to_vec(),
            written: 0,
            waiting: std::collections::BTreeMap::new(),
        };
        Ok(ResultSink { path: path.to_owned(), state: std::sync::Mutex::new(state) })
    }

    fn push(&self, result: SeedResult) -> anyhow::Result<()> {
        let mut s = self.state.lock().expect("no panic while writing results");
        s.waiting.insert(result.seed, result);
        let mut wrote = false;
        while let Some(&seed) = s.order.get(s.written) {
            let Some(r) = s.waiting.remove(&seed) else { break };
            let line = serde_json::to_string(&r)?;
            writeln!(s.out, "{line}")
                .with_context(|| format!("writing {}", self.path.display()))?;
            s.written += 1;
            wrote = true;
        }
        if wrote {
            s.out.flush().with_context(|| format!("writing {}", self.path.display()))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Failure> {
        let mut s = self.state.into_inner().expect("no panic while writing results");
        assert_eq!(s.written, s.order.len(), "every seed's result was written, in order");
        s.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
            .map_err(Failure::environment)
    }
}

fn what_failed(r: &SeedResult) -> String {
    match &r.error {
        Some(error) => format!("run failed: {error}"),
        None => format!("{} violation(s): {}", r.violations, r.failed_guarantees.join(", ")),
    }
}

/// Prints the failing seeds; returns the exit code.
fn summarise(results: &[SeedResult], replay: &dyn Fn(u64) -> String) -> u8 {
    let failing: Vec<&SeedResult> = results.iter().filter(|r| r.failed).collect();
    if failing.is_empty() {
        println!("all {} seed(s) passed", results.len());
        return 0;
    }
    println!("{} of {} seed(s) failed:", failing.len(), results.len());
    for r in failing {
        let what = what_failed(r);
        println!("  seed {:>8}  {what}\n                  replay: {}", r.seed, replay(r.seed));
    }
    1
}

fn merge(files: &[PathBuf]) -> Result<u8, Failure> {
    let mut results = Vec::new();
    for path in files {
        let file = File::open(path)
            .with_context(|| format!("opening {}", path.display()))
            .map_err(Failure::input)?;
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line
                .with_context(|| format!("reading {}", path.display()))
                .map_err(Failure::input)?;
            if line.trim().is_empty() {
                continue;
            }
            let r: SeedResult = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a seed result", path.display(), i + 1))
                .map_err(Failure::input)?;
            results.push(r);
        }
    }
    results.sort_by_key(|r| r.seed);
    results.dedup_by_key(|r| r.seed);
    let wall: Duration = results.iter().map(|r| Duration::from_millis(r.wall_ms)).sum();
    println!(
        "merged {} file(s): {} seed(s), {:.1} s of work",
        files.len(),
        results.len(),
        wall.as_secs_f64()
    );
    print_exercised(&results);
    Ok(summarise(&results, &|seed| format!("mqtt-sim run SCENARIO --seed {seed}")))
}
