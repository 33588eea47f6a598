//! The MQTT 5.0 Retain As Published rule on hand-written traces: for each case a trace that
//! keeps it and one that breaks it, and snapshots of the violation reports. Times are in
//! milliseconds.

mod common;

use std::path::Path;

use common::{Delivery, Message};
use mqttsim_sim::check::{Guarantee, Status, Verdict};
use mqttsim_sim::scenario::{Scenario, parse_scenario};

/// `pub` publishes a retained QoS 1 state on `s/a` and plain QoS 1 readings on `f/a`; `mirror`
/// subscribes to both with Retain As Published (persistent, `s/#` again on every connection),
/// `screen` without it, `member` to `$share/m/s/#` with it.
fn scenario(expect: &str) -> Scenario {
    let yaml = format!(
        r#"
name: hand-retain-as-published
seed: 1
duration: 300s
protocol: "5.0"
sites: [ {{ name: s }} ]
devices:
  - {{ group: p, site: s, count: 1, client_id: "pub",
      publish: [ {{ topic: s/a, qos: 1, retain: true, every: 1h }},
                 {{ topic: f/a, qos: 1, every: 1h }} ] }}
  - {{ group: m, site: s, count: 1, client_id: "mirror", clean_session: false, session_expiry: 1h,
      subscribe: [ {{ filter: "s/#", qos: 1, retain_as_published: true, resubscribe: on-connect }},
                   {{ filter: "f/#", qos: 1, retain_as_published: true }} ] }}
  - {{ group: v, site: s, count: 1, client_id: "screen", clean_session: false, session_expiry: 1h,
      subscribe: [ {{ filter: "s/#", qos: 1, resubscribe: on-connect }}, {{ filter: "f/#", qos: 1 }} ] }}
  - {{ group: g, site: s, count: 1, client_id: "member",
      subscribe: [ {{ filter: "$share/m/s/#", qos: 1, retain_as_published: true }} ] }}
expect: {expect}
"#
    );
    parse_scenario(&yaml, Path::new("hand-retain.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The shared builder, in milliseconds, with this scenario's sessions (`mirror` and `screen`
/// keep theirs) and the broker's own packet identifiers towards subscribers.
struct Trace {
    b: common::Trace,
    /// The broker's last packet identifier towards a subscriber.
    pid: u16,
}

impl Default for Trace {
    fn default() -> Trace {
        Trace { b: common::Trace::in_ms(), pid: 0 }
    }
}

impl Trace {
    fn connect(&mut self, ms: u64, device: &str, present: bool) -> &mut Self {
        let clean = !matches!(device, "mirror" | "screen");
        self.b.connect(ms, device, clean, present);
        self
    }

    fn disconnect(&mut self, ms: u64, device: &str) -> &mut Self {
        self.b.close(ms, device, "client-disconnect");
        self
    }

    fn subscribe(&mut self, ms: u64, device: &str, filter: &str) -> &mut Self {
        self.b.subscribe(ms, device, filter);
        self
    }

    /// Everyone connected and subscribed by 1 ms.
    fn everyone() -> Trace {
        let mut t = Trace::default();
        t.connect(0, "pub", false);
        t.connect(0, "mirror", false).subscribe(1, "mirror", "s/#").subscribe(1, "mirror", "f/#");
        t.connect(0, "screen", false).subscribe(1, "screen", "s/#").subscribe(1, "screen", "f/#");
        t.connect(0, "member", false).subscribe(1, "member", "$share/m/s/#");
        t
    }

    /// `pub` publishes message `n` on `topic`; accepted 1 ms later.
    fn publish(&mut self, ms: u64, n: u16, topic: &str, retain: bool) -> &mut Self {
        let m = Message { retain, ..Message::new(n, topic) };
        self.b.publish(ms, &m).accepted(ms + 1, &m, 1);
        self
    }

    /// `device` receives `pub#n` with RETAIN `retain`, with a packet identifier of its own.
    fn deliver(&mut self, ms: u64, device: &str, n: u16, topic: &str, retain: bool) -> &mut Self {
        self.pid += 1;
        let pid = self.pid;
        self.b.deliver(ms, device, &Delivery { pid, retain, ..Delivery::new(n, topic) });
        self
    }

    fn verdict(&self) -> Verdict {
        common::judge_300s(&scenario(EXPECT), &self.b.records)
    }
}

const EXPECT: &str = "{ qos1_at_least_once: true, retained: true, retain_as_published: true }";

fn assert_status(v: &Verdict, g: Guarantee, status: &Status) {
    assert_eq!(&v.outcome(g).status, status, "{}", v.to_text());
}

fn assert_fail(v: &Verdict, g: Guarantee, count: u64) {
    assert_status(v, g, &Status::Fail);
    assert_eq!(v.outcome(g).violation_count, count, "{}", v.to_text());
}

/// `pub#1`, a retained state, and `pub#2`, a reading, forwarded to everyone with these flags
/// (mirror's state, screen's state, member's state, mirror's reading).
fn forwarded(flags: [bool; 4]) -> Verdict {
    let mut t = Trace::everyone();
    t.publish(10_000, 1, "s/a", true).publish(11_000, 2, "f/a", false);
    t.deliver(10_010, "mirror", 1, "s/a", flags[0]);
    t.deliver(10_010, "screen", 1, "s/a", flags[1]);
    t.deliver(10_010, "member", 1, "s/a", flags[2]);
    t.deliver(11_010, "mirror", 2, "f/a", flags[3]);
    t.deliver(11_010, "screen", 2, "f/a", false);
    t.verdict()
}

// ----- [MQTT-3.3.1-12] and [MQTT-3.3.1-13] on live forwards -----

#[test]
fn a_forwarded_copy_keeps_its_flag_with_the_option_and_clears_it_without() {
    let v = forwarded([true, false, true, false]);
    for g in [Guarantee::RetainAsPublished, Guarantee::Qos1AtLeastOnce] {
        assert_status(&v, g, &Status::Pass);
    }
    // The option ignored: the mirror and the shared member get the state with RETAIN=0.
    let v = forwarded([false, false, false, false]);
    assert_fail(&v, Guarantee::RetainAsPublished, 2);
    assert_status(&v, Guarantee::Qos1AtLeastOnce, &Status::Pass);
    insta::assert_snapshot!("retain_as_published_ignored", v.to_text());
}

#[test]
fn a_forwarded_copy_with_a_flag_it_was_not_published_with_breaks_the_rule() {
    // The screen gets the state with RETAIN=1 on a live forward, and the mirror a reading
    // published with RETAIN=0 with RETAIN=1: each a forwarded copy, not a retained message.
    let v = forwarded([true, true, true, true]);
    assert_fail(&v, Guarantee::RetainAsPublished, 2);
    // Not taken for retained messages: no subscription was made after `pub#1`.
    let retained = &v.outcome(Guarantee::Retained).status;
    assert!(matches!(retained, Status::NotExercised { .. }), "{}", v.to_text());
    assert_status(&v, Guarantee::Qos1AtLeastOnce, &Status::Pass);
    insta::assert_snapshot!("retain_flag_not_as_published", v.to_text());
}

// ----- a queued forward and the retained copy on resubscription -----

/// The mirror and the screen are away from 5 s to 20 s; `pub#1`, retained, is accepted at
/// 10 s; both come back with their sessions and subscribe to `s/#` again.
fn away_and_back() -> Trace {
    let mut t = Trace::everyone();
    t.disconnect(5_000, "mirror").disconnect(5_000, "screen");
    t.publish(10_000, 1, "s/a", true);
    t.connect(20_000, "mirror", true).subscribe(20_001, "mirror", "s/#");
    t.connect(20_000, "screen", true).subscribe(20_001, "screen", "s/#");
    t.deliver(10_010, "member", 1, "s/a", true);
    t
}

#[test]
fn a_queued_forward_and_the_retained_copy_on_resubscription_are_both_owed() {
    // Both copies with RETAIN=1 for the mirror (alike on the wire), RETAIN=0 then 1 for the
    // screen.
    let mut t = away_and_back();
    t.deliver(20_010, "mirror", 1, "s/a", true).deliver(20_011, "mirror", 1, "s/a", true);
    t.deliver(20_010, "screen", 1, "s/a", false).deliver(20_011, "screen", 1, "s/a", true);
    let v = t.verdict();
    for g in [Guarantee::RetainAsPublished, Guarantee::Retained, Guarantee::Qos1AtLeastOnce] {
        assert_status(&v, g, &Status::Pass);
    }
    // One copy for the mirror: one of the two owed is missing, whichever it stands for.
    let mut t = away_and_back();
    t.deliver(20_010, "mirror", 1, "s/a", true);
    t.deliver(20_010, "screen", 1, "s/a", false).deliver(20_011, "screen", 1, "s/a", true);
    let v = t.verdict();
    assert_status(&v, Guarantee::RetainAsPublished, &Status::Pass);
    assert_eq!(
        v.outcome(Guarantee::Retained).violation_count
            + v.outcome(Guarantee::Qos1AtLeastOnce).violation_count,
        1,
        "{}",
        v.to_text()
    );
}

#[test]
fn nothing_retained_forwarded_is_not_exercised() {
    let mut t = Trace::everyone();
    t.publish(11_000, 2, "f/a", false);
    t.deliver(11_010, "mirror", 2, "f/a", false).deliver(11_010, "screen", 2, "f/a", false);
    let v = t.verdict();
    let status = &v.outcome(Guarantee::RetainAsPublished).status;
    assert!(matches!(status, Status::NotExercised { .. }), "{}", v.to_text());
}
