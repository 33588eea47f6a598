//! The oracle never panics, whatever the trace: records out of time order, unknown devices,
//! QoS values out of range, acknowledgements for nothing, times at the end of `u64`.

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::check::{CheckOptions, check};
use mqttsim_sim::scenario::parse_scenario;
use mqttsim_sim::trace::{Event, Phase, Record};
use proptest::prelude::*;

const SCENARIO: &str = r#"
name: props
seed: 1
duration: 100s
protocol: "3.1.1"
sites: [ { name: s } ]
devices:
  - { group: a, site: s, count: 2, client_id: "d{i}", keepalive: 10s,
      will: { topic: "w/{i}", payload: "", qos: 2, retain: true } }
expect: { qos0_max_duplicates: 0, qos1_at_least_once: true, qos2_exactly_once: true,
          ordering: true, wills: true, retained: true, liveness: { quiet_period: 10s },
          expected_loss: { qos0: "<= 5%", qos1: "= 0%", qos2: "= 0%" } }
"#;

fn event() -> impl Strategy<Value = Event> {
    let msg = prop::sample::select(vec!["d0#1", "d0#2", "d1#1", "x#1"]).prop_map(str::to_owned);
    let topic = prop::sample::select(vec!["t/x", "t/y", "w/0", "w/1"]).prop_map(str::to_owned);
    let filter =
        prop::sample::select(vec!["t/#", "t/x", "#", "+/+", "w/+"]).prop_map(str::to_owned);
    let reason = prop::sample::select(vec![
        "client-disconnect",
        "keepalive-timeout",
        "taken-over",
        "connection-lost",
    ])
    .prop_map(str::to_owned);
    let kind = prop::sample::select(vec!["power-loss", "crash", "reboot", "blackout"])
        .prop_map(str::to_owned);
    let phase = prop::sample::select(vec![Phase::Start, Phase::End]);
    let qos = 0u8..4;
    prop_oneof![
        (msg.clone(), topic.clone(), qos.clone(), any::<bool>()).prop_map(
            |(msg, topic, qos, retain)| {
                Event::AppPublish { msg, topic, qos, retain, size: 32, expiry: None, props: None }
            }
        ),
        (msg.clone(), 0u16..3, qos.clone(), any::<bool>())
            .prop_map(|(msg, pid, qos, dup)| Event::PublishSent { msg, pid, qos, dup }),
        (prop::option::of(msg.clone()), topic.clone(), 0u16..3, qos.clone(), any::<bool>())
            .prop_map(|(msg, topic, pid, qos, retain)| Event::BrokerAccepted {
                msg,
                topic,
                pid,
                qos,
                retain
            }),
        (prop::option::of(msg.clone()), topic.clone(), qos.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(msg, topic, qos, dup, retain)| {
                let payload = msg.is_none().then(String::new);
                Event::Delivered {
                    msg,
                    topic,
                    qos,
                    pid: 1,
                    dup,
                    retain,
                    payload,
                    expiry: None,
                    props: None,
                }
            }),
        (any::<bool>(), any::<bool>()).prop_map(|(clean_session, session_present)| {
            Event::BrokerConnected { conn: 1, clean_session, session_present }
        }),
        reason.prop_map(|reason| Event::BrokerDisconnected { conn: 1, reason }),
        (topic.clone(), qos.clone(), any::<bool>())
            .prop_map(|(topic, qos, retain)| Event::WillPublished { topic, qos, retain }),
        (prop::option::of(msg.clone()), topic.clone()).prop_map(|(msg, topic)| {
            Event::BrokerDropped { msg, topic, reason: "queue-full".into() }
        }),
        (filter.clone(), prop::option::of(qos.clone()))
            .prop_map(|(filter, granted)| Event::BrokerSubscribed { filter, granted }),
        filter.prop_map(|filter| Event::BrokerUnsubscribed { filter }),
        (phase.clone(), any::<bool>()).prop_map(|(phase, volatile)| Event::BrokerRestart {
            phase,
            state: if volatile { "volatile" } else { "durable" }.into(),
        }),
        (kind.clone(), phase.clone()).prop_map(|(kind, phase)| Event::DeviceFault { kind, phase }),
        (kind, phase).prop_map(|(kind, phase)| Event::LinkFault {
            kind,
            phase,
            target: "t".into(),
            direction: None,
            loss_pct: None,
            devices: vec!["d0".into(), "zz".into()],
        }),
        (msg.clone(), qos).prop_map(|(msg, qos)| Event::Acked { msg, pid: 1, qos }),
        msg.clone().prop_map(|msg| Event::Dropped { msg, reason: "offline".into() }),
        msg.prop_map(|m| Event::SessionLost { resent: vec![m.clone()], released: vec![m] }),
        (1u32..3).prop_map(|attempt| Event::ConnectAttempt { attempt }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let time = prop_oneof![0u64..200_000_000, Just(u64::MAX), Just(u64::MAX - 1)];
    let device = prop::sample::select(vec![None, Some("d0"), Some("d1"), Some("stranger")]);
    (time, device, event()).prop_map(|(t_us, device, event)| {
        let mut r = Record::new(Duration::ZERO, None, device, event);
        r.t_us = t_us;
        r
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_trace_gets_a_verdict(mut records in prop::collection::vec(record(), 0..80), sorted in any::<bool>()) {
        if sorted {
            records.sort_by_key(|r| r.t_us);
        }
        let scenario = parse_scenario(SCENARIO, Path::new("props.yaml")).unwrap();
        for end in [Duration::from_secs(100), Duration::MAX] {
            let options = CheckOptions { end, ..CheckOptions::default() };
            let verdict = check(&scenario, &records, &options);
            let _ = verdict.to_text();
        }
    }
}
