//! Running a scenario file into memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mqttsim_sim::scenario::{Scenario, load_scenario};
use mqttsim_sim::trace::{Collect, Event, JsonLines, Record};
use mqttsim_sim::{RunOptions, RunReport};

/// The path of a file under the repository root.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Loads a scenario; panics with the parser's diagnostic if it is invalid.
pub fn scenario(path: &str) -> Scenario {
    load_scenario(&repo(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `scenario` and returns its records and summary.
pub fn run(
    scenario: &Scenario,
    seed: Option<u64>,
    duration: Option<Duration>,
) -> (Vec<Record>, RunReport) {
    let mut collect = Collect::default();
    let report = mqttsim_sim::run(
        scenario,
        RunOptions { seed, duration, trace: vec![&mut collect], ..RunOptions::default() },
    )
    .expect("the run completes");
    (collect.0, report)
}

/// Runs `scenario` and returns the JSON Lines trace bytes.
pub fn jsonl(scenario: &Scenario, seed: u64, duration: Duration) -> Vec<u8> {
    let mut out = JsonLines(Vec::new());
    mqttsim_sim::run(
        scenario,
        RunOptions {
            seed: Some(seed),
            duration: Some(duration),
            trace: vec![&mut out],
            ..RunOptions::default()
        },
    )
    .expect("the run completes");
    out.0
}

/// The records of one device, in order.
pub fn of<'a>(records: &'a [Record], device: &str) -> impl Iterator<Item = &'a Record> {
    let device = device.to_owned();
    records.iter().filter(move |r| r.device.as_deref() == Some(device.as_str()))
}

/// Seconds, as a float, for messages.
pub fn secs(r: &Record) -> f64 {
    r.t_us as f64 / 1e6
}

/// Whether a record is the Will of `device` being published by the broker.
pub fn is_will(r: &Record) -> bool {
    matches!(r.event, Event::WillPublished { .. })
}
