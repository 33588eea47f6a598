//! The orchard's MQTT guarantees, checked in simulation on every `cargo test`.
//!
//! A failing seed prints the line that replays it alone (`MQTT_SIM_SEED=N cargo test ...`) and
//! the `mqtt-sim run` command that replays it with the whole report.

use std::time::Duration;

use mqttsim_sim::testing::{Guarantee, Simulation, Status};

/// Relative to this crate's directory, where `cargo test` runs.
const ORCHARD: &str = "scenarios/orchard.yaml";

fn orchard() -> Simulation {
    Simulation::from_file(ORCHARD).expect("the orchard scenario is valid")
}

/// Every promise of the scenario's `expect:` section holds, at its own seed (or the seed
/// `MQTT_SIM_SEED` names).
#[test]
fn the_orchard_keeps_its_promises() {
    orchard().check();
}

/// A small sweep: a few more seeds, each a different network history.
#[test]
fn the_orchard_keeps_its_promises_over_seeds() {
    let ran = orchard().check_seeds(1..=4);
    assert!(!ran.is_empty());
}

/// The typed verdict: what was judged, not only that nothing failed.
#[test]
fn the_powered_off_valve_is_reported_dark_and_the_polite_sensor_is_not() {
    let run = orchard().run().unwrap();
    run.assert_passed();
    for guarantee in [Guarantee::Qos1AtLeastOnce, Guarantee::Ordering, Guarantee::Wills] {
        assert_eq!(run.verdict.outcome(guarantee).status, Status::Pass, "{guarantee}");
    }
    let wills = run.trace.topic("orchard/status/+");
    let published: Vec<&str> = wills
        .records()
        .iter()
        .filter(|r| r.event.summary().starts_with("WILL published"))
        .filter_map(|r| r.device.as_deref())
        .collect();
    assert_eq!(published, ["valve-1"], "{}", wills.to_text());
}

/// What valve 1 saw of its power loss, reviewed with `cargo insta review`: the broker notices
/// the silence after its keepalive and publishes the Will; when the valve is back its session
/// is still there, and the commands it missed arrive in order: first again, with DUP=1, the
/// three it had been sent while it was dark, then the ones the broker had queued.
#[test]
fn valve_1_through_its_power_loss() {
    let run = orchard().run().unwrap();
    let text = run
        .trace
        .device("valve-1")
        .between(Duration::from_secs(29), Duration::from_secs(55))
        .to_text();
    insta::assert_snapshot!(text);
}

/// A broker that publishes the Will of a device that left with DISCONNECT (a bug planted in the
/// reference broker on purpose) is caught, and the message says what, where and how to replay.
#[test]
fn a_broker_that_sends_the_will_of_a_polite_device_is_caught() {
    let yaml = std::fs::read_to_string(ORCHARD).unwrap();
    let yaml = format!("{yaml}\nbroker: {{ bugs: [will-after-disconnect] }}\n");
    let run = Simulation::from_yaml(&yaml, "orchard-planted-bug.yaml").unwrap().run().unwrap();
    let message = run.assert_fails(Guarantee::Wills);
    assert_eq!(run.failed_guarantees(), [Guarantee::Wills]);
    assert!(
        message.starts_with("scenario `orchard` (orchard-planted-bug.yaml), seed 1: wills failed"),
        "{message}"
    );
    assert!(message.contains("[wills] device soil-w0"), "{message}");
    assert!(message.contains("expected: no Will after a DISCONNECT [MQTT-3.14.4-3]"), "{message}");
    assert!(
        message.contains("WILL published q1 retain=0 topic=orchard/status/soil-w0"),
        "{message}"
    );
    assert!(
        message.contains("replay: mqtt-sim run orchard-planted-bug.yaml --seed 1\n"),
        "{message}"
    );
}
