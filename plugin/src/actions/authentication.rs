//! Authentication actions.

use crate::catalog::Action;

/// The authentication actions.
pub const ACTIONS: &[Action] = &[];
