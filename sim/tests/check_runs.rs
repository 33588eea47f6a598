//! The oracle on real runs of the runner's test scenarios, with every expectation switched on:
//! the correct broker shows no violation (a violation here is a false positive of the oracle
//! or a real bug in the broker, client or runner, to be investigated either way).

use std::path::Path;

use mqttsim_sim::check::{CheckOptions, check};
use mqttsim_sim::scenario::parse_scenario;
use mqttsim_sim::trace::Collect;
use mqttsim_sim::{RunOptions, run};

const EXPECT: &str = "expect: { qos0_max_duplicates: 0, qos1_at_least_once: true, \
                      qos2_exactly_once: true, ordering: true, wills: true, retained: true }\n";

#[test]
fn the_correct_broker_keeps_every_promise_in_the_runner_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/run");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the runner's scenarios")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for path in files {
        let yaml = std::fs::read_to_string(&path).expect("readable") + EXPECT;
        let scenario = parse_scenario(&yaml, &path).unwrap_or_else(|e| panic!("{e}"));
        let mut trace = Collect::default();
        let options =
            RunOptions { seed: Some(2), trace: vec![&mut trace], ..RunOptions::default() };
        run(&scenario, options).expect("the run completes");
        let options = CheckOptions { end: scenario.duration.get(), ..CheckOptions::default() };
        let verdict = check(&scenario, &trace.0, &options);
        assert!(!verdict.failed(), "{}:\n{}", path.display(), verdict.to_text());
        assert_eq!(verdict.unattributed, 0, "{}:\n{}", path.display(), verdict.to_text());
    }
}

/// A mixed fleet: each group speaks its own version (the 5.0 groups' connections report the
/// Session Expiry Interval in force, the 3.1.1 ones have none), and the messages cross versions.
#[test]
fn a_mixed_fleet_speaks_each_groups_version() {
    use mqttsim_sim::trace::Event;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/run/mixed-fleet.yaml");
    let yaml = std::fs::read_to_string(&path).expect("readable");
    let scenario = parse_scenario(&yaml, &path).unwrap_or_else(|e| panic!("{e}"));
    let mut trace = Collect::default();
    let options = RunOptions { seed: Some(2), trace: vec![&mut trace], ..RunOptions::default() };
    run(&scenario, options).expect("the run completes");
    let mut seen = Vec::new();
    for r in &trace.0 {
        if let Event::Connected { session_expiry, .. } = &r.event {
            let device = r.device.clone().unwrap_or_default();
            let expected = device.starts_with("sensor-").then_some(3600);
            assert_eq!(*session_expiry, expected, "{device}");
            seen.push(device);
        }
    }
    for device in ["sensor-0", "sensor-2", "collector", "controller"] {
        assert!(seen.iter().any(|d| d == device), "{device} never connected: {seen:?}");
    }
    let delivered_to = |device: &str, prefix: &str| {
        trace.0.iter().any(|r| {
            r.device.as_deref() == Some(device)
                && matches!(&r.event, Event::Delivered { msg: Some(m), .. } if m.starts_with(prefix))
        })
    };
    assert!(delivered_to("collector", "sensor-"), "5.0 → 3.1.1");
    assert!(delivered_to("sensor-1", "controller#"), "3.1.1 → 5.0");
}
