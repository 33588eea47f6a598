//! Seeded randomness: every random draw in a simulation comes from the scenario seed.
//!
//! A simulation has one seed. Each consumer (a device's link, a device's client, the fault
//! injector, turmoil itself) asks for its own stream, named by a [`Purpose`] and an index. The
//! streams are independent ChaCha8 streams of the same key, so adding a device or drawing more
//! numbers for one purpose never perturbs another stream.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random generator used everywhere in the simulator.
pub type SimRng = ChaCha8Rng;

/// What a random stream is used for; part of the stream's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Purpose(pub u16);

impl Purpose {
    /// The seed handed to turmoil's own generator.
    pub const TURMOIL: Purpose = Purpose(0);
    /// Per-segment draws of a device's link model (latency, jitter, loss).
    pub const LINK: Purpose = Purpose(1);
    /// The flapping schedule of a device's link model.
    pub const FLAP: Purpose = Purpose(2);
    /// A device's client behaviour (publish times, payloads).
    pub const DEVICE: Purpose = Purpose(3);
    /// The fault injector.
    pub const FAULT: Purpose = Purpose(4);
    /// Variations of the scenario in swarm sweeps (`explore --swarm`).
    pub const SWARM: Purpose = Purpose(5);
    /// The flapping schedules of a device's flapping faults: index `k << 32 | device` for its
    /// `k`-th fault, so that they are independent of the link's own flapping and of each other.
    pub const FLAP_FAULT: Purpose = Purpose(6);
}

/// The largest index a stream may have: indices use the low 48 bits of the stream id.
pub const MAX_INDEX: u64 = (1 << 48) - 1;

/// The root of all randomness in one simulation run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    seed: u64,
}

impl Seeds {
    /// Creates the root from the scenario seed.
    pub fn new(seed: u64) -> Seeds {
        Seeds { seed }
    }

    /// Returns the scenario seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Returns the independent stream for `purpose` and `index` (e.g. a device number).
    ///
    /// # Panics
    ///
    /// Panics if `index` exceeds [`MAX_INDEX`]; indices are device numbers, far below it.
    pub fn stream(&self, purpose: Purpose, index: u64) -> SimRng {
        assert!(index <= MAX_INDEX, "random stream index {index} exceeds 48 bits");
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream((u64::from(purpose.0) << 48) | index);
        rng
    }

    /// Returns the seed to give turmoil's own generator (used only for its message latency,
    /// which the world pins, so it should never matter; it is still derived, never random).
    pub fn turmoil_seed(&self) -> u64 {
        rand::RngCore::next_u64(&mut self.stream(Purpose::TURMOIL, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn first(rng: &mut SimRng) -> [u64; 4] {
        [rng.next_u64(), rng.next_u64(), rng.next_u64(), rng.next_u64()]
    }

    #[test]
    fn same_seed_same_stream() {
        let a = Seeds::new(7);
        let b = Seeds::new(7);
        assert_eq!(first(&mut a.stream(Purpose::LINK, 3)), first(&mut b.stream(Purpose::LINK, 3)));
    }

    #[test]
    fn streams_differ_by_seed_purpose_and_index() {
        let s = Seeds::new(7);
        let base = first(&mut s.stream(Purpose::LINK, 3));
        assert_ne!(base, first(&mut Seeds::new(8).stream(Purpose::LINK, 3)));
        assert_ne!(base, first(&mut s.stream(Purpose::FLAP, 3)));
        assert_ne!(base, first(&mut s.stream(Purpose::LINK, 4)));
    }

    #[test]
    fn a_stream_does_not_depend_on_others_being_drawn() {
        let s = Seeds::new(42);
        let alone = first(&mut s.stream(Purpose::LINK, 10));
        let mut other = s.stream(Purpose::LINK, 9);
        for _ in 0..1000 {
            other.next_u64();
        }
        assert_eq!(alone, first(&mut s.stream(Purpose::LINK, 10)));
    }
}
