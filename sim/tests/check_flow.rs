//! The MQTT 5.0 rules on hand-written traces: for each a trace that keeps it and one that breaks
//! it, with snapshots of the violation reports (Receive Maximum, Maximum Packet Size, topic
//! aliases, message properties, request/response).

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::check::{CheckOptions, Guarantee, Status, Verdict, check, parse_jsonl};
use mqttsim_sim::scenario::{Scenario, parse_scenario};

/// `pub` publishes requests on `t/a` with topic aliases and wants answers on `r/pub`; `sub`
/// (Receive Maximum 2, Maximum Packet Size 1024, no topic alias) subscribes to `t/#`; `svc`
/// answers requests on `t/#`.
fn scenario(expect: &str) -> Scenario {
    let yaml = format!(
        r#"
name: hand5
seed: 1
duration: 300s
protocol: "5.0"
sites: [ {{ name: s }} ]
devices:
  - {{ group: p, site: s, count: 1, client_id: "pub", topic_aliases: 1,
      publish: [ {{ topic: t/a, qos: 1, every: 1h, request: {{ response_topic: r/pub }} }} ],
      subscribe: [ {{ filter: r/pub, qos: 1 }} ] }}
  - {{ group: q, site: s, count: 1, client_id: "sub", receive_maximum: 2,
      maximum_packet_size: 1024, subscribe: [ {{ filter: "t/#", qos: 2 }} ] }}
  - {{ group: v, site: s, count: 1, client_id: "svc", respond: {{ to: "t/#", qos: 1 }} }}
expect: {expect}
"#
    );
    parse_scenario(&yaml, Path::new("hand5.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// A trace written line by line, in JSON Lines.
#[derive(Default)]
struct T(String);

impl T {
    fn line(&mut self, ms: u64, device: &str, dir: &str, event: &str) -> &mut Self {
        let t = ms * 1000;
        self.0 += &format!("{{\"t_us\":{t},\"device\":\"{device}\",\"dir\":\"{dir}\",{event}}}\n");
        self
    }

    /// `device` connects; CONNACK follows, with what the device announced.
    fn connect(&mut self, ms: u64, device: &str, rm: u16, mps: u32, tam: u16) -> &mut Self {
        self.line(ms, device, "conn", r#""ev":"connect_attempt","attempt":1"#);
        self.line(
            ms,
            device,
            "broker",
            r#""ev":"broker_connected","conn":1,"clean_session":true,"session_present":false"#,
        );
        self.line(
            ms,
            device,
            "conn",
            &format!(
                r#""ev":"connected","session_present":false,"limits":{{"receive_maximum":{rm},"maximum_packet_size":{mps},"topic_alias_maximum":{tam},"server_receive_maximum":1000,"server_maximum_packet_size":1048576,"server_topic_alias_maximum":10}}"#
            ),
        )
    }

    fn subscribe(&mut self, ms: u64, device: &str, filter: &str, q: u8) -> &mut Self {
        let event = format!(r#""ev":"broker_subscribed","filter":"{filter}","granted":{q}"#);
        self.line(ms, device, "broker", &event)
    }

    /// `device` publishes `msg` on `topic` with `props` (JSON, or empty), accepted at once.
    fn publish(&mut self, ms: u64, device: &str, msg: &str, topic: &str, props: &str) -> &mut Self {
        let props = if props.is_empty() { String::new() } else { format!(r#","props":{props}"#) };
        self.line(
            ms,
            device,
            "app",
            &format!(
                r#""ev":"app_publish","msg":"{msg}","topic":"{topic}","qos":1,"retain":false,"size":32{props}"#
            ),
        );
        self.line(
            ms,
            device,
            "up",
            &format!(r#""ev":"publish_sent","msg":"{msg}","pid":1,"qos":1,"dup":false"#),
        );
        self.line(
            ms + 1,
            device,
            "broker",
            &format!(
                r#""ev":"broker_accepted","msg":"{msg}","topic":"{topic}","pid":1,"qos":1,"retain":false"#
            ),
        )
    }

    /// `device` receives `msg` on `topic` with `props` (JSON, or empty).
    fn deliver(
        &mut self,
        ms: u64,
        device: &str,
        msg: &str,
        topic: &str,
        q: u8,
        props: &str,
    ) -> &mut Self {
        let props = if props.is_empty() { String::new() } else { format!(r#","props":{props}"#) };
        self.line(
            ms,
            device,
            "down",
            &format!(
                r#""ev":"delivered","msg":"{msg}","topic":"{topic}","qos":{q},"pid":1,"dup":false,"retain":false{props}"#
            ),
        )
    }

    /// A packet `device` read (`down`) or wrote (`up`).
    fn packet(&mut self, ms: u64, device: &str, dir: &str, packet: &str, extra: &str) -> &mut Self {
        let ev = if dir == "up" { "packet_sent" } else { "packet_received" };
        self.line(ms, device, dir, &format!(r#""ev":"{ev}","packet":"{packet}"{extra}"#))
    }

    fn closed(&mut self, ms: u64, device: &str, reason: &str, code: u8) -> &mut Self {
        let event = format!(r#""ev":"closed","reason":"{reason}","code":{code}"#);
        self.line(ms, device, "conn", &event)
    }

    fn verdict(&self, expect: &str) -> Verdict {
        let records = parse_jsonl(&self.0).unwrap_or_else(|e| panic!("{e}"));
        let options = CheckOptions { end: Duration::from_secs(300), ..CheckOptions::default() };
        check(&scenario(expect), &records, &options)
    }
}

/// One guarantee's outcome as a report: its status, notes and violations.
fn report(v: &Verdict, g: Guarantee) -> String {
    let o = v.outcome(g);
    let mut out = format!("{}: {:?}\n", g.name(), o.status);
    for note in &o.notes {
        out += &format!("  note: {note}\n");
    }
    for violation in &o.violations {
        out += &format!("{violation}");
    }
    out
}

fn assert_pass(v: &Verdict, g: Guarantee) {
    assert_eq!(v.outcome(g).status, Status::Pass, "{}", report(v, g));
}

fn assert_fail(v: &Verdict, g: Guarantee) {
    assert_eq!(v.outcome(g).status, Status::Fail, "{}", report(v, g));
}

/// `sub` reads QoS 1 PUBLISH packets 1 and 2, answers 1, reads 3: never more than its
/// Receive Maximum of 2 open.
fn within_receive_maximum() -> T {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .packet(10, "sub", "down", "PUBLISH", r#","pid":1,"qos":1,"size":60"#)
        .packet(11, "sub", "down", "PUBLISH", r#","pid":2,"qos":1,"size":60"#)
        .packet(12, "sub", "up", "PUBACK", r#","pid":1"#)
        .packet(20, "sub", "down", "PUBLISH", r#","pid":3,"qos":2,"size":60"#)
        .packet(21, "sub", "up", "PUBACK", r#","pid":2"#)
        .packet(22, "sub", "up", "PUBREC", r#","pid":3"#);
    t
}

#[test]
fn receive_maximum_kept() {
    let v = within_receive_maximum().verdict("{ receive_maximum: true }");
    assert_pass(&v, Guarantee::ReceiveMaximum);
}

#[test]
fn receive_maximum_exceeded_at_the_packet_level() {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .packet(10, "sub", "down", "PUBLISH", r#","pid":1,"qos":1,"size":60"#)
        .packet(10, "sub", "down", "PUBLISH", r#","pid":2,"qos":2,"size":60"#)
        .packet(10, "sub", "down", "PUBLISH", r#","pid":3,"qos":1,"size":60"#)
        .packet(11, "sub", "up", "PUBACK", r#","pid":1"#);
    let v = t.verdict("{ receive_maximum: true }");
    assert_fail(&v, Guarantee::ReceiveMaximum);
    insta::assert_snapshot!("receive_maximum_exceeded", report(&v, Guarantee::ReceiveMaximum));
}

/// Without packets, the device's own DISCONNECT 0x93 is the evidence; without it and without
/// QoS 2, there is nothing to judge.
#[test]
fn receive_maximum_on_a_default_trace() {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .deliver(10, "sub", "pub#1", "t/a", 2, "")
        .deliver(10, "sub", "pub#2", "t/a", 2, "")
        .closed(
            10,
            "sub",
            "protocol: more than 2 inbound QoS 2 messages await PUBREL (Receive Maximum exceeded)",
            0x93,
        );
    let v = t.verdict("{ receive_maximum: true }");
    assert_fail(&v, Guarantee::ReceiveMaximum);
    insta::assert_snapshot!("receive_maximum_default_trace", report(&v, Guarantee::ReceiveMaximum));

    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0).deliver(10, "sub", "pub#1", "t/a", 1, "");
    let v = t.verdict("{ receive_maximum: true }");
    assert!(
        matches!(v.outcome(Guarantee::ReceiveMaximum).status, Status::NotExercised { .. }),
        "{}",
        report(&v, Guarantee::ReceiveMaximum)
    );
}

#[test]
fn maximum_packet_size_kept() {
    let v = within_receive_maximum().verdict("{ maximum_packet_size: true }");
    assert_pass(&v, Guarantee::MaximumPacketSize);
}

#[test]
fn maximum_packet_size_exceeded() {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .packet(10, "sub", "down", "PUBLISH", r#","pid":1,"qos":1,"size":2000"#)
        .packet(11, "sub", "up", "PUBACK", r#","pid":1"#);
    let v = t.verdict("{ maximum_packet_size: true }");
    assert_fail(&v, Guarantee::MaximumPacketSize);
    insta::assert_snapshot!(
        "maximum_packet_size_exceeded",
        report(&v, Guarantee::MaximumPacketSize)
    );
    // A default trace: the device refused it.
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0).closed(
        10,
        "sub",
        "decode: packet of 2000 bytes exceeds the maximum of 1024",
        0x95,
    );
    assert_fail(&t.verdict("{ maximum_packet_size: true }"), Guarantee::MaximumPacketSize);
}

/// `pub` publishes with its alias set up; `sub` gets its copy without an alias on `t/a`.
fn aliases_kept() -> T {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .subscribe(1, "sub", "t/#", 2)
        .connect(2, "pub", 64, 1_048_576, 0)
        .publish(10, "pub", "pub#1", "t/a", "")
        .deliver(20, "sub", "pub#1", "t/a", 1, "");
    t
}

#[test]
fn topic_aliases_kept() {
    let v = aliases_kept().verdict("{ topic_aliases: true }");
    assert_pass(&v, Guarantee::TopicAliases);
}

#[test]
fn topic_alias_to_a_device_that_allows_none() {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .subscribe(1, "sub", "t/#", 2)
        .connect(2, "pub", 64, 1_048_576, 0)
        .publish(10, "pub", "pub#1", "t/a", "")
        .deliver(20, "sub", "pub#1", "t/a", 1, r#"{"alias":1}"#)
        .closed(
            30,
            "sub",
            "protocol: topic alias 1 is 0 or above our Topic Alias Maximum 0 [MQTT-3.1.2-26]",
            0x94,
        );
    let v = t.verdict("{ topic_aliases: true }");
    assert_fail(&v, Guarantee::TopicAliases);
    insta::assert_snapshot!("topic_alias_not_allowed", report(&v, Guarantee::TopicAliases));
}

#[test]
fn topic_alias_resolved_to_another_topic() {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .subscribe(1, "sub", "t/#", 2)
        .connect(2, "pub", 64, 1_048_576, 0)
        .publish(10, "pub", "pub#1", "t/a", "")
        .deliver(20, "sub", "pub#1", "t/b", 1, "");
    let v = t.verdict("{ topic_aliases: true }");
    assert_fail(&v, Guarantee::TopicAliases);
    insta::assert_snapshot!("topic_alias_wrong_topic", report(&v, Guarantee::TopicAliases));
}

const PROPS: &str = r#"{"content_type":"text/plain","user":[["a","1"],["b","2"],["a","3"]]}"#;

#[test]
fn message_properties_kept() {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .subscribe(1, "sub", "t/#", 2)
        .publish(10, "pub", "pub#1", "t/a", PROPS)
        // The alias belongs to the connection: it is not compared.
        .deliver(20, "sub", "pub#1", "t/a", 1, &PROPS.replace('}', r#","alias":2}"#))
        .publish(30, "pub", "pub#2", "t/a", "")
        .deliver(40, "sub", "pub#2", "t/a", 1, "");
    let v = t.verdict("{ message_properties: true }");
    assert_pass(&v, Guarantee::MessageProperties);
}

#[test]
fn message_properties_changed() {
    let mut t = T::default();
    t.connect(0, "sub", 2, 1024, 0)
        .subscribe(1, "sub", "t/#", 2)
        .publish(10, "pub", "pub#1", "t/a", PROPS)
        .deliver(
            20,
            "sub",
            "pub#1",
            "t/a",
            1,
            r#"{"content_type":"text/plain","user":[["a","1"],["a","3"],["b","2"]]}"#,
        )
        .publish(30, "pub", "pub#2", "t/a", PROPS)
        .deliver(40, "sub", "pub#2", "t/a", 1, "");
    let v = t.verdict("{ message_properties: true }");
    assert_fail(&v, Guarantee::MessageProperties);
    insta::assert_snapshot!("message_properties_changed", report(&v, Guarantee::MessageProperties));
}

const REQUEST: &str = r#"{"response_topic":"r/pub","correlation":"pub#1"}"#;
const RESPONSE: &str = r#"{"correlation":"pub#1"}"#;

#[test]
fn request_answered() {
    let mut t = T::default();
    t.connect(0, "svc", 64, 1_048_576, 0)
        .subscribe(1, "svc", "t/#", 1)
        .connect(2, "pub", 64, 1_048_576, 0)
        .subscribe(3, "pub", "r/pub", 1)
        .publish(10, "pub", "pub#1", "t/a", REQUEST)
        .deliver(20, "svc", "pub#1", "t/a", 1, REQUEST)
        .publish(20, "svc", "svc#1", "r/pub", RESPONSE)
        .deliver(30, "pub", "svc#1", "r/pub", 1, RESPONSE);
    let v = t.verdict("{ request_response: true }");
    assert_pass(&v, Guarantee::RequestResponse);
}

#[test]
fn request_without_its_response_topic() {
    let mut t = T::default();
    t.connect(0, "svc", 64, 1_048_576, 0)
        .subscribe(1, "svc", "t/#", 1)
        .connect(2, "pub", 64, 1_048_576, 0)
        .subscribe(3, "pub", "r/pub", 1)
        .publish(10, "pub", "pub#1", "t/a", REQUEST)
        .deliver(20, "svc", "pub#1", "t/a", 1, r#"{"correlation":"pub#1"}"#);
    let v = t.verdict("{ request_response: true, message_properties: true }");
    assert_fail(&v, Guarantee::RequestResponse);
    assert_fail(&v, Guarantee::MessageProperties);
    insta::assert_snapshot!(
        "request_without_response_topic",
        report(&v, Guarantee::RequestResponse)
    );
}

#[test]
fn response_with_other_correlation_data() {
    let mut t = T::default();
    t.connect(0, "svc", 64, 1_048_576, 0)
        .subscribe(1, "svc", "t/#", 1)
        .connect(2, "pub", 64, 1_048_576, 0)
        .subscribe(3, "pub", "r/pub", 1)
        .publish(10, "pub", "pub#1", "t/a", REQUEST)
        .deliver(20, "svc", "pub#1", "t/a", 1, REQUEST)
        .publish(20, "svc", "svc#1", "r/pub", RESPONSE)
        .deliver(30, "pub", "svc#1", "r/pub", 1, "");
    let v = t.verdict("{ request_response: true }");
    assert_fail(&v, Guarantee::RequestResponse);
    insta::assert_snapshot!("response_without_correlation", report(&v, Guarantee::RequestResponse));
}
