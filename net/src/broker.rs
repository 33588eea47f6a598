//! The broker driver: runs one sans-IO [`Broker`] core for many connections over any byte stream.
//!
//! Everything runs on one thread, inside a tokio `LocalSet` (turmoil runs each simulated host that
//! way; the real `mqtt-sim broker` does the same), so the core sits in an `Rc<RefCell<_>>` and no
//! lock is ever taken. Each connection is one task that reads, decodes and feeds the core, and
//! writes what the core gives it; one timer task calls the core at its deadlines.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use mqttsim_broker::{Broker, ConnId, Event, Output};
use mqttsim_codec::{Packet, Protocol, QoS, decode, encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Settings of the driver (the core has its own).
#[derive(Debug, Clone)]
pub struct BrokerDriverConfig {
    /// Largest packet accepted from a client, in bytes.
    pub max_packet_size: usize,
    /// Packets waiting to be written to one connection. Beyond it, QoS 0 messages to that
    /// connection are dropped, and any other packet makes it a slow consumer that is closed.
    /// This bounds the driver's memory per connection.
    pub max_pending_packets: usize,
    /// Connections accepted at once; further ones are closed as soon as they arrive.
    pub max_connections: usize,
}

impl Default for BrokerDriverConfig {
    fn default() -> Self {
        BrokerDriverConfig {
            max_packet_size: 1 << 20,
            max_pending_packets: 10_000,
            max_connections: 1_000_000,
        }
    }
}

/// Receives the core's events with the time they happened, for logs and traces.
pub type EventSink = Box<dyn FnMut(Duration, &Event)>;

/// A running broker: cheap to clone, all clones drive the same core.
#[derive(Clone)]
pub struct BrokerDriver {
    shared: Rc<Shared>,
}

impl fmt::Debug for BrokerDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerDriver")
            .field("connections", &self.shared.conns.borrow().len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    core: RefCell<Broker>,
    conns: RefCell<BTreeMap<ConnId, Rc<ConnState>>>,
    epoch: Instant,
    config: BrokerDriverConfig,
    timer: Notify,
    sink: RefCell<Option<EventSink>>,
    dropped_qos0: Cell<u64>,
}

/// What the driver knows of one connection, shared between the pump and the connection task.
struct ConnState {
    outbox: RefCell<VecDeque<Packet>>,
    /// The core asked for this connection to be closed, after the outbox is written.
    closing: Cell<bool>,
    wake: Notify,
    task: RefCell<Option<JoinHandle<()>>>,
}

impl BrokerDriver {
    /// Wraps a core. Call [`BrokerDriver::run_timers`] once (spawned) and
    /// [`BrokerDriver::spawn_connection`] for every accepted stream, inside a `LocalSet`.
    pub fn new(core: Broker, config: BrokerDriverConfig) -> BrokerDriver {
        BrokerDriver {
            shared: Rc::new(Shared {
                core: RefCell::new(core),
                conns: RefCell::new(BTreeMap::new()),
                epoch: Instant::now(),
                config,
                timer: Notify::new(),
                sink: RefCell::new(None),
                dropped_qos0: Cell::new(0),
            }),
        }
    }

    /// Sends every core event to `sink`, with the time since the driver started.
    pub fn set_event_sink(&self, sink: EventSink) {
        *self.shared.sink.borrow_mut() = Some(sink);
    }

    /// Time since the driver started: the `now` the core sees.
    pub fn now(&self) -> Duration {
        self.shared.now()
    }

    /// QoS 0 messages dropped because their connection's outbox was full.
    pub fn dropped_qos0(&self) -> u64 {
        self.shared.dropped_qos0.get()
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.shared.conns.borrow().len()
    }

    /// Runs a closure with the core, then handles whatever it produced.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Broker, Duration) -> R) -> R {
        let now = self.now();
        let result = f(&mut self.shared.core.borrow_mut(), now);
        self.shared.pump();
        result
    }

    /// Starts serving one accepted stream on the current `LocalSet`. Returns `None`, dropping the
    /// stream, when `max_connections` are already open.
    pub fn spawn_connection<S>(&self, stream: S) -> Option<ConnId>
    where
        S: AsyncRead + AsyncWrite + 'static,
    {
        if self.shared.conns.borrow().len() >= self.shared.config.max_connections {
            return None;
        }
        let now = self.now();
        let conn = self.shared.core.borrow_mut().handle_connection_opened(now);
        let state = Rc::new(ConnState {
            outbox: RefCell::new(VecDeque::new()),
            closing: Cell::new(false),
            wake: Notify::new(),
            task: RefCell::new(None),
        });
        self.shared.conns.borrow_mut().insert(conn, state.clone());
        let task =
            tokio::task::spawn_local(serve(self.shared.clone(), conn, state.clone(), stream));
        *state.task.borrow_mut() = Some(task);
        self.shared.pump();
        Some(conn)
    }

    /// Calls the core at its deadlines (keepalive expiry and the like). Runs forever: spawn it.
    pub async fn run_timers(self) {
        loop {
            let deadline = self.shared.core.borrow().poll_timeout();
            match deadline {
                Some(at) => {
                    tokio::select! {
                        biased;
                        _ = tokio::time::sleep_until(self.shared.epoch + at) => {
                            let now = self.now();
                            self.shared.core.borrow_mut().handle_timeout(now);
                            self.shared.pump();
                        }
                        _ = self.shared.timer.notified() => {}
                    }
                }
                None => self.shared.timer.notified().await,
            }
        }
    }

    /// Ends every connection abruptly, as a crash of the broker process would: nothing more is
    /// written and the streams are dropped. The core is left as it is.
    pub fn abort_all(&self) {
        let conns = std::mem::take(&mut *self.shared.conns.borrow_mut());
        for state in conns.values() {
            if let Some(task) = state.task.borrow_mut().take() {
                task.abort();
            }
        }
    }

    /// Shuts the broker down gracefully: the core closes every connection (5.0 clients are sent
    /// DISCONNECT 0x8B, Server shutting down), and each connection gets up to `grace` to write
    /// what it was sent before its stream is dropped.
    pub async fn shutdown(&self, grace: Duration) {
        let tasks: Vec<JoinHandle<()>> = self
            .shared
            .conns
            .borrow()
            .values()
            .filter_map(|state| state.task.borrow_mut().take())
            .collect();
        self.with_core(|core, now| core.handle_shutdown(now));
        let deadline = Instant::now() + grace;
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        self.abort_all();
    }

    /// Replaces the core (after a crash and restart), keeping the driver and its timer task.
    pub fn replace_core(&self, core: Broker) -> Broker {
        self.abort_all();
        let old = std::mem::replace(&mut *self.shared.core.borrow_mut(), core);
        self.shared.timer.notify_one();
        old
    }
}

impl Shared {
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    /// Moves the core's outputs to the connections and its events to the sink.
    fn pump(&self) {
        let now = self.now();
        loop {
            let mut overflowed = Vec::new();
            {
                let mut core = self.core.borrow_mut();
                while let Some(output) = core.poll_output() {
                    match output {
                        Output::Send { conn, packet } => {
                            let conns = self.conns.borrow();
                            let Some(state) = conns.get(&conn) else { continue };
                            if state.closing.get() {
                                continue;
                            }
                            let mut outbox = state.outbox.borrow_mut();
                            if outbox.len() >= self.config.max_pending_packets {
                                // QoS 0 may be lost: drop it, as a full socket buffer would.
                                // Anything else means the peer stopped reading.
                                match &packet {
                                    Packet::Publish(p) if p.qos == QoS::AtMostOnce => {
                                        self.dropped_qos0.set(self.dropped_qos0.get() + 1);
                                    }
                                    _ => overflowed.push(conn),
                                }
                                continue;
                            }
                            outbox.push_back(packet);
                            state.wake.notify_one();
                        }
                        Output::Close { conn, .. } => {
                            if let Some(state) = self.conns.borrow_mut().remove(&conn) {
                                state.closing.set(true);
                                state.wake.notify_one();
                            }
                        }
                    }
                }
                let mut sink = self.sink.borrow_mut();
                while let Some(event) = core.poll_event() {
                    if let Some(sink) = sink.as_mut() {
                        sink(now, &event);
                    }
                }
            }
            if overflowed.is_empty() {
                break;
            }
            // A slow consumer: drop its connection as if the network had failed.
            for conn in overflowed {
                if let Some(state) = self.conns.borrow_mut().remove(&conn) {
                    state.closing.set(true);
                    state.outbox.borrow_mut().clear();
                    state.wake.notify_one();
                    self.core.borrow_mut().handle_connection_lost(conn, now);
                }
            }
        }
        self.timer.notify_one();
    }
}

/// One connection: read and decode into the core, write what the core queued.
async fn serve<S>(shared: Rc<Shared>, conn: ConnId, state: Rc<ConnState>, stream: S)
where
    S: AsyncRead + AsyncWrite + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inbound = BytesMut::with_capacity(4096);
    let mut outbound = BytesMut::with_capacity(4096);
    // The version is known once CONNECT is decoded; a CONNECT carries its own.
    let mut protocol = Protocol::V311;
    // The smaller of the driver's limit and the Maximum Packet Size the core announces to 5.0
    // clients, so that a 5.0 client over it gets DISCONNECT 0x95.
    let announced = shared.core.borrow().config().max_packet_size;
    let max = shared.config.max_packet_size.min(usize::try_from(announced).unwrap_or(usize::MAX));
    loop {
        tokio::select! {
            biased;
            _ = state.wake.notified() => {
                let batch: Vec<Packet> = state.outbox.borrow_mut().drain(..).collect();
                outbound.clear();
                for packet in &batch {
                    // The core only produces packets the negotiated version can carry.
                    if encode(packet, protocol, &mut outbound).is_err() {
                        continue;
                    }
                }
                if !outbound.is_empty() && writer.write_all(&outbound).await.is_err() {
                    break;
                }
                if state.closing.get() {
                    let _ = writer.shutdown().await;
                    return;
                }
            }
            read = reader.read_buf(&mut inbound) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let now = shared.now();
                loop {
                    match decode(&mut inbound, protocol, max) {
                        Ok(Some(packet)) => {
                            if let Packet::Connect(connect) = &packet {
                                protocol = connect.protocol;
                            }
                            shared.core.borrow_mut().handle_packet(conn, now, packet);
                        }
                        Ok(None) => break,
                        Err(error) => {
                            shared.core.borrow_mut().handle_decode_error(conn, now, &error);
                            inbound.clear();
                            break;
                        }
                    }
                    if state.closing.get() {
                        break;
                    }
                }
                shared.pump();
            }
        }
    }
    // The stream ended or failed without the core asking: tell it, unless it already closed us.
    if shared.conns.borrow_mut().remove(&conn).is_some() {
        let now = shared.now();
        shared.core.borrow_mut().handle_connection_lost(conn, now);
        shared.pump();
    }
}
