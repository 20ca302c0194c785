//! Guests actions.

use crate::catalog::Action;

/// The guests actions.
pub const ACTIONS: &[Action] = &[];
