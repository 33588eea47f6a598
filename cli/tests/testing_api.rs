//! The library's test surface (`mqttsim_sim::testing`) as a user's CI runs them: the seed comes
//! from `MQTT_SIM_SEED` (or a sweep from `MQTT_SIM_SEEDS`) in the test process's real
//! environment, the failure message prints the replay commands, and the `mqtt-sim run` command
//! it prints reproduces the library's trace byte for byte.
//!
//! The tests run this very test binary again as a child process with the variables set, on
//! one test (`planted_bug_sweep`), which on its own is an expected-failure test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use mqttsim_sim::testing::Simulation;

/// Relative to the crate's directory, where `cargo test` runs the tests: the replay command
/// names it so, and runs from there.
const SCENARIO: &str = "tests/scenarios/planted-will-after-disconnect.yaml";

fn simulation() -> Simulation {
    Simulation::from_file(SCENARIO).unwrap().with_duration(Duration::from_secs(20))
}

/// A sweep of a broker with a planted bug (it publishes the Will of a client that left with
/// DISCONNECT): every seed fails `wills`, and the message says how to replay each. It prints
/// the message, as CI would show it, for the tests below.
#[test]
fn planted_bug_sweep() {
    let sim = simulation();
    let panic = std::panic::catch_unwind(|| sim.check_seeds(1..=2)).unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    println!("{message}");
    assert!(message.contains(": wills failed (1 violation)"), "{message}");
}

/// Runs `planted_bug_sweep` alone in a child process with `vars` set (and the others unset).
fn child(vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["planted_bug_sweep", "--exact", "--nocapture"]);
    for var in ["MQTT_SIM_SEED", "MQTT_SIM_SEEDS", "MQTT_SIM_CHECK_DETERMINISM"] {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied());
    cmd.output().expect("run the test binary again")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-sim-testing-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn mqtt_sim_seed_selects_the_seed_and_the_printed_replay_reproduces_the_trace() {
    let out = child(&[("MQTT_SIM_SEED", "7")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // Only seed 7 ran.
    let first =
        format!("scenario `planted-will-after-disconnect` ({SCENARIO}), seed 7: wills failed");
    assert!(stdout.contains(&first), "{stdout}");
    assert!(!stdout.contains("seed 1") && !stdout.contains("seeds failed"), "{stdout}");
    assert!(stdout.contains("(the seed was chosen by MQTT_SIM_SEED=7)"), "{stdout}");
    // The two replay lines, as a user copies them.
    let cargo = "    or: MQTT_SIM_SEED=7 cargo test -p mqtt-sim --test testing_api planted_bug_sweep \
                 -- --exact";
    assert!(stdout.lines().any(|l| l == cargo), "{stdout}");
    let replay = stdout
        .lines()
        .find_map(|l| l.strip_prefix("replay: "))
        .unwrap_or_else(|| panic!("a replay line: {stdout}"));
    assert_eq!(replay, format!("mqtt-sim run {SCENARIO} --seed 7 --duration 20s"));
    // `mqtt-sim run` with the printed arguments writes the library's trace, byte for byte.
    let dir = scratch("replay");
    let mut args: Vec<&str> = replay.split(' ').skip(1).collect();
    let out_dir = dir.to_str().unwrap();
    args.extend(["--out", out_dir]);
    let run = Command::new(env!("CARGO_BIN_EXE_mqtt-sim"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "the planted bug fails: {}", text(&run.stderr));
    let written = std::fs::read(dir.join("trace.jsonl")).unwrap();
    let library = simulation().run_seed(7).unwrap();
    assert_eq!(library.seed, 7);
    assert!(!library.trace.is_empty());
    assert!(written == library.trace.to_jsonl().as_bytes(), "the traces differ");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mqtt_sim_seeds_runs_that_sweep() {
    let out = child(&[("MQTT_SIM_SEEDS", "3..=5")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("3 of 3 seeds failed (seeds chosen by MQTT_SIM_SEEDS=3..=5)"),
        "{stdout}"
    );
    assert!(stdout.contains("), seed 3: wills failed"), "{stdout}");
    for seed in [4, 5] {
        let line = format!(
            "  seed {seed}: wills failed; replay: MQTT_SIM_SEED={seed} cargo test -p mqtt-sim \
             --test testing_api planted_bug_sweep -- --exact"
        );
        assert!(stdout.lines().any(|l| l == line), "{stdout}");
    }
}

#[test]
fn a_bad_seed_variable_fails_the_test_saying_what_is_wrong() {
    // (variables, what the failing child says)
    let cases = [
        (vec![("MQTT_SIM_SEED", "seven")], "MQTT_SIM_SEED=`seven`: not a seed"),
        (vec![("MQTT_SIM_SEEDS", "10..1")], "MQTT_SIM_SEEDS=`10..1`: `10..1` is empty"),
        (
            vec![("MQTT_SIM_SEED", "1"), ("MQTT_SIM_SEEDS", "1..=3")],
            "MQTT_SIM_SEEDS=`1..=3`: MQTT_SIM_SEED=1 is set too",
        ),
        (vec![("MQTT_SIM_CHECK_DETERMINISM", "maybe")], "MQTT_SIM_CHECK_DETERMINISM=`maybe`"),
    ];
    for (vars, expected) in cases {
        let out = child(&vars);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{vars:?}: {all}");
        assert!(all.contains(expected), "{vars:?}: {all}");
    }
}

#[test]
fn the_determinism_double_run_passes_our_simulator() {
    let out = child(&[("MQTT_SIM_CHECK_DETERMINISM", "1"), ("MQTT_SIM_SEED", "2")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("), seed 2: wills failed"), "{stdout}");
    assert!(!stdout.contains("not deterministic"), "{stdout}");
}

#[test]
fn the_scenario_path_is_relative_to_the_crate() {
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO).is_file());
    assert_eq!(std::env::current_dir().unwrap(), Path::new(env!("CARGO_MANIFEST_DIR")));
}
