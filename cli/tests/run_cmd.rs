//! `mqtt-sim run` as a user runs it: exit codes, the files it writes, what it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-sim-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mqtt_sim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mqtt-sim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run mqtt-sim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_bad_scenario_prints_the_parsers_diagnostic_and_exits_2() {
    let dir = scratch("bad");
    let path = repo("sim/tests/scenarios/malformed/bad-bound.yaml");
    let out = mqtt_sim(&["run", path.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: `5%` is not a bound"), "{stderr}");
    assert!(stderr.contains("= field: expect.expected_loss.qos0"), "{stderr}");
    assert!(stderr.contains("34 |   expected_loss: { qos0: \"5%\" }"), "{stderr}");
    assert!(!dir.join("reports").exists(), "nothing is written for a bad scenario");
}

#[test]
fn a_missing_scenario_exits_2() {
    let dir = scratch("missing");
    let out = mqtt_sim(&["run", "no-such-file.yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    // Said like every other error (it lacked the `error:` prefix).
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: cannot read scenario `no-such-file.yaml`"), "{stderr}");
}

/// Defect: `--duration 0` was rejected though `0` is a duration everywhere else; a run of
/// nothing has nothing to judge, which the verdict says, with a warning each.
#[test]
fn a_zero_duration_is_a_run_with_nothing_exercised() {
    let dir = scratch("zero");
    let path = repo("cli/tests/scenarios/planted-will-after-disconnect.yaml");
    let out = mqtt_sim(&["run", path.to_str().unwrap(), "--duration", "0"], &dir);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("NOT EXERCISED"), "{stdout}");
    assert!(stderr.contains("warning: `wills` was asked for but not exercised"), "{stderr}");
    assert!(stderr.contains("never connected"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Defect: `explore --jobs 0` was accepted.
#[test]
fn explore_refuses_zero_jobs() {
    let dir = scratch("jobs");
    let path = repo("sim/tests/scenarios/run/power-vs-crash.yaml");
    let out = mqtt_sim(&["explore", path.to_str().unwrap(), "--jobs", "0"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--jobs"), "{}", text(&out.stderr));
}

/// Defect: `run --tick 0` never returned (a step of no simulated time never advances the run);
/// `explore` and `shrink` took it too. A tick below 1 ms is a usage error everywhere.
#[test]
fn a_zero_tick_is_a_usage_error() {
    let dir = scratch("tick");
    let path = repo("sim/tests/scenarios/run/power-vs-crash.yaml");
    let path = path.to_str().unwrap();
    for args in [
        vec!["run", path, "--tick", "0"],
        vec!["explore", path, "--seeds", "1..=2", "--tick", "0s"],
        vec!["shrink", path, "--seed", "1", "--tick", "0ms"],
    ] {
        let out = mqtt_sim(&args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("the tick must be at least 1ms"), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--packets` adds a record per control packet (PINGREQ, PINGRESP, PUBACK, ...); without it the
/// trace has none.
#[test]
fn packets_adds_the_packet_level_trace() {
    let dir = scratch("packets");
    let path = repo("sim/tests/scenarios/run/power-vs-crash.yaml");
    let path = path.to_str().unwrap();
    let run = |extra: &[&str], out: &str| {
        let mut args = vec!["run", path, "--seed", "3", "--duration", "35s", "--out", out];
        args.extend_from_slice(extra);
        let out = mqtt_sim(&args, &dir);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out
    };
    run(&[], "plain");
    let out = run(&["--packets"], "packets");
    // The packet records are evidence the checker uses, so the replay asks for them too.
    assert!(
        text(&out.stdout).contains("--seed 3 --duration 35s --packets\n"),
        "{}",
        text(&out.stdout)
    );
    let plain = std::fs::read_to_string(dir.join("plain/trace.txt")).unwrap();
    let packets = std::fs::read_to_string(dir.join("packets/trace.txt")).unwrap();
    for packet in
        ["->b   CONNECT\n", "<-b   CONNACK\n", "->b   SUBSCRIBE pid=1", "->b   PUBACK pid=1"]
    {
        assert!(!plain.contains(packet), "{plain}");
        assert!(packets.contains(packet), "{packet:?} in {packets}");
    }
    // The default records are all there, in the same order.
    let plain_lines: Vec<&str> = plain.lines().collect();
    let known: std::collections::BTreeSet<&str> = plain_lines.iter().copied().collect();
    let kept: Vec<&str> = packets.lines().filter(|l| known.contains(l)).collect();
    assert_eq!(kept, plain_lines);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_writes_its_trace_and_summary_and_prints_the_replay_command() {
    let dir = scratch("ok");
    let path = repo("sim/tests/scenarios/run/power-vs-crash.yaml");
    let path = path.to_str().unwrap();
    let out = mqtt_sim(&["run", path, "--seed", "9", "--duration", "35s"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.contains("seed: 9\n"), "{stdout}");
    assert!(stdout.contains("checks: 0 violation(s)"), "{stdout}");
    assert!(stdout.contains(&format!("replay: mqtt-sim run {path} --seed 9 --duration 35s")));
    assert!(stdout.contains("wills published: 2"), "{stdout}");

    let report = dir.join("reports/power-vs-crash/9");
    let jsonl = std::fs::read_to_string(report.join("trace.jsonl")).unwrap();
    let txt = std::fs::read_to_string(report.join("trace.txt")).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    let records = jsonl.lines().count();
    assert_eq!(summary["trace_records"], records as u64);
    assert_eq!(txt.lines().count(), records);
    assert_eq!(summary["seed"], 9);
    assert_eq!(summary["simulated_ms"], 35_000);
    assert_eq!(summary["wills_published"], 2);
    assert!(txt.contains("WILL published q1 retain=0 topic=nodes/1/online"), "{txt}");

    // The replay gives the same trace, byte for byte; --out and --trace move the files.
    let out = mqtt_sim(
        &["run", path, "--seed", "9", "--duration", "35s", "--out", "again", "--trace", "t.jsonl"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(dir.join("t.jsonl")).unwrap(), jsonl);
    assert!(dir.join("again/trace.txt").exists() && dir.join("again/summary.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_duration_is_a_usage_error() {
    let dir = scratch("usage");
    let path = repo("sim/tests/scenarios/run/power-vs-crash.yaml");
    let out = mqtt_sim(&["run", path.to_str().unwrap(), "--duration", "10 min"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--duration"), "{}", text(&out.stderr));
}

#[test]
fn a_violated_expectation_prints_the_violation_and_exits_1() {
    let dir = scratch("violation");
    let path = repo("cli/tests/scenarios/planted-will-after-disconnect.yaml");
    let out = mqtt_sim(&["run", path.to_str().unwrap()], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.contains("wills") && stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("replay: mqtt-sim run"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explore_lists_failing_seeds_with_replay_commands_and_exits_1() {
    let dir = scratch("explore");
    let path = repo("cli/tests/scenarios/planted-will-after-disconnect.yaml");
    let path = path.to_str().unwrap();
    let out = mqtt_sim(
        &["explore", path, "--seeds", "1..=3", "--jobs", "2", "--results", "r.jsonl"],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.contains("3 of 3 seed(s) failed"), "{stdout}");
    assert!(stdout.contains(&format!("replay: mqtt-sim run {path} --seed 2")), "{stdout}");
    let lines = std::fs::read_to_string(dir.join("r.jsonl")).unwrap();
    assert!(lines.starts_with("{\"sweep\":{"), "a header line names the sweep: {lines}");
    let seeds: Vec<u64> = lines
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [1, 2, 3], "one line per seed, in seed order");
    // Off a terminal, each failing seed is said as it is found, and progress goes to stderr.
    let stderr = text(&out.stderr);
    for seed in 1..=3 {
        let said = format!(
            "seed {seed} failed: 1 violation(s): wills; replay: mqtt-sim run {path} --seed {seed}"
        );
        assert!(stderr.contains(&said), "{stderr}");
    }
    assert!(stderr.contains("3/3 seeds, 3 failing"), "{stderr}");
    // What the sweep went through.
    assert!(stdout.contains("coverage: ") && stdout.contains("Wills"), "{stdout}");

    // Shards of one sweep merge into the whole.
    for shard in ["1/2", "2/2"] {
        let file = format!("s{}.jsonl", &shard[..1]);
        let out = mqtt_sim(
            &["explore", path, "--seeds", "1..=3", "--shard", shard, "--results", &file],
            &dir,
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    }
    let out = mqtt_sim(&["explore", "--merge", "s1.jsonl", "s2.jsonl"], &dir);
    assert!(text(&out.stdout).contains("3 seed(s)"), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("3 of 3 seed(s) failed"), "{}", text(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--compress` writes the same JSON Lines, compressed with zstd; `mqtt-sim report` reads it;
/// `--text never` leaves the text trace out (and one an earlier run left there).
#[test]
fn a_compressed_trace_is_the_same_trace_and_report_reads_it() {
    let dir = scratch("zstd");
    let path = repo("scenarios/will-takeover.yaml");
    let scenario = path.to_str().unwrap();
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec!["run", scenario, "--duration", "2m", "--out", out];
        args.extend_from_slice(extra);
        let output = mqtt_sim(&args, &dir);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let plain_out = run("plain", &[]);
    std::fs::create_dir_all(dir.join("zst")).unwrap();
    std::fs::write(dir.join("zst/trace.txt"), "stale").unwrap();
    std::fs::write(dir.join("zst/trace.jsonl"), "stale").unwrap();
    let zst_out = run("zst", &["--compress", "--text", "never"]);

    let plain = std::fs::read(dir.join("plain/trace.jsonl")).unwrap();
    let compressed = std::fs::read(dir.join("zst/trace.jsonl.zst")).unwrap();
    let unpacked = zstd::decode_all(compressed.as_slice()).unwrap();
    assert!(unpacked == plain, "the compressed trace is not the plain one");
    assert!(compressed.len() * 5 < plain.len(), "{} vs {} bytes", compressed.len(), plain.len());
    assert!(!dir.join("zst/trace.txt").exists(), "--text never left a trace.txt");
    assert!(!dir.join("zst/trace.jsonl").exists(), "an old plain trace was left beside it");
    assert!(zst_out.contains("trace.jsonl.zst ("), "{zst_out}");
    assert!(zst_out.contains("no trace.txt (--text never)"), "{zst_out}");
    assert!(plain_out.contains(" records) and "), "{plain_out}");

    let report = mqtt_sim(&["report", "zst/trace.jsonl.zst"], &dir);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    let checks = |s: &str| s.lines().find(|l| l.starts_with("checks:")).map(str::to_owned);
    assert_eq!(checks(&text(&report.stdout)), checks(&plain_out));
    assert!(dir.join("zst/report.html").exists());

    let wrong = mqtt_sim(&["run", scenario, "--compress", "--trace", "t.jsonl"], &dir);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong.stderr));
    assert!(text(&wrong.stderr).contains("does not end in .zst"), "{}", text(&wrong.stderr));
}

/// A trace that is neither JSON Lines nor zstd (here: a zstd header and then garbage) is bad
/// input (exit 2, naming the file), not a machine failure.
#[test]
fn a_corrupt_compressed_trace_is_bad_input() {
    let dir = scratch("corrupt");
    let trace = dir.join("trace.jsonl.zst");
    std::fs::write(&trace, [0x28, 0xB5, 0x2F, 0xFD, 0xFF, 0x00, 0x13, 0x37, 0x42]).unwrap();
    let scenario = repo("scenarios/will-takeover.yaml");
    let out = mqtt_sim(
        &["report", trace.to_str().unwrap(), "--scenario", scenario.to_str().unwrap()],
        &dir,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("trace.jsonl.zst"), "{stderr}");
}

/// The `mqtt 5.0:` heading and the indented lines under it, as a command printed them.
fn v5_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != "mqtt 5.0:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::to_owned)
        .collect()
}

/// Defect: `mqtt-sim report` wrote the MQTT 5.0 facts into summary.md but did not print them as
/// `mqtt-sim run` does. Both print the same lines for a 5.0 trace, and none for a 3.1.1 one.
#[test]
fn report_prints_the_same_v5_lines_as_run() {
    let dir = scratch("v5-lines");
    let path = repo("cli/tests/scenarios/v5-will-delay.yaml");
    let run = mqtt_sim(&["run", path.to_str().unwrap(), "--out", "v5"], &dir);
    let run_out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{run_out}\n{}", text(&run.stderr));
    let report = mqtt_sim(&["report", "v5/trace.jsonl", "--out", "again"], &dir);
    let report_out = text(&report.stdout);
    assert_eq!(report.status.code(), Some(0), "{report_out}\n{}", text(&report.stderr));
    assert_eq!(
        v5_lines(&report_out),
        ["  Wills that waited (Will Delay, DISCONNECT 0x04): 2 (2 published after the delay)"],
        "{report_out}"
    );
    assert_eq!(v5_lines(&report_out), v5_lines(&run_out), "{run_out}");
    let summary = std::fs::read_to_string(dir.join("again/summary.md")).unwrap();
    assert!(summary.contains("2 published after the delay"), "{summary}");

    let old = repo("cli/tests/scenarios/planted-will-after-disconnect.yaml");
    let run = mqtt_sim(&["run", old.to_str().unwrap(), "--out", "old"], &dir);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let report = mqtt_sim(&["report", "old/trace.jsonl"], &dir);
    let report_out = text(&report.stdout);
    assert_eq!(report.status.code(), Some(1), "{report_out}\n{}", text(&report.stderr));
    assert!(report_out.contains("checks: 1 violation(s)"), "{report_out}");
    assert!(!report_out.contains("mqtt 5.0"), "{report_out}");
    assert!(!text(&run.stdout).contains("mqtt 5.0"), "{}", text(&run.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
