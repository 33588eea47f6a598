//! `mqtt-sim run`: run a scenario in the simulator and write its trace and summary.

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mqttsim_sim::check::{CheckOptions, check, warnings};
use mqttsim_sim::report::{Analysis, ReportInput, write_analysis};
use mqttsim_sim::scenario::{TimeSpan, load_scenario};
use mqttsim_sim::trace::{Collect, JsonLines, Packets, Text, TraceSink};
use mqttsim_sim::{RunOptions, RunReport, SimError};

use crate::broker_access::{Access, BrokerAccess};
use crate::trace_file::{TraceWriter, human_size, is_compressed};
use crate::{Failure, Replay};

/// Above this many devices, `--text auto` leaves the text trace out.
const TEXT_TRACE_MAX_DEVICES: u64 = 10_000;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim run scenarios/flaky-farm.yaml
  mqtt-sim run scenarios/flaky-farm.yaml --seed 7 --duration 10m
  mqtt-sim run scenarios/will-takeover.yaml --out /tmp/wills --trace /tmp/wills.jsonl
  mqtt-sim run scenarios/will-takeover.yaml --packets     # also every PINGREQ, PUBACK, ...
  mqtt-sim run scenarios/smart-building.yaml --compress   # trace.jsonl.zst, about a tenth the size
  mqtt-sim run scenarios/live-check.yaml --broker mqtt://127.0.0.1:1883            # live mode
  mqtt-sim run scenarios/live-check.yaml --broker mqtts://broker.lan:8883 --ca-file ca.pem \\
      --username fleet --duration 1m --run-tag ci-42
  mqtt-sim run scenarios/live-check.yaml --broker ws://127.0.0.1:8080/mqtt        # WebSocket
  mqtt-sim run scenarios/live-check.yaml --broker wss://broker.lan/mqtt --ca-file ca.pem
  mqtt-sim run scenarios/flaky-farm.yaml --broker mqtt://127.0.0.1:1883 \\
      --broker-restart 'systemctl restart mosquitto' --broker-state keep

Writes trace.jsonl (one JSON record per event; trace.jsonl.zst with --compress or a --trace name
ending in .zst), trace.txt (the same, in aligned columns; left out by default above 10,000 devices),
summary.json and verdict.json (the checker's verdict on the scenario's `expect:` section), and
report.html, summary.md and junit.xml (the verdict, fault timeline, sequence diagrams, latencies)
into reports/<scenario>/<seed>/ unless --out says otherwise, and prints the verdict and the
command that replays the run exactly. `mqtt-sim report` renders the report again from a trace.
The verdict lists every (message, subscriber) pair not delivered with its reason, and what the
run exercised; an expectation with nothing to judge is `not exercised` and gets a warning, as
does a device group whose devices never connected.

Live mode (--broker): the same devices, link model and fault timeline run in real time over real
TCP (or TLS, or MQTT over WebSocket on either) against the broker, and the same checker judges what the devices observed. Client ids
and topics get the prefix mqtt-sim/<run-tag>/ on the wire; retained messages the run created are
cleared at the end. What only the broker knows (its drops, when it noticed a silent device) is not
in a live trace; broker restarts need --broker-restart, else they are skipped with a warning. A live
run is not deterministic: the seed fixes the devices' behaviour and the faults, not the broker.

Exit codes: 0 the run completed and its expectations held, 1 an expectation was violated,
2 bad input (the scenario's diagnostic is printed as is), 3 an I/O failure.")]
pub struct RunArgs {
    /// The scenario file (YAML).
    scenario: PathBuf,
    /// Replaces the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Replaces the scenario's duration (`90s`, `10m`, `1h30m`).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<TimeSpan>,
    /// Where to write the JSON Lines trace (default: trace.jsonl in the output directory); a
    /// name ending in `.zst` is written compressed with zstd.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Compress the JSON Lines trace with zstd (default name: trace.jsonl.zst). `mqtt-sim
    /// report` reads compressed and plain traces alike; so does `zstdcat`.
    #[arg(long)]
    compress: bool,
    /// Whether to write trace.txt: `auto` writes it for fleets of up to 10,000 devices.
    #[arg(long, value_enum, default_value_t = TextTrace::Auto)]
    text: TextTrace,
    /// The output directory (default: reports/<scenario>/<seed>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Vary the scenario by the seed, as `mqtt-sim explore --swarm` does (to replay a swarm seed).
    #[arg(long)]
    swarm: bool,
    /// Simulated time per turmoil step (default 10ms). Devices' own link delays stay exact; only
    /// the hop between turmoil hosts is rounded up to a step. Part of what a seed replays.
    #[arg(long, value_parser = crate::parse_tick)]
    tick: Option<TimeSpan>,
    /// The device whose sequence diagram the report draws (default: the device of the first
    /// violation, else the first publisher).
    #[arg(long)]
    device: Option<String>,
    /// Record every control packet the devices send and receive (PINGREQ, PINGRESP, PUBACK,
    /// PUBREL, ...) in the trace, not only the default events. Off by default: it makes the
    /// trace several times larger; the checker then also times Wills from each device's last
    /// packet.
    #[arg(long)]
    packets: bool,
    /// Live mode: run against this broker in real time: mqtt://host[:port] (TCP, port 1883 by
    /// default), mqtts://host[:port] (TLS, 8883), ws://host[:port][/path] (MQTT over WebSocket,
    /// port 80, path /mqtt) or wss://host[:port][/path] (WebSocket over TLS, port 443).
    #[arg(long, value_name = "URL", conflicts_with_all = ["swarm", "tick"])]
    broker: Option<String>,
    /// TLS and login for --broker (they replace the scenario's per-group credentials).
    #[command(flatten)]
    access: BrokerAccess,
    /// Live mode: the run's tag; client ids and topics get the prefix mqtt-sim/<TAG>/ (default:
    /// from the seed, the time and the process id).
    #[arg(long, value_name = "TAG", requires = "broker")]
    run_tag: Option<String>,
    /// Live mode: the shell command that restarts the broker at the scenario's broker
    /// restarts (e.g. 'systemctl restart mosquitto'); replaces the scenario's
    /// broker.restart_command.
    #[arg(long, value_name = "CMD", requires = "broker")]
    broker_restart: Option<String>,
    /// Live mode: whether the broker keeps its sessions and retained messages across a
    /// restart (default: what the scenario says for each restart: the fault's state, else
    /// broker.state).
    #[arg(long, value_enum, value_name = "MODE", requires = "broker")]
    broker_state: Option<BrokerState>,
}

/// What a restarted broker keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BrokerState {
    /// Sessions and retained messages survive (a persistent broker).
    Keep,
    /// Everything is lost.
    Lose,
}

/// When `mqtt-sim run` writes the text trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TextTrace {
    /// For fleets of up to 10,000 devices.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

fn parse_duration(text: &str) -> Result<TimeSpan, String> {
    TimeSpan::parse(text)
}

/// Runs with a progress bar on stderr when it is a terminal and the run is long.
fn progress_bar(devices: u64, duration: Duration) -> Option<ProgressBar> {
    // About a second of wall time and more: 1,000 devices for a simulated hour is ~4 s.
    let long = devices.saturating_mul(duration.as_secs()) >= 300_000;
    if !long || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(duration.as_secs().max(1));
    let style = ProgressStyle::with_template(
        "{spinner} {pos}/{len} simulated s [{wide_bar}] {percent}% eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn create(path: &Path) -> Result<BufWriter<File>, Failure> {
    let file = File::create(path)
        .with_context(|| format!("creating {}", path.display()))
        .map_err(Failure::environment)?;
    Ok(BufWriter::with_capacity(1 << 16, file))
}

pub fn run(args: RunArgs) -> Result<u8, Failure> {
    let scenario = match load_scenario(&args.scenario) {
        Ok(scenario) => scenario,
        Err(error) => {
            // The parser's diagnostic is already complete: file, line, caret, help.
            eprintln!("{error}");
            return Ok(2);
        }
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let scenario = if args.swarm { mqttsim_sim::explore::swarm(&scenario, seed) } else { scenario };
    let duration = args.duration.map_or(scenario.duration.get(), TimeSpan::get);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("reports").join(&scenario.name).join(seed.to_string()));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the output directory {}", out.display()))
        .map_err(Failure::environment)?;
    let default_name = if args.compress { "trace.jsonl.zst" } else { "trace.jsonl" };
    let jsonl_path = args.trace.clone().unwrap_or_else(|| out.join(default_name));
    if args.compress && !is_compressed(&jsonl_path) {
        return Err(Failure::input(anyhow::anyhow!(
            "--compress writes zstd, but the --trace name {} does not end in .zst",
            jsonl_path.display()
        )));
    }
    if args.trace.is_none() {
        // The other form's trace, left by an earlier run here, would not be this run's.
        let other = out.join(if args.compress { "trace.jsonl" } else { "trace.jsonl.zst" });
        if other.exists() {
            std::fs::remove_file(&other)
                .with_context(|| format!("removing the old {}", other.display()))
                .map_err(Failure::environment)?;
        }
    }
    let write_text = match args.text {
        TextTrace::Always => true,
        TextTrace::Never => false,
        TextTrace::Auto => scenario.device_count() <= TEXT_TRACE_MAX_DEVICES,
    };
    let text_path = out.join("trace.txt");
    if !write_text && text_path.exists() {
        // A text trace left by an earlier run here would not be this run's.
        std::fs::remove_file(&text_path)
            .with_context(|| format!("removing the old {}", text_path.display()))
            .map_err(Failure::environment)?;
    }
    let summary_path = out.join("summary.json");

    let live = match &args.broker {
        Some(url) => Some(live_setup(&args, url, &scenario)?),
        None => None,
    };
    println!("scenario: {} ({})", scenario.name, args.scenario.display());
    println!("seed: {seed}");
    let writer = TraceWriter::create(&jsonl_path)
        .with_context(|| format!("creating {}", jsonl_path.display()))
        .map_err(Failure::environment)?;
    let mut jsonl = Packets(JsonLines(writer));
    let mut text = if write_text { Some(Packets(Text(create(&text_path)?))) } else { None };
    let bar = if live.is_none() { progress_bar(scenario.device_count(), duration) } else { None };
    let mut on_progress = |done: Duration, _total: Duration| {
        if let Some(bar) = &bar {
            bar.set_position(done.as_secs());
        }
    };
    let mut records = Packets(Collect::default());
    let mut sinks: Vec<&mut dyn TraceSink> = if args.packets {
        vec![&mut jsonl, &mut records]
    } else {
        vec![&mut jsonl.0, &mut records.0]
    };
    if let Some(text) = text.as_mut() {
        sinks.push(if args.packets { text } else { &mut text.0 });
    }
    let mut live_report: Option<mqttsim_sim::live::LiveReport> = None;
    let result = match &live {
        None => {
            let options = RunOptions {
                seed: Some(seed),
                duration: Some(duration),
                trace: sinks,
                progress: Some(&mut on_progress),
                tick: args.tick.map_or(RunOptions::default().tick, TimeSpan::get),
            };
            mqttsim_sim::run(&scenario, options)
        }
        Some(live) => {
            let tag = args.run_tag.clone().unwrap_or_else(|| default_tag(seed));
            println!(
                "live: {} (tag {tag}, client ids and topics under mqtt-sim/{tag}/)",
                live.describe
            );
            let live_bar = live_progress_bar(duration);
            let mut on_live = |p: mqttsim_sim::live::LiveProgress| {
                if let Some(bar) = &live_bar {
                    bar.set_position(p.elapsed.as_secs());
                    bar.set_message(format!("lag {} ms", p.lag.as_millis()));
                }
            };
            let options = mqttsim_sim::live::LiveOptions {
                broker: live.target.clone(),
                tag,
                seed: Some(seed),
                duration: Some(duration),
                trace: sinks,
                progress: Some(&mut on_live),
                broker_restart: live.restart.clone(),
                login: live.login.clone(),
            };
            let result = mqttsim_sim::live::run(&scenario, options);
            if let Some(bar) = &live_bar {
                bar.finish_and_clear();
            }
            result.map(|r| {
                let run = r.run.clone();
                live_report = Some(r);
                run
            })
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(error @ SimError::Plan(_)) => return Err(Failure::input(error)),
        Err(error) => return Err(Failure::environment(error)),
    };
    let Packets(JsonLines(writer)) = jsonl;
    writer
        .finish()
        .with_context(|| format!("writing {}", jsonl_path.display()))
        .map_err(Failure::environment)?;
    drop(text);
    let summary = summary_json(&report, &args, duration)
        .context("serialising the summary")
        .map_err(Failure::environment)?;
    std::fs::write(&summary_path, summary + "\n")
        .with_context(|| format!("writing {}", summary_path.display()))
        .map_err(Failure::environment)?;

    print_summary(&report);
    let mut live_notes = Vec::new();
    if let Some(r) = live_report.as_ref() {
        println!(
            "live: lag median {} ms, max {} ms; retained messages cleared: {}",
            r.median_lag.as_millis(),
            r.max_lag.as_millis(),
            r.retained_cleared
        );
        live_notes.clone_from(&r.notes);
    }
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let records_note =
        format!("{} records", mqttsim_sim::scenario::thousands(report.trace_records));
    if write_text {
        println!(
            "trace: {} ({}, {records_note}) and {} ({})",
            jsonl_path.display(),
            human_size(size(&jsonl_path)),
            text_path.display(),
            human_size(size(&text_path)),
        );
    } else {
        let why = match args.text {
            TextTrace::Never => "--text never".to_owned(),
            _ => format!(
                "{} devices; --text always writes it",
                mqttsim_sim::scenario::thousands(scenario.device_count())
            ),
        };
        println!(
            "trace: {} ({}, {records_note}); no trace.txt ({why})",
            jsonl_path.display(),
            human_size(size(&jsonl_path)),
        );
    }
    println!("summary: {}", summary_path.display());
    let options = CheckOptions { end: duration, ..CheckOptions::default() };
    let records = records.0;
    let verdict = check(&scenario, &records.0, &options);
    println!("checks: {} violation(s)", verdict.violation_count());
    print!("{}", verdict.to_text());
    if live.is_some() {
        println!(
            "live: judged from what the devices observed; real-time tolerances: {} s for a message \
             held back, {} s of network slack on protocol deadlines, {} s for a 5.0 Will before its \
             moment, {} s of settling at the end",
            options.tolerance.as_secs(),
            options.slack.as_secs(),
            options.early.as_secs(),
            options.settle.as_secs()
        );
        for note in &live_notes {
            println!("live: {note}");
        }
    }
    for warning in warnings(&scenario, &records.0, &verdict) {
        eprintln!("warning: {warning}");
    }
    for note in &live_notes {
        eprintln!("warning: {note}");
    }
    let verdict_path = out.join("verdict.json");
    let mut json = serde_json::to_value(&verdict)
        .context("serialising the verdict")
        .map_err(Failure::environment)?;
    if let (Some(live), Some(r), Some(object)) =
        (live.as_ref(), live_report.as_ref(), json.as_object_mut())
    {
        object.insert("live".to_owned(), live_json(live, r, &options));
    }
    let json = serde_json::to_string_pretty(&json)
        .context("serialising the verdict")
        .map_err(Failure::environment)?;
    std::fs::write(&verdict_path, json + "\n")
        .with_context(|| format!("writing {}", verdict_path.display()))
        .map_err(Failure::environment)?;
    println!("verdict: {}", verdict_path.display());
    let replay = Replay {
        scenario: args.scenario.display().to_string(),
        duration: args.duration.map(|d| d.to_string()),
        swarm: args.swarm,
        tick: args.tick.map(|t| t.to_string()),
    }
    .command(seed);
    // The packet-level records are evidence the checker uses (round trips, a quiet device's
    // last packet), so the replay asks for them too.
    let replay = if args.packets { replay + " --packets" } else { replay };
    let replay = match &args.broker {
        // A live run cannot be replayed; the same devices and faults run again against the broker.
        Some(url) => format!("{replay} --broker {url}"),
        None => replay,
    };
    let input = ReportInput {
        scenario: &scenario,
        records: &records.0,
        verdict: &verdict,
        seed,
        end: duration,
        replay: &replay,
        device: args.device.as_deref(),
    };
    let analysis = Analysis::build(&input);
    let files = write_analysis(&out, &analysis).map_err(Failure::environment)?;
    crate::report_cmd::print_v5_facts(&analysis);
    println!("report: {}", files.html.display());
    println!("replay: {replay}");
    Ok(if verdict.failed() { 1 } else { 0 })
}

/// What a live run needs from the command line.
struct Live {
    target: mqttsim_sim::live::BrokerTarget,
    describe: String,
    restart: Option<mqttsim_sim::live::BrokerRestart>,
    login: Option<mqttsim_sim::live::Login>,
}

fn live_setup(
    args: &RunArgs,
    url: &str,
    scenario: &mqttsim_sim::scenario::Scenario,
) -> Result<Live, Failure> {
    let Access { url: parsed, tls, login } = args.access.resolve(url)?;
    let addr = format!("{}:{}", parsed.host, parsed.port);
    let tls = match tls {
        Some(connector) => {
            let name = mqttsim_net::tls::server_name(&parsed.host).map_err(Failure::input)?;
            Some((connector, name))
        }
        None => None,
    };
    let target = match (parsed.websocket_url(), tls) {
        (Some(url), tls) => mqttsim_sim::live::BrokerTarget::WebSocket { addr, url, tls },
        (None, Some((connector, name))) => {
            mqttsim_sim::live::BrokerTarget::Tls { addr, connector, name }
        }
        (None, None) => mqttsim_sim::live::BrokerTarget::Tcp(addr),
    };
    // The command line's restart command replaces the scenario's.
    let command = args.broker_restart.as_ref().or(scenario.broker.restart_command.as_ref());
    let restart = command.map(|command| {
        let state = args.broker_state.map(|s| match s {
            BrokerState::Keep => mqttsim_sim::scenario::StateMode::Durable,
            BrokerState::Lose => mqttsim_sim::scenario::StateMode::Volatile,
        });
        mqttsim_sim::live::BrokerRestart { command: command.clone(), state }
    });
    let login = login.map(|(username, password)| mqttsim_sim::live::Login { username, password });
    Ok(Live { target, describe: url.to_owned(), restart, login })
}

/// What a live run's verdict.json says beside the verdict: the broker, the real-time
/// tolerances the checker applied, the lag measured and what the run could not do.
fn live_json(
    live: &Live,
    report: &mqttsim_sim::live::LiveReport,
    options: &CheckOptions,
) -> serde_json::Value {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    serde_json::json!({
        "broker": live.describe,
        "judged_from": "what the devices observed",
        "tolerances_ms": {
            "held_back": ms(options.tolerance),
            "protocol_deadline_slack": ms(options.slack),
            "will_early": ms(options.early),
            "settle_at_end": ms(options.settle),
        },
        "lag_ms": { "median": ms(report.median_lag), "max": ms(report.max_lag) },
        "retained_cleared": report.retained_cleared,
        "notes": report.notes,
    })
}

/// A live run's default tag: the seed and the time, so that two runs never share names.
fn default_tag(seed: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("s{seed}-{secs}-{}", std::process::id())
}

/// A live run's progress line on a terminal: elapsed/total and the lag.
fn live_progress_bar(duration: Duration) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(duration.as_secs().max(1));
    let style = ProgressStyle::with_template("{spinner} {pos}/{len} s [{wide_bar}] {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// The run's summary, with what `mqtt-sim report` needs to judge the trace again: the scenario
/// file, the duration and whether the scenario was varied by the seed (the seed is in the report).
#[derive(serde::Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    report: &'a RunReport,
    scenario_path: String,
    scenario_arg: String,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_arg: Option<String>,
    swarm: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tick_arg: Option<String>,
}

fn summary_json(
    report: &RunReport,
    args: &RunArgs,
    duration: Duration,
) -> serde_json::Result<String> {
    let path = std::path::absolute(&args.scenario).unwrap_or_else(|_| args.scenario.clone());
    serde_json::to_string_pretty(&Summary {
        report,
        scenario_path: path.display().to_string(),
        scenario_arg: args.scenario.display().to_string(),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        duration_arg: args.duration.map(|d| d.to_string()),
        swarm: args.swarm,
        tick_arg: args.tick.map(|t| t.to_string()),
    })
}

fn print_summary(r: &RunReport) {
    let secs = |ms: u64| format!("{}.{:03} s", ms / 1000, ms % 1000);
    println!(
        "devices: {}   simulated: {}   wall: {}",
        r.devices,
        secs(r.simulated_ms),
        secs(r.wall_ms)
    );
    let qos = |p: &mqttsim_sim::run::PerQos| format!("{} / {} / {}", p.qos0, p.qos1, p.qos2);
    println!("messages (qos0 / qos1 / qos2):");
    println!("  published  {}", qos(&r.published));
    println!("  accepted   {}", qos(&r.accepted));
    println!("  acked      {}", qos(&r.acked));
    println!("  delivered  {}", qos(&r.delivered));
    let map = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_owned()
        } else {
            m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    };
    println!("connects: {} of {} attempts", r.connects, r.connect_attempts);
    println!("tcp failures: {}", map(&r.tcp_failures));
    println!("disconnects (device side): {}", map(&r.disconnects));
    println!("disconnects (broker side): {}", map(&r.broker_disconnects));
    println!("wills published: {}   link resets: {}", r.wills_published, r.link_resets);
    println!("dropped by devices: {}", map(&r.dropped_by_devices));
    println!("dropped by the broker: {}", map(&r.dropped_by_broker));
    println!("faults: {}", map(&r.faults));
    println!("trace records: {}", r.trace_records);
}
