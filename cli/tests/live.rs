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
    start_run_of(&scenario(), out, args)
}

/// Starts `mqtt-sim run SCENARIO` with `args`, writing into `out`.
fn start_run_of(scenario: &Path, out: &Path, args: &[&str]) -> Child {
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
        let child = start_run_of(&scenario, &out, &args);
        (url, child)
    })
    .collect();
    let simulated = finish(start_run_of(&scenario, &dir.join("sim"), &[]));
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
