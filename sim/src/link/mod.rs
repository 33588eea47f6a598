//! The per-device link model: a pure seeded model and its async adapter on a real stream.
//!
//! Modules:
//! - [`config`]: the link configuration (latency, jitter, loss, retransmission, flapping).
//! - [`latency`]: latency distributions sampled from the link's own random stream.
//! - [`model`]: the sans-IO model deciding each segment's delivery time or the reset.
//! - [`adapter`]: applies the model to a real stream; the device gets a [`LinkStream`].
//! - [`transport`]: how a link reaches the broker: turmoil's TCP, tokio's TCP, TLS.

pub mod adapter;
pub mod config;
pub mod latency;
pub mod model;
pub mod transport;

pub use adapter::{Connection, DeviceLink, LinkEvent, LinkEventKind, LinkOptions, LinkStream};
pub use config::{Flap, LinkConfig, LinkConfigError, Retransmit};
pub use latency::Latency;
pub use model::{Direction, Directions, Fate, LinkModel, Window};
pub use transport::{Joined, Named, Namespaced, SplitStream, Transport, TransportStream};
