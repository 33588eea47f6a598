//! Async drivers that run the sans-IO cores over any `AsyncRead + AsyncWrite` stream: turmoil's
//! simulated TCP in the simulator, tokio's TCP for the real `mqtt-sim broker`.
//!
//! Modules:
//! - [`broker`]: one broker core serving many connections, plus its timer task.
//! - [`client`]: one client core over one connection at a time.
//! - [`tcp`]: serving the broker on tokio TCP, plain and TLS, for `mqtt-sim broker`; the accept
//!   loop backs off when accept fails (EMFILE) instead of spinning.
//! - [`tls`]: the rustls server configuration from PEM files.
//! - `throttle`: the delay after failed authentication, per source address.
//! - [`ws`]: MQTT over WebSocket: a WebSocket connection as a byte stream, and the client's and
//!   server's opening handshakes.
//!
//! Both run on a single thread inside a tokio `LocalSet`, as turmoil runs its hosts.

pub mod broker;
pub mod client;
pub mod tcp;
mod throttle;
pub mod tls;
pub mod ws;

pub use broker::{
    BrokerDriver, BrokerDriverConfig, DriverEvent, DriverSink, EventSink, SocketSlot,
};
pub use client::{ClientDriverConfig, ClientWaker, ConnectionEnd, drive_client};
