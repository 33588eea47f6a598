//! The async adapter: applies a device's [`LinkModel`] to a real turmoil TCP stream.
//!
//! The device gets a [`LinkStream`] (`AsyncRead + AsyncWrite`). Two pump tasks per connection
//! move bytes between it and the turmoil stream at the times the model decides:
//!
//! - device → broker: the fate of each write is decided when the device writes it; the up
//!   pump writes it to turmoil when it is due;
//! - broker → device: the fate of each read from turmoil is decided when it is read; the
//!   device can read it once it is due.
//!
//! Turmoil's own link is perfect, so every delay, loss, outage and reset a device sees comes
//! from here. Bytes in flight are capped per direction: a device writer waits when the cap is
//! reached, and the down pump stops reading turmoil (so the broker's writes wait).
//!
//! Semantics of the ends of a connection:
//!
//! - **Reset by the model** (a sender exhausted its retransmissions): the device sees
//!   `ConnectionReset`; the broker's stream is closed once the reset could reach it, that is
//!   after any blackout of that direction; until then it is read and discarded.
//! - **Blackout**: neither side is told; bytes are retransmitted per the model.
//! - **Power loss** ([`Connection::power_loss`]): the device side vanishes; the broker's stream
//!   stays open (read and discarded) until the broker closes it.
//! - **Crash** ([`Connection::crash`], or dropping the [`LinkStream`]): the socket closes
//!   without a goodbye; the broker reads EOF after queued bytes, latency and any blackout.
//! - **Graceful close** (`shutdown`): the same FIN, after queued bytes; the device may still
//!   read until the broker closes.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Sleep;
use turmoil::net::TcpStream;

use crate::clock::Clock;
use crate::link::model::{Direction, Fate, LinkModel};
use crate::link::transport::{Named, SplitStream, Transport, TransportStream};

/// The largest segment the adapter sends or reads at once (a typical Ethernet MSS).
pub const SEGMENT_SIZE: usize = 1460;

/// Options of the adapter, shared by all connections of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOptions {
    /// The most bytes in flight per direction of one connection.
    pub max_in_flight: usize,
    /// Whether to record a [`LinkEvent`] log (for tests and traces).
    pub record_events: bool,
}

impl Default for LinkOptions {
    fn default() -> LinkOptions {
        LinkOptions { max_in_flight: 64 * 1024, record_events: false }
    }
}

/// Something that happened on a device's link, for logs and determinism checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    /// The simulated time it happened.
    pub at: Duration,
    /// The connection number (per device, from 0).
    pub conn: u32,
    /// What happened.
    pub kind: LinkEventKind,
}

/// The kinds of [`LinkEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEventKind {
    /// A segment of `len` bytes (0 for a FIN) was handed to the model.
    Segment {
        /// Its direction.
        direction: Direction,
        /// Its payload length.
        len: usize,
        /// What the model decided.
        fate: Fate,
    },
    /// A connection attempt failed because the handshake was lost.
    ConnectTimeout,
    /// The device was told its connection was reset.
    DeviceReset,
    /// The adapter closed its turmoil stream (the broker sees the end).
    BrokerStreamClosed,
    /// The broker closed its side (EOF or reset read from turmoil).
    BrokerClosed,
    /// The device lost power.
    PowerLoss,
    /// The device's process crashed.
    Crash,
}

#[derive(Debug)]
struct DeviceInner {
    clock: Clock,
    model: LinkModel,
    options: LinkOptions,
    events: Vec<LinkEvent>,
    next_conn: u32,
}

impl DeviceInner {
    fn record(&mut self, conn: u32, kind: LinkEventKind) {
        if self.options.record_events {
            self.events.push(LinkEvent { at: self.clock.now(), conn, kind });
        }
    }
}

/// One device's link: its model and options, shared by all its connections.
#[derive(Debug, Clone)]
pub struct DeviceLink {
    inner: Arc<Mutex<DeviceInner>>,
    clock: Clock,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic already happened; the state is still usable for cleanup.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DeviceLink {
    /// Creates a device's link from its model, on the simulated clock.
    pub fn new(model: LinkModel, options: LinkOptions) -> DeviceLink {
        DeviceLink::with_clock(model, options, Clock::Simulated)
    }

    /// Creates a device's link from its model, on `clock` (real in a live run).
    pub fn with_clock(model: LinkModel, options: LinkOptions, clock: Clock) -> DeviceLink {
        DeviceLink {
            inner: Arc::new(Mutex::new(DeviceInner {
                clock,
                model,
                options,
                events: Vec::new(),
                next_conn: 0,
            })),
            clock,
        }
    }

    /// The clock the link runs on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Runs `f` on the model, e.g. to add a blackout.
    pub fn with_model<R>(&self, f: impl FnOnce(&mut LinkModel) -> R) -> R {
        f(&mut lock(&self.inner).model)
    }

    /// Takes the recorded events (empty unless [`LinkOptions::record_events`]).
    pub fn take_events(&self) -> Vec<LinkEvent> {
        std::mem::take(&mut lock(&self.inner).events)
    }

    /// Connects to `addr` on turmoil's network through the link: the handshake goes through
    /// the model (a lost handshake fails with `TimedOut` when the sender gives up), then the
    /// connection is wrapped. Must run inside a turmoil host's `LocalSet`.
    ///
    /// # Errors
    ///
    /// Returns `TimedOut` if the handshake is lost, or turmoil's error (e.g. refused).
    pub async fn connect(&self, addr: &str) -> io::Result<(LinkStream, Connection)> {
        self.connect_via(&Transport::Turmoil(addr.to_owned())).await
    }

    /// Connects through the link with `transport`: the handshake goes through the model (a
    /// lost handshake fails with `TimedOut` when the sender gives up), then the transport's
    /// stream is wrapped. Must run inside a `LocalSet` (a turmoil host's, or a live run's).
    ///
    /// # Errors
    ///
    /// Returns `TimedOut` if the handshake is lost, or the transport's error (e.g. refused).
    pub async fn connect_via(&self, transport: &Transport) -> io::Result<(LinkStream, Connection)> {
        let (syn, conn) = {
            let mut inner = lock(&self.inner);
            let conn = inner.next_conn;
            inner.next_conn += 1;
            let t = self.clock.now();
            let syn = inner.model.segment_unordered(Direction::ToBroker, t);
            inner.record(
                conn,
                LinkEventKind::Segment { direction: Direction::ToBroker, len: 0, fate: syn },
            );
            (syn, conn)
        };
        let arrived = match syn {
            Fate::Delivered { at, .. } => at,
            Fate::Reset { at, .. } => return self.connect_timeout(conn, at).await,
        };
        self.clock.sleep_until(arrived).await;
        let stream = transport.connect().await?;
        let syn_ack = {
            let mut inner = lock(&self.inner);
            let fate = inner.model.segment_unordered(Direction::FromBroker, self.clock.now());
            inner.record(
                conn,
                LinkEventKind::Segment { direction: Direction::FromBroker, len: 0, fate },
            );
            fate
        };
        match syn_ack {
            Fate::Delivered { at, .. } => self.clock.sleep_until(at).await,
            Fate::Reset { at, .. } => {
                drop(stream);
                return self.connect_timeout(conn, at).await;
            }
        }
        Ok(match stream {
            TransportStream::Turmoil(s) => self.wrap_numbered(s, conn),
            TransportStream::Tcp(s, None) => self.wrap_numbered(s, conn),
            TransportStream::Tcp(s, Some(n)) => self.wrap_numbered(Named(s, n), conn),
            TransportStream::Tls(s, None) => self.wrap_numbered(s, conn),
            TransportStream::Tls(s, Some(n)) => self.wrap_numbered(Named(s, n), conn),
            TransportStream::WebSocket(s, None) => self.wrap_numbered(s, conn),
            TransportStream::WebSocket(s, Some(n)) => self.wrap_numbered(Named(s, n), conn),
        })
    }

    async fn connect_timeout<T>(&self, conn: u32, at: Duration) -> io::Result<T> {
        self.clock.sleep_until(at).await;
        let mut inner = lock(&self.inner);
        inner.record(conn, LinkEventKind::ConnectTimeout);
        Err(io::Error::new(io::ErrorKind::TimedOut, "connection handshake lost on the link"))
    }

    /// Wraps an established turmoil stream: returns the device's end and the handle, and
    /// spawns the two pump tasks (with `spawn_local`: call inside a turmoil host).
    pub fn wrap(&self, stream: TcpStream) -> (LinkStream, Connection) {
        let conn = {
            let mut inner = lock(&self.inner);
            let conn = inner.next_conn;
            inner.next_conn += 1;
            conn
        };
        self.wrap_numbered(stream, conn)
    }

    fn wrap_numbered<S: SplitStream>(&self, stream: S, conn: u32) -> (LinkStream, Connection) {
        let max_in_flight = lock(&self.inner).options.max_in_flight;
        let shared = Arc::new(Shared {
            clock: self.clock,
            device: self.clone(),
            conn,
            max_in_flight: max_in_flight.max(1),
            state: Mutex::new(ConnState::default()),
            up_notify: Notify::new(),
            down_notify: Notify::new(),
        });
        let (read, write) = stream.split_halves();
        tokio::task::spawn_local(up_pump(shared.clone(), write));
        tokio::task::spawn_local(down_pump(shared.clone(), read));
        let stream = LinkStream {
            shared: shared.clone(),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            shut_down: false,
        };
        (stream, Connection { shared })
    }
}

#[derive(Debug)]
enum Item {
    Data(Bytes),
    Fin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum DeviceSide {
    /// The device uses the connection.
    #[default]
    Open,
    /// The device's socket is closed (shutdown, drop or crash): incoming data is discarded.
    Closed,
    /// The device lost power: nothing is sent, incoming data is discarded.
    PoweredOff,
}

#[derive(Debug, Default)]
struct ConnState {
    /// Device → broker items with their delivery time.
    up: VecDeque<(Duration, Item)>,
    up_bytes: usize,
    /// The device's sender gave up at this time (reset by the model).
    up_reset: Option<Duration>,
    /// Broker → device items with their delivery time.
    down: VecDeque<(Duration, Item)>,
    down_bytes: usize,
    /// The device sees `ConnectionReset` from this time on.
    device_reset: Option<Duration>,
    device: DeviceSide,
    /// The broker closed its side (EOF or error read).
    broker_closed: bool,
    /// The adapter must close the turmoil stream now.
    close_broker_stream: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// Per direction (to the broker, from it): the delivery time of this connection's last
    /// delivered segment; later segments never arrive before it.
    floor: [Duration; 2],
}

#[derive(Debug)]
struct Shared {
    clock: Clock,
    device: DeviceLink,
    conn: u32,
    max_in_flight: usize,
    state: Mutex<ConnState>,
    up_notify: Notify,
    down_notify: Notify,
}

impl Shared {
    fn record(&self, kind: LinkEventKind) {
        lock(&self.device.inner).record(self.conn, kind);
    }

    /// Decides a segment's fate; delivery is in order within this connection only.
    fn fate(&self, direction: Direction, len: usize) -> Fate {
        let t = self.clock.now();
        let fate = lock(&self.device.inner).model.segment_unordered(direction, t);
        let fate = match fate {
            Fate::Delivered { at, transmissions } => {
                let mut st = lock(&self.state);
                let floor = &mut st.floor[usize::from(direction == Direction::FromBroker)];
                let at = at.max(*floor);
                *floor = at;
                Fate::Delivered { at, transmissions }
            }
            reset => reset,
        };
        lock(&self.device.inner).record(self.conn, LinkEventKind::Segment { direction, len, fate });
        fate
    }

    fn control(&self, direction: Direction, t: Duration) -> Option<Duration> {
        lock(&self.device.inner).model.control(direction, t)
    }

    /// Tells the device its connection is reset at `at` (keeps an earlier reset).
    fn reset_device(&self, state: &mut ConnState, at: Duration) {
        if state.device_reset.is_none_or(|r| at < r) {
            state.device_reset = Some(at);
            state.down.clear();
            state.down_bytes = 0;
            state.up.clear();
            state.up_bytes = 0;
            if let Some(w) = state.reader.take() {
                w.wake();
            }
            if let Some(w) = state.writer.take() {
                w.wake();
            }
        }
    }

    fn close_broker_stream(&self) {
        let mut st = lock(&self.state);
        if !st.close_broker_stream {
            st.close_broker_stream = true;
            drop(st);
            self.record(LinkEventKind::BrokerStreamClosed);
        }
        self.up_notify.notify_one();
        self.down_notify.notify_one();
    }

    /// Closes the device side: the FIN goes out after queued bytes.
    fn close_device(&self, kind: Option<LinkEventKind>) {
        let mut st = lock(&self.state);
        if st.device != DeviceSide::Open {
            return;
        }
        st.device = DeviceSide::Closed;
        st.down.clear();
        st.down_bytes = 0;
        let resetting = st.up_reset.is_some() || st.device_reset.is_some();
        drop(st);
        if let Some(kind) = kind {
            self.record(kind);
        }
        if !resetting {
            self.queue_fin();
        }
        self.down_notify.notify_one();
    }

    fn queue_fin(&self) {
        match self.fate(Direction::ToBroker, 0) {
            Fate::Delivered { at, .. } => lock(&self.state).up.push_back((at, Item::Fin)),
            Fate::Reset { at, .. } => {
                let mut st = lock(&self.state);
                st.up_reset.get_or_insert(at);
            }
        }
        self.up_notify.notify_one();
    }
}

/// The device's end of a connection through its link.
#[derive(Debug)]
pub struct LinkStream {
    shared: Arc<Shared>,
    sleep: Pin<Box<Sleep>>,
    shut_down: bool,
}

impl LinkStream {
    fn wait_until(&mut self, cx: &mut Context<'_>, at: Duration) -> bool {
        self.sleep.as_mut().reset(self.shared.clock.instant_of(at));
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset on the link")
}

fn gone_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the device's connection is gone")
}

impl AsyncRead for LinkStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let t = self.shared.clock.now();
            let mut st = lock(&self.shared.state);
            if st.device != DeviceSide::Open && st.device != DeviceSide::Closed {
                return Poll::Ready(Err(gone_error()));
            }
            let mut next = st.device_reset;
            if let Some(r) = st.device_reset
                && r <= t
            {
                return Poll::Ready(Err(reset_error()));
            }
            if let Some((at, item)) = st.down.front_mut() {
                if *at <= t {
                    match item {
                        Item::Fin => return Poll::Ready(Ok(())),
                        Item::Data(bytes) => {
                            let n = bytes.len().min(buf.remaining());
                            buf.put_slice(&bytes.split_to(n));
                            if bytes.is_empty() {
                                st.down.pop_front();
                            }
                            st.down_bytes -= n;
                            drop(st);
                            self.shared.down_notify.notify_one();
                            return Poll::Ready(Ok(()));
                        }
                    }
                }
                next = Some(next.map_or(*at, |r| r.min(*at)));
            }
            st.reader = Some(cx.waker().clone());
            drop(st);
            match next {
                Some(at) if self.wait_until(cx, at) => continue,
                _ => return Poll::Pending,
            }
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let t = self.shared.clock.now();
            let mut st = lock(&self.shared.state);
            if st.device == DeviceSide::PoweredOff {
                return Poll::Ready(Err(gone_error()));
            }
            if self.shut_down || st.device == DeviceSide::Closed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if let Some(r) = st.device_reset {
                if r <= t {
                    return Poll::Ready(Err(reset_error()));
                }
                st.writer = Some(cx.waker().clone());
                drop(st);
                if !self.wait_until(cx, r) {
                    return Poll::Pending;
                }
                continue;
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if st.up_reset.is_some() {
                // The sender is retransmitting towards a reset: the kernel still accepts
                // bytes, which will never be sent.
                return Poll::Ready(Ok(buf.len().min(SEGMENT_SIZE)));
            }
            let room = self.shared.max_in_flight.saturating_sub(st.up_bytes);
            if room == 0 {
                st.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = buf.len().min(room).min(SEGMENT_SIZE);
            drop(st);
            let fate = self.shared.fate(Direction::ToBroker, n);
            let mut st = lock(&self.shared.state);
            match fate {
                Fate::Delivered { at, .. } => {
                    st.up.push_back((at, Item::Data(Bytes::copy_from_slice(&buf[..n]))));
                    st.up_bytes += n;
                }
                Fate::Reset { at, .. } => {
                    st.up_reset.get_or_insert(at);
                }
            }
            drop(st);
            self.shared.up_notify.notify_one();
            return Poll::Ready(Ok(n));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shut_down {
            self.shut_down = true;
            let mut st = lock(&self.shared.state);
            if st.device == DeviceSide::Open && st.up_reset.is_none() && st.device_reset.is_none() {
                // The device may still read: keep the side open, only send the FIN.
                drop(st);
                self.shared.queue_fin();
            } else {
                st.device = st.device.max_closed();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl DeviceSide {
    fn max_closed(self) -> DeviceSide {
        match self {
            DeviceSide::PoweredOff => DeviceSide::PoweredOff,
            _ => DeviceSide::Closed,
        }
    }
}

impl Drop for LinkStream {
    fn drop(&mut self) {
        if !self.shared.clock.is_running() {
            // The simulation is being torn down; there is nobody left to tell.
            return;
        }
        if self.shut_down {
            // The FIN is already queued; just stop accepting data.
            let mut st = lock(&self.shared.state);
            st.device = st.device.max_closed();
            st.down.clear();
            st.down_bytes = 0;
            drop(st);
            self.shared.down_notify.notify_one();
        } else {
            self.shared.close_device(None);
        }
    }
}

/// The handle on one connection, for fault injection and inspection.
#[derive(Debug, Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

impl Connection {
    /// The device loses power: its side vanishes without a packet. Bytes not yet delivered are
    /// lost; the broker's stream stays open (read and discarded) until the broker closes it.
    pub fn power_loss(&self) {
        let mut st = lock(&self.shared.state);
        if st.device == DeviceSide::PoweredOff {
            return;
        }
        st.device = DeviceSide::PoweredOff;
        st.up.clear();
        st.up_bytes = 0;
        st.down.clear();
        st.down_bytes = 0;
        for w in [st.reader.take(), st.writer.take()].into_iter().flatten() {
            w.wake();
        }
        drop(st);
        self.shared.record(LinkEventKind::PowerLoss);
        self.shared.up_notify.notify_one();
        self.shared.down_notify.notify_one();
    }

    /// The device's process crashes: its socket closes without a goodbye, so the broker
    /// reads EOF after the queued bytes, the link latency and any blackout.
    pub fn crash(&self) {
        self.shared.close_device(Some(LinkEventKind::Crash));
    }

    /// Returns whether the adapter has closed (or been told to close) the turmoil stream, or
    /// the broker closed its side.
    pub fn is_broker_side_closed(&self) -> bool {
        let st = lock(&self.shared.state);
        st.broker_closed || st.close_broker_stream
    }
}

/// Moves device → broker items to turmoil when due; handles resets on the device's sending
/// side and keeps the write half open while the broker must not be told anything.
async fn up_pump<W: AsyncWrite + Unpin>(shared: Arc<Shared>, mut write: W) {
    enum Next {
        Write(Item),
        SleepUntil(Duration),
        Reset(Duration),
        Wait,
        Exit,
    }
    let mut fin_sent = false;
    loop {
        let next = {
            let t = shared.clock.now();
            let mut st = lock(&shared.state);
            let device_done = fin_sent
                || st.device != DeviceSide::Open
                || st.device_reset.is_some_and(|r| r <= t);
            if st.close_broker_stream || (st.broker_closed && device_done) {
                Next::Exit
            } else if st.device == DeviceSide::PoweredOff {
                Next::Wait
            } else if let Some(&(at, _)) = st.up.front() {
                if let Some(r) = st.up_reset
                    && at > r
                {
                    st.up.clear();
                    st.up_bytes = 0;
                    continue;
                }
                if at <= t {
                    let (_, item) = st.up.pop_front().expect("front exists");
                    if let Item::Data(b) = &item {
                        st.up_bytes -= b.len();
                    }
                    if let Some(w) = st.writer.take() {
                        w.wake();
                    }
                    Next::Write(item)
                } else {
                    Next::SleepUntil(at)
                }
            } else if let Some(r) = st.up_reset {
                Next::Reset(r)
            } else {
                Next::Wait
            }
        };
        match next {
            Next::Exit => return,
            Next::Write(Item::Data(bytes)) => {
                // A TLS session or a rewriting layer may hold bytes until flushed; turmoil's
                // and tokio's TCP flush at once.
                let written = match write.write_all(&bytes).await {
                    Ok(()) => write.flush().await,
                    Err(e) => Err(e),
                };
                if written.is_err() {
                    // The broker's socket is gone; the device learns it by a reset.
                    let at = shared.control(Direction::FromBroker, shared.clock.now());
                    let mut st = lock(&shared.state);
                    if let Some(at) = at {
                        shared.reset_device(&mut st, at);
                    }
                }
            }
            Next::Write(Item::Fin) => {
                let _ = write.shutdown().await;
                fin_sent = true;
            }
            Next::SleepUntil(at) => {
                tokio::select! {
                    biased;
                    () = shared.up_notify.notified() => {}
                    () = shared.clock.sleep_until(at) => {}
                }
            }
            Next::Reset(r) => {
                if shared.clock.now() < r {
                    tokio::select! {
                        biased;
                        () = shared.up_notify.notified() => {}
                        () = shared.clock.sleep_until(r) => {}
                    }
                    continue;
                }
                {
                    let mut st = lock(&shared.state);
                    shared.reset_device(&mut st, r);
                }
                shared.record(LinkEventKind::DeviceReset);
                // The reset reaches the broker only once the direction is open again.
                match shared.control(Direction::ToBroker, r) {
                    Some(at) => {
                        shared.clock.sleep_until(at).await;
                        shared.close_broker_stream();
                        return;
                    }
                    None => {
                        // Never: hold the stream (the down pump discards what it reads)
                        // until the broker closes it.
                        shared.down_notify.notify_one();
                        loop {
                            {
                                let st = lock(&shared.state);
                                if st.broker_closed || st.close_broker_stream {
                                    return;
                                }
                            }
                            shared.up_notify.notified().await;
                        }
                    }
                }
            }
            Next::Wait => shared.up_notify.notified().await,
        }
    }
}

/// Reads broker → device bytes from turmoil, decides their fate and queues them for the
/// device; discards them when the device side is gone.
async fn down_pump<R: AsyncRead + Unpin>(shared: Arc<Shared>, mut read: R) {
    let mut buf = [0u8; SEGMENT_SIZE];
    loop {
        let full = {
            let st = lock(&shared.state);
            if st.close_broker_stream {
                return;
            }
            let discarding = st.device != DeviceSide::Open || st.device_reset.is_some();
            !discarding && st.down_bytes >= shared.max_in_flight
        };
        if full {
            shared.down_notify.notified().await;
            continue;
        }
        let result = tokio::select! {
            biased;
            () = shared.down_notify.notified() => continue,
            r = read.read(&mut buf) => r,
        };
        let t = shared.clock.now();
        let (discarding, device_reset) = {
            let st = lock(&shared.state);
            (st.device != DeviceSide::Open, st.device_reset.is_some())
        };
        match result {
            Ok(n) if n > 0 && (discarding || device_reset) => {}
            Ok(n) if n > 0 => match shared.fate(Direction::FromBroker, n) {
                Fate::Delivered { at, .. } => {
                    let mut st = lock(&shared.state);
                    st.down.push_back((at, Item::Data(Bytes::copy_from_slice(&buf[..n]))));
                    st.down_bytes += n;
                    if let Some(w) = st.reader.take() {
                        w.wake();
                    }
                }
                Fate::Reset { at, .. } => {
                    // The broker's sender gives up: its stream ends then, and the device is
                    // told once the reset can reach it.
                    let told = shared.control(Direction::FromBroker, at);
                    {
                        let mut st = lock(&shared.state);
                        if let Some(told) = told {
                            shared.reset_device(&mut st, told);
                        }
                    }
                    shared.clock.sleep_until(at).await;
                    shared.close_broker_stream();
                    return;
                }
            },
            Ok(_) => {
                // The broker closed its side: the FIN travels like data.
                shared.record(LinkEventKind::BrokerClosed);
                let fate = if discarding || device_reset {
                    None
                } else {
                    Some(shared.fate(Direction::FromBroker, 0))
                };
                let mut st = lock(&shared.state);
                st.broker_closed = true;
                match fate {
                    Some(Fate::Delivered { at, .. }) => st.down.push_back((at, Item::Fin)),
                    Some(Fate::Reset { at, .. }) => {
                        if let Some(told) = shared.control(Direction::FromBroker, at) {
                            shared.reset_device(&mut st, told);
                        }
                    }
                    None => {}
                }
                if let Some(w) = st.reader.take() {
                    w.wake();
                }
                drop(st);
                shared.up_notify.notify_one();
                return;
            }
            Err(_) => {
                // The broker reset the connection.
                shared.record(LinkEventKind::BrokerClosed);
                let told = shared.control(Direction::FromBroker, t);
                let mut st = lock(&shared.state);
                st.broker_closed = true;
                if let Some(told) = told {
                    shared.reset_device(&mut st, told);
                }
                drop(st);
                shared.up_notify.notify_one();
                return;
            }
        }
    }
}
