//! The output shape of bulk actions: which ids succeeded, which failed and why.

use crate::error::ConnectorError;
use serde_json::{json, Map, Value};

/// Graph's limit of directory objects per `members@odata.bind` request and of ids
/// per `checkMemberGroups` call.
pub const GRAPH_BULK_LIMIT: usize = 20;

/// The per-id result of a bulk action.
#[derive(Debug, Default, Clone)]
pub struct BulkOutcome {
    /// Ids whose operation succeeded.
    pub succeeded: Vec<String>,
    /// Ids whose operation failed, with the typed error.
    pub failed: Vec<(String, ConnectorError)>,
    /// Ids that were already members (adding found nothing to do).
    pub already_member: Vec<String>,
    /// Ids that were not members (removing found nothing to do).
    pub not_member: Vec<String>,
    /// Ids never tried because the invocation's deadline passed first: nothing was sent for
    /// them, so a caller resumes with exactly these.
    pub not_attempted: Vec<String>,
}

impl BulkOutcome {
    /// An empty outcome.
    pub fn new() -> Self {
        Self::default()
    }

    /// `{"success", "succeeded", "failed": [{"id", "error"}], "alreadyMember"?, "notMember"?,
    /// "notAttempted"?}`; `success` is true when nothing failed and everything was attempted.
    pub fn to_json(&self) -> Value {
        let mut output = Map::new();
        output.insert("success".into(), json!(self.failed.is_empty() && self.not_attempted.is_empty()));
        output.insert("succeeded".into(), json!(self.succeeded));
        output.insert(
            "failed".into(),
            Value::Array(self.failed.iter().map(|(id, error)| json!({"id": id, "error": error.to_json()})).collect()),
        );
        if !self.already_member.is_empty() {
            output.insert("alreadyMember".into(), json!(self.already_member));
        }
        if !self.not_member.is_empty() {
            output.insert("notMember".into(), json!(self.not_member));
        }
        if !self.not_attempted.is_empty() {
            output.insert("notAttempted".into(), json!(self.not_attempted));
        }
        Value::Object(output)
    }

    /// The JSON Schema of [`BulkOutcome::to_json`].
    pub fn schema() -> Value {
        let ids = json!({"type": "array", "items": {"type": "string"}});
        json!({
            "type": "object",
            "properties": {
                "success": {"type": "boolean", "description": "True when no id failed"},
                "succeeded": ids,
                "failed": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "error": {"type": "object"}}}},
                "alreadyMember": ids,
                "notMember": ids,
                "notAttempted": {"type": "array", "items": {"type": "string"}, "description": "Ids never tried because the invocation's deadline passed first (nothing was sent for them)"},
            },
            "required": ["success", "succeeded", "failed"],
        })
    }
}
