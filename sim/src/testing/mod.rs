//! mqtt-sim in your own `cargo test`: run a scenario, assert its verdict, snapshot its trace,
//! and replay the seed CI found failing.
//!
//! Everything a test needs is here; nothing else of the crate has to be learnt first. Add the
//! crate as a dev-dependency (with `insta` for snapshots), keep your fleet's scenario beside
//! your tests (`scenarios/README.md` documents the format), and write:
//!
//! ```no_run
//! use mqttsim_sim::testing::Simulation;
//!
//! #[test]
//! fn the_fleet_keeps_its_promises() {
//!     // The path is relative to your crate's directory, where `cargo test` runs.
//!     Simulation::from_file("tests/fleet.yaml").unwrap().check();
//! }
//! ```
//!
//! [`Simulation::check`] runs the scenario's seed, judges the trace against the scenario's
//! `expect:` section, and fails the test with a readable message when a guarantee is broken:
//! the guarantee, the violation with the trace lines that show it, and the commands that
//! replay exactly that run. A guarantee asked for that the run gave nothing to judge (no QoS 2
//! message for `qos2_exactly_once`, ...) fails it too: it is never a pass.
//!
//! # A scenario in a string, a run, its verdict
//!
//! A scenario can also live in the test itself. [`Simulation::run`] makes one run and gives
//! it back: the typed [`Verdict`], the summary ([`RunReport`]) and the [`Trace`]. The seed,
//! the simulated duration and the step (tick) can be overridden; the replay command says so.
//!
//! ```
//! use std::time::Duration;
//! use mqttsim_sim::testing::{Guarantee, Simulation, Status};
//!
//! let yaml = r#"
//! name: greenhouse
//! seed: 1
//! duration: 2m
//! protocol: "3.1.1"
//! sites: [ { name: house, link: { latency: 30ms } } ]
//! devices:
//!   - { group: sensor, site: house, count: 2, client_id: "sensor-{i}",
//!       publish: [ { topic: "house/{i}/temp", qos: 1, every: 10s } ] }
//!   - { group: panel, site: house, count: 1, client_id: "panel",
//!       subscribe: [ { filter: "house/#", qos: 1 } ] }
//! expect: { qos1_at_least_once: true }
//! "#;
//! let sim = Simulation::from_yaml(yaml, "greenhouse.yaml")
//!     .unwrap()
//!     .with_seed(7)
//!     .with_duration(Duration::from_secs(60));
//! let run = sim.run().unwrap();
//! run.assert_passed();
//! assert_eq!(run.seed, 7);
//! assert_eq!(run.verdict.outcome(Guarantee::Qos1AtLeastOnce).status, Status::Pass);
//! assert_eq!(run.summary.devices, 3);
//! assert_eq!(run.replay_command(), "mqtt-sim run greenhouse.yaml --seed 7 --duration 1m");
//! // The same seed gives the same trace, byte for byte.
//! assert_eq!(sim.run().unwrap().trace.to_jsonl(), run.trace.to_jsonl());
//! ```
//!
//! # Snapshots of the trace
//!
//! The trace's text form is the one `mqtt-sim run` writes to `trace.txt`: one aligned line
//! per record, determined by the scenario and the seed alone. A [`TraceView`] narrows it to
//! one device, one topic or a time window, small enough to read in `cargo insta review`:
//!
//! ```
//! # use std::time::Duration;
//! # use mqttsim_sim::testing::Simulation;
//! # let yaml = r#"
//! # name: greenhouse
//! # seed: 1
//! # duration: 1m
//! # protocol: "3.1.1"
//! # sites: [ { name: house, link: { latency: 30ms } } ]
//! # devices:
//! #   - { group: sensor, site: house, count: 2, client_id: "sensor-{i}",
//! #       publish: [ { topic: "house/{i}/temp", qos: 1, every: 10s } ] }
//! #   - { group: panel, site: house, count: 1, client_id: "panel",
//! #       subscribe: [ { filter: "house/#", qos: 1 } ] }
//! # "#;
//! let run = Simulation::from_yaml(yaml, "greenhouse.yaml").unwrap().run().unwrap();
//! let first_reading = run
//!     .trace
//!     .topic("house/0/temp")
//!     .between(Duration::ZERO, Duration::from_secs(10))
//!     .to_text();
//! // In a test: insta::assert_snapshot!(first_reading);
//! assert_eq!(first_reading.lines().count(), 6, "{first_reading}");
//! assert!(first_reading.lines().all(|l| !l.contains("house/1/temp")));
//! let delivery = first_reading.lines().last().unwrap();
//! assert!(delivery.contains("panel") && delivery.contains("<-b   PUBLISH q1"), "{delivery}");
//! ```
//!
//! # Seeds from the environment
//!
//! [`Simulation::check`] and [`Simulation::check_seeds`] take their seeds from the environment
//! when it names some, so the line a failure prints replays it in anyone's test:
//!
//! | variable | what it does |
//! | --- | --- |
//! | `MQTT_SIM_SEED=17` | runs just seed 17 |
//! | `MQTT_SIM_SEEDS=1..=100` (or `1..101`) | runs that sweep instead of the test's own seeds |
//! | `MQTT_SIM_CHECK_DETERMINISM=1` | runs every seed twice and fails, with the first differing record, if the two traces are not byte for byte the same |
//!
//! A value that cannot be meant (`MQTT_SIM_SEED=abc`, an empty range, both seed variables at
//! once) fails the test saying so. [`Simulation::run`] and [`Simulation::run_seed`] run exactly
//! the seed they are given, whatever the environment says, so snapshot tests stay put; they
//! honour `MQTT_SIM_CHECK_DETERMINISM`.
//!
//! # A failure, replayed
//!
//! A failing run's message names the guarantee, quotes the trace and says how to replay it:
//!
//! ```
//! use mqttsim_sim::testing::{Guarantee, Simulation};
//!
//! // A broker with a bug planted on purpose: it publishes the Will of a client that left
//! // with DISCONNECT.
//! let yaml = r#"
//! name: polite-leaver
//! seed: 1
//! duration: 30s
//! protocol: "3.1.1"
//! broker: { bugs: [will-after-disconnect] }
//! sites: [ { name: s, link: { latency: 20ms } } ]
//! devices:
//!   - { group: t, site: s, count: 1, client_id: "leaver", keepalive: 10s,
//!       will: { topic: "will/leaver", payload: gone, qos: 1 } }
//!   - { group: m, site: s, count: 1, client_id: "monitor",
//!       subscribe: [ { filter: "will/#", qos: 1 } ] }
//! faults:
//!   - { kind: disconnect, target: { device: leaver }, at: 10s }
//! expect: { wills: true }
//! "#;
//! let run = Simulation::from_yaml(yaml, "polite-leaver.yaml").unwrap().run().unwrap();
//! let message = run.assert_fails(Guarantee::Wills);
//! assert!(message.contains("wills"));
//! assert!(message.contains("WILL published"), "the trace line is quoted: {message}");
//! assert!(message.contains("replay: mqtt-sim run polite-leaver.yaml --seed 1"));
//! ```
//!
//! Modules: [`env`](mod@env) (the variables, parsed), and the private `trace` ([`Trace`], [`TraceView`],
//! [`first_difference`]) and `message` (failure messages, the `cargo test` replay line).

pub mod env;
mod message;
mod trace;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::check::{Guarantee, Outcome, Status, Verdict, Violation};
pub use crate::run::{RunReport, SimError};
pub use crate::trace::{Event, Record};
pub use trace::{Difference, Trace, TraceView, first_difference};

use crate::check::{CheckOptions, check};
use crate::replay::Replay;
use crate::scenario::units::MAX_DURATION;
use crate::scenario::{Scenario, ScenarioError, TimeSpan, load_scenario, parse_scenario};
use crate::trace::Collect;
use crate::{RunOptions, explore};
use env::Environment;

/// Why a test could not get a verdict. A broken guarantee is not an error: it is in the
/// [`Verdict`] of a [`Run`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The scenario could not be read or is invalid; the diagnostic names file, line, column
    /// and field.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// An environment variable is set to something it cannot mean.
    #[error("{var}=`{value}`: {problem}")]
    Environment {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it, and what is expected.
        problem: String,
    },
    /// An override given to a [`Simulation`] cannot be run or replayed.
    #[error("{option}: {problem}")]
    Override {
        /// The override (`with_duration`, `with_tick`).
        option: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The simulation could not complete.
    #[error("seed {seed}: the run did not complete: {source}\n{replay}")]
    Run {
        /// The seed.
        seed: u64,
        /// Why.
        #[source]
        source: SimError,
        /// The commands that replay it, as text.
        replay: String,
    },
    /// Two runs of the same seed gave different traces (`MQTT_SIM_CHECK_DETERMINISM`).
    #[error("seed {seed} is not deterministic: {difference}{replay}")]
    NotDeterministic {
        /// The seed.
        seed: u64,
        /// Where the traces first differ.
        difference: Box<Difference>,
        /// The commands that replay it, as text.
        replay: String,
    },
}

/// A scenario ready to run in a test, with the seed, duration and tick it runs with.
#[derive(Debug, Clone)]
pub struct Simulation {
    scenario: Scenario,
    /// The scenario file as given, or the name a scenario given as text goes by.
    file: PathBuf,
    /// Whether the scenario was given as text (then `file` is only its name).
    from_text: bool,
    seed: Option<u64>,
    duration: Option<Duration>,
    tick: Option<Duration>,
    swarm: bool,
}

impl Simulation {
    /// Loads the scenario file at `path` (relative paths are relative to the current directory:
    /// in `cargo test`, your crate's). The replay command names the file as given.
    ///
    /// # Errors
    ///
    /// [`Error::Scenario`]: the file cannot be read, or the diagnostic of what is wrong in it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Simulation, Error> {
        let path = path.as_ref();
        let scenario = load_scenario(path)?;
        Ok(Simulation::new(scenario, path.to_owned(), false))
    }

    /// Parses a scenario given as text; `name` stands for its file in diagnostics and in the
    /// replay command (save the text under that name to replay a run with `mqtt-sim run`).
    ///
    /// # Errors
    ///
    /// [`Error::Scenario`], with the diagnostic of what is wrong.
    pub fn from_yaml(yaml: &str, name: impl AsRef<Path>) -> Result<Simulation, Error> {
        let name = name.as_ref();
        let scenario = parse_scenario(yaml, name)?;
        Ok(Simulation::new(scenario, name.to_owned(), true))
    }

    /// A simulation of an already parsed scenario; `name` stands for its file in the replay
    /// command.
    pub fn from_scenario(scenario: Scenario, name: impl AsRef<Path>) -> Simulation {
        Simulation::new(scenario, name.as_ref().to_owned(), true)
    }

    fn new(scenario: Scenario, file: PathBuf, from_text: bool) -> Simulation {
        Simulation {
            scenario,
            file,
            from_text,
            seed: None,
            duration: None,
            tick: None,
            swarm: false,
        }
    }

    /// Runs with this seed instead of the scenario's (`mqtt-sim run --seed`).
    pub fn with_seed(mut self, seed: u64) -> Simulation {
        self.seed = Some(seed);
        self
    }

    /// Runs for this simulated time instead of the scenario's duration (`--duration`): whole
    /// milliseconds, at most 7 days.
    pub fn with_duration(mut self, duration: Duration) -> Simulation {
        self.duration = Some(duration);
        self
    }

    /// Steps the simulated network by this much (`--tick`, default 10 ms): whole milliseconds,
    /// at least 1 ms. A coarser tick runs faster; it is part of what a seed replays.
    pub fn with_tick(mut self, tick: Duration) -> Simulation {
        self.tick = Some(tick);
        self
    }

    /// Varies the scenario by the seed, as `mqtt-sim explore --swarm` does: which faults happen,
    /// how lossy the links are (`--swarm`).
    pub fn with_swarm(mut self) -> Simulation {
        self.swarm = true;
        self
    }

    /// The scenario, as parsed.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The seed [`run`](Simulation::run) uses: the one given to
    /// [`with_seed`](Simulation::with_seed), else the scenario's.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(self.scenario.seed)
    }

    /// The command that replays `seed` of this simulation: `mqtt-sim run FILE --seed N`, with
    /// `--duration`, `--swarm` and `--tick` when they were overridden.
    pub fn replay_command(&self, seed: u64) -> String {
        self.replay().command(seed)
    }

    fn replay(&self) -> Replay {
        Replay {
            scenario: self.file.display().to_string(),
            duration: self.duration.map(|d| TimeSpan(d).to_string()),
            swarm: self.swarm,
            tick: self.tick.map(|t| TimeSpan(t).to_string()),
        }
    }

    /// Makes one run with [`seed`](Simulation::seed), whatever `MQTT_SIM_SEED` says, and judges
    /// it. With `MQTT_SIM_CHECK_DETERMINISM=1` it runs twice and compares the traces.
    ///
    /// # Errors
    ///
    /// A bad override or environment variable, a run that could not complete, or, when asked
    /// for, two runs whose traces differ. A broken guarantee is not an error: see
    /// [`Run::passed`].
    pub fn run(&self) -> Result<Run, Error> {
        self.run_seed(self.seed())
    }

    /// Makes one run with `seed`, as [`run`](Simulation::run) does.
    ///
    /// # Errors
    ///
    /// As [`run`](Simulation::run).
    pub fn run_seed(&self, seed: u64) -> Result<Run, Error> {
        let env = Environment::read()?;
        self.run_checked(seed, env.check_determinism)
    }

    /// Runs [`seed`](Simulation::seed), or the seeds the environment names, and fails the test
    /// with [`Run::failure_message`] if any guarantee of the scenario's `expect:` section is
    /// broken, naming each failing seed with the commands that replay it, or if one had nothing
    /// to judge in any seed (see [`Run::passed`]). Returns the seeds it ran.
    ///
    /// # Panics
    ///
    /// When a seed fails, or the scenario cannot be run (the message says why).
    #[track_caller]
    pub fn check(&self) -> Vec<u64> {
        let seed = self.seed();
        self.check_seeds(seed..=seed)
    }

    /// [`check`](Simulation::check) over a sweep of seeds: `seeds`, unless the environment
    /// names others (`MQTT_SIM_SEED`, `MQTT_SIM_SEEDS`). Seeds run one after another; every
    /// seed runs even after one failed, and the message gives the first failure in full and
    /// a line for each other. Returns the seeds it ran.
    ///
    /// # Panics
    ///
    /// When a seed fails, no seed is to run, or the scenario cannot be run.
    #[track_caller]
    pub fn check_seeds(&self, seeds: RangeInclusive<u64>) -> Vec<u64> {
        let env = match Environment::read() {
            Ok(env) => env,
            Err(e) => panic!("{e}"),
        };
        match self.check_with(&env, seeds) {
            Ok(ran) => ran,
            Err(message) => panic!("{message}"),
        }
    }

    /// [`check_seeds`](Simulation::check_seeds) in the environment `env`: the seeds run, or the
    /// failure message.
    fn check_with(
        &self,
        env: &Environment,
        seeds: RangeInclusive<u64>,
    ) -> Result<Vec<u64>, String> {
        let (seeds, chosen) = match &env.seeds {
            Some(choice) => (choice.seeds.clone(), Some(choice.to_string())),
            None => (seeds, None),
        };
        if seeds.is_empty() {
            return Err(format!(
                "no seed to run: the range {}..={} is empty",
                seeds.start(),
                seeds.end()
            ));
        }
        let mut ran = Vec::new();
        let mut failures = message::Failures::default();
        // The guarantees no seed has exercised yet, with the first seed's reason.
        let mut idle: Option<Vec<(Guarantee, String)>> = None;
        for seed in seeds {
            ran.push(seed);
            match self.run_checked(seed, env.check_determinism) {
                Ok(run) => {
                    let unexercised = run.verdict.not_exercised();
                    match &mut idle {
                        None => {
                            idle = Some(
                                unexercised
                                    .iter()
                                    .map(|(g, why)| (*g, (*why).to_owned()))
                                    .collect(),
                            )
                        }
                        Some(idle) => idle.retain(|(g, _)| unexercised.iter().any(|(u, _)| u == g)),
                    }
                    if run.verdict.failed() {
                        failures.failed_run(&run, &self.replay_lines(seed, true));
                    }
                }
                Err(error) => failures.error(seed, &error, &self.replay_lines(seed, true)),
            }
        }
        if let Some(text) = failures.message(&self.label(), ran.len(), chosen.as_deref()) {
            return Err(text);
        }
        match idle {
            Some(idle) if !idle.is_empty() => {
                let idle: Vec<(Guarantee, &str)> =
                    idle.iter().map(|(g, w)| (*g, w.as_str())).collect();
                let what = match ran.as_slice() {
                    [seed] => format!("{}, seed {seed}", self.label()),
                    _ => format!("{}, {} seeds", self.label(), ran.len()),
                };
                let first = ran.first().copied().unwrap_or_default();
                Err(message::not_exercised(&what, &idle, &self.replay_lines(first, true)))
            }
            _ => Ok(ran),
        }
    }

    fn label(&self) -> String {
        format!("scenario `{}` ({})", self.scenario.name, self.file.display())
    }

    /// The replay commands of `seed`: `mqtt-sim run ...`, the note for a scenario given as
    /// text, and, for the seeds of a check (`env_aware`), `MQTT_SIM_SEED=N cargo test ...`.
    fn replay_lines(&self, seed: u64, env_aware: bool) -> message::ReplayLines {
        message::ReplayLines {
            command: self.replay_command(seed),
            saved_as: self.from_text.then(|| self.file.display().to_string()),
            cargo: if env_aware { message::cargo_test_command(seed) } else { None },
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let whole_ms = |option, d: Duration| {
            if !d.subsec_nanos().is_multiple_of(1_000_000) {
                return Err(Error::Override {
                    option,
                    problem: format!(
                        "{d:?} is not a whole number of milliseconds (the replay command could \
                         not say it)"
                    ),
                });
            }
            Ok(())
        };
        if let Some(d) = self.duration {
            whole_ms("with_duration", d)?;
            if d > MAX_DURATION {
                return Err(Error::Override {
                    option: "with_duration",
                    problem: format!("{d:?} is too long: durations are limited to 7 days"),
                });
            }
        }
        if let Some(t) = self.tick {
            whole_ms("with_tick", t)?;
            if t < Duration::from_millis(1) {
                return Err(Error::Override {
                    option: "with_tick",
                    problem: format!("{t:?}: the tick must be at least 1ms"),
                });
            }
        }
        Ok(())
    }

    fn run_checked(&self, seed: u64, twice: bool) -> Result<Run, Error> {
        let run = self.run_once(seed)?;
        if twice {
            let again = self.run_once(seed)?;
            same_trace(seed, &run.trace, &again.trace, &run.replay.to_string())?;
        }
        Ok(run)
    }

    /// One run and its verdict, made as `mqtt-sim run` makes them.
    fn run_once(&self, seed: u64) -> Result<Run, Error> {
        self.validate()?;
        let varied;
        let scenario = if self.swarm {
            varied = explore::swarm(&self.scenario, seed);
            &varied
        } else {
            &self.scenario
        };
        let duration = self.duration.unwrap_or(scenario.duration.get());
        let mut trace = Collect::default();
        let options = RunOptions {
            seed: Some(seed),
            duration: Some(duration),
            tick: self.tick.unwrap_or(RunOptions::default().tick),
            trace: vec![&mut trace],
            progress: None,
        };
        let replay = self.replay_lines(seed, false);
        let summary = crate::run(scenario, options).map_err(|source| Error::Run {
            seed,
            source,
            replay: replay.to_string(),
        })?;
        let verdict =
            check(scenario, &trace.0, &CheckOptions { end: duration, ..CheckOptions::default() });
        Ok(Run { seed, verdict, summary, trace: Trace::new(trace.0), label: self.label(), replay })
    }
}

/// Fails when the two traces of `seed` are not byte for byte the same.
fn same_trace(seed: u64, first: &Trace, second: &Trace, replay: &str) -> Result<(), Error> {
    match first_difference(first.records(), second.records()) {
        None => Ok(()),
        Some(difference) => Err(Error::NotDeterministic {
            seed,
            difference: Box::new(difference),
            replay: replay.to_owned(),
        }),
    }
}

/// One run: its seed, the checker's verdict, the summary and the trace.
#[derive(Debug, Clone)]
pub struct Run {
    /// The seed it ran with.
    pub seed: u64,
    /// The checker's verdict on the scenario's `expect:` section.
    pub verdict: Verdict,
    /// The run's summary (what `mqtt-sim run` prints and writes to `summary.json`). All of it
    /// is determined by the scenario and the seed, but `wall_ms`.
    pub summary: RunReport,
    /// The trace.
    pub trace: Trace,
    label: String,
    replay: message::ReplayLines,
}

impl Run {
    /// Whether the run passed: no guarantee failed, and every guarantee the scenario asks for
    /// had something to judge. One with nothing to judge ([`Status::NotExercised`]) is not a
    /// pass: a test that judged nothing proves nothing.
    pub fn passed(&self) -> bool {
        !self.verdict.failed() && self.verdict.not_exercised().is_empty()
    }

    /// The guarantees that failed, in verdict order.
    pub fn failed_guarantees(&self) -> Vec<Guarantee> {
        self.verdict
            .outcomes
            .iter()
            .filter(|o| o.status == Status::Fail)
            .map(|o| o.guarantee)
            .collect()
    }

    /// The command that replays this run: `mqtt-sim run FILE --seed N` and the overrides.
    pub fn replay_command(&self) -> &str {
        &self.replay.command
    }

    /// What failed, for a person: the scenario and seed, each failed guarantee with its first
    /// violations (what was expected, what was observed, the trace lines that show it), the
    /// guarantees that had nothing to judge, and the command that replays the run. `None` when
    /// the run passed.
    pub fn failure_message(&self) -> Option<String> {
        if self.verdict.failed() {
            Some(message::failure(&self.label, self.seed, &self.verdict, &self.replay))
        } else if !self.verdict.not_exercised().is_empty() {
            let what = format!("{}, seed {}", self.label, self.seed);
            Some(message::not_exercised(&what, &self.verdict.not_exercised(), &self.replay))
        } else {
            None
        }
    }

    /// Fails the test with [`failure_message`](Run::failure_message) unless the run passed.
    ///
    /// # Panics
    ///
    /// When a guarantee failed, or one the scenario asks for had nothing to judge.
    #[track_caller]
    pub fn assert_passed(&self) {
        if let Some(message) = self.failure_message() {
            panic!("{message}");
        }
    }

    /// For a test that expects a failure (a planted bug, a known defect): fails the test unless
    /// `guarantee` failed, and returns the failure message for the test to check.
    ///
    /// # Panics
    ///
    /// When `guarantee` did not fail; the message gives its status and the verdict.
    #[track_caller]
    pub fn assert_fails(&self, guarantee: Guarantee) -> String {
        let outcome = self.verdict.outcome(guarantee);
        match self.failure_message() {
            Some(message) if outcome.status == Status::Fail => message,
            _ => panic!(
                "{}, seed {}: expected `{guarantee}` to fail, but its status is {:?}\nverdict:\n{}replay: {}",
                self.label,
                self.seed,
                outcome.status,
                self.verdict.to_text(),
                self.replay_command()
            ),
        }
    }
}

#[cfg(test)]
mod tests;
