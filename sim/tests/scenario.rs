//! Integration tests of the scenario format.
//!
//! - `shipped_scenarios_parse`: every scenario in `scenarios/` parses and is consistent.
//! - `malformed_scenarios`: each file in `tests/scenarios/malformed/` fails with the message
//!   recorded in its snapshot.
//! - `schema_is_up_to_date`: the committed JSON Schema equals the generated one.
//! - `never_panics_*`: random bytes and random mutations of a valid scenario never panic.

use std::path::{Path, PathBuf};

use mqttsim_sim::scenario::{ScenarioError, json_schema, load_scenario, parse_scenario};
use proptest::prelude::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_scenarios_parse() {
    let files = shipped();
    let names: Vec<String> =
        files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in [
        "flaky-farm.yaml",
        "smart-building.yaml",
        "reconnect-storm.yaml",
        "qos2-heavy-loss.yaml",
        "will-takeover.yaml",
    ] {
        assert!(names.iter().any(|n| n == expected), "missing shipped scenario {expected}");
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=./scenario.schema.json\n"),
            "{} lacks the schema line",
            file.display()
        );
        if let Err(e) = load_scenario(&file) {
            panic!("{e}");
        }
    }
}

#[test]
fn flaky_farm_has_what_the_issue_asks_for() {
    let s = load_scenario(&repo_root().join("scenarios/flaky-farm.yaml")).unwrap();
    assert!((900..=1100).contains(&s.device_count()), "{}", s.device_count());
    assert!(s.sites.len() >= 3);
    assert_eq!(s.duration.get().as_secs(), 3600);
    assert!(s.devices.iter().any(|g| g.subscribe.iter().any(|f| f.filter.as_str() == "farm/#")));
    use mqttsim_sim::scenario::FaultKind::*;
    let kinds: Vec<_> = s.faults.iter().filter_map(|f| f.kind).collect();
    for k in [Partition, PowerLoss, BrokerRestart] {
        assert!(kinds.contains(&k), "flaky-farm lacks a {k:?} fault");
    }
}

/// Defect: a 200,000-character YAML line was echoed whole in the diagnostic. It shows an
/// excerpt around the column, the caret still under the fault.
#[test]
fn a_very_long_line_is_shown_as_an_excerpt() {
    let padding = "x".repeat(200_000);
    let yaml = format!(
        "name: long\nseed: 1\nduration: 1m\nprotocol: \"3.1.1\"\n\
         sites: [ {{ name: \"{padding}\", link: {{ latncy: 40ms }} }} ]\n\
         devices: [ {{ group: g, site: s, count: 1, client_id: c }} ]\n"
    );
    let err = parse_scenario(&yaml, Path::new("long.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 1_000, "{} bytes: {}", text.len(), &text[..300.min(text.len())]);
    let lines: Vec<&str> = text.lines().collect();
    let source = lines.iter().find(|l| l.contains('…')).expect("an excerpt marked with …");
    let caret = lines.iter().find(|l| l.contains('^')).expect("a caret line");
    // The caret points at the field the error names.
    let at = caret.find('^').unwrap();
    let under: String = source.chars().skip(caret[..at].chars().count()).take(4).collect();
    assert_eq!(under, "latn", "{text}");
}

#[test]
fn smart_building_is_ten_thousand_devices() {
    let s = load_scenario(&repo_root().join("scenarios/smart-building.yaml")).unwrap();
    assert_eq!(s.device_count(), 10_000);
}

#[test]
fn malformed_scenarios() {
    insta::glob!("scenarios/malformed/*.yaml", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = Path::new("malformed").join(path.file_name().unwrap());
        let message = match parse_scenario(&text, &name) {
            Ok(_) => panic!("{} parsed, but it is in the malformed corpus", name.display()),
            Err(ScenarioError::Invalid(d)) => d.to_string(),
            Err(other) => panic!("unexpected error kind: {other}"),
        };
        insta::assert_snapshot!(message);
    });
}

#[test]
fn schema_is_up_to_date() {
    let path = repo_root().join("scenarios/scenario.schema.json");
    let generated = json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "scenarios/scenario.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p mqttsim-sim --test scenario schema` and commit it"
    );
}

fn valid_example() -> String {
    std::fs::read_to_string(repo_root().join("scenarios/will-takeover.yaml")).unwrap()
}

proptest! {
    // 256 cases by default; set PROPTEST_CASES for a longer run.

    #[test]
    fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_scenario(&text, Path::new("random.yaml"));
    }

    #[test]
    fn never_panics_on_mutations(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<char>()), 1..6)
    ) {
        let mut text: Vec<char> = valid_example().chars().collect();
        for (at, op, c) in edits {
            if text.is_empty() {
                break;
            }
            let i = at.index(text.len());
            match op {
                0 => { text.remove(i); }
                1 => text.insert(i, c),
                2 => text[i] = c,
                _ => {
                    let special = [':', '{', '}', '[', ']', '-', '%', '\n', ' ', '0', '9', '&', '*', '#'];
                    text.insert(i, special[(c as usize) % special.len()]);
                }
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(ScenarioError::Invalid(d)) = parse_scenario(&text, Path::new("mutated.yaml")) {
            // Rendering must not panic either, whatever the location.
            let _ = d.to_string();
            prop_assert!(d.line >= 1 && d.column >= 1);
        }
    }
}

const SMALL: &str = r#"
name: small
seed: 3
duration: 1h
protocol: 5.0
sites:
  - name: yard
    link: { latency: { uniform: { min: 10ms, max: 30ms } }, loss: 2%, jitter: 5ms }
devices:
  - group: crane
    site: yard
    count: 12
    client_id: "{group}-{site}-{i:02}"
    link: { loss: 10% }
    publish:
      - { topic: "yard/{group}/{i}", every: 1s }
faults:
  - kind: loss-burst
    target: { group: crane, count: 3 }
    loss: 50%
    at: 10m
    for: 1m
    every: 15m
  - kind: broker-restart
    at: 30m
    for: 20s
    state: volatile
  - random: { kinds: [reboot], rate: 6/h }
    for: 30s
"#;

#[test]
fn accessors_of_a_parsed_scenario() {
    use mqttsim_sim::scenario::{FaultAction, Latency, ProtocolVersion, StateMode, TimeSpan};
    let s = parse_scenario(SMALL, Path::new("small.yaml")).unwrap();
    assert_eq!(s.protocol, ProtocolVersion(mqttsim_codec::Protocol::V5));
    assert_eq!(s.device_count(), 12);
    let crane = s.group("crane").unwrap();
    assert_eq!(crane.client_id(7), "crane-yard-07");
    assert_eq!(crane.expand(&crane.publish[0].topic, 11), "yard/crane/11");

    // The group's loss replaces the site's; latency and jitter are inherited.
    let link = s.effective_link(crane);
    assert_eq!(link.loss.unwrap().get(), 0.10);
    assert_eq!(link.jitter, Some(TimeSpan::from_millis(5)));
    assert!(matches!(link.latency, Some(Latency::Uniform { .. })));

    let starts: Vec<String> =
        s.faults[0].occurrences(s.duration).iter().map(|t| t.to_string()).collect();
    assert_eq!(starts, ["10m", "25m", "40m", "55m"]);
    assert!(
        matches!(s.faults[0].action(), FaultAction::LossBurst { loss, .. } if loss.get() == 0.5)
    );
    assert_eq!(
        s.faults[1].action(),
        FaultAction::BrokerRestart { state: Some(StateMode::Volatile) }
    );
    assert_eq!(s.restart_state(&s.faults[1]), StateMode::Volatile);
    match s.faults[2].action() {
        FaultAction::Random { random, target: None } => {
            assert_eq!(random.mean_interval(), std::time::Duration::from_secs(600));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn io_errors_and_invalid_utf8_are_typed() {
    let missing = load_scenario(Path::new("/nonexistent/scenario.yaml")).unwrap_err();
    assert!(matches!(missing, ScenarioError::Io { .. }), "{missing}");
    // Said like every other error.
    assert!(missing.to_string().starts_with("error: cannot read scenario"), "{missing}");
    let dir = std::env::temp_dir().join(format!("mqttsim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("latin1.yaml");
    std::fs::write(&file, b"name: caf\xe9\n").unwrap();
    let err = load_scenario(&file).unwrap_err();
    let d = err.diagnostic().expect("a located diagnostic");
    assert_eq!((d.line, d.column), (1, 10));
    assert!(d.message.contains("UTF-8"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn anchors_and_merge_keys_share_settings() {
    let yaml = r#"
name: merge
seed: 1
duration: 10m
protocol: "3.1.1"
sites: [{ name: a }, { name: b }]
devices:
  - &sensor
    group: north
    site: a
    count: 2
    client_id: "{group}-{i}"
    keepalive: 20s
  - <<: *sensor
    group: south
    site: b
"#;
    let s = parse_scenario(yaml, Path::new("merge.yaml")).unwrap();
    assert_eq!(s.devices[1].client_id(1), "south-1");
    assert_eq!(s.devices[1].keepalive.get().as_secs(), 20);

    // An error in a merged value still names a location and a field.
    let bad = yaml.replace("keepalive: 20s", "keepalive: 20");
    let err = parse_scenario(&bad, Path::new("merge.yaml")).unwrap_err();
    let d = err.diagnostic().unwrap();
    assert_eq!((d.line, d.field.as_deref()), (13, Some("devices[0].keepalive")));
}

/// `retain_available: false` holds back only 5.0 devices: a 3.1.1 group's retained messages
/// and retained Will are still retained, so `retained` has something to judge, and a 5.0 group
/// may publish retained messages (its devices give them up).
#[test]
fn retain_unavailable_leaves_3_1_1_retained_messages_to_judge() {
    let yaml = r##"
name: no-retain
seed: 1
duration: 10m
protocol: "5.0"
broker: { retain_available: false }
sites: [{ name: a }]
devices:
  - { group: new, site: a, count: 1, client_id: "new",
      will: { topic: "w/new", payload: gone, qos: 1 },
      publish: [ { topic: "s/new", qos: 1, retain: true, every: 1m } ] }
  - { group: old, site: a, count: 1, client_id: "old", protocol: "3.1.1",
      will: { topic: "w/old", payload: gone, qos: 1, retain: true } }
  - { group: screen, site: a, count: 1, client_id: "screen", subscribe: [ { filter: "#", qos: 1 } ] }
expect: { retained: true }
"##;
    let s = parse_scenario(yaml, Path::new("no-retain.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.broker.retain_available, Some(false));

    // Without the 3.1.1 retained Will nothing is left to judge.
    let bad = yaml.replace("qos: 1, retain: true } }", "qos: 1 } }");
    let err = parse_scenario(&bad, Path::new("no-retain.yaml")).unwrap_err();
    let d = err.diagnostic().unwrap();
    assert_eq!((d.line, d.field.as_deref()), (15, Some("expect.retained")), "{err}");
    // Accepted again without the expectation.
    parse_scenario(&bad.replace("expect: { retained: true }", ""), Path::new("no-retain.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
}
