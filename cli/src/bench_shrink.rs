//! `mqtt-sim bench --case shrink`: each planted broker bug's catching scenario (a shipped
//! scenario, as `sim/tests/check_bugs.rs` pairs them), its first failing seed found, then
//! shrunk; how small the result is and how long shrinking took, against the goal of at most 3
//! devices and 2 faults in under 2 minutes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use mqttsim_sim::scenario::{TimeSpan, parse_scenario};
use mqttsim_sim::shrink::{PLANTED_BUG_CASES, ShrinkOptions, judge, shrink};

/// The goal: devices, faults, wall time.
const GOAL: (u64, usize, Duration) = (3, 2, Duration::from_secs(120));

/// Runs every case; false if one missed the goal.
pub fn shrink_bench(scenarios: &Path) -> anyhow::Result<bool> {
    println!(
        "shrink: each planted bug's catching scenario and first failing seed in 1..=100, shrunk; \
         goal <= {} devices, <= {} faults, < {} s",
        GOAL.0,
        GOAL.1,
        GOAL.2.as_secs()
    );
    println!(
        "{:<29} {:<22} {:>4} {:>12} {:>8} {:>15} {:>16} {:>5} {:>8} {:>8}  goal",
        "bug",
        "scenario",
        "seed",
        "devices",
        "faults",
        "duration",
        "trace records",
        "runs",
        "search",
        "shrink"
    );
    let mut all_met = true;
    for case in PLANTED_BUG_CASES {
        let scenario = case.scenario(scenarios).map_err(|e| anyhow::anyhow!("{e}"))?;
        let tick = ShrinkOptions::new(0).tick;
        eprintln!("{}: finding the first failing seed ...", case.bug_name());
        let searching = Instant::now();
        let seed = case.first_failing_seed(&scenario, 1..=100, tick).with_context(|| {
            format!("{} is not caught in {} within 100 seeds", case.bug_name(), case.file)
        })?;
        let search = searching.elapsed();
        eprintln!("{}: shrinking seed {seed} ...", case.bug_name());
        let options = ShrinkOptions {
            duration: Some(case.duration()),
            guarantee: Some(case.guarantee),
            ..ShrinkOptions::new(seed)
        };
        let started = Instant::now();
        let source = format!("scenarios/{}", case.file);
        let shrunk = shrink(&scenario, &source, &options, &mut |_| {})
            .map_err(|e| anyhow::anyhow!("{}: {e}", case.bug_name()))?;
        let wall = started.elapsed();
        // The result stands alone: parsed from its text and run again, it fails the same way.
        let again = parse_scenario(&shrunk.yaml, Path::new("shrunk.yaml"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let reproduced = judge(&again, tick).is_some_and(|j| j.fails(case.guarantee));
        let (b, a) = (&shrunk.before, &shrunk.after);
        let met = reproduced && a.devices <= GOAL.0 && a.faults <= GOAL.1 && wall < GOAL.2;
        all_met &= met;
        println!(
            "{:<29} {:<22} {:>4} {:>12} {:>8} {:>15} {:>16} {:>5} {:>7.1}s {:>7.1}s  {}",
            case.bug_name(),
            format!("{} {}m", case.file.trim_end_matches(".yaml"), case.minutes),
            seed,
            format!("{} -> {}", b.devices, a.devices),
            format!("{} -> {}", b.faults, a.faults),
            format!("{} -> {}", TimeSpan(b.duration), TimeSpan(a.duration)),
            format!("{} -> {}", b.trace_records, a.trace_records),
            shrunk.runs,
            search.as_secs_f64(),
            wall.as_secs_f64(),
            match (met, reproduced) {
                (true, _) => "met",
                (false, false) => "MISSED (the result does not fail the same guarantee)",
                (false, true) => "MISSED",
            }
        );
    }
    println!(
        "search: finding the seed (not part of the goal); shrink: the shrinking itself, its two \
         first runs (the seed as given, then made explicit) included"
    );
    Ok(all_met)
}
