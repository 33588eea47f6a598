//! The MQTT 5.0 facts a report shows: Wills waiting for their Will Delay Interval (and how each
//! wait ended), sessions that expired, which member of each shared-subscription group got each
//! message (and the messages that went to a second member), and messages whose Message Expiry
//! Interval ran out.
//!
//! They are read from the checker's own facts (`check::facts`), so the report tells the story
//! the verdict judged: the same session ends, the same Will deadlines, the same copies tied to
//! the same messages. Built only for a scenario with a 5.0 device group, so a 3.1.1 report is
//! what it was. Every list is bounded; the totals say how much was left out.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::facts::{EndKind, Facts, Key};
use crate::check::{CheckOptions, LossReason, Verdict};
use crate::scenario::Scenario;
use crate::trace::Record;

use super::{BINS, secs};

/// The most rows each list keeps (Will waits, expired sessions, messages moved between members,
/// expired pairs); the counts beside them say how many there were.
pub const MAX_V5_ROWS: usize = 50;

/// The most shared-subscription groups a report shows.
pub const MAX_SHARED_GROUPS: usize = 8;

/// The most members per shared-subscription group a report draws.
pub const MAX_MEMBERS: usize = 16;

/// How a Will that waited for its Will Delay Interval (or its session's end) fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WillOutcome {
    /// The broker published it at `at_us`.
    Published {
        /// When.
        at_us: u64,
    },
    /// The device connected again at `at_us`, before the Will was due, and no Will went out.
    /// `clean`: the new connection had Clean Start 1 (it ended the old session).
    Reconnected {
        /// When the new connection was accepted.
        at_us: u64,
        /// Its Clean Start flag.
        clean: bool,
    },
    /// The run ended before the Will was due.
    Waiting,
    /// It was due before the run ended and the trace shows no Will (the `wills` guarantee
    /// judges whether it should have gone out).
    NotPublished,
}

impl WillOutcome {
    /// A CSS class and a short label for the outcome.
    pub fn class(self) -> &'static str {
        match self {
            WillOutcome::Published { .. } => "published",
            WillOutcome::Reconnected { .. } => "cancelled",
            WillOutcome::Waiting => "waiting",
            WillOutcome::NotPublished => "missing",
        }
    }
}

/// One connection end whose Will waited (MQTT 5.0 Will Delay, or DISCONNECT 0x04 and the other
/// codes that keep the Will).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WillWait {
    /// The device.
    pub device: String,
    /// The trace line (from 1) of the connection's end at the broker.
    pub line: usize,
    /// When the connection ended at the broker.
    pub closed_us: u64,
    /// How it ended: `without DISCONNECT (transport-lost)`, `DISCONNECT 0x04`.
    pub ended: String,
    /// The Will Delay Interval in force, in seconds.
    pub delay_s: u32,
    /// When the session ends by its expiry, if it does.
    pub session_end_us: Option<u64>,
    /// When the Will is due: the earlier of the delay's end and the session's end.
    pub due_us: u64,
    /// Whether the session's end came first.
    pub due_at_session_end: bool,
    /// What happened.
    pub outcome: WillOutcome,
}

impl WillWait {
    /// When the wait stopped on the timeline: the Will, the reconnection, or the due moment.
    pub fn until_us(&self, end_us: u64) -> u64 {
        match self.outcome {
            WillOutcome::Published { at_us } | WillOutcome::Reconnected { at_us, .. } => at_us,
            WillOutcome::Waiting => end_us,
            WillOutcome::NotPublished => self.due_us,
        }
    }

    /// How it ended, in a few words: `published after the delay`, `cancelled by a reconnect`.
    pub fn kind(&self) -> &'static str {
        match self.outcome {
            WillOutcome::Published { .. } if self.due_at_session_end => {
                "published at the session's end"
            }
            WillOutcome::Published { .. } => "published after the delay",
            WillOutcome::Reconnected { clean: false, .. } => "cancelled by a reconnect",
            WillOutcome::Reconnected { clean: true, .. } => "ended by a new session",
            WillOutcome::Waiting => "still waiting at the end",
            WillOutcome::NotPublished => "not published",
        }
    }

    /// The outcome in words.
    pub fn outcome_text(&self) -> String {
        match self.outcome {
            WillOutcome::Published { at_us } => format!("Will published at {}", secs(at_us)),
            WillOutcome::Reconnected { at_us, clean: false } => {
                format!("cancelled: reconnected at {} (Clean Start 0)", secs(at_us))
            }
            WillOutcome::Reconnected { at_us, clean: true } => {
                format!("new session at {} (Clean Start 1), no Will", secs(at_us))
            }
            WillOutcome::Waiting => "still waiting when the run ended".to_owned(),
            WillOutcome::NotPublished => "no Will in the trace".to_owned(),
        }
    }

    /// What the Will waited for, in words.
    pub fn due_text(&self) -> String {
        if self.due_at_session_end {
            format!("{} (the session's end)", secs(self.due_us))
        } else {
            format!("{} (Will Delay {} s)", secs(self.due_us), self.delay_s)
        }
    }
}

/// A 5.0 session that ended when its Session Expiry Interval ran out after its connection
/// closed (sessions with an interval of 0, which end with their connection, are only counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpiry {
    /// The device.
    pub device: String,
    /// The trace line (from 1) of its last connection's end.
    pub line: usize,
    /// When its last connection ended.
    pub closed_us: u64,
    /// When it ended (the close itself for an interval of 0).
    pub ended_us: u64,
    /// The device's next connection after the end, if any: (when, Session Present).
    pub next: Option<(u64, bool)>,
    /// Pairs owed to it that the verdict lists as `session-expired`.
    pub lost_pairs: u64,
}

impl SessionExpiry {
    /// The next connection in words: `150.020 s (Session Present 0)`, or `none`.
    pub fn next_text(&self) -> String {
        match self.next {
            Some((t, present)) => format!("{} (Session Present {})", secs(t), u8::from(present)),
            None => "none".to_owned(),
        }
    }
}

/// One member of a shared-subscription group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's client id.
    pub device: String,
    /// Copies it received on the group's subscription (retained copies left out).
    pub copies: u64,
    /// Messages it was the first member to receive.
    pub firsts: u64,
    /// Its broker connections that ended during the run.
    pub connections_lost: u64,
    /// Copies per time bin.
    pub bins: Vec<u32>,
    /// When it had no connection at the broker: (from, until).
    pub down: Vec<(u64, u64)>,
}

/// A message of a group that reached a second member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondCopy {
    /// The message id (or `Will of <device>`).
    pub message: String,
    /// Its QoS as delivered first.
    pub qos: u8,
    /// The first member to get it, and when.
    pub first: (String, u64),
    /// The next member to get it, and when.
    pub then: (String, u64),
    /// What in the trace let the broker move it: the first member's connection or session
    /// ending between the two copies; `None`: nothing did.
    pub cause: Option<String>,
}

/// A message of a group accepted while a member was in it, whose first copy came after that
/// member's session ended: the broker may have moved it from that member to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterLeave {
    /// The message id (or `Will of <device>`).
    pub message: String,
    /// Its QoS as delivered.
    pub qos: u8,
    /// When the broker accepted it.
    pub accepted_us: u64,
    /// The member whose session ended first after the acceptance, and when.
    pub left: (String, u64),
    /// The member that got the first copy, and when.
    pub to: (String, u64),
}

/// A shared-subscription group (`$share/{name}/{filter}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedGroup {
    /// The whole filter.
    pub filter: String,
    /// (message, group) pairs owed.
    pub pairs: u64,
    /// Of those, delivered to at least one member.
    pub delivered: u64,
    /// Undelivered pairs by reason name, from the verdict.
    pub undelivered: BTreeMap<String, u64>,
    /// Its members, by client id (at most [`MAX_MEMBERS`]).
    pub members: Vec<Member>,
    /// How many members it had in all.
    pub member_count: usize,
    /// Messages that reached a second member, first ones first (at most [`MAX_V5_ROWS`]).
    pub second_copies: Vec<SecondCopy>,
    /// How many there were in all.
    pub second_copy_count: usize,
    /// Messages first delivered after a member's session ended (at most [`MAX_V5_ROWS`]).
    pub after_leave: Vec<AfterLeave>,
    /// How many there were in all.
    pub after_leave_count: usize,
}

/// A (message, subscriber) pair whose Message Expiry Interval ran out undelivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredPair {
    /// The message.
    pub message: String,
    /// The subscriber (or group filter).
    pub subscriber: String,
    /// The pair's effective QoS.
    pub qos: u8,
    /// When it was published.
    pub published_us: u64,
    /// Its Message Expiry Interval, in seconds.
    pub interval_s: u32,
}

/// What the run did with Message Expiry Intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryFacts {
    /// Messages published with an interval.
    pub messages: u64,
    /// Copies delivered carrying one.
    pub copies: u64,
    /// Of those, the one that had waited longest at the broker: (message, subscriber, published
    /// interval, interval it carried, when it arrived).
    pub longest_wait: Option<(String, String, u32, u32, u64)>,
    /// Pairs expired undelivered (at most [`MAX_V5_ROWS`]).
    pub expired: Vec<ExpiredPair>,
    /// How many in all.
    pub expired_count: usize,
}

/// Everything 5.0 a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V5Facts {
    /// Wills that waited, in the order their connections ended (at most [`MAX_V5_ROWS`]).
    pub will_waits: Vec<WillWait>,
    /// How many in all.
    pub will_wait_count: usize,
    /// How many of them ended each way ([`WillWait::kind`]), over all of them.
    pub will_outcomes: BTreeMap<&'static str, usize>,
    /// Sessions that expired after waiting offline, in the order they ended (at most
    /// [`MAX_V5_ROWS`]).
    pub session_expiries: Vec<SessionExpiry>,
    /// How many in all.
    pub session_expiry_count: usize,
    /// Sessions that ended with their connection (a Session Expiry Interval of 0).
    pub ended_with_connection: usize,
    /// Shared-subscription groups, by filter (at most [`MAX_SHARED_GROUPS`]).
    pub shared: Vec<SharedGroup>,
    /// How many groups in all.
    pub shared_count: usize,
    /// Message expiry.
    pub expiry: ExpiryFacts,
}

/// A pair's key as the reports name it.
fn key_name(facts: &Facts<'_>, key: &Key<'_>) -> String {
    match key {
        Key::App(id) => (*id).to_owned(),
        Key::Will(a) => format!("Will of {}", facts.accepts[*a].publisher),
    }
}

impl V5Facts {
    /// The 5.0 facts of a run, or `None` when no device group of the scenario speaks 5.0.
    pub fn build(
        scenario: &Scenario,
        records: &[Record],
        verdict: &Verdict,
        end_us: u64,
        bin_us: u64,
    ) -> Option<V5Facts> {
        let v5 =
            scenario.devices.iter().any(|g| g.protocol_in(scenario) == mqttsim_codec::Protocol::V5);
        if !v5 {
            return None;
        }
        let tolerance_us =
            u64::try_from(CheckOptions::default().tolerance.as_micros()).unwrap_or(u64::MAX);
        let facts = Facts::gather(scenario, records, end_us, tolerance_us);
        let bin = |t: u64| usize::try_from(t / bin_us.max(1)).unwrap_or(BINS - 1).min(BINS - 1);
        let published = |id: &str| facts.messages.get(id).map(|m| records[m.idx].t_us);

        let waits: Vec<WillWait> = will_waits(&facts);
        let (expiries, ended_with_connection) =
            session_expiries(&facts, verdict, &published, tolerance_us);
        let groups = shared_groups(&facts, verdict, &bin);
        let expiry = expiry_facts(&facts, verdict, &published);
        let mut will_outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
        for w in &waits {
            *will_outcomes.entry(w.kind()).or_default() += 1;
        }
        Some(V5Facts {
            will_wait_count: waits.len(),
            will_outcomes,
            will_waits: waits.into_iter().take(MAX_V5_ROWS).collect(),
            session_expiry_count: expiries.len(),
            session_expiries: expiries.into_iter().take(MAX_V5_ROWS).collect(),
            ended_with_connection,
            shared_count: groups.len(),
            shared: groups.into_iter().take(MAX_SHARED_GROUPS).collect(),
            expiry,
        })
    }

    /// A few lines for the terminal and `summary.md`: what waited, expired and was shared (one
    /// line saying so when nothing did).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.will_wait_count > 0 {
            let parts: Vec<String> =
                self.will_outcomes.iter().map(|(k, n)| format!("{n} {k}")).collect();
            out.push(format!(
                "Wills that waited (Will Delay, DISCONNECT 0x04): {} ({})",
                self.will_wait_count,
                parts.join(", ")
            ));
        }
        let mut sessions = Vec::new();
        if self.session_expiry_count > 0 {
            let lost: u64 = self.session_expiries.iter().map(|s| s.lost_pairs).sum();
            let listed = if self.session_expiries.len() < self.session_expiry_count {
                format!(" of the first {}", self.session_expiries.len())
            } else {
                String::new()
            };
            sessions.push(format!(
                "{} after their Session Expiry Interval ran out offline ({}{listed} went with \
                 them as session-expired)",
                self.session_expiry_count,
                plural(lost, "owed pair")
            ));
        }
        if self.ended_with_connection > 0 {
            sessions.push(format!(
                "{} with their connection (Session Expiry Interval 0)",
                self.ended_with_connection
            ));
        }
        if !sessions.is_empty() {
            out.push(format!("sessions ended: {}", sessions.join(", ")));
        }
        for g in &self.shared {
            let members: Vec<String> =
                g.members.iter().map(|m| format!("{} {}", m.device, m.copies)).collect();
            let more = if g.member_count > g.members.len() { ", ..." } else { "" };
            out.push(format!(
                "shared group {}: {} of {} messages delivered; copies per member: {}{more}; {} \
                 delivered after a member's session ended, {} to a second member",
                g.filter,
                g.delivered,
                g.pairs,
                members.join(", "),
                plural(g.after_leave_count as u64, "message"),
                g.second_copy_count
            ));
        }
        if self.shared_count > self.shared.len() {
            out.push(format!(
                "... and {} more shared groups",
                self.shared_count - self.shared.len()
            ));
        }
        let e = &self.expiry;
        if e.messages > 0 {
            out.push(format!(
                "message expiry: {} with an interval, {} delivered carrying one, {} expired \
                 undelivered",
                plural(e.messages, "message"),
                plural(e.copies, "copy"),
                plural(e.expired_count as u64, "pair")
            ));
        }
        if out.is_empty() {
            out.push(
                "no Will waited, no session expired, no shared subscription, no Message Expiry \
                 Interval"
                    .to_owned(),
            );
        }
        out
    }
}

/// `1 pair`, `2 pairs`, `2 copies`.
fn plural(n: u64, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {word}s"),
    }
}

fn will_waits(facts: &Facts<'_>) -> Vec<WillWait> {
    let mut out = Vec::new();
    for e in &facts.endings {
        let has_will =
            facts.devices.get(e.device.as_str()).is_some_and(|d| d.v5 && d.will.is_some());
        if !has_will || !e.will_waits() {
            continue;
        }
        let due_us = e.will_due_us();
        let delay_end = e.t_us.saturating_add(u64::from(e.will_delay_s) * 1_000_000);
        let next = facts
            .spans
            .get(e.device.as_str())
            .and_then(|spans| spans.iter().find(|s| s.start_idx > e.idx));
        let outcome = match e.will {
            Some(w) => WillOutcome::Published { at_us: facts.accepts[w].t_us },
            None => match next {
                Some(n) if n.start_us <= due_us => {
                    WillOutcome::Reconnected { at_us: n.start_us, clean: n.clean }
                }
                _ if due_us > facts.end_us => WillOutcome::Waiting,
                _ => WillOutcome::NotPublished,
            },
        };
        let ended = match e.code {
            Some(c) if e.reason == "client-disconnect" => format!("DISCONNECT 0x{c:02X}"),
            _ => format!("without DISCONNECT ({})", e.reason),
        };
        out.push(WillWait {
            device: e.device.to_owned(),
            line: e.idx + 1,
            closed_us: e.t_us,
            ended,
            delay_s: e.will_delay_s,
            session_end_us: e.session_end_us,
            due_us,
            due_at_session_end: e.session_end_us.is_some_and(|s| s < delay_end),
            outcome,
        });
    }
    out
}

fn session_expiries(
    facts: &Facts<'_>,
    verdict: &Verdict,
    published: &dyn Fn(&str) -> Option<u64>,
    tolerance_us: u64,
) -> (Vec<SessionExpiry>, usize) {
    // The session-expired pairs of each subscriber, by the time their message was published.
    let mut lost: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for u in verdict.undelivered.iter().filter(|u| u.reason == LossReason::SessionExpired) {
        if let Some(t) = published(&u.message.id) {
            lost.entry(u.subscriber.as_str()).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    let mut at_close = 0;
    for (device, spans) in &facts.spans {
        if !facts.devices.get((*device).as_str()).is_some_and(|d| d.v5) {
            continue;
        }
        let epochs: BTreeSet<usize> = spans.iter().filter_map(|s| s.epoch).collect();
        for e in epochs {
            let epoch = &facts.epochs[e];
            let (Some(ended_us), Some(EndKind::Expired)) = (epoch.end_us, epoch.end_kind) else {
                continue;
            };
            let of_epoch: Vec<_> = spans.iter().filter(|s| s.epoch == Some(e)).collect();
            let (Some(first), Some(last)) = (of_epoch.first(), of_epoch.last()) else { continue };
            let Some(closed_us) = last.end_us else { continue };
            if closed_us == ended_us {
                at_close += 1;
                continue;
            }
            let next = spans
                .iter()
                .find(|s| s.start_us >= ended_us && s.start_idx > last.start_idx)
                .map(|s| {
                    let present = matches!(
                        facts.records[s.start_idx].event,
                        crate::trace::Event::BrokerConnected { session_present: true, .. }
                    );
                    (s.start_us, present)
                });
            let window = first.start_us..=ended_us.saturating_add(tolerance_us);
            let lost_pairs = lost
                .get((*device).as_str())
                .map_or(0, |ts| ts.iter().filter(|t| window.contains(t)).count() as u64);
            out.push(SessionExpiry {
                device: (*device).to_owned(),
                line: last.end_idx.unwrap_or(last.start_idx) + 1,
                closed_us,
                ended_us,
                next,
                lost_pairs,
            });
        }
    }
    out.sort_by(|a, b| (a.ended_us, &a.device).cmp(&(b.ended_us, &b.device)));
    (out, at_close)
}

fn shared_groups(
    facts: &Facts<'_>,
    verdict: &Verdict,
    bin: &dyn Fn(u64) -> usize,
) -> Vec<SharedGroup> {
    let mut out = Vec::new();
    for &filter in &facts.groups {
        let mut members: BTreeMap<&str, Member> = BTreeMap::new();
        let member = |device: &str| -> Member {
            let spans = facts.spans.get(device).map_or(&[][..], Vec::as_slice);
            let mut down = Vec::new();
            let mut from = 0u64;
            for s in spans {
                if s.start_us > from {
                    down.push((from, s.start_us));
                }
                from = s.end_us.unwrap_or(u64::MAX);
            }
            if from < facts.end_us {
                down.push((from, facts.end_us));
            }
            Member {
                device: device.to_owned(),
                copies: 0,
                firsts: 0,
                connections_lost: spans.iter().filter(|s| s.end_us.is_some()).count() as u64,
                bins: vec![0; BINS],
                down,
            }
        };
        for s in facts.subscribes.iter().filter(|s| s.filter == filter) {
            members.entry(s.sub.as_str()).or_insert_with(|| member(s.sub.as_str()));
        }
        // The copies of each message, in trace order.
        let mut copies: BTreeMap<Key<'_>, Vec<usize>> = BTreeMap::new();
        for (i, d) in facts.deliveries.iter().enumerate() {
            if d.group != Some(filter) || d.retain {
                continue;
            }
            let m = members.entry(d.sub.as_str()).or_insert_with(|| member(d.sub.as_str()));
            m.copies += 1;
            m.bins[bin(d.t_us)] += 1;
            if let Some(key) = d.key {
                copies.entry(key).or_default().push(i);
            }
        }
        let pairs: Vec<&Key<'_>> =
            facts.group_owed.keys().filter(|(_, g)| *g == filter).map(|(k, _)| k).collect();
        let delivered = pairs.iter().filter(|k| copies.contains_key(k)).count() as u64;
        let mut second: Vec<(usize, SecondCopy)> = Vec::new();
        for (key, list) in &copies {
            let first = &facts.deliveries[list[0]];
            if let Some(m) = members.get_mut(first.sub.as_str()) {
                m.firsts += 1;
            }
            let Some(then) =
                list.iter().map(|&i| &facts.deliveries[i]).find(|d| d.sub != first.sub)
            else {
                continue;
            };
            let spans = facts.spans.get(first.sub.as_str()).map_or(&[][..], Vec::as_slice);
            let conn_end = first
                .span
                .and_then(|s| spans.get(s))
                .and_then(|s| s.end_us.map(|t| (t, s.reason.unwrap_or("closed"))))
                .filter(|(t, _)| *t <= then.t_us);
            let session_end =
                first.epoch.and_then(|e| facts.epochs[e].end_us).filter(|t| *t <= then.t_us);
            let cause = match (conn_end, session_end) {
                (_, Some(t)) => Some(format!("{}'s session ended at {}", first.sub, secs(t))),
                (Some((t, why)), None) => {
                    Some(format!("{}'s connection ended at {} ({why})", first.sub, secs(t)))
                }
                (None, None) => None,
            };
            second.push((
                first.idx,
                SecondCopy {
                    message: key_name(facts, key),
                    qos: first.qos,
                    first: (first.sub.to_owned(), first.t_us),
                    then: (then.sub.to_owned(), then.t_us),
                    cause,
                },
            ));
        }
        second.sort_by_key(|(idx, _)| *idx);
        // Messages accepted while a member was in the group and first delivered after its
        // session ended (the moments `shared` judges redistribution from).
        let mut after: Vec<(usize, AfterLeave)> = Vec::new();
        for ((key, g), owes) in &facts.group_owed {
            if *g != filter {
                continue;
            }
            let (Some(last), Some(list)) = (owes.last(), copies.get(key)) else { continue };
            let accepted_us = facts.accepts[last.accept].t_us;
            let left = last
                .members
                .iter()
                .filter_map(|&(m, e, _)| {
                    facts.epochs[e].end_us.filter(|&end| end >= accepted_us).map(|end| (end, m))
                })
                .min();
            let first = &facts.deliveries[list[0]];
            if let Some((end, member)) = left
                && first.t_us >= end
            {
                after.push((
                    first.idx,
                    AfterLeave {
                        message: key_name(facts, key),
                        qos: first.qos,
                        accepted_us,
                        left: (member.to_owned(), end),
                        to: (first.sub.to_owned(), first.t_us),
                    },
                ));
            }
        }
        after.sort_by_key(|(idx, _)| *idx);
        let mut undelivered: BTreeMap<String, u64> = BTreeMap::new();
        for u in verdict.undelivered.iter().filter(|u| u.subscriber == filter) {
            *undelivered.entry(u.reason.name().to_owned()).or_default() += 1;
        }
        let member_count = members.len();
        out.push(SharedGroup {
            filter: filter.to_owned(),
            pairs: pairs.len() as u64,
            delivered,
            undelivered,
            members: members.into_values().take(MAX_MEMBERS).collect(),
            member_count,
            second_copy_count: second.len(),
            second_copies: second.into_iter().map(|(_, s)| s).take(MAX_V5_ROWS).collect(),
            after_leave_count: after.len(),
            after_leave: after.into_iter().map(|(_, s)| s).take(MAX_V5_ROWS).collect(),
        });
    }
    out
}

fn expiry_facts(
    facts: &Facts<'_>,
    verdict: &Verdict,
    published: &dyn Fn(&str) -> Option<u64>,
) -> ExpiryFacts {
    let mut e = ExpiryFacts {
        messages: facts.messages.values().filter(|m| m.expiry.is_some()).count() as u64,
        ..ExpiryFacts::default()
    };
    // The copy that waited longest: the largest reduction of its interval.
    let mut longest: Option<(u32, usize)> = None;
    for (i, d) in facts.deliveries.iter().enumerate() {
        let Some(left) = d.expiry else { continue };
        e.copies += 1;
        if let Some(Key::App(id)) = d.key
            && let Some(Some(interval)) = facts.messages.get(id.as_str()).map(|m| m.expiry)
        {
            let waited = interval.saturating_sub(left);
            if longest.is_none_or(|(w, _)| waited > w) {
                longest = Some((waited, i));
            }
        }
    }
    e.longest_wait = longest.and_then(|(_, i)| {
        let d = &facts.deliveries[i];
        let Some(Key::App(id)) = d.key else { return None };
        let interval = facts.messages.get(id.as_str()).and_then(|m| m.expiry)?;
        Some((id.to_owned(), d.sub.to_owned(), interval, d.expiry?, d.t_us))
    });
    for u in verdict.undelivered.iter().filter(|u| u.reason == LossReason::Expired) {
        e.expired_count += 1;
        if e.expired.len() >= MAX_V5_ROWS {
            continue;
        }
        let interval_s =
            facts.messages.get(u.message.id.as_str()).and_then(|m| m.expiry).unwrap_or(0);
        e.expired.push(ExpiredPair {
            message: u.message.id.clone(),
            subscriber: u.subscriber.clone(),
            qos: u.qos,
            published_us: published(&u.message.id).unwrap_or(0),
            interval_s,
        });
    }
    e
}
