//! The correct broker keeps every promise of every shipped scenario over a sweep of seeds
//! (shortened so that CI stays fast; `mqtt-sim explore` runs the long sweeps).
//!
//! A failing seed is printed with the command that replays it alone:
//! `MQTT_SIM_SEED=<seed> cargo test -p mqttsim-sim --test sweep <test name>`
//! (`MQTT_SIM_SEEDS=A..=B` runs another sweep).

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::explore::{ExploreOptions, explore};
use mqttsim_sim::scenario::load_scenario;
use mqttsim_sim::testing::env::Environment;

/// The seeds to run: those `MQTT_SIM_SEED` or `MQTT_SIM_SEEDS` name, else `default` (read as
/// the library's `testing` module reads them).
fn seeds(default: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    match Environment::read() {
        Ok(env) => env.seeds.map_or(default, |choice| choice.seeds).collect(),
        Err(e) => panic!("{e}"),
    }
}

/// Runs the seeds; every seed must pass and exercise every expectation the scenario declares,
/// but those in `idle` (which a run shortened to `duration` may leave with nothing to judge).
fn sweep(test: &str, file: &str, seeds: &[u64], duration: Duration, idle: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(file);
    let scenario = load_scenario(&path).unwrap_or_else(|e| panic!("{e}"));
    let options = ExploreOptions { jobs: 2, duration: Some(duration), ..Default::default() };
    let results = explore(&scenario, seeds, &options, &|_| {});
    let failing: Vec<String> = results
        .iter()
        .filter(|r| r.failed)
        .map(|r| {
            format!(
                "seed {}: {} violation(s) of {:?} {}\n  replay: MQTT_SIM_SEED={} cargo test -p \
                 mqttsim-sim --test sweep {test}\n  or: mqtt-sim run scenarios/{file} --seed {} \
                 --duration {}s",
                r.seed,
                r.violations,
                r.failed_guarantees,
                r.error.as_deref().unwrap_or(""),
                r.seed,
                r.seed,
                duration.as_secs()
            )
        })
        .collect();
    assert!(
        failing.is_empty(),
        "{} of {} seeds failed:\n{}",
        failing.len(),
        results.len(),
        failing.join("\n")
    );
    for r in &results {
        let vacuous: Vec<&String> =
            r.not_exercised.iter().filter(|g| !idle.contains(&g.as_str())).collect();
        assert!(vacuous.is_empty(), "seed {} did not exercise {vacuous:?}", r.seed);
    }
}

#[test]
fn will_takeover_holds_over_seeds() {
    sweep(
        "will_takeover_holds_over_seeds",
        "will-takeover.yaml",
        &seeds(1..=12),
        Duration::from_secs(300),
        &[],
    );
}

#[test]
fn qos2_heavy_loss_holds_over_seeds() {
    sweep(
        "qos2_heavy_loss_holds_over_seeds",
        "qos2-heavy-loss.yaml",
        &seeds(1..=6),
        Duration::from_secs(300),
        &[],
    );
}

#[test]
fn device_management_holds_over_seeds() {
    sweep(
        "device_management_holds_over_seeds",
        "device-management.yaml",
        &seeds(1..=3),
        Duration::from_secs(300),
        &[],
    );
}

#[test]
fn alarm_panels_holds_over_seeds() {
    sweep(
        "alarm_panels_holds_over_seeds",
        "alarm-panels.yaml",
        &seeds(1..=3),
        Duration::from_secs(300),
        &[],
    );
}

#[test]
fn flaky_farm_holds_over_seeds() {
    sweep(
        "flaky_farm_holds_over_seeds",
        "flaky-farm.yaml",
        &seeds(1..=2),
        Duration::from_secs(120),
        &["wills", "retained"],
    );
}

#[test]
fn reconnect_storm_holds_over_seeds() {
    sweep(
        "reconnect_storm_holds_over_seeds",
        "reconnect-storm.yaml",
        &seeds(1..=2),
        Duration::from_secs(60),
        &[],
    );
}

/// 10,000 devices: six minutes, so that every staggered device has started.
#[test]
fn smart_building_holds_over_seeds() {
    sweep(
        "smart_building_holds_over_seeds",
        "smart-building.yaml",
        &seeds(1..=2),
        Duration::from_secs(360),
        &["retained"],
    );
}

#[test]
fn intermittent_subscriber_holds_over_seeds() {
    sweep(
        "intermittent_subscriber_holds_over_seeds",
        "intermittent-subscriber.yaml",
        &seeds(1..=4),
        Duration::from_secs(300),
        &[],
    );
}

/// Ten minutes: two sleep cycles of the sensors, two absences of the dashboards.
#[test]
fn sleepy_sensors_hold_over_seeds() {
    sweep(
        "sleepy_sensors_hold_over_seeds",
        "sleepy-sensors.yaml",
        &seeds(1..=3),
        Duration::from_secs(600),
        &[],
    );
}

/// The whole run: three absences of the mirrors, each with states queued for them.
#[test]
fn retained_mirror_holds_over_seeds() {
    sweep(
        "retained_mirror_holds_over_seeds",
        "retained-mirror.yaml",
        &seeds(1..=4),
        Duration::from_secs(600),
        &[],
    );
}
