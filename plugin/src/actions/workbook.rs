//! Workbook actions.

use crate::catalog::Action;

/// The workbook actions.
pub const ACTIONS: &[Action] = &[];
