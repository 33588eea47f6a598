//! The run report: the `summary.md` snapshot of a small farm, byte-for-byte determinism,
//! violations linked to the timeline and drawn as sequence diagrams, a bounded page for a large
//! trace, the sweep index, and the page opened in headless Chromium; `v5` (report/v5.rs): the
//! MQTT 5.0 facts (Will Delay, session expiry, shared groups, message expiry).

mod common;
#[path = "report/v5.rs"]
mod v5;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mqttsim_sim::check::{CheckOptions, Coverage, Verdict, check, parse_jsonl};
use mqttsim_sim::explore::SeedResult;
use mqttsim_sim::report::{
    Analysis, MAX_STEPS, ReportInput, render_explore_index, render_html, render_junit,
    render_markdown, write_report,
};
use mqttsim_sim::scenario::{Scenario, parse_scenario};
use mqttsim_sim::trace::{Collect, Event, Record};
use mqttsim_sim::{RunOptions, run};

/// A farm in miniature: lossy cellular fields, a partition, power losses, a loss burst and a
/// broker restart, QoS 0, 1 and 2, Wills and retained messages. Four simulated minutes.
const SMALL_FARM: &str = r#"
name: small-farm
description: A few soil sensors, weather stations and valves behind lossy links; a partition, power losses and a broker restart.
seed: 7
duration: 4m
protocol: "3.1.1"
broker: { state: durable, max_inflight: 20, max_queued: 100 }
sites:
  - name: north
    link: { latency: { lognormal: { median: 80ms, sigma: 0.6 } }, jitter: 20ms, loss: 3%,
            retransmission: { initial_rto: 1s, backoff: 2, max_rto: 20s, max_retransmissions: 6 } }
  - name: east
    link: { latency: 90ms, loss: 5%, retransmission: { initial_rto: 1s, backoff: 2, max_retransmissions: 5 } }
  - name: office
    link: { latency: 5ms }
devices:
  - { group: soil, site: north, count: 6, client_id: "soil-{i:02}", keepalive: 60s,
      reconnect: { initial: 2s, max: 30s, multiplier: 2, jitter: 30% }, start: { at: 0s, stagger: 10s },
      publish: [ { topic: "farm/soil/{i:02}", qos: 0, every: 15s } ] }
  - { group: weather, site: east, count: 2, client_id: "weather-{i}", clean_session: false, keepalive: 30s,
      will: { topic: "farm/weather/{i}/online", payload: "false", qos: 1, retain: true },
      publish: [ { topic: "farm/weather/{i}/summary", qos: 1, retain: true, every: 20s } ] }
  - { group: valve, site: east, count: 2, client_id: "valve-{i}", clean_session: false, keepalive: 30s,
      will: { topic: "farm/valve/{i}/online", payload: "false", qos: 1, retain: true },
      subscribe: [ { filter: "farm/cmd/{i}", qos: 2 } ],
      publish: [ { topic: "farm/valve/{i}/state", qos: 2, every: 30s } ] }
  - { group: controller, site: office, count: 1, client_id: "controller", clean_session: false, keepalive: 30s,
      publish: [ { topic: "farm/cmd/0", qos: 2, every: 20s }, { topic: "farm/cmd/1", qos: 2, every: 20s } ] }
  - { group: dashboard, site: office, count: 1, client_id: "dashboard", clean_session: false, keepalive: 30s,
      subscribe: [ { filter: "farm/#", qos: 1 } ] }
faults:
  - { kind: partition, target: { site: east }, direction: both, at: 40s, for: 50s }
  - { kind: power-loss, target: { group: soil, count: 2 }, at: 60s, for: 30s }
  - { kind: loss-burst, target: { site: north }, loss: 25%, at: 100s, for: 20s }
  - { kind: broker-restart, at: 150s, for: 10s }
expect:
  qos0_max_duplicates: 0
  qos1_at_least_once: true
  qos2_exactly_once: true
  ordering: true
  wills: true
  retained: true
  expected_loss: { qos0: "<= 30%", qos1: "= 0%", qos2: "= 0%" }
"#;

const REPLAY: &str = "mqtt-sim run small-farm.yaml --seed 7";

struct Run {
    scenario: Scenario,
    records: Vec<Record>,
    end: Duration,
}

fn small_farm() -> Run {
    let scenario = parse_scenario(SMALL_FARM, Path::new("small-farm.yaml")).unwrap();
    let end = scenario.duration.get();
    let mut trace = Collect::default();
    let options = RunOptions { trace: vec![&mut trace], ..RunOptions::default() };
    run(&scenario, options).unwrap();
    Run { scenario, records: trace.0, end }
}

fn verdict(run: &Run, records: &[Record]) -> Verdict {
    check(&run.scenario, records, &CheckOptions { end: run.end, ..CheckOptions::default() })
}

fn analysis(run: &Run, records: &[Record], verdict: &Verdict, device: Option<&str>) -> Analysis {
    Analysis::build(&ReportInput {
        scenario: &run.scenario,
        records,
        verdict,
        seed: 7,
        end: run.end,
        replay: REPLAY,
        device,
    })
}

/// A fresh, empty directory for one test's files.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqttsim-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn summary_md_and_junit_of_a_small_farm() {
    let run = small_farm();
    let verdict = verdict(&run, &run.records);
    let a = analysis(&run, &run.records, &verdict, None);
    insta::assert_snapshot!("small_farm_summary_md", render_markdown(&a));
    insta::assert_snapshot!("small_farm_junit_xml", render_junit(&a).unwrap());
}

/// Defect 5: the latency table counted retained copies and left Wills out, the counts table
/// the other way round. One definition now: a delivered pair, by effective QoS, Wills in and
/// retained copies to subscribers not owed the message out.
#[test]
fn the_latency_table_and_the_counts_table_count_the_same_deliveries() {
    let run = small_farm();
    let verdict = verdict(&run, &run.records);
    let a = analysis(&run, &run.records, &verdict, None);
    assert!(verdict.coverage.wills.values().sum::<u64>() > 0, "the farm has Wills to count");
    for q in 0..3 {
        assert_eq!(a.latency[q].samples, a.counts(q).delivered, "QoS {q}");
    }
}

#[test]
fn the_same_trace_renders_the_same_bytes_even_read_back_from_json_lines() {
    let run = small_farm();
    let verdict = verdict(&run, &run.records);
    let a = analysis(&run, &run.records, &verdict, None);
    let jsonl: String = run.records.iter().map(|r| r.to_json() + "\n").collect();
    let again = parse_jsonl(&jsonl).unwrap();
    let verdict_again = self::verdict(&run, &again);
    let b = analysis(&run, &again, &verdict_again, None);
    assert_eq!(render_html(&a), render_html(&b));
    assert_eq!(render_markdown(&a), render_markdown(&b));
    assert_eq!(render_junit(&a).unwrap(), render_junit(&b).unwrap());
    // The page is self-contained: no script, nothing fetched, every plot present.
    let html = render_html(&a);
    assert!(!html.contains("<script"), "the report has no script");
    assert!(!html.contains("http://") && !html.contains("https://"), "the report fetches nothing");
    for id in ["fault-timeline", "seq-device", "latency-plot", "flight-plot", "outcome-plot"] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "missing {id}");
    }
    // The default device is the first publisher, and its diagram shows its first publish.
    let first = run.records.iter().find(|r| matches!(r.event, Event::AppPublish { .. })).unwrap();
    let device = first.device.as_deref().unwrap();
    assert_eq!(a.device.as_deref(), Some(device));
    let publish = format!("app publish q1 {device}#1");
    assert!(a.sequences[0].steps.iter().any(|s| s.label.starts_with(&publish)));
}

#[test]
fn the_timeline_counts_every_connect_and_places_every_fault() {
    let run = small_farm();
    let verdict = verdict(&run, &run.records);
    let a = analysis(&run, &run.records, &verdict, None);
    let connects =
        run.records.iter().filter(|r| matches!(r.event, Event::Connected { .. })).count();
    let binned: u32 = a.groups.iter().flat_map(|g| g.connects.iter()).sum();
    assert_eq!(binned as usize, connects);
    let names: Vec<&str> = a.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["soil", "weather", "valve", "controller", "dashboard"]);
    let devices: Vec<u64> = a.groups.iter().map(|g| g.devices).collect();
    assert_eq!(devices, [6, 2, 2, 1, 1]);
    // The east partition lies on the weather and valve rows, 40 s to 90 s.
    for row in [1, 2] {
        let cut = a.groups[row].faults.iter().find(|s| s.kind == "partition").unwrap();
        assert_eq!((cut.from_us, cut.until_us), (40_000_000, 90_000_000));
    }
    assert!(a.groups[0].faults.iter().any(|s| s.kind == "power-loss"));
    assert!(a.groups[0].faults.iter().any(|s| s.kind == "loss-burst"));
    assert_eq!(a.broker.len(), 1);
    assert_eq!((a.broker[0].from_us, a.broker[0].until_us), (150_000_000, 160_000_000));
    // Every QoS 1 delivery to the dashboard has a latency.
    assert!(a.latency[1].samples > 0 && a.latency[1].p50_us <= a.latency[1].p99_us);
}

#[test]
fn a_lost_delivery_is_a_violation_linked_to_the_timeline_with_its_sequence_diagram() {
    let run = small_farm();
    // Take a QoS 1 delivery to the dashboard out of the trace: the checker must call it lost.
    let mut records = run.records.clone();
    let gone = records
        .iter()
        .position(|r| {
            r.device.as_deref() == Some("dashboard")
                && matches!(&r.event, Event::Delivered { msg: Some(m), qos: 1, .. } if m == "weather-0#1")
        })
        .expect("the dashboard receives weather-0#1");
    records.remove(gone);
    let verdict = verdict(&run, &records);
    assert!(verdict.failed());
    let a = analysis(&run, &records, &verdict, None);
    let v = &a.violations[0];
    assert_eq!(
        (v.guarantee.as_str(), v.message.as_deref()),
        ("qos1_at_least_once", Some("weather-0#1"))
    );
    assert!(v.t_us.is_some());
    // The default device is the first violation's publisher.
    assert_eq!(a.device.as_deref(), Some("weather-0"));
    let html = render_html(&a);
    assert!(html.contains(r#"<div class="violation" id="v1">"#));
    assert!(html.contains(r##"<a href="#tl-v1">on the timeline</a>"##));
    assert!(html.contains(r##"<a href="#v1"><g id="tl-v1""##));
    assert!(html.contains(r#"<svg id="seq-v1""#));
    let seq = a.sequences.iter().find(|s| s.id == "seq-v1").unwrap();
    assert_eq!(seq.lanes[..3], ["weather-0", "broker", "dashboard"]);
    assert!(
        seq.steps.iter().any(|s| s.label.starts_with("PUBLISH q1") && s.from == 0 && s.to == 1)
    );
    assert!(!seq.steps.iter().any(|s| s.to == 2 && s.label.starts_with("PUBLISH")), "no delivery");
    let junit = render_junit(&a).unwrap();
    assert!(junit.contains(r#"<testcase name="qos1_at_least_once""#) && junit.contains("<failure"));
    // `--device` picks another device.
    let b = analysis(&run, &records, &verdict, Some("valve-1"));
    assert!(b.sequences[0].title.starts_with("device valve-1"));
    // Files land where they are asked to.
    let dir = fresh_dir("files");
    let input = ReportInput {
        scenario: &run.scenario,
        records: &records,
        verdict: &verdict,
        seed: 7,
        end: run.end,
        replay: REPLAY,
        device: None,
    };
    let files = write_report(&dir, &input).unwrap();
    assert_eq!(std::fs::read_to_string(files.html).unwrap(), html);
    assert!(files.markdown.exists() && files.junit.exists());
}

/// A synthetic trace as large as flaky-farm's (~300k records): the page stays small.
#[test]
fn a_large_trace_gives_a_bounded_page() {
    let scenario = parse_scenario(SMALL_FARM, Path::new("small-farm.yaml")).unwrap();
    // The dashboard subscribes first: its copies are delivered pairs, which the latencies
    // measure (one sample per pair).
    let mut records = vec![
        Record::new(
            Duration::ZERO,
            None,
            Some("dashboard"),
            Event::BrokerConnected { conn: 1, clean_session: true, session_present: false },
        ),
        Record::new(
            Duration::ZERO,
            None,
            Some("dashboard"),
            Event::BrokerSubscribed { filter: "farm/#".into(), granted: Some(1) },
        ),
    ];
    let devices = ["soil-00", "soil-01", "weather-0", "valve-0", "controller"];
    for n in 0..60_000u64 {
        let device = devices[(n % 5) as usize];
        let msg = format!("{device}#{}", n / 5 + 1);
        let t = Duration::from_micros(n * 4_000);
        let at = |dt: u64| t + Duration::from_micros(dt);
        let ev = |e: Event| e;
        records.push(Record::new(
            at(0),
            None,
            Some(device),
            ev(Event::AppPublish {
                msg: msg.clone(),
                topic: "farm/x".into(),
                qos: 1,
                retain: false,
                size: 16,
                expiry: None,
                props: None,
            }),
        ));
        records.push(Record::new(
            at(10),
            None,
            Some(device),
            Event::PublishSent { msg: msg.clone(), pid: 1, qos: 1, dup: false },
        ));
        records.push(Record::new(
            at(500),
            None,
            Some(device),
            Event::BrokerAccepted {
                msg: None,
                topic: "farm/x".into(),
                pid: 1,
                qos: 1,
                retain: false,
            },
        ));
        records.push(Record::new(
            at(900),
            None,
            Some("dashboard"),
            Event::Delivered {
                msg: Some(msg.clone()),
                topic: "farm/x".into(),
                qos: 1,
                pid: 1,
                dup: false,
                retain: false,
                payload: None,
                expiry: None,
                props: None,
            },
        ));
        records.push(Record::new(
            at(1_000),
            None,
            Some(device),
            Event::Acked { msg, pid: 1, qos: 1 },
        ));
    }
    let run = Run { scenario, records, end: Duration::from_secs(240) };
    let verdict = verdict(&run, &run.records);
    let a = analysis(&run, &run.records, &verdict, None);
    let html = render_html(&a);
    assert!(html.len() < 400_000, "the page is {} bytes", html.len());
    assert!(a.sequences.iter().all(|s| s.steps.len() <= MAX_STEPS && s.truncated));
    assert_eq!(a.latency[1].samples, 60_000);
    assert_eq!((a.latency[1].p50_us, a.latency[1].max_us), (900, 900));
}

#[test]
fn the_sweep_index_lists_failing_seeds_first_with_their_replay() {
    let result = |seed, failed| SeedResult {
        seed,
        failed,
        violations: u64::from(failed) * 3,
        failed_guarantees: if failed { vec!["wills".into()] } else { Vec::new() },
        error: None,
        wall_ms: 1,
        check_ms: 0,
        not_exercised: if seed == 3 { vec!["qos2_exactly_once".into()] } else { Vec::new() },
        coverage: Coverage { takeovers: seed, ..Coverage::default() },
    };
    let results = [result(1, false), result(2, true), result(3, false)];
    let html = render_explore_index("farm <&>", &results, &|s| {
        format!("mqtt-sim run farm.yaml --seed {s}")
    });
    assert!(html.contains("<title>farm &lt;&amp;&gt;: 1 of 3 seeds failed</title>"));
    let two = html.find(r#"id="seed-2""#).unwrap();
    assert!(two < html.find(r#"id="seed-1""#).unwrap());
    assert!(html.contains("<code>mqtt-sim run farm.yaml --seed 2</code>"));
    // What the sweep exercised: 1 + 2 + 3 takeovers, in 3 seeds; one seed gave QoS 2 nothing.
    assert!(html.contains("<tr><td>session takeovers</td><td>6</td><td>3</td></tr>"), "{html}");
    assert!(html.contains("<tr><td><code>qos2_exactly_once</code></td><td>1</td></tr>"), "{html}");
}

// ----- headless Chromium -----

/// Chromium, or a failure that says how to install it.
fn chromium() -> String {
    let name = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    match Command::new(&name).arg("--version").output() {
        Ok(out) if out.status.success() => name,
        _ => panic!(
            "headless Chromium is needed to test the HTML report: `apt-get install -y chromium` \
             (or set CHROMIUM to its path)"
        ),
    }
}

/// What Chromium made of a page: its DOM after loading, and its console messages.
struct Rendered {
    dom: String,
    console: Vec<String>,
}

/// Opens `page` in headless Chromium with a fresh profile, no network services and console
/// logging on stderr; `timeout` (coreutils) bounds it to a minute.
///
/// Chromium logs every console message, whatever its level, as `...:INFO:CONSOLE:<line>]
/// "<text>"` (older builds: `ERROR:CONSOLE`), uncaught exceptions as `"Uncaught ..."`, and a
/// Content-Security-Policy violation (our page allows no script and no fetch) as a console
/// message too. The report has no script, so any console line is an error.
fn open_in_chromium(page: &Path, profile: &Path) -> Rendered {
    let out = Command::new("timeout")
        .arg("60")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_owned)
        .collect();
    Rendered { dom: String::from_utf8_lossy(&out.stdout).into_owned(), console }
}

/// Writes the report of `input` into a fresh directory `name` and opens it in headless
/// Chromium; fails on any console message.
fn report_in_chromium(input: &ReportInput<'_>, name: &str) -> Rendered {
    let dir = fresh_dir(name);
    let files = write_report(&dir, input).unwrap();
    let page = std::fs::canonicalize(&files.html).unwrap();
    let rendered = open_in_chromium(&page, &dir.join("profile"));
    assert!(rendered.console.is_empty(), "console messages: {:#?}", rendered.console);
    rendered
}

/// The detector is proved on a page with a script error, so a quiet report means something.
#[test]
fn chromium_console_errors_are_caught() {
    let dir = fresh_dir("bad-page");
    let page = dir.join("bad.html");
    std::fs::write(&page, "<!DOCTYPE html><p>x</p><script>undefinedFunction();</script>").unwrap();
    let rendered = open_in_chromium(&page, &dir.join("profile"));
    assert!(
        rendered.console.iter().any(|l| l.contains("Uncaught ReferenceError")),
        "expected the script error in {:?}",
        rendered.console
    );
}

#[test]
fn the_small_farm_report_renders_in_headless_chromium() {
    let run = small_farm();
    let mut records = run.records.clone();
    // One violation, so that a violation's diagram and anchors are on the page too.
    let gone = records
        .iter()
        .position(|r| matches!(&r.event, Event::Delivered { msg: Some(m), qos: 1, .. } if m == "weather-0#1"))
        .unwrap();
    records.remove(gone);
    let verdict = verdict(&run, &records);
    let input = ReportInput {
        scenario: &run.scenario,
        records: &records,
        verdict: &verdict,
        seed: 7,
        end: run.end,
        replay: REPLAY,
        device: None,
    };
    let rendered = report_in_chromium(&input, "chromium");
    let dom = &rendered.dom;
    for id in
        ["fault-timeline", "seq-device", "seq-v1", "latency-plot", "flight-plot", "outcome-plot"]
    {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "no <svg id={id}> in the DOM");
    }
    assert!(dom.contains(r#"id="tl-v1""#) && dom.contains(r#"id="v1""#));
    assert!(dom.contains(r#"class="connect""#), "the timeline has connect bars");
    assert!(dom.contains(r#"class="bar q1""#), "the QoS 1 histogram has bars");
    assert!(dom.contains(r#"<polyline class="series in-flight""#));
    assert!(dom.contains(r#"<line class="msg""#), "the sequence diagram has arrows");
}
