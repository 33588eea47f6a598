//! Seed sweeps: results do not depend on the number of worker threads, and swarm variation is
//! a function of the seed.

use std::path::Path;

use mqttsim_sim::explore::{ExploreOptions, SeedResult, explore, swarm};
use mqttsim_sim::scenario::{Scenario, parse_scenario};

const SMALL: &str = r#"
name: small
seed: 1
duration: 30s
protocol: "3.1.1"
sites: [ { name: s, link: { latency: 30ms, loss: 5% } } ]
devices:
  - { group: p, site: s, count: 3, client_id: "p{i}", publish: [ { topic: "t/{i}", qos: 1, every: 2s } ] }
  - { group: q, site: s, count: 1, client_id: "sink", subscribe: [ { filter: "t/#", qos: 1 } ] }
faults:
  - { kind: power-loss, target: { device: p0 }, at: 5s, for: 5s }
  - random: { kinds: [reboot], rate: 60/h }
    target: { group: p }
    for: 2s
expect: { qos1_at_least_once: true, ordering: true }
"#;

fn small() -> Scenario {
    parse_scenario(SMALL, Path::new("small.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The deterministic part of a result (wall times vary).
fn verdicts(results: &[SeedResult]) -> Vec<(u64, bool, u64, Vec<String>)> {
    results.iter().map(|r| (r.seed, r.failed, r.violations, r.failed_guarantees.clone())).collect()
}

#[test]
fn results_are_the_same_on_one_or_two_threads_and_ordered_by_seed() {
    let scenario = small();
    let seeds: Vec<u64> = (1..=6).rev().collect();
    let one =
        explore(&scenario, &seeds, &ExploreOptions { jobs: 1, ..Default::default() }, &|_| {});
    let two =
        explore(&scenario, &seeds, &ExploreOptions { jobs: 2, ..Default::default() }, &|_| {});
    assert_eq!(verdicts(&one), verdicts(&two));
    assert_eq!(one.iter().map(|r| r.seed).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert!(one.iter().all(|r| !r.failed), "the correct broker passes: {one:?}");
}

#[test]
fn swarm_variation_is_a_function_of_the_seed() {
    let scenario = small();
    let a = format!("{:?}", swarm(&scenario, 11));
    assert_eq!(a, format!("{:?}", swarm(&scenario, 11)), "same seed, same variation");
    let differing = (12..20).filter(|&s| format!("{:?}", swarm(&scenario, s)) != a).count();
    assert!(differing >= 6, "other seeds vary the scenario differently ({differing} of 8)");
    let swarmed = ExploreOptions { jobs: 2, swarm: true, ..Default::default() };
    let results = explore(&scenario, &[1, 2, 3], &swarmed, &|_| {});
    assert!(results.iter().all(|r| r.error.is_none()), "varied scenarios still run: {results:?}");
}
