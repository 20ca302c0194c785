//! Groups actions.

use crate::catalog::Action;

/// The groups actions.
pub const ACTIONS: &[Action] = &[];
