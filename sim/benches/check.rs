//! The checker's cost on real traces: flaky-farm (1,000 devices, faults) and smart-building
//! (10,000 devices, busy), each simulated for 10 minutes once, then judged again and again.
//! Run with `cargo bench -p mqttsim-sim --bench check`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mqttsim_sim::check::{CheckOptions, check};
use mqttsim_sim::scenario::load_scenario;
use mqttsim_sim::trace::Collect;
use mqttsim_sim::{RunOptions, run};

const SIMULATED: Duration = Duration::from_secs(600);

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for name in ["flaky-farm", "smart-building"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.yaml"));
        let scenario = load_scenario(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut trace = Collect::default();
        let options = RunOptions {
            duration: Some(SIMULATED),
            trace: vec![&mut trace],
            ..RunOptions::default()
        };
        run(&scenario, options).unwrap_or_else(|e| panic!("{e}"));
        let records = trace.0;
        let options = CheckOptions { end: SIMULATED, ..CheckOptions::default() };
        group.throughput(Throughput::Elements(records.len() as u64));
        // The id leaves the record count out, so a baseline stays comparable when a scenario's
        // trace grows; the count is printed instead.
        eprintln!("{name}, 10 simulated minutes: {} records", records.len());
        group.bench_function(format!("{name}-10m"), |b| {
            b.iter(|| black_box(check(&scenario, black_box(&records), &options)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
