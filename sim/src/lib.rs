//! The deterministic simulator.
//!
//! **In your own tests**, start with [`testing`]: a scenario from a file or a string, a run, its
//! verdict and trace, failure messages with the replay command, seeds from `MQTT_SIM_SEED`.
//!
//! Load a scenario, [`run`](fn@run) it, read the trace:
//!
//! ```
//! use std::path::Path;
//! use std::time::Duration;
//! use mqttsim_sim::scenario::parse_scenario;
//! use mqttsim_sim::trace::{Collect, Event};
//! use mqttsim_sim::{RunOptions, RunReport, run};
//!
//! let yaml = r#"
//! name: two-sensors
//! seed: 1
//! duration: 1m
//! protocol: "3.1.1"
//! sites: [ { name: field, link: { latency: 40ms } } ]
//! devices:
//!   - { group: sensor, site: field, count: 2, client_id: "sensor-{i}",
//!       publish: [ { topic: "field/{i}/temp", qos: 1, every: 10s } ] }
//!   - { group: sink, site: field, count: 1, client_id: "sink",
//!       subscribe: [ { filter: "field/#", qos: 1 } ] }
//! faults:
//!   - { kind: crash, target: { device: sensor-1 }, at: 30s }
//! "#;
//! let scenario = parse_scenario(yaml, Path::new("two-sensors.yaml")).unwrap();
//! let mut trace = Collect::default();
//! let options = RunOptions {
//!     duration: Some(Duration::from_secs(40)),
//!     trace: vec![&mut trace],
//!     ..RunOptions::default()
//! };
//! let report = run(&scenario, options).unwrap();
//! assert_eq!(report.devices, 3);
//! assert_eq!(report.faults.get("crash"), Some(&1));
//! // Every message is named `<client_id>#<n>` in its payload, so deliveries match publishes.
//! let delivered = trace.0.iter().filter(|r| {
//!     matches!(&r.event, Event::Delivered { msg: Some(m), .. } if m == "sensor-0#1")
//! });
//! assert_eq!(delivered.count(), 1);
//! // The same seed gives the same run: the summary too, but for the wall time.
//! let options = RunOptions { duration: Some(Duration::from_secs(40)), ..RunOptions::default() };
//! let again = run(&scenario, options).unwrap();
//! assert_eq!(RunReport { wall_ms: 0, ..again }, RunReport { wall_ms: 0, ..report });
//! ```
//!
//! Modules:
//! - [`scenario`]: the YAML scenario format: model, parser with located errors, JSON Schema.
//! - [`clock`]: "now" since the run's start: simulated (turmoil) or real (a live run).
//! - [`world`]: builds the turmoil world from a seed, host names, the simulated clock.
//! - [`rng`]: per-purpose, per-device random streams derived from the scenario seed.
//! - [`link`]: the per-device link model (pure) and its async adapter on turmoil streams.
//! - [`live`]: live mode: the same devices, links and faults in real time against a real
//!   broker, and the broker-side records derived from what the devices saw.
//! - [`plan`]: a scenario resolved for one seed: devices, start times, links, fault schedule.
//! - [`run`](mod@run): the runner: the broker host and the device hosts on turmoil, the step loop, the
//!   summary.
//! - [`trace`]: the typed trace records and their JSON Lines and text writers.
//! - [`check`]: the oracle that judges a trace against the scenario's `expect:` section.
//! - [`explore`]: seed sweeps in parallel, shards, and swarm variation of a scenario per seed.
//! - [`results`]: a sweep's results file: its header, reading, merging shards.
//! - [`report`]: the HTML report, `summary.md` and `junit.xml` of a run, and a sweep's index.
//! - [`shrink`]: from a failing seed to a small scenario that fails the same guarantee.
//! - [`replay`]: the `mqtt-sim run FILE --seed N ...` command that replays a seed.
//! - [`testing`]: the surface for users' own `cargo test`: run, verdict, trace views, replay.
//! - `device`: one device's task: application, client core, reconnects, faults (private).
//! - `tap`: the packet-level trace: decodes what a device writes and reads (private).
//!
//! Layout of a simulation: the broker runs on the host [`world::BROKER_HOST`]; devices run as
//! tasks on one device host per 10,000 devices ([`world::device_host`]), whatever their sites:
//! a site is a link and a target for faults, not a host. Turmoil's own links are perfect (no
//! random latency, loss or partitions, which would stall its TCP for ever); each device's
//! link — latency, loss as retransmission delay, blackouts, flapping, resets — is modelled by
//! [`link::LinkModel`] and applied on the device side by [`link::DeviceLink`].

pub use mqttsim_verdict::check;
pub mod clock;
mod device;
pub mod explore;
pub mod link;
pub mod live;
pub mod plan;
pub mod replay;
pub use mqttsim_verdict::report;
pub mod results;
pub mod rng;
pub mod run;
pub use mqttsim_verdict::scenario;
pub mod shrink;
mod tap;
pub mod testing;
pub use mqttsim_verdict::trace;
pub mod world;

pub use run::{RunOptions, RunReport, SimError, run};
