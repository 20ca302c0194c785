//! Devices actions.

use crate::catalog::Action;

/// The devices actions.
pub const ACTIONS: &[Action] = &[];
