//! The deterministic simulator.
//!
//! Modules:
//! - [`scenario`]: the YAML scenario format: model, parser with located errors, JSON Schema.

pub mod scenario;
