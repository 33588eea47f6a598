//! The checker: an oracle that reads a run's trace and the scenario's `expect:` section and
//! decides, for every published message and every subscriber, whether what MQTT 3.1.1 promises
//! held.
//!
//! It reads only the trace (what devices saw, what the broker reported), never the broker's
//! internals, so it judges any broker the trace describes. Call [`check`] with the records in
//! trace order:
//!
//! ```
//! use std::path::Path;
//! use std::time::Duration;
//! use mqttsim_verdict::check::{CheckOptions, check, parse_jsonl};
//! use mqttsim_verdict::scenario::parse_scenario;
//!
//! let scenario = parse_scenario(r#"
//! name: one-message
//! seed: 1
//! duration: 5m
//! protocol: "3.1.1"
//! sites: [ { name: s } ]
//! devices:
//!   - { group: p, site: s, count: 1, client_id: "pub", publish: [ { topic: t, qos: 1, every: 1h } ] }
//!   - { group: q, site: s, count: 1, client_id: "sub", subscribe: [ { filter: t, qos: 1 } ] }
//! expect: { qos1_at_least_once: true }
//! "#, Path::new("one.yaml")).unwrap();
//! let trace = parse_jsonl(r#"
//! {"t_us":0,"device":"sub","dir":"broker","ev":"broker_connected","conn":1,"clean_session":true,"session_present":false}
//! {"t_us":1,"device":"sub","dir":"broker","ev":"broker_subscribed","filter":"t","granted":1}
//! {"t_us":2,"device":"pub","dir":"app","ev":"app_publish","msg":"pub#1","topic":"t","qos":1,"retain":false,"size":32}
//! {"t_us":3,"device":"pub","dir":"up","ev":"publish_sent","msg":"pub#1","pid":1,"qos":1,"dup":false}
//! {"t_us":4,"device":"pub","dir":"broker","ev":"broker_accepted","topic":"t","pid":1,"qos":1,"retain":false}
//! "#).unwrap();
//! let options = CheckOptions { end: Duration::from_secs(300), ..CheckOptions::default() };
//! let verdict = check(&scenario, &trace, &options);
//! assert!(verdict.failed(), "pub#1 was never delivered to sub");
//! ```
//!
//! Every (message, subscriber) pair not delivered gets one reason ([`LossReason`]), of one of
//! three classes: an *allowed loss* (gone for a reason the standard allows), *exempt* (the
//! guarantee did not, or not yet, cover it) or *lost* (a violation at QoS 1 and 2). A
//! guarantee asked for that the run gave nothing to judge is "not exercised", never a pass.
//!
//! Modules:
//! - `facts`: one pass over the trace: messages, acceptances, deliveries, sessions, faults.
//! - `due`: the evidence that the broker had its chance to deliver a pair.
//! - `delivery`: QoS 0 duplicates, QoS 1 at least once, QoS 2 exactly once, the reason of each
//!   undelivered pair, counts, latencies, loss bounds.
//! - `order`: per publisher, topic and QoS ordering [MQTT-4.6.0-6].
//! - `will`: Wills published iff the connection ended without DISCONNECT, and in time.
//! - `will_props`: MQTT 5.0 Will properties reach subscribers unchanged, without the Will Delay
//!   Interval.
//! - `retained`: new subscriptions get the latest retained message of each matching topic, as
//!   their Retain Handling says.
//! - `expiry`: MQTT 5.0 message expiry: no copy after the Message Expiry Interval, the
//!   interval forwarded reduced by the time at the broker.
//! - `liveness`: devices reconnect and messages complete once the faults stop.
//! - `shared`: MQTT 5.0 shared subscriptions (each message to one member of its group, the
//!   redistribution the standard recommends) and No Local.
//! - `routes`: the oracle's own tree of subscriptions, to route each message cheaply.
//! - `flow`: MQTT 5.0 Receive Maximum and Maximum Packet Size towards each device.
//! - `aliases`: MQTT 5.0 topic aliases, both ways.
//! - `properties`: MQTT 5.0 message properties forwarded unchanged, and request/response.
//! - `coverage`: the protocol situations the run went through.
//! - `sessions`: when each session ends (5.0: its Session Expiry Interval), and that nothing of
//!   an ended session is resumed or delivered to the next one.
//! - [`verdict`]: the verdict, outcomes, violations and counts, and their text form.

mod aliases;
mod cite;
mod coverage;
mod delivery;
mod due;
mod expiry;
pub(crate) mod facts;
mod flow;
mod liveness;
mod max_qos;
mod name;
mod order;
mod properties;
mod retain_flag;
mod retained;
mod routes;
mod sessions;
mod shared;
pub mod verdict;
mod will;
mod will_props;

use std::time::Duration;

use crate::scenario::Scenario;
use crate::trace::{Event, Record};

pub use verdict::{
    Coverage, Guarantee, LossClass, LossReason, MessageRef, Outcome, QosCounts, Status,
    Undelivered, Verdict, Violation,
};

/// How the checker judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// When the run ended (the scenario's duration, or the one the run was given).
    pub end: Duration,
    /// The tolerance of the evidence that a pair was due: how long a broker may hold a message
    /// back behind newer ones of other publishers, or behind an answer to the subscriber (see
    /// scenarios/README.md, "How the checker judges").
    pub tolerance: Duration,
    /// How long a subscriber's last connection must stay open and undisturbed, to the end of
    /// the run, for a message accepted before to be due without other evidence.
    pub settle: Duration,
    /// The network delay allowed on top of protocol deadlines (Will timing).
    pub slack: Duration,
    /// How much earlier than its Will Delay Interval's end (or its session's end) a waiting
    /// MQTT 5.0 Will may be published: the intervals are whole seconds, which a broker may count
    /// on a one-second timer.
    pub early: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            end: Duration::ZERO,
            tolerance: Duration::from_secs(10),
            settle: Duration::from_secs(60),
            slack: Duration::from_secs(10),
            early: Duration::from_secs(1),
        }
    }
}

/// A trace that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("trace line {line}: {source}")]
pub struct TraceError {
    /// The line, from 1.
    pub line: usize,
    /// What was wrong with it.
    #[source]
    pub source: serde_json::Error,
}

/// Reads a JSON Lines trace; blank lines are skipped.
///
/// # Errors
///
/// Returns the first line that is not a trace record.
pub fn parse_jsonl(text: &str) -> Result<Vec<Record>, TraceError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|source| TraceError { line: i + 1, source }))
        .collect()
}

/// A trace file that could not be read: the file, or one of its lines.
#[derive(Debug, thiserror::Error)]
pub enum ReadTraceError {
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line is not a trace record.
    #[error(transparent)]
    Line(#[from] TraceError),
}

/// Reads a JSON Lines trace line by line from `reader` (so the file's text is never held
/// whole); blank lines are skipped.
///
/// # Errors
///
/// Returns a read failure, or the first line that is not a trace record.
pub fn read_jsonl(reader: impl std::io::BufRead) -> Result<Vec<Record>, ReadTraceError> {
    let mut records = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record =
            serde_json::from_str(&line).map_err(|source| TraceError { line: i + 1, source })?;
        records.push(record);
    }
    Ok(records)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn not_checked(guarantee: Guarantee, reason: &str) -> Outcome {
    Outcome {
        guarantee,
        status: Status::NotChecked { reason: reason.to_owned() },
        notes: Vec::new(),
        violations: Vec::new(),
        violation_count: 0,
    }
}

/// What a user should hear about a run beside its verdict: expectations that had nothing to
/// judge, and device groups some of whose devices never connected. `run` prints them as
/// warnings.
pub fn warnings(scenario: &Scenario, records: &[Record], verdict: &Verdict) -> Vec<String> {
    let mut out: Vec<String> = verdict
        .not_exercised()
        .into_iter()
        .map(|(g, reason)| format!("`{g}` was asked for but not exercised: {reason}"))
        .collect();
    let connected: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| matches!(r.event, crate::trace::Event::Connected { .. }))
        .filter_map(|r| r.device.as_deref())
        .collect();
    for group in &scenario.devices {
        let never =
            (0..group.count as usize).filter(|&i| !connected.contains(group.client_id(i).as_str()));
        let never = never.count();
        if never > 0 {
            out.push(format!(
                "{never} of the {} device(s) of group `{}` never connected",
                group.count, group.group
            ));
        }
    }
    out
}

/// A rule's findings, and what it had nothing of to judge, if anything.
type RuleResult = (verdict::Findings, Option<String>);

/// A 5.0 rule: whether `expect:` asks for it, its guarantee, and the rule.
type V5Rule<'a> = (Option<bool>, Guarantee, &'a dyn Fn() -> RuleResult);

/// What a guarantee had nothing of, when `none` holds.
fn missing(none: bool, what: &str) -> Option<String> {
    none.then(|| what.to_owned())
}

/// How many messages their publishers gave up as retained messages the broker does not support
/// (a 5.0 CONNACK with Retain Available 0).
fn retained_given_up(records: &[Record]) -> usize {
    records
        .iter()
        .filter(
            |r| matches!(&r.event, Event::Dropped { reason, .. } if reason == "unsupported 0x9A"),
        )
        .count()
}

/// Judges `records` (a whole trace, in order) against `scenario.expect`.
pub fn check(scenario: &Scenario, records: &[Record], options: &CheckOptions) -> Verdict {
    let expect = &scenario.expect;
    let end_us = micros(options.end);
    let settle_us = micros(options.settle);
    let tolerance_us = micros(options.tolerance);
    let facts = facts::Facts::gather(scenario, records, end_us, tolerance_us);
    let due = due::Due::new(&facts, tolerance_us, settle_us);
    let deliveries = delivery::check(&facts, expect, &due, tolerance_us, settle_us);
    let unasked = "not in expect:";
    let mut outcomes = Vec::with_capacity(Guarantee::ALL.len());
    let delivery::DeliveryFindings {
        qos0,
        qos1,
        qos2,
        wills: will_copies,
        retained: clear_copies,
        counts,
        undelivered,
        latencies,
        app_pairs,
        app_delivered,
        clear_pairs,
    } = deliveries;
    let (mut counts, mut undelivered, mut latencies) = (counts, undelivered, latencies);
    let shared = shared::check(
        &facts,
        &due,
        settle_us,
        shared::Tally {
            counts: &mut counts,
            undelivered: &mut undelivered,
            latencies: &mut latencies,
        },
    );

    outcomes.push(match expect.qos0_max_duplicates {
        Some(_) => qos0.into_outcome(missing(
            app_delivered[0] == 0,
            "no message was delivered at effective QoS 0",
        )),
        None => not_checked(Guarantee::Qos0MaxDuplicates, unasked),
    });
    outcomes.push(match expect.qos1_at_least_once {
        Some(true) => qos1.into_outcome(missing(
            app_pairs[1] == 0,
            "no message was owed to a subscriber at effective QoS 1",
        )),
        _ => not_checked(Guarantee::Qos1AtLeastOnce, unasked),
    });
    outcomes.push(match expect.qos2_exactly_once {
        Some(true) => qos2.into_outcome(missing(
            app_pairs[2] == 0,
            "no message was owed to a subscriber at effective QoS 2",
        )),
        _ => not_checked(Guarantee::Qos2ExactlyOnce, unasked),
    });
    outcomes.push(match expect.ordering {
        Some(true) => {
            let (findings, streams) = order::check(&facts);
            findings.into_outcome(missing(
                streams == 0,
                "no subscriber received two messages of one publisher, topic and QoS",
            ))
        }
        _ => not_checked(Guarantee::Ordering, unasked),
    });
    outcomes.push(match expect.wills {
        Some(true) => {
            let mut findings = will::check(&facts, micros(options.slack), micros(options.early));
            findings.absorb(will_copies);
            findings.absorb(will_props::check(&facts));
            findings.into_outcome(missing(
                !will::exercised(&facts),
                "no connection of a device with a Will ended, and no Will was published",
            ))
        }
        _ => not_checked(Guarantee::Wills, unasked),
    });
    outcomes.push(match expect.retained {
        Some(true) => {
            let r = retained::check(&facts, &due, tolerance_us, settle_us);
            let mut findings = r.findings;
            findings.absorb(clear_copies);
            let mut why = missing(
                !r.exercised && clear_pairs == 0,
                "no subscription found a retained message, and no retained clear was owed",
            );
            if let Some(why) = why.as_mut()
                && let given_up = retained_given_up(records)
                && given_up > 0
            {
                let what = if given_up == 1 {
                    "1 retained message was".to_owned()
                } else {
                    format!("{given_up} retained messages were")
                };
                why.push_str(&format!(
                    "; {what} given up by publishers the broker's CONNACK told Retain Available 0"
                ));
            }
            findings.into_outcome(why)
        }
        _ => not_checked(Guarantee::Retained, unasked),
    });
    outcomes.push(match expect.liveness {
        Some(l) => {
            let quiet = micros(l.quiet_period.get());
            let from = facts.faults_over_us;
            if from.saturating_add(quiet) > end_us {
                not_checked(
                    Guarantee::Liveness,
                    &format!(
                        "faults go on until {:.3}s and the quiet period of {}s outlasts the run",
                        from as f64 / 1e6,
                        quiet / 1_000_000
                    ),
                )
            } else {
                liveness::check(&facts, quiet).into_outcome(missing(
                    facts.first_attempt.is_empty(),
                    "no device tried to connect",
                ))
            }
        }
        None => not_checked(Guarantee::Liveness, unasked),
    });
    outcomes.push(match delivery::expected_loss(&counts, expect) {
        Some((findings, missing)) => findings.into_outcome(missing),
        None => not_checked(Guarantee::ExpectedLoss, unasked),
    });
    let shared::SharedFindings {
        groups,
        redistribution,
        no_local,
        group_pairs,
        redistribution_chances,
        no_local_judged,
    } = shared;
    outcomes.push(match expect.shared_subscriptions {
        Some(true) => groups.into_outcome(missing(
            group_pairs == 0,
            "no message was owed to a shared subscription group",
        )),
        _ => not_checked(Guarantee::SharedSubscriptions, unasked),
    });
    outcomes.push(match expect.shared_redistribution {
        Some(true) => redistribution.into_outcome(missing(
            redistribution_chances == 0,
            "no QoS 1 message of a shared subscription group was left undelivered by a member \
             whose session ended",
        )),
        _ => not_checked(Guarantee::SharedRedistribution, unasked),
    });
    outcomes.push(match expect.no_local {
        Some(true) => no_local.into_outcome(missing(
            no_local_judged == 0,
            "no device published a message its own No Local subscription matched",
        )),
        _ => not_checked(Guarantee::NoLocal, unasked),
    });
    outcomes.push(match expect.sessions {
        Some(true) => sessions::check(&facts).into_outcome(missing(
            !sessions::exercised(&facts),
            "no device connected again after its session ended, and no 5.0 session waited for \
             its expiry",
        )),
        _ => not_checked(Guarantee::Sessions, unasked),
    });
    outcomes.push(match expect.message_expiry {
        Some(true) => {
            let e = expiry::check(&facts);
            let expired =
                counts.iter().filter_map(|c| c.reasons.get(&LossReason::Expired)).sum::<u64>();
            e.findings.into_outcome(missing(
                e.judged + expired == 0,
                "no copy of a message with a Message Expiry Interval was delivered, and none \
                 expired undelivered",
            ))
        }
        _ => not_checked(Guarantee::MessageExpiry, unasked),
    });
    // MQTT 5.0 rules, each judged from what the devices saw.
    let v5_rules: [V5Rule<'_>; 7] = [
        (expect.receive_maximum, Guarantee::ReceiveMaximum, &|| flow::receive_maximum(&facts)),
        (expect.maximum_packet_size, Guarantee::MaximumPacketSize, &|| {
            flow::maximum_packet_size(&facts)
        }),
        (expect.topic_aliases, Guarantee::TopicAliases, &|| aliases::check(&facts)),
        (expect.message_properties, Guarantee::MessageProperties, &|| {
            properties::message_properties(&facts)
        }),
        (expect.request_response, Guarantee::RequestResponse, &|| {
            properties::request_response(&facts, &undelivered)
        }),
        (expect.retain_as_published, Guarantee::RetainAsPublished, &|| retain_flag::check(&facts)),
        (expect.maximum_qos, Guarantee::MaximumQos, &|| max_qos::check(&facts)),
    ];
    for (asked, guarantee, rule) in v5_rules {
        outcomes.push(match asked {
            Some(true) => {
                let (findings, missing) = rule();
                findings.into_outcome(missing)
            }
            _ => not_checked(guarantee, unasked),
        });
    }
    let mut coverage = Coverage::of(records);
    // A RETAIN=1 copy forwarded on a Retain As Published subscription (MQTT 5.0) was not sent
    // on subscribe.
    coverage.retained_on_subscribe =
        facts.deliveries.iter().filter(|d| d.on_subscribe).count() as u64;
    Verdict { outcomes, counts, unattributed: facts.unattributed, undelivered, coverage, latencies }
}
