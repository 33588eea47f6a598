//! The link configuration and its validation.

use std::time::Duration;

use crate::link::latency::Latency;

/// TCP retransmission behaviour of the sender on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// The retransmission timeout after the first transmission.
    pub initial_rto: Duration,
    /// The largest retransmission timeout.
    pub max_rto: Duration,
    /// How many retransmissions are tried before the connection is reset.
    pub max_retransmissions: u32,
    /// The factor the timeout grows by after each loss.
    pub backoff: u32,
}

impl Default for Retransmit {
    fn default() -> Retransmit {
        Retransmit {
            initial_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            max_retransmissions: 8,
            backoff: 2,
        }
    }
}

/// Random flapping: the link goes down and up, both directions, with exponentially
/// distributed durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    /// The mean time the link stays up.
    pub mean_up: Duration,
    /// The mean time the link stays down.
    pub mean_down: Duration,
}

/// The static configuration of one device's link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// The one-way latency distribution.
    pub latency: Latency,
    /// Extra latency drawn uniformly from zero to this, per transmission.
    pub jitter: Duration,
    /// The probability that one transmission is lost, in `0.0..=1.0`.
    pub loss: f64,
    /// The sender's retransmission behaviour.
    pub retransmit: Retransmit,
    /// Flapping from the start of the simulation, if any.
    pub flapping: Option<Flap>,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            latency: Latency::Fixed(Duration::from_millis(20)),
            jitter: Duration::ZERO,
            loss: 0.0,
            retransmit: Retransmit::default(),
            flapping: None,
        }
    }
}

/// Why a link configuration is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkConfigError {
    /// A loss rate outside `0.0..=1.0`.
    #[error("loss rate {0} is not between 0 and 1")]
    Loss(f64),
    /// Latency parameters that do not describe a distribution.
    #[error("invalid latency distribution {0:?}")]
    Latency(Latency),
    /// A zero or decreasing retransmission setting.
    #[error("invalid retransmission settings: {0}")]
    Retransmit(&'static str),
    /// A zero mean in a flapping period.
    #[error("flapping needs non-zero mean up and down durations")]
    Flapping,
}

impl LinkConfig {
    /// Checks that every parameter is usable.
    ///
    /// # Errors
    ///
    /// Returns the first problem found.
    pub fn validate(&self) -> Result<(), LinkConfigError> {
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(LinkConfigError::Loss(self.loss));
        }
        if !self.latency.is_valid() {
            return Err(LinkConfigError::Latency(self.latency));
        }
        let r = &self.retransmit;
        if r.initial_rto.is_zero() {
            return Err(LinkConfigError::Retransmit("initial RTO is zero"));
        }
        if r.max_rto < r.initial_rto {
            return Err(LinkConfigError::Retransmit("max RTO is below the initial RTO"));
        }
        if r.backoff == 0 {
            return Err(LinkConfigError::Retransmit("backoff factor is zero"));
        }
        if let Some(f) = self.flapping
            && (f.mean_up.is_zero() || f.mean_down.is_zero())
        {
            return Err(LinkConfigError::Flapping);
        }
        Ok(())
    }
}
