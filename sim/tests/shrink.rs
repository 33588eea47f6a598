//! Shrinking a failing seed to a small scenario.
//!
//! - `yaml_round_trips_*`: a scenario written back as YAML parses to the same scenario.
//! - `streams_from_keeps_a_devices_randomness`: a device moved to another fleet position with
//!   `streams_from` does what it did before.
//! - `planted_*`: with each planted broker bug, the first failing seed of a scenario that shows
//!   them all shrinks to at most 3 devices and 2 faults, and the result fails the same guarantee
//!   when run again from its text. (`mqtt-sim bench --case shrink` does the same for each bug's
//!   shipped catching scenario, in a release build, and times it.)
//! - `shrinking_wills_is_deterministic`: the same input gives the same file (an insta snapshot).
//! - `a_seed_that_passes_is_not_shrunk`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mqttsim_sim::check::Guarantee;
use mqttsim_sim::scenario::{BrokerBug, Scenario, load_scenario, parse_scenario};
use mqttsim_sim::shrink::{
    PLANTED_BUG_CASES, ShrinkError, ShrinkOptions, Shrunk, judge, shrink, to_yaml,
};
use mqttsim_sim::trace::{Collect, Event};
use mqttsim_sim::{RunOptions, run};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn round_trip(s: &Scenario) {
    let text = to_yaml(s);
    let again = parse_scenario(&text, Path::new("again.yaml")).unwrap_or_else(|e| {
        panic!("{}: the YAML written back does not parse: {e}\n{text}", s.name)
    });
    assert_eq!(format!("{again:?}"), format!("{s:?}"), "{}:\n{text}", s.name);
}

#[test]
fn yaml_round_trips_every_shipped_and_test_scenario() {
    let mut files = yaml_files(&repo("scenarios"));
    files.extend(yaml_files(&repo("sim/tests/scenarios/run")));
    files.extend(yaml_files(&repo("cli/tests/scenarios")));
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        round_trip(&load_scenario(&file).unwrap_or_else(|e| panic!("{e}")));
    }
}

#[test]
fn yaml_round_trips_odd_values() {
    let s = parse_scenario(
        r##"
name: "odd: names & {braces}"
description: "two\nlines, \"quoted\""
seed: 18446744073709551615
duration: 1h2m3s4ms
protocol: "5.0"
broker: { state: volatile, max_inflight: 3, keepalive: { grace: 2.25, server_override: 10s } }
sites:
  - { name: a, link: { latency: { normal: { mean: 30ms, stddev: 5ms } }, loss: 0.012345 } }
  - { name: b, link: { latency: { pareto: { scale: 10ms, shape: 1.5 } }, jitter: 3ms } }
devices:
  - { group: true-ish, site: a, count: 2, client_id: "x-{{{i:04}}}-{group}", session_expiry: 1m,
      will: { topic: "w/{site}/{i}", qos: 2, delay: 5s }, credentials: { username: "u", password: "" },
      queue: { capacity: 0, policy: drop-newest }, start: { at: 1s, stagger: 3s }, streams_from: 40,
      publish: [ { topic: "t/{i}", qos: 2, retain: true, payload_size: 0, every: 1s,
                   burst: { size: 3, spacing: 10ms } } ],
      subscribe: [ { filter: "t/+", qos: 1 }, { filter: "#", qos: 0 } ] }
faults:
  - { random: { kinds: [power-loss, loss-burst], rate: 2.5/m }, target: { site: a }, loss: 50%, at: 1m, for: 10s, until: 50m }
  - { kind: flapping, target: { group: true-ish, fraction: 50% }, mean_down: 1s, mean_up: 9s, at: 2m, for: 1m, every: 5m, until: 1h }
  - { kind: broker-restart, at: 3m, for: 20s, state: durable }
  - { kind: blackout, direction: to-broker, target: { device: "x-{0000}-true-ish" }, at: 4m, for: 1s }
expect:
  qos0_max_duplicates: 2
  ordering: false
  liveness: { quiet_period: 5m }
  expected_loss: { qos0: "< 1.5%", qos2: "= 0%" }
"##,
        Path::new("odd.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    round_trip(&s);
}

/// The times at which `device` published, in a run of `yaml` for 2 minutes.
fn publish_times(yaml: &str, device: &str) -> Vec<u64> {
    let s = parse_scenario(yaml, Path::new("streams.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut trace = Collect::default();
    run(&s, RunOptions { trace: vec![&mut trace], ..RunOptions::default() }).unwrap();
    trace
        .0
        .iter()
        .filter(|r| r.device.as_deref() == Some(device))
        .filter(|r| matches!(r.event, Event::AppPublish { .. }))
        .map(|r| r.t_us)
        .collect()
}

#[test]
fn streams_from_keeps_a_devices_randomness() {
    let both = r#"
name: streams
seed: 5
duration: 2m
protocol: "3.1.1"
sites: [ { name: s, link: { latency: { uniform: { min: 10ms, max: 90ms } }, loss: 5% } } ]
devices:
  - { group: a, site: s, count: 3, client_id: "a{i}", publish: [ { topic: "a/{i}", qos: 1, every: 7s } ] }
  - { group: b, site: s, count: 1, client_id: "b", publish: [ { topic: "b", qos: 1, every: 7s } ] }
"#;
    let alone = both.replace(
        "  - { group: a, site: s, count: 3, client_id: \"a{i}\", publish: [ { topic: \"a/{i}\", qos: 1, every: 7s } ] }\n",
        "",
    );
    let kept = alone.replace("client_id: \"b\",", "client_id: \"b\", streams_from: 3,");
    let before = publish_times(both, "b");
    assert!(before.len() >= 15, "{before:?}");
    assert_ne!(publish_times(&alone, "b"), before, "at position 0, b draws other phases");
    assert_eq!(publish_times(&kept, "b"), before, "with streams_from: 3, b does what it did");
}

/// Shrinks and checks the result: small, standalone, and failing the same guarantee when run
/// from its YAML text.
fn shrink_and_check(scenario: &Scenario, source: &str, options: &ShrinkOptions) -> Shrunk {
    let shrunk = shrink(scenario, source, options, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let g = shrunk.guarantee;
    let again = parse_scenario(&shrunk.yaml, Path::new("shrunk.yaml"))
        .unwrap_or_else(|e| panic!("{e}\n{}", shrunk.yaml));
    assert_eq!(again.seed, options.seed, "the seed is in the file");
    let judged = judge(&again, options.tick).expect("the shrunk scenario runs");
    assert!(judged.fails(g), "the shrunk scenario must fail {g}:\n{}", shrunk.yaml);
    assert_eq!(judged.trace_records, shrunk.after.trace_records, "{}", shrunk.yaml);
    assert!(
        shrunk.after.devices <= 3 && shrunk.after.faults <= 2,
        "{source} seed {}: {} devices and {} faults left:\n{}",
        options.seed,
        shrunk.after.devices,
        shrunk.after.faults,
        shrunk.yaml
    );
    assert!(shrunk.after.duration <= shrunk.before.duration);
    assert!(shrunk.after.trace_records < shrunk.before.trace_records);
    for line in [
        format!("# Shrunk by `mqtt-sim shrink` from {source}"),
        format!("# It fails the same guarantee: {g}"),
        "# Before -> after:".to_owned(),
        "#   devices ".to_owned(),
        "#   trace records ".to_owned(),
        "# Removed:".to_owned(),
    ] {
        assert!(shrunk.yaml.contains(&line), "no `{line}` in:\n{}", shrunk.yaml);
    }
    shrunk
}

/// The scenario in which each planted bug shows (`tests/scenarios/shrink/planted.yaml`) with
/// `bug` planted, its first failing seed, shrunk. (The shipped scenarios that catch each bug
/// are shrunk by `mqtt-sim bench --case shrink`, in a release build.)
fn planted(bug: BrokerBug) {
    let case = PLANTED_BUG_CASES
        .iter()
        .find(|c| c.bug == bug)
        .unwrap_or_else(|| panic!("no case for {bug:?}"));
    let mut scenario = load_scenario(&repo("sim/tests/scenarios/shrink/planted.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    scenario.broker.bugs = vec![bug];
    let tick = ShrinkOptions::new(0).tick;
    let seed = (1..=10)
        .find(|&seed| {
            let mut s = scenario.clone();
            s.seed = seed;
            judge(&s, tick).is_some_and(|j| j.fails(case.guarantee))
        })
        .unwrap_or_else(|| panic!("{bug:?} does not break {} within 10 seeds", case.guarantee));
    let options = ShrinkOptions { guarantee: Some(case.guarantee), ..ShrinkOptions::new(seed) };
    let shrunk = shrink_and_check(&scenario, "planted.yaml", &options);
    assert_eq!(shrunk.guarantee, case.guarantee);
    assert_eq!(parse_scenario(&shrunk.yaml, Path::new("s.yaml")).unwrap().broker.bugs, [bug]);
    assert!(shrunk.before.devices >= 7 && shrunk.explicit_faults >= 8, "{:?}", shrunk.before);
}

#[test]
fn planted_forget_inflight_on_reconnect_shrinks() {
    planted(BrokerBug::ForgetInflightOnReconnect);
}

#[test]
fn planted_duplicate_qos2_on_dup_shrinks() {
    planted(BrokerBug::DuplicateQos2OnDup);
}

#[test]
fn planted_will_after_disconnect_shrinks() {
    planted(BrokerBug::WillAfterDisconnect);
}

#[test]
fn planted_no_will_on_keepalive_timeout_shrinks() {
    planted(BrokerBug::NoWillOnKeepaliveTimeout);
}

#[test]
fn planted_stale_retained_shrinks() {
    planted(BrokerBug::StaleRetained);
}

#[test]
fn planted_no_will_on_takeover_shrinks() {
    planted(BrokerBug::NoWillOnTakeover);
}

/// Four devices with Wills and a monitor; the broker does not publish the Will of a session
/// taken over by a new connection.
const TAKEOVER: &str = r##"
name: takeover
seed: 1
duration: 90s
protocol: "3.1.1"
broker: { bugs: [no-will-on-takeover] }
sites: [ { name: s, link: { latency: { uniform: { min: 10ms, max: 40ms } }, loss: 1% } } ]
devices:
  - { group: t, site: s, count: 3, client_id: "t{i}", clean_session: false, keepalive: 10s,
      reconnect: { initial: 1s, max: 2s },
      will: { topic: "will/{i}", payload: gone, qos: 1 },
      publish: [ { topic: "t/{i}", qos: 1, every: 5s } ] }
  - { group: m, site: s, count: 1, client_id: "monitor", subscribe: [ { filter: "#", qos: 1 } ] }
faults:
  - { kind: disconnect, target: { device: t0 }, at: 10s, for: 5s }
  - { kind: power-loss, target: { device: t1 }, at: 10s, for: 40s }
  - random: { kinds: [reboot], rate: 120/h }
    target: { group: t }
    for: 2s
expect: { wills: true, qos1_at_least_once: true }
"##;

#[test]
fn shrinking_wills_is_deterministic() {
    let scenario = parse_scenario(TAKEOVER, Path::new("takeover.yaml")).unwrap();
    let options = ShrinkOptions::new(3);
    let first = shrink_and_check(&scenario, "takeover.yaml", &options);
    assert_eq!(first.guarantee, Guarantee::Wills);
    assert!(first.explicit_faults > scenario.faults.len(), "the random mix is drawn out");
    let second = shrink(&scenario, "takeover.yaml", &options, &mut |_| {}).unwrap();
    assert_eq!(first.yaml, second.yaml, "the same input gives the same output");
    insta::assert_snapshot!("takeover_seed_3", first.yaml);
}

#[test]
fn the_run_budget_stops_shrinking_with_a_valid_result() {
    let scenario = parse_scenario(TAKEOVER, Path::new("takeover.yaml")).unwrap();
    let options = ShrinkOptions { max_runs: 5, ..ShrinkOptions::new(3) };
    let shrunk = shrink(&scenario, "takeover.yaml", &options, &mut |_| {}).unwrap();
    assert_eq!(shrunk.runs, 5);
    assert_eq!(shrunk.stop, mqttsim_sim::shrink::Stop::Runs);
    assert!(shrunk.yaml.contains("stopped because the budget of 5 runs was spent"));
    let again = parse_scenario(&shrunk.yaml, Path::new("shrunk.yaml")).unwrap();
    assert!(judge(&again, options.tick).unwrap().fails(Guarantee::Wills));
}

#[test]
fn a_seed_that_passes_is_not_shrunk() {
    let yaml = TAKEOVER.replace("broker: { bugs: [no-will-on-takeover] }\n", "");
    let scenario = parse_scenario(&yaml, Path::new("takeover.yaml")).unwrap();
    let err = shrink(&scenario, "takeover.yaml", &ShrinkOptions::new(3), &mut |_| {}).unwrap_err();
    assert!(matches!(err, ShrinkError::Passes { seed: 3 }), "{err}");
    let tick = Duration::from_millis(10);
    let options =
        ShrinkOptions { guarantee: Some(Guarantee::Ordering), tick, ..ShrinkOptions::new(3) };
    let scenario = parse_scenario(TAKEOVER, Path::new("takeover.yaml")).unwrap();
    let err = shrink(&scenario, "takeover.yaml", &options, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("does not fail ordering; it fails wills"), "{err}");
}
