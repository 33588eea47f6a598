//! Serving the broker on real TCP (tokio), plain and TLS, as `mqtt-sim broker` does.

use std::future::Future;
use std::io;
use std::time::Duration;

use mqttsim_broker::Broker;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::broker::{BrokerDriver, BrokerDriverConfig, DriverEvent, DriverSink, EventSink};
use crate::tls::TlsAcceptor;

/// How long a TLS handshake may take before the socket is dropped.
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
    let listeners = Listeners { tcp: listener, tls: None };
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
    let (tls_listener, acceptor) = match listeners.tls {
        Some((listener, acceptor)) => (Some(listener), Some(acceptor)),
        None => (None, None),
    };
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
                let Some(slot) = driver.reserve() else {
                    driver.report(DriverEvent::Rejected { peer: Some(peer) });
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone().expect("enabled");
                let driver = driver.clone();
                accepted += 1;
                // The handshake holds its place under max_connections but not the accept loop.
                tokio::task::spawn_local(async move {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(tls)) => {
                            driver.spawn_in(slot, tls, Some(peer));
                        }
                        Ok(Err(error)) => driver.report(DriverEvent::TlsFailed {
                            peer,
                            error: error.to_string(),
                        }),
                        Err(_) => driver.report(DriverEvent::TlsFailed {
                            peer,
                            error: "handshake timed out".into(),
                        }),
                    }
                });
            }
        }
    }
    driver.shutdown(std::time::Duration::from_secs(1)).await;
    timers.abort();
    Ok(accepted)
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
