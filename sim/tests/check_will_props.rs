//! The oracle's MQTT 5.0 Will property rules on hand-written traces: for each a trace that keeps
//! it and one that breaks it, with snapshots of the violation reports.
//!
//! `panel` (5.0) registers a Will on `will/panel` with a Will Delay Interval of 5 s, a Message
//! Expiry Interval of 60 s and properties; `disp` (5.0, a session of an hour) and `old` (3.1.1)
//! subscribe to `will/#` at QoS 1. The run lasts 300 s.

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::check::{
    CheckOptions, Guarantee, LossReason, Status, Verdict, check, parse_jsonl,
};
use mqttsim_sim::scenario::{Scenario, parse_scenario};

fn scenario() -> Scenario {
    let yaml = r#"
name: will-props
seed: 1
duration: 300s
protocol: "5.0"
sites: [ { name: s } ]
devices:
  - { group: p, site: s, count: 1, client_id: "panel", clean_session: false, keepalive: 10s,
      session_expiry: 120s,
      will: { topic: will/panel, payload: gone, qos: 1, delay: 5s, expiry: 60s,
              payload_format: utf8, content_type: text/plain, response_topic: ack/panel,
              correlation_data: "c-{i}",
              user_properties: [ { key: z, value: "1" }, { key: a, value: "{group}" } ] } }
  - { group: d, site: s, count: 1, client_id: "disp", clean_session: false, session_expiry: 1h,
      subscribe: [ { filter: "will/#", qos: 1 } ] }
  - { group: o, site: s, count: 1, client_id: "old", protocol: "3.1.1",
      subscribe: [ { filter: "will/#", qos: 1 } ] }
expect: { wills: true, message_expiry: true }
"#;
    parse_scenario(yaml, Path::new("will-props.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The properties the Will was registered with, as a delivery records them.
const PROPS: &str = r#"{"payload_format":1,"content_type":"text/plain","response_topic":"ack/panel","correlation":"c-0","user":[["z","1"],["a","p"]]}"#;

/// A trace written line by line, in JSON Lines; times in seconds.
#[derive(Default)]
struct T(String);

impl T {
    fn line(&mut self, s: u64, device: &str, dir: &str, event: &str) -> &mut Self {
        let t = s * 1_000_000;
        self.0 += &format!("{{\"t_us\":{t},\"device\":\"{device}\",\"dir\":\"{dir}\",{event}}}\n");
        self
    }

    fn connect(&mut self, s: u64, device: &str, conn: u64, present: bool) -> &mut Self {
        let (clean, expiry) = match device {
            "panel" => (false, r#","session_expiry":120,"will_delay":5"#),
            "disp" => (false, r#","session_expiry":3600"#),
            _ => (true, ""),
        };
        self.line(s, device, "conn", r#""ev":"connect_attempt","attempt":1"#);
        self.line(
            s,
            device,
            "broker",
            &format!(
                r#""ev":"broker_connected","conn":{conn},"clean_session":{clean},"session_present":{present}"#
            ),
        );
        self.line(
            s,
            device,
            "conn",
            &format!(r#""ev":"connected","session_present":{present}{expiry}"#),
        )
    }

    /// The broker sees `device`'s connection `conn` lost.
    fn lost(&mut self, s: u64, device: &str, conn: u64) -> &mut Self {
        let event =
            format!(r#""ev":"broker_disconnected","conn":{conn},"reason":"connection-lost""#);
        self.line(s, device, "broker", &event)
    }

    /// Everyone connected, `disp` and `old` subscribed.
    fn base() -> T {
        let mut t = T::default();
        t.connect(0, "panel", 1, false);
        for (conn, d) in [(2, "disp"), (3, "old")] {
            t.connect(0, d, conn, false);
            t.line(0, d, "broker", r#""ev":"broker_subscribed","filter":"will/#","granted":1"#);
        }
        t
    }

    /// `panel`'s connection is lost at 10 s and its Will published at 15 s.
    fn will(&mut self) -> &mut Self {
        self.lost(10, "panel", 1);
        self.line(
            15,
            "panel",
            "broker",
            r#""ev":"will_published","topic":"will/panel","qos":1,"retain":false"#,
        )
    }

    /// `device` receives the Will at `s` with `extra` fields (`"expiry":.., "props":..`).
    fn deliver(&mut self, s: u64, device: &str, pid: u16, extra: &str) -> &mut Self {
        self.line(
            s,
            device,
            "down",
            &format!(
                r#""ev":"delivered","topic":"will/panel","qos":1,"pid":{pid},"dup":false,"retain":false,"payload":"gone"{extra}"#
            ),
        )
    }

    fn verdict(&self) -> Verdict {
        let records = parse_jsonl(&self.0).unwrap_or_else(|e| panic!("{e}"));
        let options = CheckOptions { end: Duration::from_secs(300), ..CheckOptions::default() };
        check(&scenario(), &records, &options)
    }
}

fn assert_status(v: &Verdict, g: Guarantee, status: Status, count: u64) {
    assert_eq!(v.outcome(g).status, status, "{}", v.to_text());
    assert_eq!(v.outcome(g).violation_count, count, "{}", v.to_text());
}

/// The violations of one guarantee, as the verdict's text shows them.
fn violations(v: &Verdict, g: Guarantee) -> String {
    v.outcome(g).violations.iter().map(ToString::to_string).collect()
}

/// The 5.0 subscriber gets the Will with every property it was registered with (the Message
/// Expiry Interval counted down), the 3.1.1 one with none.
#[test]
fn the_will_reaches_subscribers_with_its_properties() {
    let mut t = T::base();
    t.will().deliver(15, "disp", 1, &format!(r#","expiry":60,"props":{PROPS}"#));
    t.deliver(15, "old", 1, "");
    let v = t.verdict();
    assert_status(&v, Guarantee::Wills, Status::Pass, 0);
    assert_status(&v, Guarantee::MessageExpiry, Status::Pass, 0);
}

/// User Properties reordered, the Content Type gone: a Will violation naming both statements.
#[test]
fn will_properties_changed_break_wills() {
    let changed = r#"{"payload_format":1,"response_topic":"ack/panel","correlation":"c-0","user":[["a","p"],["z","1"]]}"#;
    let mut t = T::base();
    t.will().deliver(15, "disp", 1, &format!(r#","expiry":60,"props":{changed}"#));
    t.deliver(15, "old", 1, "");
    let v = t.verdict();
    assert_status(&v, Guarantee::Wills, Status::Fail, 1);
    insta::assert_snapshot!("will_properties_changed", violations(&v, Guarantee::Wills));
}

/// The broker sent the Will with its Will Delay Interval: the 5.0 subscriber refused it as
/// malformed and closed its connection (aedes#1098).
#[test]
fn a_will_delay_interval_on_the_published_will_breaks_wills() {
    let mut t = T::base();
    t.will().line(
        15,
        "disp",
        "conn",
        r#""ev":"closed","reason":"decode: property 0x18 is not allowed in Publish","code":129"#,
    );
    t.lost(15, "disp", 2);
    t.connect(16, "disp", 4, true).deliver(
        16,
        "disp",
        1,
        &format!(r#","expiry":59,"props":{PROPS}"#),
    );
    t.deliver(15, "old", 1, "");
    let v = t.verdict();
    assert_status(&v, Guarantee::Wills, Status::Fail, 1);
    insta::assert_snapshot!("will_delay_interval_leaked", violations(&v, Guarantee::Wills));
}

/// `disp` is away from 12 s to 100 s, beyond the Will's 60 s: the broker discards the Will
/// (`expired`, an allowed loss); delivering it then breaks `message_expiry`.
#[test]
fn an_expired_will_is_not_delivered() {
    let mut t = T::base();
    t.lost(12, "disp", 2);
    t.will().deliver(15, "old", 1, "");
    t.connect(100, "disp", 4, true);
    let v = t.verdict();
    assert_status(&v, Guarantee::Wills, Status::Pass, 0);
    let reason = v.undelivered.iter().find(|u| u.subscriber == "disp").map(|u| u.reason);
    assert_eq!(reason, Some(LossReason::Expired), "{}", v.to_text());
    // The broker's word that it discarded the Will is taken once the Will can have expired.
    let mut dropped = T(t.0.clone());
    dropped.line(
        100,
        "disp",
        "broker",
        r#""ev":"broker_dropped","topic":"will/panel","reason":"expired""#,
    );
    let v = dropped.verdict();
    let u = v.undelivered.iter().find(|u| u.subscriber == "disp").expect("undelivered");
    assert_eq!(u.reason, LossReason::Expired, "{}", v.to_text());
    assert!(u.detail.contains("discarded its copy as expired"), "{}", u.detail);
    assert_eq!(v.unattributed, 0, "{}", v.to_text());
    t.deliver(100, "disp", 1, &format!(r#","expiry":1,"props":{PROPS}"#));
    let v = t.verdict();
    assert_status(&v, Guarantee::MessageExpiry, Status::Fail, 1);
    insta::assert_snapshot!(
        "will_delivered_after_its_expiry",
        violations(&v, Guarantee::MessageExpiry)
    );
}

/// Regression (alarm-panels.yaml, seed 13): `disp` is away while two Wills of `panel` go out;
/// back after the first expired, it gets only the second. The broker's drop of the first for
/// `disp` makes the copy that arrives the second, not a copy of the first after its expiry.
#[test]
fn alarm_panels_seed_13_the_copy_after_an_expired_wills_drop_is_the_next_will() {
    let mut t = T::base();
    t.lost(12, "disp", 2);
    t.will().deliver(15, "old", 1, "");
    t.connect(60, "panel", 4, true);
    t.lost(80, "panel", 4);
    t.line(
        85,
        "panel",
        "broker",
        r#""ev":"will_published","topic":"will/panel","qos":1,"retain":false"#,
    );
    t.deliver(85, "old", 2, "");
    t.connect(100, "disp", 5, true);
    t.line(
        100,
        "disp",
        "broker",
        r#""ev":"broker_dropped","topic":"will/panel","reason":"expired""#,
    );
    t.deliver(100, "disp", 1, &format!(r#","expiry":45,"props":{PROPS}"#));
    let v = t.verdict();
    assert_status(&v, Guarantee::MessageExpiry, Status::Pass, 0);
    assert_status(&v, Guarantee::Wills, Status::Pass, 0);
    let reasons: Vec<LossReason> = v.undelivered.iter().map(|u| u.reason).collect();
    assert_eq!(reasons, [LossReason::Expired], "{}", v.to_text());
}
