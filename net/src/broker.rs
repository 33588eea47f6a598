//! The broker driver: runs one sans-IO [`Broker`] core for many connections over any byte stream.
//!
//! Everything runs on one thread, inside a tokio `LocalSet` (turmoil runs each simulated host that
//! way; the real `mqtt-sim broker` does the same), so the core sits in an `Rc<RefCell<_>>` and no
//! lock is ever taken. Each connection is one task that reads, decodes and feeds the core, and
//! writes what the core gives it; one timer task calls the core at its deadlines.
//!
//! Memory is bounded in bytes, whatever a peer does:
//! - Packets for a connection are encoded as soon as the core gives them, into that
//!   connection's outbox, which holds at most `max_outbox_bytes`; all outboxes together hold at
//!   most `max_buffered_bytes`. A QoS 0 PUBLISH that does not fit is dropped; any other packet
//!   that does not fit makes the connection a slow consumer, which is closed.
//! - A write that makes no progress for `write_timeout` closes the connection, so a peer that
//!   never reads cannot hold a socket and its buffers for ever (a closing connection gets the
//!   same time to take what was queued before its close).
//! - Connections that have no CONNACK yet may hold at most `max_connecting_bytes` of read
//!   buffer in all; the one whose bytes go over it is closed.
//! - Payloads and topics are copied out of the read buffer when a packet is decoded, so a small
//!   retained or queued message never keeps a large read buffer alive.
//! - A connection counts against `max_connections` until its socket is dropped, not until the
//!   core forgets it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use mqttsim_broker::{Broker, ConnId, DisconnectReason, Event, Output};
use mqttsim_codec::{Packet, Protocol, QoS, ReasonCode, decode, encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::throttle::AuthThrottle;

/// Settings of the driver (the core has its own).
#[derive(Debug, Clone)]
pub struct BrokerDriverConfig {
    /// Largest packet accepted from a client, in bytes.
    pub max_packet_size: usize,
    /// Encoded bytes waiting to be written to one connection. Beyond it, QoS 0 messages to that
    /// connection are dropped, and any other packet makes it a slow consumer that is closed.
    /// One packet larger than this still goes to a connection with an empty outbox.
    pub max_outbox_bytes: usize,
    /// Encoded bytes waiting to be written to all connections together, with the same
    /// consequences when a packet does not fit.
    pub max_buffered_bytes: usize,
    /// Read-buffer bytes of all connections without CONNACK together.
    pub max_connecting_bytes: usize,
    /// How long a write may make no progress before the connection is closed; `None` waits for
    /// ever.
    pub write_timeout: Option<Duration>,
    /// Sockets open at once (those being closed included); further ones are closed as soon as
    /// they arrive.
    pub max_connections: usize,
    /// After a CONNECT from an address is refused for its credentials (CONNACK 0x04 or 0x05),
    /// the next CONNECT from that address waits this long, doubling with each further failure
    /// up to `max_auth_delay`. Zero turns it off.
    pub auth_delay: Duration,
    /// The longest wait `auth_delay` grows to (below the core's connect timeout, so a held
    /// CONNECT is still answered).
    pub max_auth_delay: Duration,
}

impl Default for BrokerDriverConfig {
    fn default() -> Self {
        BrokerDriverConfig {
            max_packet_size: 1 << 20,
            max_outbox_bytes: 8 << 20,
            max_buffered_bytes: 256 << 20,
            max_connecting_bytes: 16 << 20,
            write_timeout: Some(Duration::from_secs(30)),
            max_connections: 1_000_000,
            auth_delay: Duration::from_secs(1),
            max_auth_delay: Duration::from_secs(8),
        }
    }
}

/// Receives the core's events with the time they happened, for logs and traces.
pub type EventSink = Box<dyn FnMut(Duration, &Event)>;

/// Receives what the driver itself does, with the time, for logs.
pub type DriverSink = Box<dyn FnMut(Duration, &DriverEvent)>;

/// Something the driver did that the core does not know of.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverEvent {
    /// A socket was accepted and handed to the core as `conn`.
    Opened { conn: ConnId, peer: Option<SocketAddr> },
    /// A socket was closed on arrival: `max_connections` are open.
    Rejected { peer: Option<SocketAddr> },
    /// A socket was closed (one event per socket, whatever the cause).
    Closed {
        conn: ConnId,
        peer: Option<SocketAddr>,
        /// The client identifier, once a CONNECT was accepted.
        client_id: Option<ByteString>,
        /// Why: the core's reason, or the driver's (slow consumer, write timeout, overload).
        reason: DisconnectReason,
    },
    /// A CONNACK with this (non-success) code was written for `conn`, in the code the
    /// connection's protocol carries on the wire (0x04 for a 3.1.1 bad password).
    Refused { conn: ConnId, client_id: Option<ByteString>, wire_code: u8 },
    /// QoS 0 messages to a connection were dropped because its outbox (or the broker's buffer
    /// budget) was full; `dropped` counts them since the connection opened.
    Qos0Dropped { conn: ConnId, client_id: Option<ByteString>, dropped: u64 },
    /// A CONNECT from `peer` was held back for `delay` after earlier failed authentications.
    AuthDelayed { peer: IpAddr, delay: Duration },
    /// Accepting connections started failing (`descriptors`: for want of file descriptors);
    /// the accept loop backs off until it succeeds again.
    AcceptFailing { error: String, descriptors: bool },
    /// Accepting works again after `failures` failed attempts over `paused`.
    AcceptResumed { failures: u64, paused: Duration },
    /// A TLS handshake failed or timed out; the socket was dropped.
    TlsFailed { peer: SocketAddr, error: String },
    /// A WebSocket opening handshake (or the TLS one under it) failed or timed out; the socket
    /// was dropped.
    WebSocketFailed { peer: SocketAddr, error: String },
}

/// A running broker: cheap to clone, all clones drive the same core.
#[derive(Clone)]
pub struct BrokerDriver {
    shared: Rc<Shared>,
}

impl fmt::Debug for BrokerDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerDriver")
            .field("connections", &self.shared.conns.borrow().len())
            .field("sockets", &self.shared.sockets.get())
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
    driver_sink: RefCell<Option<DriverSink>>,
    dropped_qos0: Cell<u64>,
    /// Sockets held (being served or closed), for `max_connections`.
    sockets: Cell<usize>,
    /// Encoded bytes waiting in all outboxes.
    buffered: Cell<usize>,
    /// Read-buffer bytes of connections without CONNACK.
    connecting: Cell<usize>,
    /// Signalled when a socket is dropped, for an accept loop waiting for descriptors.
    socket_freed: Notify,
    throttle: RefCell<AuthThrottle>,
}

/// What the driver knows of one connection, shared between the pump and the connection task.
struct ConnState {
    /// Encoded packets not yet taken by the writer.
    outbox: RefCell<BytesMut>,
    /// Bytes queued for this connection and not yet written (outbox and the writer's batch).
    unsent: Cell<usize>,
    protocol: Cell<Protocol>,
    /// Why the connection is being closed, once it is; then nothing more is queued.
    closing: RefCell<Option<DisconnectReason>>,
    /// The client identifier of an accepted CONNECT.
    client_id: RefCell<Option<ByteString>>,
    /// Read-buffer bytes counted in `Shared::connecting` (zero once CONNACK 0 is sent).
    connecting: Cell<usize>,
    accepted: Cell<bool>,
    dropped_qos0: Cell<u64>,
    /// The driver closed the connection itself: nothing more is written.
    abandoned: Cell<bool>,
    peer: Option<SocketAddr>,
    wake: Notify,
    task: RefCell<Option<JoinHandle<()>>>,
}

impl ConnState {
    fn is_closing(&self) -> bool {
        self.closing.borrow().is_some()
    }
}

/// A place under `max_connections`, held until the socket is dropped.
#[derive(Debug)]
pub struct SocketSlot {
    shared: Rc<Shared>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("sockets", &self.sockets.get()).finish_non_exhaustive()
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.shared.sockets.set(self.shared.sockets.get() - 1);
        self.shared.socket_freed.notify_waiters();
    }
}

impl BrokerDriver {
    /// Wraps a core. Call [`BrokerDriver::run_timers`] once (spawned) and
    /// [`BrokerDriver::spawn_connection`] for every accepted stream, inside a `LocalSet`.
    pub fn new(core: Broker, config: BrokerDriverConfig) -> BrokerDriver {
        let throttle = AuthThrottle::new(config.auth_delay, config.max_auth_delay);
        BrokerDriver {
            shared: Rc::new(Shared {
                core: RefCell::new(core),
                conns: RefCell::new(BTreeMap::new()),
                epoch: Instant::now(),
                config,
                timer: Notify::new(),
                sink: RefCell::new(None),
                driver_sink: RefCell::new(None),
                dropped_qos0: Cell::new(0),
                sockets: Cell::new(0),
                buffered: Cell::new(0),
                connecting: Cell::new(0),
                socket_freed: Notify::new(),
                throttle: RefCell::new(throttle),
            }),
        }
    }

    /// Sends every core event to `sink`, with the time since the driver started.
    pub fn set_event_sink(&self, sink: EventSink) {
        *self.shared.sink.borrow_mut() = Some(sink);
    }

    /// Sends every [`DriverEvent`] to `sink`, with the time since the driver started.
    pub fn set_driver_sink(&self, sink: DriverSink) {
        *self.shared.driver_sink.borrow_mut() = Some(sink);
    }

    /// Time since the driver started: the `now` the core sees.
    pub fn now(&self) -> Duration {
        self.shared.now()
    }

    /// QoS 0 messages dropped because their connection's outbox was full.
    pub fn dropped_qos0(&self) -> u64 {
        self.shared.dropped_qos0.get()
    }

    /// How many connections the core knows (sockets being closed are not among them).
    pub fn connection_count(&self) -> usize {
        self.shared.conns.borrow().len()
    }

    /// How many sockets are held, those being closed included: what `max_connections` counts.
    pub fn socket_count(&self) -> usize {
        self.shared.sockets.get()
    }

    /// Encoded bytes waiting to be written, over all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.buffered.get()
    }

    /// Runs a closure with the core, then handles whatever it produced.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Broker, Duration) -> R) -> R {
        let now = self.now();
        let result = f(&mut self.shared.core.borrow_mut(), now);
        self.shared.pump();
        result
    }

    /// Gives a [`DriverEvent`] to the driver's sink (for the accept loop and TLS).
    pub fn report(&self, event: DriverEvent) {
        self.shared.driver_event(&event);
    }

    /// Takes a place under `max_connections`, or `None` when they are all held.
    pub fn reserve(&self) -> Option<SocketSlot> {
        let sockets = self.shared.sockets.get();
        if sockets >= self.shared.config.max_connections {
            return None;
        }
        self.shared.sockets.set(sockets + 1);
        Some(SocketSlot { shared: self.shared.clone() })
    }

    /// Waits until a socket is dropped (for an accept loop out of descriptors).
    pub async fn socket_freed(&self) {
        self.shared.socket_freed.notified().await;
    }

    /// Starts serving one accepted stream on the current `LocalSet`. Returns `None`, dropping the
    /// stream, when `max_connections` sockets are already held.
    pub fn spawn_connection<S>(&self, stream: S) -> Option<ConnId>
    where
        S: AsyncRead + AsyncWrite + 'static,
    {
        self.spawn_connection_from(stream, None)
    }

    /// [`BrokerDriver::spawn_connection`] for a stream from a known address (logged, and used
    /// to slow down password guessing).
    pub fn spawn_connection_from<S>(&self, stream: S, peer: Option<SocketAddr>) -> Option<ConnId>
    where
        S: AsyncRead + AsyncWrite + 'static,
    {
        let Some(slot) = self.reserve() else {
            self.shared.driver_event(&DriverEvent::Rejected { peer });
            return None;
        };
        Some(self.spawn_in(slot, stream, peer))
    }

    /// Serves a stream in a place taken with [`BrokerDriver::reserve`] (the place is given back
    /// when the socket is dropped).
    pub fn spawn_in<S>(&self, slot: SocketSlot, stream: S, peer: Option<SocketAddr>) -> ConnId
    where
        S: AsyncRead + AsyncWrite + 'static,
    {
        let now = self.now();
        let conn = self.shared.core.borrow_mut().handle_connection_opened(now);
        let state = Rc::new(ConnState {
            outbox: RefCell::new(BytesMut::new()),
            unsent: Cell::new(0),
            protocol: Cell::new(Protocol::V311),
            closing: RefCell::new(None),
            client_id: RefCell::new(None),
            connecting: Cell::new(0),
            accepted: Cell::new(false),
            dropped_qos0: Cell::new(0),
            abandoned: Cell::new(false),
            peer,
            wake: Notify::new(),
            task: RefCell::new(None),
        });
        self.shared.conns.borrow_mut().insert(conn, state.clone());
        self.shared.driver_event(&DriverEvent::Opened { conn, peer });
        let shared = self.shared.clone();
        let task_state = state.clone();
        let task = tokio::task::spawn_local(async move {
            let state = task_state;
            serve(&shared, conn, &state, stream).await;
            shared.forget(&state);
            let client_id = state.client_id.borrow().clone();
            let reason = state.closing.borrow().clone().unwrap_or(DisconnectReason::ConnectionLost);
            shared.driver_event(&DriverEvent::Closed { conn, peer, client_id, reason });
            // The socket is dropped by now; the place goes last.
            drop(slot);
        });
        *state.task.borrow_mut() = Some(task);
        self.shared.pump();
        conn
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
            self.shared.forget(state);
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

    fn driver_event(&self, event: &DriverEvent) {
        if let Some(sink) = self.driver_sink.borrow_mut().as_mut() {
            sink(self.now(), event);
        }
    }

    /// Gives back what a connection holds in the shared budgets (idempotent).
    fn forget(&self, state: &ConnState) {
        self.buffered.set(self.buffered.get() - state.unsent.replace(0));
        self.connecting.set(self.connecting.get() - state.connecting.replace(0));
        state.outbox.borrow_mut().clear();
    }

    /// Marks a connection closing for `reason`, so its task writes what is queued and ends.
    fn start_closing(&self, state: &ConnState, reason: DisconnectReason) {
        if !state.is_closing() {
            *state.closing.borrow_mut() = Some(reason);
        }
        state.wake.notify_one();
    }

    /// Closes a connection the core still knows, for a reason of the driver's own: nothing
    /// more is written; the core is told (its Will fires).
    fn drop_connection(&self, conn: ConnId, reason: DisconnectReason) {
        let Some(state) = self.conns.borrow_mut().remove(&conn) else { return };
        *state.closing.borrow_mut() = Some(reason.clone());
        state.abandoned.set(true);
        self.forget(&state);
        state.wake.notify_one();
        self.core.borrow_mut().handle_connection_dropped(conn, self.now(), reason);
    }

    /// Encodes a packet into its connection's outbox, if it fits. `Err` for a packet that does
    /// not fit and may not be dropped.
    fn enqueue(&self, conn: ConnId, state: &ConnState, packet: &Packet) -> Result<(), ()> {
        let protocol = state.protocol.get();
        // Refuse a PUBLISH that cannot fit before encoding it, so the outbox never grows past
        // its limit only to be cut back (its capacity would stay).
        if let Packet::Publish(p) = packet
            && !self.fits(state, publish_size(p))
        {
            return self.overflow(conn, state, packet);
        }
        let mut outbox = state.outbox.borrow_mut();
        let before = outbox.len();
        // The core only produces packets the negotiated version can carry.
        if encode(packet, protocol, &mut outbox).is_err() {
            outbox.truncate(before);
            return Ok(());
        }
        let size = outbox.len() - before;
        if !self.fits(state, size) {
            outbox.truncate(before);
            drop(outbox);
            return self.overflow(conn, state, packet);
        }
        state.unsent.set(state.unsent.get() + size);
        self.buffered.set(self.buffered.get() + size);
        if let Packet::ConnAck(connack) = packet {
            self.on_connack(state, connack.reason_code);
        }
        Ok(())
    }

    /// Whether `size` more bytes fit the connection's outbox and the broker's budget (a packet
    /// always fits an empty outbox).
    fn fits(&self, state: &ConnState, size: usize) -> bool {
        let unsent = state.unsent.get();
        unsent == 0
            || (unsent + size <= self.config.max_outbox_bytes
                && self.buffered.get() + size <= self.config.max_buffered_bytes)
    }

    /// A packet that does not fit: QoS 0 is dropped, anything else is `Err`.
    fn overflow(&self, conn: ConnId, state: &ConnState, packet: &Packet) -> Result<(), ()> {
        if !matches!(packet, Packet::Publish(p) if p.qos == QoS::AtMostOnce) {
            return Err(());
        }
        // QoS 0 may be lost: drop it, as a full socket buffer would.
        self.dropped_qos0.set(self.dropped_qos0.get() + 1);
        let dropped = state.dropped_qos0.get() + 1;
        state.dropped_qos0.set(dropped);
        let client_id = state.client_id.borrow().clone();
        self.driver_event(&DriverEvent::Qos0Dropped { conn, client_id, dropped });
        Ok(())
    }

    fn on_connack(&self, state: &ConnState, code: ReasonCode) {
        if code == ReasonCode::SUCCESS {
            state.accepted.set(true);
            self.connecting.set(self.connecting.get() - state.connecting.replace(0));
        }
    }

    /// A refused CONNECT: logged with the code as sent, and counted against its address when
    /// its credentials were refused.
    fn on_refused(
        &self,
        conn: ConnId,
        state: &ConnState,
        client_id: &ByteString,
        code: ReasonCode,
    ) {
        if !client_id.is_empty() {
            *state.client_id.borrow_mut() = Some(client_id.clone());
        }
        let wire_code = match state.protocol.get() {
            Protocol::V5 => code.0,
            _ => code.to_v311_connack().unwrap_or(code.0),
        };
        let client_id = state.client_id.borrow().clone();
        self.driver_event(&DriverEvent::Refused { conn, client_id, wire_code });
        if matches!(code, ReasonCode::BAD_USER_NAME_OR_PASSWORD | ReasonCode::NOT_AUTHORIZED)
            && let Some(peer) = state.peer
        {
            self.throttle.borrow_mut().failed(peer.ip(), Instant::now());
        }
    }

    /// Moves the core's outputs to the connections and its events to the sink.
    fn pump(&self) {
        let now = self.now();
        loop {
            let mut overflowed = Vec::new();
            // Connections closed in this round, for the events about them that follow.
            let mut closed: Vec<(ConnId, Rc<ConnState>)> = Vec::new();
            {
                let mut core = self.core.borrow_mut();
                while let Some(output) = core.poll_output() {
                    match output {
                        Output::Send { conn, packet } => {
                            let conns = self.conns.borrow();
                            let Some(state) = conns.get(&conn) else { continue };
                            if state.is_closing() {
                                continue;
                            }
                            if self.enqueue(conn, state, &packet).is_err() {
                                // Anything but QoS 0 that does not fit: the peer stopped reading.
                                overflowed.push(conn);
                                continue;
                            }
                            state.wake.notify_one();
                        }
                        Output::Close { conn, reason } => {
                            if let Some(state) = self.conns.borrow_mut().remove(&conn) {
                                self.start_closing(&state, reason);
                                closed.push((conn, state));
                            }
                        }
                    }
                }
                let mut sink = self.sink.borrow_mut();
                while let Some(event) = core.poll_event() {
                    if let Event::ClientConnected { conn, client_id, .. } = &event
                        && let Some(state) = self.conns.borrow().get(conn)
                    {
                        *state.client_id.borrow_mut() = Some(client_id.clone());
                    }
                    if let Event::ConnectionRefused { conn, client_id, reason_code } = &event
                        && let Some(state) = closed.iter().find(|(c, _)| c == conn).map(|(_, s)| s)
                    {
                        self.on_refused(*conn, state, client_id, *reason_code);
                    }
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
                self.drop_connection(conn, DisconnectReason::SlowConsumer);
            }
        }
        self.timer.notify_one();
    }

    /// Counts a connection's read buffer while it has no CONNACK; false when that spends the
    /// budget of all such connections.
    fn count_connecting(&self, state: &ConnState, buffered: usize) -> bool {
        if state.accepted.get() {
            return true;
        }
        let total = self.connecting.get() - state.connecting.replace(buffered) + buffered;
        self.connecting.set(total);
        total <= self.config.max_connecting_bytes
    }
}

/// The encoded size of a PUBLISH without properties (those are counted once encoded).
fn publish_size(p: &mqttsim_codec::Publish) -> usize {
    let packet_id = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
    let remaining = 2 + p.topic.len() + packet_id + p.payload.len();
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}

/// Copies a PUBLISH's (or a Will's) topic and payload out of the read buffer they are slices of,
/// so that keeping the message does not keep the buffer.
fn own(packet: &mut Packet) {
    let copy = |topic: &mut ByteString, payload: &mut Bytes| {
        *topic = ByteString::from(&**topic);
        *payload = Bytes::copy_from_slice(payload);
    };
    match packet {
        Packet::Publish(p) => copy(&mut p.topic, &mut p.payload),
        Packet::Connect(c) => {
            if let Some(will) = &mut c.will {
                copy(&mut will.topic, &mut will.payload);
            }
        }
        _ => {}
    }
}

/// One connection: read and decode into the core, write what the core queued.
async fn serve<S>(shared: &Rc<Shared>, conn: ConnId, state: &Rc<ConnState>, stream: S)
where
    S: AsyncRead + AsyncWrite + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inbound = BytesMut::with_capacity(4096);
    // The batch being written and how much of it is written.
    let mut outbound = BytesMut::new();
    let mut written = 0;
    // The smaller of the driver's limit and the Maximum Packet Size the core announces to 5.0
    // clients, so that a 5.0 client over it gets DISCONNECT 0x95.
    let announced = shared.core.borrow().config().max_packet_size;
    let max = shared.config.max_packet_size.min(usize::try_from(announced).unwrap_or(usize::MAX));
    let write_timeout = shared.config.write_timeout;
    let mut stalled_since = Instant::now();
    loop {
        if state.abandoned.get() {
            return;
        }
        if written == outbound.len() {
            // Take everything queued since the last batch.
            if outbound.capacity() > 64 * 1024 {
                outbound = BytesMut::new();
            }
            outbound.clear();
            written = 0;
            outbound.unsplit(state.outbox.borrow_mut().split());
            if outbound.is_empty() && state.is_closing() {
                let shutdown = writer.shutdown();
                match write_timeout {
                    Some(limit) => drop(tokio::time::timeout(limit, shutdown).await),
                    None => drop(shutdown.await),
                }
                return;
            }
            stalled_since = Instant::now();
        }
        let writing = written < outbound.len();
        let deadline = write_timeout.map(|limit| stalled_since + limit);
        tokio::select! {
            biased;
            // New packets, a close, or being abandoned (a pending write is simply retried).
            _ = state.wake.notified() => {}
            result = writer.write(&outbound[written..]), if writing => {
                let n = match result {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                written += n;
                state.unsent.set(state.unsent.get().saturating_sub(n));
                shared.buffered.set(shared.buffered.get().saturating_sub(n));
                stalled_since = Instant::now();
                if written == outbound.len() && writer.flush().await.is_err() {
                    break;
                }
            }
            _ = sleep_until_opt(deadline), if writing && deadline.is_some() => {
                // The peer has not taken a byte for the write timeout.
                if !state.is_closing() {
                    shared.drop_connection(conn, DisconnectReason::WriteTimeout);
                    shared.pump();
                }
                return;
            }
            read = reader.read_buf(&mut inbound), if !state.is_closing() => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if !on_bytes(shared, conn, state, &mut inbound, max).await {
                    return;
                }
                if inbound.is_empty() && inbound.capacity() > 64 * 1024 {
                    inbound = BytesMut::with_capacity(4096);
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

/// Decodes what arrived and feeds the core; false when the connection was dropped for its
/// buffer.
async fn on_bytes(
    shared: &Rc<Shared>,
    conn: ConnId,
    state: &Rc<ConnState>,
    inbound: &mut BytesMut,
    max: usize,
) -> bool {
    loop {
        let protocol = state.protocol.get();
        match decode(inbound, protocol, max) {
            Ok(Some(mut packet)) => {
                own(&mut packet);
                if let Packet::Connect(connect) = &packet {
                    state.protocol.set(connect.protocol);
                    hold_back_guesses(shared, state).await;
                    if state.is_closing() {
                        break;
                    }
                }
                let now = shared.now();
                shared.core.borrow_mut().handle_packet(conn, now, packet);
            }
            Ok(None) => break,
            Err(error) => {
                let now = shared.now();
                shared.core.borrow_mut().handle_decode_error(conn, now, &error);
                inbound.clear();
                break;
            }
        }
        if state.is_closing() {
            break;
        }
    }
    if !state.is_closing() && !shared.count_connecting(state, inbound.len()) {
        shared.drop_connection(conn, DisconnectReason::Overloaded);
        shared.pump();
        return false;
    }
    true
}

/// Waits, before a CONNECT is handled, for as long as earlier failed authentications from the
/// same address ask.
async fn hold_back_guesses(shared: &Rc<Shared>, state: &ConnState) {
    let Some(peer) = state.peer else { return };
    let now = Instant::now();
    let Some(until) = shared.throttle.borrow().not_before(peer.ip(), now) else { return };
    shared.driver_event(&DriverEvent::AuthDelayed { peer: peer.ip(), delay: until - now });
    tokio::time::sleep_until(until).await;
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
