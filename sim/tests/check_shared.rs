//! The oracle's MQTT 5.0 shared-subscription and No Local rules on hand-written traces: for
//! each rule a trace that keeps it and one that breaks it, with snapshots of the violation
//! reports. Data driven: each case is a list of steps, turned into the records a run writes.

use std::path::Path;
use std::time::Duration;

use mqttsim_sim::check::{CheckOptions, Guarantee, Status, check, parse_jsonl};
use mqttsim_sim::scenario::parse_scenario;

/// `pub` publishes on `t/a`; members `m1` and `m2` share `$share/g/t/#` (QoS 2); `echo`
/// publishes on `e/x` and subscribes to `e/#` with No Local, as `lis` does without it.
const SCENARIO: &str = r#"
name: shared-hand
seed: 1
duration: 300s
protocol: "5.0"
sites: [ { name: s } ]
devices:
  - { group: p, site: s, count: 1, client_id: "pub", publish: [ { topic: t/a, qos: 1, every: 1h } ] }
  - { group: m, site: s, count: 2, client_id: "m{i}", subscribe: [ { filter: "$share/g/t/#", qos: 2 } ] }
  - { group: e, site: s, count: 1, client_id: "echo",
      publish: [ { topic: e/x, qos: 1, every: 1h } ],
      subscribe: [ { filter: "e/#", qos: 1, no_local: true } ] }
  - { group: l, site: s, count: 1, client_id: "lis", subscribe: [ { filter: "e/#", qos: 1 } ] }
expect: { shared_subscriptions: true, shared_redistribution: true, no_local: true }
"#;

/// One step of a case, at a time in seconds.
enum Step {
    /// The broker accepts a connection (clean start, no session present).
    Connect(&'static str),
    /// The broker makes a subscription.
    Subscribe(&'static str, &'static str),
    /// `device` publishes message `n` on `topic` at `qos` and the broker accepts it.
    Publish(&'static str, u32, &'static str, u8),
    /// `device` receives message (`publisher`, `n`) at `qos`.
    Deliver(&'static str, &'static str, u32, &'static str, u8),
    /// The device's connection ends at the broker (its clean session with it).
    Lost(&'static str),
}

fn trace(steps: &[(u64, Step)]) -> String {
    let mut out = String::new();
    let mut conn = 0;
    let mut pid = 0;
    for (s, step) in steps {
        let t = s * 1_000_000;
        let line = match step {
            Step::Connect(d) => {
                conn += 1;
                format!(
                    r#"{{"t_us":{t},"device":"{d}","dir":"broker","ev":"broker_connected","conn":{conn},"clean_session":true,"session_present":false}}"#
                )
            }
            Step::Subscribe(d, f) => format!(
                r#"{{"t_us":{t},"device":"{d}","dir":"broker","ev":"broker_subscribed","filter":"{f}","granted":2}}"#
            ),
            Step::Publish(d, n, topic, qos) => format!(
                r#"{{"t_us":{t},"device":"{d}","dir":"app","ev":"app_publish","msg":"{d}#{n}","topic":"{topic}","qos":{qos},"retain":false,"size":32}}
{{"t_us":{t},"device":"{d}","dir":"broker","ev":"broker_accepted","msg":"{d}#{n}","topic":"{topic}","pid":{n},"qos":{qos},"retain":false}}"#
            ),
            Step::Deliver(d, p, n, topic, qos) => {
                pid += 1;
                format!(
                    r#"{{"t_us":{t},"device":"{d}","dir":"down","ev":"delivered","msg":"{p}#{n}","topic":"{topic}","qos":{qos},"pid":{pid},"dup":false,"retain":false}}"#
                )
            }
            Step::Lost(d) => format!(
                r#"{{"t_us":{t},"device":"{d}","dir":"broker","ev":"broker_disconnected","conn":0,"reason":"connection-lost"}}"#
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

use Step::{Connect, Deliver, Lost, Publish, Subscribe};

/// Both members connected and subscribed at 1 s.
fn members() -> Vec<(u64, Step)> {
    vec![
        (1, Connect("m0")),
        (1, Subscribe("m0", "$share/g/t/#")),
        (1, Connect("m1")),
        (1, Subscribe("m1", "$share/g/t/#")),
    ]
}

/// Later messages reaching both members at 40 s and 41 s: each member's session was served.
fn served() -> Vec<(u64, Step)> {
    vec![
        (30, Publish("pub", 8, "t/a", 1)),
        (31, Publish("pub", 9, "t/a", 1)),
        (40, Deliver("m0", "pub", 8, "t/a", 1)),
        (41, Deliver("m1", "pub", 9, "t/a", 1)),
    ]
}

fn case(name: &str) -> Vec<(u64, Step)> {
    let mut steps = members();
    let more: Vec<(u64, Step)> = match name {
        "one_member" => {
            vec![(5, Publish("pub", 1, "t/a", 1)), (6, Deliver("m1", "pub", 1, "t/a", 1))]
        }
        "no_member_got_it" => vec![(5, Publish("pub", 1, "t/a", 1))],
        "qos2_one_member" => {
            vec![(5, Publish("pub", 1, "t/a", 2)), (6, Deliver("m0", "pub", 1, "t/a", 2))]
        }
        "qos2_two_members" => vec![
            (5, Publish("pub", 1, "t/a", 2)),
            (6, Deliver("m0", "pub", 1, "t/a", 2)),
            (7, Deliver("m1", "pub", 1, "t/a", 2)),
        ],
        "qos1_moved_after_connection_lost" => vec![
            (5, Publish("pub", 1, "t/a", 1)),
            (6, Deliver("m0", "pub", 1, "t/a", 1)),
            (7, Lost("m0")),
            (8, Deliver("m1", "pub", 1, "t/a", 1)),
        ],
        "qos1_two_members" => vec![
            (5, Publish("pub", 1, "t/a", 1)),
            (6, Deliver("m0", "pub", 1, "t/a", 1)),
            (8, Deliver("m1", "pub", 1, "t/a", 1)),
        ],
        "redistributed" => vec![
            (5, Publish("pub", 1, "t/a", 1)),
            (7, Lost("m0")),
            (8, Deliver("m1", "pub", 1, "t/a", 1)),
        ],
        "not_redistributed" => vec![(5, Publish("pub", 1, "t/a", 1)), (7, Lost("m0"))],
        "no_local_kept" => vec![
            (1, Connect("echo")),
            (1, Subscribe("echo", "e/#")),
            (1, Connect("lis")),
            (1, Subscribe("lis", "e/#")),
            (5, Publish("echo", 1, "e/x", 1)),
            (6, Deliver("lis", "echo", 1, "e/x", 1)),
        ],
        "no_local_broken" => vec![
            (1, Connect("echo")),
            (1, Subscribe("echo", "e/#")),
            (1, Connect("lis")),
            (1, Subscribe("lis", "e/#")),
            (5, Publish("echo", 1, "e/x", 1)),
            (6, Deliver("lis", "echo", 1, "e/x", 1)),
            (6, Deliver("echo", "echo", 1, "e/x", 1)),
        ],
        other => panic!("no case {other}"),
    };
    steps.extend(more);
    if name != "not_redistributed" && name != "redistributed" {
        steps.extend(served());
    } else {
        // Only m1 is left to be served.
        steps.extend([(30, Publish("pub", 9, "t/a", 1)), (41, Deliver("m1", "pub", 9, "t/a", 1))]);
    }
    steps.sort_by_key(|(t, _)| *t);
    steps
}

/// (case, the guarantee it concerns, whether it keeps it).
const CASES: [(&str, Guarantee, bool); 10] = [
    ("one_member", Guarantee::SharedSubscriptions, true),
    ("no_member_got_it", Guarantee::SharedSubscriptions, false),
    ("qos2_one_member", Guarantee::SharedSubscriptions, true),
    ("qos2_two_members", Guarantee::SharedSubscriptions, false),
    ("qos1_moved_after_connection_lost", Guarantee::SharedSubscriptions, true),
    ("qos1_two_members", Guarantee::SharedSubscriptions, false),
    ("redistributed", Guarantee::SharedRedistribution, true),
    ("not_redistributed", Guarantee::SharedRedistribution, false),
    ("no_local_kept", Guarantee::NoLocal, true),
    ("no_local_broken", Guarantee::NoLocal, false),
];

#[test]
fn shared_subscription_and_no_local_rules_keep_and_break() {
    let scenario = parse_scenario(SCENARIO, Path::new("shared-hand.yaml")).unwrap();
    let options = CheckOptions { end: Duration::from_secs(300), ..CheckOptions::default() };
    for (name, guarantee, keeps) in CASES {
        let records = parse_jsonl(&trace(&case(name))).unwrap();
        let v = check(&scenario, &records, &options);
        let status = &v.outcome(guarantee).status;
        if keeps {
            assert!(
                matches!(status, Status::Pass),
                "{name}: {guarantee} should pass:\n{}",
                v.to_text()
            );
            assert!(!v.failed(), "{name}: nothing should fail:\n{}", v.to_text());
        } else {
            assert_eq!(*status, Status::Fail, "{name}: {guarantee} should fail:\n{}", v.to_text());
            let failing: Vec<String> = v
                .outcomes
                .iter()
                .filter(|o| o.status == Status::Fail)
                .flat_map(|o| o.violations.iter().map(ToString::to_string))
                .collect();
            insta::assert_snapshot!(name, failing.join(""));
        }
    }
}
