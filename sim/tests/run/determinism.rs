//! Same scenario and seed: the same trace, byte for byte. Another seed: another trace.

use std::time::{Duration, Instant};

use crate::helpers::{jsonl, scenario};

/// Every shipped scenario, with a simulated duration short enough for a debug build.
const SHIPPED: [(&str, u64); 5] = [
    ("scenarios/flaky-farm.yaml", 60),
    ("scenarios/smart-building.yaml", 20),
    ("scenarios/reconnect-storm.yaml", 40),
    ("scenarios/qos2-heavy-loss.yaml", 60),
    ("scenarios/will-takeover.yaml", 60),
];

#[test]
fn shipped_scenarios_replay_byte_for_byte_and_seeds_matter() {
    for (path, secs) in SHIPPED {
        let started = Instant::now();
        let s = scenario(path);
        let duration = Duration::from_secs(secs);
        let first = jsonl(&s, s.seed, duration);
        let again = jsonl(&s, s.seed, duration);
        assert!(first.len() > 1000, "{path}: the trace is suspiciously small");
        assert!(first == again, "{path}: two runs with seed {} differ", s.seed);
        let other = jsonl(&s, s.seed + 1, duration);
        assert!(first != other, "{path}: seeds {} and {} give the same trace", s.seed, s.seed + 1);
        eprintln!("{path}: {} bytes, 3 runs of {secs} s in {:?}", first.len(), started.elapsed());
    }
}
