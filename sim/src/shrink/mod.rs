//! Shrinking: from a failing seed to a small scenario that fails the same guarantee.
//!
//! [`shrink`] runs the scenario with the seed, picks the guarantee that failed, and turns the
//! run into an explicit scenario (random fault mixes, swarm variation, repetitions and drawn
//! targets become plain faults at their times). Then it tries smaller scenarios, keeping each
//! that still fails the same guarantee: fewer device groups and devices (never those the first
//! violation names), fewer faults, a shorter run, simpler links (no loss, no jitter, no
//! flapping, fixed latency), fault windows moved earlier and shortened, fewer and slower publish
//! streams, fewer subscriptions and Wills. Sets are reduced by delta debugging (ddmin), times by
//! bisection; rounds repeat until none removes anything, or the run or time budget is spent.
//!
//! Every candidate is written as YAML and parsed back before it runs, so what was tested is
//! exactly what the result file holds, and every candidate is a valid scenario. The result is
//! deterministic: the same scenario, seed and options give the same file, as long as the time
//! budget is not what stopped it.
//!
//! Modules: `explicit` (the run as plain faults), `edit` (the reductions), `judge` (one run and
//! the narrow view of its verdict that shrinking needs), `yaml` (a scenario written back).

mod edit;
mod explicit;
mod judge;
mod yaml;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::{Duration, Instant};

pub use judge::{FirstViolation, Judgement, judge};
pub use yaml::to_yaml;

use crate::check::Guarantee;
use crate::plan::PlanError;
use crate::scenario::{BrokerBug, Scenario, parse_scenario, thousands};
use edit::{DeviceRef, Simplify};

/// A planted broker bug and the shipped scenario that catches it: the pairs that
/// `sim/tests/check_bugs.rs` checks, which `mqtt-sim bench --case shrink` and the shrink tests
/// shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlantedBugCase {
    /// The bug.
    pub bug: BrokerBug,
    /// The shipped scenario, in `scenarios/`.
    pub file: &'static str,
    /// The scenario cut to this many minutes.
    pub minutes: u64,
    /// The guarantee the bug breaks.
    pub guarantee: Guarantee,
}

/// Every planted bug's catching scenario.
pub const PLANTED_BUG_CASES: [PlantedBugCase; 29] = [
    PlantedBugCase {
        bug: BrokerBug::ForgetInflightOnReconnect,
        file: "flaky-farm.yaml",
        minutes: 20,
        guarantee: Guarantee::Qos1AtLeastOnce,
    },
    PlantedBugCase {
        bug: BrokerBug::DuplicateQos2OnDup,
        file: "qos2-heavy-loss.yaml",
        minutes: 10,
        guarantee: Guarantee::Qos2ExactlyOnce,
    },
    PlantedBugCase {
        bug: BrokerBug::WillAfterDisconnect,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Wills,
    },
    PlantedBugCase {
        bug: BrokerBug::NoWillOnKeepaliveTimeout,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Wills,
    },
    PlantedBugCase {
        bug: BrokerBug::StaleRetained,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Retained,
    },
    PlantedBugCase {
        bug: BrokerBug::NoWillOnTakeover,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Wills,
    },
    PlantedBugCase {
        bug: BrokerBug::DupFlagNotSet,
        file: "intermittent-subscriber.yaml",
        minutes: 20,
        guarantee: Guarantee::Qos1AtLeastOnce,
    },
    PlantedBugCase {
        bug: BrokerBug::RetainedDeleteNotForwarded,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Retained,
    },
    PlantedBugCase {
        bug: BrokerBug::RetainedDuplicated,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Retained,
    },
    PlantedBugCase {
        bug: BrokerBug::Qos2DupFlagDrop,
        file: "qos2-heavy-loss.yaml",
        minutes: 10,
        guarantee: Guarantee::Qos2ExactlyOnce,
    },
    PlantedBugCase {
        bug: BrokerBug::SharedSubRedispatchLoss,
        file: "shared-ingest.yaml",
        minutes: 10,
        guarantee: Guarantee::SharedRedistribution,
    },
    PlantedBugCase {
        bug: BrokerBug::SharedSubStaleMember,
        file: "shared-ingest.yaml",
        minutes: 10,
        guarantee: Guarantee::SharedSubscriptions,
    },
    PlantedBugCase {
        bug: BrokerBug::NoLocalIgnored,
        file: "shared-ingest.yaml",
        minutes: 10,
        guarantee: Guarantee::NoLocal,
    },
    PlantedBugCase {
        bug: BrokerBug::NoWillAtSessionEnd,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Wills,
    },
    PlantedBugCase {
        bug: BrokerBug::WillDelayIgnored,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Wills,
    },
    PlantedBugCase {
        bug: BrokerBug::NoWillOnDelayedTakeover,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Wills,
    },
    PlantedBugCase {
        bug: BrokerBug::SessionExpiryIgnored,
        file: "will-takeover.yaml",
        minutes: 10,
        guarantee: Guarantee::Sessions,
    },
    PlantedBugCase {
        bug: BrokerBug::ExpiryIgnoredQueued,
        file: "sleepy-sensors.yaml",
        minutes: 10,
        guarantee: Guarantee::MessageExpiry,
    },
    PlantedBugCase {
        bug: BrokerBug::RetainedExpiryIgnored,
        file: "sleepy-sensors.yaml",
        minutes: 10,
        guarantee: Guarantee::MessageExpiry,
    },
    PlantedBugCase {
        bug: BrokerBug::ExpiryNotDecremented,
        file: "sleepy-sensors.yaml",
        minutes: 10,
        guarantee: Guarantee::MessageExpiry,
    },
    PlantedBugCase {
        bug: BrokerBug::RetainHandlingIgnored,
        file: "sleepy-sensors.yaml",
        minutes: 10,
        guarantee: Guarantee::Retained,
    },
    PlantedBugCase {
        bug: BrokerBug::ReceiveMaximumExceeded,
        file: "device-management.yaml",
        minutes: 10,
        guarantee: Guarantee::ReceiveMaximum,
    },
    PlantedBugCase {
        bug: BrokerBug::FlowQuotaLeak,
        file: "device-management.yaml",
        minutes: 10,
        guarantee: Guarantee::Qos2ExactlyOnce,
    },
    PlantedBugCase {
        bug: BrokerBug::TopicAliasLeak,
        file: "device-management.yaml",
        minutes: 10,
        guarantee: Guarantee::TopicAliases,
    },
    PlantedBugCase {
        bug: BrokerBug::UserPropertiesDropped,
        file: "device-management.yaml",
        minutes: 10,
        guarantee: Guarantee::MessageProperties,
    },
    PlantedBugCase {
        bug: BrokerBug::WillPropertyLeak,
        file: "alarm-panels.yaml",
        minutes: 10,
        guarantee: Guarantee::Wills,
    },
    PlantedBugCase {
        bug: BrokerBug::MaximumPacketSizeIgnored,
        file: "alarm-panels.yaml",
        minutes: 10,
        guarantee: Guarantee::MaximumPacketSize,
    },
    PlantedBugCase {
        bug: BrokerBug::RetainAsPublishedIgnored,
        file: "retained-mirror.yaml",
        minutes: 5,
        guarantee: Guarantee::RetainAsPublished,
    },
    PlantedBugCase {
        bug: BrokerBug::MaximumQosNotAnnounced,
        file: "retained-mirror.yaml",
        minutes: 5,
        guarantee: Guarantee::MaximumQos,
    },
];

impl PlantedBugCase {
    /// The bug's name, as scenarios write it (`no-will-on-takeover`).
    pub fn bug_name(&self) -> String {
        yaml::kebab(&self.bug)
    }

    /// The case's scenario, loaded from the `scenarios` folder, with the bug planted.
    ///
    /// # Errors
    ///
    /// The scenario's error.
    pub fn scenario(&self, scenarios: &Path) -> Result<Scenario, crate::scenario::ScenarioError> {
        let mut s = crate::scenario::load_scenario(&scenarios.join(self.file))?;
        s.broker.bugs = vec![self.bug];
        Ok(s)
    }

    /// How long the case runs (`--duration`).
    pub fn duration(&self) -> Duration {
        Duration::from_secs(60 * self.minutes)
    }

    /// The first seed of `seeds` whose run of the case's `scenario`, cut to its duration,
    /// fails its guarantee.
    pub fn first_failing_seed(
        &self,
        scenario: &Scenario,
        seeds: std::ops::RangeInclusive<u64>,
        tick: Duration,
    ) -> Option<u64> {
        seeds.into_iter().find(|&seed| {
            let mut s = scenario.clone();
            s.seed = seed;
            s.duration = crate::scenario::TimeSpan(self.duration());
            judge(&s, tick).is_some_and(|j| j.fails(self.guarantee))
        })
    }
}

/// How to shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShrinkOptions {
    /// The failing seed.
    pub seed: u64,
    /// Whether the seed failed in a swarm sweep (the scenario is varied by the seed first).
    pub swarm: bool,
    /// Replaces the scenario's duration.
    pub duration: Option<Duration>,
    /// Simulated time per turmoil step; part of what a seed replays.
    pub tick: Duration,
    /// The guarantee to keep failing (default: the first that failed).
    pub guarantee: Option<Guarantee>,
    /// The most runs to make.
    pub max_runs: u32,
    /// The most wall time to spend.
    pub time_limit: Duration,
}

impl ShrinkOptions {
    /// The defaults for `seed`: 10 ms ticks, at most 500 runs and 5 minutes.
    pub fn new(seed: u64) -> ShrinkOptions {
        ShrinkOptions {
            seed,
            swarm: false,
            duration: None,
            tick: crate::RunOptions::default().tick,
            guarantee: None,
            max_runs: 500,
            time_limit: Duration::from_secs(300),
        }
    }
}

/// The size of a scenario and its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Devices.
    pub devices: u64,
    /// Entries of `faults:`.
    pub faults: usize,
    /// Simulated time.
    pub duration: Duration,
    /// Records in the trace of the run.
    pub trace_records: u64,
}

impl Figures {
    fn of(s: &Scenario, trace_records: u64) -> Figures {
        Figures {
            devices: s.device_count(),
            faults: s.faults.len(),
            duration: s.duration.get(),
            trace_records,
        }
    }
}

/// Why shrinking stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// No reduction left to try kept the failure.
    Done,
    /// The run budget was spent.
    Runs,
    /// The time budget was spent (the result depends on the machine's speed).
    Time,
}

/// A shrunk scenario and how it came about.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The shrunk scenario.
    pub scenario: Scenario,
    /// It as a file: the comment header, then the YAML.
    pub yaml: String,
    /// The guarantee it fails.
    pub guarantee: Guarantee,
    /// The statement its first violation cites, if any.
    pub statement: Option<String>,
    /// Its first violation, in one line.
    pub violation: String,
    /// The scenario as run with the seed.
    pub before: Figures,
    /// Faults once the run was made explicit.
    pub explicit_faults: usize,
    /// The shrunk scenario.
    pub after: Figures,
    /// What was removed, one line per kind of thing.
    pub removed: Vec<String>,
    /// Runs made, the first two (the seed as given, then made explicit) included.
    pub runs: u32,
    /// Why it stopped.
    pub stop: Stop,
}

/// Why a run cannot be shrunk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShrinkError {
    /// The scenario cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The run did not complete.
    #[error("the run of seed {seed} did not complete (run it with `mqtt-sim run` to see why)")]
    RunFailed {
        /// The seed.
        seed: u64,
    },
    /// Nothing failed.
    #[error("seed {seed} keeps every guarantee: there is no failure to shrink")]
    Passes {
        /// The seed.
        seed: u64,
    },
    /// The guarantee asked for did not fail.
    #[error("seed {seed} does not fail {guarantee}; it fails {failed}")]
    OtherGuarantee {
        /// The seed.
        seed: u64,
        /// The guarantee asked for.
        guarantee: Guarantee,
        /// What did fail.
        failed: String,
    },
    /// The explicit form of the run does not fail as the run did.
    #[error(
        "seed {seed} with its faults written out as plain faults no longer fails {guarantee} ({why}); this is a simulator bug worth reporting"
    )]
    NotReproduced {
        /// The seed.
        seed: u64,
        /// The guarantee.
        guarantee: Guarantee,
        /// What happened instead.
        why: String,
    },
}

/// Where shrinking is, after each run.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Runs made so far.
    pub runs: u32,
    /// The run budget.
    pub max_runs: u32,
    /// What is being reduced.
    pub pass: &'a str,
    /// The smallest failing scenario so far.
    pub current: Figures,
    /// Whether this run's candidate still failed (and is now the current one).
    pub accepted: bool,
}

/// Shrinks the run of `scenario` with `options.seed`; `source` names the scenario file in the
/// result's header; `progress` hears of every run.
///
/// # Errors
///
/// Fails if the run cannot be planned or completed, keeps every guarantee (or not the one
/// asked for), or does not fail the same way once made explicit.
pub fn shrink(
    scenario: &Scenario,
    source: &str,
    options: &ShrinkOptions,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Shrunk, ShrinkError> {
    let seed = options.seed;
    let started = Instant::now();
    let mut original =
        if options.swarm { crate::explore::swarm(scenario, seed) } else { scenario.clone() };
    original.seed = seed;
    if let Some(d) = options.duration {
        original.duration = crate::scenario::TimeSpan(d);
    }
    let first = judge(&original, options.tick).ok_or(ShrinkError::RunFailed { seed })?;
    let guarantee = match (options.guarantee, first.failed.first()) {
        (_, None) => return Err(ShrinkError::Passes { seed }),
        (Some(g), _) if !first.fails(g) => {
            let failed = first.failed.iter().map(|g| g.name()).collect::<Vec<_>>().join(", ");
            return Err(ShrinkError::OtherGuarantee { seed, guarantee: g, failed });
        }
        (Some(g), _) => g,
        (None, Some(&g)) => g,
    };
    let before = Figures::of(&original, first.trace_records);

    let explicit = explicit::explicit(&original, seed, guarantee)?;
    let text = to_yaml(&explicit);
    let not_reproduced = |why: String| ShrinkError::NotReproduced { seed, guarantee, why };
    let explicit = parse_scenario(&text, Path::new("explicit.yaml"))
        .map_err(|e| not_reproduced(format!("it is not a valid scenario: {e}")))?;
    let judgement = judge(&explicit, options.tick)
        .ok_or_else(|| not_reproduced("the run did not complete".to_owned()))?;
    if !judgement.fails(guarantee) {
        return Err(not_reproduced("it keeps the guarantee".to_owned()));
    }
    let mut shrinker = Shrinker {
        current: explicit.clone(),
        judgement,
        guarantee,
        tick: options.tick,
        runs: 2,
        max_runs: options.max_runs.max(2),
        deadline: started + options.time_limit,
        stop: None,
        seen: HashMap::new(),
        progress,
        pass: "explicit",
    };
    shrinker.remember(&text, true);
    shrinker.report(true);
    loop {
        let mut changed = false;
        changed |= shrinker.devices();
        changed |= shrinker.faults();
        changed |= shrinker.duration();
        changed |= shrinker.links();
        changed |= shrinker.windows();
        changed |= shrinker.traffic();
        if !changed || shrinker.stop.is_some() {
            break;
        }
    }
    let stop = shrinker.stop.unwrap_or(Stop::Done);
    let Shrinker { current, judgement, runs, .. } = shrinker;
    let after = Figures::of(&current, judgement.trace_records);
    let first_violation = judgement.first(guarantee).cloned();
    let statement = first_violation.as_ref().and_then(|v| v.statement.clone());
    let violation = first_violation.map(|v| v.summary).unwrap_or_default();
    let removed = removed(&original, &explicit, &current, guarantee);
    let mut shrunk = Shrunk {
        scenario: current,
        yaml: String::new(),
        guarantee,
        statement,
        violation,
        before,
        explicit_faults: explicit.faults.len(),
        after,
        removed,
        runs,
        stop,
    };
    shrunk.yaml = header(&shrunk, scenario, source, options) + &to_yaml(&shrunk.scenario);
    Ok(shrunk)
}

/// The result of trying a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Try {
    /// It fails the guarantee: it is the current scenario now.
    Fails,
    /// It does not (or is not a valid scenario).
    Holds,
    /// The budget is spent; nothing was run.
    Out,
}

struct Shrinker<'a> {
    current: Scenario,
    judgement: Judgement,
    guarantee: Guarantee,
    tick: Duration,
    runs: u32,
    max_runs: u32,
    deadline: Instant,
    stop: Option<Stop>,
    /// Candidates already tried, by a hash of their YAML: the judgement of those that failed.
    seen: HashMap<u64, Option<Judgement>>,
    progress: &'a mut dyn FnMut(&Progress<'_>),
    pass: &'static str,
}

fn text_hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl Shrinker<'_> {
    fn remember(&mut self, text: &str, fails: bool) {
        let judgement = fails.then(|| self.judgement.clone());
        self.seen.insert(text_hash(text), judgement);
    }

    fn report(&mut self, accepted: bool) {
        let current = Figures::of(&self.current, self.judgement.trace_records);
        let pass = self.pass;
        (self.progress)(&Progress {
            runs: self.runs,
            max_runs: self.max_runs,
            pass,
            current,
            accepted,
        });
    }

    /// Runs `candidate` unless it was tried before; keeps it if it still fails.
    fn attempt(&mut self, candidate: &Scenario) -> Try {
        if self.stop.is_some() {
            return Try::Out;
        }
        let text = to_yaml(candidate);
        let key = text_hash(&text);
        if let Some(seen) = self.seen.get(&key) {
            let Some(judgement) = seen.clone() else { return Try::Holds };
            if let Ok(parsed) = parse_scenario(&text, Path::new("shrunk.yaml")) {
                self.current = parsed;
                self.judgement = judgement;
                return Try::Fails;
            }
            return Try::Holds;
        }
        if self.runs >= self.max_runs {
            self.stop = Some(Stop::Runs);
            return Try::Out;
        }
        if Instant::now() >= self.deadline {
            self.stop = Some(Stop::Time);
            return Try::Out;
        }
        let Ok(parsed) = parse_scenario(&text, Path::new("shrunk.yaml")) else {
            self.seen.insert(key, None);
            return Try::Holds;
        };
        self.runs += 1;
        let judgement = judge(&parsed, self.tick).filter(|j| j.fails(self.guarantee));
        self.seen.insert(key, judgement.clone());
        match judgement {
            Some(j) => {
                self.current = parsed;
                self.judgement = j;
                self.report(true);
                Try::Fails
            }
            None => {
                self.report(false);
                Try::Holds
            }
        }
    }

    /// Delta debugging: the smallest subset of `items` (1-minimal as far as tried) whose
    /// candidate `build` still fails; the empty set is tried first. True if anything went.
    fn ddmin<T: Clone + Ord>(
        &mut self,
        items: Vec<T>,
        build: &dyn Fn(&BTreeSet<T>) -> Scenario,
    ) -> bool {
        if items.is_empty() {
            return false;
        }
        let set = |part: &[T]| part.iter().cloned().collect::<BTreeSet<T>>();
        match self.attempt(&build(&BTreeSet::new())) {
            Try::Fails => return true,
            Try::Out => return false,
            Try::Holds => {}
        }
        let mut current = items;
        let mut reduced = false;
        let mut n = 2;
        while current.len() >= 2 {
            let size = current.len().div_ceil(n);
            let chunks: Vec<&[T]> = current.chunks(size).collect();
            let mut next: Option<(Vec<T>, usize)> = None;
            for chunk in &chunks {
                match self.attempt(&build(&set(chunk))) {
                    Try::Fails => {
                        next = Some((chunk.to_vec(), 2));
                        break;
                    }
                    Try::Out => return reduced,
                    Try::Holds => {}
                }
            }
            if next.is_none() && chunks.len() > 2 {
                for skip in 0..chunks.len() {
                    let rest: Vec<T> = chunks
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| *k != skip)
                        .flat_map(|(_, c)| c.iter().cloned())
                        .collect();
                    match self.attempt(&build(&set(&rest))) {
                        Try::Fails => {
                            next = Some((rest, (n - 1).max(2)));
                            break;
                        }
                        Try::Out => return reduced,
                        Try::Holds => {}
                    }
                }
            }
            match next {
                Some((smaller, m)) => {
                    current = smaller;
                    n = m;
                    reduced = true;
                }
                None if n >= current.len() => break,
                None => n = (n * 2).min(current.len()),
            }
        }
        reduced
    }

    /// Bisection for the smallest value in `[low, high)` whose candidate still fails, `high`
    /// being the current value, in multiples of `step`. True if the value went down.
    fn lower(
        &mut self,
        low: Duration,
        high: Duration,
        step: Duration,
        build: &dyn Fn(Duration) -> Scenario,
    ) -> bool {
        if low >= high {
            return false;
        }
        match self.attempt(&build(low)) {
            Try::Fails => return true,
            Try::Out => return false,
            Try::Holds => {}
        }
        let (mut low, mut high) = (low, high);
        let mut reduced = false;
        loop {
            let mid = (low + (high - low) / 2).as_nanos() / step.as_nanos().max(1);
            let mid =
                Duration::from_nanos(u64::try_from(mid * step.as_nanos()).unwrap_or(u64::MAX));
            if mid <= low || mid >= high {
                return reduced;
            }
            match self.attempt(&build(mid)) {
                Try::Fails => {
                    high = mid;
                    reduced = true;
                }
                Try::Holds => low = mid,
                Try::Out => return reduced,
            }
        }
    }

    /// The client ids the first violation of the guarantee names.
    fn named(&self) -> BTreeSet<String> {
        self.judgement
            .first(self.guarantee)
            .map(|v| v.devices.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Device groups, then devices, keeping those the first violation names.
    fn devices(&mut self) -> bool {
        self.pass = "devices";
        let named = self.named();
        let base = self.current.clone();
        let is_named = |(g, i): DeviceRef| named.contains(&base.devices[g].client_id(i));
        let groups: Vec<usize> = (0..base.devices.len())
            .filter(|&g| !(0..base.devices[g].count as usize).any(|i| is_named((g, i))))
            .collect();
        let droppable: BTreeSet<usize> = groups.iter().copied().collect();
        let mut changed = self.ddmin(groups, &|keep: &BTreeSet<usize>| {
            edit::keep_devices(&base, &|(g, _)| !droppable.contains(&g) || keep.contains(&g))
        });

        let named = self.named();
        let base = self.current.clone();
        let is_named = |(g, i): DeviceRef| named.contains(&base.devices[g].client_id(i));
        let items: Vec<DeviceRef> =
            edit::devices(&base).into_iter().filter(|&d| !is_named(d)).collect();
        changed |= self.ddmin(items, &|keep: &BTreeSet<DeviceRef>| {
            edit::keep_devices(&base, &|d| is_named(d) || keep.contains(&d))
        });
        changed
    }

    fn faults(&mut self) -> bool {
        self.pass = "faults";
        let base = self.current.clone();
        let items: Vec<usize> = (0..base.faults.len()).collect();
        self.ddmin(items, &|keep: &BTreeSet<usize>| {
            edit::keep_faults(&base, &keep.iter().copied().collect::<Vec<_>>())
        })
    }

    fn duration(&mut self) -> bool {
        self.pass = "duration";
        let base = self.current.clone();
        let d = base.duration.get();
        self.lower(step_for(d), d, step_for(d), &|t| edit::cut_duration(&base, t))
    }

    fn links(&mut self) -> bool {
        self.pass = "links";
        if let Some(all) = edit::simplify_links(&self.current, &Simplify::ALL, None) {
            match self.attempt(&all) {
                Try::Fails => return true,
                Try::Out => return false,
                Try::Holds => {}
            }
        }
        let mut changed = false;
        let which: Vec<Result<usize, usize>> = (0..self.current.sites.len())
            .map(Err)
            .chain((0..self.current.devices.len()).map(Ok))
            .collect();
        for w in which {
            for how in Simplify::ALL {
                if let Some(c) = edit::simplify_links(&self.current, &[how], Some(w)) {
                    match self.attempt(&c) {
                        Try::Fails => changed = true,
                        Try::Out => return changed,
                        Try::Holds => {}
                    }
                }
            }
        }
        changed
    }

    /// Each fault's window moved as early as it can go, then made as short as it can be.
    fn windows(&mut self) -> bool {
        self.pass = "fault windows";
        let mut changed = false;
        for f in 0..self.current.faults.len() {
            let base = self.current.clone();
            let at = base.faults[f].at.unwrap_or_default().get();
            changed |=
                self.lower(Duration::ZERO, at, step_for(at), &|t| edit::move_fault(&base, f, t));
            let base = self.current.clone();
            if edit::has_window(&base.faults[f]) {
                let lasts = base.faults[f].lasts.unwrap_or_default().get();
                let step = step_for(lasts);
                changed |= self.lower(step, lasts, step, &|t| edit::shorten_fault(&base, f, t));
            }
        }
        changed
    }

    /// Publish streams and subscriptions, then slower streams, then Wills.
    fn traffic(&mut self) -> bool {
        self.pass = "traffic";
        let base = self.current.clone();
        let mut changed = self.ddmin(edit::publish_streams(&base), &|keep: &BTreeSet<_>| {
            edit::keep_entries(&base, &keep.iter().copied().collect::<Vec<_>>(), false)
        });
        let base = self.current.clone();
        changed |= self.ddmin(edit::subscriptions(&base), &|keep: &BTreeSet<_>| {
            edit::keep_entries(&base, &keep.iter().copied().collect::<Vec<_>>(), true)
        });
        for stream in edit::publish_streams(&self.current) {
            while let Some(slower) = edit::slow_stream(&self.current, stream) {
                match self.attempt(&slower) {
                    Try::Fails => changed = true,
                    Try::Holds => break,
                    Try::Out => return changed,
                }
            }
        }
        for g in 0..self.current.devices.len() {
            if let Some(c) = edit::drop_will(&self.current, g) {
                match self.attempt(&c) {
                    Try::Fails => changed = true,
                    Try::Out => return changed,
                    Try::Holds => {}
                }
            }
        }
        changed
    }
}

/// The resolution of a bisection over a time: whole seconds, tenths below ten seconds.
fn step_for(d: Duration) -> Duration {
    if d > Duration::from_secs(10) { Duration::from_secs(1) } else { Duration::from_millis(100) }
}

/// Publish streams, subscriptions and Wills over the whole fleet.
fn traffic_counts(s: &Scenario) -> (u64, u64, u64) {
    let mut counts = (0, 0, 0);
    for g in &s.devices {
        let n = u64::from(g.count);
        counts.0 += n * g.publish.len() as u64;
        counts.1 += n * g.subscribe.len() as u64;
        counts.2 += if g.will.is_some() { n } else { 0 };
    }
    counts
}

fn client_ids(s: &Scenario) -> Vec<String> {
    s.devices.iter().flat_map(|g| (0..g.count as usize).map(move |i| g.client_id(i))).collect()
}

/// What shrinking removed, one line per kind of thing.
fn removed(
    original: &Scenario,
    explicit: &Scenario,
    shrunk: &Scenario,
    guarantee: Guarantee,
) -> Vec<String> {
    let mut out = Vec::new();
    let others: Vec<&str> = explicit::expectation_names(&original.expect)
        .into_iter()
        .filter(|n| *n != guarantee.name())
        .collect();
    if !others.is_empty() {
        out.push(format!("expectations other than {guarantee}: {}", others.join(", ")));
    }
    let kept: BTreeSet<String> = client_ids(shrunk).into_iter().collect();
    let gone_groups: Vec<&str> = original
        .devices
        .iter()
        .filter(|g| (0..g.count as usize).all(|i| !kept.contains(&g.client_id(i))))
        .map(|g| g.group.as_str())
        .collect();
    let (before, after) = (original.device_count(), shrunk.device_count());
    if after < before {
        let mut line = format!("devices: {} of {before}", before - after);
        if !gone_groups.is_empty() {
            let _ = write!(line, "; groups gone: {}", shortlist(&gone_groups));
        }
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        let _ = write!(line, "; kept: {}", shortlist(&kept));
        out.push(line);
    }
    let kinds = |s: &Scenario| {
        let mut m: BTreeMap<&'static str, usize> = BTreeMap::new();
        for f in &s.faults {
            *m.entry(f.kind.map_or("random", |k| k.name())).or_default() += 1;
        }
        m
    };
    let (all, left) = (kinds(explicit), kinds(shrunk));
    if explicit.faults.len() > shrunk.faults.len() || original.faults.len() > shrunk.faults.len() {
        let gone: Vec<String> = all
            .iter()
            .filter_map(|(k, n)| {
                let d = n - left.get(k).copied().unwrap_or(0).min(*n);
                (d > 0).then(|| format!("{d} {k}"))
            })
            .collect();
        out.push(format!(
            "faults: {} of {} once made explicit ({} in the scenario){}",
            explicit.faults.len() - shrunk.faults.len().min(explicit.faults.len()),
            explicit.faults.len(),
            original.faults.len(),
            if gone.is_empty() { String::new() } else { format!(": {}", gone.join(", ")) }
        ));
    }
    if shrunk.duration < original.duration {
        out.push(format!(
            "time: the run lasts {} instead of {}",
            shrunk.duration, original.duration
        ));
    }
    let links = |s: &Scenario| -> Vec<crate::scenario::LinkSpec> {
        s.sites
            .iter()
            .map(|x| x.link.clone())
            .chain(s.devices.iter().map(|g| g.link.clone()))
            .collect()
    };
    let (was, now) = (links(original), links(shrunk));
    let mut simpler = Vec::new();
    for (how, name) in [
        (Simplify::Loss, "loss"),
        (Simplify::Jitter, "jitter"),
        (Simplify::Flapping, "flapping"),
        (Simplify::Latency, "latency distributions (fixed latency instead)"),
        (Simplify::Retransmission, "retransmission settings"),
    ] {
        let has = |l: &crate::scenario::LinkSpec| how.apply(&mut l.clone());
        if was.iter().any(has) && !now.iter().any(has) {
            simpler.push(name);
        }
    }
    if !simpler.is_empty() {
        out.push(format!("links: {}", simpler.join(", ")));
    }
    let (p0, s0, w0) = traffic_counts(original);
    let (p1, s1, w1) = traffic_counts(shrunk);
    let mut traffic = Vec::new();
    for (what, a, b) in [("publish streams", p0, p1), ("subscriptions", s0, s1), ("Wills", w0, w1)]
    {
        if b < a {
            traffic.push(format!("{} of {a} {what}", a - b));
        }
    }
    if !traffic.is_empty() {
        out.push(format!("traffic: {}", traffic.join(", ")));
    }
    out
}

/// At most six names, then how many more.
fn shortlist(names: &[&str]) -> String {
    let mut out = names.iter().take(6).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 6 {
        let _ = write!(out, " and {} more", names.len() - 6);
    }
    out
}

/// The comment header of the result file.
fn header(s: &Shrunk, scenario: &Scenario, source: &str, options: &ShrinkOptions) -> String {
    let mut out = String::new();
    let mut how = format!("seed {}", options.seed);
    if options.swarm {
        how.push_str(", swarm");
    }
    if let Some(d) = options.duration {
        let _ = write!(how, ", --duration {}", crate::scenario::TimeSpan(d));
    }
    let _ =
        writeln!(out, "# Shrunk by `mqtt-sim shrink` from {source} ({}), {how}.", scenario.name);
    let statement = s.statement.as_ref().map(|st| format!(" [{st}]")).unwrap_or_default();
    let _ = writeln!(out, "# It fails the same guarantee: {}{statement}.", s.guarantee);
    if !s.violation.is_empty() {
        for line in wrap(&format!("First violation: {}", s.violation), 94) {
            let _ = writeln!(out, "#   {line}");
        }
    }
    let tick = if options.tick == crate::RunOptions::default().tick {
        String::new()
    } else {
        format!(" --tick {}", crate::scenario::TimeSpan(options.tick))
    };
    let _ =
        writeln!(out, "# Replay: mqtt-sim run <this file>{tick}   (its seed is {})", options.seed);
    out.push_str("#\n# Before -> after:\n");
    let (b, a) = (&s.before, &s.after);
    let _ =
        writeln!(out, "#   devices        {} -> {}", thousands(b.devices), thousands(a.devices));
    let _ = writeln!(
        out,
        "#   faults         {} ({} once made explicit) -> {}",
        b.faults, s.explicit_faults, a.faults
    );
    let _ = writeln!(
        out,
        "#   duration       {} -> {}",
        crate::scenario::TimeSpan(b.duration),
        crate::scenario::TimeSpan(a.duration)
    );
    let _ = writeln!(
        out,
        "#   trace records  {} -> {}",
        thousands(b.trace_records),
        thousands(a.trace_records)
    );
    if !s.removed.is_empty() {
        out.push_str("#\n# Removed:\n");
        for r in &s.removed {
            for (k, line) in wrap(r, 92).into_iter().enumerate() {
                let lead = if k == 0 { "- " } else { "  " };
                let _ = writeln!(out, "#   {lead}{line}");
            }
        }
    }
    let stop = match s.stop {
        Stop::Done => "nothing more could be removed".to_owned(),
        Stop::Runs => format!("the budget of {} runs was spent", options.max_runs),
        Stop::Time => format!(
            "the time budget of {} was spent (a faster machine may shrink further)",
            crate::scenario::TimeSpan(options.time_limit)
        ),
    };
    let _ = writeln!(out, "#\n# {} runs; stopped because {stop}.\n", s.runs);
    out
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
