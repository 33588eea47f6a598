//! The clock of a run: "now" as the time since the run's start.
//!
//! In the simulator it is turmoil's simulated time ([`crate::world::sim_now`]); in a live run
//! it is the real time since a tokio [`Instant`] taken at the start. tokio's timers are
//! simulated under turmoil and real under a real runtime, so the device and the link adapter
//! sleep with `tokio::time` either way; only the places that read "now" ask the clock.

use std::time::Duration;

use tokio::time::Instant;

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Turmoil's simulated time since the start of the simulation, identical on every host.
    #[default]
    Simulated,
    /// Real time since this instant (the start of a live run).
    Real(Instant),
}

impl Clock {
    /// A real clock that starts now.
    pub fn real() -> Clock {
        Clock::Real(Instant::now())
    }

    /// The time since the run's start.
    ///
    /// # Panics
    ///
    /// A simulated clock panics outside a turmoil host.
    pub fn now(&self) -> Duration {
        match self {
            Clock::Simulated => {
                crate::world::sim_now().expect("a simulated clock runs inside a turmoil host")
            }
            Clock::Real(start) => start.elapsed(),
        }
    }

    /// Whether the clock can still be read: a simulated clock cannot once its simulation is
    /// being torn down; a real clock always can.
    pub fn is_running(&self) -> bool {
        match self {
            Clock::Simulated => crate::world::sim_now().is_some(),
            Clock::Real(_) => true,
        }
    }

    /// Sleeps until `at` on this clock (returns at once if it has passed).
    pub async fn sleep_until(&self, at: Duration) {
        let now = self.now();
        if at > now {
            tokio::time::sleep(at - now).await;
        }
    }

    /// The tokio instant of time `at` on this clock.
    pub fn instant_of(&self, at: Duration) -> Instant {
        Instant::now() + at.saturating_sub(self.now())
    }

    /// The tokio instant of time zero on this clock.
    pub fn epoch(&self) -> Instant {
        match self {
            Clock::Simulated => {
                let now = Instant::now();
                now.checked_sub(self.now()).unwrap_or(now)
            }
            Clock::Real(start) => *start,
        }
    }
}
