//! The pure, sans-IO link model of one device's connection: given a segment sent at a time in
//! a direction, it answers when it is delivered, or when the connection resets.
//!
//! Loss is never missing bytes: each lost transmission costs the current retransmission
//! timeout (which doubles up to a maximum), and too many lost transmissions reset the
//! connection. Delivery is in order per direction. Only the data direction is modelled: an
//! acknowledgement is assumed to arrive whenever the data it acknowledges did.

use std::collections::VecDeque;
use std::time::Duration;

use rand::Rng;

use crate::link::config::{LinkConfig, LinkConfigError, Retransmit};
use crate::link::latency::unit_open;
use crate::rng::{Purpose, Seeds, SimRng};

/// The direction of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From the device to the broker.
    ToBroker,
    /// From the broker to the device.
    FromBroker,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToBroker => 0,
            Direction::FromBroker => 1,
        }
    }
}

/// Which directions a blackout or a loss override applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Directions {
    /// Both directions.
    Both,
    /// Only device → broker.
    ToBroker,
    /// Only broker → device.
    FromBroker,
}

impl Directions {
    /// Returns whether `direction` is included.
    pub fn contains(self, direction: Direction) -> bool {
        matches!(
            (self, direction),
            (Directions::Both, _)
                | (Directions::ToBroker, Direction::ToBroker)
                | (Directions::FromBroker, Direction::FromBroker)
        )
    }
}

/// A half-open interval of simulated time, `[from, until)`; `until = None` never ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first instant inside the window.
    pub from: Duration,
    /// The first instant after the window, or `None` for a window that never ends.
    pub until: Option<Duration>,
}

impl Window {
    /// A window from `from` until `until`.
    pub fn new(from: Duration, until: Duration) -> Window {
        Window { from, until: Some(until) }
    }

    /// A window from `from` that never ends.
    pub fn forever_from(from: Duration) -> Window {
        Window { from, until: None }
    }

    fn contains(&self, t: Duration) -> bool {
        t >= self.from && self.until.is_none_or(|u| t < u)
    }

    fn ended_before(&self, t: Duration) -> bool {
        self.until.is_some_and(|u| u <= t)
    }
}

/// What happens to one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The segment reaches the other side at `at` after `transmissions` attempts.
    Delivered {
        /// When the bytes are available to the receiver.
        at: Duration,
        /// How many times the segment was sent (1 = no loss).
        transmissions: u32,
    },
    /// The sender gives up at `at`: the connection is reset.
    Reset {
        /// When the sender gives up.
        at: Duration,
        /// How many times the segment was sent, all lost.
        transmissions: u32,
    },
}

#[derive(Debug, Clone)]
struct Blackout {
    window: Window,
    directions: Directions,
}

#[derive(Debug, Clone)]
struct LossOverride {
    window: Window,
    directions: Directions,
    loss: f64,
}

/// The flapping schedule: alternating up and down periods with exponential durations.
#[derive(Debug)]
struct Flapping {
    mean_up: Duration,
    mean_down: Duration,
    window: Window,
    rng: SimRng,
    /// Down periods generated so far and not yet in the past, in time order.
    downs: VecDeque<(Duration, Duration)>,
    /// The end of the last generated period (everything before it is generated).
    generated_until: Duration,
}

impl Flapping {
    fn exp(rng: &mut SimRng, mean: Duration) -> Duration {
        let u = unit_open(rng);
        Duration::from_secs_f64((-u.ln() * mean.as_secs_f64()).min(1e9))
    }

    /// Generates periods until everything up to `t` is known.
    fn generate_until(&mut self, t: Duration) {
        while self.generated_until <= t {
            if self.window.ended_before(self.generated_until) {
                self.generated_until = Duration::MAX;
                break;
            }
            let up = Flapping::exp(&mut self.rng, self.mean_up);
            let down = Flapping::exp(&mut self.rng, self.mean_down).max(Duration::from_millis(1));
            let start = self.generated_until.saturating_add(up);
            let mut end = start.saturating_add(down);
            if let Some(until) = self.window.until {
                end = end.min(until.max(start));
            }
            if end > start {
                self.downs.push_back((start, end));
            }
            self.generated_until = end;
        }
    }

    /// Returns the end of the down period containing `t`, if `t` is in one.
    fn down_until(&mut self, t: Duration) -> Option<Duration> {
        if !self.window.contains(t) {
            return None;
        }
        self.generate_until(t);
        self.downs.iter().find(|(s, e)| *s <= t && t < *e).map(|(_, e)| *e)
    }

    fn forget_before(&mut self, t: Duration) {
        while self.downs.front().is_some_and(|(_, e)| *e <= t) {
            self.downs.pop_front();
        }
    }
}

/// A link's flapping: its own (from its configuration, for ever) and that of flapping faults,
/// each over the fault's window. While a fault's window lasts its flapping replaces the link's
/// own (the latest fault added wins where windows overlap); the link's own resumes after it.
#[derive(Debug, Default)]
struct Flaps {
    own: Option<Flapping>,
    faults: Vec<Flapping>,
}

impl Flaps {
    /// The first instant after `t` at which a fault's window starts or ends, if any.
    fn next_boundary(&self, t: Duration) -> Option<Duration> {
        self.faults
            .iter()
            .flat_map(|f| [Some(f.window.from), f.window.until])
            .flatten()
            .filter(|&b| b > t)
            .min()
    }

    /// The schedule in charge at `t`.
    fn active(&mut self, t: Duration) -> Option<&mut Flapping> {
        match self.faults.iter().rposition(|f| f.window.contains(t)) {
            Some(i) => Some(&mut self.faults[i]),
            None => self.own.as_mut(),
        }
    }

    /// Returns the end of the down period containing `t`, if `t` is in one. A period is cut
    /// where another schedule takes charge; the caller asks again from there.
    fn down_until(&mut self, t: Duration) -> Option<Duration> {
        let boundary = self.next_boundary(t);
        let end = self.active(t)?.down_until(t)?;
        Some(boundary.map_or(end, |b| end.min(b)))
    }

    fn forget_before(&mut self, t: Duration) {
        self.faults.retain(|f| !f.window.ended_before(t));
        self.own.iter_mut().chain(self.faults.iter_mut()).for_each(|f| f.forget_before(t));
    }

    /// Every down period in `[0, until)`, in time order, adjacent ones merged.
    fn downs(&mut self, until: Duration) -> Vec<(Duration, Duration)> {
        let mut cuts: Vec<Duration> = self
            .faults
            .iter()
            .flat_map(|f| [Some(f.window.from), f.window.until])
            .flatten()
            .filter(|&b| b < until)
            .chain([Duration::ZERO, until])
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut out: Vec<(Duration, Duration)> = Vec::new();
        for pair in cuts.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let Some(schedule) = self.active(a) else { continue };
            schedule.generate_until(b);
            for &(s, e) in &schedule.downs {
                let (s, e) = (s.max(a), e.min(b));
                if s >= e {
                    continue;
                }
                match out.last_mut() {
                    Some(last) if last.1 >= s => last.1 = last.1.max(e),
                    _ => out.push((s, e)),
                }
            }
        }
        out
    }
}

/// The link model of one connection (or one device: it survives reconnections).
#[derive(Debug)]
pub struct LinkModel {
    config: LinkConfig,
    rng: SimRng,
    blackouts: Vec<Blackout>,
    losses: Vec<LossOverride>,
    flaps: Flaps,
    /// Per direction: the delivery time of the last delivered segment (in-order floor).
    last_delivery: [Duration; 2],
}

impl LinkModel {
    /// Creates the model of device `device` with its own random streams from `seeds`.
    ///
    /// # Errors
    ///
    /// Returns an error if the configuration is invalid (see [`LinkConfig::validate`]).
    pub fn new(
        config: LinkConfig,
        seeds: &Seeds,
        device: u64,
    ) -> Result<LinkModel, LinkConfigError> {
        config.validate()?;
        let own = config.flapping.map(|f| Flapping {
            mean_up: f.mean_up,
            mean_down: f.mean_down,
            window: Window::forever_from(Duration::ZERO),
            rng: seeds.stream(Purpose::FLAP, device),
            downs: VecDeque::new(),
            generated_until: Duration::ZERO,
        });
        Ok(LinkModel {
            config,
            rng: seeds.stream(Purpose::LINK, device),
            blackouts: Vec::new(),
            losses: Vec::new(),
            flaps: Flaps { own, faults: Vec::new() },
            last_delivery: [Duration::ZERO; 2],
        })
    }

    /// Returns the configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Adds a blackout: nothing sent in `directions` during `window` arrives.
    pub fn add_blackout(&mut self, window: Window, directions: Directions) {
        self.blackouts.push(Blackout { window, directions });
    }

    /// Overrides the loss rate in `directions` during `window` (the latest override wins).
    ///
    /// # Errors
    ///
    /// Returns an error if `loss` is not within `0.0..=1.0`.
    pub fn add_loss_override(
        &mut self,
        window: Window,
        directions: Directions,
        loss: f64,
    ) -> Result<(), LinkConfigError> {
        if !(0.0..=1.0).contains(&loss) {
            return Err(LinkConfigError::Loss(loss));
        }
        self.losses.push(LossOverride { window, directions, loss });
        Ok(())
    }

    /// Flaps during `window` (a flapping fault): down and up periods (both directions) with
    /// exponentially distributed durations of the given means, drawn from the device's own
    /// stream. While the window lasts it replaces the link's own flapping and earlier faults'.
    ///
    /// # Errors
    ///
    /// Returns an error if a mean is zero.
    pub fn add_flapping(
        &mut self,
        window: Window,
        mean_up: Duration,
        mean_down: Duration,
        seeds: &Seeds,
        device: u64,
    ) -> Result<(), LinkConfigError> {
        if mean_up.is_zero() || mean_down.is_zero() {
            return Err(LinkConfigError::Flapping);
        }
        let k = (self.flaps.faults.len() as u64).min(0xFFFF);
        self.flaps.faults.push(Flapping {
            mean_up,
            mean_down,
            window,
            rng: seeds.stream(Purpose::FLAP_FAULT, (k << 32) | (device & 0xFFFF_FFFF)),
            downs: VecDeque::new(),
            generated_until: window.from,
        });
        Ok(())
    }

    /// The periods in `[0, until)` in which flapping holds the link down (both directions), in
    /// time order, for the trace. Ask a model that has not decided any segment yet: deciding
    /// forgets periods that are over.
    pub fn flap_downs(&mut self, until: Duration) -> Vec<(Duration, Duration)> {
        self.flaps.downs(until)
    }

    /// Forgets blackouts, overrides and flapping periods that ended before `now`.
    pub fn forget_before(&mut self, now: Duration) {
        self.blackouts.retain(|b| !b.window.ended_before(now));
        self.losses.retain(|l| !l.window.ended_before(now));
        self.flaps.forget_before(now);
    }

    /// Returns the end of the outage containing `t` in `direction`: `Some(t)` if the direction
    /// is up at `t`, a later time if it is blacked out until then, `None` if it never recovers.
    pub fn next_open(&mut self, direction: Direction, t: Duration) -> Option<Duration> {
        let mut t = t;
        // Outages may overlap or abut; follow them until a time that is in none.
        for _ in 0..10_000 {
            let mut moved = false;
            for b in &self.blackouts {
                if b.directions.contains(direction) && b.window.contains(t) {
                    t = b.window.until?;
                    moved = true;
                }
            }
            if let Some(end) = self.flaps.down_until(t) {
                t = end;
                moved = true;
            }
            if !moved {
                return Some(t);
            }
        }
        None
    }

    fn is_blocked(&mut self, direction: Direction, t: Duration) -> bool {
        self.next_open(direction, t) != Some(t)
    }

    fn loss_at(&self, direction: Direction, t: Duration) -> f64 {
        self.losses
            .iter()
            .rev()
            .find(|l| l.directions.contains(direction) && l.window.contains(t))
            .map_or(self.config.loss, |l| l.loss)
    }

    /// Samples the one-way latency (distribution plus jitter) of one transmission.
    pub fn sample_latency(&mut self) -> Duration {
        let base = self.config.latency.sample(&mut self.rng);
        let jitter = if self.config.jitter.is_zero() {
            Duration::ZERO
        } else {
            self.config.jitter.mul_f64(self.rng.random::<f64>())
        };
        base + jitter
    }

    /// Decides the fate of a segment sent at `t` in `direction`.
    ///
    /// Times passed must not decrease from one call to the next (in either direction): the
    /// model forgets outages that ended before `t`. A delivered segment never arrives before
    /// the previous delivered segment of the same direction decided by this method.
    pub fn segment(&mut self, direction: Direction, t: Duration) -> Fate {
        match self.segment_unordered(direction, t) {
            Fate::Delivered { at, transmissions } => {
                let floor = &mut self.last_delivery[direction.index()];
                let at = at.max(*floor);
                *floor = at;
                Fate::Delivered { at, transmissions }
            }
            reset => reset,
        }
    }

    /// Decides the fate of a segment like [`LinkModel::segment`], without the in-order floor.
    ///
    /// TCP orders segments per connection, not per device: a new connection's handshake does
    /// not wait behind an old connection's retransmissions. The adapter keeps one floor per
    /// connection and uses this method.
    pub fn segment_unordered(&mut self, direction: Direction, t: Duration) -> Fate {
        self.forget_before(t);
        let Retransmit { initial_rto, max_rto, max_retransmissions, backoff } =
            self.config.retransmit;
        let mut at = t;
        let mut rto = initial_rto;
        let mut transmissions = 0;
        loop {
            transmissions += 1;
            let blocked = self.is_blocked(direction, at);
            let loss = self.loss_at(direction, at);
            // Always draw, so that a blackout does not shift the stream of later draws.
            let draw = self.rng.random::<f64>();
            let lost = blocked || draw < loss;
            if !lost {
                return Fate::Delivered { at: at + self.sample_latency(), transmissions };
            }
            if transmissions > max_retransmissions {
                return Fate::Reset { at: at + rto, transmissions };
            }
            at += rto;
            rto = rto.saturating_mul(backoff).min(max_rto);
        }
    }

    /// Returns when a control message that is never retransmitted (a reset) sent at `t` in
    /// `direction` arrives: after any outage, plus one latency; `None` if never.
    pub fn control(&mut self, direction: Direction, t: Duration) -> Option<Duration> {
        let open = self.next_open(direction, t)?;
        Some(open + self.sample_latency())
    }
}
