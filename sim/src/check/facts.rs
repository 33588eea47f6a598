//! One pass over the trace that turns records into facts the rules can judge: messages and
//! their acceptances, deliveries tied to messages, sessions, connections, subscriptions,
//! retained snapshots and faults.
//!
//! A `broker_accepted` or `broker_dropped` names its message by the id the broker read from the
//! payload (`msg`), and the checker takes it at its word when that message was published on that
//! topic. Traces without the id (hand-written ones, older runs) fall back to inferences:
//! - A QoS 1 or 2 `broker_accepted` (device, pid) is the publisher's latest `publish_sent` with
//!   that pid: a client does not reuse a packet identifier while its flow is open.
//! - A QoS 0 `broker_accepted` is the publisher's oldest QoS 0 `publish_sent` on the current
//!   connection not yet accepted: one TCP connection delivers in order, and a connection's
//!   unsent tail is forgotten when the broker sees the connection end or a new one start.
//! - A `broker_dropped` belongs to the message accepted (or Will published) at the same instant
//!   on the same topic: the broker drops while routing, in the same step as it accepts (its
//!   overflow policy drops the newest message).
//!
//! A `delivered` without a message id is a Will: the latest Will published on that topic with
//! that payload.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use mqttsim_codec::topic;

use super::routes::Routes;
use crate::scenario::Scenario;
use crate::trace::{Event, Phase, Record};

/// What a delivered copy or an acceptance is a copy of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    /// An application message, by id.
    App(String),
    /// A Will, by the index of its acceptance in [`Facts::accepts`].
    Will(usize),
}

/// A device of the scenario, as the rules need it.
#[derive(Debug, Clone)]
pub(crate) struct DeviceInfo {
    pub keepalive_us: u64,
    pub will: Option<WillInfo>,
}

/// The Will a device registers.
#[derive(Debug, Clone)]
pub(crate) struct WillInfo {
    pub topic: String,
    pub payload: String,
    pub qos: u8,
    pub retain: bool,
}

/// An application message.
#[derive(Debug, Clone)]
pub(crate) struct AppMessage {
    pub publisher: String,
    pub topic: String,
    pub qos: u8,
    pub idx: usize,
    /// Subscribers whose matching subscription existed when the application published it, with
    /// their session epoch and granted QoS; used only for messages never accepted.
    pub candidates: Vec<(String, usize, u8)>,
}

/// The broker taking responsibility for a message (or publishing a Will).
#[derive(Debug, Clone)]
pub(crate) struct Accept {
    pub idx: usize,
    pub t_us: u64,
    pub publisher: String,
    pub key: Option<Key>,
    pub topic: String,
    pub pid: Option<u16>,
    pub qos: u8,
    pub payload: Option<String>,
}

/// A copy received by a subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub idx: usize,
    pub t_us: u64,
    pub sub: String,
    pub key: Option<Key>,
    pub topic: String,
    pub qos: u8,
    pub dup: bool,
    pub retain: bool,
}

/// One obligation: a subscription matched when the broker accepted the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owe {
    pub accept: usize,
    pub epoch: usize,
    pub granted: u8,
}

/// A broker-side connection of one device.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub start_idx: usize,
    pub start_us: u64,
    pub end_us: Option<u64>,
    pub end_idx: Option<usize>,
    pub reason: Option<String>,
}

/// A session's life at the broker, from its creation to its discarding.
#[derive(Debug, Clone)]
pub(crate) struct Epoch {
    pub end_us: Option<u64>,
    pub end_idx: Option<usize>,
    pub end_cause: Option<&'static str>,
}

/// A subscription made, with the retained messages that matched it at that moment.
#[derive(Debug, Clone)]
pub(crate) struct SubEvent {
    pub idx: usize,
    pub t_us: u64,
    pub sub: String,
    pub filter: String,
    /// (topic, retained message) pairs; `None` when the retained message is not known.
    pub snapshot: Vec<(String, Option<Key>)>,
}

/// A time interval in which a device's path to the broker was disturbed by a fault.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Disturbance {
    pub from_us: u64,
    pub until_us: u64,
}

/// A device fault record.
#[derive(Debug, Clone)]
pub(crate) struct DeviceFault {
    pub idx: usize,
    pub t_us: u64,
    pub kind: String,
    pub phase: Phase,
}

/// A connection end at the broker, and the Will it published, if any.
#[derive(Debug, Clone)]
pub(crate) struct Ending {
    pub idx: usize,
    pub t_us: u64,
    pub device: String,
    pub reason: String,
    pub will: Option<usize>,
}

/// Everything the rules read.
pub(crate) struct Facts<'r> {
    pub records: &'r [Record],
    pub end_us: u64,
    pub devices: BTreeMap<String, DeviceInfo>,
    pub messages: BTreeMap<String, AppMessage>,
    pub accepts: Vec<Accept>,
    /// Each message's acceptances, as indices into `accepts`.
    pub accepts_of: BTreeMap<Key, Vec<usize>>,
    pub deliveries: Vec<Delivery>,
    pub owed: BTreeMap<(Key, String), Vec<Owe>>,
    /// (accept, subscriber) → the `broker_dropped` record.
    pub broker_drops: BTreeMap<(usize, String), usize>,
    /// msg → the device's `dropped` record.
    pub device_drops: BTreeMap<String, usize>,
    /// Messages complete at their publisher (acked, or released after a lost session).
    pub completed: BTreeSet<String>,
    pub spans: BTreeMap<String, Vec<Span>>,
    pub epochs: Vec<Epoch>,
    pub subscribes: Vec<SubEvent>,
    pub device_faults: BTreeMap<String, Vec<DeviceFault>>,
    pub disturbances: BTreeMap<String, Vec<Disturbance>>,
    /// Blackouts and partitions that silence a device towards the broker.
    pub cuts: BTreeMap<String, Vec<Cut>>,
    /// A connection accepted while the same client's previous one was still open: (the open
    /// connection's record, the new one's).
    pub double_connects: Vec<(usize, usize)>,
    /// Broker down intervals.
    pub broker_down: Vec<Disturbance>,
    pub endings: Vec<Ending>,
    /// Wills published with no connection end before them at the same instant.
    pub stray_wills: Vec<usize>,
    /// The first `connect_attempt` of each device.
    pub first_attempt: BTreeMap<String, u64>,
    /// When the last fault ended (or the end of the run, if one never ended).
    pub faults_over_us: u64,
    pub unattributed: u64,
}

/// The devices of a scenario, by client id.
fn device_infos(scenario: &Scenario) -> BTreeMap<String, DeviceInfo> {
    let mut out = BTreeMap::new();
    for group in &scenario.devices {
        for i in 0..group.count as usize {
            let will = group.will.as_ref().map(|w| WillInfo {
                topic: group.expand(&w.topic, i),
                payload: w.payload.clone(),
                qos: w.qos.get().as_u8(),
                retain: w.retain,
            });
            let keepalive_us = u64::try_from(group.keepalive.get().as_micros()).unwrap_or(u64::MAX);
            out.insert(group.client_id(i), DeviceInfo { keepalive_us, will });
        }
    }
    out
}

/// A link fault that started: when, and on which devices.
/// A link fault that started: when, on which devices, and (for a cut that silences the devices
/// towards the broker) its record.
type OpenLinkFault = (u64, Vec<String>, Option<usize>);

/// A blackout or partition that silences a device towards the broker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    pub from_us: u64,
    pub until_us: u64,
    pub idx: usize,
}

/// A device's view at the broker while the pass runs.
#[derive(Default)]
struct Live {
    epoch: Option<usize>,
    clean: bool,
    subs: BTreeMap<String, u8>,
    /// QoS 0 messages sent on the current connection and not yet accepted.
    qos0: VecDeque<String>,
}

/// Payload text as the trace shows it: the first 64 bytes.
fn trace_payload(payload: &str) -> String {
    let bytes = payload.as_bytes();
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

impl<'r> Facts<'r> {
    pub(crate) fn gather(scenario: &Scenario, records: &'r [Record], end_us: u64) -> Facts<'r> {
        let mut f = Facts {
            records,
            end_us,
            devices: device_infos(scenario),
            messages: BTreeMap::new(),
            accepts: Vec::new(),
            accepts_of: BTreeMap::new(),
            deliveries: Vec::new(),
            owed: BTreeMap::new(),
            broker_drops: BTreeMap::new(),
            device_drops: BTreeMap::new(),
            completed: BTreeSet::new(),
            spans: BTreeMap::new(),
            epochs: Vec::new(),
            subscribes: Vec::new(),
            device_faults: BTreeMap::new(),
            disturbances: BTreeMap::new(),
            cuts: BTreeMap::new(),
            double_connects: Vec::new(),
            broker_down: Vec::new(),
            endings: Vec::new(),
            stray_wills: Vec::new(),
            first_attempt: BTreeMap::new(),
            faults_over_us: 0,
            unattributed: 0,
        };
        let mut live: BTreeMap<String, Live> = BTreeMap::new();
        let mut sent_pid: BTreeMap<(String, u16), String> = BTreeMap::new();
        let mut retained: BTreeMap<String, Option<Key>> = BTreeMap::new();
        let mut open_link_faults: BTreeMap<(String, String), Vec<OpenLinkFault>> = BTreeMap::new();
        let mut open_device_faults: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut broker_down_since: Option<u64> = None;
        let mut will_accepts: Vec<usize> = Vec::new();
        let mut routes = Routes::default();
        let mut unfinished = false;

        for (idx, r) in records.iter().enumerate() {
            let t = r.t_us;
            let device = r.device.clone().unwrap_or_default();
            match &r.event {
                Event::ConnectAttempt { .. } => {
                    f.first_attempt.entry(device).or_insert(t);
                }
                Event::AppPublish { msg, topic, qos, .. } => {
                    let candidates = matching(&live, &routes, topic)
                        .into_iter()
                        .map(|(s, e, g)| (s.to_owned(), e, g))
                        .collect();
                    f.messages.insert(
                        msg.clone(),
                        AppMessage {
                            publisher: device,
                            topic: topic.clone(),
                            qos: *qos,
                            idx,
                            candidates,
                        },
                    );
                }
                Event::PublishSent { msg, pid, qos, .. } => {
                    if *qos == 0 {
                        live.entry(device).or_default().qos0.push_back(msg.clone());
                    } else {
                        sent_pid.insert((device, *pid), msg.clone());
                    }
                }
                Event::Acked { msg, .. } => {
                    f.completed.insert(msg.clone());
                }
                Event::SessionLost { released, .. } => {
                    f.completed.extend(released.iter().cloned());
                }
                Event::Dropped { msg, .. } => {
                    f.device_drops.insert(msg.clone(), idx);
                }
                Event::BrokerConnected { clean_session, session_present, .. } => {
                    let l = live.entry(device.clone()).or_default();
                    if *clean_session || !*session_present || l.epoch.is_none() {
                        let cause = if *clean_session {
                            "the subscriber connected with a clean session"
                        } else {
                            "the broker had no session for the subscriber"
                        };
                        let end = SessionEnd { t, idx, cause };
                        end_epoch(&mut f.epochs, &mut routes, &device, l, end);
                        l.epoch = Some(f.epochs.len());
                        f.epochs.push(Epoch { end_us: None, end_idx: None, end_cause: None });
                    }
                    l.clean = *clean_session;
                    l.qos0.clear();
                    let spans = f.spans.entry(device).or_default();
                    if let Some(open) = spans.last().filter(|s| s.end_us.is_none()) {
                        f.double_connects.push((open.start_idx, idx));
                    }
                    spans.push(Span {
                        start_idx: idx,
                        start_us: t,
                        end_us: None,
                        end_idx: None,
                        reason: None,
                    });
                }
                Event::BrokerDisconnected { reason, .. } => {
                    if let Some(span) = f.spans.get_mut(&device).and_then(|s| s.last_mut())
                        && span.end_us.is_none()
                    {
                        span.end_us = Some(t);
                        span.end_idx = Some(idx);
                        span.reason = Some(reason.clone());
                    }
                    let l = live.entry(device.clone()).or_default();
                    l.qos0.clear();
                    if l.clean {
                        let cause = "the subscriber's clean session ended with its connection";
                        let end = SessionEnd { t, idx, cause };
                        end_epoch(&mut f.epochs, &mut routes, &device, l, end);
                    }
                    f.endings.push(Ending {
                        idx,
                        t_us: t,
                        device,
                        reason: reason.clone(),
                        will: None,
                    });
                }
                Event::BrokerAccepted { msg, topic, pid, qos, retain } => {
                    let named = msg.as_ref().map(|m| {
                        if *qos == 0 {
                            // Keep the fallback's queue in step with what the broker named.
                            if let Some(l) = live.get_mut(&device)
                                && let Some(at) = l.qos0.iter().position(|q| q == m)
                            {
                                l.qos0.drain(..=at);
                            }
                        }
                        f.messages.get(m).filter(|a| &a.topic == topic).map(|_| m.clone())
                    });
                    let key = if let Some(named) = named {
                        named
                    } else if *qos == 0 {
                        live.get_mut(&device).and_then(|l| {
                            while let Some(m) = l.qos0.pop_front() {
                                if f.messages.get(&m).is_some_and(|a| &a.topic == topic) {
                                    return Some(m);
                                }
                            }
                            None
                        })
                    } else {
                        sent_pid
                            .get(&(device.clone(), *pid))
                            .filter(|m| f.messages.get(*m).is_some_and(|a| &a.topic == topic))
                            .cloned()
                    }
                    .map(Key::App);
                    if key.is_none() {
                        f.unattributed += 1;
                    }
                    if *retain {
                        retained.insert(topic.clone(), key.clone());
                    }
                    let accept = f.accepts.len();
                    f.accepts.push(Accept {
                        idx,
                        t_us: t,
                        publisher: device,
                        key: key.clone(),
                        topic: topic.clone(),
                        pid: (*qos > 0).then_some(*pid),
                        qos: *qos,
                        payload: None,
                    });
                    if let Some(key) = key {
                        owe(&mut f.owed, &live, &routes, &key, accept, topic);
                        f.accepts_of.entry(key).or_default().push(accept);
                    }
                }
                Event::WillPublished { topic, qos, retain } => {
                    let accept = f.accepts.len();
                    let payload = f
                        .devices
                        .get(&device)
                        .and_then(|d| d.will.as_ref())
                        .map(|w| w.payload.clone());
                    let key = Key::Will(accept);
                    if *retain {
                        if payload.as_deref().is_some_and(str::is_empty) {
                            retained.remove(topic);
                        } else {
                            retained.insert(topic.clone(), payload.is_some().then(|| key.clone()));
                        }
                    }
                    f.accepts.push(Accept {
                        idx,
                        t_us: t,
                        publisher: device.clone(),
                        key: Some(key.clone()),
                        topic: topic.clone(),
                        pid: None,
                        qos: *qos,
                        payload: payload.as_deref().map(trace_payload),
                    });
                    owe(&mut f.owed, &live, &routes, &key, accept, topic);
                    f.accepts_of.entry(key).or_default().push(accept);
                    will_accepts.push(accept);
                    match f.endings.last_mut() {
                        Some(e) if e.t_us == t && e.device == device && e.will.is_none() => {
                            e.will = Some(accept);
                        }
                        _ => f.stray_wills.push(idx),
                    }
                }
                Event::BrokerDropped { msg, topic, .. } => {
                    let accept = match msg {
                        // The message's latest acceptance is the copy the broker held.
                        Some(m) => f
                            .accepts_of
                            .get(&Key::App(m.clone()))
                            .and_then(|a| a.last().copied())
                            .filter(|&a| &f.accepts[a].topic == topic),
                        // Only this instant's acceptances can be the dropped message.
                        None => f
                            .accepts
                            .iter()
                            .enumerate()
                            .rev()
                            .take_while(|(_, a)| a.t_us == t)
                            .find(|(_, a)| &a.topic == topic)
                            .map(|(i, _)| i),
                    };
                    match accept {
                        Some(a) => {
                            f.broker_drops.insert((a, device), idx);
                        }
                        None => f.unattributed += 1,
                    }
                }
                Event::BrokerSubscribed { filter, granted: Some(g) } => {
                    routes.insert(filter, &device, *g);
                    let l = live.entry(device.clone()).or_default();
                    l.subs.insert(filter.clone(), *g);
                    let snapshot = retained
                        .iter()
                        .filter(|(t, _)| topic::matches(filter, t))
                        .map(|(t, k)| (t.clone(), k.clone()))
                        .collect();
                    f.subscribes.push(SubEvent {
                        idx,
                        t_us: t,
                        sub: device,
                        filter: filter.clone(),
                        snapshot,
                    });
                }
                Event::BrokerUnsubscribed { filter } => {
                    routes.remove(filter, &device);
                    live.entry(device).or_default().subs.remove(filter);
                }
                Event::Delivered { msg, topic, qos, dup, retain, payload, .. } => {
                    let key = match msg {
                        Some(m) => Some(Key::App(m.clone())),
                        None => will_accepts
                            .iter()
                            .rev()
                            .find(|&&i| {
                                let a = &f.accepts[i];
                                &a.topic == topic
                                    && a.payload.as_deref()
                                        == Some(payload.as_deref().unwrap_or(""))
                            })
                            .map(|&i| Key::Will(i)),
                    };
                    if key.is_none() {
                        f.unattributed += 1;
                    }
                    f.deliveries.push(Delivery {
                        idx,
                        t_us: t,
                        sub: device,
                        key,
                        topic: topic.clone(),
                        qos: *qos,
                        dup: *dup,
                        retain: *retain,
                    });
                }
                Event::BrokerRestart { phase: Phase::Start, state } => {
                    broker_down_since = Some(t);
                    unfinished = true;
                    for (d, spans) in &mut f.spans {
                        if let Some(span) = spans.last_mut()
                            && span.end_us.is_none()
                        {
                            span.end_us = Some(t);
                            span.end_idx = Some(idx);
                            span.reason = Some("broker-crash".to_owned());
                            let l = live.entry(d.clone()).or_default();
                            l.qos0.clear();
                        }
                    }
                    if state == "volatile" {
                        retained.clear();
                        for (d, l) in live.iter_mut() {
                            let end = SessionEnd { t, idx, cause: "a volatile broker restart" };
                            end_epoch(&mut f.epochs, &mut routes, d, l, end);
                        }
                    }
                }
                Event::BrokerRestart { phase: Phase::End, .. } => {
                    if let Some(from) = broker_down_since.take() {
                        f.broker_down.push(Disturbance { from_us: from, until_us: t });
                    }
                    unfinished = false;
                    f.faults_over_us = f.faults_over_us.max(t);
                }
                Event::DeviceFault { kind, phase } => {
                    f.device_faults.entry(device.clone()).or_default().push(DeviceFault {
                        idx,
                        t_us: t,
                        kind: kind.clone(),
                        phase: *phase,
                    });
                    f.faults_over_us = f.faults_over_us.max(t);
                    match phase {
                        Phase::Start => {
                            open_device_faults.insert(device, (t, kind.clone()));
                        }
                        Phase::End => {
                            if let Some((from, _)) = open_device_faults.remove(&device) {
                                let d = Disturbance { from_us: from, until_us: t };
                                f.disturbances.entry(device).or_default().push(d);
                            }
                        }
                    }
                }
                Event::LinkFault { kind, phase, target, devices, direction, .. } => {
                    f.faults_over_us = f.faults_over_us.max(t);
                    let open = open_link_faults.entry((kind.clone(), target.clone())).or_default();
                    match phase {
                        Phase::Start => {
                            let silences = matches!(kind.as_str(), "blackout" | "partition")
                                && direction.as_deref().is_none_or(|d| d != "from-broker");
                            open.push((t, devices.clone(), silences.then_some(idx)));
                        }
                        Phase::End => {
                            if !open.is_empty() {
                                let (from, devices, cut) = open.remove(0);
                                for d in devices {
                                    let dist = Disturbance { from_us: from, until_us: t };
                                    f.disturbances.entry(d.clone()).or_default().push(dist);
                                    if let Some(idx) = cut {
                                        let cut = Cut { from_us: from, until_us: t, idx };
                                        f.cuts.entry(d).or_default().push(cut);
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // Faults still on at the end disturb until the end.
        for ((_, _), open) in open_link_faults {
            for (from, devices, cut) in open {
                unfinished = true;
                for d in devices {
                    let dist = Disturbance { from_us: from, until_us: end_us };
                    f.disturbances.entry(d.clone()).or_default().push(dist);
                    if let Some(idx) = cut {
                        let cut = Cut { from_us: from, until_us: end_us, idx };
                        f.cuts.entry(d).or_default().push(cut);
                    }
                }
            }
        }
        for (d, (from, kind)) in open_device_faults {
            // A crash, or a power loss or disconnect that never ends, takes the device away for
            // good; it does not hold the quiet period of the others back.
            let permanent = matches!(kind.as_str(), "crash" | "power-loss" | "disconnect");
            if !permanent {
                unfinished = true;
            }
            f.disturbances
                .entry(d)
                .or_default()
                .push(Disturbance { from_us: from, until_us: end_us });
        }
        if let Some(from) = broker_down_since {
            f.broker_down.push(Disturbance { from_us: from, until_us: end_us });
        }
        if unfinished {
            f.faults_over_us = end_us;
        }
        f
    }

    /// The text lines of these records, numbered from 1 as in `trace.txt`.
    pub(crate) fn quote(&self, indices: &[usize]) -> Vec<String> {
        let mut indices: Vec<usize> = indices.to_vec();
        indices.sort_unstable();
        indices.dedup();
        indices
            .into_iter()
            .filter_map(|i| self.records.get(i).map(|r| format!("{:>6}: {}", i + 1, r.to_text())))
            .collect()
    }

    /// Whether `device` had a fault that wipes its client state (power loss, crash, reboot)
    /// starting in `(from, until]`.
    pub(crate) fn lost_state_between(&self, device: &str, from_us: u64, until_us: u64) -> bool {
        self.device_faults.get(device).is_some_and(|faults| {
            faults.iter().any(|f| {
                f.phase == Phase::Start
                    && f.t_us > from_us
                    && f.t_us <= until_us
                    && matches!(f.kind.as_str(), "power-loss" | "crash" | "reboot")
            })
        })
    }

    /// Whether, after `from_us`, `device` had an undisturbed stretch of at least `settle_us`
    /// while its last broker connection was open through the end of the run.
    pub(crate) fn settled_after(&self, device: &str, from_us: u64, settle_us: u64) -> bool {
        let Some(span) = self.spans.get(device).and_then(|s| s.last()) else { return false };
        if span.end_us.is_some() {
            return false;
        }
        let lo = from_us.max(span.start_us);
        let mut busy: Vec<(u64, u64)> = self
            .disturbances
            .get(device)
            .into_iter()
            .flatten()
            .chain(self.broker_down.iter())
            .map(|d| (d.from_us, d.until_us))
            .filter(|&(_, until)| until > lo)
            .collect();
        busy.sort_unstable();
        let mut cursor = lo;
        for (from, until) in busy {
            if from > cursor && from - cursor >= settle_us {
                return true;
            }
            cursor = cursor.max(until);
        }
        self.end_us > cursor && self.end_us - cursor >= settle_us
    }

    /// The first acceptance of a message.
    pub(crate) fn first_accept(&self, key: &Key) -> Option<&Accept> {
        self.accepts_of.get(key).and_then(|a| a.first()).map(|&i| &self.accepts[i])
    }

    /// A description of a message or Will for a violation.
    pub(crate) fn message_ref(&self, key: &Key) -> super::MessageRef {
        match key {
            Key::App(id) => {
                let m = self.messages.get(id);
                let accept = self.first_accept(key);
                super::MessageRef {
                    id: id.clone(),
                    publisher: m.map(|m| m.publisher.clone()).unwrap_or_default(),
                    topic: m.map(|m| m.topic.clone()).unwrap_or_default(),
                    pid: accept.and_then(|a| a.pid),
                    qos: m.map_or(0, |m| m.qos),
                }
            }
            Key::Will(a) => {
                let a = &self.accepts[*a];
                super::MessageRef {
                    id: format!("will of {}", a.publisher),
                    publisher: a.publisher.clone(),
                    topic: a.topic.clone(),
                    pid: None,
                    qos: a.qos,
                }
            }
        }
    }
}

/// Where a session ends: when, at which record, and why.
struct SessionEnd {
    t: u64,
    idx: usize,
    cause: &'static str,
}

fn end_epoch(
    epochs: &mut [Epoch],
    routes: &mut Routes,
    device: &str,
    l: &mut Live,
    end: SessionEnd,
) {
    if let Some(e) = l.epoch.take() {
        epochs[e].end_us = Some(end.t);
        epochs[e].end_idx = Some(end.idx);
        epochs[e].end_cause = Some(end.cause);
    }
    for filter in std::mem::take(&mut l.subs).into_keys() {
        routes.remove(&filter, device);
    }
}

/// The subscribers with a subscription matching `topic`: (client id, epoch, granted QoS, the
/// highest over overlapping subscriptions).
fn matching<'a>(
    live: &'a BTreeMap<String, Live>,
    routes: &Routes,
    topic: &str,
) -> Vec<(&'a str, usize, u8)> {
    routes
        .matches(topic)
        .into_iter()
        .filter_map(|(d, granted)| {
            let (d, l) = live.get_key_value(d)?;
            Some((d.as_str(), l.epoch?, granted))
        })
        .collect()
}

fn owe(
    owed: &mut BTreeMap<(Key, String), Vec<Owe>>,
    live: &BTreeMap<String, Live>,
    routes: &Routes,
    key: &Key,
    accept: usize,
    topic: &str,
) {
    for (sub, epoch, granted) in matching(live, routes, topic) {
        owed.entry((key.clone(), sub.to_owned())).or_default().push(Owe { accept, epoch, granted });
    }
}
