//! A run's trace as a test sees it: the records, their JSON Lines bytes (`trace.jsonl`), their
//! text form (`trace.txt`), filtered views of one device, one topic or a time window for
//! snapshots, and the first difference between two traces.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use mqttsim_codec::topic;

use crate::trace::{Event, Record};

/// The records of one run, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    records: Vec<Record>,
}

impl Trace {
    /// A trace of these records (for instance read back with
    /// [`check::parse_jsonl`](crate::check::parse_jsonl)).
    pub fn new(records: Vec<Record>) -> Trace {
        Trace { records }
    }

    /// The records.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the trace has no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The JSON Lines form, byte for byte what `mqtt-sim run` writes to `trace.jsonl`.
    pub fn to_jsonl(&self) -> String {
        lines(self.records.iter(), Record::to_json)
    }

    /// The text form, byte for byte what `mqtt-sim run` writes to `trace.txt`.
    pub fn to_text(&self) -> String {
        self.view().to_text()
    }

    /// A view of the whole trace, to narrow with [`TraceView::device`], [`TraceView::topic`]
    /// and [`TraceView::between`].
    pub fn view(&self) -> TraceView<'_> {
        TraceView {
            trace: self,
            devices: Vec::new(),
            topic: None,
            from: Duration::ZERO,
            until: None,
        }
    }

    /// The records about `device` (see [`TraceView::device`]).
    pub fn device(&self, device: &str) -> TraceView<'_> {
        self.view().device(device)
    }

    /// The records about topics matching `filter` (see [`TraceView::topic`]).
    pub fn topic(&self, filter: &str) -> TraceView<'_> {
        self.view().topic(filter)
    }

    /// The records from `from` (included) to `until` (excluded), in simulated time.
    pub fn between(&self, from: Duration, until: Duration) -> TraceView<'_> {
        self.view().between(from, until)
    }
}

impl From<Vec<Record>> for Trace {
    fn from(records: Vec<Record>) -> Trace {
        Trace::new(records)
    }
}

/// A filtered part of a [`Trace`]: one or more devices, a topic filter, a time window. Each
/// narrowing keeps the records every one of them keeps. Its text form is the trace's own, line
/// for line, so it reads like `trace.txt` and is stable for a given scenario and seed: fit for
/// an insta snapshot.
///
/// ```
/// use std::time::Duration;
/// use mqttsim_sim::testing::Trace;
/// use mqttsim_sim::check::parse_jsonl;
///
/// let trace = Trace::new(parse_jsonl(r#"
/// {"t_us":1000,"device":"sub","dir":"broker","ev":"broker_subscribed","filter":"farm/#","granted":1}
/// {"t_us":2000,"device":"pub","dir":"app","ev":"app_publish","msg":"pub#1","topic":"farm/a","qos":1,"retain":false,"size":8}
/// {"t_us":3000,"device":"pub","dir":"app","ev":"app_publish","msg":"pub#2","topic":"other","qos":1,"retain":false,"size":8}
/// {"t_us":4000,"device":"pub","dir":"up","ev":"publish_sent","msg":"pub#1","pid":1,"qos":1,"dup":false}
/// "#).unwrap());
/// let part = trace.topic("farm/+").between(Duration::from_millis(2), Duration::from_secs(1));
/// assert_eq!(part.records().len(), 2);
/// assert_eq!(part.to_text(), concat!(
///     "     0.002000  -            pub                      app   publish q1 retain=0 size=8 topic=farm/a id=pub#1\n",
///     "     0.004000  -            pub                      ->b   PUBLISH q1 pid=1 dup=0 id=pub#1\n",
/// ));
/// ```
#[derive(Debug, Clone)]
pub struct TraceView<'a> {
    trace: &'a Trace,
    devices: Vec<String>,
    topic: Option<String>,
    from: Duration,
    until: Option<Duration>,
}

impl<'a> TraceView<'a> {
    /// Keeps the records about `device` (a client id): its own, the link faults that list it,
    /// and broker restarts, which concern every device. Called again, keeps any of the devices.
    pub fn device(mut self, device: &str) -> TraceView<'a> {
        self.devices.push(device.to_owned());
        self
    }

    /// Keeps the records about topics matching the MQTT topic filter `filter` (`+` and `#`
    /// wildcards): publishes, acceptances, deliveries, drops and Wills on such a topic; the
    /// records of a message published on one (its PUBLISH, acknowledgement or drop at the
    /// device); and the subscriptions whose filters match a topic of the trace that `filter`
    /// matches. A filter that is not a valid MQTT filter keeps nothing.
    pub fn topic(mut self, filter: &str) -> TraceView<'a> {
        self.topic = Some(filter.to_owned());
        self
    }

    /// Keeps the records from `from` (included) to `until` (excluded), in simulated time since
    /// the start of the run.
    pub fn between(mut self, from: Duration, until: Duration) -> TraceView<'a> {
        self.from = from;
        self.until = Some(until);
        self
    }

    /// The records kept, in trace order.
    pub fn records(&self) -> Vec<&'a Record> {
        let topics = self.topic.as_deref().map(|filter| TopicScope::new(filter, self.trace));
        let from_us = micros(self.from);
        let until_us = self.until.map(micros);
        self.trace
            .records
            .iter()
            .filter(|r| r.t_us >= from_us && until_us.is_none_or(|u| r.t_us < u))
            .filter(|r| self.devices.is_empty() || self.devices.iter().any(|d| about_device(r, d)))
            .filter(|r| topics.as_ref().is_none_or(|scope| scope.keeps(r)))
            .collect()
    }

    /// The records kept, one text line each (the form of `trace.txt`), each ending in `\n`.
    pub fn to_text(&self) -> String {
        lines(self.records().into_iter(), Record::to_text)
    }

    /// The records kept, in JSON Lines.
    pub fn to_jsonl(&self) -> String {
        lines(self.records().into_iter(), Record::to_json)
    }
}

fn lines<'r>(records: impl Iterator<Item = &'r Record>, line: fn(&Record) -> String) -> String {
    let mut out = String::new();
    for record in records {
        out.push_str(&line(record));
        out.push('\n');
    }
    out
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn about_device(record: &Record, device: &str) -> bool {
    match &record.event {
        Event::LinkFault { devices, .. } => devices.iter().any(|d| d == device),
        Event::BrokerRestart { .. } => true,
        _ => record.device.as_deref() == Some(device),
    }
}

/// What a topic filter keeps: the messages published on matching topics (by id) and the
/// matching topics the trace shows.
struct TopicScope<'f> {
    filter: &'f str,
    valid: bool,
    messages: BTreeSet<&'f str>,
    topics: BTreeSet<&'f str>,
}

impl<'f> TopicScope<'f> {
    fn new(filter: &'f str, trace: &'f Trace) -> TopicScope<'f> {
        let valid = topic::validate_filter(filter).is_ok();
        let mut scope =
            TopicScope { filter, valid, messages: BTreeSet::new(), topics: BTreeSet::new() };
        if !valid {
            return scope;
        }
        for record in &trace.records {
            if let Some(t) = record_topic(&record.event)
                && topic::matches(filter, t)
            {
                scope.topics.insert(t);
                if let Event::AppPublish { msg, .. } = &record.event {
                    scope.messages.insert(msg);
                }
            }
        }
        scope
    }

    fn keeps(&self, record: &Record) -> bool {
        if !self.valid {
            return false;
        }
        match &record.event {
            Event::PublishSent { msg, .. }
            | Event::Acked { msg, .. }
            | Event::Dropped { msg, .. } => self.messages.contains(msg.as_str()),
            Event::BrokerSubscribed { filter, .. } | Event::BrokerUnsubscribed { filter } => {
                self.topics.iter().any(|t| topic::matches(filter, t))
            }
            event => record_topic(event).is_some_and(|t| topic::matches(self.filter, t)),
        }
    }
}

/// The topic a record names, if it names one.
fn record_topic(event: &Event) -> Option<&str> {
    match event {
        Event::AppPublish { topic, .. }
        | Event::Delivered { topic, .. }
        | Event::BrokerAccepted { topic, .. }
        | Event::WillPublished { topic, .. }
        | Event::BrokerDropped { topic, .. } => Some(topic),
        _ => None,
    }
}

/// Where two traces of the same scenario and seed first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The index of the first differing record, from 0 (its line in `trace.jsonl` is one more).
    pub index: usize,
    /// The record before it, common to both traces (none when the traces differ from the
    /// first record).
    pub before: Option<Record>,
    /// The first trace's record there (none when the first trace ends there).
    pub first: Option<Record>,
    /// The second trace's record there (none when the second trace ends there).
    pub second: Option<Record>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the traces differ from record {} (line {} of trace.jsonl)",
            self.index,
            self.index + 1
        )?;
        if let Some(before) = &self.before {
            writeln!(f, "  {:<20}{}", "last common record:", before.to_text())?;
        }
        for (label, record) in [("first run:", &self.first), ("second run:", &self.second)] {
            match record {
                Some(r) => {
                    writeln!(f, "  {label:<20}{}", r.to_text())?;
                    writeln!(f, "  {:<20}{}", "  as JSON:", r.to_json())?;
                }
                None => writeln!(f, "  {label:<20}(the trace ends here)")?,
            }
        }
        Ok(())
    }
}

/// The first record at which `first` and `second` differ in their JSON Lines bytes, or `None`
/// when the traces are byte for byte the same.
///
/// ```
/// use mqttsim_sim::testing::first_difference;
/// use mqttsim_sim::check::parse_jsonl;
///
/// let a = parse_jsonl(r#"{"t_us":1,"device":"d","dir":"conn","ev":"connect_attempt","attempt":1}"#).unwrap();
/// let b = parse_jsonl(r#"{"t_us":2,"device":"d","dir":"conn","ev":"connect_attempt","attempt":1}"#).unwrap();
/// assert_eq!(first_difference(&a, &a), None);
/// assert_eq!(first_difference(&a, &b).unwrap().index, 0);
/// ```
pub fn first_difference(first: &[Record], second: &[Record]) -> Option<Difference> {
    let len = first.len().max(second.len());
    let index = (0..len).find(|&i| match (first.get(i), second.get(i)) {
        (Some(a), Some(b)) => a.to_json() != b.to_json(),
        _ => true,
    })?;
    Some(Difference {
        index,
        before: index.checked_sub(1).and_then(|i| first.get(i)).cloned(),
        first: first.get(index).cloned(),
        second: second.get(index).cloned(),
    })
}
