//! One pass over a trace, aggregated into bounded pieces a report can draw.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{QosCounts, Status, Verdict};
use crate::scenario::Scenario;
use crate::trace::{Event, Phase, Record};

use super::v5::V5Facts;
use super::{BINS, MAX_STEPS, MAX_VIOLATION_DIAGRAMS, ReportInput};

/// Upper edges of the latency histogram's buckets, in milliseconds; the last bucket is open.
pub const LATENCY_EDGES_MS: [u64; 15] =
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000];

/// The most spans a group row keeps (merged spans of the same kind first).
const MAX_SPANS: usize = 200;

/// The most group rows a timeline shows; further groups share one row.
const MAX_GROUPS: usize = 30;

/// A stretch of simulated time with a fault on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// When it starts, in microseconds.
    pub from_us: u64,
    /// When it ends (the end of the run if it never ended).
    pub until_us: u64,
    /// The fault's kind (`partition`, `power-loss`, `broker-restart`, ...).
    pub kind: String,
}

/// One device group on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    /// The group's name (the scenario's `group`).
    pub name: String,
    /// Devices in the group.
    pub devices: u64,
    /// Connects (CONNACK accepted) per bin.
    pub connects: Vec<u32>,
    /// Device-side connection closes per bin.
    pub disconnects: Vec<u32>,
    /// Wills published per bin.
    pub wills: Vec<u32>,
    /// Faults on the group's devices or links, merged per kind.
    pub faults: Vec<Span>,
    /// MQTT 5.0: the times its devices' Wills waited for their Will Delay Interval (or their
    /// session's end), merged.
    pub will_waits: Vec<Span>,
}

/// Delivery latencies of one QoS level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// How many delivered pairs were measured (the verdict's delivered pairs).
    pub samples: u64,
    /// Percentiles 50, 90 and 99, and the maximum, in microseconds.
    pub p50_us: u64,
    /// The 90th percentile.
    pub p90_us: u64,
    /// The 99th percentile.
    pub p99_us: u64,
    /// The largest latency.
    pub max_us: u64,
    /// Deliveries per bucket of [`LATENCY_EDGES_MS`] (one more bucket for the rest).
    pub histogram: Vec<u64>,
}

/// A violation, placed in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationRef {
    /// Its number in the report, from 1 (anchors are `v<n>` and `tl-v<n>`).
    pub n: usize,
    /// The expectation broken.
    pub guarantee: String,
    /// A one-line title: message, publisher, subscriber.
    pub title: String,
    /// What was promised.
    pub expected: String,
    /// What the trace shows.
    pub observed: String,
    /// The quoted trace lines.
    pub trace: Vec<String>,
    /// When it shows in the trace, if known.
    pub t_us: Option<u64>,
    /// The message id, if it concerns a message.
    pub message: Option<String>,
    /// The publisher, or the device it concerns.
    pub device: Option<String>,
    /// The subscriber (or device) named by the violation.
    pub subscriber: Option<String>,
}

/// What a sequence step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A packet from one lane to another.
    Arrow,
    /// Something happening on one lane.
    Note,
    /// Something bad happening on one lane (a close, a drop, a reset).
    Bad,
    /// A fault across every lane.
    Fault,
}

/// One row of a sequence diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Simulated time, in microseconds.
    pub t_us: u64,
    /// The lane it starts at.
    pub from: usize,
    /// The lane it ends at (the same lane for notes).
    pub to: usize,
    /// Its label.
    pub label: String,
    /// Its kind.
    pub kind: StepKind,
}

/// A sequence diagram: lanes left to right, steps going down in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// The SVG element id (`seq-device`, `seq-v<n>`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// The lanes: the device, the broker, subscribers.
    pub lanes: Vec<String>,
    /// The steps, at most [`MAX_STEPS`].
    pub steps: Vec<Step>,
    /// Whether more events matched than the window shows.
    pub truncated: bool,
}

/// Everything a report shows, aggregated from one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The scenario's name.
    pub name: String,
    /// The scenario's description.
    pub description: String,
    /// The seed.
    pub seed: u64,
    /// When the run ended, in microseconds.
    pub end_us: u64,
    /// The width of a time bin, in microseconds.
    pub bin_us: u64,
    /// The replay command.
    pub replay: String,
    /// How many trace records there were.
    pub records: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// Violations, numbered.
    pub violations: Vec<ViolationRef>,
    /// Broker crashes and restarts.
    pub broker: Vec<Span>,
    /// The device groups.
    pub groups: Vec<GroupRow>,
    /// Delivery latencies per effective QoS: one sample per delivered pair (the verdict's
    /// definition), from the publish (a Will: its publication) to the first copy.
    pub latency: [LatencyStats; 3],
    /// The most messages in flight (sent, not yet acknowledged, QoS 1 and 2) per bin.
    pub in_flight: Vec<u64>,
    /// The most messages queued (published by the application, not yet sent) per bin.
    pub queued: Vec<u64>,
    /// Copies subscribers received per bin (every PUBLISH, duplicates and retained copies
    /// included; not the delivered pairs of the counts).
    pub deliveries: Vec<u64>,
    /// Fault counts by kind.
    pub fault_counts: BTreeMap<String, u64>,
    /// The device of the main sequence diagram.
    pub device: Option<String>,
    /// The main sequence diagram, then one per violation with a message.
    pub sequences: Vec<Sequence>,
    /// MQTT 5.0 facts (Will Delay, session expiry, shared groups, message expiry), for a
    /// scenario with a 5.0 device group.
    pub v5: Option<V5Facts>,
}

impl Analysis {
    /// Aggregates a run.
    pub fn build(input: &ReportInput<'_>) -> Analysis {
        let records = input.records;
        let end_us = u64::try_from(input.end.as_micros())
            .unwrap_or(u64::MAX)
            .max(records.last().map_or(0, |r| r.t_us))
            .max(1);
        let bin_us = end_us.div_ceil(BINS as u64).max(1);
        let bin = |t: u64| usize::try_from(t / bin_us).unwrap_or(BINS - 1).min(BINS - 1);

        let (group_of, mut groups) = groups(input.scenario);
        let row_of = |device: Option<&str>| -> Option<usize> {
            device.and_then(|d| group_of.get(d).copied())
        };

        let mut broker = Vec::new();
        let mut broker_down: Option<u64> = None;
        let mut device_faults: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
        let mut link_faults: BTreeMap<(String, String), (u64, BTreeSet<usize>)> = BTreeMap::new();
        let mut fault_counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut spans: Vec<Vec<Span>> = vec![Vec::new(); groups.len()];

        let mut published: BTreeMap<&str, (u64, u8)> = BTreeMap::new();
        let mut waiting: BTreeSet<&str> = BTreeSet::new();
        let mut flying: BTreeSet<&str> = BTreeSet::new();
        let mut in_flight = vec![0u64; BINS];
        let mut queued = vec![0u64; BINS];
        let mut deliveries = vec![0u64; BINS];

        for r in records {
            let b = bin(r.t_us);
            let device = r.device.as_deref();
            match &r.event {
                Event::Connected { .. } => {
                    if let Some(g) = row_of(device) {
                        groups[g].connects[b] += 1;
                    }
                }
                Event::Closed { .. } => {
                    if let Some(g) = row_of(device) {
                        groups[g].disconnects[b] += 1;
                    }
                }
                Event::WillPublished { .. } => {
                    if let Some(g) = row_of(device) {
                        groups[g].wills[b] += 1;
                    }
                }
                Event::BrokerRestart { phase: Phase::Start, .. } => {
                    broker_down = Some(r.t_us);
                    *fault_counts.entry("broker-restart".to_owned()).or_default() += 1;
                }
                Event::BrokerRestart { phase: Phase::End, .. } => {
                    let from = broker_down.take().unwrap_or(r.t_us);
                    broker.push(Span {
                        from_us: from,
                        until_us: r.t_us,
                        kind: "broker-restart".into(),
                    });
                }
                Event::DeviceFault { kind, phase: Phase::Start } => {
                    if let Some(d) = device {
                        device_faults.insert(d, (r.t_us, kind));
                        *fault_counts.entry(kind.clone()).or_default() += 1;
                    }
                }
                Event::DeviceFault { kind, phase: Phase::End } => {
                    if let (Some(d), Some(g)) = (device, row_of(device)) {
                        let from = device_faults.remove(d).map_or(r.t_us, |(t, _)| t);
                        spans[g].push(Span { from_us: from, until_us: r.t_us, kind: kind.clone() });
                    }
                }
                Event::LinkFault { kind, phase, target, devices, .. } => {
                    let key = (kind.clone(), target.clone());
                    match phase {
                        Phase::Start => {
                            let rows = devices.iter().filter_map(|d| row_of(Some(d))).collect();
                            link_faults.insert(key, (r.t_us, rows));
                            *fault_counts.entry(kind.clone()).or_default() += 1;
                        }
                        Phase::End => {
                            if let Some((from, rows)) = link_faults.remove(&key) {
                                for g in rows {
                                    spans[g].push(Span {
                                        from_us: from,
                                        until_us: r.t_us,
                                        kind: kind.clone(),
                                    });
                                }
                            }
                        }
                    }
                }
                Event::AppPublish { msg, qos, .. } => {
                    published.insert(msg, (r.t_us, *qos));
                    waiting.insert(msg);
                }
                Event::PublishSent { msg, qos, .. } if waiting.remove(msg.as_str()) && *qos > 0 => {
                    flying.insert(msg);
                }
                Event::Acked { msg, .. } => {
                    flying.remove(msg.as_str());
                }
                Event::Dropped { msg, .. } => {
                    waiting.remove(msg.as_str());
                    flying.remove(msg.as_str());
                }
                Event::Delivered { .. } => deliveries[b] += 1,
                _ => {}
            }
            in_flight[b] = in_flight[b].max(flying.len() as u64);
            queued[b] = queued[b].max(waiting.len() as u64);
        }
        // Faults still on at the end run to the end.
        if let Some(from) = broker_down {
            broker.push(Span { from_us: from, until_us: end_us, kind: "broker-restart".into() });
        }
        for (d, (from, kind)) in device_faults {
            if let Some(g) = row_of(Some(d)) {
                spans[g].push(Span { from_us: from, until_us: end_us, kind: kind.to_owned() });
            }
        }
        for ((kind, _), (from, rows)) in link_faults {
            for g in rows {
                spans[g].push(Span { from_us: from, until_us: end_us, kind: kind.clone() });
            }
        }
        for (row, spans) in groups.iter_mut().zip(spans) {
            row.faults = merge(spans);
        }
        let v5 = V5Facts::build(input.scenario, records, input.verdict, end_us, bin_us);
        if let Some(v5) = &v5 {
            let mut waits: Vec<Vec<Span>> = vec![Vec::new(); groups.len()];
            for w in &v5.will_waits {
                if let Some(g) = row_of(Some(&w.device)) {
                    let until_us = w.until_us(end_us);
                    waits[g].push(Span {
                        from_us: w.closed_us,
                        until_us,
                        kind: "will-wait".into(),
                    });
                }
            }
            for (row, spans) in groups.iter_mut().zip(waits) {
                row.will_waits = merge(spans);
            }
        }

        let violations = violations(input.verdict, &published);
        let device = input
            .device
            .map(str::to_owned)
            .or_else(|| {
                violations.iter().find_map(|v| v.device.clone().or_else(|| v.subscriber.clone()))
            })
            .or_else(|| {
                records.iter().find_map(|r| match &r.event {
                    Event::AppPublish { .. } => r.device.clone(),
                    _ => None,
                })
            });
        let mut sequences = Vec::new();
        if let Some(d) = &device {
            let around = violations
                .iter()
                .find(|v| v.device.as_deref() == Some(d) || v.subscriber.as_deref() == Some(d))
                .and_then(|v| v.t_us);
            sequences.push(device_sequence(records, d, around));
        }
        for v in violations.iter().filter(|v| v.message.is_some()).take(MAX_VIOLATION_DIAGRAMS) {
            sequences.push(message_sequence(records, v));
        }

        Analysis {
            name: input.scenario.name.clone(),
            description: input.scenario.description.trim().to_owned(),
            seed: input.seed,
            end_us,
            bin_us,
            replay: input.replay.to_owned(),
            records: records.len() as u64,
            verdict: input.verdict.clone(),
            violations,
            broker,
            groups,
            latency: input.verdict.latencies.clone().map(stats),
            in_flight,
            queued,
            deliveries,
            fault_counts,
            device,
            sequences,
            v5,
        }
    }

    /// The verdict's counts for one QoS level.
    pub fn counts(&self, qos: usize) -> &QosCounts {
        &self.verdict.counts[qos.min(2)]
    }
}

/// The group rows and which row each client id belongs to.
fn groups(scenario: &Scenario) -> (BTreeMap<String, usize>, Vec<GroupRow>) {
    let row = |name: &str| GroupRow {
        name: name.to_owned(),
        devices: 0,
        connects: vec![0; BINS],
        disconnects: vec![0; BINS],
        wills: vec![0; BINS],
        faults: Vec::new(),
        will_waits: Vec::new(),
    };
    let mut rows: Vec<GroupRow> = Vec::new();
    let mut row_of_group = Vec::with_capacity(scenario.devices.len());
    for (i, g) in scenario.devices.iter().enumerate() {
        if i < MAX_GROUPS {
            row_of_group.push(rows.len());
            rows.push(row(&g.group));
        } else {
            if i == MAX_GROUPS {
                rows.push(row("other groups"));
            }
            row_of_group.push(MAX_GROUPS);
        }
    }
    let mut of = BTreeMap::new();
    for (g, group) in scenario.devices.iter().enumerate() {
        let r = row_of_group[g];
        for i in 0..group.count as usize {
            rows[r].devices += 1;
            of.insert(group.client_id(i), r);
        }
    }
    (of, rows)
}

/// Merges overlapping spans of the same kind; keeps at most [`MAX_SPANS`].
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| (&a.kind, a.from_us, a.until_us).cmp(&(&b.kind, b.from_us, b.until_us)));
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if last.kind == s.kind && s.from_us <= last.until_us => {
                last.until_us = last.until_us.max(s.until_us);
            }
            _ => out.push(s),
        }
    }
    out.truncate(MAX_SPANS);
    out
}

fn stats(mut samples: Vec<u64>) -> LatencyStats {
    samples.sort_unstable();
    let pick = |p: u64| -> u64 {
        if samples.is_empty() {
            return 0;
        }
        let n = samples.len() as u64;
        let i = (n * p).div_ceil(100).saturating_sub(1).min(n - 1);
        samples[usize::try_from(i).unwrap_or(0)]
    };
    let mut histogram = vec![0u64; LATENCY_EDGES_MS.len() + 1];
    for &s in &samples {
        let ms = s / 1000;
        let b = LATENCY_EDGES_MS.iter().position(|&e| ms < e).unwrap_or(LATENCY_EDGES_MS.len());
        histogram[b] += 1;
    }
    LatencyStats {
        samples: samples.len() as u64,
        p50_us: pick(50),
        p90_us: pick(90),
        p99_us: pick(99),
        max_us: samples.last().copied().unwrap_or(0),
        histogram,
    }
}

/// Reads the time of a quoted trace line (`"  123:     12.000345  site ..."`).
fn quoted_time(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once(':')?;
    let stamp = rest.split_whitespace().next()?;
    let (s, us) = stamp.split_once('.')?;
    let s: u64 = s.parse().ok()?;
    let us: u64 = us.parse().ok()?;
    Some(s.saturating_mul(1_000_000).saturating_add(us))
}

fn violations(verdict: &Verdict, published: &BTreeMap<&str, (u64, u8)>) -> Vec<ViolationRef> {
    let mut out = Vec::new();
    for o in verdict.outcomes.iter().filter(|o| o.status == Status::Fail) {
        for v in &o.violations {
            let mut title = String::new();
            if let Some(m) = &v.message {
                title.push_str(&format!(
                    "message {} from {} on {} q{}",
                    m.id, m.publisher, m.topic, m.qos
                ));
            }
            if let Some(d) = &v.device {
                if !title.is_empty() {
                    title.push_str(", ");
                }
                title.push_str(&format!("device {d}"));
            }
            // The last quoted line is where the violation shows (the close without a Will, the
            // delivery too many, the reconnect that should have brought the message).
            let t_us = v.trace.iter().rev().find_map(|l| quoted_time(l)).or_else(|| {
                v.message.as_ref().and_then(|m| published.get(m.id.as_str()).map(|p| p.0))
            });
            out.push(ViolationRef {
                n: out.len() + 1,
                guarantee: o.guarantee.name().to_owned(),
                title,
                expected: v.expected.clone(),
                observed: v.observed.clone(),
                trace: v.trace.clone(),
                t_us,
                message: v.message.as_ref().map(|m| m.id.clone()),
                device: v
                    .message
                    .as_ref()
                    .map(|m| m.publisher.clone())
                    .or_else(|| v.device.clone()),
                subscriber: v.device.clone(),
            });
        }
    }
    out
}

/// Lanes of a diagram: the device, the broker, then up to three named others.
struct Lanes {
    names: Vec<String>,
}

const DEVICE: usize = 0;
const BROKER: usize = 1;
const MAX_LANES: usize = 5;

impl Lanes {
    fn new(device: &str) -> Lanes {
        Lanes { names: vec![device.to_owned(), "broker".to_owned()] }
    }

    /// The lane of another device, adding it while there is room.
    fn of(&mut self, device: &str) -> usize {
        if let Some(i) = self.names.iter().position(|n| n == device) {
            return i;
        }
        if self.names.len() < MAX_LANES - 1 {
            self.names.push(device.to_owned());
            return self.names.len() - 1;
        }
        if self.names.len() == MAX_LANES - 1 {
            self.names.push("other devices".to_owned());
        }
        MAX_LANES - 1
    }
}

pub(super) fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The step a record draws, on `lane` (the device's lane).
fn step(r: &Record, lane: usize) -> Step {
    let (from, to, kind, label) = match &r.event {
        Event::ConnectAttempt { attempt } => {
            (lane, BROKER, StepKind::Arrow, format!("CONNECT #{attempt}"))
        }
        Event::TcpFailed { error } => (lane, lane, StepKind::Bad, format!("TCP failed: {error}")),
        Event::Connected { session_present, session_expiry, will_delay, .. } => {
            // MQTT 5.0: the Session Expiry and Will Delay Intervals in force.
            let mut label = format!("CONNACK ok sp={}", u8::from(*session_present));
            if let Some(s) = session_expiry {
                label.push_str(&format!(" expiry={}", interval(*s)));
            }
            if let Some(d) = will_delay {
                label.push_str(&format!(" will-delay={d}s"));
            }
            (BROKER, lane, StepKind::Arrow, label)
        }
        Event::Refused { code } => {
            (BROKER, lane, StepKind::Arrow, format!("CONNACK refused 0x{code:02X}"))
        }
        // An MQTT 5.0 reason code says what went wrong in one byte: show it first.
        Event::Closed { reason, code: Some(code) } => {
            (lane, lane, StepKind::Bad, format!("closed 0x{code:02X}: {reason}"))
        }
        Event::Closed { reason, code: None } => {
            (lane, lane, StepKind::Bad, format!("closed: {reason}"))
        }
        Event::SessionLost { resent, released } => (
            lane,
            lane,
            StepKind::Bad,
            format!("session lost: {} resent, {} released", resent.len(), released.len()),
        ),
        Event::Suback { codes } => {
            let codes: Vec<String> = codes.iter().map(|c| format!("0x{c:02X}")).collect();
            (BROKER, lane, StepKind::Arrow, format!("SUBACK [{}]", codes.join(",")))
        }
        Event::DisconnectSent { reason, session_expiry } => {
            let mut label = format!("DISCONNECT 0x{reason:02X}");
            if let Some(s) = session_expiry {
                label.push_str(&format!(" expiry={}", interval(*s)));
            }
            (lane, BROKER, StepKind::Arrow, label)
        }
        Event::AppPublish { msg, qos, expiry, .. } => {
            let expiry = expiry.map(|e| format!(" expiry={e}s")).unwrap_or_default();
            (lane, lane, StepKind::Note, format!("app publish q{qos} {msg}{expiry}"))
        }
        Event::PublishSent { msg, pid, qos, dup } => {
            let dup = if *dup { " DUP" } else { "" };
            (lane, BROKER, StepKind::Arrow, format!("PUBLISH q{qos} pid={pid}{dup} {msg}"))
        }
        Event::Delivered { msg, qos, pid, dup, payload, expiry, .. } => {
            let dup = if *dup { " DUP" } else { "" };
            let what = msg
                .clone()
                .or_else(|| payload.as_ref().map(|p| format!("{p:?}")))
                .unwrap_or_default();
            // MQTT 5.0: the Message Expiry Interval left, after the time at the broker.
            let expiry = expiry.map(|e| format!(" expiry={e}s")).unwrap_or_default();
            (BROKER, lane, StepKind::Arrow, format!("PUBLISH q{qos} pid={pid}{dup} {what}{expiry}"))
        }
        Event::Acked { msg, pid, qos } => {
            let ack = if *qos == 2 { "PUBREC…PUBCOMP" } else { "PUBACK" };
            (BROKER, lane, StepKind::Arrow, format!("{ack} pid={pid} {msg}"))
        }
        Event::Dropped { msg, reason } => {
            (lane, lane, StepKind::Bad, format!("dropped ({reason}) {msg}"))
        }
        Event::BrokerConnected { conn, session_present, .. } => (
            BROKER,
            BROKER,
            StepKind::Note,
            format!("conn {conn} connected sp={}", u8::from(*session_present)),
        ),
        Event::BrokerRefused { conn, code } => {
            (BROKER, BROKER, StepKind::Bad, format!("conn {conn} refused 0x{code:02X}"))
        }
        Event::BrokerDisconnected { conn, reason }
        | Event::BrokerConnectionClosed { conn, reason } => {
            (BROKER, BROKER, StepKind::Bad, format!("conn {conn} gone: {reason}"))
        }
        Event::BrokerAccepted { pid, qos, .. } => {
            (BROKER, BROKER, StepKind::Note, format!("accepted q{qos} pid={pid}"))
        }
        Event::WillPublished { topic, .. } => {
            (BROKER, BROKER, StepKind::Note, format!("Will published on {topic}"))
        }
        Event::BrokerDropped { reason, .. } => {
            (BROKER, BROKER, StepKind::Bad, format!("dropped ({reason})"))
        }
        Event::BrokerSubscribed { filter, granted } => (
            BROKER,
            BROKER,
            StepKind::Note,
            match granted {
                Some(q) => format!("subscribed q{q} {filter}"),
                None => format!("refused {filter}"),
            },
        ),
        Event::BrokerUnsubscribed { filter } => {
            (BROKER, BROKER, StepKind::Note, format!("unsubscribed {filter}"))
        }
        Event::BrokerRestart { phase, state } => (
            0,
            usize::MAX,
            StepKind::Fault,
            match phase {
                Phase::Start => format!("BROKER CRASH ({state})"),
                Phase::End => "broker restarted".to_owned(),
            },
        ),
        Event::PacketSent { .. } => (lane, BROKER, StepKind::Arrow, r.event.summary()),
        Event::PacketReceived { .. } => (BROKER, lane, StepKind::Arrow, r.event.summary()),
        Event::LinkReset => (lane, lane, StepKind::Bad, "link reset".to_owned()),
        Event::HandshakeLost => (lane, lane, StepKind::Bad, "handshake lost".to_owned()),
        Event::DeviceFault { kind, phase } => (
            lane,
            lane,
            StepKind::Fault,
            format!("{kind} {}", if *phase == Phase::Start { "begins" } else { "ends" }),
        ),
        Event::LinkFault { kind, phase, target, .. } => (
            0,
            usize::MAX,
            StepKind::Fault,
            format!("{kind} {} ({target})", if *phase == Phase::Start { "begins" } else { "ends" }),
        ),
    };
    Step { t_us: r.t_us, from, to, label: short(&label, 46), kind }
}

/// A Session Expiry Interval in a label: seconds, or `never`.
fn interval(s: u32) -> String {
    if s == u32::MAX { "never".to_owned() } else { format!("{s}s") }
}

/// Whether a record is a message event of the device's own messages.
fn from_device(msg: Option<&str>, device: &str) -> bool {
    msg.and_then(|m| m.rsplit_once('#')).is_some_and(|(d, _)| d == device)
}

fn finish(
    id: String,
    title: String,
    mut lanes: Lanes,
    picked: &[&Record],
    device: &str,
    truncated: bool,
) -> Sequence {
    let mut steps = Vec::with_capacity(picked.len());
    for r in picked {
        let lane = match r.device.as_deref() {
            Some(d) if d == device => DEVICE,
            Some(d) => lanes.of(d),
            None => BROKER,
        };
        steps.push(step(r, lane));
    }
    let last = lanes.names.len() - 1;
    for s in &mut steps {
        if s.to == usize::MAX {
            s.to = last;
        }
    }
    Sequence { id, title, lanes: lanes.names, steps, truncated }
}

fn device_sequence(records: &[Record], device: &str, around: Option<u64>) -> Sequence {
    let relevant = |r: &&Record| -> bool {
        match &r.event {
            Event::LinkFault { devices, .. } => devices.iter().any(|d| d == device),
            Event::BrokerRestart { .. } => true,
            Event::Delivered { msg, .. } => {
                r.device.as_deref() == Some(device) || from_device(msg.as_deref(), device)
            }
            _ => r.device.as_deref() == Some(device),
        }
    };
    let all: Vec<&Record> = records.iter().filter(relevant).collect();
    let start = match around {
        Some(t) => {
            all.iter().position(|r| r.t_us >= t).unwrap_or(all.len()).saturating_sub(MAX_STEPS / 3)
        }
        None => 0,
    };
    let picked: Vec<&Record> = all.iter().skip(start).take(MAX_STEPS).copied().collect();
    let truncated = all.len() > picked.len();
    let title = match (picked.first(), picked.last()) {
        (Some(a), Some(b)) => {
            format!("device {device}, {} to {}", super::secs(a.t_us), super::secs(b.t_us))
        }
        _ => format!("device {device}: no events"),
    };
    finish("seq-device".to_owned(), title, Lanes::new(device), &picked, device, truncated)
}

fn message_sequence(records: &[Record], v: &ViolationRef) -> Sequence {
    let id = v.message.clone().unwrap_or_default();
    let publisher = v.device.clone().unwrap_or_default();
    let subscriber = v.subscriber.clone();
    let mut lanes = Lanes::new(&publisher);
    if let Some(s) = &subscriber {
        lanes.of(s);
    }
    let of_message = |r: &Record| match &r.event {
        Event::AppPublish { msg, .. }
        | Event::PublishSent { msg, .. }
        | Event::Acked { msg, .. }
        | Event::Dropped { msg, .. } => *msg == id,
        Event::Delivered { msg, .. } => msg.as_deref() == Some(id.as_str()),
        Event::SessionLost { resent, released } => resent.contains(&id) || released.contains(&id),
        _ => false,
    };
    let first = records.iter().position(of_message);
    let last = records.iter().rposition(of_message);
    let (Some(first), Some(last)) = (first, last) else {
        return finish(
            format!("seq-v{}", v.n),
            format!("violation {}: message {id} not in the trace", v.n),
            lanes,
            &[],
            &publisher,
            false,
        );
    };
    let near = |r: &Record| {
        let d = r.device.as_deref();
        let involved = d == Some(publisher.as_str()) || (d.is_some() && d == subscriber.as_deref());
        match &r.event {
            Event::BrokerRestart { .. } => true,
            Event::LinkFault { devices, .. } => {
                devices.iter().any(|x| *x == publisher || Some(x) == subscriber.as_ref())
            }
            Event::ConnectAttempt { .. }
            | Event::Connected { .. }
            | Event::Closed { .. }
            | Event::DisconnectSent { .. }
            | Event::DeviceFault { .. }
            | Event::LinkReset
            | Event::BrokerAccepted { .. }
            | Event::WillPublished { .. }
            | Event::BrokerDisconnected { .. } => involved,
            _ => false,
        }
    };
    let all: Vec<&Record> =
        records[first..=last].iter().filter(|r| of_message(r) || near(r)).collect();
    // Keep every step of the message itself; fill the rest of the window with context.
    let mut picked: Vec<&Record> = Vec::with_capacity(MAX_STEPS);
    let own = all.iter().filter(|r| of_message(r)).count();
    let mut context_room = MAX_STEPS.saturating_sub(own.min(MAX_STEPS));
    for r in &all {
        if picked.len() >= MAX_STEPS {
            break;
        }
        if of_message(r) {
            picked.push(r);
        } else if context_room > 0 {
            context_room -= 1;
            picked.push(r);
        }
    }
    let truncated = all.len() > picked.len();
    let title = format!("violation {} ({}): message {id}", v.n, v.guarantee);
    finish(format!("seq-v{}", v.n), title, lanes, &picked, &publisher, truncated)
}
