//! The MQTT 5.0 Maximum QoS rule on hand-written traces: a trace that keeps it and one that
//! breaks it, for the client's side and the server's, with snapshots of the violation
//! reports; and the QoS a message is judged at when its publisher was told a Maximum QoS.
//! Times are in milliseconds.

mod common;

use std::path::Path;

use common::{Delivery, Message};
use mqttsim_sim::check::{Guarantee, Status, Verdict};
use mqttsim_sim::scenario::{Scenario, parse_scenario};
use mqttsim_sim::trace::Event;

/// `pub` publishes alarms at QoS 2 on `a/x` to a broker whose Maximum QoS is 1; `sub`
/// subscribes to `a/#` at QoS 2.
fn scenario() -> Scenario {
    let yaml = r#"
name: hand-maximum-qos
seed: 1
duration: 300s
protocol: "5.0"
broker: { maximum_qos: 1 }
sites: [ { name: s } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub", publish: [ { topic: a/x, qos: 2, every: 1h } ] }
  - { group: q, site: s, count: 1, client_id: "sub", subscribe: [ { filter: "a/#", qos: 2 } ] }
expect: { qos1_at_least_once: true, maximum_qos: true, expected_loss: { qos2: "= 0%" } }
"#;
    parse_scenario(yaml, Path::new("hand-maximum-qos.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The shared builder, in milliseconds, on the topic `a/x`.
struct Trace(common::Trace);

impl Default for Trace {
    fn default() -> Trace {
        Trace(common::Trace::in_ms())
    }
}

const TOPIC: &str = "a/x";

impl Trace {
    /// `device` connects; its CONNACK announces `maximum_qos` (`None`: no Maximum QoS).
    fn connect(&mut self, ms: u64, device: &str, maximum_qos: Option<u8>) -> &mut Self {
        let limits = Some(common::limits(maximum_qos));
        self.0.connect(ms, device, true, false).connected(
            ms + 1,
            device,
            false,
            (None, None),
            limits,
        );
        self
    }

    /// `pub` publishes `pub#n` (QoS 2) and sends it at `qos`.
    fn publish(&mut self, ms: u64, n: u16, qos: u8) -> &mut Self {
        self.0.app_publish(ms, &Message { qos: 2, ..Message::new(n, TOPIC) }).sent(ms, n, qos);
        self
    }

    /// The broker accepts `pub#n` at `qos` and `sub` gets it.
    fn deliver(&mut self, ms: u64, n: u16, qos: u8) -> &mut Self {
        self.0.accepted(ms, &Message::new(n, TOPIC), qos).acked(ms + 5, n, qos);
        self.0.deliver(ms + 5, "sub", &Delivery { qos, ..Delivery::new(n, TOPIC) });
        self
    }

    fn server_disconnect(&mut self, ms: u64, device: &str, code: u8) -> &mut Self {
        let reason = format!("server-disconnect 0x{code:02X}");
        self.0.push(ms, device, Event::Closed { reason, code: Some(code) });
        self
    }

    fn verdict(&self) -> Verdict {
        common::judge_300s(&scenario(), &self.0.records)
    }
}

fn assert_status(v: &Verdict, g: Guarantee, status: &Status) {
    assert_eq!(&v.outcome(g).status, status, "{}", v.to_text());
}

fn assert_fail(v: &Verdict, g: Guarantee, count: u64) {
    assert_status(v, g, &Status::Fail);
    assert_eq!(v.outcome(g).violation_count, count, "{}", v.to_text());
}

/// Both devices connected to a broker announcing Maximum QoS 1; `sub` granted QoS 1.
fn told_one() -> Trace {
    let mut t = Trace::default();
    t.connect(0, "pub", Some(1)).connect(0, "sub", Some(1));
    t.0.subscribe(2, "sub", "a/#");
    t
}

// ----- the client never publishes above the Maximum QoS [MQTT-3.2.2-11] -----

#[test]
fn a_client_told_maximum_qos_1_publishes_its_qos_2_message_at_1() {
    // Keeps the rule: sent at QoS 1, delivered at QoS 1, judged at effective QoS 1.
    let mut t = told_one();
    t.publish(1_000, 1, 1).deliver(1_050, 1, 1);
    let v = t.verdict();
    assert_status(&v, Guarantee::MaximumQos, &Status::Pass);
    assert_status(&v, Guarantee::Qos1AtLeastOnce, &Status::Pass);
    // Breaks it: sent at QoS 2 all the same.
    let mut t = told_one();
    t.publish(1_000, 1, 2);
    let v = t.verdict();
    assert_fail(&v, Guarantee::MaximumQos, 1);
    insta::assert_snapshot!("maximum_qos_exceeded_by_client", v.to_text());
}

// ----- a server that does not support a QoS says so [MQTT-3.2.2-9] -----

#[test]
fn a_server_refusing_a_qos_it_did_not_rule_out_breaks_the_rule() {
    // Keeps the rule: the CONNACK announced Maximum QoS 1 and the device kept to it.
    let mut t = told_one();
    t.publish(1_000, 1, 1).deliver(1_050, 1, 1);
    assert_status(&t.verdict(), Guarantee::MaximumQos, &Status::Pass);
    // Breaks it: no Maximum QoS announced, the QoS 2 PUBLISH answered with DISCONNECT 0x9B.
    let mut t = Trace::default();
    t.connect(0, "pub", None).connect(0, "sub", None);
    t.publish(1_000, 1, 2).server_disconnect(1_050, "pub", 0x9B);
    let v = t.verdict();
    assert_fail(&v, Guarantee::MaximumQos, 1);
    insta::assert_snapshot!("maximum_qos_not_announced", v.to_text());
}

// ----- pairs are judged at the QoS the message could go with -----

#[test]
fn a_message_never_accepted_counts_at_the_qos_it_was_sent_with() {
    // `pub#1`, published at QoS 2 and sent at QoS 1, is still unacknowledged at the end: a
    // QoS 1 pair (in flight), not a QoS 2 one that the bound on QoS 2 would count.
    let mut t = told_one();
    t.publish(1_000, 1, 1);
    let v = t.verdict();
    assert_eq!(v.undelivered.len(), 1, "{}", v.to_text());
    assert_eq!(v.undelivered[0].qos, 1, "{}", v.to_text());
    let status = &v.outcome(Guarantee::ExpectedLoss).status;
    assert!(!matches!(status, Status::Fail), "{}", v.to_text());
}

#[test]
fn nothing_published_under_a_maximum_qos_is_not_exercised() {
    let mut t = Trace::default();
    t.connect(0, "pub", None).connect(0, "sub", None);
    let v = t.verdict();
    let status = &v.outcome(Guarantee::MaximumQos).status;
    assert!(matches!(status, Status::NotExercised { .. }), "{}", v.to_text());
}
