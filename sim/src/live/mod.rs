//! Live mode: a scenario's devices, link model and fault timeline in real time over real TCP
//! (or TLS, or MQTT over WebSocket on either) against any broker, judged by the same checker.
//!
//! The devices are the simulator's own (one device, one link model), run on a current-thread
//! tokio runtime in a `LocalSet` with a real [`Clock`]; every device's behaviour and the fault
//! schedule still come from the seed, but the broker and real time are not deterministic.
//!
//! - [`namespace`]: the run's prefix on every client id, topic and filter on the wire.
//! - [`observe`]: the broker-side records the checker needs, derived from what the devices
//!   observed (the broker's internals are unknown).

pub mod namespace;
pub mod observe;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use mqttsim_client::{Client, ClientConfig, Event as ClientEvent, State};
use mqttsim_codec::QoS;
use mqttsim_net::tls::{ServerName, TlsConnector};
use mqttsim_net::{ClientDriverConfig, ClientWaker, drive_client};

use crate::clock::Clock;
use crate::device::{self, Recorder};
use crate::link::{Namespaced, Transport};
use crate::plan::Plan;
use crate::rng::Seeds;
use crate::run::{RunReport, SimError, device_setup, link_fault_records};
use crate::scenario::{Scenario, StateMode};
use crate::trace::{Event, Level, Phase, Record, TraceSink};
use namespace::Namespace;

/// How often the live runner looks at the clock: it hands records to the sinks, reports
/// progress and measures its lag at this pace.
const TICK: Duration = Duration::from_millis(100);

/// Where the broker under test is.
#[derive(Clone)]
pub enum BrokerTarget {
    /// Plain TCP to `host:port`.
    Tcp(String),
    /// TLS to `host:port`, the server verified as `name` by `connector`'s trust.
    Tls {
        /// `host:port`.
        addr: String,
        /// The rustls client configuration.
        connector: TlsConnector,
        /// The name the broker's certificate must carry.
        name: ServerName<'static>,
    },
    /// MQTT over WebSocket to `host:port`, over TLS if `tls` is given.
    WebSocket {
        /// `host:port`.
        addr: String,
        /// The opening handshake's URL (`ws://host:port/path` or `wss://...`).
        url: String,
        /// For `wss://`: the rustls client configuration and the name the broker's
        /// certificate must carry.
        tls: Option<(TlsConnector, ServerName<'static>)>,
    },
}

impl std::fmt::Debug for BrokerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrokerTarget::Tcp(addr) => write!(f, "mqtt://{addr}"),
            BrokerTarget::Tls { addr, .. } => write!(f, "mqtts://{addr}"),
            BrokerTarget::WebSocket { url, .. } => f.write_str(url),
        }
    }
}

impl BrokerTarget {
    fn transport(&self, namespace: Option<Namespaced>) -> Transport {
        match self {
            BrokerTarget::Tcp(addr) => Transport::Tcp { addr: addr.clone(), namespace },
            BrokerTarget::Tls { addr, connector, name } => Transport::Tls {
                addr: addr.clone(),
                connector: connector.clone(),
                name: name.clone(),
                namespace,
            },
            BrokerTarget::WebSocket { addr, url, tls } => Transport::WebSocket {
                addr: addr.clone(),
                url: url.clone(),
                tls: tls.clone(),
                namespace,
            },
        }
    }
}

/// What to do at a scenario's broker restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRestart {
    /// The shell command that restarts the broker (run with `sh -c`).
    pub command: String,
    /// Whether the broker keeps its sessions and retained messages across the restart; `None`:
    /// what the scenario says for each restart (the fault's `state`, else `broker.state`).
    pub state: Option<StateMode>,
}

/// Credentials that replace every group's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Option<String>,
}

/// Progress of a live run, reported about ten times a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveProgress {
    /// Time since the start.
    pub elapsed: Duration,
    /// The run's duration.
    pub total: Duration,
    /// How late the runner woke up this time: how far the emulator is behind real time.
    pub lag: Duration,
}

/// How a live run is made.
pub struct LiveOptions<'a> {
    /// The broker under test.
    pub broker: BrokerTarget,
    /// The run's tag: client ids and topics get the prefix `mqtt-sim/<tag>/` on the wire.
    pub tag: String,
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Replaces the scenario's duration.
    pub duration: Option<Duration>,
    /// Where the trace goes, in time order, once the run is over.
    pub trace: Vec<&'a mut dyn TraceSink>,
    /// Called about ten times a second.
    pub progress: Option<&'a mut dyn FnMut(LiveProgress)>,
    /// What restarts the broker at a scenario's broker restart; without it broker restarts are
    /// skipped (and said so in [`LiveReport::notes`]).
    pub broker_restart: Option<BrokerRestart>,
    /// Credentials for every device, replacing the groups' own.
    pub login: Option<Login>,
}

impl std::fmt::Debug for LiveOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveOptions")
            .field("broker", &self.broker)
            .field("tag", &self.tag)
            .field("seed", &self.seed)
            .field("duration", &self.duration)
            .field("broker_restart", &self.broker_restart)
            .finish_non_exhaustive()
    }
}

/// The summary of a live run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveReport {
    /// The same summary as a simulated run's (`simulated_ms` is the real duration).
    pub run: RunReport,
    /// The largest lag measured.
    pub max_lag: Duration,
    /// The median lag measured.
    pub median_lag: Duration,
    /// What the run could not do or know, for the verdict (skipped broker restarts, ...).
    pub notes: Vec<String>,
    /// Retained messages the run created and cleared at the end.
    pub retained_cleared: usize,
}

/// Runs `scenario` live against `options.broker` and returns its summary; the trace (device
/// records and the broker-side records [`observe`] derives) goes to `options.trace`.
///
/// # Errors
///
/// Returns an error if the scenario cannot be planned, the runtime cannot start, or a trace
/// sink fails.
pub fn run(scenario: &Scenario, options: LiveOptions<'_>) -> Result<LiveReport, SimError> {
    let LiveOptions { broker, tag, seed, duration, mut trace, mut progress, broker_restart, login } =
        options;
    let seed = seed.unwrap_or(scenario.seed);
    let duration = duration.unwrap_or(scenario.duration.get());
    let mut scenario = scenario.clone();
    if let Some(login) = &login {
        for group in &mut scenario.devices {
            group.credentials = Some(crate::scenario::Credentials {
                username: login.username.clone(),
                password: login.password.clone(),
            });
        }
    }
    let plan = Plan::new(&scenario, seed, duration)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SimError::Trace)?;
    let local = tokio::task::LocalSet::new();
    let recorder: Recorder = Rc::new(RefCell::new(Vec::new()));
    let packets = trace.iter().any(|sink| sink.level() >= Level::Packets);
    let namespace = Namespace::new(&tag);
    let mut notes = Vec::new();
    let mut lags: Vec<Duration> = Vec::new();
    let wall = std::time::Instant::now();

    let records = local.block_on(&runtime, async {
        let clock = Clock::real();
        let seeds = Seeds::new(plan.seed);
        for d in &plan.devices {
            let protocol = scenario.devices[d.group].protocol_in(&scenario);
            let ns = Namespaced { namespace: namespace.clone(), protocol };
            let transport = broker.transport(Some(ns));
            let setup = device_setup(&scenario, d, &seeds, &recorder, packets, transport, clock);
            tokio::task::spawn_local(device::run_device(setup));
        }
        let mut restarts = plan.restarts.iter().peekable();
        let mut restart_done: Option<std::sync::mpsc::Receiver<()>> = None;
        let mut restart_state = String::new();
        let mut all: Vec<Record> = Vec::new();
        let start = tokio::time::Instant::now();
        let mut k: u32 = 0;
        loop {
            k += 1;
            let due = start + TICK * k;
            tokio::time::sleep_until(due).await;
            let lag = tokio::time::Instant::now().saturating_duration_since(due);
            lags.push(lag);
            let elapsed = clock.now();
            while let Some(r) = restarts.next_if(|r| r.at <= elapsed) {
                let Some(b) = &broker_restart else {
                    notes.push(format!(
                        "the broker restart at {:?} was skipped: no --broker-restart command \
                         and no broker.restart_command in the scenario",
                        r.at
                    ));
                    continue;
                };
                let state = b.state.unwrap_or(r.state);
                restart_state = match state {
                    StateMode::Durable => "durable".to_owned(),
                    StateMode::Volatile => "volatile".to_owned(),
                };
                recorder.borrow_mut().push(Record::new(
                    elapsed,
                    None,
                    None,
                    Event::BrokerRestart { phase: Phase::Start, state: restart_state.clone() },
                ));
                let (tx, rx) = std::sync::mpsc::channel();
                let command = b.command.clone();
                std::thread::spawn(move || {
                    let _ = std::process::Command::new("sh").arg("-c").arg(&command).status();
                    let _ = tx.send(());
                });
                restart_done = Some(rx);
            }
            if restart_done.as_ref().is_some_and(|rx| rx.try_recv().is_ok()) {
                restart_done = None;
                recorder.borrow_mut().push(Record::new(
                    elapsed,
                    None,
                    None,
                    Event::BrokerRestart { phase: Phase::End, state: restart_state.clone() },
                ));
            }
            all.append(&mut recorder.borrow_mut());
            if let Some(progress) = progress.as_mut() {
                progress(LiveProgress { elapsed: elapsed.min(duration), total: duration, lag });
            }
            if elapsed >= duration {
                break;
            }
        }
        all
    });
    // The devices stop: their connections close (a device with a Will may leave it retained,
    // which the clearing below removes too).
    drop(local);
    let mut retained_cleared = 0;
    for (group, topics) in observe::retained_topics(&scenario, &records) {
        let group = &scenario.devices[group];
        let cleaner = clear_retained(&broker, &namespace, &topics, &scenario, group);
        let local = tokio::task::LocalSet::new();
        match local.block_on(&runtime, cleaner) {
            Ok(n) => retained_cleared += n,
            Err(why) => notes.push(format!(
                "the retained messages of group `{}` were not cleared: {why}",
                group.group
            )),
        }
    }
    drop(runtime);

    let total_us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    let mut records: Vec<Record> = records.into_iter().filter(|r| r.t_us <= total_us).collect();
    records.extend(link_fault_records(&plan).into_iter().filter(|r| r.t_us < total_us));
    records.sort_by_key(|r| r.t_us);
    let records = observe::observe(&scenario, &records);
    let mut report = RunReport {
        scenario: scenario.name.clone(),
        seed,
        devices: plan.devices.len() as u64,
        ..RunReport::default()
    };
    for record in &records {
        let packet_level = record.event.is_packet_level();
        report.observe(record);
        for sink in trace.iter_mut() {
            if !packet_level || sink.level() >= Level::Packets {
                sink.record(record)?;
            }
        }
    }
    for sink in trace.iter_mut() {
        sink.finish()?;
    }
    report.simulated_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    report.wall_ms = u64::try_from(wall.elapsed().as_millis()).unwrap_or(u64::MAX);
    lags.sort();
    Ok(LiveReport {
        run: report,
        max_lag: lags.last().copied().unwrap_or_default(),
        median_lag: lags.get(lags.len() / 2).copied().unwrap_or_default(),
        notes,
        retained_cleared,
    })
}

/// Publishes an empty retained message on every topic in `topics` (scenario names; the
/// namespace prefixes them), at QoS 1, and waits for each PUBACK; it connects as `group`'s
/// devices do (their version and credentials: the broker's ACL let them publish there).
async fn clear_retained(
    broker: &BrokerTarget,
    namespace: &Namespace,
    topics: &[String],
    scenario: &Scenario,
    group: &crate::scenario::DeviceGroup,
) -> Result<usize, String> {
    let protocol = group.protocol_in(scenario);
    let ns = Namespaced { namespace: namespace.clone(), protocol };
    let transport = broker.transport(Some(ns));
    let stream = match transport.connect().await.map_err(|e| e.to_string())? {
        crate::link::TransportStream::Tcp(s, Some(n)) => {
            Box::new(crate::link::Named(s, n)) as Box<dyn Joinable>
        }
        crate::link::TransportStream::Tls(s, Some(n)) => Box::new(crate::link::Named(s, n)),
        crate::link::TransportStream::WebSocket(s, Some(n)) => Box::new(crate::link::Named(s, n)),
        _ => return Err("unexpected transport".to_owned()),
    };
    let mut config = ClientConfig::new(format!("cleaner-{}", group.group));
    config.protocol = protocol;
    config.clean_session = true;
    config.keep_alive = 30;
    if let Some(credentials) = &group.credentials {
        config.username = Some(credentials.username.clone());
        config.password = credentials.password.clone().map(|p| Bytes::from(p.into_bytes()));
    }
    let client = RefCell::new(Client::new(config));
    let epoch = tokio::time::Instant::now();
    let waker = ClientWaker::new();
    let mut acked = 0usize;
    let total = topics.len();
    let mut refused = None;
    let mut sink = |t: Duration, event: &ClientEvent| match event {
        ClientEvent::Connected { .. } => {
            for topic in topics {
                let topic = ByteString::from(topic.as_str());
                // The devices published on these topics, so they are valid.
                let _ = client.borrow_mut().publish(t, topic, Bytes::new(), QoS::AtLeastOnce, true);
            }
            waker.wake();
        }
        ClientEvent::Acked { .. } => {
            acked += 1;
            if acked == total {
                client.borrow_mut().disconnect(t);
                waker.wake();
            }
        }
        ClientEvent::ConnectionRefused(code) => refused = Some(code.0),
        _ => {}
    };
    let config = ClientDriverConfig { max_packet_size: 1 << 20, epoch };
    let stream = stream.into_stream();
    let drive = drive_client(&client, stream, &waker, config, &mut sink);
    if tokio::time::timeout(Duration::from_secs(10), drive).await.is_err() {
        return Err("the broker did not acknowledge the clearing messages in 10 s".to_owned());
    }
    if let Some(code) = refused {
        return Err(format!("the broker refused the connection (0x{code:02X})"));
    }
    let done = acked.min(total);
    if client.borrow().state() != State::Disconnected && done < total {
        return Err(format!("{done} of {total} cleared"));
    }
    Ok(done)
}

/// A namespaced stream joined again for a plain client driver.
trait Joinable {
    fn into_stream(self: Box<Self>) -> JoinedStream;
}

/// The two halves of a namespaced stream as one `AsyncRead + AsyncWrite`.
struct JoinedStream {
    read: Box<dyn tokio::io::AsyncRead + Unpin>,
    write: Box<dyn tokio::io::AsyncWrite + Unpin>,
}

impl<S: crate::link::SplitStream> Joinable for crate::link::Named<S> {
    fn into_stream(self: Box<Self>) -> JoinedStream {
        use crate::link::SplitStream as _;
        let (read, write) = (*self).split_halves();
        JoinedStream { read: Box::new(read), write: Box::new(write) }
    }
}

impl tokio::io::AsyncRead for JoinedStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for JoinedStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.write).poll_write(cx, buf) {
            std::task::Poll::Ready(Ok(n)) => {
                // The namespace layer may hold rewritten bytes until flushed.
                let _ = std::pin::Pin::new(&mut this.write).poll_flush(cx);
                std::task::Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().write).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().write).poll_shutdown(cx)
    }
}
