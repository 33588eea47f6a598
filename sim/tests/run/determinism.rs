//! Same scenario and seed: the same trace, byte for byte. Another seed: another trace.

use std::time::{Duration, Instant};

use mqttsim_codec::Protocol;
use mqttsim_sim::scenario::{ProtocolVersion, Scenario};
use mqttsim_sim::trace::Record;

use crate::helpers::{jsonl, scenario};

/// Every shipped scenario, with a simulated duration short enough for a debug build.
const SHIPPED: [(&str, u64); 11] = [
    ("scenarios/flaky-farm.yaml", 150),
    ("scenarios/smart-building.yaml", 20),
    ("scenarios/reconnect-storm.yaml", 40),
    ("scenarios/qos2-heavy-loss.yaml", 60),
    ("scenarios/will-takeover.yaml", 60),
    ("scenarios/shared-ingest.yaml", 240),
    ("scenarios/sleepy-sensors.yaml", 360),
    ("scenarios/device-management.yaml", 90),
    ("scenarios/alarm-panels.yaml", 180),
    ("scenarios/retained-mirror.yaml", 240),
    ("scenarios/live-check.yaml", 120),
];

/// Runs `s` three times: twice with its seed, once with the next.
fn check(name: &str, s: &Scenario, secs: u64) {
    let started = Instant::now();
    let duration = Duration::from_secs(secs);
    let first = jsonl(s, s.seed, duration);
    let again = jsonl(s, s.seed, duration);
    assert!(first.len() > 10_000, "{name}: the trace is suspiciously small");
    assert!(first == again, "{name}: two runs with seed {} differ", s.seed);
    let other = jsonl(s, s.seed + 1, duration);
    assert!(first != other, "{name}: seeds {} and {} give the same trace", s.seed, s.seed + 1);
    // The trace is in time order, and every line reads back as a typed record.
    let mut last = 0;
    for line in first.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let record: Record = serde_json::from_slice(line).expect("a trace line is a record");
        assert!(record.t_us >= last, "{name}: the trace goes back in time at {record:?}");
        last = record.t_us;
    }
    eprintln!("{name}: {} bytes, 3 runs of {secs} s in {:?}", first.len(), started.elapsed());
}

#[test]
fn shipped_scenarios_replay_byte_for_byte_and_seeds_matter() {
    for (path, secs) in SHIPPED {
        let mut s = scenario(path);
        check(path, &s, secs);
        if s.protocol.get() == Protocol::V5 {
            // Run 5.0 scenarios as 3.1.1 as well, so that both protocols replay byte for byte
            // on the same traffic and faults.
            s.protocol = ProtocolVersion(Protocol::V311);
            check(&format!("{path} as 3.1.1"), &s, secs);
        }
    }
}
