//! The environment variables the `testing` module honours, read once per call and parsed strictly:
//! a value that cannot be meant is an error naming the variable, never a silent default.

use std::ffi::OsString;
use std::fmt;
use std::ops::RangeInclusive;

use super::Error;
use crate::explore::parse_seeds;

/// Runs just this seed: `MQTT_SIM_SEED=17`.
pub const SEED_VAR: &str = "MQTT_SIM_SEED";
/// Runs this sweep of seeds: `MQTT_SIM_SEEDS=1..=100` (or `1..101`, the end excluded).
pub const SEEDS_VAR: &str = "MQTT_SIM_SEEDS";
/// Runs every seed twice and compares the traces byte for byte: `MQTT_SIM_CHECK_DETERMINISM=1`.
pub const CHECK_DETERMINISM_VAR: &str = "MQTT_SIM_CHECK_DETERMINISM";

/// The seeds the environment asks for, and which variable asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedChoice {
    /// The variable that chose them: [`SEED_VAR`] or [`SEEDS_VAR`].
    pub var: &'static str,
    /// The seeds, in order.
    pub seeds: RangeInclusive<u64>,
}

impl fmt::Display for SeedChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seeds.start() == self.seeds.end() {
            write!(f, "{}={}", self.var, self.seeds.start())
        } else {
            write!(f, "{}={}..={}", self.var, self.seeds.start(), self.seeds.end())
        }
    }
}

/// What the environment asks of a test run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// The seeds to run instead of the test's own, when [`SEED_VAR`] or [`SEEDS_VAR`] is set.
    pub seeds: Option<SeedChoice>,
    /// Whether every run is made twice and the traces compared ([`CHECK_DETERMINISM_VAR`]).
    pub check_determinism: bool,
}

impl Environment {
    /// Reads the process environment.
    ///
    /// # Errors
    ///
    /// [`Error::Environment`] when a variable is set to something it cannot mean.
    pub fn read() -> Result<Environment, Error> {
        Environment::from_vars(|name| std::env::var_os(name))
    }

    /// Reads the variables from `get` (the process environment for [`Environment::read`]): an
    /// unset or empty variable is not set; `MQTT_SIM_SEED` is a number, `MQTT_SIM_SEEDS` a
    /// range `A..B` (B excluded) or `A..=B` (or one seed), the two not both;
    /// `MQTT_SIM_CHECK_DETERMINISM` is `1`, `true` or `yes` (on), `0`, `false` or `no` (off).
    ///
    /// ```
    /// use mqttsim_sim::testing::env::Environment;
    ///
    /// let env = Environment::from_vars(|name| match name {
    ///     "MQTT_SIM_SEEDS" => Some("1..=20".into()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(env.seeds.unwrap().seeds, 1..=20);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Environment`], naming the variable and its value.
    pub fn from_vars(get: impl Fn(&str) -> Option<OsString>) -> Result<Environment, Error> {
        let seed = text(SEED_VAR, get(SEED_VAR))?;
        let seeds = text(SEEDS_VAR, get(SEEDS_VAR))?;
        let determinism = text(CHECK_DETERMINISM_VAR, get(CHECK_DETERMINISM_VAR))?;
        let seeds = match (seed, seeds) {
            (Some(one), Some(many)) => {
                return Err(Error::Environment {
                    var: SEEDS_VAR,
                    value: many,
                    problem: format!(
                        "{SEED_VAR}={one} is set too; set one of them (MQTT_SIM_SEED runs one \
                         seed, MQTT_SIM_SEEDS a sweep)"
                    ),
                });
            }
            (Some(one), None) => {
                let seed = one.parse::<u64>().map_err(|_| Error::Environment {
                    var: SEED_VAR,
                    value: one.clone(),
                    problem: "not a seed: expected a whole number from 0 to 18446744073709551615"
                        .to_owned(),
                })?;
                Some(SeedChoice { var: SEED_VAR, seeds: seed..=seed })
            }
            (None, Some(many)) => {
                let seeds = parse_seeds(&many).map_err(|problem| Error::Environment {
                    var: SEEDS_VAR,
                    value: many.clone(),
                    problem: format!(
                        "{problem}; expected a range of seeds such as 1..=100 (or 1..101, the \
                         end excluded)"
                    ),
                })?;
                Some(SeedChoice { var: SEEDS_VAR, seeds })
            }
            (None, None) => None,
        };
        let check_determinism = match determinism.as_deref() {
            None => false,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(Error::Environment {
                        var: CHECK_DETERMINISM_VAR,
                        value: v.to_owned(),
                        problem: "expected 1 (run every seed twice and compare the traces) or 0"
                            .to_owned(),
                    });
                }
            },
        };
        Ok(Environment { seeds, check_determinism })
    }
}

/// The variable's value, trimmed; `None` when unset or blank.
fn text(var: &'static str, value: Option<OsString>) -> Result<Option<String>, Error> {
    let Some(value) = value else { return Ok(None) };
    let value = value.into_string().map_err(|raw| Error::Environment {
        var,
        value: raw.to_string_lossy().into_owned(),
        problem: "not valid UTF-8".to_owned(),
    })?;
    let value = value.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}
