//! `mqtt-sim explore`: sweep a scenario over many seeds, in parallel, and list the failing ones.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mqttsim_sim::explore::{ExploreOptions, SeedResult, Shard, explore, parse_seeds};
use mqttsim_sim::report::render_explore_index;
use mqttsim_sim::results::{self, SweepHeader};
use mqttsim_sim::scenario::{TimeSpan, load_scenario};
use mqttsim_sim::shrink::ShrinkOptions;

use crate::{Failure, Replay};

/// The variable a Kubernetes Indexed Job sets in each pod: the pod's index, from 0.
pub const COMPLETION_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";
/// The variable that gives the number of shards with it (the Job's `completions`).
pub const SHARD_COUNT_VAR: &str = "MQTT_SIM_SHARD_COUNT";

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim explore scenarios/will-takeover.yaml --seeds 1..1000 --jobs 2
  mqtt-sim explore scenarios/flaky-farm.yaml --seeds 1..=200 --duration 10m --swarm
  mqtt-sim explore scenarios/flaky-farm.yaml --seeds 1..10000 --shard 3/8   # one CI machine of 8
  JOB_COMPLETION_INDEX=2 MQTT_SIM_SHARD_COUNT=8 mqtt-sim explore scenarios/flaky-farm.yaml --seeds 1..10000
  mqtt-sim explore --merge shard-*.jsonl --results sweep.jsonl               # the whole sweep
  mqtt-sim explore scenarios/flaky-farm.yaml --seeds 1..10000 --resume reports/flaky-farm/explore-1-10000.jsonl
  mqtt-sim explore scenarios/will-takeover.yaml --seeds 1..=100 --shrink     # shrink the first failure

Each seed is a full run judged by the checker; the sweep prints what its seeds went through
(coverage: resends, takeovers, resumptions, overflows, Wills by cause, ...) and warns of
expectations some seeds gave nothing to judge. Results go to a JSON Lines file: a header line
naming the sweep, then one line per seed in seed order, written as the sweep goes, so an
interrupted sweep keeps what it finished (default reports/<scenario>/explore-<seeds>.jsonl);
--resume reads such a file and runs only the seeds it lacks. The file holds no wall times, so
the merged results of a sweep's shards are byte for byte those of the whole sweep.

Shards: --shard K/N takes every N-th seed from the K-th. Inside a Kubernetes Indexed Job,
JOB_COMPLETION_INDEX (from 0) names the shard and --shard-count or MQTT_SIM_SHARD_COUNT the
number of shards. --merge reads the shards' files, writes the whole sweep's results file and its
index.html, and exits 1 if any seed failed (2 if the files are of different sweeps or seeds
are missing).

A failing seed is printed as soon as it is found, and listed again at the end, with the command
that replays it; --shrink then shrinks the first one (see `mqtt-sim shrink --help`). Without a
terminal, a progress line goes to stderr every 5% of the seeds. A seed on which the simulator
itself panics fails with the panic's message; the sweep goes on. Exit codes: 0 no seed failed,
1 some seed failed, 2 bad input, 3 the results could not be written.")]
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
    /// The number of shards when JOB_COMPLETION_INDEX names this one (default: the
    /// MQTT_SIM_SHARD_COUNT variable).
    #[arg(long, conflicts_with = "shard")]
    shard_count: Option<u64>,
    /// Replaces the scenario's duration (`90s`, `10m`).
    #[arg(long, value_parser = TimeSpan::parse)]
    duration: Option<TimeSpan>,
    /// Simulated time per turmoil step (default 10ms): larger steps make idle time cheaper.
    #[arg(long, value_parser = crate::parse_tick)]
    tick: Option<TimeSpan>,
    /// Where to write the per-seed results (JSON Lines); with --merge, the merged results.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Continue the sweep whose results file this is: seeds it holds are not run again (the
    /// results go back to it unless --results says otherwise).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// After the sweep, shrink the first failing seed to a small scenario.
    #[arg(long)]
    shrink: bool,
    /// Merge the results files of a sweep's shards instead of running.
    #[arg(long, num_args = 1.., conflicts_with_all = ["scenario", "shard", "shard_count", "swarm", "resume", "shrink"])]
    merge: Vec<PathBuf>,
}

pub fn run(args: ExploreArgs) -> Result<u8, Failure> {
    if !args.merge.is_empty() {
        return merge(&args.merge, args.results.as_deref());
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
    let (shard, from_env) = shard(&args)?;
    let seeds = shard.select(range.clone());
    let header = SweepHeader {
        scenario: scenario.name.clone(),
        file: path.display().to_string(),
        digest: results::digest(
            &std::fs::read(&path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(Failure::input)?,
        ),
        seeds: format!("{}..={}", range.start(), range.end()),
        swarm: args.swarm,
        duration: args.duration.map(|d| d.to_string()),
        tick: args.tick.map(|t| t.to_string()),
    };
    let done = match &args.resume {
        Some(file) => resumed(file, &header, &seeds)?,
        None => Vec::new(),
    };
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
    let results_path = args
        .results
        .clone()
        .or_else(|| args.resume.clone())
        .unwrap_or_else(|| default_results(&header, shard));
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
        match (shard == Shard::ALL, from_env) {
            (true, _) => String::new(),
            (false, false) => format!(", shard {}/{}", shard.index, shard.count),
            (false, true) => format!(
                ", shard {}/{} ({COMPLETION_INDEX_VAR}={})",
                shard.index,
                shard.count,
                shard.index - 1
            ),
        },
        if args.swarm { ", swarm" } else { "" },
    );
    if !done.is_empty() {
        println!(
            "resuming: {} of the {} seed(s) are in {}; running the other {}",
            done.len(),
            seeds.len(),
            args.resume.as_deref().unwrap_or(Path::new("")).display(),
            seeds.len() - done.len()
        );
    }
    let how = Replay {
        scenario: path.display().to_string(),
        duration: args.duration.map(|d| d.to_string()),
        swarm: args.swarm,
        tick: args.tick.map(|t| t.to_string()),
    };
    let replay = |seed: u64| how.command(seed);
    let bar = (std::io::stderr().is_terminal() && seeds.len() > 1).then(|| {
        let bar = ProgressBar::new((seeds.len() - done.len()) as u64);
        let style = ProgressStyle::with_template("{pos}/{len} seeds [{wide_bar}] {msg} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    });
    let started = Instant::now();
    let sink = ResultSink::create(&results_path, &header, &seeds, done.clone())?;
    let todo: Vec<u64> = {
        let done: std::collections::BTreeSet<u64> = done.iter().map(|r| r.seed).collect();
        seeds.iter().copied().filter(|s| !done.contains(s)).collect()
    };
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
            None if p.done * 20 / todo.len() > (p.done - 1) * 20 / todo.len() => eprintln!(
                "{}/{} seeds, {} failing, {:.0} s",
                p.done,
                todo.len(),
                p.failing,
                started.elapsed().as_secs_f64()
            ),
            None => {}
        }
    };
    let ran = explore(&scenario, &todo, &options, &on_result);
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
    let sim_ms: u64 = ran.iter().map(|r| r.wall_ms - r.check_ms).sum();
    let check_ms: u64 = ran.iter().map(|r| r.check_ms).sum();
    let n = ran.len().max(1) as u64;
    println!(
        "{} seeds in {:.1} s: {:.1} seeds/s on {jobs} job(s); per seed {} ms simulating, {} ms checking",
        ran.len(),
        wall.as_secs_f64(),
        ran.len() as f64 / wall.as_secs_f64().max(f64::EPSILON),
        sim_ms / n,
        check_ms / n,
    );
    let mut results = ran;
    results.extend(done);
    results.sort_by_key(|r| r.seed);
    print_exercised(&results);
    println!("results: {}", results_path.display());
    let index = results_path.with_file_name("index.html");
    std::fs::write(&index, render_explore_index(&scenario.name, &results, &replay))
        .with_context(|| format!("writing {}", index.display()))
        .map_err(Failure::environment)?;
    println!("index: {}", index.display());
    let code = summarise(&results, &replay);
    if args.shrink {
        shrink_first(&results, &scenario, &path, &args)?;
    }
    Ok(code)
}

/// `reports/<scenario>/explore-<first>-<last>[-shard-K-of-N].jsonl`.
fn default_results(header: &SweepHeader, shard: Shard) -> PathBuf {
    let mut name = format!("explore-{}", header.seeds.replace("..=", "-"));
    if shard != Shard::ALL {
        name.push_str(&format!("-shard-{}-of-{}", shard.index, shard.count));
    }
    Path::new("reports").join(&header.scenario).join(name + ".jsonl")
}

/// Which shard this process runs, and whether the environment said so: `--shard`, else a
/// Kubernetes Indexed Job's JOB_COMPLETION_INDEX with `--shard-count` or MQTT_SIM_SHARD_COUNT.
fn shard(args: &ExploreArgs) -> Result<(Shard, bool), Failure> {
    if let Some(shard) = args.shard {
        return Ok((shard, false));
    }
    let bad = |e: String| Failure::input(anyhow::anyhow!(e));
    let Ok(index) = std::env::var(COMPLETION_INDEX_VAR) else {
        return match args.shard_count {
            Some(_) => Err(bad(format!(
                "--shard-count needs {COMPLETION_INDEX_VAR} (set by a Kubernetes Indexed Job) to say which shard this is; or give --shard K/N"
            ))),
            None => Ok((Shard::ALL, false)),
        };
    };
    let index: u64 = index.trim().parse().map_err(|_| {
        bad(format!("{COMPLETION_INDEX_VAR}=`{index}` is not a shard index (0, 1, 2, ...)"))
    })?;
    let count = match args.shard_count {
        Some(n) => n,
        None => {
            let text = std::env::var(SHARD_COUNT_VAR).map_err(|_| {
                bad(format!(
                    "{COMPLETION_INDEX_VAR} is set (a Kubernetes Indexed Job), but not the number of shards: pass --shard-count N or set {SHARD_COUNT_VAR} to the Job's completions"
                ))
            })?;
            text.trim()
                .parse()
                .map_err(|_| bad(format!("{SHARD_COUNT_VAR}=`{text}` is not a number of shards")))?
        }
    };
    let shard = Shard::parse(&format!("{}/{count}", index + 1))
        .map_err(|e| bad(format!("{COMPLETION_INDEX_VAR}={index} with {count} shard(s): {e}")))?;
    Ok((shard, true))
}

/// The results of `seeds` already in the results file `path` of the same sweep.
fn resumed(path: &Path, header: &SweepHeader, seeds: &[u64]) -> Result<Vec<SeedResult>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // Nothing to resume yet: a shard restarted before it wrote anything.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Failure::input(
                anyhow::Error::new(e).context(format!("reading {}", path.display())),
            ));
        }
    };
    let file = results::parse(&text, path).map_err(Failure::input)?;
    if let Some(what) = results::differs(&file.header, header) {
        return Err(Failure::input(anyhow::anyhow!(
            "--resume {}: the file is of another sweep ({what})",
            path.display()
        )));
    }
    if file.truncated {
        eprintln!("note: the last line of {} was cut short; that seed runs again", path.display());
    }
    let wanted: std::collections::BTreeSet<u64> = seeds.iter().copied().collect();
    if let Some(r) = file.results.iter().find(|r| !wanted.contains(&r.seed)) {
        return Err(Failure::input(results::ResultsError::Foreign {
            path: path.to_owned(),
            seed: r.seed,
        }));
    }
    Ok(file.results)
}

/// Shrinks the first failing seed of a sweep (one whose run completed).
fn shrink_first(
    results: &[SeedResult],
    scenario: &mqttsim_sim::scenario::Scenario,
    path: &Path,
    args: &ExploreArgs,
) -> Result<(), Failure> {
    let Some(first) = results.iter().find(|r| r.failed && r.error.is_none()) else {
        if results.iter().any(|r| r.failed) {
            println!("nothing to shrink: the failing seeds did not complete their runs");
        }
        return Ok(());
    };
    println!();
    let options = ShrinkOptions {
        swarm: args.swarm,
        duration: args.duration.map(TimeSpan::get),
        tick: args.tick.map_or(ShrinkOptions::new(0).tick, TimeSpan::get),
        ..ShrinkOptions::new(first.seed)
    };
    crate::shrink_cmd::shrink_to_file(scenario, &path.display().to_string(), &options, None)?;
    Ok(())
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
/// after the sweep's header, so that an interrupted sweep leaves the results of a prefix of its
/// seeds (which --resume continues).
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
    /// Creates the file with its header, and writes what `done` (a resumed sweep's results)
    /// allows.
    fn create(
        path: &Path,
        header: &SweepHeader,
        seeds: &[u64],
        done: Vec<SeedResult>,
    ) -> Result<ResultSink, Failure> {
        let file = File::create(path)
            .with_context(|| format!("creating {}", path.display()))
            .map_err(Failure::environment)?;
        let mut out = BufWriter::new(file);
        out.write_all(results::header_line(header).as_bytes())
            .and_then(|()| out.flush())
            .with_context(|| format!("writing {}", path.display()))
            .map_err(Failure::environment)?;
        let state = SinkState {
            out,
            order: seeds.to_vec(),
            written: 0,
            waiting: done.into_iter().map(|r| (r.seed, r)).collect(),
        };
        let sink = ResultSink { path: path.to_owned(), state: std::sync::Mutex::new(state) };
        sink.drain().map_err(Failure::environment)?;
        Ok(sink)
    }

    fn push(&self, result: SeedResult) -> anyhow::Result<()> {
        self.state
            .lock()
            .expect("no panic while writing results")
            .waiting
            .insert(result.seed, result);
        self.drain()
    }

    /// Writes every waiting result whose earlier seeds are all out.
    fn drain(&self) -> anyhow::Result<()> {
        let mut s = self.state.lock().expect("no panic while writing results");
        let mut wrote = false;
        while let Some(&seed) = s.order.get(s.written) {
            let Some(r) = s.waiting.remove(&seed) else { break };
            s.out
                .write_all(results::seed_line(&r).as_bytes())
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

/// Merges shards' results files into the whole sweep's results file and index.html.
fn merge(files: &[PathBuf], out: Option<&Path>) -> Result<u8, Failure> {
    let mut read = Vec::with_capacity(files.len());
    for path in files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))
            .map_err(Failure::input)?;
        let file = results::parse(&text, path).map_err(Failure::input)?;
        if file.truncated {
            eprintln!("note: the last line of {} was cut short and is left out", path.display());
        }
        read.push((path.clone(), file));
    }
    let header = &read[0].1.header;
    let range = parse_seeds(&header.seeds).map_err(|e| {
        Failure::input(anyhow::anyhow!("{}: the header's seeds: {e}", files[0].display()))
    })?;
    let all: Vec<u64> = range.collect();
    let (header, merged) = results::merge(&read, &all).map_err(Failure::input)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| default_results(&header, Shard::ALL));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))
            .map_err(Failure::environment)?;
    }
    std::fs::write(&out, results::render(&header, &merged))
        .with_context(|| format!("writing {}", out.display()))
        .map_err(Failure::environment)?;
    println!(
        "merged {} file(s) of the sweep of {} ({}) over seeds {}: {} seed(s)",
        files.len(),
        header.scenario,
        header.file,
        header.seeds,
        merged.len()
    );
    println!("results: {}", out.display());
    let how = Replay {
        scenario: header.file.clone(),
        duration: header.duration.clone(),
        swarm: header.swarm,
        tick: header.tick.clone(),
    };
    let replay = |seed: u64| how.command(seed);
    let index = out.with_file_name("index.html");
    std::fs::write(&index, render_explore_index(&header.scenario, &merged, &replay))
        .with_context(|| format!("writing {}", index.display()))
        .map_err(Failure::environment)?;
    println!("index: {}", index.display());
    print_exercised(&merged);
    Ok(summarise(&merged, &replay))
}
