//! The broker-side records of a live trace, derived from what the devices observed.
//!
//! In the simulator the broker writes these records itself. Live, the broker is a black box, so
//! each record is written only from evidence a device saw:
//!
//! - `broker_connected`: a CONNACK that accepted a connection (its Session Present flag), with
//!   the Clean Session flag the device sent;
//! - `broker_subscribed`: a SUBACK, one record per filter of the SUBSCRIBE it answers, with the
//!   granted QoS (none for a refusal);
//! - `broker_accepted`: a QoS 1 or 2 message acknowledged (PUBACK, or PUBCOMP after PUBREC), or
//!   any message some subscriber received, or a QoS 0 message sent; placed at the message's
//!   first send, the earliest the broker could have had it;
//! - `will_published`: a subscriber received a device's registered Will (its topic and
//!   payload); placed at the first such delivery;
//! - `broker_disconnected`: the device sent DISCONNECT, the broker sent one, the device's Will
//!   was seen (the broker had closed the connection), or the device connected again with the
//!   same client id (the broker closes the old connection first [MQTT-3.1.4-2]); a connection
//!   with none of these is still open for the checker. A broker restart the run made ends
//!   every connection (the checker ends them at its record), so the next CONNECT after it is
//!   no takeover.
//!
//! What cannot be known live (a broker's drops, the exact moment it noticed a silent device)
//! is not written: the checker then says what it could not judge.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::device;
use crate::scenario::Scenario;
use crate::trace::{Event, Phase, Record};

/// What one device sent that the derivation needs.
struct DeviceInfo {
    clean_session: bool,
    /// The filters of the SUBSCRIBE at boot (and of a renewal after a lost session).
    boot: Vec<String>,
    /// The filters made again on a kept session.
    again: Vec<String>,
    /// The registered Will: topic, payload, QoS, retain.
    will: Option<(String, String, u8, bool)>,
    /// Whether the device speaks MQTT 5.0 (Will Delay and Session Expiry apply).
    v5: bool,
    /// The keepalive it asks for, in microseconds (0: none).
    keepalive_us: u64,
}

/// What the derivation knows of a device's open connection.
#[derive(Default, Clone, Copy)]
struct ConnInfo {
    /// The connection's number.
    conn: u64,
    /// From its CONNACK: the Session Expiry Interval and the Will Delay Interval, in seconds.
    session_expiry: u32,
    will_delay: u32,
    /// The last time the device received something on it: the broker still had it then.
    heard_down_us: u64,
    /// When a crash, power loss or reboot of the device began on it, if one did.
    silenced_us: Option<u64>,
    /// Whether the device's link was disturbed (a link fault) while it was open.
    disturbed: bool,
}

impl ConnInfo {
    /// The earliest the broker can have closed the connection: when the device fell silent if
    /// its link was undisturbed until then (the broker had no cause before), else the last
    /// time the device heard from the broker.
    fn earliest_close_us(&self) -> u64 {
        match self.silenced_us {
            Some(t) if !self.disturbed => t.max(self.heard_down_us),
            _ => self.heard_down_us,
        }
    }
}

fn infos(scenario: &Scenario) -> BTreeMap<String, DeviceInfo> {
    let mut out = BTreeMap::new();
    for group in &scenario.devices {
        for i in 0..group.count as usize {
            let mut boot: Vec<String> =
                device::subscriptions(group, i, false).into_iter().map(|(f, _)| f).collect();
            if let Some(r) = device::responder(group, i) {
                boot.push(r.filter);
            }
            let again = device::subscriptions(group, i, true).into_iter().map(|(f, _)| f).collect();
            let will = group.will.as_ref().map(|w| {
                (group.expand(&w.topic, i), w.payload.clone(), w.qos.get().as_u8(), w.retain)
            });
            let keepalive_us = u64::try_from(group.keepalive.get().as_micros()).unwrap_or(0);
            out.insert(
                group.client_id(i),
                DeviceInfo {
                    clean_session: group.clean_session,
                    boot,
                    again,
                    will,
                    v5: group.protocol_in(scenario) == mqttsim_codec::Protocol::V5,
                    keepalive_us,
                },
            );
        }
    }
    out
}

/// The topics the run left a retained message on (scenario names), by the device group that
/// published there (whose version and credentials clear them): retained publications, retained
/// messages a subscriber received (by the subscriber's group if no publisher is known) and
/// retained Wills.
pub fn retained_topics(scenario: &Scenario, records: &[Record]) -> BTreeMap<usize, Vec<String>> {
    let groups: HashMap<String, usize> = scenario
        .devices
        .iter()
        .enumerate()
        .flat_map(|(gi, g)| (0..g.count as usize).map(move |i| (g.client_id(i), gi)))
        .collect();
    let mut topics: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        let Some(group) = r.device.as_ref().and_then(|d| groups.get(d)).copied() else {
            continue;
        };
        match &r.event {
            Event::AppPublish { topic, retain: true, .. }
            | Event::Delivered { topic, retain: true, .. } => {
                topics.entry(topic.clone()).or_insert(group);
            }
            _ => {}
        }
    }
    for (gi, group) in scenario.devices.iter().enumerate() {
        if let Some(w) = group.will.as_ref().filter(|w| w.retain) {
            for i in 0..group.count as usize {
                topics.entry(group.expand(&w.topic, i)).or_insert(gi);
            }
        }
    }
    let mut by_group: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (topic, group) in topics {
        by_group.entry(group).or_default().push(topic);
    }
    by_group
}

/// Returns `records` (device records in time order) with the broker-side records derived from
/// them, in time order.
pub fn observe(scenario: &Scenario, records: &[Record]) -> Vec<Record> {
    let infos = infos(scenario);
    // Pass 1: the evidence that looks ahead (a message acknowledged or received later).
    let mut accepted: BTreeSet<&str> = BTreeSet::new();
    let wills: Vec<(&str, &DeviceInfo)> =
        infos.iter().filter(|(_, i)| i.will.is_some()).map(|(d, i)| (d.as_str(), i)).collect();
    // Which devices' Will each topic and payload is (a Will is told apart by both).
    let mut will_keys: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for (d, info) in &wills {
        if let Some((topic, payload, _, _)) = &info.will {
            will_keys.entry((topic.as_str(), payload.as_str())).or_default().push(d);
        }
    }
    for r in records {
        match &r.event {
            Event::PublishSent { msg, qos: 0, .. } => {
                accepted.insert(msg);
            }
            Event::Acked { msg, .. } => {
                accepted.insert(msg);
            }
            Event::Delivered { msg: Some(m), .. } => {
                accepted.insert(m);
            }
            _ => {}
        }
    }
    // The subscribers that got each device's latest Will publication: a copy to one of them
    // again (not a DUP resend) is the next publication.
    let mut will_copies: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    // Connections that ended without DISCONNECT whose Will was not seen yet.
    let mut will_owed: HashMap<&str, Vec<u64>> = HashMap::new();
    // Pass 2: write the records.
    let mut out: Vec<Record> = Vec::with_capacity(records.len() * 2);
    let mut conn: u64 = 0;
    let mut open: HashMap<&str, ConnInfo> = HashMap::new();
    let mut first_send: BTreeSet<&str> = BTreeSet::new();
    let mut topic_of: HashMap<&str, (&str, bool)> = HashMap::new();
    let at = |t_us: u64, device: &str, event: Event| {
        Record::new(Duration::from_micros(t_us), None, Some(device), event)
    };
    let broker = |r: &Record, device: &str, event: Event| at(r.t_us, device, event);
    for r in records {
        let device = r.device.as_deref();
        if let (
            Some(subscriber),
            Event::Delivered { msg: None, topic, payload: Some(p), retain: false, dup, .. },
        ) = (device, &r.event)
            && let Some(owners) = will_keys.get(&(topic.as_str(), p.as_str()))
        {
            // The owner a Will is owed to, else the first (a Will nobody was owed is still a
            // Will the broker published: the checker judges it).
            let owner = owners
                .iter()
                .find(|o| {
                    will_owed.get(**o).is_some_and(|v| !v.is_empty()) || open.contains_key(**o)
                })
                .or(owners.first())
                .copied();
            if let Some(owner) = owner {
                let copies = will_copies.entry(owner).or_default();
                let new = copies.is_empty() || (copies.contains(subscriber) && !dup);
                if new {
                    copies.clear();
                    let owed =
                        will_owed.get_mut(owner).and_then(|v| (!v.is_empty()).then(|| v.remove(0)));
                    if owed.is_none()
                        && let Some(c) = open.remove(owner)
                    {
                        // The broker had closed the connection: it published the Will. A 5.0
                        // Will waits for the earlier of its delay and the session's end, so
                        // the close was that long before, but not before the broker can have
                        // closed it.
                        let wait_s =
                            if infos[owner].v5 { c.will_delay.min(c.session_expiry) } else { 0 };
                        let close = r
                            .t_us
                            .saturating_sub(u64::from(wait_s) * 1_000_000)
                            .max(c.earliest_close_us())
                            .min(r.t_us);
                        let ev = Event::BrokerDisconnected {
                            conn: c.conn,
                            reason: "connection-lost".into(),
                        };
                        out.push(at(close, owner, ev));
                    }
                    if let Some((topic, _, qos, retain)) = &infos[owner].will {
                        let ev = Event::WillPublished {
                            topic: topic.clone(),
                            qos: *qos,
                            retain: *retain,
                        };
                        out.push(broker(r, owner, ev));
                    }
                }
                copies.insert(subscriber);
            }
        }
        let Some(device) = device else {
            match &r.event {
                Event::BrokerRestart { phase: Phase::Start, .. } => {
                    // The restart ends every connection (the checker ends them at this
                    // record): a device's next CONNECT is not a takeover.
                    open.clear();
                }
                Event::LinkFault { phase: Phase::Start, devices, .. } => {
                    for d in devices {
                        if let Some(c) = open.get_mut(d.as_str()) {
                            c.disturbed = true;
                        }
                    }
                }
                _ => {}
            }
            out.push(r.clone());
            continue;
        };
        let info = infos.get(device);
        if matches!(
            r.event,
            Event::Suback { .. }
                | Event::Delivered { .. }
                | Event::Acked { .. }
                | Event::PacketReceived { .. }
        ) && let Some(c) = open.get_mut(device)
        {
            c.heard_down_us = r.t_us;
        }
        match &r.event {
            Event::Connected { session_present, session_expiry, will_delay, .. } => {
                if let Some(c) = open.remove(device) {
                    // A 5.0 device silent for longer than the broker may wait (1.5 times its
                    // keepalive [MQTT-3.1.2-22]) is back on a connection the broker had
                    // closed by then: its session's expiry ran from that moment, the latest
                    // one the standard allows.
                    let deadline = c.silenced_us.zip(info).and_then(|(t, i)| {
                        (i.v5 && i.keepalive_us > 0).then(|| t + i.keepalive_us * 3 / 2)
                    });
                    let ev = match deadline {
                        Some(d) if d < r.t_us => (
                            d,
                            Event::BrokerDisconnected {
                                conn: c.conn,
                                reason: "keepalive-timeout".into(),
                            },
                        ),
                        _ => (
                            r.t_us,
                            Event::BrokerDisconnected { conn: c.conn, reason: "taken-over".into() },
                        ),
                    };
                    out.push(at(ev.0, device, ev.1));
                    if info.is_some_and(|i| i.will.is_some()) {
                        will_owed.entry(device).or_default().push(c.conn);
                    }
                }
                conn += 1;
                open.insert(
                    device,
                    ConnInfo {
                        conn,
                        session_expiry: session_expiry.unwrap_or(0),
                        will_delay: will_delay.unwrap_or(0),
                        heard_down_us: r.t_us,
                        silenced_us: None,
                        disturbed: false,
                    },
                );
                let ev = Event::BrokerConnected {
                    conn,
                    clean_session: info.is_some_and(|i| i.clean_session),
                    session_present: *session_present,
                };
                out.push(broker(r, device, ev));
                out.push(r.clone());
            }
            Event::Suback { codes } => {
                // A device sends two kinds of SUBSCRIBE: the boot's (every filter, and the
                // responder's) and, on a session the broker kept, the on-connect filters again
                // (a subset of the boot's without the responder's); the client core renews the
                // boot's after a lost session. So the number of codes tells them apart: equal
                // counts mean the same filters.
                let filters = info.and_then(|i| {
                    if i.boot.len() == codes.len() {
                        Some(&i.boot)
                    } else if i.again.len() == codes.len() {
                        Some(&i.again)
                    } else {
                        None
                    }
                });
                for (filter, code) in filters.into_iter().flatten().zip(codes) {
                    let ev = Event::BrokerSubscribed {
                        filter: filter.clone(),
                        granted: (*code < 0x80).then_some(*code),
                    };
                    out.push(broker(r, device, ev));
                }
                out.push(r.clone());
            }
            Event::AppPublish { msg, topic, retain, .. } => {
                topic_of.insert(msg, (topic, *retain));
                out.push(r.clone());
            }
            Event::PublishSent { msg, pid, qos, .. } => {
                out.push(r.clone());
                if accepted.contains(msg.as_str()) && first_send.insert(msg) {
                    let (topic, retain) =
                        topic_of.get(msg.as_str()).copied().unwrap_or(("", false));
                    let ev = Event::BrokerAccepted {
                        msg: Some(msg.clone()),
                        topic: topic.to_owned(),
                        pid: *pid,
                        qos: *qos,
                        retain,
                    };
                    out.push(broker(r, device, ev));
                }
            }
            Event::Closed { reason, .. }
                if reason == "client-disconnect" || reason.starts_with("server-disconnect") =>
            {
                out.push(r.clone());
                if let Some(c) = open.remove(device) {
                    let why = if reason == "client-disconnect" {
                        "client-disconnect"
                    } else {
                        "connection-lost"
                    };
                    let ev = Event::BrokerDisconnected { conn: c.conn, reason: why.into() };
                    out.push(broker(r, device, ev));
                }
            }
            Event::DeviceFault { kind, phase: Phase::Start }
                if matches!(kind.as_str(), "crash" | "power-loss" | "reboot") =>
            {
                if let Some(c) = open.get_mut(device) {
                    c.silenced_us.get_or_insert(r.t_us);
                }
                out.push(r.clone());
            }
            _ => out.push(r.clone()),
        }
    }
    // A derived close goes where it happened, before records written after it.
    out.sort_by_key(|r| r.t_us);
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::parse_scenario;

    fn at(ms: u64, device: &str, event: Event) -> Record {
        Record::new(Duration::from_millis(ms), Some("s"), Some(device), event)
    }

    /// `to` receives the Will on `w` with the payload `gone`.
    fn will_copy(ms: u64, to: &str) -> Record {
        let delivered = Event::Delivered {
            msg: None,
            topic: "w".into(),
            qos: 1,
            pid: 1,
            dup: false,
            retain: false,
            payload: Some("gone".into()),
            expiry: None,
            props: None,
        };
        at(ms, to, delivered)
    }

    fn kinds(records: &[Record]) -> Vec<(u64, String)> {
        records
            .iter()
            .map(|r| {
                let json = serde_json::to_value(r).unwrap();
                (r.t_us / 1000, json["ev"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    /// Connections, subscriptions, acceptances (at the first send), a Will seen by two
    /// subscribers (one publication) and the takeover before it.
    #[test]
    fn broker_records_come_from_device_evidence_only() {
        let scenario = parse_scenario(
            "name: t\nseed: 1\nduration: 1m\nprotocol: \"3.1.1\"\nsites: [ { name: s } ]\n\
             devices:\n\
             - { group: p, site: s, count: 1, client_id: pub, clean_session: false,\n\
                 will: { topic: w, payload: gone, qos: 1 },\n\
                 publish: [ { topic: t, qos: 1, every: 1h } ] }\n\
             - { group: q, site: s, count: 2, client_id: \"sub-{i}\",\n\
                 subscribe: [ { filter: \"#\", qos: 1 } ] }\n",
            Path::new("t.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let connected = || Event::Connected {
            session_present: false,
            session_expiry: None,
            will_delay: None,
            limits: None,
        };
        let will = |to: &str, ms| will_copy(ms, to);
        let trace = vec![
            at(1, "sub-0", connected()),
            at(2, "sub-0", Event::Suback { codes: vec![1] }),
            at(3, "pub", connected()),
            at(
                4,
                "pub",
                Event::AppPublish {
                    msg: "pub#1".into(),
                    topic: "t".into(),
                    qos: 1,
                    retain: false,
                    size: 8,
                    expiry: None,
                    props: None,
                },
            ),
            at(5, "pub", Event::PublishSent { msg: "pub#1".into(), pid: 1, qos: 1, dup: false }),
            at(6, "pub", Event::PublishSent { msg: "pub#1".into(), pid: 1, qos: 1, dup: true }),
            at(7, "pub", Event::Acked { msg: "pub#1".into(), pid: 1, qos: 1 }),
            at(8, "pub", connected()),
            will("sub-0", 9),
            will("sub-1", 10),
        ];
        let out = observe(&scenario, &trace);
        let expected: Vec<(u64, &str)> = vec![
            (1, "broker_connected"),
            (1, "connected"),
            (2, "broker_subscribed"),
            (2, "suback"),
            (3, "broker_connected"),
            (3, "connected"),
            (4, "app_publish"),
            (5, "publish_sent"),
            (5, "broker_accepted"),
            (6, "publish_sent"),
            (7, "acked"),
            (8, "broker_disconnected"),
            (8, "broker_connected"),
            (8, "connected"),
            (9, "will_published"),
            (9, "delivered"),
            (10, "delivered"),
        ];
        let expected: Vec<(u64, String)> =
            expected.into_iter().map(|(t, k)| (t, k.to_owned())).collect();
        assert_eq!(kinds(&out), expected);
        // The takeover ended the first connection; the Will was owed to it, so the second
        // connection stays open.
        assert!(matches!(
            &out[11].event,
            Event::BrokerDisconnected { conn: 2, reason } if reason == "taken-over"
        ));
    }

    /// MQTT 5.0: a Will seen after a crash was published after its Will Delay Interval, so the
    /// broker closed the connection that long before, but not before the crash; a device back
    /// after a power loss longer than 1.5 times its keepalive finds a connection the broker
    /// had closed at that deadline (its session's expiry ran from then), not a takeover.
    #[test]
    fn a_5_0_close_is_placed_before_the_will_delay_and_at_the_keepalive_deadline() {
        let scenario = parse_scenario(
            "name: t\nseed: 1\nduration: 2m\nprotocol: \"5.0\"\nsites: [ { name: s } ]\n\
             devices:\n\
             - { group: v, site: s, count: 1, client_id: valve, keepalive: 4s,\n\
                 session_expiry: 30s, will: { topic: w, payload: gone, qos: 1, delay: 10s } }\n\
             - { group: q, site: s, count: 1, client_id: watch,\n\
                 subscribe: [ { filter: \"#\", qos: 1 } ] }\n",
            Path::new("t.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let connected = || Event::Connected {
            session_present: false,
            session_expiry: Some(30),
            will_delay: Some(10),
            limits: None,
        };
        let fault = |ms, kind: &str| {
            at(ms, "valve", Event::DeviceFault { kind: kind.into(), phase: Phase::Start })
        };
        let will = |ms| will_copy(ms, "watch");
        let closes = |trace: Vec<Record>| -> Vec<(u64, String)> {
            observe(&scenario, &trace)
                .iter()
                .filter_map(|r| match &r.event {
                    Event::BrokerDisconnected { reason, .. } => {
                        Some((r.t_us / 1000, reason.clone()))
                    }
                    _ => None,
                })
                .collect()
        };
        let base = || vec![at(0, "watch", connected()), at(0, "valve", connected())];
        // (the device's fault, when the Will or the device came back) -> the derived close.
        let mut t = base();
        t.extend([fault(10_000, "crash"), will(20_050)]);
        assert_eq!(closes(t), [(10_050, "connection-lost".to_owned())], "delay honoured");
        let mut t = base();
        t.extend([fault(10_000, "crash"), will(10_020)]);
        assert_eq!(closes(t), [(10_000, "connection-lost".to_owned())], "delay ignored");
        let mut t = base();
        t.extend([fault(10_000, "power-loss"), at(40_000, "valve", connected())]);
        assert_eq!(
            closes(t),
            [(16_000, "keepalive-timeout".to_owned())],
            "back after the deadline"
        );
        let mut t = base();
        t.extend([fault(10_000, "reboot"), at(13_000, "valve", connected())]);
        assert_eq!(closes(t), [(13_000, "taken-over".to_owned())], "back before it");
    }

    /// A broker restart ends every connection: the CONNECT after it is not a takeover.
    #[test]
    fn a_connection_after_a_broker_restart_is_no_takeover() {
        let scenario = parse_scenario(
            "name: t\nseed: 1\nduration: 1m\nprotocol: \"3.1.1\"\nsites: [ { name: s } ]\n\
             devices:\n\
             - { group: q, site: s, count: 1, client_id: sub, subscribe: [ { filter: \"#\" } ] }\n",
            Path::new("t.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let connected = || Event::Connected {
            session_present: false,
            session_expiry: None,
            will_delay: None,
            limits: None,
        };
        let restart = |ms, phase| {
            Record::new(
                Duration::from_millis(ms),
                None,
                None,
                Event::BrokerRestart { phase, state: "volatile".into() },
            )
        };
        let trace = vec![
            at(1, "sub", connected()),
            restart(2, Phase::Start),
            restart(3, Phase::End),
            at(4, "sub", connected()),
        ];
        let out = observe(&scenario, &trace);
        let kinds: Vec<String> = kinds(&out).into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            kinds,
            [
                "broker_connected",
                "connected",
                "broker_restart",
                "broker_restart",
                "broker_connected",
                "connected"
            ]
        );
    }
}
