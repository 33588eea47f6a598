//! The client driver: runs one sans-IO [`Client`] core over one byte stream until it ends.
//!
//! The core outlives its connections (a persistent session resends in-flight messages on the
//! next one), so it is shared as `Rc<RefCell<Client>>`: the application side publishes through it
//! and wakes the driver with [`ClientWaker::wake`]. Reconnecting is the caller's decision.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use mqttsim_client::{Client, Event, Output};
use mqttsim_codec::{Protocol, decode, encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// The core closed it (graceful disconnect, keepalive timeout, protocol error, refusal).
    ClosedByClient,
    /// The peer closed the stream, or it failed.
    Lost,
}

/// Wakes a running [`drive_client`] after the application gave its core something to send.
#[derive(Debug, Clone, Default)]
pub struct ClientWaker(Rc<Notify>);

impl ClientWaker {
    pub fn new() -> ClientWaker {
        ClientWaker::default()
    }

    /// Makes the driver drain the core's outputs now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Per-connection settings of the client driver.
///
/// The protocol version is the core's (`ClientConfig::protocol`): the driver decodes and
/// encodes with it. What the core sends already respects the server's 5.0 Maximum Packet
/// Size; what it accepts is the Maximum Packet Size it announced.
#[derive(Debug, Clone, Copy)]
pub struct ClientDriverConfig {
    /// Largest packet accepted from the server, in bytes, when the core announces no 5.0
    /// Maximum Packet Size (always for 3.1.1). A 5.0 core should announce its limit
    /// (`ClientConfig::maximum_packet_size`): a server may otherwise send larger packets, which
    /// this cap would then refuse as too large.
    pub max_packet_size: usize,
    /// The driver's epoch: `now` for the core is the time since it.
    pub epoch: Instant,
}

/// Runs one connection of `client` over `stream` until either side ends it. Every core event is
/// given to `sink` with the time it happened.
pub async fn drive_client<S>(
    client: &RefCell<Client>,
    stream: S,
    waker: &ClientWaker,
    config: ClientDriverConfig,
    sink: &mut dyn FnMut(Duration, &Event),
) -> ConnectionEnd
where
    S: AsyncRead + AsyncWrite,
{
    let now = || Instant::now().saturating_duration_since(config.epoch);
    let (protocol, max_packet_size) = {
        let core = client.borrow();
        let max = core.max_incoming_packet_size().unwrap_or(config.max_packet_size);
        (core.config().protocol, max)
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inbound = BytesMut::with_capacity(1024);
    let mut outbound = BytesMut::with_capacity(1024);
    client.borrow_mut().handle_transport_up(now());
    loop {
        // Write what the core has, and stop if it asked to close.
        if flush(client, &mut outbound, protocol, now(), sink) {
            if !outbound.is_empty() {
                let _ = writer.write_all(&outbound).await;
            }
            let _ = writer.shutdown().await;
            return ConnectionEnd::ClosedByClient;
        }
        if !outbound.is_empty() && writer.write_all(&outbound).await.is_err() {
            break;
        }
        let deadline = client.borrow().poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(config.epoch + at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            read = reader.read_buf(&mut inbound) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let t = now();
                loop {
                    match decode(&mut inbound, protocol, max_packet_size) {
                        Ok(Some(packet)) => client.borrow_mut().handle_packet(t, packet),
                        Ok(None) => break,
                        Err(error) => {
                            client.borrow_mut().handle_decode_error(t, &error);
                            inbound.clear();
                            break;
                        }
                    }
                }
            }
            _ = sleep => client.borrow_mut().handle_timeout(now()),
            _ = waker.0.notified() => {}
        }
    }
    client.borrow_mut().handle_transport_down(now());
    drain_events(client, now(), sink);
    ConnectionEnd::Lost
}

/// Encodes the core's pending packets into `out` and hands its events to `sink`. Returns true
/// when the core asked for the connection to close.
fn flush(
    client: &RefCell<Client>,
    out: &mut BytesMut,
    protocol: Protocol,
    now: Duration,
    sink: &mut dyn FnMut(Duration, &Event),
) -> bool {
    out.clear();
    let mut close = false;
    {
        let mut core = client.borrow_mut();
        while let Some(output) = core.poll_output() {
            match output {
                Output::Send(packet) => {
                    // The core only builds packets its own version can carry, within the
                    // server's Maximum Packet Size.
                    let _ = encode(&packet, protocol, out);
                }
                Output::Close => {
                    close = true;
                    break;
                }
            }
        }
    }
    drain_events(client, now, sink);
    close
}

fn drain_events(client: &RefCell<Client>, now: Duration, sink: &mut dyn FnMut(Duration, &Event)) {
    loop {
        let event = client.borrow_mut().poll_event();
        match event {
            Some(event) => sink(now, &event),
            None => break,
        }
    }
}
