//! Resolving a scenario into a concrete plan: every device, its start time and link, and every
//! fault with its time and its targets, all drawn from the seed before the run starts.
//!
//! The plan is pure data; [`crate::run()`] executes it on turmoil. Drawing everything up front
//! keeps the fault schedule independent of what happens during the run.

use std::time::Duration;

use rand::Rng;
use rand::seq::index::sample;

use crate::link::{Directions, Flap, Latency, LinkConfig, LinkConfigError, Retransmit};
use crate::rng::{Purpose, Seeds, SimRng};
use crate::scenario::{
    self, Direction, FaultAction, FaultKind, LinkSpec, Scenario, StateMode, Target,
};

/// The most devices on one turmoil host: a larger fleet is split over several hosts.
///
/// Hosts are few because every turmoil step costs about a microsecond per host, whatever
/// happens in it, and turmoil's cost per step grows with the cube of the host count. They are
/// not one per site because a site is only a link and a target for faults, both modelled on the
/// device side. They hold at most this many devices because turmoil 0.7.2 scans every socket of
/// a host to pick an ephemeral port for each connect, so a host with n devices costs O(n) per
/// connection attempt; 100,000 devices on two hosts did not finish a simulated minute in ten
/// wall minutes. The split is invisible to the scenario: a device's site is kept in the plan.
pub const MAX_DEVICES_PER_HOST: usize = 10_000;

/// Stream indices of [`Purpose::FAULT`] used to pick a fault's targets start here (the random
/// mixes use the fault's own index).
const TARGET_STREAM_BASE: u64 = 1 << 32;

/// One device of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicePlan {
    /// The device number across the whole fleet, from 0; it names its random streams.
    pub index: u64,
    /// The index of its random streams: its fleet position unless its group says otherwise.
    pub stream: u64,
    /// The index of its group in the scenario.
    pub group: usize,
    /// Its index within the group (`{i}`).
    pub i: usize,
    /// Its client id.
    pub client_id: String,
    /// The name of its site.
    pub site: String,
    /// The device host it runs on (index into [`Plan::hosts`]).
    pub host: usize,
    /// When it first powers on.
    pub start: Duration,
    /// Its link configuration (the site's link overridden by the group's).
    pub link: LinkConfig,
    /// Faults on this device's link, registered on its model before the run.
    pub link_faults: Vec<LinkChange>,
    /// Faults on the device itself, in time order.
    pub faults: Vec<DeviceFault>,
}

/// A change to a device's link during a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkChange {
    /// When it starts.
    pub from: Duration,
    /// When it ends.
    pub until: Duration,
    /// What changes.
    pub action: LinkAction,
}

/// What a link fault does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinkAction {
    /// Nothing gets through in these directions.
    Blackout(Directions),
    /// The loss rate becomes this.
    Loss(f64),
    /// The link flaps.
    Flapping(Flap),
}

/// A fault on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFault {
    /// When it happens.
    pub at: Duration,
    /// `power-loss`, `crash`, `disconnect` or `reboot`.
    pub kind: FaultKind,
    /// How long until the device is back, if it comes back.
    pub lasts: Option<Duration>,
    /// A `disconnect`'s DISCONNECT reason.
    pub reason: scenario::DisconnectReason,
}

/// A link fault on several devices, for the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkFaultNote {
    /// When it starts.
    pub from: Duration,
    /// When it ends.
    pub until: Duration,
    /// `blackout`, `partition`, `loss-burst` or `flapping`.
    pub kind: FaultKind,
    /// The target as written (`site=east-field`).
    pub target: String,
    /// Which way a blackout cuts.
    pub direction: Option<Direction>,
    /// The loss rate of a loss burst.
    pub loss: Option<f64>,
    /// The affected devices, by fleet index.
    pub devices: Vec<u64>,
}

/// A broker crash and restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// When the broker crashes.
    pub at: Duration,
    /// How long it stays down.
    pub down_for: Duration,
    /// Whether its store survives.
    pub state: StateMode,
}

/// One occurrence of a scenario fault as the plan applied it: a random mix's draw, one
/// repetition of a repeating fault, with the devices its target resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The index of the fault in the scenario's `faults`.
    pub fault: usize,
    /// What happens (for a random mix: the kind drawn).
    pub kind: FaultKind,
    /// When it starts.
    pub at: Duration,
    /// How long it lasts, if it ends.
    pub lasts: Option<Duration>,
    /// The affected devices, by fleet index (empty for a broker restart).
    pub devices: Vec<u64>,
}

/// A scenario resolved for one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The seed everything was drawn from.
    pub seed: u64,
    /// How long the run lasts.
    pub duration: Duration,
    /// The device hosts: for each, its turmoil host name.
    pub hosts: Vec<String>,
    /// Every device, by fleet index.
    pub devices: Vec<DevicePlan>,
    /// Link faults for the trace, in time order.
    pub link_faults: Vec<LinkFaultNote>,
    /// Broker restarts, in time order.
    pub restarts: Vec<Restart>,
    /// Every fault occurrence, in the order the scenario's faults were applied (fault by fault,
    /// each in time order): what `mqtt-sim shrink` turns into plain faults.
    pub occurrences: Vec<Occurrence>,
}

/// Why a scenario cannot be planned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A group's effective link is not usable.
    #[error("the link of group `{group}` is not usable: {source}")]
    Link {
        /// The group.
        group: String,
        /// What is wrong.
        source: LinkConfigError,
    },
}

/// Converts a scenario link (missing fields mean "none") into the link model's configuration.
pub fn link_config(spec: &LinkSpec) -> LinkConfig {
    let latency = match spec.latency {
        None => Latency::Fixed(Duration::ZERO),
        Some(scenario::Latency::Fixed(v)) => Latency::Fixed(v.get()),
        Some(scenario::Latency::Uniform { min, max }) => {
            Latency::Uniform { min: min.get(), max: max.get() }
        }
        Some(scenario::Latency::Normal { mean, stddev }) => {
            Latency::Normal { mean: mean.get(), std_dev: stddev.get() }
        }
        Some(scenario::Latency::Lognormal { median, sigma }) => {
            Latency::LogNormal { median: median.get(), sigma }
        }
        Some(scenario::Latency::Pareto { scale, shape }) => {
            Latency::Pareto { scale: scale.get(), shape }
        }
    };
    let retransmit = match spec.retransmission {
        None => Retransmit::default(),
        Some(r) => Retransmit {
            initial_rto: r.initial_rto.get(),
            max_rto: r.max_rto.get(),
            max_retransmissions: r.max_retransmissions,
            // The model grows the timeout by a whole factor; scenarios allow 1 to 16.
            backoff: r.backoff.round().clamp(1.0, 16.0) as u32,
        },
    };
    LinkConfig {
        latency,
        jitter: spec.jitter.map(|j| j.get()).unwrap_or_default(),
        loss: spec.loss.map(|l| l.get()).unwrap_or(0.0),
        retransmit,
        flapping: spec
            .flapping
            .map(|f| Flap { mean_up: f.mean_up.get(), mean_down: f.mean_down.get() }),
    }
}

fn directions(direction: Direction) -> Directions {
    match direction {
        Direction::Both => Directions::Both,
        Direction::ToBroker => Directions::ToBroker,
        Direction::FromBroker => Directions::FromBroker,
    }
}

/// The kebab-case name of a cut direction.
pub fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Both => "both",
        Direction::ToBroker => "to-broker",
        Direction::FromBroker => "from-broker",
    }
}

/// An exponential draw with the given mean, from `rng`.
fn exponential(rng: &mut SimRng, mean: Duration) -> Duration {
    let u: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    Duration::try_from_secs_f64(-u.ln() * mean.as_secs_f64()).unwrap_or(Duration::MAX)
}

impl Plan {
    /// Resolves `scenario` with `seed` (usually the scenario's own) for a run of `duration`.
    ///
    /// # Errors
    ///
    /// Returns an error if a group's link cannot be modelled.
    pub fn new(scenario: &Scenario, seed: u64, duration: Duration) -> Result<Plan, PlanError> {
        let seeds = Seeds::new(seed);
        // Sites are not hosts: every device shares a few device hosts, filled round-robin in
        // fleet order, one host per MAX_DEVICES_PER_HOST devices.
        let total = usize::try_from(scenario.device_count()).unwrap_or(usize::MAX);
        let host_count = total.div_ceil(MAX_DEVICES_PER_HOST).max(1);
        let hosts: Vec<String> = (0..host_count).map(crate::world::device_host).collect();

        let mut devices = Vec::with_capacity(usize::try_from(scenario.device_count()).unwrap_or(0));
        for (g, group) in scenario.devices.iter().enumerate() {
            let link = link_config(&scenario.effective_link(group));
            link.validate()
                .map_err(|source| PlanError::Link { group: group.group.clone(), source })?;
            let count = u128::from(group.count.max(1));
            let first = devices.len() as u64;
            for i in 0..group.count as usize {
                let stagger = group.start.stagger.get().as_nanos() * i as u128 / count;
                let start = group.start.at.get()
                    + Duration::from_nanos(u64::try_from(stagger).unwrap_or(u64::MAX));
                devices.push(DevicePlan {
                    index: devices.len() as u64,
                    stream: group.stream(first, i),
                    group: g,
                    i,
                    client_id: group.client_id(i),
                    site: group.site.clone(),
                    host: devices.len() % host_count,
                    start,
                    link,
                    link_faults: Vec::new(),
                    faults: Vec::new(),
                });
            }
        }

        let mut plan = Plan {
            seed,
            duration,
            hosts,
            devices,
            link_faults: Vec::new(),
            restarts: Vec::new(),
            occurrences: Vec::new(),
        };
        let end = scenario::TimeSpan(duration);
        for (f, fault) in scenario.faults.iter().enumerate() {
            let lasts = fault.lasts.map(|l| l.get());
            match fault.action() {
                FaultAction::BrokerRestart { .. } => {
                    for at in fault.occurrences(end) {
                        plan.restarts.push(Restart {
                            at: at.get(),
                            down_for: lasts.unwrap_or_default(),
                            state: scenario.restart_state(fault),
                        });
                        plan.occurrences.push(Occurrence {
                            fault: f,
                            kind: FaultKind::BrokerRestart,
                            at: at.get(),
                            lasts,
                            devices: Vec::new(),
                        });
                    }
                }
                FaultAction::Random { random, target } => {
                    let pool = match target {
                        Some(t) => plan.targets(scenario, t, &seeds, f as u64),
                        None => (0..plan.devices.len() as u64).collect(),
                    };
                    if pool.is_empty() || random.kinds.is_empty() {
                        continue;
                    }
                    let mut rng = seeds.stream(Purpose::FAULT, f as u64);
                    let mean = random.mean_interval();
                    let until = fault.until.map_or(duration, |u| u.get()).min(duration);
                    let mut t = fault.at.unwrap_or_default().get();
                    loop {
                        t = t.saturating_add(exponential(&mut rng, mean));
                        if t >= until {
                            break;
                        }
                        let kind = random.kinds[rng.random_range(0..random.kinds.len())];
                        let device = pool[rng.random_range(0..pool.len())];
                        plan.apply(f, fault, kind, t, lasts, vec![device], "random".to_owned());
                    }
                }
                FaultAction::Cut { target, .. }
                | FaultAction::LossBurst { target, .. }
                | FaultAction::Flapping { target, .. }
                | FaultAction::Device { target, .. } => {
                    let kind = fault.kind.expect("validated: a timeline fault has a kind");
                    let devices = plan.targets(scenario, target, &seeds, f as u64);
                    for at in fault.occurrences(end) {
                        let target = describe(target);
                        plan.apply(f, fault, kind, at.get(), lasts, devices.clone(), target);
                    }
                }
            }
        }
        plan.restarts.sort_by_key(|r| r.at);
        plan.link_faults.sort_by_key(|n| n.from);
        for device in &mut plan.devices {
            device.faults.sort_by_key(|d| d.at);
        }
        Ok(plan)
    }

    /// Records one occurrence of fault number `source`, of `kind`, at `at` on `devices`.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        source: usize,
        fault: &scenario::FaultSpec,
        kind: FaultKind,
        at: Duration,
        lasts: Option<Duration>,
        devices: Vec<u64>,
        target: String,
    ) {
        let until = at.saturating_add(lasts.unwrap_or_default());
        self.occurrences.push(Occurrence {
            fault: source,
            kind,
            at,
            lasts: if kind == FaultKind::Crash { None } else { lasts },
            devices: devices.clone(),
        });
        let action = match kind {
            FaultKind::Blackout | FaultKind::Partition => {
                LinkAction::Blackout(directions(fault.direction.unwrap_or_default()))
            }
            FaultKind::LossBurst => LinkAction::Loss(fault.loss.map_or(0.0, |l| l.get())),
            FaultKind::Flapping => LinkAction::Flapping(Flap {
                mean_up: fault.mean_up.map(|m| m.get()).unwrap_or(Duration::from_secs(60)),
                mean_down: fault.mean_down.map(|m| m.get()).unwrap_or(Duration::from_secs(1)),
            }),
            FaultKind::PowerLoss | FaultKind::Crash | FaultKind::Disconnect | FaultKind::Reboot => {
                let lasts = if kind == FaultKind::Crash { None } else { lasts };
                for &d in &devices {
                    let reason = fault.reason.unwrap_or_default();
                    self.devices[d as usize].faults.push(DeviceFault { at, kind, lasts, reason });
                }
                return;
            }
            FaultKind::BrokerRestart => {
                self.restarts.push(Restart {
                    at,
                    down_for: lasts.unwrap_or_default(),
                    state: fault.state.unwrap_or_default(),
                });
                return;
            }
        };
        for &d in &devices {
            self.devices[d as usize].link_faults.push(LinkChange { from: at, until, action });
        }
        self.link_faults.push(LinkFaultNote {
            from: at,
            until,
            kind,
            target,
            direction: matches!(kind, FaultKind::Blackout | FaultKind::Partition)
                .then(|| fault.direction.unwrap_or_default()),
            loss: match action {
                LinkAction::Loss(l) => Some(l),
                _ => None,
            },
            devices,
        });
    }

    /// The fleet indices a target names, in fleet order; `count` and `fraction` draw a subset
    /// from the seed (stream `fault`).
    fn targets(&self, scenario: &Scenario, target: &Target, seeds: &Seeds, fault: u64) -> Vec<u64> {
        let all: Vec<u64> = self
            .devices
            .iter()
            .filter(|d| {
                if let Some(id) = &target.device {
                    return &d.client_id == id;
                }
                if let Some(group) = &target.group {
                    return scenario.devices[d.group].group == *group;
                }
                if let Some(site) = &target.site {
                    return d.site == *site;
                }
                false
            })
            .map(|d| d.index)
            .collect();
        let want = match (target.count, target.fraction) {
            (Some(count), _) => (count as usize).min(all.len()),
            (None, Some(fraction)) => {
                ((all.len() as f64 * fraction.get()).round() as usize).min(all.len())
            }
            (None, None) => return all,
        };
        let mut rng = seeds.stream(Purpose::FAULT, TARGET_STREAM_BASE + fault);
        let mut picked: Vec<u64> =
            sample(&mut rng, all.len(), want).into_iter().map(|k| all[k]).collect();
        picked.sort_unstable();
        picked
    }

    /// The devices running on device host `host`.
    pub fn devices_on(&self, host: usize) -> impl Iterator<Item = &DevicePlan> {
        self.devices.iter().filter(move |d| d.host == host)
    }
}

/// A target as text, for the trace: `site=east-field count=20`.
fn describe(target: &Target) -> String {
    let mut out = String::new();
    if let Some(d) = &target.device {
        out.push_str(&format!("device={d}"));
    }
    if let Some(g) = &target.group {
        out.push_str(&format!("group={g}"));
    }
    if let Some(s) = &target.site {
        out.push_str(&format!("site={s}"));
    }
    if let Some(c) = target.count {
        out.push_str(&format!(" count={c}"));
    }
    if let Some(f) = target.fraction {
        out.push_str(&format!(" fraction={}%", fmt_pct(f.get())));
    }
    out
}

/// A fraction as a percentage with at most two decimals, printed the same way every time.
pub fn fmt_pct(fraction: f64) -> String {
    let hundredths = (fraction * 10_000.0).round() as u64;
    if hundredths.is_multiple_of(100) {
        format!("{}", hundredths / 100)
    } else {
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    }
}
