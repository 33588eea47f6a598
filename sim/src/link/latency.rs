//! Latency distributions, sampled from uniform draws of the link's own random stream.

use std::time::Duration;

use rand::Rng;

use crate::rng::SimRng;

/// The longest latency a distribution may produce; long tails are clamped to it.
pub const MAX_LATENCY: Duration = Duration::from_secs(600);

/// The distribution of one-way latency of a transmission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same latency.
    Fixed(Duration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// The smallest latency.
        min: Duration,
        /// The largest latency.
        max: Duration,
    },
    /// Normal with the given mean and standard deviation, truncated at zero.
    Normal {
        /// The mean.
        mean: Duration,
        /// The standard deviation.
        std_dev: Duration,
    },
    /// Log-normal: `median · e^(sigma · Z)` with `Z` standard normal; a long right tail.
    LogNormal {
        /// The median latency.
        median: Duration,
        /// The standard deviation of the latency's logarithm.
        sigma: f64,
    },
    /// Pareto: `scale / U^(1/shape)`; never below `scale`, mean `scale · shape / (shape - 1)`.
    Pareto {
        /// The minimum latency.
        scale: Duration,
        /// The tail index; smaller is heavier. Must be positive.
        shape: f64,
    },
}

/// Returns a uniform draw in `(0, 1]`, safe to take the logarithm of.
pub(crate) fn unit_open(rng: &mut SimRng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// Returns a standard normal draw (Box–Muller, one of the pair).
fn standard_normal(rng: &mut SimRng) -> f64 {
    let u1 = unit_open(rng);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn secs(value: f64) -> Duration {
    if value.is_nan() || value <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(value.min(MAX_LATENCY.as_secs_f64()))
    }
}

impl Latency {
    /// Draws one latency.
    pub fn sample(&self, rng: &mut SimRng) -> Duration {
        match *self {
            Latency::Fixed(d) => d.min(MAX_LATENCY),
            Latency::Uniform { min, max } => {
                let span = max.saturating_sub(min).as_secs_f64();
                secs(min.as_secs_f64() + span * rng.random::<f64>())
            }
            Latency::Normal { mean, std_dev } => {
                secs(mean.as_secs_f64() + std_dev.as_secs_f64() * standard_normal(rng))
            }
            Latency::LogNormal { median, sigma } => {
                secs(median.as_secs_f64() * (sigma * standard_normal(rng)).exp())
            }
            Latency::Pareto { scale, shape } => {
                secs(scale.as_secs_f64() / unit_open(rng).powf(1.0 / shape))
            }
        }
    }

    /// Returns `true` if the parameters are usable.
    pub fn is_valid(&self) -> bool {
        match *self {
            Latency::Fixed(_) | Latency::Normal { .. } => true,
            Latency::Uniform { min, max } => min <= max,
            Latency::LogNormal { sigma, .. } => sigma.is_finite() && sigma >= 0.0,
            Latency::Pareto { shape, .. } => shape.is_finite() && shape > 0.0,
        }
    }
}
