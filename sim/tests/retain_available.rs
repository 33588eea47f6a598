//! MQTT 5.0 Retain Available 0 (`broker: { retain_available: false }`) in simulated runs: the
//! broker announces it in CONNACK, a 5.0 device gives its retained messages up (`unsupported
//! 0x9A`, a stated reason) instead of sending them [MQTT-3.2.2-14], and the `retained` guarantee
//! has nothing to judge for them; a 3.1.1 device's retained messages are still retained and
//! judged.

use std::path::Path;

use mqttsim_sim::check::{CheckOptions, Guarantee, Status, Verdict, check};
use mqttsim_sim::scenario::{LossReason, Scenario, parse_scenario};
use mqttsim_sim::trace::{Collect, Event, Record};
use mqttsim_sim::{RunOptions, run};

/// A 5.0 pump publishes a retained state and plain readings; a 5.0 screen subscribes after a
/// few states were published. With `old`, a 3.1.1 panel publishes a retained state too.
fn scenario(old: bool, expect: &str) -> Scenario {
    let panel = if old {
        r#"  - { group: o, site: s, count: 1, client_id: "panel", protocol: "3.1.1",
      publish: [ { topic: "m/panel", qos: 1, retain: true, every: 5s } ] }
"#
    } else {
        ""
    };
    let yaml = format!(
        r#"
name: retain-unavailable
seed: 1
duration: 30s
protocol: "5.0"
broker: {{ retain_available: false }}
sites: [ {{ name: s, link: {{ latency: 20ms }} }} ]
devices:
  - {{ group: p, site: s, count: 1, client_id: "pump",
      publish: [ {{ topic: "m/state", qos: 1, retain: true, every: 5s }},
                 {{ topic: "m/reading", qos: 1, every: 5s }} ] }}
{panel}  - {{ group: q, site: s, count: 1, client_id: "screen", start: {{ at: 12s }},
      subscribe: [ {{ filter: "m/#", qos: 1 }} ] }}
expect: {expect}
"#
    );
    parse_scenario(&yaml, Path::new("retain-unavailable.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

fn simulate(scenario: &Scenario) -> Vec<Record> {
    let mut trace = Collect::default();
    let options = RunOptions { seed: Some(1), trace: vec![&mut trace], ..RunOptions::default() };
    run(scenario, options).expect("the run completes");
    trace.0
}

fn judge(scenario: &Scenario, records: &[Record]) -> Verdict {
    check(scenario, records, &CheckOptions { end: scenario.duration.get(), ..Default::default() })
}

/// The ids of the messages `device` published on `topic`.
fn published<'r>(records: &'r [Record], device: &str, topic: &str) -> Vec<&'r str> {
    records
        .iter()
        .filter(|r| r.device.as_deref() == Some(device))
        .filter_map(|r| match &r.event {
            Event::AppPublish { msg, topic: t, .. } if t == topic => Some(msg.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_v5_device_told_retain_available_0_gives_its_retained_messages_up() {
    let s = scenario(false, "{ qos1_at_least_once: true, retain_as_published: true }");
    let records = simulate(&s);
    let told = records.iter().any(|r| {
        r.device.as_deref() == Some("pump")
            && matches!(&r.event, Event::Connected { limits: Some(l), .. } if !l.server_retain_available)
    });
    assert!(told, "the pump's CONNACK says Retain Available 0");

    let states = published(&records, "pump", "m/state");
    assert!(states.len() >= 5, "{states:?}");
    for id in &states {
        let dropped = records.iter().any(|r| {
            matches!(&r.event, Event::Dropped { msg, reason } if msg == id && reason == "unsupported 0x9A")
        });
        assert!(dropped, "{id} is given up with the reason 0x9A");
        let sent = records.iter().any(|r| match &r.event {
            Event::PublishSent { msg, .. } => msg == id,
            Event::BrokerAccepted { msg, .. } => msg.as_deref() == Some(*id),
            _ => false,
        });
        assert!(!sent, "{id} was sent");
    }
    assert!(
        !records.iter().any(|r| matches!(&r.event, Event::BrokerAccepted { retain: true, .. })),
        "the broker got no retained message"
    );
    let readings = published(&records, "pump", "m/reading");
    let delivered = |id: &str| {
        records.iter().any(|r| {
            r.device.as_deref() == Some("screen")
                && matches!(&r.event, Event::Delivered { msg: Some(m), .. } if m == id)
        })
    };
    assert!(readings.iter().filter(|id| delivered(id)).count() >= 3, "plain readings still flow");

    // The run passes; each state owed to the screen is not delivered, with the stated reason.
    let v = judge(&s, &records);
    assert!(!v.failed(), "{}", v.to_text());
    assert_eq!(v.outcome(Guarantee::Qos1AtLeastOnce).status, Status::Pass, "{}", v.to_text());
    let owed: Vec<_> = v.undelivered.iter().filter(|u| u.message.topic == "m/state").collect();
    assert!(!owed.is_empty(), "{}", v.to_text());
    for u in owed {
        assert_eq!(u.reason, LossReason::PublisherDropped, "{u:?}");
        assert!(u.detail.contains("Retain Available 0"), "{u:?}");
    }

    // `retained` (which validation refuses for this scenario) has nothing to judge: not a pass.
    let mut asked = s.clone();
    asked.expect.retained = Some(true);
    let v = judge(&asked, &records);
    match &v.outcome(Guarantee::Retained).status {
        Status::NotExercised { reason } => {
            let given_up = format!("; {} retained messages were given up", states.len());
            assert!(reason.contains(&given_up), "{reason}");
            assert!(reason.ends_with("told Retain Available 0"), "{reason}");
        }
        other => panic!("retained is {other:?}:\n{}", v.to_text()),
    }
}

#[test]
fn a_3_1_1_devices_retained_messages_are_still_retained_and_judged() {
    let s = scenario(true, "{ qos1_at_least_once: true, retained: true }");
    let records = simulate(&s);
    let v = judge(&s, &records);
    assert!(!v.failed(), "{}", v.to_text());
    assert_eq!(v.outcome(Guarantee::Retained).status, Status::Pass, "{}", v.to_text());
    // The screen's subscription got the panel's retained state, RETAIN=1.
    let on_subscribe = records.iter().any(|r| {
        r.device.as_deref() == Some("screen")
            && matches!(&r.event, Event::Delivered { topic, retain: true, .. } if topic == "m/panel")
    });
    assert!(on_subscribe, "{}", v.to_text());
    assert!(
        !records.iter().any(|r| matches!(
            &r.event,
            Event::BrokerAccepted { topic, retain: true, .. } if topic == "m/state"
        )),
        "the 5.0 pump sent no retained state"
    );
}
