//! What one seed of a sweep gave: the line a sweep's results file holds per seed, and what a
//! sweep's index page lists.

use serde::{Deserialize, Serialize};

use crate::check::Coverage;

/// What one seed gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Whether any expectation failed (or the run itself failed).
    pub failed: bool,
    /// How many violations the checker found.
    pub violations: u64,
    /// The guarantees that failed, by name.
    pub failed_guarantees: Vec<String>,
    /// Why the run could not complete, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the seed (simulation and check), in milliseconds. Not deterministic, so
    /// not written to results files.
    #[serde(skip)]
    pub wall_ms: u64,
    /// Wall time spent in the checker, in milliseconds. Not deterministic, not written.
    #[serde(skip)]
    pub check_ms: u64,
    /// The expectations asked for that the seed gave nothing to judge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_exercised: Vec<String>,
    /// What the seed's run went through.
    #[serde(default)]
    pub coverage: Coverage,
}
