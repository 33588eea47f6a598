//! Reconnect backoff: exponential growth, a cap, and jitter drawn by the caller.

use std::time::Duration;

use crate::error::BackoffError;

/// Delays between reconnection attempts.
///
/// The core never reconnects by itself: a driver asks [`Backoff::next_delay`] how long to wait
/// after a connection ended, waits, and calls [`crate::Client::handle_transport_up`]. After a
/// successful CONNACK it calls [`Backoff::reset`].
///
/// The n-th delay (counting from 0) has the base `min(initial * multiplier^n, max)`; jitter
/// removes up to the fraction `jitter` of it, so each delay lies in
/// `[base * (1 - jitter), base]` and never exceeds `max`. The randomness comes from the caller
/// as `unit` in `[0, 1)`, drawn from its seeded generator, which keeps runs reproducible.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
    /// The base of the next delay, in seconds; never above `max`.
    next_base: f64,
}

impl Backoff {
    /// A backoff from `initial` growing by `multiplier` up to `max`, with `jitter` in `[0, 1]`.
    pub fn new(
        initial: Duration,
        max: Duration,
        multiplier: f64,
        jitter: f64,
    ) -> Result<Backoff, BackoffError> {
        if !multiplier.is_finite() || multiplier < 1.0 {
            return Err(BackoffError::Multiplier(multiplier));
        }
        if !(0.0..=1.0).contains(&jitter) {
            return Err(BackoffError::Jitter(jitter));
        }
        if initial > max {
            return Err(BackoffError::InitialAboveMax);
        }
        Ok(Backoff { initial, max, multiplier, jitter, next_base: initial.as_secs_f64() })
    }

    /// The first delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap of every delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The next delay, with `unit` in `[0, 1)` choosing the jitter; values outside are clamped
    /// and NaN counts as 0.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let unit = if unit.is_nan() { 0.0 } else { unit.clamp(0.0, 1.0) };
        let max = self.max.as_secs_f64();
        let base = self.next_base;
        self.next_base = (base * self.multiplier).min(max);
        let delay = base * (1.0 - self.jitter * unit);
        match Duration::try_from_secs_f64(delay) {
            Ok(delay) => delay.min(self.max),
            Err(_) => self.max,
        }
    }

    /// Starts again from the initial delay, after a successful connection.
    pub fn reset(&mut self) {
        self.next_base = self.initial.as_secs_f64();
    }
}
