//! Serving the broker on real TCP (tokio), plain and TLS, and MQTT over WebSocket on either,
//! as `mqtt-sim broker` does.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mqttsim_broker::Broker;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::broker::{BrokerDriver, BrokerDriverConfig, DriverEvent, DriverSink, EventSink};
use crate::tls::TlsAcceptor;

/// How long a TLS or WebSocket opening handshake (both, for `wss`) may take before the socket
/// is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first pause of the accept loop after an error such as EMFILE; it doubles up to
/// [`MAX_ACCEPT_PAUSE`] while errors go on, and a closed socket ends it early.
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Where the broker listens: plain TCP, and TLS if asked.
pub struct Listeners {
    /// Plain MQTT.
    pub tcp: TcpListener,
    /// MQTT over TLS, with its acceptor.
    pub tls: Option<(TcpListener, TlsAcceptor)>,
    /// MQTT over WebSocket (`ws://`, the `mqtt` sub-protocol, any path).
    pub ws: Option<TcpListener>,
    /// MQTT over WebSocket over TLS (`wss://`), with its acceptor.
    pub wss: Option<(TcpListener, TlsAcceptor)>,
}

impl Listeners {
    /// Plain TCP only.
    pub fn tcp(tcp: TcpListener) -> Listeners {
        Listeners { tcp, tls: None, ws: None, wss: None }
    }
}

/// Where the broker's events go.
#[derive(Default)]
pub struct Sinks {
    /// The core's events.
    pub core: Option<EventSink>,
    /// The driver's events (sockets, drops, accept pauses).
    pub driver: Option<DriverSink>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.as_ref().map(|(listener, _)| listener))
            .field("ws", &self.ws)
            .field("wss", &self.wss.as_ref().map(|(listener, _)| listener))
            .finish()
    }
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks").finish_non_exhaustive()
    }
}

/// Accepts connections on `listener` and serves them with `core` until `shutdown` completes.
///
/// Must run inside a `LocalSet` on a current-thread runtime. On shutdown, every connection is
/// closed (5.0 clients are told DISCONNECT 0x8B first, with a second to write it) and the
/// function returns the number of connections it accepted.
pub async fn serve_broker(
    listener: TcpListener,
    core: Broker,
    config: BrokerDriverConfig,
    sink: Option<EventSink>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<u64> {
    let listeners = Listeners::tcp(listener);
    serve(listeners, core, config, Sinks { core: sink, driver: None }, shutdown).await
}

/// [`serve_broker`] on plain and TLS listeners, with driver events.
pub async fn serve(
    listeners: Listeners,
    core: Broker,
    config: BrokerDriverConfig,
    sinks: Sinks,
    shutdown: impl Future<Output = ()>,
) -> io::Result<u64> {
    // A WebSocket message may hold more than one packet; its bound keeps memory bounded.
    let max_message = config.max_packet_size.saturating_mul(2);
    let driver = BrokerDriver::new(core, config);
    if let Some(sink) = sinks.core {
        driver.set_event_sink(sink);
    }
    if let Some(sink) = sinks.driver {
        driver.set_driver_sink(sink);
    }
    let timers = tokio::task::spawn_local(driver.clone().run_timers());
    let mut accepted = 0u64;
    let mut plain = AcceptLoop::default();
    let mut secure = AcceptLoop::default();
    let mut web = AcceptLoop::default();
    let mut web_secure = AcceptLoop::default();
    let (tls_listener, acceptor) = split(listeners.tls);
    let (wss_listener, wss_acceptor) = split(listeners.wss);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            incoming = plain.accept(&driver, &listeners.tcp) => {
                let Some((stream, peer)) = incoming else { continue };
                let _ = stream.set_nodelay(true);
                if driver.spawn_connection_from(stream, Some(peer)).is_some() {
                    accepted += 1;
                }
            }
            incoming = secure.accept_on(&driver, tls_listener.as_ref()) => {
                let Some((stream, peer)) = incoming else { continue };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone().expect("enabled");
                let handshake = async move { acceptor.accept(stream).await };
                accepted += u64::from(spawn_handshake(&driver, peer, handshake, tls_failed));
            }
            incoming = web.accept_on(&driver, listeners.ws.as_ref()) => {
                let Some((stream, peer)) = incoming else { continue };
                let _ = stream.set_nodelay(true);
                let handshake = crate::ws::accept(stream, max_message);
                accepted += u64::from(spawn_handshake(&driver, peer, handshake, ws_failed));
            }
            incoming = web_secure.accept_on(&driver, wss_listener.as_ref()) => {
                let Some((stream, peer)) = incoming else { continue };
                let _ = stream.set_nodelay(true);
                let acceptor = wss_acceptor.clone().expect("enabled");
                let handshake = async move {
                    let tls = acceptor.accept(stream).await?;
                    crate::ws::accept(tls, max_message).await
                };
                accepted += u64::from(spawn_handshake(&driver, peer, handshake, ws_failed));
            }
        }
    }
    driver.shutdown(std::time::Duration::from_secs(1)).await;
    timers.abort();
    Ok(accepted)
}

/// A listener and its acceptor, apart.
fn split(pair: Option<(TcpListener, TlsAcceptor)>) -> (Option<TcpListener>, Option<TlsAcceptor>) {
    match pair {
        Some((listener, acceptor)) => (Some(listener), Some(acceptor)),
        None => (None, None),
    }
}

fn tls_failed(peer: SocketAddr, error: String) -> DriverEvent {
    DriverEvent::TlsFailed { peer, error }
}

fn ws_failed(peer: SocketAddr, error: String) -> DriverEvent {
    DriverEvent::WebSocketFailed { peer, error }
}

/// Runs an accepted socket's handshake (TLS, WebSocket, or both) in its own task, which holds
/// the socket's place under `max_connections` but not the accept loop, then serves the stream.
/// Returns whether the socket got a place.
fn spawn_handshake<H, S>(
    driver: &BrokerDriver,
    peer: SocketAddr,
    handshake: H,
    failed: fn(SocketAddr, String) -> DriverEvent,
) -> bool
where
    H: Future<Output = io::Result<S>> + 'static,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + 'static,
{
    let Some(slot) = driver.reserve() else {
        driver.report(DriverEvent::Rejected { peer: Some(peer) });
        return false;
    };
    let driver = driver.clone();
    tokio::task::spawn_local(async move {
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => {
                driver.spawn_in(slot, stream, Some(peer));
            }
            Ok(Err(error)) => driver.report(failed(peer, error.to_string())),
            Err(_) => driver.report(failed(peer, "handshake timed out".into())),
        }
    });
    true
}

/// An accept loop's memory of errors: while accept fails (EMFILE, ENFILE, ENOBUFS, ...), it
/// waits instead of spinning, logs once when it starts failing and once when it recovers.
#[derive(Debug, Default)]
struct AcceptLoop {
    pause: Option<Duration>,
    failures: u64,
    since: Option<Instant>,
}

impl AcceptLoop {
    /// [`AcceptLoop::accept`] on a listener that may be absent (then it waits for ever).
    async fn accept_on(
        &mut self,
        driver: &BrokerDriver,
        listener: Option<&TcpListener>,
    ) -> Option<(TcpStream, std::net::SocketAddr)> {
        match listener {
            Some(listener) => self.accept(driver, listener).await,
            None => std::future::pending().await,
        }
    }

    async fn accept(
        &mut self,
        driver: &BrokerDriver,
        listener: &TcpListener,
    ) -> Option<(TcpStream, std::net::SocketAddr)> {
        if let Some(pause) = self.pause {
            tokio::select! {
                biased;
                _ = driver.socket_freed() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        match listener.accept().await {
            Ok(pair) => {
                if self.pause.take().is_some() {
                    let failures = std::mem::take(&mut self.failures);
                    let paused = self.since.take().map(|t| t.elapsed()).unwrap_or_default();
                    driver.report(DriverEvent::AcceptResumed { failures, paused });
                }
                Some(pair)
            }
            Err(error) => {
                self.failures += 1;
                match self.pause {
                    None => {
                        self.pause = Some(FIRST_ACCEPT_PAUSE);
                        self.since = Some(Instant::now());
                        driver.report(DriverEvent::AcceptFailing {
                            error: error.to_string(),
                            descriptors: error.raw_os_error() == Some(EMFILE),
                        });
                    }
                    Some(pause) => self.pause = Some((pause * 2).min(MAX_ACCEPT_PAUSE)),
                }
                None
            }
        }
    }
}

/// "Too many open files" on Linux.
const EMFILE: i32 = 24;
