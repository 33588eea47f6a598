//! Sweeps on a cluster, as users run them: the Kubernetes Indexed Job and the GitHub Actions
//! workflow of `deploy/`, resuming an interrupted shard, merging, and shrinking a failure.
//!
//! - `a_sweep_run_as_the_kubernetes_indexed_job_merges_into_the_unsharded_results`: the Job's
//!   container command, run once per completion index with the environment Kubernetes gives
//!   each pod, then the merge Job's command, give the results file of the sweep run at once,
//!   byte for byte.
//! - `the_github_actions_example_shards_and_merges_consistently`.
//! - `an_interrupted_sweep_resumes_where_it_stopped`.
//! - `merging_refuses_missing_seeds_and_other_sweeps`.
//! - `shrink_writes_a_scenario_that_run_fails` and `explore_shrink_shrinks_the_first_failure`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-sim-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-sim");

/// `mqtt-sim` with no shard variables inherited from the test's own environment.
fn mqtt_sim(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("MQTT_SIM_SHARD_COUNT")
        .output()
        .expect("run mqtt-sim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn yaml(path: &str) -> serde_json::Value {
    let source = std::fs::read_to_string(repo(path)).unwrap();
    serde_saphyr::from_str(&source).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `script` with each `from` replaced by its `to`; every `from` must be there, so that the
/// test notices when the example changes.
fn substitute(script: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = script.to_owned();
    for (from, to) in replacements {
        assert!(out.contains(from), "the example's command no longer has `{from}`: {script}");
        out = out.replace(from, to);
    }
    out
}

/// The sweep's scenario and seeds in the tests, instead of the example's hour-long ones.
fn sweep_scenario() -> String {
    repo("cli/tests/scenarios/sweep-some-fail.yaml").to_str().unwrap().to_owned()
}

const SEEDS: &str = "1..=16";

#[test]
fn a_sweep_run_as_the_kubernetes_indexed_job_merges_into_the_unsharded_results() {
    let dir = scratch("k8s");
    let results = format!("{}/", dir.join("results").display());
    std::fs::create_dir_all(dir.join("results")).unwrap();
    let job = yaml("deploy/k8s/sweep-job.yaml");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let completions = job["spec"]["completions"].as_u64().unwrap();
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"], serde_json::json!(["sh", "-c"]));
    let script = container["args"][0].as_str().unwrap();
    let script = substitute(
        script,
        &[
            ("mqtt-sim explore", &format!("{BIN} explore")),
            ("/scenarios/flaky-farm.yaml", &sweep_scenario()),
            ("--seeds 1..=1000", &format!("--seeds {SEEDS}")),
            ("/results/", &results),
        ],
    );
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["value"].as_str().unwrap().to_owned()))
        .collect();
    assert!(
        env.contains(&("MQTT_SIM_SHARD_COUNT".to_owned(), completions.to_string())),
        "the shard count must be the Job's completions: {env:?}"
    );

    // One process per pod, all at once, each with what Kubernetes sets: its index, and the
    // container's env.
    let pod = |index: u64| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]).current_dir(&dir).env("JOB_COMPLETION_INDEX", index.to_string());
        cmd.env_remove("MQTT_SIM_SHARD_COUNT");
        for (name, value) in &env {
            cmd.env(name, value);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start a shard")
    };
    let pods: Vec<_> = (0..completions).map(pod).collect();
    for (index, child) in pods.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "pod {index}: {}\n{}", out.status, text(&out.stderr));
    }
    let shard0 = std::fs::read_to_string(dir.join("results/shard-0.jsonl")).unwrap();
    assert_eq!(shard0.lines().count(), 1 + 2, "a header and seeds 1 and 9: {shard0}");

    // A pod restarted after it finished resumes its file and runs nothing again.
    let again = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&dir)
        .env("JOB_COMPLETION_INDEX", "0")
        .env("MQTT_SIM_SHARD_COUNT", completions.to_string())
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("resuming: 2 of the 2 seed(s)"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(std::fs::read_to_string(dir.join("results/shard-0.jsonl")).unwrap(), shard0);

    let merge = yaml("deploy/k8s/merge-job.yaml");
    let merge_script =
        merge["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().unwrap();
    let merge_script = substitute(
        merge_script,
        &[("mqtt-sim explore", &format!("{BIN} explore")), ("/results/", &results)],
    );
    let merged = Command::new("sh").args(["-c", &merge_script]).current_dir(&dir).output().unwrap();
    let stdout = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "some seeds fail: {stdout}{}", text(&merged.stderr));
    assert!(stdout.contains(&format!("merged {completions} file(s)")), "{stdout}");
    assert!(stdout.contains("of 16 seed(s) failed"), "{stdout}");

    let whole = mqtt_sim(
        &["explore", &sweep_scenario(), "--seeds", SEEDS, "--jobs", "2", "--results", "all.jsonl"],
        &dir,
    );
    assert_eq!(whole.status.code(), Some(1), "{}", text(&whole.stdout));
    let all = std::fs::read(dir.join("all.jsonl")).unwrap();
    assert_eq!(
        text(&std::fs::read(dir.join("results/sweep.jsonl")).unwrap()),
        text(&all),
        "the merged shards are the unsharded sweep, byte for byte"
    );
    let index = std::fs::read_to_string(dir.join("results/index.html")).unwrap();
    assert!(index.contains("of 16 seed(s) failed"), "{index}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_github_actions_example_shards_and_merges_consistently() {
    let workflow = yaml("deploy/github-actions/sweep.yml");
    let shards = workflow["jobs"]["sweep"]["strategy"]["matrix"]["shard"].as_array().unwrap();
    let n = shards.len();
    assert_eq!(
        shards.iter().map(|s| s.as_u64().unwrap() as usize).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    let steps = |job: &str| -> Vec<String> {
        workflow["jobs"][job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str().map(str::to_owned))
            .collect()
    };
    let sweep = steps("sweep").join("\n");
    assert!(sweep.contains(&format!("--shard ${{{{ matrix.shard }}}}/{n}")), "{sweep}");
    assert!(sweep.contains("--results shard-${{ matrix.shard }}.jsonl"), "{sweep}");
    assert!(
        sweep.contains("cargo build --release --locked -p mqtt-sim"),
        "the README's build command"
    );
    assert_eq!(workflow["jobs"]["merge"]["needs"], "sweep");
    assert!(steps("merge").join("\n").contains("explore --merge shard-*.jsonl"));
    // It is an example, kept where it does not run on this repository.
    assert!(!repo(".github/workflows/sweep.yml").exists());

    // Its shard commands, run as the matrix would, merge into the whole sweep.
    let dir = scratch("gha");
    for k in 1..=n {
        let shard = format!("{k}/{n}");
        let file = format!("shard-{k}.jsonl");
        let out = mqtt_sim(
            &[
                "explore",
                &sweep_scenario(),
                "--seeds",
                SEEDS,
                "--shard",
                &shard,
                "--results",
                &file,
            ],
            &dir,
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    }
    let files: Vec<String> = (1..=n).map(|k| format!("shard-{k}.jsonl")).collect();
    let mut args = vec!["explore", "--merge"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--results", "sweep/sweep.jsonl"]);
    let out = mqtt_sim(&args, &dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(dir.join("sweep/index.html").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_interrupted_sweep_resumes_where_it_stopped() {
    let dir = scratch("resume");
    let scenario = sweep_scenario();
    let out =
        mqtt_sim(&["explore", &scenario, "--seeds", "1..=6", "--results", "whole.jsonl"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let whole = std::fs::read_to_string(dir.join("whole.jsonl")).unwrap();
    // Interrupted while writing seed 4's line: the header, seeds 1 to 3, half a line.
    let lines: Vec<&str> = whole.split_inclusive('\n').collect();
    let cut = format!("{}{}", lines[..4].concat(), &lines[4][..10]);
    std::fs::write(dir.join("part.jsonl"), &cut).unwrap();
    let out = mqtt_sim(&["explore", &scenario, "--seeds", "1..=6", "--resume", "part.jsonl"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("resuming: 3 of the 6 seed(s) are in part.jsonl; running the other 3"),
        "{stdout}"
    );
    assert!(stdout.contains("3 seeds in"), "only three seeds ran: {stdout}");
    assert!(text(&out.stderr).contains("was cut short"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("part.jsonl")).unwrap(), whole);

    // A results file of another sweep is not resumed.
    let out = mqtt_sim(
        &["explore", &scenario, "--seeds", "1..=6", "--tick", "20ms", "--resume", "part.jsonl"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("of another sweep (tick 20ms instead of none)"),
        "{}",
        text(&out.stderr)
    );
    let out = mqtt_sim(
        &["explore", &scenario, "--seeds", "1..=6", "--shard", "1/2", "--resume", "part.jsonl"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("holds seed 2, which this sweep does not run"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merging_refuses_missing_seeds_and_other_sweeps() {
    let dir = scratch("merge");
    let scenario = sweep_scenario();
    for (shard, extra) in [("1/2", None), ("2/2", None), ("2/2", Some("20ms"))] {
        let file = format!("s{}{}.jsonl", &shard[..1], extra.map_or("", |_| "-tick"));
        let mut args =
            vec!["explore", &scenario, "--seeds", "1..=4", "--shard", shard, "--results", &file];
        if let Some(tick) = extra {
            args.extend(["--tick", tick]);
        }
        assert!(matches!(mqtt_sim(&args, &dir).status.code(), Some(0 | 1)));
    }
    let out = mqtt_sim(&["explore", "--merge", "s1.jsonl", "--results", "m.jsonl"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("2 of the sweep's 4 seeds have no result (the first: 2, 4)"),
        "{}",
        text(&out.stderr)
    );
    let out = mqtt_sim(
        &["explore", "--merge", "s1.jsonl", "s2-tick.jsonl", "--results", "m.jsonl"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is of another sweep than s1.jsonl: tick 20ms instead of none"),
        "{}",
        text(&out.stderr)
    );
    // Given twice, a shard is merged once.
    let out = mqtt_sim(
        &["explore", "--merge", "s1.jsonl", "s2.jsonl", "s2.jsonl", "--results", "m.jsonl"],
        &dir,
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(": 4 seed(s)"), "{}", text(&out.stdout));
    let out = mqtt_sim(&["explore", "--merge", "nothing.jsonl"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shard_count_must_come_with_the_completion_index() {
    let dir = scratch("shard-env");
    let scenario = sweep_scenario();
    let run = |env: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["explore", &scenario, "--seeds", "1..=4"]).args(extra).current_dir(&dir);
        cmd.env_remove("JOB_COMPLETION_INDEX").env_remove("MQTT_SIM_SHARD_COUNT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[("JOB_COMPLETION_INDEX", "1")], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pass --shard-count N or set MQTT_SIM_SHARD_COUNT"),
        "{}",
        text(&out.stderr)
    );
    let out =
        run(&[("JOB_COMPLETION_INDEX", "1")], &["--shard-count", "2", "--results", "r.jsonl"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("over 2 seed(s) 1..=4, shard 2/2 (JOB_COMPLETION_INDEX=1)"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&[("JOB_COMPLETION_INDEX", "2"), ("MQTT_SIM_SHARD_COUNT", "2")], &[]);
    assert_eq!(out.status.code(), Some(2), "index 2 of 2 shards does not exist");
    let out = run(&[], &["--shard-count", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shrink_writes_a_scenario_that_run_fails() {
    let dir = scratch("shrink");
    let scenario = repo("cli/tests/scenarios/planted-will-after-disconnect.yaml");
    let scenario = scenario.to_str().unwrap();
    let out = mqtt_sim(&["shrink", scenario, "--seed", "1", "--out", "small.yaml"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("guarantee: wills [MQTT-3.14.4-3]"), "{stdout}");
    assert!(stdout.contains("replay: mqtt-sim run small.yaml"), "{stdout}");
    // Off a terminal, each step that kept the failure is a line on stderr.
    assert!(text(&out.stderr).contains("run 3: "), "{}", text(&out.stderr));
    let small = std::fs::read_to_string(dir.join("small.yaml")).unwrap();
    assert!(small.starts_with("# Shrunk by `mqtt-sim shrink` from "), "{small}");
    let out = mqtt_sim(&["run", "small.yaml"], &dir);
    assert_eq!(out.status.code(), Some(1), "the shrunk scenario fails: {}", text(&out.stdout));
    assert!(text(&out.stdout).contains("wills                 FAIL"), "{}", text(&out.stdout));

    // A seed without a failure has nothing to shrink.
    let clean = repo("sim/tests/scenarios/run/power-vs-crash.yaml");
    let out = mqtt_sim(&["shrink", clean.to_str().unwrap(), "--seed", "9"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("there is no failure to shrink"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explore_shrink_shrinks_the_first_failure() {
    let dir = scratch("explore-shrink");
    let out = mqtt_sim(
        &["explore", &sweep_scenario(), "--seeds", "1..=5", "--shrink", "--results", "r.jsonl"],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("shrinking sweep-some-fail"), "{stdout}");
    assert!(stdout.contains(", seed 4: at most 500 runs"), "seed 4 is the first failure: {stdout}");
    let shrunk = dir.join("reports/sweep-some-fail/shrunk-4.yaml");
    assert!(shrunk.exists(), "{stdout}");
    let out = mqtt_sim(&["run", shrunk.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
