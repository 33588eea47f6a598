//! Coverage: which protocol situations a run went through, so that a passing verdict (or a
//! passing sweep) shows what it exercised: DUP resends, PUBREL resends, takeovers, session
//! resumptions, queue overflows, Wills by cause, retained copies on subscription, retained
//! clears, broker restarts by state mode.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::trace::{Event, Phase, Record};

/// Counts of protocol situations in one run (or, merged, in a sweep).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Coverage {
    /// PUBLISH packets publishers sent again with DUP=1.
    pub dup_resends: u64,
    /// Copies subscribers received with DUP=1 (the broker resending).
    pub dup_redeliveries: u64,
    /// PUBREL packets sent again on a later connection (at the packet level: any PUBREL
    /// repeated before its PUBCOMP, either way; otherwise inferred on the publisher's side: a
    /// QoS 2 message completed on a later connection than its last PUBLISH).
    pub pubrel_resends: u64,
    /// Connections closed because a new one took the session over.
    pub takeovers: u64,
    /// Connections that resumed a stored session (CONNACK session present).
    pub session_resumptions: u64,
    /// Copies the broker dropped from a full session queue.
    pub broker_queue_overflows: u64,
    /// Messages devices dropped from their full offline queues.
    pub device_queue_overflows: u64,
    /// Wills published, by the way the connection ended.
    pub wills: BTreeMap<String, u64>,
    /// Copies sent with RETAIN=1 on a subscription.
    pub retained_on_subscribe: u64,
    /// Zero-byte retained messages published (retained clears).
    pub retained_clears: u64,
    /// Broker restarts, by state mode (`durable`, `volatile`).
    pub broker_restarts: BTreeMap<String, u64>,
}

impl Coverage {
    /// Counts what `records` (a whole trace) went through.
    pub fn of(records: &[Record]) -> Coverage {
        let mut c = Coverage::default();
        let packet_level = records.iter().any(|r| r.event.is_packet_level());
        // Per device: connections so far; the connection of each QoS 2 message's last PUBLISH.
        let mut conn_no: BTreeMap<&str, u64> = BTreeMap::new();
        let mut qos2_sent_on: BTreeMap<&str, u64> = BTreeMap::new();
        // (device, sent by the device, pid): a PUBREL seen and not completed (packet level).
        let mut pubrels: BTreeSet<(&str, bool, u16)> = BTreeSet::new();
        let mut last_end: BTreeMap<&str, &str> = BTreeMap::new();
        for r in records {
            let device = r.device.as_deref().unwrap_or_default();
            match &r.event {
                Event::Connected { .. } => *conn_no.entry(device).or_default() += 1,
                Event::PublishSent { msg, qos, dup, .. } => {
                    c.dup_resends += u64::from(*dup);
                    if *qos == 2 {
                        qos2_sent_on.insert(msg, conn_no.get(device).copied().unwrap_or(0));
                    }
                }
                Event::Acked { msg, qos: 2, .. } if !packet_level => {
                    let now = conn_no.get(device).copied().unwrap_or(0);
                    if qos2_sent_on.remove(msg.as_str()).is_some_and(|on| on < now) {
                        c.pubrel_resends += 1;
                    }
                }
                Event::PacketSent { packet, pid: Some(pid), .. }
                | Event::PacketReceived { packet, pid: Some(pid), .. } => {
                    let sent = matches!(r.event, Event::PacketSent { .. });
                    match packet.as_str() {
                        "PUBREL" if !pubrels.insert((device, sent, *pid)) => {
                            c.pubrel_resends += 1;
                        }
                        // The PUBCOMP goes the other way from its PUBREL.
                        "PUBCOMP" => {
                            pubrels.remove(&(device, !sent, *pid));
                        }
                        _ => {}
                    }
                }
                Event::Delivered { dup, retain, .. } => {
                    c.dup_redeliveries += u64::from(*dup);
                    c.retained_on_subscribe += u64::from(*retain);
                }
                Event::AppPublish { retain: true, size: 0, .. } => c.retained_clears += 1,
                Event::Dropped { reason, .. } if reason == "queue-full" => {
                    c.device_queue_overflows += 1;
                }
                Event::BrokerDropped { reason, .. } if reason == "queue-full" => {
                    c.broker_queue_overflows += 1;
                }
                Event::BrokerConnected { session_present, .. } => {
                    c.session_resumptions += u64::from(*session_present);
                }
                Event::BrokerDisconnected { reason, .. } => {
                    c.takeovers += u64::from(reason == "taken-over");
                    last_end.insert(device, reason);
                }
                Event::WillPublished { .. } => {
                    let cause = last_end.get(device).copied().unwrap_or("unknown");
                    *c.wills.entry(cause.to_owned()).or_default() += 1;
                }
                Event::BrokerRestart { phase: Phase::Start, state } => {
                    *c.broker_restarts.entry(state.clone()).or_default() += 1;
                }
                _ => {}
            }
        }
        c
    }

    /// Adds another run's coverage to this one.
    pub fn merge(&mut self, other: &Coverage) {
        self.dup_resends += other.dup_resends;
        self.dup_redeliveries += other.dup_redeliveries;
        self.pubrel_resends += other.pubrel_resends;
        self.takeovers += other.takeovers;
        self.session_resumptions += other.session_resumptions;
        self.broker_queue_overflows += other.broker_queue_overflows;
        self.device_queue_overflows += other.device_queue_overflows;
        for (k, v) in &other.wills {
            *self.wills.entry(k.clone()).or_default() += v;
        }
        self.retained_on_subscribe += other.retained_on_subscribe;
        self.retained_clears += other.retained_clears;
        for (k, v) in &other.broker_restarts {
            *self.broker_restarts.entry(k.clone()).or_default() += v;
        }
    }

    /// Every situation with its count, in a fixed order (maps flattened: `wills
    /// (keepalive-timeout)`); situations that never happened are listed with 0.
    pub fn items(&self) -> Vec<(String, u64)> {
        let mut out = vec![
            ("DUP resends by publishers".to_owned(), self.dup_resends),
            ("DUP redeliveries to subscribers".to_owned(), self.dup_redeliveries),
            ("PUBREL resends".to_owned(), self.pubrel_resends),
            ("session takeovers".to_owned(), self.takeovers),
            ("session resumptions".to_owned(), self.session_resumptions),
            ("broker queue overflows".to_owned(), self.broker_queue_overflows),
            ("device queue overflows".to_owned(), self.device_queue_overflows),
        ];
        let wills: u64 = self.wills.values().sum();
        out.push(("Wills".to_owned(), wills));
        out.extend(self.wills.iter().map(|(k, v)| (format!("Wills ({k})"), *v)));
        out.push(("retained copies on subscribe".to_owned(), self.retained_on_subscribe));
        out.push(("retained clears".to_owned(), self.retained_clears));
        let restarts: u64 = self.broker_restarts.values().sum();
        out.push(("broker restarts".to_owned(), restarts));
        out.extend(
            self.broker_restarts.iter().map(|(k, v)| (format!("broker restarts ({k})"), *v)),
        );
        out
    }

    /// One line of what happened at least once: `DUP resends by publishers 12, Wills 3, ...`
    /// (`items` lists the rest, at 0).
    pub fn summary(&self) -> String {
        let seen: Vec<String> =
            self.items().iter().filter(|(_, v)| *v > 0).map(|(k, v)| format!("{k} {v}")).collect();
        if seen.is_empty() {
            "none of the situations it counts (resends, takeovers, resumptions, overflows, Wills, \
             retained copies, broker restarts)"
                .to_owned()
        } else {
            seen.join(", ")
        }
    }
}
