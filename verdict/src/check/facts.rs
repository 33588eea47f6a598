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
//! - A QoS 1 or 2 message its publisher saw acknowledged (PUBACK, PUBCOMP) but that the broker
//!   never reported accepting was accepted all the same: the acknowledgement is the broker
//!   taking it over [MQTT-4.3.2], [MQTT-4.3.3]. It is owed, from the acknowledgement, to the
//!   subscribers that matched both when it was published and then.
//!
//! A `delivered` without a message id is an *anonymous* message — a Will, or an application
//! message whose payload is too short to carry its id (a zero-byte retained "clear") — told apart
//! from others of that topic and payload by when it arrives: a RETAIN=1 copy is the one retained
//! when the device last subscribed; a forwarded copy is the oldest such message owed to the
//! device that it has not had yet (a session delivers in order), else the latest (a duplicate).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use mqttsim_codec::topic;

use super::expiry::Window;
use super::name::{Name, Names};
use super::routes::{Routes, shared_inner};
use crate::scenario::Scenario;
use crate::trace::{Event, Phase, Record};

/// What a delivered copy or an acceptance is a copy of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key<'r> {
    /// An application message, by id.
    App(Name<'r>),
    /// A Will, by the index of its acceptance in [`Facts::accepts`].
    Will(usize),
}

/// A device of the scenario, as the rules need it.
#[derive(Debug, Clone)]
pub(crate) struct DeviceInfo {
    pub keepalive_us: u64,
    pub will: Option<WillInfo>,
    /// Its filters subscribed with No Local (MQTT 5.0).
    pub no_local: BTreeSet<String>,
    /// The device speaks MQTT 5.0.
    pub v5: bool,
    /// MQTT 5.0: the Session Expiry Interval and the Will Delay Interval it asks for, in
    /// seconds (the trace's `connected` records say what was in force).
    pub session_expiry_s: u32,
    pub will_delay_s: u32,
    /// The Retain Handling of each of its filters (5.0; 0 otherwise).
    pub retain_handling: BTreeMap<String, u8>,
    /// MQTT 5.0: each of its filters (a shared one whole) with its Retain As Published; empty
    /// for a 3.1.1 device.
    pub retain_as_published: Vec<(String, bool)>,
    /// MQTT 5.0: topic aliases the device uses towards the broker.
    pub topic_aliases: u16,
    /// MQTT 5.0: the filter it answers requests on.
    pub respond: Option<String>,
}

/// The Will a device registers.
#[derive(Debug, Clone)]
pub(crate) struct WillInfo {
    pub topic: String,
    pub payload: String,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5.0: the properties the published Will carries (see `will_props`), and its
    /// Message Expiry Interval in seconds.
    pub props: crate::trace::MessageProps,
    pub expiry: Option<u32>,
}

/// An application message.
#[derive(Debug, Clone)]
pub(crate) struct AppMessage<'r> {
    pub publisher: Name<'r>,
    pub topic: &'r str,
    pub qos: u8,
    pub retain: bool,
    /// Its payload is empty: it carries no message id (a retained clear, when `retain`).
    pub empty: bool,
    pub idx: usize,
    /// Subscribers whose matching subscription existed when the application published it, with
    /// their session epoch and granted QoS; used only for messages never accepted.
    pub candidates: Vec<(Name<'r>, usize, u8)>,
    /// The 5.0 Message Expiry Interval it was published with, in seconds.
    pub expiry: Option<u32>,
    /// The QoS it can have gone with: lowered to a 5.0 server's Maximum QoS (the last one its
    /// publisher was told, at the publish) and to the QoS of each PUBLISH it was sent in.
    pub qos_sent: u8,
}

/// The broker taking responsibility for a message (or publishing a Will).
#[derive(Debug, Clone)]
pub(crate) struct Accept<'r> {
    pub idx: usize,
    pub t_us: u64,
    pub publisher: Name<'r>,
    pub key: Option<Key<'r>>,
    pub topic: &'r str,
    pub pid: Option<u16>,
    pub qos: u8,
    /// The payload text of an anonymous message (a Will, an empty payload), to match copies.
    pub payload: Option<String>,
    /// Not reported by the broker: inferred from the publisher's acknowledgement.
    pub implied: bool,
    /// When the message may expire at the broker, if it has a Message Expiry Interval.
    pub expiry: Option<Window>,
}

/// A copy received by a subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Delivery<'r> {
    pub idx: usize,
    pub t_us: u64,
    pub sub: Name<'r>,
    pub key: Option<Key<'r>>,
    pub topic: &'r str,
    pub qos: u8,
    pub pid: u16,
    pub dup: bool,
    pub retain: bool,
    /// The subscriber's session at the broker when the copy arrived.
    pub epoch: Option<usize>,
    /// The index of the subscriber's broker connection (in `spans`) it arrived on.
    pub span: Option<usize>,
    /// The shared subscription (its whole filter) the copy answered, when the device is a
    /// member of a group whose filter matches the topic (MQTT 5.0).
    pub group: Option<&'r str>,
    /// The Message Expiry Interval the PUBLISH carried (5.0).
    pub expiry: Option<u32>,
    /// The copy was sent because a subscription was made (a retained message), not forwarded
    /// as the message was published. For a 3.1.1 device, and a 5.0 one without Retain As
    /// Published, that is its RETAIN flag; see [`Facts::gather`] for the others.
    pub on_subscribe: bool,
}

/// One obligation of a shared subscription group: it had members when the broker accepted the
/// message; each of them (client id, session epoch, granted QoS) could have been chosen.
#[derive(Debug, Clone)]
pub(crate) struct GroupOwe<'r> {
    pub accept: usize,
    pub members: Vec<(Name<'r>, usize, u8)>,
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
pub(crate) struct Span<'r> {
    pub start_idx: usize,
    pub start_us: u64,
    pub end_us: Option<u64>,
    pub end_idx: Option<usize>,
    pub reason: Option<&'r str>,
    /// The session it belonged to.
    pub epoch: Option<usize>,
    /// Its CONNECT's Clean Start (Clean Session).
    pub clean: bool,
}

/// A session's life at the broker, from its creation to its discarding.
#[derive(Debug, Clone)]
pub(crate) struct Epoch {
    pub end_us: Option<u64>,
    pub end_idx: Option<usize>,
    pub end_cause: Option<&'static str>,
    /// How it ended, for the rules that judge what follows (see `sessions`).
    pub end_kind: Option<EndKind>,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndKind {
    /// MQTT 5.0: its Session Expiry Interval ran out after its connection closed (0: at the
    /// close) [MQTT-4.1.0-2].
    Expired,
    /// A 3.1.1 clean session whose connection ended [MQTT-3.1.2-6], or a new connection with
    /// Clean Start (Clean Session) 1 [MQTT-3.1.2-4].
    Clean,
    /// The broker said it had none (Session Present 0).
    NoSession,
    /// A volatile broker restart.
    BrokerLost,
}

/// A subscription made, with the retained messages that matched it at that moment.
#[derive(Debug, Clone)]
pub(crate) struct SubEvent<'r> {
    pub idx: usize,
    pub t_us: u64,
    pub sub: Name<'r>,
    pub filter: &'r str,
    pub granted: u8,
    pub epoch: Option<usize>,
    /// (topic, retained message) pairs; `None` when the retained message is not known.
    pub snapshot: Vec<(&'r str, Option<Key<'r>>)>,
    /// The subscription's 5.0 Retain Handling (0 for 3.1.1).
    pub retain_handling: u8,
    /// The session already had a subscription with this filter.
    pub existed: bool,
}

impl SubEvent<'_> {
    /// Whether this subscription gets the matching retained messages: not with Retain Handling
    /// 2 [MQTT-3.3.1-11], nor with 1 when the subscription already existed [MQTT-3.3.1-10].
    pub(crate) fn sends_retained(&self) -> bool {
        match self.retain_handling {
            0 => true,
            1 => !self.existed,
            _ => false,
        }
    }
}

/// A request a device sent and the broker's answer to it, on one connection: evidence that the
/// connection worked both ways at that time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoundTrip {
    pub sent_us: u64,
    pub answered_us: u64,
    /// The answer's record.
    pub idx: usize,
    /// The connection (index into the device's `spans`) and its session.
    pub span: Option<usize>,
    pub epoch: Option<usize>,
}

/// A time interval in which a device's path to the broker was disturbed by a fault.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Disturbance {
    pub from_us: u64,
    pub until_us: u64,
}

/// A device fault record.
#[derive(Debug, Clone)]
pub(crate) struct DeviceFault<'r> {
    pub idx: usize,
    pub t_us: u64,
    pub kind: &'r str,
    pub phase: Phase,
}

/// A connection end at the broker, and the Will it published, if any.
#[derive(Debug, Clone)]
pub(crate) struct Ending<'r> {
    pub idx: usize,
    pub t_us: u64,
    pub device: Name<'r>,
    pub reason: &'r str,
    pub will: Option<usize>,
    /// MQTT 5.0: the reason code of the DISCONNECT the device sent on this connection.
    pub code: Option<u8>,
    /// MQTT 5.0: the Will Delay Interval in force on this connection, in seconds.
    pub will_delay_s: u32,
    /// When the session ends by its expiry (the close itself for a clean session or a 5.0
    /// interval of 0); `None`: it does not expire.
    pub session_end_us: Option<u64>,
}

impl Ending<'_> {
    /// MQTT 5.0: whether this connection's Will waits for its Will Delay Interval or the
    /// session's end (a close without DISCONNECT with a delay, or a DISCONNECT with a reason
    /// other than 0x00, which keeps the Will [MQTT-3.1.2-8]) rather than going out at the close.
    pub(crate) fn will_waits(&self) -> bool {
        let graceful = self.reason == "client-disconnect";
        let with_will = graceful && self.code.is_some_and(|c| c != 0x00);
        with_will || (!graceful && self.will_delay_s > 0)
    }

    /// When a waiting Will is due: the end of its Will Delay Interval or the session's end,
    /// whichever comes first.
    pub(crate) fn will_due_us(&self) -> u64 {
        let delay_end = self.t_us.saturating_add(u64::from(self.will_delay_s) * 1_000_000);
        self.session_end_us.map_or(delay_end, |s| s.min(delay_end))
    }
}

/// Everything the rules read.
pub(crate) struct Facts<'r> {
    pub records: &'r [Record],
    pub end_us: u64,
    pub devices: BTreeMap<String, DeviceInfo>,
    /// Every client id and message id the trace names.
    pub names: Names<'r>,
    pub messages: BTreeMap<Name<'r>, AppMessage<'r>>,
    pub accepts: Vec<Accept<'r>>,
    /// Each message's acceptances, as indices into `accepts`.
    pub accepts_of: BTreeMap<Key<'r>, Vec<usize>>,
    pub deliveries: Vec<Delivery<'r>>,
    pub owed: BTreeMap<(Key<'r>, Name<'r>), Vec<Owe>>,
    /// (message, shared subscription's whole filter) → the group's obligations (MQTT 5.0).
    pub group_owed: BTreeMap<(Key<'r>, &'r str), Vec<GroupOwe<'r>>>,
    /// Acceptances of a message not owed to its own publisher because all of its matching
    /// subscriptions had No Local: (acceptance, publisher).
    pub no_local_spared: Vec<(usize, Name<'r>)>,
    /// Every shared subscription (whole filter) a device made.
    pub groups: BTreeSet<&'r str>,
    /// (accept, subscriber) → the `broker_dropped` record.
    pub broker_drops: BTreeMap<(usize, Name<'r>), usize>,
    /// msg → the device's `dropped` record.
    pub device_drops: BTreeMap<Name<'r>, usize>,
    /// Messages complete at their publisher (acked, or released after a lost session).
    pub completed: BTreeSet<Name<'r>>,
    pub spans: BTreeMap<Name<'r>, Vec<Span<'r>>>,
    pub epochs: Vec<Epoch>,
    pub subscribes: Vec<SubEvent<'r>>,
    pub device_faults: BTreeMap<Name<'r>, Vec<DeviceFault<'r>>>,
    pub disturbances: BTreeMap<Name<'r>, Vec<Disturbance>>,
    /// Blackouts and partitions that silence a device towards the broker.
    pub cuts: BTreeMap<Name<'r>, Vec<Cut>>,
    /// A connection accepted while the same client's previous one was still open: (the open
    /// connection's record, the new one's).
    pub double_connects: Vec<(usize, usize)>,
    /// Broker down intervals.
    pub broker_down: Vec<Disturbance>,
    pub endings: Vec<Ending<'r>>,
    /// Wills published with no connection end before them at the same instant.
    pub stray_wills: Vec<usize>,
    /// Completed round trips of each device (its acknowledged publishes; at the packet level,
    /// PINGREQ and PINGRESP, SUBSCRIBE and SUBACK).
    pub round_trips: BTreeMap<Name<'r>, Vec<RoundTrip>>,
    /// When each device sent control packets (packet-level traces only).
    pub packets_up: BTreeMap<Name<'r>, Vec<u64>>,
    /// Whether the trace has packet-level records.
    pub packet_level: bool,
    /// QoS 2 messages the broker took for a resend of an earlier flow of the same packet
    /// identifier, left open when their publisher lost its state: msg → (the earlier message,
    /// the state loss's time). Acknowledged, never accepted, and not the broker's fault
    /// [MQTT-4.3.3-2].
    pub swallowed: BTreeMap<Name<'r>, (Name<'r>, u64)>,
    /// The first `connect_attempt` of each device.
    pub first_attempt: BTreeMap<Name<'r>, u64>,
    /// Connections whose CONNACK said Session Present 1 although the trace shows the session
    /// had ended (see `sessions`): (the connection's record, the ended session).
    pub ended_resumes: Vec<(usize, usize)>,
    /// Connections that `sessions` judged: a new session after an ended one, or a 5.0 session
    /// resumed before its expiry.
    pub session_checks: u64,
    /// When the last fault ended (or the end of the run, if one never ended).
    pub faults_over_us: u64,
    pub unattributed: u64,
}

/// The devices of a scenario, by client id.
fn device_infos(scenario: &Scenario) -> BTreeMap<String, DeviceInfo> {
    let mut out = BTreeMap::new();
    for group in &scenario.devices {
        for i in 0..group.count as usize {
            let v5 = group.protocol_in(scenario) == mqttsim_codec::Protocol::V5;
            let will = group.will.as_ref().map(|w| WillInfo {
                topic: group.expand(&w.topic, i),
                payload: w.payload.clone(),
                qos: w.qos.get().as_u8(),
                retain: w.retain,
                props: if v5 {
                    super::will_props::expected(group, w, i)
                } else {
                    Default::default()
                },
                expiry: w
                    .expiry
                    .filter(|_| v5)
                    .map(|e| u32::try_from(e.get().as_secs()).unwrap_or(u32::MAX)),
            });
            let keepalive_us = u64::try_from(group.keepalive.get().as_micros()).unwrap_or(u64::MAX);
            let no_local = group
                .subscribe
                .iter()
                .filter(|s| s.no_local)
                .map(|s| group.expand(&s.filter, i))
                .collect();
            let secs = |t: Option<crate::scenario::TimeSpan>| {
                t.map_or(0, |t| u32::try_from(t.get().as_secs()).unwrap_or(u32::MAX))
            };
            let session_expiry_s = if v5 { secs(group.session_expiry) } else { 0 };
            let will_delay_s = if v5 { secs(group.will.as_ref().and_then(|w| w.delay)) } else { 0 };
            let retain_handling = group
                .subscribe
                .iter()
                .map(|s| {
                    let h = s.retain_handling.map_or(0, crate::scenario::RetainHandling::as_u8);
                    (group.expand(&s.filter, i), if v5 { h } else { 0 })
                })
                .collect();
            let retain_as_published = if v5 {
                let rap = |s: &crate::scenario::SubscribeSpec| s.retain_as_published;
                group.subscribe.iter().map(|s| (group.expand(&s.filter, i), rap(s))).collect()
            } else {
                Vec::new()
            };
            let info = DeviceInfo {
                keepalive_us,
                will,
                no_local,
                v5,
                session_expiry_s,
                will_delay_s,
                retain_handling,
                retain_as_published,
                topic_aliases: group.topic_aliases.unwrap_or(0),
                respond: group.respond.as_ref().map(|r| group.expand(&r.to, i)),
            };
            out.insert(group.client_id(i), info);
        }
    }
    out
}

/// A link fault that started: when, and on which devices.
/// A link fault that started: when, on which devices, and (for a cut that silences the devices
/// towards the broker) its record.
type OpenLinkFault<'r> = (u64, &'r [String], Option<usize>);

/// A blackout or partition that silences a device towards the broker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    pub from_us: u64,
    pub until_us: u64,
    pub idx: usize,
}

/// A device's view at the broker while the pass runs.
#[derive(Default)]
pub(super) struct Live<'r> {
    pub(super) epoch: Option<usize>,
    clean: bool,
    subs: BTreeMap<&'r str, u8>,
    /// QoS 0 messages sent on the current connection and not yet accepted.
    qos0: VecDeque<Name<'r>>,
    /// A PINGREQ sent and not answered yet (packet level).
    ping: Option<u64>,
    /// SUBSCRIBE packets sent and not answered yet, by packet id (packet level).
    subscribing: BTreeMap<u16, u64>,
    /// MQTT 5.0: what the device's latest CONNACK left in force (`connected`), and the
    /// DISCONNECT it sent on the current connection (`disconnect_sent`).
    pub(super) terms: super::sessions::Terms,
    /// MQTT 5.0: when the session, offline, expires (see `sessions`).
    pub(super) expires_at: Option<(u64, u64, usize)>,
    /// The session that ended last.
    pub(super) ended: Option<usize>,
}

/// Payload text as the trace shows it: the first 64 bytes.
fn trace_payload(payload: &str) -> String {
    let bytes = payload.as_bytes();
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

impl<'r> Facts<'r> {
    pub(crate) fn gather(
        scenario: &Scenario,
        records: &'r [Record],
        end_us: u64,
        tolerance_us: u64,
    ) -> Facts<'r> {
        let mut f = Facts {
            records,
            end_us,
            devices: device_infos(scenario),
            names: Names::of_trace(records),
            messages: BTreeMap::new(),
            accepts: Vec::new(),
            accepts_of: BTreeMap::new(),
            deliveries: Vec::new(),
            owed: BTreeMap::new(),
            group_owed: BTreeMap::new(),
            no_local_spared: Vec::new(),
            groups: BTreeSet::new(),
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
            round_trips: BTreeMap::new(),
            packets_up: BTreeMap::new(),
            packet_level: false,
            swallowed: BTreeMap::new(),
            first_attempt: BTreeMap::new(),
            ended_resumes: Vec::new(),
            session_checks: 0,
            faults_over_us: 0,
            unattributed: 0,
        };
        let mut live: BTreeMap<Name<'r>, Live<'r>> = BTreeMap::new();
        let mut sent_pid: BTreeMap<(Name<'r>, u16), Name<'r>> = BTreeMap::new();
        let mut retained: BTreeMap<&'r str, Option<Key<'r>>> = BTreeMap::new();
        let mut open_link_faults: BTreeMap<(&'r str, &'r str), Vec<OpenLinkFault<'r>>> =
            BTreeMap::new();
        let mut open_device_faults: BTreeMap<Name<'r>, (u64, &'r str)> = BTreeMap::new();
        let mut broker_down_since: Option<u64> = None;
        // Anonymous messages (Wills, empty payloads) accepted, as indices into `f.accepts`, by
        // topic.
        let mut anonymous_on: BTreeMap<&'r str, Vec<usize>> = BTreeMap::new();
        // (anonymous message, device): the device has had its forwarded copy.
        let mut anonymous_copies: BTreeSet<(usize, Name<'r>)> = BTreeSet::new();
        // When each message was last put on the wire by its publisher, and with which packet id.
        let mut last_sent: BTreeMap<Name<'r>, (u64, u16)> = BTreeMap::new();
        // (publisher, packet id) → the QoS 2 message the broker accepted with it and whose flow
        // its publisher has not completed, with the acceptance's time.
        let mut open_qos2: BTreeMap<(Name<'r>, u16), (Name<'r>, u64)> = BTreeMap::new();
        // Each device's subscriptions, as indices into `f.subscribes`.
        let mut subscribes_of: BTreeMap<Name<'r>, Vec<usize>> = BTreeMap::new();
        let mut routes = Routes::default();
        // Each device's shared subscriptions ever made (whole filter → inner filter).
        let mut member_of: BTreeMap<Name<'r>, BTreeMap<&'r str, &'r str>> = BTreeMap::new();
        let mut unfinished = false;
        // Offline 5.0 sessions by when their expiry is past doubt (expiry + tolerance).
        let mut expiring: BTreeSet<(u64, Name<'r>)> = BTreeSet::new();
        // MQTT 5.0: the Maximum QoS each device's latest CONNACK announced (2: none).
        let mut server_max_qos: BTreeMap<Name<'r>, u8> = BTreeMap::new();
        // (subscriber, message, session): a forwarded copy arrived (MQTT 5.0).
        let mut forwarded: BTreeSet<(Name<'r>, Key<'r>, usize)> = BTreeSet::new();

        for (idx, r) in records.iter().enumerate() {
            let t = r.t_us;
            let device: Name<'r> = f.names.of(r.device.as_deref().unwrap_or_default());
            super::sessions::expire(&mut f, &mut live, &mut routes, &mut expiring, t, idx);
            match &r.event {
                Event::Connected { session_expiry, will_delay, limits, .. } => {
                    if let Some(l) = limits {
                        server_max_qos.insert(device, l.server_maximum_qos.unwrap_or(2));
                    }
                    live.entry(device).or_default().terms.connected(*session_expiry, *will_delay);
                }
                Event::DisconnectSent { reason, session_expiry } => {
                    live.entry(device).or_default().terms.disconnecting(*reason, *session_expiry);
                }
                Event::ConnectAttempt { .. } => {
                    f.first_attempt.entry(device).or_insert(t);
                }
                Event::AppPublish { msg, topic, qos, retain, size, expiry, .. } => {
                    let msg = f.names.of(msg);
                    let candidates = matching(&live, &routes, topic, Some(device), &f.devices);
                    let message = AppMessage {
                        publisher: device,
                        topic,
                        qos: *qos,
                        retain: *retain,
                        empty: *size == 0,
                        idx,
                        candidates,
                        expiry: *expiry,
                        qos_sent: (*qos).min(server_max_qos.get(&device).copied().unwrap_or(2)),
                    };
                    f.messages.insert(msg, message);
                }
                Event::PublishSent { msg, pid, qos, .. } => {
                    let msg = f.names.of(msg);
                    if let Some(m) = f.messages.get_mut(&msg) {
                        m.qos_sent = m.qos_sent.min(*qos);
                    }
                    last_sent.insert(msg, (t, *pid));
                    if *qos == 0 {
                        live.entry(device).or_default().qos0.push_back(msg);
                    } else {
                        sent_pid.insert((device, *pid), msg);
                    }
                }
                Event::Acked { msg, qos, .. } => {
                    let msg = f.names.of(msg);
                    f.completed.insert(msg);
                    let sent = last_sent.get(&msg).copied();
                    round_trip(&mut f, &live, device, sent.map(|s| s.0), t, idx);
                    let pid = sent.map(|s| s.1);
                    if *qos == 2
                        && let Some(pid) = pid
                        && open_qos2.get(&(device, pid)).is_some_and(|(m, _)| *m == msg)
                    {
                        open_qos2.remove(&(device, pid));
                    }
                    if !f.accepts_of.contains_key(&Key::App(msg))
                        && !swallowed(&mut f, &open_qos2, device, msg, pid)
                    {
                        implied_accept(&mut f, &live, &routes, msg, t, idx);
                    }
                }
                Event::SessionLost { released, .. } => {
                    let released: Vec<Name<'r>> = released.iter().map(|m| f.names.of(m)).collect();
                    f.completed.extend(released.iter().copied());
                    for msg in released {
                        let pid = last_sent.get(&msg).map(|s| s.1);
                        if let Some(pid) = pid
                            && open_qos2.get(&(device, pid)).is_some_and(|(m, _)| *m == msg)
                        {
                            open_qos2.remove(&(device, pid));
                        }
                        if !swallowed(&mut f, &open_qos2, device, msg, pid) {
                            implied_accept(&mut f, &live, &routes, msg, t, idx);
                        }
                    }
                }
                Event::PacketSent { packet, pid, .. } => {
                    f.packet_level = true;
                    f.packets_up.entry(device).or_default().push(t);
                    let l = live.entry(device).or_default();
                    match (packet.as_str(), pid) {
                        ("PINGREQ", _) => l.ping = Some(t),
                        ("SUBSCRIBE", Some(pid)) => {
                            l.subscribing.insert(*pid, t);
                        }
                        _ => {}
                    }
                }
                Event::PacketReceived { packet, pid, .. } => {
                    f.packet_level = true;
                    let l = live.entry(device).or_default();
                    let sent = match (packet.as_str(), pid) {
                        ("PINGRESP", _) => l.ping.take(),
                        ("SUBACK", Some(pid)) => l.subscribing.remove(pid),
                        _ => None,
                    };
                    round_trip(&mut f, &live, device, sent, t, idx);
                }
                Event::Dropped { msg, .. } => {
                    f.device_drops.insert(f.names.of(msg), idx);
                }
                Event::BrokerConnected { clean_session, session_present, .. } => {
                    let l = live.entry(device).or_default();
                    super::sessions::on_connect(
                        &mut f.epochs,
                        &mut routes,
                        &mut expiring,
                        device,
                        l,
                        super::sessions::Connect {
                            idx,
                            t,
                            clean: *clean_session,
                            present: *session_present,
                        },
                        (&mut f.ended_resumes, &mut f.session_checks),
                    );
                    if *clean_session || !*session_present || l.epoch.is_none() {
                        let cause = if *clean_session {
                            "the subscriber connected with a clean session"
                        } else {
                            "the broker had no session for the subscriber"
                        };
                        let kind = if *clean_session { EndKind::Clean } else { EndKind::NoSession };
                        let end = SessionEnd { t, idx, cause, kind };
                        end_epoch(&mut f.epochs, &mut routes, &device, l, end);
                        l.epoch = Some(f.epochs.len());
                        f.epochs.push(Epoch {
                            end_us: None,
                            end_idx: None,
                            end_cause: None,
                            end_kind: None,
                        });
                    }
                    l.clean = *clean_session;
                    l.qos0.clear();
                    l.ping = None;
                    l.subscribing.clear();
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
                        epoch: l.epoch,
                        clean: *clean_session,
                    });
                }
                Event::BrokerDisconnected { reason, .. } => {
                    if let Some(span) = f.spans.get_mut(&device).and_then(|s| s.last_mut())
                        && span.end_us.is_none()
                    {
                        span.end_us = Some(t);
                        span.end_idx = Some(idx);
                        span.reason = Some(reason);
                    }
                    let l = live.entry(device).or_default();
                    l.qos0.clear();
                    let info = f.devices.get(device.as_str());
                    let ending = if info.is_some_and(|d| d.v5) {
                        let default = info.map_or((0, 0), |d| (d.session_expiry_s, d.will_delay_s));
                        super::sessions::on_close(
                            &mut f.epochs,
                            &mut routes,
                            &mut expiring,
                            device,
                            l,
                            (t, idx),
                            default,
                            tolerance_us,
                        )
                    } else {
                        if l.clean {
                            let cause = "the subscriber's clean session ended with its connection";
                            let end = SessionEnd { t, idx, cause, kind: EndKind::Clean };
                            end_epoch(&mut f.epochs, &mut routes, &device, l, end);
                        }
                        super::sessions::Closing {
                            code: None,
                            will_delay_s: 0,
                            session_end_us: l.clean.then_some(t),
                        }
                    };
                    f.endings.push(Ending {
                        idx,
                        t_us: t,
                        device,
                        reason,
                        will: None,
                        code: ending.code,
                        will_delay_s: ending.will_delay_s,
                        session_end_us: ending.session_end_us,
                    });
                }
                Event::BrokerAccepted { msg, topic, pid, qos, retain } => {
                    let named = msg.as_deref().map(|m| {
                        let m = f.names.of(m);
                        if *qos == 0 {
                            // Keep the fallback's queue in step with what the broker named.
                            if let Some(l) = live.get_mut(&device)
                                && let Some(at) = l.qos0.iter().position(|q| *q == m)
                            {
                                l.qos0.drain(..=at);
                            }
                        }
                        f.messages.get(&m).filter(|a| a.topic == topic).map(|_| m)
                    });
                    let key = if let Some(named) = named {
                        named
                    } else if *qos == 0 {
                        live.get_mut(&device).and_then(|l| {
                            while let Some(m) = l.qos0.pop_front() {
                                if f.messages.get(&m).is_some_and(|a| a.topic == topic) {
                                    return Some(m);
                                }
                            }
                            None
                        })
                    } else {
                        sent_pid
                            .get(&(device, *pid))
                            .filter(|m| f.messages.get(*m).is_some_and(|a| a.topic == topic))
                            .copied()
                    }
                    .map(Key::App);
                    if key.is_none() {
                        f.unattributed += 1;
                    }
                    let empty = matches!(key, Some(Key::App(m)) if f.messages[&m].empty);
                    if *retain {
                        if empty {
                            // A zero-byte retained message clears the topic [MQTT-3.3.1-10].
                            retained.remove(topic.as_str());
                        } else {
                            retained.insert(topic, key);
                        }
                    }
                    let accept = f.accepts.len();
                    let expiry = match key {
                        Some(Key::App(m)) => f.messages.get(&m).and_then(|m| {
                            let published = records[m.idx].t_us;
                            m.expiry.map(|e| Window::new(e, published, t, t))
                        }),
                        _ => None,
                    };
                    f.accepts.push(Accept {
                        idx,
                        t_us: t,
                        publisher: device,
                        key,
                        topic,
                        pid: (*qos > 0).then_some(*pid),
                        qos: *qos,
                        payload: empty.then(String::new),
                        implied: false,
                        expiry,
                    });
                    if empty {
                        anonymous_on.entry(topic).or_default().push(accept);
                    }
                    if let Some(key) = key {
                        owe(&mut f, &live, &routes, key, accept, topic);
                        f.accepts_of.entry(key).or_default().push(accept);
                    }
                    if let (Some(Key::App(m)), 2) = (key, *qos) {
                        open_qos2.insert((device, *pid), (m, t));
                    }
                }
                Event::WillPublished { topic, qos, retain } => {
                    let accept = f.accepts.len();
                    let registered = f.devices.get(device.as_str()).and_then(|d| d.will.as_ref());
                    let payload = registered.map(|w| w.payload.clone());
                    // MQTT 5.0: a Will's Message Expiry Interval runs from its publication.
                    let expiry = registered.and_then(|w| w.expiry).map(|e| Window::new(e, t, t, t));
                    let key = Key::Will(accept);
                    if *retain {
                        if payload.as_deref().is_some_and(str::is_empty) {
                            retained.remove(topic.as_str());
                        } else {
                            retained.insert(topic, payload.is_some().then_some(key));
                        }
                    }
                    f.accepts.push(Accept {
                        idx,
                        t_us: t,
                        publisher: device,
                        key: Some(key),
                        topic,
                        pid: None,
                        qos: *qos,
                        payload: payload.as_deref().map(trace_payload),
                        implied: false,
                        expiry,
                    });
                    owe(&mut f, &live, &routes, key, accept, topic);
                    f.accepts_of.entry(key).or_default().push(accept);
                    anonymous_on.entry(topic).or_default().push(accept);
                    match f.endings.last_mut() {
                        Some(e) if e.t_us == t && e.device == device && e.will.is_none() => {
                            e.will = Some(accept);
                        }
                        // A delayed 5.0 Will belongs to the device's last connection that ended
                        // with none (see `will`).
                        _ => match f
                            .endings
                            .iter_mut()
                            .rev()
                            .find(|e| e.device == device)
                            .filter(|e| e.will.is_none() && e.will_delay_s > 0)
                        {
                            Some(e) => e.will = Some(accept),
                            None => f.stray_wills.push(idx),
                        },
                    }
                }
                Event::BrokerDropped { msg, topic, .. } => {
                    let accept = match msg {
                        // The message's latest acceptance is the copy the broker held.
                        Some(m) => f
                            .accepts_of
                            .get(&Key::App(f.names.of(m)))
                            .and_then(|a| a.last().copied())
                            .filter(|&a| f.accepts[a].topic == topic),
                        // This instant's acceptances, else (a queued Will that expired, say)
                        // the oldest Will on the topic owed to the device and not had yet.
                        None => f
                            .accepts
                            .iter()
                            .enumerate()
                            .rev()
                            .take_while(|(_, a)| a.t_us == t)
                            .find(|(_, a)| a.topic == topic)
                            .map(|(i, _)| i)
                            .or_else(|| {
                                anonymous_on.get(topic.as_str())?.iter().copied().find(|&i| {
                                    matches!(f.accepts[i].key, Some(Key::Will(_)))
                                        && f.owed.contains_key(&(Key::Will(i), device))
                                        && !anonymous_copies.contains(&(i, device))
                                })
                            }),
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
                    let l = live.entry(device).or_default();
                    let existed = l.subs.insert(filter, *g).is_some();
                    let retain_handling = f
                        .devices
                        .get(device.as_str())
                        .and_then(|d| d.retain_handling.get(filter.as_str()))
                        .copied()
                        .unwrap_or(0);
                    let epoch = l.epoch;
                    // A shared subscription gets no retained messages (MQTT 5.0 §4.8.2).
                    let snapshot = match shared_inner(filter) {
                        Some(inner) => {
                            member_of.entry(device).or_default().insert(filter, inner);
                            f.groups.insert(filter);
                            Vec::new()
                        }
                        None => retained_matching(&retained, filter),
                    };
                    subscribes_of.entry(device).or_default().push(f.subscribes.len());
                    f.subscribes.push(SubEvent {
                        idx,
                        t_us: t,
                        sub: device,
                        filter,
                        granted: *g,
                        epoch,
                        snapshot,
                        retain_handling,
                        existed,
                    });
                }
                Event::BrokerUnsubscribed { filter } => {
                    routes.remove(filter, &device);
                    live.entry(device).or_default().subs.remove(filter.as_str());
                }
                Event::Delivered { msg, topic, qos, pid, dup, retain, payload, expiry, .. } => {
                    let is_it = |i: usize| {
                        let a = &f.accepts[i];
                        a.topic == topic
                            && a.payload.as_deref() == Some(payload.as_deref().unwrap_or(""))
                    };
                    // A copy with RETAIN=1 answers a subscription: it is the message retained on
                    // the topic when the device last subscribed with a matching filter, even
                    // if the same Will was published again since (its payload is the same).
                    let retained_will = || {
                        let s = subscribes_of
                            .get(&device)?
                            .iter()
                            .rev()
                            .map(|&s| &f.subscribes[s])
                            .find(|s| topic::matches(s.filter, topic))?;
                        match s.snapshot.iter().find(|(t, _)| *t == topic.as_str())? {
                            (_, Some(Key::Will(i))) if is_it(*i) => Some(Key::Will(*i)),
                            _ => None,
                        }
                    };
                    // A forwarded copy: the oldest anonymous message on the topic owed to the
                    // device that it has not had yet (a session delivers in order), else the
                    // latest (a duplicate).
                    // Owed to the device's current session: an earlier session's messages went
                    // with it.
                    let session = live.get(&device).and_then(|l| l.epoch);
                    let forwarded_will = || {
                        let wills = anonymous_on.get(topic.as_str())?;
                        let key_of = |i: usize| f.accepts[i].key;
                        let owed = |i: usize| {
                            let now = |o: &Owe| o.accept == i && Some(o.epoch) == session;
                            // A copy the broker dropped for the device (an expired Will) is
                            // not the one that arrives.
                            key_of(i).is_some_and(|k| {
                                f.owed.get(&(k, device)).is_some_and(|o| o.iter().any(now))
                            }) && !anonymous_copies.contains(&(i, device))
                                && !f.broker_drops.contains_key(&(i, device))
                        };
                        let i = wills
                            .iter()
                            .copied()
                            .find(|&i| is_it(i) && owed(i))
                            .or_else(|| wills.iter().rev().copied().find(|&i| is_it(i)))?;
                        Some((i, key_of(i)?))
                    };
                    let key = match msg {
                        Some(m) => Some(Key::App(f.names.of(m))),
                        None if *retain => {
                            retained_will().or_else(|| forwarded_will().map(|(_, k)| k))
                        }
                        None => match forwarded_will() {
                            Some((i, k)) => {
                                anonymous_copies.insert((i, device));
                                Some(k)
                            }
                            None => None,
                        },
                    };
                    if key.is_none() {
                        f.unattributed += 1;
                    }
                    let epoch = live.get(&device).and_then(|l| l.epoch);
                    let span = f
                        .spans
                        .get(&device)
                        .and_then(|s| s.last().filter(|s| s.end_us.is_none()).map(|_| s.len() - 1));
                    let group = member_of.get(&device).and_then(|groups| {
                        groups.iter().find(|(_, inner)| topic::matches(inner, topic)).map(|g| *g.0)
                    });
                    let on_subscribe = match (key, epoch) {
                        (Some(k), Some(e)) if *retain => {
                            let copy = RetainedCopy { device, key: k, epoch: e, topic, group };
                            let sent_before = forwarded.contains(&(device, k, e));
                            copy.on_subscribe(&f, subscribes_of.get(&device), sent_before)
                        }
                        _ => *retain,
                    };
                    if let (false, Some(k), Some(e)) = (on_subscribe, key, epoch) {
                        forwarded.insert((device, k, e));
                    }
                    f.deliveries.push(Delivery {
                        idx,
                        t_us: t,
                        sub: device,
                        key,
                        topic,
                        qos: *qos,
                        pid: *pid,
                        dup: *dup,
                        retain: *retain,
                        epoch,
                        span,
                        group,
                        expiry: *expiry,
                        on_subscribe,
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
                            span.reason = Some("broker-crash");
                            let l = live.entry(*d).or_default();
                            l.qos0.clear();
                        }
                    }
                    if state == "volatile" {
                        retained.clear();
                        expiring.clear();
                        for (d, l) in live.iter_mut() {
                            let cause = "a volatile broker restart";
                            let end = SessionEnd { t, idx, cause, kind: EndKind::BrokerLost };
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
                    f.device_faults.entry(device).or_default().push(DeviceFault {
                        idx,
                        t_us: t,
                        kind,
                        phase: *phase,
                    });
                    f.faults_over_us = f.faults_over_us.max(t);
                    match phase {
                        Phase::Start => {
                            open_device_faults.insert(device, (t, kind));
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
                    // A link's flapping (`flap` periods) disturbs its device like a blackout,
                    // but it is the link's character, like loss: it never stops, so it does not
                    // hold the quiet period back.
                    if !is_flap(kind) {
                        f.faults_over_us = f.faults_over_us.max(t);
                    }
                    let open = open_link_faults.entry((kind, target)).or_default();
                    match phase {
                        Phase::Start => {
                            let silences =
                                matches!(kind.as_str(), "blackout" | "partition" | "flap")
                                    && direction.as_deref().is_none_or(|d| d != "from-broker");
                            open.push((t, devices, silences.then_some(idx)));
                        }
                        Phase::End => {
                            if !open.is_empty() {
                                let (from, devices, cut) = open.remove(0);
                                for d in devices {
                                    let dist = Disturbance { from_us: from, until_us: t };
                                    f.disturbances.entry(f.names.of(d)).or_default().push(dist);
                                    if let Some(idx) = cut {
                                        let cut = Cut { from_us: from, until_us: t, idx };
                                        f.cuts.entry(f.names.of(d)).or_default().push(cut);
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // Sessions whose expiry is past doubt by the end.
        super::sessions::expire(
            &mut f,
            &mut live,
            &mut routes,
            &mut expiring,
            end_us.saturating_add(1),
            records.len().saturating_sub(1),
        );
        // Faults still on at the end disturb until the end.
        for ((kind, _), open) in open_link_faults {
            for (from, devices, cut) in open {
                unfinished |= !is_flap(kind);
                for d in devices {
                    let dist = Disturbance { from_us: from, until_us: end_us };
                    f.disturbances.entry(f.names.of(d)).or_default().push(dist);
                    if let Some(idx) = cut {
                        let cut = Cut { from_us: from, until_us: end_us, idx };
                        f.cuts.entry(f.names.of(d)).or_default().push(cut);
                    }
                }
            }
        }
        for (d, (from, kind)) in open_device_faults {
            // A crash, or a power loss or disconnect that never ends, takes the device away for
            // good; it does not hold the quiet period of the others back.
            let permanent = matches!(kind, "crash" | "power-loss" | "disconnect");
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
    pub(crate) fn lost_state_between(&self, device: Name<'r>, from_us: u64, until_us: u64) -> bool {
        self.device_faults.get(&device).is_some_and(|faults| {
            faults.iter().any(|f| {
                f.phase == Phase::Start
                    && f.t_us > from_us
                    && f.t_us <= until_us
                    && matches!(f.kind, "power-loss" | "crash" | "reboot")
            })
        })
    }

    /// Whether, after `from_us`, `device` had an undisturbed stretch of at least `settle_us`
    /// while its last broker connection was open through the end of the run.
    pub(crate) fn settled_after(&self, device: Name<'r>, from_us: u64, settle_us: u64) -> bool {
        let Some(span) = self.spans.get(&device).and_then(|s| s.last()) else { return false };
        if span.end_us.is_some() {
            return false;
        }
        let lo = from_us.max(span.start_us);
        // At least `settle_us` (times are whole microseconds).
        self.undisturbed_stretch(device, lo, self.end_us, settle_us.saturating_sub(1)).is_some()
    }

    /// The first stretch of `[from_us, until_us)` longer than `min_us` in which `device`'s path
    /// to the broker was not disturbed (by a fault, its link's flapping or a broker outage).
    pub(crate) fn undisturbed_stretch(
        &self,
        device: Name<'r>,
        from_us: u64,
        until_us: u64,
        min_us: u64,
    ) -> Option<(u64, u64)> {
        let mut busy: Vec<(u64, u64)> = self
            .disturbances
            .get(&device)
            .into_iter()
            .flatten()
            .chain(self.broker_down.iter())
            .map(|d| (d.from_us, d.until_us))
            .filter(|&(from, until)| until > from_us && from < until_us)
            .collect();
        busy.sort_unstable();
        let mut cursor = from_us;
        for (from, until) in busy {
            if from > cursor && from - cursor > min_us {
                return Some((cursor, from));
            }
            cursor = cursor.max(until);
        }
        (until_us > cursor && until_us - cursor > min_us).then_some((cursor, until_us))
    }

    /// Whether `device` speaks MQTT 5.0 (a device the scenario does not know speaks 3.1.1).
    pub(crate) fn is_v5(&self, device: &str) -> bool {
        self.devices.get(device).is_some_and(|d| d.v5)
    }

    /// The first acceptance of a message.
    pub(crate) fn first_accept(&self, key: &Key<'r>) -> Option<&Accept<'r>> {
        self.accepts_of.get(key).and_then(|a| a.first()).map(|&i| &self.accepts[i])
    }

    /// A description of a message or Will for a violation.
    pub(crate) fn message_ref(&self, key: &Key<'r>) -> super::MessageRef {
        match key {
            Key::App(id) => {
                let m = self.messages.get(id);
                let accept = self.first_accept(key);
                super::MessageRef {
                    id: (*id).to_owned(),
                    publisher: m.map(|m| m.publisher.to_owned()).unwrap_or_default(),
                    topic: m.map(|m| m.topic.to_owned()).unwrap_or_default(),
                    pid: accept.and_then(|a| a.pid),
                    qos: m.map_or(0, |m| m.qos),
                }
            }
            Key::Will(a) => {
                let a = &self.accepts[*a];
                super::MessageRef {
                    id: format!("will of {}", a.publisher),
                    publisher: a.publisher.to_owned(),
                    topic: a.topic.to_owned(),
                    pid: None,
                    qos: a.qos,
                }
            }
        }
    }
}

/// Whether a link fault record is a period of a link's flapping.
fn is_flap(kind: &str) -> bool {
    kind == "flap"
}

/// Where a session ends: when, at which record, and why.
pub(super) struct SessionEnd {
    pub t: u64,
    pub idx: usize,
    pub cause: &'static str,
    pub kind: EndKind,
}

pub(super) fn end_epoch(
    epochs: &mut [Epoch],
    routes: &mut Routes,
    device: &str,
    l: &mut Live<'_>,
    end: SessionEnd,
) {
    if let Some(e) = l.epoch.take() {
        epochs[e].end_us = Some(end.t);
        epochs[e].end_idx = Some(end.idx);
        epochs[e].end_cause = Some(end.cause);
        epochs[e].end_kind = Some(end.kind);
        l.ended = Some(e);
    }
    for filter in std::mem::take(&mut l.subs).into_keys() {
        routes.remove(filter, device);
    }
}

/// The subscribers with a subscription matching `topic`: (client id, epoch, granted QoS, the
/// highest over overlapping subscriptions).
fn matching<'r>(
    live: &BTreeMap<Name<'r>, Live<'r>>,
    routes: &Routes,
    topic: &str,
    publisher: Option<Name<'r>>,
    devices: &BTreeMap<String, DeviceInfo>,
) -> Vec<(Name<'r>, usize, u8)> {
    routes
        .matches(topic)
        .into_iter()
        .filter_map(|(d, granted)| {
            let (&d, l) = live.get_key_value(d)?;
            if publisher == Some(d) && spared_by_no_local(l, topic, devices.get(d.as_str())) {
                return None;
            }
            Some((d, l.epoch?, granted))
        })
        .collect()
}

/// Whether every subscription of the publisher `l` that matches `topic` has No Local, so that
/// its own message is not owed to it [MQTT-3.8.3-3].
fn spared_by_no_local(l: &Live<'_>, topic: &str, info: Option<&DeviceInfo>) -> bool {
    let Some(info) = info.filter(|i| !i.no_local.is_empty()) else { return false };
    let mut matching =
        l.subs.keys().filter(|f| shared_inner(f).is_none() && topic::matches(f, topic)).peekable();
    matching.peek().is_some() && matching.all(|f| info.no_local.contains(*f))
}

/// Members of a shared subscription group: (client id, session epoch, granted QoS).
type Members<'r> = Vec<(Name<'r>, usize, u8)>;

/// The shared subscription groups matching `topic` that had members in a session, with them.
fn group_members<'r>(
    live: &BTreeMap<Name<'r>, Live<'r>>,
    routes: &Routes,
    groups: &BTreeSet<&'r str>,
    topic: &str,
) -> Vec<(&'r str, Members<'r>)> {
    routes
        .groups_matching(topic)
        .into_iter()
        .filter_map(|(filter, members)| {
            let &filter = groups.get(filter)?;
            let members: Members<'r> = members
                .iter()
                .filter_map(|(d, &granted)| {
                    let (&d, l) = live.get_key_value(d.as_str())?;
                    Some((d, l.epoch?, granted))
                })
                .collect();
            (!members.is_empty()).then_some((filter, members))
        })
        .collect()
}

/// Records a round trip of `device` answered at `t` (record `idx`), if its request (`sent`)
/// went out on the connection that is still open.
fn round_trip<'r>(
    f: &mut Facts<'r>,
    live: &BTreeMap<Name<'r>, Live<'r>>,
    device: Name<'r>,
    sent: Option<u64>,
    t: u64,
    idx: usize,
) {
    let Some(sent) = sent else { return };
    let Some(spans) = f.spans.get(&device) else { return };
    let Some(span) = spans.last().filter(|s| s.end_us.is_none() && sent >= s.start_us) else {
        return;
    };
    let trip = RoundTrip {
        sent_us: sent,
        answered_us: t,
        idx,
        span: Some(spans.len() - 1),
        epoch: span.epoch.or_else(|| live.get(&device).and_then(|l| l.epoch)),
    };
    f.round_trips.entry(device).or_default().push(trip);
}

/// Whether `msg`, acknowledged to its publisher without the broker reporting it, went out with
/// the packet identifier of an earlier QoS 2 flow the broker accepted and the publisher left
/// open when it lost its state (a power loss, crash or reboot since): the broker, still
/// awaiting that flow's PUBREL, rightly took it for a resend [MQTT-4.3.3-2]. Records it.
fn swallowed<'r>(
    f: &mut Facts<'r>,
    open_qos2: &BTreeMap<(Name<'r>, u16), (Name<'r>, u64)>,
    device: Name<'r>,
    msg: Name<'r>,
    pid: Option<u16>,
) -> bool {
    let Some(m) = f.messages.get(&msg) else { return false };
    if m.qos != 2 || f.accepts_of.contains_key(&Key::App(msg)) {
        return false;
    }
    let published = f.records[m.idx].t_us;
    let Some(&(earlier, opened)) = pid.and_then(|pid| open_qos2.get(&(device, pid))) else {
        return false;
    };
    // The publisher left the earlier flow open if it lost its state any time after it published
    // the earlier message: at the very instant the broker accepted it (flaky-farm seed 233), or
    // while its PUBLISH was still on the way.
    let since = f.messages.get(&earlier).map_or(opened, |e| f.records[e.idx].t_us.min(opened));
    let lost = f.device_faults.get(&device).and_then(|faults| {
        faults
            .iter()
            .filter(|x| x.phase == Phase::Start && x.t_us >= since && x.t_us <= published)
            .find(|x| matches!(x.kind, "power-loss" | "crash" | "reboot"))
            .map(|x| x.t_us)
    });
    match lost {
        Some(at) if earlier != msg => {
            f.swallowed.insert(msg, (earlier, at));
            true
        }
        _ => false,
    }
}

/// A QoS 1 or 2 message its publisher saw acknowledged, never reported accepted by the broker:
/// the acknowledgement says the broker took it over, so it is accepted at that moment, and owed
/// to the subscribers that matched both when it was published and now.
fn implied_accept<'r>(
    f: &mut Facts<'r>,
    live: &BTreeMap<Name<'r>, Live<'r>>,
    routes: &Routes,
    msg: Name<'r>,
    t: u64,
    idx: usize,
) {
    let key = Key::App(msg);
    let Some(m) = f.messages.get(&msg) else { return };
    if m.qos_sent == 0 || f.accepts_of.contains_key(&key) {
        return;
    }
    let accept = f.accepts.len();
    let (publisher, topic, qos, empty) = (m.publisher, m.topic, m.qos_sent, m.empty);
    let then: BTreeSet<Name<'r>> = m.candidates.iter().map(|c| c.0).collect();
    // The broker took it over between its publish and this acknowledgement.
    let published = f.records[m.idx].t_us;
    let expiry = m.expiry.map(|e| Window::new(e, published, published, t));
    f.accepts.push(Accept {
        idx,
        t_us: t,
        publisher,
        key: Some(key),
        topic,
        pid: None,
        qos,
        payload: empty.then(String::new),
        implied: true,
        expiry,
    });
    f.accepts_of.entry(key).or_default().push(accept);
    for (sub, epoch, granted) in matching(live, routes, topic, Some(publisher), &f.devices) {
        if then.contains(&sub) {
            f.owed.entry((key, sub)).or_default().push(Owe { accept, epoch, granted });
        }
    }
    for (group, members) in group_members(live, routes, &f.groups, topic) {
        f.group_owed.entry((key, group)).or_default().push(GroupOwe { accept, members });
    }
}

fn owe<'r>(
    f: &mut Facts<'r>,
    live: &BTreeMap<Name<'r>, Live<'r>>,
    routes: &Routes,
    key: Key<'r>,
    accept: usize,
    topic: &str,
) {
    let publisher = f.accepts[accept].publisher;
    let subs = matching(live, routes, topic, Some(publisher), &f.devices);
    if live
        .get(&publisher)
        .is_some_and(|l| spared_by_no_local(l, topic, f.devices.get(publisher.as_str())))
    {
        f.no_local_spared.push((accept, publisher));
    }
    for (sub, epoch, granted) in subs {
        f.owed.entry((key, sub)).or_default().push(Owe { accept, epoch, granted });
    }
    for (group, members) in group_members(live, routes, &f.groups, topic) {
        f.group_owed.entry((key, group)).or_default().push(GroupOwe { accept, members });
    }
}

/// A RETAIN=1 copy that a 5.0 device received, to tell a retained message sent on subscribe
/// from a forwarded one.
struct RetainedCopy<'r> {
    device: Name<'r>,
    key: Key<'r>,
    epoch: usize,
    topic: &'r str,
    group: Option<&'r str>,
}

impl<'r> RetainedCopy<'r> {
    /// Whether the copy is the retained message a subscription asked for. A RETAIN=1 copy of a
    /// 5.0 device is forwarded when the message was owed to the session as published and no
    /// subscription's retained snapshot holds it; when both could be, it is the retained
    /// message unless a matching subscription has Retain As Published — then the first copy
    /// is taken for the forwarded one and the next ones for the retained message (a DUP=1 one
    /// for its resend): the two are alike on the wire, and each reading owes both.
    fn on_subscribe(&self, f: &Facts<'r>, subscribes: Option<&Vec<usize>>, sent: bool) -> bool {
        let Some(info) = f.devices.get(self.device.as_str()).filter(|i| i.v5) else { return true };
        let owed = match self.group {
            Some(g) => f.group_owed.get(&(self.key, g)).is_some_and(|owes| {
                owes.iter()
                    .any(|o| o.members.iter().any(|m| (m.0, m.1) == (self.device, self.epoch)))
            }),
            None => f
                .owed
                .get(&(self.key, self.device))
                .is_some_and(|owes| owes.iter().any(|o| o.epoch == self.epoch)),
        };
        if !owed {
            return true;
        }
        let snapshot = subscribes.into_iter().flatten().map(|&i| &f.subscribes[i]).any(|s| {
            s.epoch.is_none_or(|e| e == self.epoch)
                && s.sends_retained()
                && topic::matches(s.filter, self.topic)
                && s.snapshot
                    .iter()
                    .any(|(t, k)| *t == self.topic && k.is_none_or(|k| k == self.key))
        });
        if !snapshot {
            return false;
        }
        let as_published = info.retain_as_published.iter().any(|(filter, rap)| {
            *rap && match self.group {
                Some(g) => filter == g,
                None => shared_inner(filter).is_none() && topic::matches(filter, self.topic),
            }
        });
        !as_published || sent
    }
}

/// The retained messages whose topics match `filter`, as (topic, message) pairs in topic order.
///
/// Only topics that start with the filter's levels before its first wildcard can match, so
/// those are the only ones looked at: a device subscribing to its own topic costs one lookup,
/// not a pass over every retained topic.
fn retained_matching<'r>(
    retained: &BTreeMap<&'r str, Option<Key<'r>>>,
    filter: &str,
) -> Vec<(&'r str, Option<Key<'r>>)> {
    let literal = filter.split('/').take_while(|l| *l != "+" && *l != "#").count();
    let prefix_len = filter.split('/').take(literal).map(|l| l.len() + 1).sum::<usize>();
    // `a/b/#` also matches `a/b` itself, so the prefix stops before the last separator.
    let prefix = &filter[..prefix_len.saturating_sub(1).min(filter.len())];
    retained
        .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
        .take_while(|(t, _)| t.starts_with(prefix))
        .filter(|(t, _)| topic::matches(filter, t))
        .map(|(&t, &k)| (t, k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range scan finds exactly what a pass over every retained topic finds.
    #[test]
    fn retained_matching_agrees_with_a_full_scan() {
        let topics = [
            "a", "a/b", "a/b/c", "a/bc", "ab", "a//b", "/a", "b/a", "$SYS/x", "$SYS", "a/b/c/d", "",
        ];
        let retained: BTreeMap<&str, Option<Key<'_>>> =
            topics.iter().enumerate().map(|(i, &t)| (t, Some(Key::Will(i)))).collect();
        let filters = [
            "#",
            "+",
            "a",
            "a/#",
            "a/+",
            "a/b",
            "a/b/#",
            "a/+/c",
            "+/b/#",
            "/#",
            "a//b",
            "$SYS/#",
            "$SYS",
            "+/+",
            "ab/#",
            "a/b/c/d/#",
            "x/#",
        ];
        for filter in filters {
            let naive: Vec<(&str, Option<Key<'_>>)> = retained
                .iter()
                .filter(|(t, _)| topic::matches(filter, t))
                .map(|(&t, &k)| (t, k))
                .collect();
            assert_eq!(retained_matching(&retained, filter), naive, "filter {filter:?}");
        }
    }
}
