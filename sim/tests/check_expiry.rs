//! The MQTT 5.0 expiry and retain-handling rules on hand-written traces: for each rule a trace
//! that keeps it and one that breaks it, and snapshots of the violation reports. Times are in
//! milliseconds.

mod common;

use std::path::Path;

use common::{Delivery, Message};
use mqttsim_sim::check::{Guarantee, LossReason, Status, Verdict};
use mqttsim_sim::scenario::{Scenario, parse_scenario};
use mqttsim_sim::trace::Event;

/// `pub` publishes QoS 1 readings on `t/a` that expire after 30 s and a retained status on
/// `r/a` that expires after 10 s; `sub` has a persistent session on `t/#`; `panel` subscribes
/// to `r/#` with Retain Handling 1, `alarm` with 2, `viewer` with 0.
fn scenario(expect: &str) -> Scenario {
    let yaml = format!(
        r#"
name: hand-expiry
seed: 1
duration: 300s
protocol: "5.0"
sites: [ {{ name: s }} ]
devices:
  - {{ group: p, site: s, count: 1, client_id: "pub",
      publish: [ {{ topic: t/a, qos: 1, every: 1h, expiry: 30s }},
                 {{ topic: r/a, qos: 1, retain: true, every: 1h, expiry: 10s }} ] }}
  - {{ group: q, site: s, count: 1, client_id: "sub", clean_session: false, session_expiry: 1h,
      subscribe: [ {{ filter: "t/#", qos: 1 }} ] }}
  - {{ group: h, site: s, count: 1, client_id: "panel", clean_session: false, session_expiry: 1h,
      subscribe: [ {{ filter: "r/#", qos: 1, retain_handling: send-if-new, resubscribe: on-connect }} ] }}
  - {{ group: n, site: s, count: 1, client_id: "alarm",
      subscribe: [ {{ filter: "r/#", qos: 1, retain_handling: never }} ] }}
  - {{ group: v, site: s, count: 1, client_id: "viewer", subscribe: [ {{ filter: "r/#", qos: 1 }} ] }}
expect: {expect}
"#
    );
    parse_scenario(&yaml, Path::new("hand-expiry.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The shared builder, in milliseconds, with this scenario's sessions: `sub` and `panel` keep
/// theirs.
struct Trace(common::Trace);

impl Default for Trace {
    fn default() -> Trace {
        Trace(common::Trace::in_ms())
    }
}

impl Trace {
    fn connect(&mut self, ms: u64, device: &str, present: bool) -> &mut Self {
        let clean = !matches!(device, "sub" | "panel");
        self.0.connect(ms, device, clean, present);
        self
    }

    fn disconnect(&mut self, ms: u64, device: &str) -> &mut Self {
        self.0.close(ms, device, "client-disconnect");
        self
    }

    fn subscribe(&mut self, ms: u64, device: &str, filter: &str) -> &mut Self {
        self.0.subscribe(ms, device, filter);
        self
    }

    /// `pub` publishes message `n` on `topic` with `expiry` seconds; accepted 1 ms later.
    fn publish(&mut self, ms: u64, n: u16, topic: &str, retain: bool, expiry: u32) -> &mut Self {
        let m = Message { retain, expiry: Some(expiry), ..Message::new(n, topic) };
        self.0.publish(ms, &m).accepted(ms + 1, &m, 1);
        self
    }

    /// `device` receives `pub#n` carrying `expiry` seconds.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        ms: u64,
        device: &str,
        n: u16,
        topic: &str,
        dup: bool,
        retain: bool,
        expiry: Option<u32>,
    ) -> &mut Self {
        self.0.deliver(ms, device, &Delivery { dup, retain, expiry, ..Delivery::new(n, topic) });
        self
    }

    fn dropped_expired(&mut self, ms: u64, device: &str, n: u16, topic: &str) -> &mut Self {
        let event = Event::BrokerDropped {
            msg: Some(common::msg(n)),
            topic: topic.into(),
            reason: "expired".into(),
        };
        self.0.push(ms, device, event);
        self
    }

    fn verdict(&self, expect: &str) -> Verdict {
        common::judge_300s(&scenario(expect), &self.0.records)
    }
}

fn assert_status(v: &Verdict, g: Guarantee, status: &Status) {
    assert_eq!(&v.outcome(g).status, status, "{}", v.to_text());
}

fn assert_fail(v: &Verdict, g: Guarantee, count: u64) {
    assert_status(v, g, &Status::Fail);
    assert_eq!(v.outcome(g).violation_count, count, "{}", v.to_text());
}

const EXPECT: &str = "{ qos1_at_least_once: true, retained: true, message_expiry: true }";

/// `sub` is away from 5 s to 60 s; `pub#1` is accepted at 10 s with 30 s to live.
fn away() -> Trace {
    let mut t = Trace::default();
    t.connect(0, "pub", false).connect(0, "sub", false).subscribe(1, "sub", "t/#");
    t.disconnect(5_000, "sub").publish(10_000, 1, "t/a", false, 30);
    t.connect(60_000, "sub", true);
    t
}

// ----- never delivered after expiry [MQTT-3.3.2-5] -----

#[test]
fn a_queued_message_that_expired_is_discarded_not_delivered() {
    // Keeps the rule: the broker discards it when the session is back.
    let mut t = away();
    t.dropped_expired(60_000, "sub", 1, "t/a");
    let v = t.verdict(EXPECT);
    assert_status(&v, Guarantee::MessageExpiry, &Status::Pass);
    assert_status(&v, Guarantee::Qos1AtLeastOnce, &Status::Pass);
    assert_eq!(v.undelivered.len(), 1, "{}", v.to_text());
    assert_eq!(v.undelivered[0].reason, LossReason::Expired, "{}", v.to_text());

    // Breaks it: delivered 50 s after its acceptance, the session offline all along.
    let mut t = away();
    t.deliver(60_010, "sub", 1, "t/a", false, false, Some(1));
    let v = t.verdict(EXPECT);
    assert_fail(&v, Guarantee::MessageExpiry, 1);
    insta::assert_snapshot!("expiry_delivered_after_expiry", v.to_text());
}

#[test]
fn a_copy_whose_delivery_started_in_time_may_be_resent_after_expiry() {
    // `sub` is connected when `pub#1` is accepted; the copy is lost with the connection and
    // resent with DUP=1 on the next one, after the expiry: legal, the delivery had started.
    let mut t = Trace::default();
    t.connect(0, "pub", false).connect(0, "sub", false).subscribe(1, "sub", "t/#");
    t.publish(10_000, 1, "t/a", false, 30).disconnect(10_500, "sub");
    t.connect(60_000, "sub", true).deliver(60_010, "sub", 1, "t/a", true, false, Some(1));
    let v = t.verdict(EXPECT);
    assert_status(&v, Guarantee::MessageExpiry, &Status::Pass);
}

#[test]
fn a_message_whose_expiry_ran_out_before_any_chance_is_expired_not_lost() {
    // No drop reported: the subscriber was away until after the expiry, then stayed settled.
    let v = away().verdict(EXPECT);
    assert_status(&v, Guarantee::Qos1AtLeastOnce, &Status::Pass);
    assert_eq!(v.undelivered[0].reason, LossReason::Expired, "{}", v.to_text());
    // A message that had not expired when the broker had its chance is lost.
    let mut t = Trace::default();
    t.connect(0, "pub", false).connect(0, "sub", false).subscribe(1, "sub", "t/#");
    t.publish(10_000, 1, "t/a", false, 200);
    let v = t.verdict(EXPECT);
    assert_fail(&v, Guarantee::Qos1AtLeastOnce, 1);
}

// ----- the forwarded interval counts down [MQTT-3.3.2-6] -----

#[test]
fn the_interval_forwarded_is_reduced_by_the_wait() {
    let copy = |left: u32| {
        let mut t = Trace::default();
        t.connect(0, "pub", false).connect(0, "sub", false).subscribe(1, "sub", "t/#");
        t.disconnect(5_000, "sub").publish(10_000, 1, "t/a", false, 30);
        t.connect(20_000, "sub", true).deliver(20_010, "sub", 1, "t/a", false, false, Some(left));
        t.verdict(EXPECT)
    };
    // 10 s at the broker: at most 21 s left (whole seconds, rounded in its favour).
    assert_status(&copy(20), Guarantee::MessageExpiry, &Status::Pass);
    let v = copy(30);
    assert_fail(&v, Guarantee::MessageExpiry, 1);
    insta::assert_snapshot!("expiry_not_decremented", v.to_text());
}

// ----- retained messages expire too -----

#[test]
fn an_expired_retained_message_is_not_sent_on_subscription() {
    let base = || {
        let mut t = Trace::default();
        t.connect(0, "pub", false).publish(1_000, 1, "r/a", true, 10);
        t.connect(5_000, "viewer", false).subscribe(5_001, "viewer", "r/#");
        // 4 s at the broker: at most 7 s left.
        t.deliver(5_010, "viewer", 1, "r/a", false, true, Some(6));
        t.connect(30_000, "alarm", false).connect(30_000, "panel", false);
        t.subscribe(30_001, "panel", "r/#");
        t
    };
    // Keeps the rule: nothing for the panel's new subscription at 30 s, and nothing is owed.
    let v = base().verdict(EXPECT);
    assert_status(&v, Guarantee::MessageExpiry, &Status::Pass);
    assert_status(&v, Guarantee::Retained, &Status::Pass);
    // Breaks it: the retained message, 29 s old, sent to it.
    let mut t = base();
    t.deliver(30_010, "panel", 1, "r/a", false, true, Some(1));
    let v = t.verdict(EXPECT);
    assert_fail(&v, Guarantee::MessageExpiry, 1);
    insta::assert_snapshot!("expiry_retained_after_expiry", v.to_text());
}

// ----- Retain Handling [MQTT-3.3.1-10, MQTT-3.3.1-11] -----

#[test]
fn retain_handling_1_and_2_are_kept_and_broken() {
    let base = || {
        let mut t = Trace::default();
        t.connect(0, "pub", false).publish(1_000, 1, "r/a", true, 100);
        t.connect(2_000, "panel", false).subscribe(2_001, "panel", "r/#");
        t.deliver(2_010, "panel", 1, "r/a", false, true, Some(99));
        // The panel subscribes again on its session: Retain Handling 1 sends nothing.
        t.subscribe(3_001, "panel", "r/#");
        t.connect(4_000, "alarm", false).subscribe(4_001, "alarm", "r/#");
        t
    };
    let v = base().verdict(EXPECT);
    assert_status(&v, Guarantee::Retained, &Status::Pass);
    let mut t = base();
    t.deliver(3_010, "panel", 1, "r/a", false, true, Some(98));
    t.deliver(4_010, "alarm", 1, "r/a", false, true, Some(97));
    let v = t.verdict(EXPECT);
    assert_fail(&v, Guarantee::Retained, 2);
    insta::assert_snapshot!("retain_handling_ignored", v.to_text());
}
