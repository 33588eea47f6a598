//! The run report's MQTT 5.0 facts: Wills waiting for their Will Delay Interval and how each
//! wait ended, sessions that expired, which member of a shared-subscription group got each
//! message, and expired messages. On a hand-written trace (every Will outcome, an expired
//! session, a shared group whose member leaves) and on a small simulated 5.0 fleet (its
//! `summary.md` snapshot and the page in headless Chromium); a 3.1.1 report has none of it.
//! A module of `report.rs`, whose Chromium helpers it uses.

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::check::Verdict;
use mqttsim_sim::report::{
    Analysis, MAX_V5_ROWS, ReportInput, V5Facts, WillOutcome, render_html, render_markdown,
};
use mqttsim_sim::scenario::{Scenario, parse_scenario};
use mqttsim_sim::trace::{Collect, Event, Record};
use mqttsim_sim::{RunOptions, run};

use super::report_in_chromium;
use crate::common::{self, Delivery, Message, judge};

// ----- a hand-written trace -----

/// Times are in seconds. `tracker-{0..3}` have a Will on `will/tracker-{i}` with a Will Delay
/// Interval of 30 s and a session of 120 s; `sub` subscribes to `t/#` with a session of 20 s;
/// `w-0` and `w-1` share `$share/g/t/#`; `pub` publishes on `t/a` with a Message Expiry
/// Interval of 5 s. The run lasts 200 s.
fn hand_scenario() -> Scenario {
    parse_scenario(HAND_YAML, Path::new("hand-report5.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

const HAND_YAML: &str = r#"
name: hand-report5
seed: 1
duration: 200s
protocol: "5.0"
sites: [ { name: s } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub",
      publish: [ { topic: t/a, qos: 1, every: 1h, expiry: 5s } ] }
  - { group: q, site: s, count: 1, client_id: "sub", clean_session: false, session_expiry: 20s,
      subscribe: [ { filter: "t/#", qos: 1 } ] }
  - { group: w, site: s, count: 2, client_id: "w-{i}",
      subscribe: [ { filter: "$share/g/t/#", qos: 1 } ] }
  - { group: tracker, site: s, count: 4, client_id: "tracker-{i}", clean_session: false,
      keepalive: 10s, session_expiry: 120s,
      will: { topic: "will/tracker-{i}", payload: gone, qos: 1, delay: 30s } }
expect: { qos1_at_least_once: true, wills: true, sessions: true, shared_subscriptions: true,
          message_expiry: true }
"#;

/// The shared builder, in seconds, on the topic `t/a`, with this scenario's intervals.
struct Trace(common::Trace);

impl Default for Trace {
    fn default() -> Trace {
        Trace(common::Trace::in_secs())
    }
}

const TOPIC: &str = "t/a";

impl Trace {
    /// The broker accepts a connection of `device`, which reads CONNACK with the scenario's
    /// intervals in force.
    fn connect(&mut self, s: u64, device: &str, clean: bool, present: bool) -> &mut Self {
        let intervals = match device {
            "sub" => (Some(20), None),
            d if d.starts_with("tracker") => (Some(120), Some(30)),
            _ => (Some(0), None),
        };
        self.0.connect(s, device, clean, present).connected(s, device, present, intervals, None);
        self
    }

    fn close(&mut self, s: u64, device: &str, reason: &str) -> &mut Self {
        self.0.close(s, device, reason);
        self
    }

    fn subscribe(&mut self, s: u64, device: &str, filter: &str) -> &mut Self {
        self.0.subscribe(s, device, filter);
        self
    }

    fn will(&mut self, s: u64, device: &str) -> &mut Self {
        self.0.will(s, device);
        self
    }

    /// `pub` publishes `pub#n`, with a Message Expiry Interval of 5 s when `expiring`.
    fn publish(&mut self, s: u64, n: u16, expiring: bool) -> &mut Self {
        let m = Message { expiry: expiring.then_some(5), ..Message::new(n, TOPIC) };
        self.0.publish(s, &m).accepted(s, &m, 1).acked(s, n, 1);
        self
    }

    fn deliver(&mut self, s: u64, device: &str, n: u16, left: Option<u32>) -> &mut Self {
        self.0.deliver(s, device, &Delivery { expiry: left, ..Delivery::new(n, TOPIC) });
        self
    }

    fn records(&self) -> Vec<Record> {
        self.0.sorted()
    }
}

/// Every Will outcome, an expired session, a shared group whose member leaves, an expired pair.
fn hand_trace() -> Vec<Record> {
    let mut t = Trace::default();
    t.connect(0, "pub", true, false);
    t.connect(0, "sub", false, false).subscribe(0, "sub", "t/#");
    t.connect(0, "w-0", true, false).subscribe(0, "w-0", "$share/g/t/#");
    t.connect(0, "w-1", true, false).subscribe(0, "w-1", "$share/g/t/#");
    for i in 0..4 {
        t.connect(0, &format!("tracker-{i}"), false, false);
    }
    // tracker-0 vanishes at 10 s: its Will goes out after the 30 s delay.
    t.close(10, "tracker-0", "keepalive-timeout").will(40, "tracker-0");
    // tracker-1 vanishes at 10 s and is back at 25 s, in time: no Will.
    t.close(10, "tracker-1", "transport-lost").connect(25, "tracker-1", false, true);
    // tracker-2 vanishes at 185 s: the run ends before its Will is due.
    t.close(185, "tracker-2", "transport-lost");
    // tracker-3 vanishes at 50 s and its Will, due at 80 s, never comes.
    t.close(50, "tracker-3", "transport-lost");
    // w-0 gets pub#1 and pub#2, leaves before acknowledging pub#2, and w-1 gets it again.
    t.publish(30, 1, true).deliver(30, "sub", 1, Some(5)).deliver(30, "w-0", 1, Some(5));
    t.publish(60, 2, true).deliver(60, "sub", 2, Some(5)).deliver(61, "w-0", 2, Some(4));
    t.close(62, "w-0", "transport-lost").deliver(63, "w-1", 2, Some(2));
    // sub is away from 70 s: its session expires at 90 s; pub#3 (at 75 s, no Message Expiry
    // Interval) goes with it.
    t.close(70, "sub", "transport-lost");
    t.publish(75, 3, false).deliver(75, "w-1", 3, None);
    // w-0 is back at 90 s with a new session; pub#5 (at 130 s) is first delivered, to w-0, after
    // w-1's session ended at 140 s.
    t.connect(90, "w-0", true, false).subscribe(90, "w-0", "$share/g/t/#");
    t.publish(130, 5, false).deliver(130, "sub", 5, None).deliver(141, "w-0", 5, None);
    t.connect(120, "sub", false, false).subscribe(120, "sub", "t/#");
    // pub#4 expires while w-1 is away (until 160 s) and sub waits for it.
    t.close(140, "w-1", "transport-lost");
    t.publish(150, 4, true);
    t.connect(160, "w-1", true, false).subscribe(160, "w-1", "$share/g/t/#");
    t.records()
}

fn analyse(scenario: &Scenario, records: &[Record], verdict: &Verdict, end: Duration) -> Analysis {
    let seed = scenario.seed;
    let replay = format!("mqtt-sim run {}.yaml --seed {seed}", scenario.name);
    Analysis::build(&ReportInput {
        scenario,
        records,
        verdict,
        seed,
        end,
        replay: &replay,
        device: None,
    })
}

fn hand_facts() -> (Analysis, V5Facts) {
    let scenario = hand_scenario();
    let records = hand_trace();
    let end = Duration::from_secs(200);
    let verdict = judge(&scenario, &records, end);
    let a = analyse(&scenario, &records, &verdict, end);
    let v5 = a.v5.clone().expect("a 5.0 scenario has 5.0 facts");
    (a, v5)
}

#[test]
fn each_waiting_will_is_published_cancelled_still_waiting_or_missing() {
    let (_, v5) = hand_facts();
    let outcomes: Vec<(&str, u64, WillOutcome)> =
        v5.will_waits.iter().map(|w| (w.device.as_str(), w.due_us, w.outcome)).collect();
    let s = |s: u64| s * 1_000_000;
    assert_eq!(
        outcomes,
        [
            ("tracker-0", s(40), WillOutcome::Published { at_us: s(40) }),
            ("tracker-1", s(40), WillOutcome::Reconnected { at_us: s(25), clean: false }),
            ("tracker-3", s(80), WillOutcome::NotPublished),
            ("tracker-2", s(215), WillOutcome::Waiting),
        ]
    );
    assert_eq!(v5.will_wait_count, 4);
    assert!(v5.will_waits.iter().all(|w| !w.due_at_session_end && w.delay_s == 30));
}

#[test]
fn an_expired_session_is_listed_with_the_pairs_it_took() {
    let (_, v5) = hand_facts();
    // sub's session waited 20 s offline; tracker-0's and tracker-3's 120 s; w-0's and w-1's
    // ended with their connections.
    let listed: Vec<&str> = v5.session_expiries.iter().map(|s| s.device.as_str()).collect();
    assert_eq!(listed, ["sub", "tracker-0", "tracker-3"]);
    assert_eq!(v5.ended_with_connection, 2);
    let s = &v5.session_expiries[0];
    assert_eq!((s.closed_us, s.ended_us), (70_000_000, 90_000_000));
    assert_eq!(s.next, Some((120_000_000, false)));
    assert_eq!(s.lost_pairs, 1, "pub#3 went with the session");
}

#[test]
fn a_shared_group_shows_each_members_copies_and_the_message_that_moved() {
    let (_, v5) = hand_facts();
    assert_eq!(v5.shared.len(), 1);
    let g = &v5.shared[0];
    assert_eq!(g.filter, "$share/g/t/#");
    let members: Vec<(&str, u64, u64)> =
        g.members.iter().map(|m| (m.device.as_str(), m.copies, m.firsts)).collect();
    assert_eq!(members, [("w-0", 3, 3), ("w-1", 2, 1)]);
    // pub#4 was owed to w-0, connected, with no evidence yet that the broker had its chance.
    assert_eq!((g.pairs, g.delivered), (5, 4));
    assert_eq!(g.undelivered.get("in-flight-at-end"), Some(&1));
    assert_eq!(g.second_copy_count, 1);
    let moved = &g.second_copies[0];
    assert_eq!(moved.message, "pub#2");
    assert_eq!((moved.first.0.as_str(), moved.then.0.as_str()), ("w-0", "w-1"));
    assert!(moved.cause.as_deref().is_some_and(|c| c.starts_with("w-0's session ended at 62")));
    // w-0 was away from 62 s to 90 s; w-1 from 140 s to 160 s.
    assert_eq!(g.members[0].down, [(62_000_000, 90_000_000)]);
    assert_eq!(g.members[1].down, [(140_000_000, 160_000_000)]);
    // pub#5 waited for w-1 or w-0 and was first delivered after w-1's session ended.
    assert_eq!(g.after_leave_count, 1);
    let after = &g.after_leave[0];
    assert_eq!(after.message, "pub#5");
    assert_eq!(after.left, ("w-1".to_owned(), 140_000_000));
    assert_eq!(after.to, ("w-0".to_owned(), 141_000_000));
}

#[test]
fn expired_messages_are_counted_and_listed() {
    let (_, v5) = hand_facts();
    assert_eq!((v5.expiry.messages, v5.expiry.copies), (3, 5));
    let expired: Vec<(&str, &str)> =
        v5.expiry.expired.iter().map(|p| (p.message.as_str(), p.subscriber.as_str())).collect();
    assert_eq!(expired, [("pub#4", "sub")]);
    let longest = v5.expiry.longest_wait.as_ref().unwrap();
    assert_eq!((longest.0.as_str(), longest.1.as_str(), longest.3), ("pub#2", "w-1", 2));
}

#[test]
fn the_hand_written_5_0_report() {
    let (a, _) = hand_facts();
    let md = render_markdown(&a);
    let from = md.find("## MQTT 5.0").expect("summary.md has a 5.0 section");
    let to = md[from..].find("\n## Faults").map_or(md.len(), |i| from + i);
    insta::assert_snapshot!("hand_report5_summary_v5", &md[from..to]);
    let html = render_html(&a);
    for id in ["v5", "will-delay", "session-expiry", "shared", "message-expiry"] {
        assert!(
            html.contains(&format!("<h3 id=\"{id}\""))
                || html.contains(&format!("<h2 id=\"{id}\"")),
            "{id}"
        );
    }
    for id in ["will-delay-lanes", "shared-0"] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "missing {id}");
    }
    assert!(html.contains(r#"<tr class="missing">"#), "tracker-3's missing Will is marked");
    assert!(html.contains(r#"class="will-wait""#), "the group timeline shows the waits");
}

/// 300 Wills waiting at once: the lists keep the first rows and count them all, the chart draws
/// a bounded number of lanes.
#[test]
fn many_waiting_wills_give_bounded_lists() {
    let yaml = with_trackers(300);
    let scenario = parse_scenario(&yaml, Path::new("many.yaml")).unwrap();
    let mut t = Trace::default();
    for i in 0..300 {
        let d = format!("tracker-{i}");
        t.connect(0, &d, false, false).close(10, &d, "transport-lost").will(40, &d);
    }
    let records = t.records();
    let end = Duration::from_secs(200);
    let verdict = judge(&scenario, &records, end);
    let a = analyse(&scenario, &records, &verdict, end);
    let v5 = a.v5.as_ref().unwrap();
    assert_eq!((v5.will_waits.len(), v5.will_wait_count), (MAX_V5_ROWS, 300));
    assert!(v5.lines()[0].ends_with(": 300 (300 published after the delay)"), "{:?}", v5.lines());
    let html = render_html(&a);
    let lanes = html.matches("<rect class=\"ww ").count();
    assert_eq!(lanes, 40, "the chart draws 40 device lanes, the first to end their connection");
    assert!(html.contains("The first 50 of 300: Wills that waited."));
}

/// The hand-written scenario with `n` trackers.
fn with_trackers(n: usize) -> String {
    HAND_YAML.replace(
        "count: 4, client_id: \"tracker-{i}\"",
        &format!("count: {n}, client_id: \"tracker-{{i}}\""),
    )
}

// ----- a simulated 5.0 fleet -----

/// Couriers with a Will Delay, a dispatcher whose session expires while it is away, a shared
/// pool of two workers of which one loses power, positions with a Message Expiry Interval.
const SMALL_FLEET: &str = r#"
name: small-fleet-v5
description: Couriers with a Will Delay, a dispatcher whose session expires while it is away, a shared pool of two workers.
seed: 5
duration: 4m
protocol: "5.0"
broker: { state: durable }
sites:
  - { name: road, link: { latency: 30ms } }
  - { name: hq, link: { latency: 2ms } }
devices:
  - { group: courier, site: road, count: 3, client_id: "courier-{i}", clean_session: false,
      keepalive: 10s, session_expiry: 5m, reconnect: { initial: 1s, max: 5s },
      will: { topic: "fleet/{i}/status", payload: "gone", qos: 1, delay: 30s },
      publish: [ { topic: "fleet/{i}/position", qos: 1, every: 5s, expiry: 20s } ] }
  - { group: dispatcher, site: hq, count: 1, client_id: "dispatcher", clean_session: false,
      keepalive: 10s, session_expiry: 20s, reconnect: { initial: 1s, max: 5s },
      subscribe: [ { filter: "fleet/+/position", qos: 1 } ] }
  - { group: worker, site: hq, count: 2, client_id: "worker-{i}", keepalive: 10s,
      reconnect: { initial: 1s, max: 5s },
      subscribe: [ { filter: "$share/pool/fleet/+/position", qos: 1 } ] }
  - { group: monitor, site: hq, count: 1, client_id: "monitor", keepalive: 10s,
      subscribe: [ { filter: "fleet/+/status", qos: 1 } ] }
faults:
  - { kind: power-loss, target: { device: courier-0 }, at: 30s, for: 2m }
  - { kind: disconnect, reason: with-will, target: { device: courier-2 }, at: 60s, for: 10s }
  - { kind: power-loss, target: { device: dispatcher }, at: 90s, for: 1m }
  - { kind: power-loss, target: { device: worker-0 }, at: 100s, for: 40s }
expect:
  qos1_at_least_once: true
  wills: true
  sessions: true
  shared_subscriptions: true
  message_expiry: true
"#;

struct Fleet {
    scenario: Scenario,
    records: Vec<Record>,
    verdict: Verdict,
    end: Duration,
}

fn small_fleet() -> Fleet {
    let scenario = parse_scenario(SMALL_FLEET, Path::new("small-fleet-v5.yaml")).unwrap();
    let end = scenario.duration.get();
    let mut trace = Collect::default();
    run(&scenario, RunOptions { trace: vec![&mut trace], ..RunOptions::default() }).unwrap();
    let verdict = judge(&scenario, &trace.0, end);
    Fleet { scenario, records: trace.0, verdict, end }
}

#[test]
fn the_small_fleet_report_shows_its_5_0_facts() {
    let f = small_fleet();
    assert!(!f.verdict.failed(), "{}", f.verdict.to_text());
    let a = analyse(&f.scenario, &f.records, &f.verdict, f.end);
    let v5 = a.v5.as_ref().unwrap();
    let courier = |d: &str| v5.will_waits.iter().find(|w| w.device == d).map(|w| w.outcome);
    assert!(matches!(courier("courier-0"), Some(WillOutcome::Published { .. })), "{v5:#?}");
    assert!(
        matches!(courier("courier-2"), Some(WillOutcome::Reconnected { clean: false, .. })),
        "{v5:#?}"
    );
    assert!(v5.session_expiries.iter().any(|s| s.device == "dispatcher"), "{v5:#?}");
    let pool = &v5.shared[0];
    assert_eq!(pool.members.len(), 2);
    assert!(pool.members.iter().all(|m| m.copies > 0));
    insta::assert_snapshot!("small_fleet_v5_summary_md", render_markdown(&a));
}

#[test]
fn a_3_1_1_report_has_no_5_0_section() {
    let yaml = SMALL_FLEET
        .replace("protocol: \"5.0\"", "protocol: \"3.1.1\"")
        .replace(" session_expiry: 5m,", "")
        .replace(" session_expiry: 20s,", "")
        .replace(", delay: 30s", "")
        .replace(", expiry: 20s", "")
        .replace("$share/pool/", "")
        .replace(", reason: with-will", "");
    let scenario = parse_scenario(&yaml, Path::new("small-fleet-311.yaml")).unwrap();
    let records = vec![Record::new(
        Duration::ZERO,
        None,
        Some("monitor"),
        Event::BrokerConnected { conn: 1, clean_session: true, session_present: false },
    )];
    let end = scenario.duration.get();
    let verdict = judge(&scenario, &records, end);
    let a = analyse(&scenario, &records, &verdict, end);
    assert!(a.v5.is_none());
    assert!(!render_html(&a).contains("id=\"v5\""));
    assert!(!render_markdown(&a).contains("MQTT 5.0"));
}

// ----- headless Chromium -----

/// The 5.0 page in headless Chromium: no console message, and the 5.0 plots in the DOM.
#[test]
fn the_small_fleet_report_renders_in_headless_chromium() {
    let f = small_fleet();
    let input = ReportInput {
        scenario: &f.scenario,
        records: &f.records,
        verdict: &f.verdict,
        seed: 5,
        end: f.end,
        replay: "mqtt-sim run small-fleet-v5.yaml --seed 5",
        device: None,
    };
    let dom = report_in_chromium(&input, "chromium-v5").dom;
    for id in ["fault-timeline", "will-delay-lanes", "shared-0"] {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "no <svg id={id}> in the DOM");
    }
    assert!(dom.contains(r#"class="ww published""#), "a published Will's wait is drawn");
    assert!(dom.contains(r#"class="copies""#), "the members' copies are drawn");
}
