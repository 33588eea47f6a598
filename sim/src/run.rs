//! Running a scenario: the broker host, the device hosts with their devices, the step loop, the
//! trace and the summary.
//!
//! The world is stepped by hand (`Sim::step`) until the simulated duration is reached, so the
//! caller can watch progress. Records from all hosts go to one buffer; after every step the
//! buffer is sorted by time (stable, so records at the same instant keep the order they were
//! made in) and handed to the trace sinks. Hosts are stepped in registration order, which with
//! a fixed seed and epoch makes the whole run, and so the trace, reproducible byte for byte.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use mqttsim_broker::{
    Broker, BrokerConfig, DisconnectReason, DropReason, Event as BrokerEvent, MemoryStore,
    PlantedBug, Store,
};
use mqttsim_net::{BrokerDriver, BrokerDriverConfig};
use serde::Serialize;

use crate::clock::Clock;
use crate::device::{self, DeviceSetup, Recorder};
use crate::link::{DeviceLink, LinkModel, LinkOptions, Transport, Window};
use crate::plan::{DevicePlan, LinkAction, Plan, PlanError, Restart, direction_name, fmt_pct};
use crate::rng::{Purpose, Seeds};
use crate::scenario::{BrokerBug, Scenario, StateMode};
use crate::trace::{Event, Level, Phase, Record, TraceSink};
use crate::world::{self, BROKER_HOST, WorldConfig};

/// The MQTT port the broker listens on.
pub const BROKER_PORT: u16 = 1883;

/// How a run is made.
pub struct RunOptions<'a> {
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Replaces the scenario's duration.
    pub duration: Option<Duration>,
    /// Simulated time per turmoil step.
    pub tick: Duration,
    /// Where the trace goes, record by record, in time order.
    pub trace: Vec<&'a mut dyn TraceSink>,
    /// Called after each step with the simulated time done and the total.
    pub progress: Option<&'a mut dyn FnMut(Duration, Duration)>,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            seed: None,
            duration: None,
            tick: Duration::from_millis(10),
            trace: Vec::new(),
            progress: None,
        }
    }
}

impl fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("duration", &self.duration)
            .field("tick", &self.tick)
            .field("trace_sinks", &self.trace.len())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario cannot be turned into a plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Software on a simulated host failed (for example, the broker could not listen).
    #[error("simulated host failed: {0}")]
    Host(String),
    /// Writing the trace failed.
    #[error("writing the trace failed: {0}")]
    Trace(#[from] io::Error),
    /// The tick is below 1 ms: the simulation would never advance.
    #[error("the tick ({0:?}) must be at least 1ms: the simulator advances one tick per step")]
    Tick(Duration),
}

/// Counts per QoS level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PerQos {
    /// QoS 0.
    pub qos0: u64,
    /// QoS 1.
    pub qos1: u64,
    /// QoS 2.
    pub qos2: u64,
}

impl PerQos {
    fn add(&mut self, qos: u8) {
        match qos {
            0 => self.qos0 += 1,
            1 => self.qos1 += 1,
            _ => self.qos2 += 1,
        }
    }

    /// All levels together.
    pub fn total(&self) -> u64 {
        self.qos0 + self.qos1 + self.qos2
    }
}

/// The summary of a run. Everything but `wall_ms` is determined by the scenario and the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed used.
    pub seed: u64,
    /// The number of devices.
    pub devices: u64,
    /// Simulated time, in milliseconds.
    pub simulated_ms: u64,
    /// Wall-clock time the run took, in milliseconds.
    pub wall_ms: u64,
    /// Application messages published, per QoS.
    pub published: PerQos,
    /// Messages received by subscribers (including Wills and retained copies), per QoS.
    pub delivered: PerQos,
    /// Messages the broker accepted from publishers, per QoS.
    pub accepted: PerQos,
    /// QoS 1 and 2 messages completed at their publisher, per QoS.
    pub acked: PerQos,
    /// Messages devices gave up, by reason.
    pub dropped_by_devices: BTreeMap<String, u64>,
    /// Messages the broker dropped, by reason.
    pub dropped_by_broker: BTreeMap<String, u64>,
    /// Connection attempts.
    pub connect_attempts: u64,
    /// Connections accepted by CONNACK.
    pub connects: u64,
    /// TCP connections that could not be made, by error.
    pub tcp_failures: BTreeMap<String, u64>,
    /// Connections ended, by the device's reason.
    pub disconnects: BTreeMap<String, u64>,
    /// Connections ended at the broker, by its reason.
    pub broker_disconnects: BTreeMap<String, u64>,
    /// Wills the broker published.
    pub wills_published: u64,
    /// Connections reset by their link.
    pub link_resets: u64,
    /// Faults applied, by kind (each device, link fault or restart counts once).
    pub faults: BTreeMap<String, u64>,
    /// Records in the trace.
    pub trace_records: u64,
}

impl RunReport {
    pub(crate) fn observe(&mut self, record: &Record) {
        self.trace_records += 1;
        let bump = |map: &mut BTreeMap<String, u64>, key: &str| {
            *map.entry(key.to_owned()).or_default() += 1;
        };
        match &record.event {
            Event::ConnectAttempt { .. } => self.connect_attempts += 1,
            Event::TcpFailed { error } => bump(&mut self.tcp_failures, error),
            Event::Connected { .. } => self.connects += 1,
            Event::Closed { reason, .. } => bump(&mut self.disconnects, reason),
            Event::AppPublish { qos, .. } => self.published.add(*qos),
            Event::Delivered { qos, .. } => self.delivered.add(*qos),
            Event::Acked { qos, .. } => self.acked.add(*qos),
            Event::Dropped { reason, .. } => bump(&mut self.dropped_by_devices, reason),
            Event::BrokerAccepted { qos, .. } => self.accepted.add(*qos),
            Event::BrokerDisconnected { reason, .. } => {
                bump(&mut self.broker_disconnects, reason_kind(reason))
            }
            Event::WillPublished { .. } => self.wills_published += 1,
            Event::BrokerDropped { reason, .. } => bump(&mut self.dropped_by_broker, reason),
            Event::LinkReset => self.link_resets += 1,
            Event::DeviceFault { kind, phase: Phase::Start }
            | Event::LinkFault { kind, phase: Phase::Start, .. } => bump(&mut self.faults, kind),
            Event::BrokerRestart { phase: Phase::Start, .. } => {
                bump(&mut self.faults, "broker-restart")
            }
            _ => {}
        }
    }
}

/// The reason's first word (`protocol-violation [MQTT-...]: ...` counts as
/// `protocol-violation`).
fn reason_kind(reason: &str) -> &str {
    reason.split([' ', ':']).next().unwrap_or(reason)
}

fn state_name(state: StateMode) -> &'static str {
    match state {
        StateMode::Durable => "durable",
        StateMode::Volatile => "volatile",
    }
}

/// The broker core's configuration for a scenario.
pub fn broker_config(scenario: &Scenario) -> BrokerConfig {
    let spec = &scenario.broker;
    let bugs = spec
        .bugs
        .iter()
        .map(|bug| match bug {
            BrokerBug::ForgetInflightOnReconnect => PlantedBug::ForgetInflightOnReconnect,
            BrokerBug::DuplicateQos2OnDup => PlantedBug::DuplicateQos2OnDup,
            BrokerBug::WillAfterDisconnect => PlantedBug::WillAfterDisconnect,
            BrokerBug::NoWillOnKeepaliveTimeout => PlantedBug::NoWillOnKeepaliveTimeout,
            BrokerBug::StaleRetained => PlantedBug::StaleRetained,
            BrokerBug::NoWillOnTakeover => PlantedBug::NoWillOnTakeover,
            BrokerBug::DupFlagNotSet => PlantedBug::DupFlagNotSet,
            BrokerBug::RetainedDeleteNotForwarded => PlantedBug::RetainedDeleteNotForwarded,
            BrokerBug::RetainedDuplicated => PlantedBug::RetainedDuplicated,
            BrokerBug::Qos2DupFlagDrop => PlantedBug::Qos2DupFlagDrop,
            BrokerBug::SharedSubRedispatchLoss => PlantedBug::SharedSubRedispatchLoss,
            BrokerBug::SharedSubStaleMember => PlantedBug::SharedSubStaleMember,
            BrokerBug::NoLocalIgnored => PlantedBug::NoLocalIgnored,
            BrokerBug::NoWillAtSessionEnd => PlantedBug::NoWillAtSessionEnd,
            BrokerBug::WillDelayIgnored => PlantedBug::WillDelayIgnored,
            BrokerBug::NoWillOnDelayedTakeover => PlantedBug::NoWillOnDelayedTakeover,
            BrokerBug::SessionExpiryIgnored => PlantedBug::SessionExpiryIgnored,
            BrokerBug::ExpiryIgnoredQueued => PlantedBug::ExpiryIgnoredQueued,
            BrokerBug::RetainedExpiryIgnored => PlantedBug::RetainedExpiryIgnored,
            BrokerBug::ExpiryNotDecremented => PlantedBug::ExpiryNotDecremented,
            BrokerBug::RetainHandlingIgnored => PlantedBug::RetainHandlingIgnored,
            BrokerBug::ReceiveMaximumExceeded => PlantedBug::ReceiveMaximumExceeded,
            BrokerBug::FlowQuotaLeak => PlantedBug::FlowQuotaLeak,
            BrokerBug::TopicAliasLeak => PlantedBug::TopicAliasLeak,
            BrokerBug::UserPropertiesDropped => PlantedBug::UserPropertiesDropped,
            BrokerBug::WillPropertyLeak => PlantedBug::WillPropertyLeak,
            BrokerBug::MaximumPacketSizeIgnored => PlantedBug::MaximumPacketSizeIgnored,
            BrokerBug::RetainAsPublishedIgnored => PlantedBug::RetainAsPublishedIgnored,
            BrokerBug::MaximumQosNotAnnounced => PlantedBug::MaximumQosNotAnnounced,
        })
        .collect();
    let defaults = BrokerConfig::default();
    BrokerConfig {
        max_inflight: u16::try_from(spec.max_inflight).unwrap_or(u16::MAX).max(1),
        max_queued_messages: spec.max_queued as usize,
        // The format bounds the grace to 1–10, so the product fits.
        keepalive_grace_permille: (spec.keepalive.grace * 1000.0).round() as u32,
        // MQTT 5.0 Server Keep Alive; validation allows it only in 5.0 scenarios.
        server_keep_alive: spec
            .keepalive
            .server_override
            .map(|t| u16::try_from(t.get().as_secs()).unwrap_or(u16::MAX)),
        bugs,
        // MQTT 5.0 limits announced in CONNACK; validation allows them only with a 5.0 group.
        max_inbound_qos2: spec.receive_maximum.map_or(defaults.max_inbound_qos2, usize::from),
        max_packet_size: spec.max_packet_size.unwrap_or(defaults.max_packet_size),
        topic_alias_maximum: spec.topic_alias_maximum.unwrap_or(defaults.topic_alias_maximum),
        max_qos: spec.maximum_qos.map_or(defaults.max_qos, |q| q.get()),
        retain_available: spec.retain_available.unwrap_or(defaults.retain_available),
        ..defaults
    }
}

fn fresh_store(state: StateMode) -> Box<dyn Store> {
    match state {
        StateMode::Durable => Box::new(MemoryStore::durable()),
        StateMode::Volatile => Box::new(MemoryStore::volatile()),
    }
}

/// The kebab-case text of a broker disconnect reason.
fn disconnect_reason(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::ClientDisconnect => "client-disconnect".to_owned(),
        DisconnectReason::KeepAliveTimeout => "keepalive-timeout".to_owned(),
        DisconnectReason::ConnectTimeout => "connect-timeout".to_owned(),
        DisconnectReason::ConnectionLost => "connection-lost".to_owned(),
        DisconnectReason::ProtocolViolation { statement, detail } => match statement {
            Some(s) => format!("protocol-violation [{s}]: {detail}"),
            None => format!("protocol-violation: {detail}"),
        },
        DisconnectReason::TakenOver => "taken-over".to_owned(),
        DisconnectReason::ConnectRefused(code) => format!("connect-refused 0x{:02X}", code.0),
        DisconnectReason::LimitExceeded(limit) => format!("limit-exceeded {limit:?}"),
        DisconnectReason::ServerShuttingDown => "server-shutting-down".to_owned(),
        DisconnectReason::SlowConsumer => "slow-consumer".to_owned(),
        DisconnectReason::WriteTimeout => "write-timeout".to_owned(),
        DisconnectReason::Overloaded => "overloaded".to_owned(),
    }
}

/// Turns a broker core event into a trace record; `None` for events the trace has no record
/// for (5.0 reason codes sent, expired sessions), which 3.1.1 runs never produce.
fn broker_record(at: Duration, event: &BrokerEvent) -> Option<Record> {
    let (device, event) = match event {
        BrokerEvent::ClientConnected { conn, client_id, clean_session, session_present } => (
            Some(client_id.to_string()),
            Event::BrokerConnected {
                conn: conn.0,
                clean_session: *clean_session,
                session_present: *session_present,
            },
        ),
        BrokerEvent::ConnectionRefused { conn, client_id, reason_code } => (
            Some(client_id.to_string()),
            Event::BrokerRefused { conn: conn.0, code: reason_code.0 },
        ),
        BrokerEvent::ClientDisconnected { conn, client_id, reason } => (
            Some(client_id.to_string()),
            Event::BrokerDisconnected { conn: conn.0, reason: disconnect_reason(reason) },
        ),
        BrokerEvent::ConnectionClosed { conn, reason } => (
            None,
            Event::BrokerConnectionClosed { conn: conn.0, reason: disconnect_reason(reason) },
        ),
        BrokerEvent::MessageAccepted { client_id, topic, packet_id, qos, retain, payload } => (
            Some(client_id.to_string()),
            Event::BrokerAccepted {
                msg: device::message_id(payload).map(str::to_owned),
                topic: topic.to_string(),
                pid: *packet_id,
                qos: qos.as_u8(),
                retain: *retain,
            },
        ),
        BrokerEvent::WillPublished { client_id, topic, qos, retain } => (
            Some(client_id.to_string()),
            Event::WillPublished { topic: topic.to_string(), qos: qos.as_u8(), retain: *retain },
        ),
        BrokerEvent::MessageDropped { client_id, topic, payload, reason } => (
            Some(client_id.to_string()),
            Event::BrokerDropped {
                msg: device::message_id(payload).map(str::to_owned),
                topic: topic.to_string(),
                reason: match reason {
                    DropReason::QueueFull => "queue-full".to_owned(),
                    DropReason::QoS0Offline => "qos0-offline".to_owned(),
                    DropReason::Expired => "expired".to_owned(),
                    DropReason::PacketTooLarge => "packet-too-large".to_owned(),
                    DropReason::SharedSessionEnded => "shared-session-ended".to_owned(),
                    DropReason::NotAuthorized => "not-authorized".to_owned(),
                },
            },
        ),
        BrokerEvent::Subscribed { client_id, filter, granted } => (
            Some(client_id.to_string()),
            Event::BrokerSubscribed { filter: filter.clone(), granted: granted.map(|q| q.as_u8()) },
        ),
        // The simulated broker has no topic authorisation: a refusal is a drop of the message.
        BrokerEvent::PublishRefused { client_id, topic, .. } => (
            Some(client_id.to_string()),
            Event::BrokerDropped {
                msg: None,
                topic: topic.to_string(),
                reason: "not-authorized".to_owned(),
            },
        ),
        BrokerEvent::Unsubscribed { client_id, filter } => {
            (Some(client_id.to_string()), Event::BrokerUnsubscribed { filter: filter.clone() })
        }
        BrokerEvent::ReasonCodeSent { .. } | BrokerEvent::SessionExpired { .. } => return None,
    };
    Some(Record::new(at, None, device.as_deref(), event))
}

fn now() -> Duration {
    world::sim_now().expect("the broker runs inside a turmoil host")
}

async fn sleep_until(at: Duration) {
    let now = now();
    if at > now {
        tokio::time::sleep(at - now).await;
    }
}

/// The broker host's software: listen, serve, crash and restart on schedule.
async fn broker_main(
    config: BrokerConfig,
    state: StateMode,
    restarts: Vec<Restart>,
    recorder: Recorder,
) -> turmoil::Result {
    let driver = BrokerDriver::new(
        Broker::new(config.clone(), fresh_store(state)),
        BrokerDriverConfig::default(),
    );
    let sink_recorder = recorder.clone();
    driver.set_event_sink(Box::new(move |_, event| {
        if let Some(record) = broker_record(now(), event) {
            sink_recorder.borrow_mut().push(record);
        }
    }));
    tokio::task::spawn_local(driver.clone().run_timers());
    // The listener stays bound for the whole run: turmoil never frees the client socket of a
    // refused connection, so refusals would leak a port per attempt until a device host runs
    // out of them. While the broker is down, connections are accepted and closed at once.
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", BROKER_PORT)).await?;
    let mut restarts = restarts.into_iter();
    loop {
        let next = restarts.next();
        loop {
            let crash = async {
                match next {
                    Some(r) => sleep_until(r.at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = crash => break,
                accepted = listener.accept() => {
                    if let Ok((stream, _peer)) = accepted {
                        driver.spawn_connection(stream);
                    }
                }
            }
        }
        let Some(restart) = next else { unreachable!("only a scheduled restart ends serving") };
        // The process dies: every connection is dropped without a word.
        let state_text = state_name(restart.state).to_owned();
        recorder.borrow_mut().push(Record::new(
            now(),
            None,
            None,
            Event::BrokerRestart { phase: Phase::Start, state: state_text.clone() },
        ));
        let placeholder = Broker::new(config.clone(), fresh_store(state));
        let old = driver.replace_core(placeholder);
        let back = sleep_until(restart.at + restart.down_for);
        tokio::pin!(back);
        loop {
            tokio::select! {
                biased;
                () = &mut back => break,
                accepted = listener.accept() => drop(accepted),
            }
        }
        let store = match restart.state {
            StateMode::Durable => old.into_store(),
            StateMode::Volatile => fresh_store(state),
        };
        drop(driver.replace_core(Broker::new(config.clone(), store)));
        recorder.borrow_mut().push(Record::new(
            now(),
            None,
            None,
            Event::BrokerRestart { phase: Phase::End, state: state_text },
        ));
    }
}

/// Builds the device tasks' setups for device host `host`.
fn device_setups(
    scenario: &Scenario,
    plan: &Plan,
    host: usize,
    recorder: &Recorder,
    packets: bool,
) -> Vec<DeviceSetup> {
    let seeds = Seeds::new(plan.seed);
    let broker_addr = format!("{BROKER_HOST}:{BROKER_PORT}");
    plan.devices_on(host)
        .map(|d| {
            let transport = Transport::Turmoil(broker_addr.clone());
            device_setup(scenario, d, &seeds, recorder, packets, transport, Clock::Simulated)
        })
        .collect()
}

/// Builds the setup of device `d`: the same in the simulator and in a live run, but for how it
/// reaches the broker and the clock it runs on.
pub(crate) fn device_setup(
    scenario: &Scenario,
    d: &DevicePlan,
    seeds: &Seeds,
    recorder: &Recorder,
    packets: bool,
    transport: Transport,
    clock: Clock,
) -> DeviceSetup {
    let group = &scenario.devices[d.group];
    let model = link_model(d, seeds);
    let options = LinkOptions { record_events: true, ..LinkOptions::default() };
    let mut rng = seeds.stream(Purpose::DEVICE, d.stream);
    let streams = device::publish_streams(group, d.i, d.start, &mut rng);
    DeviceSetup {
        plan: d.clone(),
        config: device::client_config(group, d.i, group.protocol_in(scenario)),
        subscriptions: device::subscriptions(group, d.i, false),
        resubscribe: device::subscriptions(group, d.i, true),
        streams,
        reconnect: group.reconnect.clone(),
        link: DeviceLink::with_clock(model, options, clock),
        rng,
        recorder: recorder.clone(),
        transport,
        packets,
        responder: device::responder(group, d.i),
    }
}

/// The link model of device `d`: its link's configuration and the link faults aimed at it.
fn link_model(d: &DevicePlan, seeds: &Seeds) -> LinkModel {
    let mut model =
        LinkModel::new(d.link, seeds, d.stream).expect("validated when the plan was made");
    for change in &d.link_faults {
        let window = Window::new(change.from, change.until);
        match change.action {
            LinkAction::Blackout(directions) => model.add_blackout(window, directions),
            LinkAction::Loss(loss) => {
                let directions = crate::link::Directions::Both;
                // The scenario validated the rate.
                let _ = model.add_loss_override(window, directions, loss);
            }
            LinkAction::Flapping(flap) => {
                // The scenario validated the means.
                let _ = model.add_flapping(window, flap.mean_up, flap.mean_down, seeds, d.stream);
            }
        }
    }
    model
}

/// The link fault records, at their scheduled times, in time order: the scenario's link
/// faults, and each device's flapping as `flap` periods (the same periods its link model
/// keeps, drawn from the same streams), so that the checker and the report see them.
pub(crate) fn link_fault_records(plan: &Plan) -> Vec<Record> {
    let mut out = Vec::new();
    let seeds = Seeds::new(plan.seed);
    for d in &plan.devices {
        let flaps = d.link.flapping.is_some()
            || d.link_faults.iter().any(|c| matches!(c.action, LinkAction::Flapping(_)));
        if !flaps {
            continue;
        }
        for (from, until) in link_model(d, &seeds).flap_downs(plan.duration) {
            for (at, phase) in [(from, Phase::Start), (until, Phase::End)] {
                out.push(Record::new(
                    at,
                    None,
                    None,
                    Event::LinkFault {
                        kind: "flap".to_owned(),
                        phase,
                        target: format!("device={}", d.client_id),
                        direction: None,
                        loss_pct: None,
                        devices: vec![d.client_id.clone()],
                    },
                ));
            }
        }
    }
    for note in &plan.link_faults {
        let devices: Vec<String> =
            note.devices.iter().map(|&d| plan.devices[d as usize].client_id.clone()).collect();
        for (at, phase) in [(note.from, Phase::Start), (note.until, Phase::End)] {
            out.push(Record::new(
                at,
                None,
                None,
                Event::LinkFault {
                    kind: note.kind.name().to_owned(),
                    phase,
                    target: note.target.clone(),
                    direction: note.direction.map(|d| direction_name(d).to_owned()),
                    loss_pct: note.loss.map(fmt_pct),
                    devices: devices.clone(),
                },
            ));
        }
    }
    out.sort_by_key(|r| r.t_us);
    out
}

/// Runs `scenario` and returns its summary; the trace goes to `options.trace`.
///
/// # Errors
///
/// Returns an error if the scenario cannot be planned, a simulated host fails, or a trace sink
/// fails to write.
pub fn run(scenario: &Scenario, options: RunOptions<'_>) -> Result<RunReport, SimError> {
    let RunOptions { seed, duration, tick, mut trace, mut progress } = options;
    if tick < Duration::from_millis(1) {
        return Err(SimError::Tick(tick));
    }
    let wall = std::time::Instant::now();
    let seed = seed.unwrap_or(scenario.seed);
    let duration = duration.unwrap_or(scenario.duration.get());
    let plan = Rc::new(Plan::new(scenario, seed, duration)?);
    let scenario = Rc::new(scenario.clone());
    let recorder: Recorder = Rc::new(RefCell::new(Vec::new()));
    let packets = trace.iter().any(|sink| sink.level() >= Level::Packets);

    let mut sim = world::build_sim(&WorldConfig {
        seed,
        tick,
        // Turmoil gives up after this; we stop stepping at `duration` ourselves.
        duration: duration + Duration::from_secs(3600),
        ..WorldConfig::default()
    });
    {
        let config = broker_config(&scenario);
        let state = scenario.broker.state;
        let restarts = plan.restarts.clone();
        let recorder = recorder.clone();
        sim.host(BROKER_HOST, move || {
            broker_main(config.clone(), state, restarts.clone(), recorder.clone())
        });
    }
    for (host, name) in plan.hosts.iter().enumerate() {
        let scenario = scenario.clone();
        let plan = plan.clone();
        let recorder = recorder.clone();
        sim.host(name.as_str(), move || {
            let setups = device_setups(&scenario, &plan, host, &recorder, packets);
            async move {
                for setup in setups {
                    tokio::task::spawn_local(device::run_device(setup));
                }
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }

    let mut report = RunReport {
        scenario: scenario.name.clone(),
        seed,
        devices: plan.devices.len() as u64,
        ..RunReport::default()
    };
    let mut faults = link_fault_records(&plan).into_iter().peekable();
    let mut batch = Vec::new();
    let total_us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    while sim.elapsed() < duration {
        sim.step().map_err(|e| SimError::Host(e.to_string()))?;
        let done = sim.elapsed().min(duration);
        let done_us = u64::try_from(done.as_micros()).unwrap_or(u64::MAX);
        batch.clear();
        std::mem::swap(&mut batch, &mut *recorder.borrow_mut());
        while let Some(fault) = faults.next_if(|r| r.t_us <= done_us && r.t_us < total_us) {
            batch.push(fault);
        }
        batch.sort_by_key(|r| r.t_us);
        for record in batch.iter().filter(|r| r.t_us <= total_us) {
            let packet_level = record.event.is_packet_level();
            report.observe(record);
            for sink in trace.iter_mut() {
                if !packet_level || sink.level() >= Level::Packets {
                    sink.record(record)?;
                }
            }
        }
        if let Some(progress) = progress.as_mut() {
            progress(done, duration);
        }
    }
    for sink in trace.iter_mut() {
        sink.finish()?;
    }
    report.simulated_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    report.wall_ms = u64::try_from(wall.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tick below 1 ms never advances the simulation (`mqtt-sim run --tick 0` hung): it is an
    /// error, before anything runs.
    #[test]
    fn a_zero_tick_is_an_error() {
        let scenario = crate::scenario::parse_scenario(
            "name: t\nseed: 1\nduration: 1s\nprotocol: \"3.1.1\"\nsites: [ { name: s, link: { latency: 1ms } } ]\n\
             devices: [ { group: g, site: s, count: 1, client_id: d } ]\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for tick in [Duration::ZERO, Duration::from_micros(999)] {
            let options = RunOptions { tick, ..RunOptions::default() };
            assert!(matches!(run(&scenario, options), Err(SimError::Tick(t)) if t == tick));
        }
    }
}
