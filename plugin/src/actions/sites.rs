//! Sites actions.

use crate::catalog::Action;

/// The sites actions.
pub const ACTIONS: &[Action] = &[];
