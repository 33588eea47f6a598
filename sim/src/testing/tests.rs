//! The `testing` module's own tests: environment variables, the `cargo test` replay line, failure
//! messages, the determinism comparison and the filtered text trace. Runs that need the real
//! process environment (`MQTT_SIM_SEED` selecting a seed, the replay command reproducing the
//! trace) are in `cli/tests/testing_api.rs`, which runs a child test process and `mqtt-sim`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::env::{CHECK_DETERMINISM_VAR, Environment, SEED_VAR, SEEDS_VAR, SeedChoice};
use super::message::cargo_line;
use super::*;
use crate::check::parse_jsonl;

/// A broker that publishes the Will of a client that left politely (a planted bug).
const POLITE_LEAVER: &str = r#"
name: polite-leaver
seed: 1
duration: 30s
protocol: "3.1.1"
broker: { bugs: [will-after-disconnect] }
sites: [ { name: s, link: { latency: 20ms } } ]
devices:
  - { group: t, site: s, count: 1, client_id: "leaver", keepalive: 10s,
      will: { topic: "will/leaver", payload: gone, qos: 1 } }
  - { group: m, site: s, count: 1, client_id: "monitor",
      subscribe: [ { filter: "will/#", qos: 1 } ] }
faults:
  - { kind: disconnect, target: { device: leaver }, at: 10s }
expect: { wills: true }
"#;

/// Two sensors and a panel over a clean link: every guarantee holds.
const GREENHOUSE: &str = r#"
name: greenhouse
seed: 1
duration: 40s
protocol: "3.1.1"
sites: [ { name: house, link: { latency: 30ms } } ]
devices:
  - { group: sensor, site: house, count: 2, client_id: "sensor-{i}",
      publish: [ { topic: "house/{i}/temp", qos: 1, every: 10s } ] }
  - { group: panel, site: house, count: 1, client_id: "panel",
      subscribe: [ { filter: "house/#", qos: 1 } ] }
expect: { qos1_at_least_once: true }
"#;

fn env_of(vars: &[(&str, &str)]) -> Result<Environment, Error> {
    let map: BTreeMap<String, OsString> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), OsString::from(v))).collect();
    Environment::from_vars(|name| map.get(name).cloned())
}

#[test]
fn environment_variables_parse_or_say_what_is_wrong() {
    let seeds = |var, seeds| Some(SeedChoice { var, seeds });
    // (variables, expected seeds and determinism, or a fragment of the error)
    type Expected = Result<(Option<SeedChoice>, bool), &'static str>;
    let cases: Vec<(Vec<(&str, &str)>, Expected)> = vec![
        (vec![], Ok((None, false))),
        (vec![(SEED_VAR, "17")], Ok((seeds(SEED_VAR, 17..=17), false))),
        (vec![(SEED_VAR, " 17 ")], Ok((seeds(SEED_VAR, 17..=17), false))),
        (vec![(SEED_VAR, "")], Ok((None, false))),
        (
            vec![(SEED_VAR, "18446744073709551615")],
            Ok((seeds(SEED_VAR, u64::MAX..=u64::MAX), false)),
        ),
        (vec![(SEEDS_VAR, "1..=20")], Ok((seeds(SEEDS_VAR, 1..=20), false))),
        (vec![(SEEDS_VAR, "1..21")], Ok((seeds(SEEDS_VAR, 1..=20), false))),
        (vec![(SEEDS_VAR, "5")], Ok((seeds(SEEDS_VAR, 5..=5), false))),
        (vec![(CHECK_DETERMINISM_VAR, "1")], Ok((None, true))),
        (vec![(CHECK_DETERMINISM_VAR, "true")], Ok((None, true))),
        (vec![(CHECK_DETERMINISM_VAR, "0")], Ok((None, false))),
        (vec![(CHECK_DETERMINISM_VAR, "")], Ok((None, false))),
        (vec![(SEED_VAR, "3"), (CHECK_DETERMINISM_VAR, "yes")], Ok((seeds(SEED_VAR, 3..=3), true))),
        (vec![(SEED_VAR, "abc")], Err("MQTT_SIM_SEED=`abc`: not a seed: expected a whole number")),
        (vec![(SEED_VAR, "-1")], Err("MQTT_SIM_SEED=`-1`: not a seed")),
        (vec![(SEED_VAR, "18446744073709551616")], Err("MQTT_SIM_SEED=`18446744073709551616`")),
        (vec![(SEED_VAR, "1..5")], Err("MQTT_SIM_SEED=`1..5`: not a seed")),
        (
            vec![(SEEDS_VAR, "5..5")],
            Err("MQTT_SIM_SEEDS=`5..5`: `5..5` is empty: the end is excluded"),
        ),
        (vec![(SEEDS_VAR, "9..=3")], Err("MQTT_SIM_SEEDS=`9..=3`: `9..=3` is empty")),
        (
            vec![(SEEDS_VAR, "a..3")],
            Err("`a` is not a seed; expected a range of seeds such as 1..=100"),
        ),
        (vec![(SEEDS_VAR, "1-20")], Err("MQTT_SIM_SEEDS=`1-20`: `1-20` is not a seed")),
        (
            vec![(SEED_VAR, "3"), (SEEDS_VAR, "1..=9")],
            Err("MQTT_SIM_SEED=3 is set too; set one of them"),
        ),
        (
            vec![(CHECK_DETERMINISM_VAR, "twice")],
            Err("MQTT_SIM_CHECK_DETERMINISM=`twice`: expected 1"),
        ),
    ];
    for (vars, expected) in cases {
        let got = env_of(&vars);
        match (got, expected) {
            (Ok(env), Ok((seeds, twice))) => {
                assert_eq!(env.seeds, seeds, "{vars:?}");
                assert_eq!(env.check_determinism, twice, "{vars:?}");
            }
            (Err(e), Err(fragment)) => {
                assert!(e.to_string().contains(fragment), "{vars:?}: `{e}` lacks `{fragment}`")
            }
            (got, expected) => panic!("{vars:?}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[cfg(unix)]
#[test]
fn a_variable_that_is_not_utf8_is_an_error() {
    use std::os::unix::ffi::OsStringExt;
    let raw = OsString::from_vec(vec![b'1', 0xff]);
    let err = Environment::from_vars(|name| (name == SEED_VAR).then(|| raw.clone())).unwrap_err();
    assert!(err.to_string().contains("MQTT_SIM_SEED=`1\u{fffd}`: not valid UTF-8"), "{err}");
}

#[test]
fn the_seed_choice_says_which_variable_chose() {
    assert_eq!(SeedChoice { var: SEED_VAR, seeds: 7..=7 }.to_string(), "MQTT_SIM_SEED=7");
    assert_eq!(SeedChoice { var: SEEDS_VAR, seeds: 1..=9 }.to_string(), "MQTT_SIM_SEEDS=1..=9");
}

#[test]
fn the_cargo_test_line_names_package_target_and_test() {
    let exe = |p: &'static str| Some(Path::new(p));
    // (thread name, CARGO_PKG_NAME, test binary, the line)
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a Path>, Option<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (
            Some("fleet_sweep"),
            Some("fleet-tests"),
            exe("/w/target/debug/deps/fleet-0123456789abcdef"),
            Some("MQTT_SIM_SEED=9 cargo test -p fleet-tests --test fleet fleet_sweep -- --exact"),
        ),
        (
            Some("testing::tests::x"),
            Some("mqttsim-sim"),
            exe("/w/target/debug/deps/mqttsim_sim-0123456789abcdef"),
            Some("MQTT_SIM_SEED=9 cargo test -p mqttsim-sim --lib testing::tests::x -- --exact"),
        ),
        // A binary not named by cargo keeps its whole name.
        (
            Some("t"),
            Some("p"),
            exe("/tmp/my-tests"),
            Some("MQTT_SIM_SEED=9 cargo test -p p --test my-tests t -- --exact"),
        ),
        // Not in a test thread, or not under cargo: no line rather than a wrong one.
        (Some("main"), Some("p"), exe("/x/t-0123456789abcdef"), None),
        (None, Some("p"), exe("/x/t-0123456789abcdef"), None),
        (Some("t"), None, exe("/x/t-0123456789abcdef"), None),
        (Some("t"), Some("p"), None, None),
    ];
    for (test, package, exe, expected) in cases {
        assert_eq!(
            cargo_line(9, test, package, exe).as_deref(),
            expected,
            "{test:?} {package:?} {exe:?}"
        );
    }
}

#[test]
fn a_failure_message_names_the_guarantee_quotes_the_trace_and_says_how_to_replay() {
    let sim = Simulation::from_yaml(POLITE_LEAVER, "polite-leaver.yaml")
        .unwrap()
        .with_duration(Duration::from_secs(20))
        .with_tick(Duration::from_millis(20));
    let run = sim.run().unwrap();
    assert!(!run.passed());
    assert_eq!(run.failed_guarantees(), vec![Guarantee::Wills]);
    let message = run.failure_message().unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0],
        "scenario `polite-leaver` (polite-leaver.yaml), seed 1: wills failed (1 violation)"
    );
    assert_eq!(lines[1], "  wills                 FAIL (1 violation)");
    assert!(lines[2].starts_with("    [wills] "), "{message}");
    assert!(
        message.contains("\n        expected: no Will after a DISCONNECT [MQTT-3.14.4-3]\n"),
        "{message}"
    );
    assert!(message.contains("\n        observed: the Will was published"), "{message}");
    // The quoted trace lines: numbered, in the text form of trace.txt.
    let will_line = lines
        .iter()
        .find(|l| l.contains("WILL published q1 retain=0 topic=will/leaver"))
        .unwrap_or_else(|| panic!("the Will's record is quoted: {message}"));
    let number: String = will_line.trim_start().chars().take_while(char::is_ascii_digit).collect();
    let n: usize = number.parse().unwrap();
    let quoted = will_line.trim_start().split_once(": ").unwrap().1;
    assert_eq!(quoted, run.trace.records()[n - 1].to_text(), "line {n} of the trace");
    // The replay command carries the overrides, and says to save the text first.
    let replay = "replay: mqtt-sim run polite-leaver.yaml --seed 1 --duration 20s --tick 20ms";
    assert!(lines.contains(&replay), "{message}");
    assert!(message.contains("save it as polite-leaver.yaml first"), "{message}");
    assert_eq!(run.replay_command(), &replay["replay: ".len()..]);
    assert_eq!(run.assert_fails(Guarantee::Wills), message);
    let panic = std::panic::catch_unwind(|| run.assert_passed()).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>(), Some(&message));
}

#[test]
fn a_passing_run_has_no_failure_message_and_expecting_a_failure_fails() {
    let run = Simulation::from_yaml(GREENHOUSE, "greenhouse.yaml").unwrap().run().unwrap();
    assert!(run.passed(), "{}", run.verdict.to_text());
    assert_eq!(run.failure_message(), None);
    run.assert_passed();
    let panic = std::panic::catch_unwind(|| run.assert_fails(Guarantee::Qos1AtLeastOnce));
    let panic = panic.unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(
        text.contains("expected `qos1_at_least_once` to fail, but its status is Pass"),
        "{text}"
    );
    assert!(text.contains("replay: mqtt-sim run greenhouse.yaml --seed 1"), "{text}");
}

#[test]
fn a_sweep_gives_the_first_failure_in_full_and_a_line_for_each_other() {
    let sim = Simulation::from_yaml(POLITE_LEAVER, "polite-leaver.yaml")
        .unwrap()
        .with_duration(Duration::from_secs(15));
    let message = sim.check_with(&Environment::default(), 1..=3).unwrap_err();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0],
        "scenario `polite-leaver` (polite-leaver.yaml): 3 of 3 seeds failed; the first:"
    );
    assert!(lines[1].starts_with("scenario `polite-leaver` (polite-leaver.yaml), seed 1: wills"));
    assert!(lines.contains(&"the other failing seeds:"), "{message}");
    let others: Vec<&str> = lines.iter().filter(|l| l.starts_with("  seed ")).copied().collect();
    assert_eq!(others.len(), 2, "{message}");
    assert!(others[0].starts_with("  seed 2: wills failed; replay: "), "{message}");
    // This unit test runs in a named test thread of this crate's library tests.
    assert!(
        message.contains("or: MQTT_SIM_SEED=1 cargo test -p mqttsim-sim --lib ")
            || std::env::var_os("CARGO_PKG_NAME").is_none(),
        "{message}"
    );
}

#[test]
fn the_environment_chooses_the_seeds_of_a_check() {
    let sim = Simulation::from_yaml(GREENHOUSE, "greenhouse.yaml").unwrap();
    let one = Environment {
        seeds: Some(SeedChoice { var: SEED_VAR, seeds: 5..=5 }),
        ..Environment::default()
    };
    assert_eq!(sim.check_with(&one, 1..=3), Ok(vec![5]));
    let many = Environment {
        seeds: Some(SeedChoice { var: SEEDS_VAR, seeds: 8..=9 }),
        ..Environment::default()
    };
    assert_eq!(sim.check_with(&many, 1..=3), Ok(vec![8, 9]));
    assert_eq!(sim.check_with(&Environment::default(), 2..=3), Ok(vec![2, 3]));
    // An empty sweep is a mistake, not a pass.
    #[allow(clippy::reversed_empty_ranges)]
    let none = sim.check_with(&Environment::default(), 3..=2).unwrap_err();
    assert_eq!(none, "no seed to run: the range 3..=2 is empty");
    // A failing seed chosen by the environment says so.
    let bug = Simulation::from_yaml(POLITE_LEAVER, "polite-leaver.yaml").unwrap();
    let one = Environment {
        seeds: Some(SeedChoice { var: SEED_VAR, seeds: 4..=4 }),
        ..Environment::default()
    };
    let message = bug.check_with(&one, 1..=1).unwrap_err();
    assert!(message.starts_with("scenario `polite-leaver` (polite-leaver.yaml), seed 4: wills"));
    assert!(message.ends_with("  (the seed was chosen by MQTT_SIM_SEED=4)\n"), "{message}");
}

#[test]
fn the_double_run_passes_a_deterministic_scenario() {
    let sim = Simulation::from_yaml(GREENHOUSE, "greenhouse.yaml").unwrap();
    let twice = Environment { check_determinism: true, ..Environment::default() };
    assert_eq!(sim.check_with(&twice, 1..=1), Ok(vec![1]));
}

/// Two traces of one seed that differ in their third record, as a non-deterministic simulator
/// would make them.
#[test]
fn two_differing_traces_fail_with_the_first_differing_record() {
    let first = parse_jsonl(concat!(
        r#"{"t_us":0,"device":"d","dir":"conn","ev":"connect_attempt","attempt":1}"#,
        "\n",
        r#"{"t_us":5,"device":"d","dir":"conn","ev":"connected","session_present":false}"#,
        "\n",
        r#"{"t_us":9,"device":"d","dir":"conn","ev":"closed","reason":"transport-lost"}"#,
    ))
    .unwrap();
    let mut second = first.clone();
    second[2].t_us = 10;
    let (a, b) = (Trace::new(first.clone()), Trace::new(second));
    assert_eq!(same_trace(3, &a, &a, "replay: x\n").ok(), Some(()));
    let err = same_trace(3, &a, &b, "replay: mqtt-sim run f.yaml --seed 3\n").unwrap_err();
    let Error::NotDeterministic { seed: 3, difference, .. } = &err else { panic!("{err:?}") };
    assert_eq!(difference.index, 2);
    let text = err.to_string();
    let expected = r#"seed 3 is not deterministic: the traces differ from record 2 (line 3 of trace.jsonl)
  last common record:      0.000005  -            d                        conn  CONNACK ok session_present=0
  first run:               0.000009  -            d                        conn  closed: transport-lost
    as JSON:          {"t_us":9,"device":"d","dir":"conn","ev":"closed","reason":"transport-lost"}
  second run:              0.000010  -            d                        conn  closed: transport-lost
    as JSON:          {"t_us":10,"device":"d","dir":"conn","ev":"closed","reason":"transport-lost"}
replay: mqtt-sim run f.yaml --seed 3
"#;
    assert_eq!(text, expected);
    // A trace that stops early differs where it stops.
    let short = Trace::new(first[..2].to_vec());
    let d = first_difference(a.records(), short.records()).unwrap();
    assert_eq!((d.index, d.second.is_none()), (2, true));
    assert!(d.to_string().contains("  second run:         (the trace ends here)"), "{d}");
    let d = first_difference(&[], a.records()).unwrap();
    assert_eq!((d.index, d.before.is_none()), (0, true));
}

/// A hand-made trace with two devices, two topics, a subscription, a fault and a restart.
const SMALL_TRACE: &str = r#"
{"t_us":1000000,"device":"panel","dir":"broker","ev":"broker_subscribed","filter":"house/#","granted":1}
{"t_us":1000000,"device":"alarm","dir":"broker","ev":"broker_subscribed","filter":"alarm/+","granted":0}
{"t_us":2000000,"device":"sensor-0","dir":"app","ev":"app_publish","msg":"sensor-0#1","topic":"house/0/temp","qos":1,"retain":false,"size":16}
{"t_us":2000100,"device":"sensor-0","dir":"up","ev":"publish_sent","msg":"sensor-0#1","pid":1,"qos":1,"dup":false}
{"t_us":2030000,"device":"sensor-0","dir":"broker","ev":"broker_accepted","msg":"sensor-0#1","topic":"house/0/temp","pid":1,"qos":1,"retain":false}
{"t_us":2060000,"device":"panel","dir":"down","ev":"delivered","msg":"sensor-0#1","topic":"house/0/temp","qos":1,"pid":1,"dup":false,"retain":false}
{"t_us":2090000,"device":"sensor-0","dir":"app","ev":"acked","msg":"sensor-0#1","pid":1,"qos":1}
{"t_us":3000000,"device":"sensor-1","dir":"app","ev":"app_publish","msg":"sensor-1#1","topic":"alarm/1","qos":0,"retain":false,"size":16}
{"t_us":4000000,"dir":"fault","ev":"link_fault","kind":"blackout","phase":"start","target":"site house","devices":["sensor-0","panel"]}
{"t_us":5000000,"dir":"broker","ev":"broker_restart","phase":"start","state":"durable"}
"#;

#[test]
fn filtered_text_traces() {
    let trace = Trace::new(parse_jsonl(SMALL_TRACE).unwrap());
    // (the view, the record numbers it keeps, from 1)
    let cases: Vec<(&str, TraceView<'_>, Vec<usize>)> = vec![
        ("all", trace.view(), (1..=10).collect()),
        ("device sensor-0", trace.device("sensor-0"), vec![3, 4, 5, 7, 9, 10]),
        ("device panel", trace.device("panel"), vec![1, 6, 9, 10]),
        ("two devices", trace.device("panel").device("alarm"), vec![1, 2, 6, 9, 10]),
        ("unknown device", trace.device("nobody"), vec![10]),
        ("topic", trace.topic("house/0/temp"), vec![1, 3, 4, 5, 6, 7]),
        ("wildcard topic", trace.topic("+/1"), vec![2, 8]),
        ("everything", trace.topic("#"), vec![1, 2, 3, 4, 5, 6, 7, 8]),
        ("invalid filter", trace.topic("house/#/x"), vec![]),
        (
            "window",
            trace.between(Duration::from_secs(2), Duration::from_secs(3)),
            vec![3, 4, 5, 6, 7],
        ),
        ("empty window", trace.between(Duration::from_secs(3), Duration::from_secs(3)), vec![]),
        (
            "device, topic and window",
            trace
                .device("panel")
                .topic("house/+/temp")
                .between(Duration::from_secs(2), Duration::MAX),
            vec![6],
        ),
    ];
    for (what, view, expected) in cases {
        let kept: Vec<usize> = view
            .records()
            .iter()
            .map(|r| trace.records().iter().position(|x| std::ptr::eq(x, *r)).unwrap() + 1)
            .collect();
        assert_eq!(kept, expected, "{what}");
        let text: String =
            expected.iter().map(|&i| trace.records()[i - 1].to_text() + "\n").collect();
        assert_eq!(view.to_text(), text, "{what}");
    }
    assert_eq!(trace.to_text(), trace.view().to_text());
    let panel = r"     1.000000  -            panel                    brk   subscribed q1 filter=house/#
     2.060000  -            panel                    <-b   PUBLISH q1 pid=1 dup=0 retain=0 topic=house/0/temp id=sensor-0#1
     4.000000  -            -                        fault blackout begins target=site house devices=2
     5.000000  -            -                        brk   BROKER CRASH (state durable)
";
    assert_eq!(trace.device("panel").to_text(), panel);
    assert_eq!(trace.device("panel").to_jsonl().lines().next(), SMALL_TRACE.trim().lines().next());
}

#[test]
fn the_trace_is_what_mqtt_sim_run_writes() {
    let run = Simulation::from_yaml(GREENHOUSE, "greenhouse.yaml").unwrap().run().unwrap();
    let mut jsonl = crate::trace::JsonLines(Vec::new());
    let mut text = crate::trace::Text(Vec::new());
    let options =
        RunOptions { seed: Some(1), trace: vec![&mut jsonl, &mut text], ..RunOptions::default() };
    crate::run(sim_scenario(), options).unwrap();
    assert_eq!(run.trace.to_jsonl().as_bytes(), jsonl.0.as_slice());
    assert_eq!(run.trace.to_text().as_bytes(), text.0.as_slice());
    assert_eq!(run.summary.trace_records, run.trace.len() as u64);
}

fn sim_scenario() -> &'static Scenario {
    static SCENARIO: std::sync::OnceLock<Scenario> = std::sync::OnceLock::new();
    SCENARIO.get_or_init(|| parse_scenario(GREENHOUSE, Path::new("greenhouse.yaml")).unwrap())
}

#[test]
fn overrides_that_cannot_be_replayed_are_errors() {
    let sim = || Simulation::from_yaml(GREENHOUSE, "greenhouse.yaml").unwrap();
    let cases = [
        (
            sim().with_duration(Duration::from_micros(1500)),
            "with_duration: 1.5ms is not a whole number of milliseconds",
        ),
        (
            sim().with_duration(Duration::from_secs(8 * 24 * 3600)),
            "with_duration: 691200s is too long",
        ),
        (sim().with_tick(Duration::ZERO), "with_tick: 0ns: the tick must be at least 1ms"),
        (sim().with_tick(Duration::from_nanos(10)), "with_tick: 10ns is not a whole number"),
    ];
    for (sim, expected) in cases {
        let err = sim.run().unwrap_err();
        assert!(err.to_string().starts_with(expected), "`{err}` does not start with `{expected}`");
    }
    // A zero duration is a run of nothing, as `mqtt-sim run --duration 0` is.
    let run = sim().with_duration(Duration::ZERO).run().unwrap();
    assert_eq!(run.replay_command(), "mqtt-sim run greenhouse.yaml --seed 1 --duration 0s");
}

#[test]
fn a_bad_scenario_is_an_error_with_its_diagnostic() {
    let err =
        Simulation::from_yaml(&GREENHOUSE.replace("latency", "latncy"), "g.yaml").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("g.yaml:"), "{text}");
    assert!(text.contains("did you mean `latency`?"), "{text}");
    let err = Simulation::from_file("no/such/file.yaml").unwrap_err();
    assert!(err.to_string().contains("cannot read scenario `no/such/file.yaml`"), "{err}");
}

#[test]
fn the_replay_command_of_a_file_names_it_as_given() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/will-takeover.yaml");
    let sim = Simulation::from_file(&path).unwrap().with_seed(4).with_swarm();
    assert_eq!(sim.seed(), 4);
    assert_eq!(sim.replay_command(4), format!("mqtt-sim run {} --seed 4 --swarm", path.display()));
    assert_eq!(sim.scenario().name, "will-takeover");
}

/// A guarantee asked for that the run gave nothing to judge is not a pass, in a single run and
/// in a sweep where no seed exercised it.
#[test]
fn a_guarantee_with_nothing_to_judge_fails_the_test() {
    let yaml = GREENHOUSE.replace(
        "expect: { qos1_at_least_once: true }",
        "expect: { qos1_at_least_once: true, qos2_exactly_once: true }",
    );
    let sim = Simulation::from_yaml(&yaml, "greenhouse.yaml").unwrap();
    let run = sim.run().unwrap();
    assert!(!run.verdict.failed());
    assert!(!run.passed());
    let message = run.failure_message().unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0],
        "scenario `greenhouse` (greenhouse.yaml), seed 1: qos2_exactly_once asked for but not \
         exercised"
    );
    assert!(lines[1].starts_with("  qos2_exactly_once     NOT EXERCISED ("), "{message}");
    assert!(message.contains("replay: mqtt-sim run greenhouse.yaml --seed 1\n"), "{message}");
    let panic = std::panic::catch_unwind(|| run.assert_passed()).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>(), Some(&message));
    let sweep = sim.check_with(&Environment::default(), 1..=2).unwrap_err();
    assert!(
        sweep.starts_with(
            "scenario `greenhouse` (greenhouse.yaml), 2 seeds: qos2_exactly_once asked for but \
             not exercised\n"
        ),
        "{sweep}"
    );
    assert!(sweep.contains("take it out of `expect:`"), "{sweep}");
}
