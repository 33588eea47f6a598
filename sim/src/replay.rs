//! The command that replays one seed of a run: `mqtt-sim run SCENARIO --seed N`, with the
//! options that change what a seed does. Every front end prints it the same way: `mqtt-sim run`,
//! `explore`, `report` and the [`testing`](crate::testing) module in users' own tests.
//!
//! ```
//! use mqttsim_sim::replay::Replay;
//!
//! let replay = Replay {
//!     scenario: "tests/fleet.yaml".to_owned(),
//!     duration: Some("2m".to_owned()),
//!     swarm: false,
//!     tick: None,
//! };
//! assert_eq!(replay.command(7), "mqtt-sim run tests/fleet.yaml --seed 7 --duration 2m");
//! ```

/// How a run was made, as far as replaying one of its seeds needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// The scenario file, as the user named it.
    pub scenario: String,
    /// `--duration`, as given.
    pub duration: Option<String>,
    /// `--swarm`.
    pub swarm: bool,
    /// `--tick`, as given.
    pub tick: Option<String>,
}

impl Replay {
    /// `mqtt-sim run SCENARIO --seed N`, with the options that change what a seed does.
    pub fn command(&self, seed: u64) -> String {
        let mut cmd = format!("mqtt-sim run {} --seed {seed}", self.scenario);
        if let Some(d) = &self.duration {
            cmd.push_str(&format!(" --duration {d}"));
        }
        if self.swarm {
            cmd.push_str(" --swarm");
        }
        if let Some(tick) = &self.tick {
            cmd.push_str(&format!(" --tick {tick}"));
        }
        cmd
    }
}
