//! The edits shrinking tries: each takes a scenario and gives a smaller one that is still
//! consistent (targets name devices that exist, windows end by the end of the run), or says
//! the edit does not apply.

use std::collections::BTreeSet;
use std::time::Duration;

use super::explicit::device_target;
use crate::scenario::{
    DeviceGroup, FaultKind, FaultSpec, Latency, LinkSpec, Scenario, Template, TimeSpan,
};

/// A device of the fleet: its group's index and its index in the group.
pub(crate) type DeviceRef = (usize, usize);

/// Every device of the fleet, in fleet order.
pub(crate) fn devices(s: &Scenario) -> Vec<DeviceRef> {
    s.devices
        .iter()
        .enumerate()
        .flat_map(|(g, group)| (0..group.count as usize).map(move |i| (g, i)))
        .collect()
}

/// The scenario with only the devices `keep` says yes to.
///
/// A group that keeps all its devices is unchanged; one that keeps the first `k` keeps its
/// templates with `count: k`; one that keeps others is split into one group per device, with
/// every template written out for that device (so client ids and topics stay the same). Faults
/// aimed at a split group are aimed at each of its remaining devices; faults aimed at devices,
/// groups or sites that are gone are dropped, and so are sites without devices.
pub(crate) fn keep_devices(s: &Scenario, keep: &dyn Fn(DeviceRef) -> bool) -> Scenario {
    let mut out = s.clone();
    out.devices.clear();
    // For each original group: gone, kept under its own name, or split into these client ids.
    let mut split: Vec<(String, Vec<String>)> = Vec::new();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    let mut names: BTreeSet<String> = s.devices.iter().map(|g| g.group.clone()).collect();
    // Each kept device keeps its random streams: `streams_from` says where they start when
    // that differs from the device's new position in the fleet.
    let (mut was_at, mut now_at) = (0u64, 0u64);
    let mut place = |mut group: DeviceGroup, stream: u64| {
        group.streams_from =
            (stream != now_at).then(|| u32::try_from(stream).expect("validated: 32-bit streams"));
        now_at += u64::from(group.count);
        out.devices.push(group);
    };
    for (g, group) in s.devices.iter().enumerate() {
        let first = group.stream(was_at, 0);
        was_at += u64::from(group.count);
        let kept: Vec<usize> = (0..group.count as usize).filter(|&i| keep((g, i))).collect();
        if kept.is_empty() {
            gone.insert(group.group.clone());
        } else if kept.len() == group.count as usize {
            place(group.clone(), first);
        } else if group.start.stagger.get().is_zero()
            && kept.iter().enumerate().all(|(n, &i)| n == i)
        {
            // The first devices keep their ids and start times; with a stagger, start times
            // depend on the count, so such a group is split instead.
            let mut smaller = group.clone();
            smaller.count = kept.len() as u32;
            place(smaller, first);
        } else {
            let mut ids = Vec::new();
            for i in kept {
                ids.push(group.client_id(i));
                place(single_device(group, i, &mut names), first + i as u64);
            }
            split.push((group.group.clone(), ids));
        }
    }
    let ids: BTreeSet<String> =
        out.devices.iter().flat_map(|g| (0..g.count as usize).map(|i| g.client_id(i))).collect();
    let sites: BTreeSet<&str> = out.devices.iter().map(|g| g.site.as_str()).collect();
    let mut faults = Vec::with_capacity(s.faults.len());
    for fault in &s.faults {
        let Some(target) = &fault.target else {
            faults.push(fault.clone());
            continue;
        };
        if let Some(device) = &target.device {
            if ids.contains(device) {
                faults.push(fault.clone());
            }
        } else if let Some(group) = &target.group {
            if gone.contains(group) {
                continue;
            }
            match split.iter().find(|(name, _)| name == group) {
                Some((_, members)) => {
                    for id in members {
                        let mut f = fault.clone();
                        f.target = Some(device_target(id.clone()));
                        faults.push(f);
                    }
                }
                None => {
                    let size = out.group(group).map_or(0, |g| g.count);
                    let mut f = fault.clone();
                    if let Some(t) = &mut f.target
                        && let Some(c) = &mut t.count
                    {
                        *c = (*c).min(size);
                    }
                    faults.push(f);
                }
            }
        } else if let Some(site) = &target.site
            && sites.contains(site.as_str())
        {
            faults.push(fault.clone());
        }
    }
    out.faults = faults;
    out.sites.retain(|site| sites.contains(site.name.as_str()));
    out
}

/// Device `i` of `group` as a group of its own, its templates written out.
fn single_device(group: &DeviceGroup, i: usize, names: &mut BTreeSet<String>) -> DeviceGroup {
    let literal = |t: &Template| {
        let text = group.expand(t, i).replace('{', "{{").replace('}', "}}");
        Template::parse(&text).expect("escaped text is a template without placeholders")
    };
    let mut single = group.clone();
    single.count = 1;
    single.client_id = literal(&group.client_id);
    if let Some(will) = &mut single.will {
        will.topic = literal(&will.topic);
    }
    for p in &mut single.publish {
        p.topic = literal(&p.topic);
        for u in &mut p.user_properties {
            u.key = literal(&u.key);
            u.value = literal(&u.value);
        }
        if let Some(r) = &mut p.request {
            r.response_topic = literal(&r.response_topic);
        }
    }
    for s in &mut single.subscribe {
        s.filter = literal(&s.filter);
    }
    if let Some(r) = &mut single.respond {
        r.to = literal(&r.to);
    }
    single.start.at = TimeSpan(start_of(group, i));
    single.start.stagger = TimeSpan::default();
    // A name of at most 64 characters, different from every other group's.
    let base: String = group.group.chars().take(50).collect();
    let mut name = format!("{base}-{i}");
    let mut n = 2;
    while names.contains(&name) {
        name = format!("{base}-{i}-{n}");
        n += 1;
    }
    names.insert(name.clone());
    single.group = name;
    single
}

/// When device `i` of `group` starts (as the plan staggers it), rounded up to the millisecond.
fn start_of(group: &DeviceGroup, i: usize) -> Duration {
    let count = u128::from(group.count.max(1));
    let stagger = group.start.stagger.get().as_nanos() * i as u128 / count;
    let at = group.start.at.get().as_nanos() + stagger;
    Duration::from_millis(u64::try_from(at.div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

/// The scenario with only the faults whose index `keep` holds.
pub(crate) fn keep_faults(s: &Scenario, keep: &[usize]) -> Scenario {
    let mut out = s.clone();
    out.faults = keep.iter().map(|&f| s.faults[f].clone()).collect();
    out
}

/// The scenario cut to `duration`: faults that would start at or after the end are dropped,
/// windows that would run past it end with it.
pub(crate) fn cut_duration(s: &Scenario, duration: Duration) -> Scenario {
    let mut out = s.clone();
    out.duration = TimeSpan(duration);
    out.faults.retain(|f| f.at.unwrap_or_default().get() < duration);
    for f in &mut out.faults {
        let at = f.at.unwrap_or_default().get();
        if let Some(l) = &mut f.lasts
            && at + l.get() > duration
        {
            *l = TimeSpan(duration - at);
        }
        if let Some(u) = f.until
            && u.get() > duration
        {
            f.until = Some(TimeSpan(duration));
        }
    }
    if let Some(l) = &mut out.expect.liveness
        && l.quiet_period.get() > duration
    {
        l.quiet_period = TimeSpan(duration);
    }
    out
}

/// The scenario with fault `f` starting at `at` (its window keeps its length, cut at the end).
pub(crate) fn move_fault(s: &Scenario, f: usize, at: Duration) -> Scenario {
    let mut out = s.clone();
    out.faults[f].at = Some(TimeSpan(at));
    out
}

/// The scenario with fault `f` lasting `lasts`.
pub(crate) fn shorten_fault(s: &Scenario, f: usize, lasts: Duration) -> Scenario {
    let mut out = s.clone();
    out.faults[f].lasts = Some(TimeSpan(lasts));
    out
}

/// A link simplification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simplify {
    /// No loss.
    Loss,
    /// No jitter.
    Jitter,
    /// A fixed latency: the distribution's median.
    Latency,
    /// No flapping.
    Flapping,
    /// The default retransmission.
    Retransmission,
}

impl Simplify {
    pub(crate) const ALL: [Simplify; 5] = [
        Simplify::Loss,
        Simplify::Flapping,
        Simplify::Jitter,
        Simplify::Latency,
        Simplify::Retransmission,
    ];

    /// Applies this to `link`; false if there was nothing to simplify.
    pub(crate) fn apply(self, link: &mut LinkSpec) -> bool {
        match self {
            Simplify::Loss => link.loss.take().is_some(),
            Simplify::Jitter => link.jitter.take().is_some(),
            Simplify::Flapping => link.flapping.take().is_some(),
            Simplify::Retransmission => link.retransmission.take().is_some(),
            Simplify::Latency => match link.latency {
                Some(Latency::Fixed(_)) | None => false,
                Some(l) => {
                    link.latency = Some(Latency::Fixed(median(l)));
                    true
                }
            },
        }
    }
}

/// A distribution's median (its mean for a normal, its midpoint for a uniform), to the ms.
fn median(l: Latency) -> TimeSpan {
    let d = match l {
        Latency::Fixed(v) => v.get(),
        Latency::Uniform { min, max } => (min.get() + max.get()) / 2,
        Latency::Normal { mean, .. } => mean.get(),
        Latency::Lognormal { median, .. } => median.get(),
        Latency::Pareto { scale, shape } => scale.get().mul_f64(2f64.powf(1.0 / shape)),
    };
    TimeSpan(Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

/// The scenario with `how` applied to every link (`only` = None) or to one: site `Err(i)` or
/// group `Ok(g)`. `None` if nothing changed.
pub(crate) fn simplify_links(
    s: &Scenario,
    how: &[Simplify],
    only: Option<Result<usize, usize>>,
) -> Option<Scenario> {
    let mut out = s.clone();
    let mut changed = false;
    for (i, site) in out.sites.iter_mut().enumerate() {
        if only.is_none() || only == Some(Err(i)) {
            for h in how {
                changed |= h.apply(&mut site.link);
            }
        }
    }
    for (g, group) in out.devices.iter_mut().enumerate() {
        if only.is_none() || only == Some(Ok(g)) {
            for h in how {
                changed |= h.apply(&mut group.link);
            }
        }
    }
    changed.then_some(out)
}

/// A publish stream or a subscription: group index, entry index.
pub(crate) type EntryRef = (usize, usize);

/// Every publish stream of the scenario.
pub(crate) fn publish_streams(s: &Scenario) -> Vec<EntryRef> {
    s.devices
        .iter()
        .enumerate()
        .flat_map(|(g, group)| (0..group.publish.len()).map(move |p| (g, p)))
        .collect()
}

/// Every subscription of the scenario.
pub(crate) fn subscriptions(s: &Scenario) -> Vec<EntryRef> {
    s.devices
        .iter()
        .enumerate()
        .flat_map(|(g, group)| (0..group.subscribe.len()).map(move |p| (g, p)))
        .collect()
}

/// The scenario with only the publish streams (`subscriptions` false) or subscriptions in
/// `keep`.
pub(crate) fn keep_entries(s: &Scenario, keep: &[EntryRef], subscriptions: bool) -> Scenario {
    let keep: BTreeSet<EntryRef> = keep.iter().copied().collect();
    let mut out = s.clone();
    for (g, group) in out.devices.iter_mut().enumerate() {
        if subscriptions {
            retain_indexed(&mut group.subscribe, |e| keep.contains(&(g, e)));
        } else {
            retain_indexed(&mut group.publish, |e| keep.contains(&(g, e)));
        }
    }
    out
}

fn retain_indexed<T>(items: &mut Vec<T>, keep: impl Fn(usize) -> bool) {
    let mut i = 0;
    items.retain(|_| {
        i += 1;
        keep(i - 1)
    });
}

/// The scenario with publish stream `(g, p)` half as frequent, or without its burst; `None`
/// if it cannot be slowed further within the run.
pub(crate) fn slow_stream(s: &Scenario, (g, p): EntryRef) -> Option<Scenario> {
    let mut out = s.clone();
    let stream = &mut out.devices[g].publish[p];
    if let Some(burst) = &mut stream.burst {
        if burst.size > 1 {
            burst.size = burst.size.div_ceil(2);
        } else {
            stream.burst = None;
        }
        return Some(out);
    }
    let every = stream.every.get() * 2;
    if every > s.duration.get() {
        return None;
    }
    stream.every = TimeSpan(every);
    Some(out)
}

/// The scenario without group `g`'s Will.
pub(crate) fn drop_will(s: &Scenario, g: usize) -> Option<Scenario> {
    let mut out = s.clone();
    out.devices[g].will.take()?;
    Some(out)
}

/// Whether a fault has a window that can be shortened.
pub(crate) fn has_window(f: &FaultSpec) -> bool {
    f.lasts.is_some() && f.kind != Some(FaultKind::Crash)
}
