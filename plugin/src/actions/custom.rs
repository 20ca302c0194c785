//! Custom actions.

use crate::catalog::Action;

/// The custom actions.
pub const ACTIONS: &[Action] = &[];
