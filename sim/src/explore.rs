//! Seed sweeps: run one scenario under many seeds, judge each run, collect the failing seeds.
//!
//! Each seed is a whole, independent simulation (its own turmoil world, single-threaded), so
//! seeds run in parallel on worker threads without touching determinism: a seed's result does
//! not depend on which thread ran it or when. Results come back ordered by seed.
//!
//! A sweep can be split into shards ([`Shard`]) so that machines of a CI matrix or an indexed
//! job each take every N-th seed; their result lines concatenate into the whole sweep's.
//!
//! Swarm mode ([`swarm`]) varies the scenario per seed — which faults happen, how lossy the
//! links are, how often random faults strike — drawn from the seed, so one sweep explores many
//! fault mixes instead of one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::check::{CheckOptions, Coverage, Status, check};
use crate::rng::{Purpose, Seeds};
use crate::scenario::{Ratio, Scenario, TimeSpan};
use crate::trace::Collect;
use crate::{RunOptions, run};

/// How a sweep runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExploreOptions {
    /// Worker threads; each runs one seed at a time.
    pub jobs: usize,
    /// Vary the scenario per seed (see [`swarm`]).
    pub swarm: bool,
    /// Replaces the scenario's duration.
    pub duration: Option<Duration>,
    /// Simulated time per turmoil step (see [`RunOptions::tick`]).
    pub tick: Duration,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions { jobs: 1, swarm: false, duration: None, tick: RunOptions::default().tick }
    }
}

/// One shard of a sweep: the `index`-th (from 1) of `count`, taking every `count`-th seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `K/N`, with 1 ≤ K ≤ N.
    ///
    /// # Errors
    ///
    /// Says what is wrong with `text`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) =
            text.split_once('/').ok_or_else(|| format!("`{text}` is not K/N, such as 2/4"))?;
        let index: u64 = k.trim().parse().map_err(|_| format!("`{k}` is not a shard number"))?;
        let count: u64 = n.trim().parse().map_err(|_| format!("`{n}` is not a shard count"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count}: K must be between 1 and N"));
        }
        Ok(Shard { index, count })
    }

    /// The seeds of `seeds` that belong to this shard (by position, so shards are balanced).
    pub fn select(self, seeds: impl Iterator<Item = u64>) -> Vec<u64> {
        seeds
            .enumerate()
            .filter(|(i, _)| *i as u64 % self.count == self.index - 1)
            .map(|(_, s)| s)
            .collect()
    }
}

/// Parses a seed range: `N`, `A..B` (B excluded) or `A..=B`.
///
/// # Errors
///
/// Says what is wrong with `text`.
pub fn parse_seeds(text: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("`{s}` is not a seed"));
    let range = if let Some((a, b)) = text.split_once("..=") {
        number(a)?..=number(b)?
    } else if let Some((a, b)) = text.split_once("..") {
        let (a, b) = (number(a)?, number(b)?);
        if b <= a {
            return Err(format!("`{text}` is empty: the end is excluded"));
        }
        a..=b - 1
    } else {
        let n = number(text)?;
        n..=n
    };
    if range.is_empty() {
        return Err(format!("`{text}` is empty"));
    }
    Ok(range)
}

pub use mqttsim_verdict::sweep::SeedResult;

/// Runs and judges one seed.
pub fn run_seed(scenario: &Scenario, seed: u64, options: &ExploreOptions) -> SeedResult {
    let started = Instant::now();
    let varied;
    let scenario = if options.swarm {
        varied = swarm(scenario, seed);
        &varied
    } else {
        scenario
    };
    let duration = options.duration.unwrap_or(scenario.duration.get());
    let mut trace = Collect::default();
    let run_options = RunOptions {
        seed: Some(seed),
        duration: Some(duration),
        tick: options.tick,
        trace: vec![&mut trace],
        ..RunOptions::default()
    };
    if let Err(error) = run(scenario, run_options) {
        return SeedResult {
            seed,
            failed: true,
            violations: 0,
            failed_guarantees: Vec::new(),
            error: Some(error.to_string()),
            wall_ms: millis(started.elapsed()),
            check_ms: 0,
            not_exercised: Vec::new(),
            coverage: Coverage::default(),
        };
    }
    let checking = Instant::now();
    let verdict =
        check(scenario, &trace.0, &CheckOptions { end: duration, ..CheckOptions::default() });
    let check_ms = millis(checking.elapsed());
    SeedResult {
        seed,
        failed: verdict.failed(),
        violations: verdict.violation_count(),
        failed_guarantees: verdict
            .outcomes
            .iter()
            .filter(|o| matches!(o.status, Status::Fail))
            .map(|o| o.guarantee.name().to_owned())
            .collect(),
        error: None,
        wall_ms: millis(started.elapsed()),
        check_ms,
        not_exercised: verdict
            .not_exercised()
            .into_iter()
            .map(|(g, _)| g.name().to_owned())
            .collect(),
        coverage: verdict.coverage,
    }
}

/// [`run_seed`], with a panic turned into a failed result.
fn run_seed_caught(scenario: &Scenario, seed: u64, options: &ExploreOptions) -> SeedResult {
    caught(seed, || run_seed(scenario, seed, options))
}

/// Runs `f`, turning a panic into a failed result for `seed`.
fn caught(seed: u64, f: impl FnOnce() -> SeedResult) -> SeedResult {
    let started = Instant::now();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        SeedResult {
            seed,
            failed: true,
            violations: 0,
            failed_guarantees: Vec::new(),
            error: Some(format!("the simulator panicked: {what}")),
            wall_ms: millis(started.elapsed()),
            check_ms: 0,
            not_exercised: Vec::new(),
            coverage: Coverage::default(),
        }
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs every seed of `seeds` on `options.jobs` threads; `on_result` hears of each seed as it
/// finishes (in completion order, for progress), and the results are returned ordered by seed.
///
/// A seed whose run panics (a bug of the simulator, not of the broker) does not end the sweep:
/// it fails with the panic's message as its error, so that it can be replayed like any other.
pub fn explore(
    scenario: &Scenario,
    seeds: &[u64],
    options: &ExploreOptions,
    on_result: &(dyn Fn(&SeedResult) + Sync),
) -> Vec<SeedResult> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let result = run_seed_caught(scenario, seed, options);
                    on_result(&result);
                    results.lock().expect("no worker panics while holding the lock").push(result);
                }
            });
        }
    });
    let mut results = results.into_inner().expect("no worker panicked while holding the lock");
    results.sort_by_key(|r| r.seed);
    results
}

/// The scenario varied for `seed` (swarm testing): each fault is kept with probability 2/3, each
/// link's loss is scaled by a factor in [0, 2.5) (at most 50%), and each random fault mix strikes
/// between a quarter and three times as often. Drawn from the seed's own stream, so a failing
/// seed replays with the same variation (`mqtt-sim explore S --seeds N --swarm`).
pub fn swarm(scenario: &Scenario, seed: u64) -> Scenario {
    let mut rng = Seeds::new(seed).stream(Purpose::SWARM, 0);
    let mut varied = scenario.clone();
    let scale_loss = |loss: &mut Option<Ratio>, rng: &mut crate::rng::SimRng| {
        if let Some(ratio) = loss {
            let factor: f64 = rng.random_range(0.0..2.5);
            *loss = Ratio::new((ratio.get() * factor).min(0.5));
        }
    };
    for site in &mut varied.sites {
        scale_loss(&mut site.link.loss, &mut rng);
    }
    for group in &mut varied.devices {
        scale_loss(&mut group.link.loss, &mut rng);
    }
    varied.faults.retain(|_| rng.random_range(0..3) != 0);
    for fault in &mut varied.faults {
        if let Some(mix) = &mut fault.random {
            let factor: f64 = rng.random_range(0.25..3.0);
            let mean = mix.mean_interval().div_f64(factor).max(Duration::from_secs(1));
            mix.rate = None;
            mix.mean_interval = Some(TimeSpan(mean));
        }
    }
    varied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_seed_fails_with_the_panic_message() {
        let result = caught(7, || panic!("boom at {}", 7));
        assert!(result.failed);
        assert_eq!(result.seed, 7);
        assert_eq!(result.error.as_deref(), Some("the simulator panicked: boom at 7"));
        let result = caught(8, || panic!("static boom"));
        assert_eq!(result.error.as_deref(), Some("the simulator panicked: static boom"));
    }

    #[test]
    fn seed_ranges() {
        assert_eq!(parse_seeds("7"), Ok(7..=7));
        assert_eq!(parse_seeds("1..10001"), Ok(1..=10_000));
        assert_eq!(parse_seeds("1..=10"), Ok(1..=10));
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("9..=3").is_err());
        assert!(parse_seeds("a..3").is_err());
    }

    #[test]
    fn shards_partition_a_sweep() {
        assert!(Shard::parse("0/3").is_err() && Shard::parse("4/3").is_err());
        assert!(Shard::parse("3").is_err() && Shard::parse("1/0").is_err());
        let mut all: Vec<u64> = Vec::new();
        for k in 1..=3 {
            let shard = Shard::parse(&format!("{k}/3")).unwrap();
            let part = shard.select(1..=10);
            assert!(part.len() == 3 || part.len() == 4, "balanced: {part:?}");
            all.extend(part);
        }
        all.sort_unstable();
        assert_eq!(all, (1..=10).collect::<Vec<_>>(), "disjoint and complete");
    }
}
