//! The builder of hand-written traces that the checker's and the report's tests share: the
//! records of a connection, a subscription, a message published by `pub` (as `pub#n`) and
//! accepted, a copy delivered, a Will. Each test file wraps it in the few steps its scenario
//! needs; what differs between them (the time unit, when the broker accepts, the packet
//! identifier of a copy) is a parameter.

#![allow(dead_code)]

use std::time::Duration;

use mqttsim_sim::check::{CheckOptions, Verdict, check};
use mqttsim_sim::scenario::Scenario;
use mqttsim_sim::trace::{Event, Limits, Record};

/// The device that publishes every message of a builder.
pub const PUBLISHER: &str = "pub";

/// The id of `pub`'s message `n`.
pub fn msg(n: u16) -> String {
    format!("{PUBLISHER}#{n}")
}

/// A message `pub` publishes: `pub#n` on `topic`, QoS 1, not retained, no Message Expiry
/// Interval unless set.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub n: u16,
    pub topic: &'a str,
    pub qos: u8,
    pub retain: bool,
    pub expiry: Option<u32>,
}

impl<'a> Message<'a> {
    pub fn new(n: u16, topic: &'a str) -> Message<'a> {
        Message { n, topic, qos: 1, retain: false, expiry: None }
    }
}

/// A copy of `pub#n` a subscriber receives: QoS 1, packet identifier `n`, DUP=0, RETAIN=0, no
/// Message Expiry Interval unless set.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub n: u16,
    pub topic: &'a str,
    pub qos: u8,
    pub pid: u16,
    pub dup: bool,
    pub retain: bool,
    pub expiry: Option<u32>,
}

impl<'a> Delivery<'a> {
    pub fn new(n: u16, topic: &'a str) -> Delivery<'a> {
        Delivery { n, topic, qos: 1, pid: n, dup: false, retain: false, expiry: None }
    }
}

/// What a 5.0 device announced and its CONNACK answered, with the defaults of the simulated
/// devices and broker (Receive Maximum 64 and 1000, Topic Alias Maximum 0 and 10).
pub fn limits(server_maximum_qos: Option<u8>) -> Limits {
    Limits {
        receive_maximum: 64,
        maximum_packet_size: None,
        topic_alias_maximum: 0,
        server_receive_maximum: 1000,
        server_maximum_packet_size: None,
        server_topic_alias_maximum: 10,
        server_maximum_qos,
        server_retain_available: true,
    }
}

/// Records in the order pushed, at times in the builder's unit.
pub struct Trace {
    pub records: Vec<Record>,
    /// The broker's connection number of the last connection.
    pub conn: u64,
    unit: Duration,
}

impl Trace {
    /// Times in milliseconds.
    pub fn in_ms() -> Trace {
        Trace { records: Vec::new(), conn: 0, unit: Duration::from_millis(1) }
    }

    /// Times in seconds.
    pub fn in_secs() -> Trace {
        Trace { records: Vec::new(), conn: 0, unit: Duration::from_secs(1) }
    }

    pub fn push(&mut self, t: u64, device: &str, event: Event) -> &mut Self {
        let at = self.unit * u32::try_from(t).expect("a time within the test's run");
        self.records.push(Record::new(at, None, Some(device), event));
        self
    }

    /// `device` tries to connect and the broker accepts the connection (a new `conn`).
    pub fn connect(&mut self, t: u64, device: &str, clean: bool, present: bool) -> &mut Self {
        self.conn += 1;
        let conn = self.conn;
        self.push(t, device, Event::ConnectAttempt { attempt: 1 });
        let event = Event::BrokerConnected { conn, clean_session: clean, session_present: present };
        self.push(t, device, event)
    }

    /// `device` reads CONNACK: the 5.0 intervals in force and limits, if any.
    pub fn connected(
        &mut self,
        t: u64,
        device: &str,
        present: bool,
        intervals: (Option<u32>, Option<u32>),
        limits: Option<Limits>,
    ) -> &mut Self {
        let (session_expiry, will_delay) = intervals;
        let event =
            Event::Connected { session_present: present, session_expiry, will_delay, limits };
        self.push(t, device, event)
    }

    /// The broker sees the last connection end with `reason`.
    pub fn close(&mut self, t: u64, device: &str, reason: &str) -> &mut Self {
        let conn = self.conn;
        self.push(t, device, Event::BrokerDisconnected { conn, reason: reason.into() })
    }

    /// The broker grants `device` a subscription to `filter` at QoS 1.
    pub fn subscribe(&mut self, t: u64, device: &str, filter: &str) -> &mut Self {
        self.push(t, device, Event::BrokerSubscribed { filter: filter.into(), granted: Some(1) })
    }

    /// `pub` publishes `m` (the application's call).
    pub fn app_publish(&mut self, t: u64, m: &Message<'_>) -> &mut Self {
        let publish = Event::AppPublish {
            msg: msg(m.n),
            topic: m.topic.into(),
            qos: m.qos,
            retain: m.retain,
            size: 32,
            expiry: m.expiry,
            props: None,
        };
        self.push(t, PUBLISHER, publish)
    }

    /// `pub` sends the PUBLISH of `pub#n` at `qos`, packet identifier `n`.
    pub fn sent(&mut self, t: u64, n: u16, qos: u8) -> &mut Self {
        self.push(t, PUBLISHER, Event::PublishSent { msg: msg(n), pid: n, qos, dup: false })
    }

    /// `pub` publishes `m` and sends it at its QoS.
    pub fn publish(&mut self, t: u64, m: &Message<'_>) -> &mut Self {
        self.app_publish(t, m).sent(t, m.n, m.qos)
    }

    /// The broker accepts `m` (packet identifier `n`) at `qos`.
    pub fn accepted(&mut self, t: u64, m: &Message<'_>, qos: u8) -> &mut Self {
        let event = Event::BrokerAccepted {
            msg: Some(msg(m.n)),
            topic: m.topic.into(),
            pid: m.n,
            qos,
            retain: m.retain,
        };
        self.push(t, PUBLISHER, event)
    }

    /// `pub` reads the acknowledgement of `pub#n`.
    pub fn acked(&mut self, t: u64, n: u16, qos: u8) -> &mut Self {
        self.push(t, PUBLISHER, Event::Acked { msg: msg(n), pid: n, qos })
    }

    /// `device` receives a copy of `pub#n`.
    pub fn deliver(&mut self, t: u64, device: &str, d: &Delivery<'_>) -> &mut Self {
        let event = Event::Delivered {
            msg: Some(msg(d.n)),
            topic: d.topic.into(),
            qos: d.qos,
            pid: d.pid,
            dup: d.dup,
            retain: d.retain,
            payload: None,
            expiry: d.expiry,
            props: None,
        };
        self.push(t, device, event)
    }

    /// The broker publishes `device`'s Will on `will/<device>` at QoS 1.
    pub fn will(&mut self, t: u64, device: &str) -> &mut Self {
        let event = Event::WillPublished { topic: format!("will/{device}"), qos: 1, retain: false };
        self.push(t, device, event)
    }

    /// The records in time order (records of one time keep the order they were pushed in).
    pub fn sorted(&self) -> Vec<Record> {
        let mut records = self.records.clone();
        records.sort_by_key(|r| r.t_us);
        records
    }
}

/// The verdict on `records` of a run of `scenario` that ended at `end`.
pub fn judge(scenario: &Scenario, records: &[Record], end: Duration) -> Verdict {
    check(scenario, records, &CheckOptions { end, ..CheckOptions::default() })
}

/// The verdict on `records` of a run that ended at 300 s, as most hand-written traces do.
pub fn judge_300s(scenario: &Scenario, records: &[Record]) -> Verdict {
    judge(scenario, records, Duration::from_secs(300))
}
