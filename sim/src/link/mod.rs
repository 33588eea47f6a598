//! The per-device link model: a pure seeded model and its async adapter on a real stream.

pub mod config;
pub mod latency;
pub mod model;

pub use config::{Flap, LinkConfig, LinkConfigError, Retransmit};
pub use latency::Latency;
pub use model::{Direction, Directions, Fate, LinkModel, Window};
