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
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

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
