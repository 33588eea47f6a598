//! Reconnect backoff: exponential growth, a cap, and jitter drawn by the caller.

use std::time::Duration;

use mqttsim_codec::ReasonCode;

use crate::error::BackoffError;

/// Whether a 5.0 server's reason code asks the client to come back later rather than at once:
/// 0x88 Server unavailable, 0x89 Server busy, 0x8B Server
/// shutting down, 0x96 Message rate too high, 0x97 Quota exceeded and 0x9F Connection rate
/// exceeded, in a CONNACK, a DISCONNECT, or (0x96, 0x97) a PUBACK or PUBREC.
///
/// A driver that resets its [`Backoff`] after every accepted connection should not reset it
/// when the connection ended for one of these ([`crate::Client::backoff_advised`]): the
/// delays then keep growing while the server is overloaded.
pub fn advises_backoff(code: ReasonCode) -> bool {
    matches!(code.0, 0x88 | 0x89 | 0x8B | 0x96 | 0x97 | 0x9F)
}

/// Delays between reconnection attempts.
///
/// The core never reconnects by itself: a driver asks [`Backoff::next_delay`] how long to wait
/// after a connection ended, waits, and calls [`crate::Client::handle_transport_up`]. After a
/// successful CONNACK it calls [`Backoff::reset`], unless the server advised backing off
/// ([`advises_backoff`]).
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
