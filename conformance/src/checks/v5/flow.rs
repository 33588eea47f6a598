//! flow

use crate::check::Check;

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![]
}
