//! A scenario made explicit for one seed: every fault the plan drew becomes a plain fault at its
//! time, so that removing one fault or device no longer changes which others happen.
//!
//! Random mixes become one fault per draw on the device drawn; a repeating fault becomes one
//! fault per repetition; a target that draws `count` or `fraction` of a group or site becomes
//! one fault per device drawn. Whole groups, sites and single devices stay targets as written:
//! they mean the same devices whatever is removed around them. The `expect:` section keeps only
//! the guarantee being shrunk.

use std::time::Duration;

use crate::check::Guarantee;
use crate::plan::{Plan, PlanError};
use crate::scenario::{Expectations, FaultKind, FaultSpec, Scenario, Target, TimeSpan};

/// `scenario` (already varied by the seed, if swarm) made explicit for `seed`.
pub(crate) fn explicit(
    scenario: &Scenario,
    seed: u64,
    guarantee: Guarantee,
) -> Result<Scenario, PlanError> {
    let duration = scenario.duration.get();
    let plan = Plan::new(scenario, seed, duration)?;
    let mut faults = Vec::with_capacity(plan.occurrences.len());
    for occurrence in &plan.occurrences {
        let source = &scenario.faults[occurrence.fault];
        // Times are written in milliseconds; rounding up keeps each fault in the step it fell in
        // (tokio's timers round up to the millisecond too).
        let at = ceil_ms(occurrence.at);
        if at > duration {
            continue;
        }
        let lasts = match occurrence.lasts {
            Some(l) if occurrence.kind != FaultKind::Crash => {
                let l = ceil_ms(l).min(duration - at);
                if l.is_zero() {
                    continue;
                }
                Some(TimeSpan(l))
            }
            _ => None,
        };
        let plain =
            |target: Option<Target>| plain_fault(source, occurrence.kind, target, at, lasts);
        if occurrence.kind == FaultKind::BrokerRestart {
            faults.push(plain(None));
            continue;
        }
        let drawn = source.random.is_some()
            || source.target.as_ref().is_some_and(|t| t.count.is_some() || t.fraction.is_some());
        if drawn {
            for &d in &occurrence.devices {
                let id = plan.devices[d as usize].client_id.clone();
                faults.push(plain(Some(device_target(id))));
            }
        } else {
            faults.push(plain(source.target.clone()));
        }
    }
    let mut out = scenario.clone();
    out.name = format!("{}-shrunk", scenario.name);
    out.description = format!("{} seed {seed} shrunk: fails {guarantee}", scenario.name);
    out.seed = seed;
    out.faults = faults;
    out.expect = only(&scenario.expect, guarantee);
    Ok(out)
}

fn ceil_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

/// A target naming one device.
pub(crate) fn device_target(client_id: String) -> Target {
    Target { device: Some(client_id), group: None, site: None, count: None, fraction: None }
}

/// One occurrence of `source` as a fault of its own: the fields its kind uses, no repetition.
fn plain_fault(
    source: &FaultSpec,
    kind: FaultKind,
    target: Option<Target>,
    at: Duration,
    lasts: Option<TimeSpan>,
) -> FaultSpec {
    let cut = matches!(kind, FaultKind::Blackout | FaultKind::Partition);
    let flapping = kind == FaultKind::Flapping;
    FaultSpec {
        kind: Some(kind),
        random: None,
        target,
        direction: if cut { source.direction } else { None },
        at: Some(TimeSpan(at)),
        lasts,
        every: None,
        until: None,
        loss: if kind == FaultKind::LossBurst { source.loss } else { None },
        mean_down: if flapping { source.mean_down } else { None },
        mean_up: if flapping { source.mean_up } else { None },
        state: if kind == FaultKind::BrokerRestart { source.state } else { None },
        reason: if kind == FaultKind::Disconnect { source.reason } else { None },
    }
}

/// The expectations with only `guarantee` kept.
fn only(expect: &Expectations, guarantee: Guarantee) -> Expectations {
    let mut out = Expectations::default();
    match guarantee {
        Guarantee::Qos0MaxDuplicates => out.qos0_max_duplicates = expect.qos0_max_duplicates,
        Guarantee::Qos1AtLeastOnce => out.qos1_at_least_once = expect.qos1_at_least_once,
        Guarantee::Qos2ExactlyOnce => out.qos2_exactly_once = expect.qos2_exactly_once,
        Guarantee::Ordering => out.ordering = expect.ordering,
        Guarantee::Wills => out.wills = expect.wills,
        Guarantee::Retained => out.retained = expect.retained,
        Guarantee::Liveness => out.liveness = expect.liveness,
        Guarantee::ExpectedLoss => out.expected_loss = expect.expected_loss.clone(),
        Guarantee::SharedSubscriptions => out.shared_subscriptions = expect.shared_subscriptions,
        Guarantee::SharedRedistribution => {
            out.shared_redistribution = expect.shared_redistribution;
        }
        Guarantee::NoLocal => out.no_local = expect.no_local,
        Guarantee::Sessions => out.sessions = expect.sessions,
        Guarantee::MessageExpiry => out.message_expiry = expect.message_expiry,
        Guarantee::ReceiveMaximum => out.receive_maximum = expect.receive_maximum,
        Guarantee::MaximumPacketSize => out.maximum_packet_size = expect.maximum_packet_size,
        Guarantee::TopicAliases => out.topic_aliases = expect.topic_aliases,
        Guarantee::MessageProperties => out.message_properties = expect.message_properties,
        Guarantee::RequestResponse => out.request_response = expect.request_response,
        Guarantee::RetainAsPublished => out.retain_as_published = expect.retain_as_published,
        Guarantee::MaximumQos => out.maximum_qos = expect.maximum_qos,
    }
    out
}

/// The expectations `expect` sets, by name, for saying which were dropped.
pub(crate) fn expectation_names(expect: &Expectations) -> Vec<&'static str> {
    Guarantee::ALL
        .into_iter()
        .filter(|g| only(expect, *g) != Expectations::default())
        .map(Guarantee::name)
        .collect()
}
