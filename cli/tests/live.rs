//! Live mode end to end (`mqtt-sim run SCENARIO --broker URL`): scenarios/live-check.yaml in
//! real time against `mqtt-sim broker` (correct, and with planted bugs) and against Mosquitto,
//! over TCP and TLS, and a short scenario over WebSocket (ws:// and wss://), with the real
//! binaries on free loopback ports.
//!
//! The runs of one test go on at the same time (each is minutes of real time, mostly idle), so
//! the file takes about as long as its longest run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Broker, Mosquitto, binary, scratch, write};

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/live-check.yaml")
}

/// Starts `mqtt-sim run live-check.yaml` with `args` (a live run with `--broker`, or the
/// simulation without), writing into `out`.
fn start_run(out: &Path, args: &[&str]) -> Child {
    spawn_run(&scenario(), out, args)
}

/// Starts `mqtt-sim run SCENARIO --out OUT ARGS...`.
fn spawn_run(scenario: &Path, out: &Path, args: &[&str]) -> Child {
    Command::new(binary())
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mqtt-sim run")
}

/// What a run printed and how it ended.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Finished {
    /// The verdict's table: each guarantee's first word (`pass`, `FAIL`, `NOT`, `not`).
    fn guarantees(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let name = words.next()?;
                let status = words.next()?;
                let known = ["pass", "FAIL", "NOT", "not", "INCONCLUSIVE"].contains(&status);
                (known
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()))
                .then(|| (name.to_owned(), status.to_owned()))
            })
            .collect()
    }

    fn explain(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

fn finish(child: Child) -> Finished {
    let out = child.wait_with_output().expect("wait for mqtt-sim run");
    Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The two-minute live-check passes against the reference broker and against Mosquitto, and
/// against the reference broker it exercises exactly the guarantees the simulation of the
/// same scenario and seed does.
#[test]
fn the_reference_broker_and_mosquitto_pass_live_check_as_the_simulation_does() {
    let dir = scratch("live-pass");
    let reference = Broker::start();
    let mosquitto = Mosquitto::start(&dir, None);
    let reference_url = format!("mqtt://127.0.0.1:{}", reference.port);
    let mosquitto_url = format!("mqtt://127.0.0.1:{}", mosquitto.port);
    let live = start_run(&dir.join("reference"), &["--broker", &reference_url, "--run-tag", "ref"]);
    let against_mosquitto =
        start_run(&dir.join("mosquitto"), &["--broker", &mosquitto_url, "--run-tag", "mosq"]);
    let simulated = finish(start_run(&dir.join("sim"), &[]));
    let live = finish(live);
    let against_mosquitto = finish(against_mosquitto);
    assert_eq!(simulated.code, Some(0), "{}", simulated.explain());
    assert_eq!(live.code, Some(0), "{}", live.explain());
    assert_eq!(against_mosquitto.code, Some(0), "{}", against_mosquitto.explain());
    let expected = simulated.guarantees();
    for guarantee in ["qos1_at_least_once", "qos2_exactly_once", "ordering", "wills", "retained"] {
        assert_eq!(expected.get(guarantee).map(String::as_str), Some("pass"), "{guarantee}");
    }
    assert_eq!(live.guarantees(), expected, "{}", live.explain());
    assert_eq!(against_mosquitto.guarantees(), expected, "{}", against_mosquitto.explain());
    // The run says what it measured and cleaned up.
    for run in [&live, &against_mosquitto] {
        assert!(run.stdout.contains("live: lag median"), "{}", run.explain());
        assert!(!run.stdout.contains("were not cleared"), "{}", run.explain());
    }
}

/// Each planted bug of the reference broker fails live-check under the guarantee it breaks.
#[test]
fn planted_bugs_fail_live_check_under_the_guarantee_they_break() {
    let dir = scratch("live-bugs");
    let cases = [
        ("no-will-on-takeover", "wills"),
        ("will-after-disconnect", "wills"),
        ("forget-inflight-on-reconnect", "qos1_at_least_once"),
        ("stale-retained", "retained"),
    ];
    // 100 s: past the last fault (the dashboard's link, 60-75 s), the dashboard's keepalive
    // noticing it (up to 15 s more) and its new connection, and the late subscriber (45 s).
    let runs: Vec<(&str, &str, Broker, Child)> = cases
        .iter()
        .map(|&(bug, guarantee)| {
            let broker = Broker::start_with(&["--bug", bug]);
            let url = format!("mqtt://127.0.0.1:{}", broker.port);
            let child = start_run(&dir.join(bug), &["--broker", &url, "--duration", "100s"]);
            (bug, guarantee, broker, child)
        })
        .collect();
    for (bug, guarantee, broker, child) in runs {
        let run = finish(child);
        drop(broker);
        assert_eq!(run.code, Some(1), "{bug}: {}", run.explain());
        let verdicts = run.guarantees();
        assert_eq!(
            verdicts.get(guarantee).map(String::as_str),
            Some("FAIL"),
            "{bug} should fail {guarantee}: {}",
            run.explain()
        );
    }
}

/// Over TLS (mqtts://, a certificate made here) live-check passes against the reference broker
/// and against Mosquitto.
#[test]
fn live_runs_over_tls_pass_against_the_reference_broker_and_mosquitto() {
    let dir = scratch("live-tls");
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = write(&dir, "server.pem", &certified.cert.pem());
    let key = write(&dir, "server-key.pem", &certified.signing_key.serialize_pem());
    let mut reference =
        Broker::start_with(&["--tls-listen", "127.0.0.1:0", "--cert", &cert, "--key", &key]);
    let banner = reference.wait_for(|l| l.contains("listening for TLS on"));
    let tls_port = banner.rsplit(':').next().unwrap().trim().to_owned();
    let mosquitto = Mosquitto::start(&dir, Some((&cert, &key)));
    let urls =
        [format!("mqtts://127.0.0.1:{tls_port}"), format!("mqtts://127.0.0.1:{}", mosquitto.port)];
    let runs: Vec<Child> = urls
        .iter()
        .enumerate()
        .map(|(k, url)| {
            let out = dir.join(format!("run-{k}"));
            start_run(&out, &["--broker", url, "--ca-file", &cert, "--duration", "30s"])
        })
        .collect();
    for (url, child) in urls.iter().zip(runs) {
        let run = finish(child);
        assert_eq!(run.code, Some(0), "{url}: {}", run.explain());
        let verdicts = run.guarantees();
        for guarantee in ["qos1_at_least_once", "qos2_exactly_once", "wills"] {
            assert_eq!(
                verdicts.get(guarantee).map(String::as_str),
                Some("pass"),
                "{url}: {}",
                run.explain()
            );
        }
    }
}

/// Writes a small live scenario (`body` is its broker, devices, faults and expect sections)
/// and returns its path.
fn small_scenario(dir: &Path, name: &str, body: &str) -> String {
    let yaml = format!(
        "name: {name}\nseed: 5\nduration: 40s\nprotocol: \"3.1.1\"\n\
         sites: [ {{ name: lab, link: {{ latency: 2ms }} }} ]\n{body}"
    );
    write(dir, &format!("{name}.yaml"), &yaml)
}

/// Runs `mqtt-sim run SCENARIO --out OUT ARGS...` to the end.
fn run_to_end(scenario: &str, out: &Path, args: &[&str]) -> Finished {
    finish(spawn_run(Path::new(scenario), out, args))
}

/// A scenario's `broker.restart_command` runs at its broker-restart fault: the broker (an
/// in-memory `mqtt-sim broker`, so `state: volatile`) really restarts, the trace marks the
/// restart as volatile, and a correct broker passes with the restart's losses exempt. The
/// verdict.json states the real-time tolerances the checker applied.
#[test]
fn a_scenario_restart_command_restarts_the_broker_during_a_live_run() {
    let dir = scratch("live-restart");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d = dir.display();
    let bin = binary();
    // Stops the broker the pid file names (if any), starts a new one and returns once it
    // listens.
    let script = write(
        &dir,
        "restart.sh",
        &format!(
            "pid=$(cat {d}/broker.pid 2>/dev/null)\n\
             if [ -n \"$pid\" ]; then kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; fi\n\
             n=$(grep -c 'listening on' {d}/broker.log 2>/dev/null || true)\n\
             {bin} broker --listen 127.0.0.1:{port} >> {d}/broker.log 2>&1 &\n\
             echo $! > {d}/broker.pid\n\
             while [ \"$(grep -c 'listening on' {d}/broker.log 2>/dev/null || true)\" -le \"${{n:-0}}\" ]; do sleep 0.05; done\n"
        ),
    );
    let started = Command::new("sh").arg(&script).status().expect("sh");
    assert!(started.success());
    let scenario = small_scenario(
        &dir,
        "live-restart",
        &format!(
            "broker: {{ state: volatile, restart_command: \"sh {script}\" }}\n\
             devices:\n\
             - {{ group: sensor, site: lab, count: 2, client_id: \"sensor-{{i}}\", keepalive: 5s,\n\
                  reconnect: {{ initial: 500ms, max: 2s }},\n\
                  publish: [ {{ topic: \"lab/{{i}}/t\", qos: 1, every: 1s }} ] }}\n\
             - {{ group: desk, site: lab, count: 1, client_id: desk, clean_session: false,\n\
                  keepalive: 5s, reconnect: {{ initial: 500ms, max: 2s }},\n\
                  subscribe: [ {{ filter: \"lab/#\", qos: 1 }} ] }}\n\
             faults:\n\
             - {{ kind: broker-restart, at: 12s, for: 1s }}\n\
             expect: {{ qos1_at_least_once: true, ordering: true }}\n"
        ),
    );
    let out = dir.join("run");
    let url = format!("mqtt://127.0.0.1:{port}");
    let run = run_to_end(&scenario, &out, &["--broker", &url]);
    if let Ok(pid) = std::fs::read_to_string(dir.join("broker.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    assert_eq!(run.code, Some(0), "{}", run.explain());
    assert_eq!(run.guarantees().get("qos1_at_least_once").map(String::as_str), Some("pass"));
    assert!(!run.stdout.contains("skipped"), "{}", run.explain());
    // The command ran: a second broker process listened.
    let log = std::fs::read_to_string(dir.join("broker.log")).unwrap();
    assert_eq!(log.matches("listening on").count(), 2, "{log}");
    // The trace marks the restart, with the state the scenario declares.
    let trace = std::fs::read_to_string(out.join("trace.jsonl")).unwrap();
    let restarts: Vec<&str> = trace.lines().filter(|l| l.contains("\"broker_restart\"")).collect();
    assert_eq!(restarts.len(), 2, "a start and an end: {restarts:?}");
    assert!(restarts.iter().all(|l| l.contains("\"volatile\"")), "{restarts:?}");
    // The devices connected again after it.
    let connects = trace.lines().filter(|l| l.contains("\"ev\":\"connected\"")).count();
    assert!(connects >= 6, "{connects} connections");
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("verdict.json")).unwrap()).unwrap();
    // The restart ended every connection: the reconnections are no takeovers.
    assert_eq!(verdict["coverage"]["takeovers"], 0, "{}", verdict["coverage"]);
    assert_eq!(verdict["coverage"]["broker_restarts"]["volatile"], 1, "{}", verdict["coverage"]);
    let live = &verdict["live"];
    assert_eq!(live["broker"], url.as_str());
    assert_eq!(live["tolerances_ms"]["held_back"], 10_000);
    assert_eq!(live["tolerances_ms"]["will_early"], 1_000);
    assert_eq!(live["tolerances_ms"]["protocol_deadline_slack"], 10_000);
    assert_eq!(live["tolerances_ms"]["settle_at_end"], 60_000);
    assert_eq!(live["notes"], serde_json::json!([]));
}

/// Each group logs in with its own credentials against a broker with a password file, and the
/// retained messages a group left are cleared at the end with that group's login (an anonymous
/// cleaner would be refused).
#[test]
fn groups_log_in_with_their_own_credentials_in_a_live_run() {
    let dir = scratch("live-credentials");
    let users = dir.join("users.txt");
    for (user, password) in [("sensor", "warm-2"), ("desk", "look-7")] {
        let mut add = Command::new(binary())
            .args(["passwd", &users.to_string_lossy(), user, "--stdin"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("mqtt-sim passwd");
        use std::io::Write as _;
        add.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        assert!(add.wait().unwrap().success());
    }
    let broker = Broker::start_with(&["--password-file", &users.to_string_lossy()]);
    let scenario = small_scenario(
        &dir,
        "live-credentials",
        "devices:\n\
         - { group: sensor, site: lab, count: 2, client_id: \"sensor-{i}\",\n\
             credentials: { username: sensor, password: warm-2 },\n\
             publish: [ { topic: \"lab/{i}/status\", qos: 1, retain: true, every: 5s } ] }\n\
         - { group: desk, site: lab, count: 1, client_id: desk,\n\
             credentials: { username: desk, password: look-7 },\n\
             subscribe: [ { filter: \"lab/#\", qos: 1 } ] }\n\
         expect: { qos1_at_least_once: true }\n",
    );
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let run = run_to_end(&scenario, &dir.join("run"), &["--broker", &url, "--duration", "20s"]);
    drop(broker);
    assert_eq!(run.code, Some(0), "{}", run.explain());
    assert_eq!(run.guarantees().get("qos1_at_least_once").map(String::as_str), Some("pass"));
    assert!(run.stdout.contains("retained messages cleared: 2"), "{}", run.explain());
    assert!(!run.stderr.contains("not cleared"), "{}", run.explain());
}

/// MQTT 5.0 live: a Will Delay Interval and a Session Expiry Interval are judged from what the
/// devices saw. The close of a crashed device's connection is placed its Will Delay before the
/// Will (not before the crash), and a device back after a power loss longer than 1.5 times its
/// keepalive finds a connection the broker had closed by then. So a correct broker (ours,
/// Mosquitto) passes, one that ignores the delay fails `wills`, and one that ignores the
/// session's expiry fails `sessions`.
#[test]
fn five_zero_will_delay_and_session_expiry_are_judged_live() {
    let dir = scratch("live-v5");
    let mosquitto = Mosquitto::start(&dir, None);
    let scenario = write(
        &dir,
        "v5-live.yaml",
        r#"name: v5-live
seed: 5
duration: 50s
protocol: "5.0"
sites: [ { name: lab, link: { latency: 2ms } } ]
devices:
  - { group: valve, site: lab, count: 1, client_id: valve, keepalive: 4s, session_expiry: 30s,
      will: { topic: "lab/valve/gone", payload: "v", qos: 1, delay: 8s } }
  - { group: tank, site: lab, count: 1, client_id: tank, keepalive: 4s, session_expiry: 5s,
      clean_session: false, subscribe: [ { filter: "lab/feed", qos: 1 } ] }
  - { group: feed, site: lab, count: 1, client_id: feed, keepalive: 4s,
      publish: [ { topic: "lab/feed", qos: 1, every: 2s } ] }
  - { group: watch, site: lab, count: 1, client_id: watch, keepalive: 4s,
      subscribe: [ { filter: "lab/+/gone", qos: 1 } ] }
faults:
  - { kind: crash, target: { device: valve }, at: 10s }
  - { kind: power-loss, target: { device: tank }, at: 10s, for: 30s }
expect: { qos1_at_least_once: true, wills: true, sessions: true }
"#,
    );
    // (the broker's planted bug, the guarantee that must fail)
    let cases = [
        (None, None),
        (Some("will-delay-ignored"), Some("wills")),
        (Some("session-expiry-ignored"), Some("sessions")),
    ];
    let mut brokers = Vec::new();
    let mut runs = Vec::new();
    for (bug, fails) in cases {
        let broker = match bug {
            Some(bug) => Broker::start_with(&["--bug", bug]),
            None => Broker::start(),
        };
        let url = format!("mqtt://127.0.0.1:{}", broker.port);
        let out = dir.join(bug.unwrap_or("correct"));
        runs.push((
            bug.unwrap_or("the reference broker"),
            fails,
            spawn_run(Path::new(&scenario), &out, &["--broker", &url]),
        ));
        brokers.push(broker);
    }
    let url = format!("mqtt://127.0.0.1:{}", mosquitto.port);
    runs.push((
        "Mosquitto",
        None,
        spawn_run(Path::new(&scenario), &dir.join("mosquitto"), &["--broker", &url]),
    ));
    for (what, fails, child) in runs {
        let run = finish(child);
        let verdicts = run.guarantees();
        for guarantee in ["qos1_at_least_once", "wills", "sessions"] {
            let expected = if fails == Some(guarantee) { "FAIL" } else { "pass" };
            assert_eq!(
                verdicts.get(guarantee).map(String::as_str),
                Some(expected),
                "{what}: {guarantee}: {}",
                run.explain()
            );
        }
        assert_eq!(
            run.code,
            Some(if fails.is_some() { 1 } else { 0 }),
            "{what}: {}",
            run.explain()
        );
    }
}

/// A 15-second scenario for the WebSocket runs: QoS 1 sensors with retained statuses and Wills
/// (one crashes: its Will at once), a QoS 2 meter, a dashboard on everything and a late
/// subscriber to the retained statuses.
const WS_CHECK: &str = r#"
name: ws-check
seed: 7
duration: 15s
protocol: "3.1.1"
broker: { state: durable }
sites:
  - { name: plant, link: { latency: 2ms } }
devices:
  - group: sensor
    site: plant
    count: 3
    client_id: "sensor-{i}"
    clean_session: false
    keepalive: 10s
    will: { topic: "plant/{i}/status", payload: "offline", qos: 1, retain: true }
    start: { at: 0s, stagger: 1s }
    publish:
      - { topic: "plant/{i}/temp", qos: 1, payload_size: 24, every: 1s }
      - { topic: "plant/{i}/status", qos: 1, retain: true, payload_size: 12, every: 5s }
  - group: meter
    site: plant
    count: 1
    client_id: "meter-{i}"
    clean_session: false
    keepalive: 10s
    publish:
      - { topic: "plant/meter/{i}/energy", qos: 2, payload_size: 32, every: 1s }
  - group: dashboard
    site: plant
    count: 1
    client_id: "dashboard-{i}"
    clean_session: false
    keepalive: 10s
    subscribe:
      - { filter: "plant/#", qos: 2 }
  - group: late
    site: plant
    count: 1
    client_id: "late-{i}"
    keepalive: 10s
    start: { at: 8s }
    subscribe:
      - { filter: "plant/+/status", qos: 1 }
faults:
  - { kind: crash, target: { device: sensor-2 }, at: 6s }
expect:
  qos1_at_least_once: true
  qos2_exactly_once: true
  ordering: true
  wills: true
  retained: true
"#;

/// The port in a broker banner such as `listening for WebSocket on 127.0.0.1:PORT (...)`.
fn banner_port(banner: &str) -> String {
    let addr = banner.split(" on ").nth(1).and_then(|s| s.split(' ').next()).unwrap_or_default();
    addr.rsplit(':').next().unwrap_or_default().to_owned()
}

/// Over MQTT over WebSocket, a short scenario passes against the reference broker's
/// --ws-listen and --wss-listen (a certificate made here) and against Mosquitto's websockets
/// listener, exactly as it does in the simulation; the retained messages are cleared over
/// WebSocket too.
#[test]
fn live_runs_over_websocket_pass_against_the_reference_broker_and_mosquitto() {
    let dir = scratch("live-ws");
    let scenario = Path::new(&write(&dir, "ws-check.yaml", WS_CHECK)).to_path_buf();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = write(&dir, "server.pem", &certified.cert.pem());
    let key = write(&dir, "server-key.pem", &certified.signing_key.serialize_pem());
    let mut reference = Broker::start_with(&[
        "--ws-listen",
        "127.0.0.1:0",
        "--wss-listen",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
    ]);
    let ws_port = banner_port(&reference.wait_for(|l| l.contains("listening for WebSocket on")));
    let wss_port =
        banner_port(&reference.wait_for(|l| l.contains("listening for WebSocket over TLS on")));
    let mosquitto = Mosquitto::start_with(&dir, None, true);
    let runs: Vec<(String, Child)> = [
        format!("ws://127.0.0.1:{ws_port}/mqtt"),
        format!("wss://127.0.0.1:{wss_port}"),
        format!("ws://127.0.0.1:{}", mosquitto.ws_port.unwrap()),
    ]
    .into_iter()
    .enumerate()
    .map(|(k, url)| {
        let out = dir.join(format!("run-{k}"));
        let mut args = vec!["--broker", url.as_str()];
        if url.starts_with("wss") {
            args.extend(["--ca-file", cert.as_str()]);
        }
        let child = spawn_run(&scenario, &out, &args);
        (url, child)
    })
    .collect();
    let simulated = finish(spawn_run(&scenario, &dir.join("sim"), &[]));
    assert_eq!(simulated.code, Some(0), "{}", simulated.explain());
    let expected = simulated.guarantees();
    for guarantee in ["qos1_at_least_once", "qos2_exactly_once", "ordering", "wills", "retained"] {
        assert_eq!(expected.get(guarantee).map(String::as_str), Some("pass"), "{guarantee}");
    }
    for (url, child) in runs {
        let run = finish(child);
        assert_eq!(run.code, Some(0), "{url}: {}", run.explain());
        assert_eq!(run.guarantees(), expected, "{url}: {}", run.explain());
        assert!(run.stdout.contains("retained messages cleared: 3"), "{url}: {}", run.explain());
    }
}
