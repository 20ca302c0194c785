//! The output shape of bulk actions: which ids succeeded, which failed and why.

use super::resolve_user_id;
use crate::error::{ConnectorError, Result};
use crate::graph::client::GraphClient;
use crate::json::input::Input;
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
    /// Ids that were not owners (removing an owner found nothing to do).
    pub not_owner: Vec<String>,
    /// Ids never tried because the invocation's deadline passed first: nothing was sent for
    /// them, so a caller resumes with exactly these.
    pub not_attempted: Vec<String>,
}

/// How the operation on one id of a bulk action ended.
#[derive(Debug)]
pub enum ItemOutcome {
    /// Applied.
    Succeeded,
    /// Nothing to add: the id was already there.
    AlreadyMember,
    /// Nothing to remove: the id was not there.
    NotMember,
    /// Nothing to remove: the id was not an owner.
    NotOwner,
    /// Failed, with the typed error.
    Failed(ConnectorError),
}

impl From<Result<()>> for ItemOutcome {
    fn from(result: Result<()>) -> Self {
        match result {
            Ok(()) => ItemOutcome::Succeeded,
            Err(error) => ItemOutcome::Failed(error),
        }
    }
}

impl BulkOutcome {
    /// An empty outcome.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records how the operation on `id` ended.
    pub fn record(&mut self, id: String, outcome: ItemOutcome) {
        match outcome {
            ItemOutcome::Succeeded => self.succeeded.push(id),
            ItemOutcome::AlreadyMember => self.already_member.push(id),
            ItemOutcome::NotMember => self.not_member.push(id),
            ItemOutcome::NotOwner => self.not_owner.push(id),
            ItemOutcome::Failed(error) => self.failed.push((id, error)),
        }
    }

    /// The shape every bulk action shares: runs `operation` on each item in order and records
    /// its outcome under the item's id; once the invocation's deadline has passed, the items
    /// left are recorded as not attempted and nothing more is sent.
    pub fn each<T>(
        &mut self,
        client: &mut GraphClient,
        items: &[T],
        id: impl Fn(&T) -> String,
        mut operation: impl FnMut(&mut GraphClient, &T) -> ItemOutcome,
    ) {
        for (index, item) in items.iter().enumerate() {
            if client.out_of_time() {
                self.not_attempted.extend(items[index..].iter().map(&id));
                return;
            }
            let outcome = operation(client, item);
            self.record(id(item), outcome);
        }
    }

    /// `{"success", "succeeded", "failed": [{"id", "error"}], "alreadyMember"?, "notMember"?,
    /// "notOwner"?, "notAttempted"?}`; `success` is true when nothing failed and everything was attempted.
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
        if !self.not_owner.is_empty() {
            output.insert("notOwner".into(), json!(self.not_owner));
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
                "notOwner": ids,
                "notAttempted": {"type": "array", "items": {"type": "string"}, "description": "Ids never tried because the invocation's deadline passed first (nothing was sent for them)"},
            },
            "required": ["success", "succeeded", "failed"],
        })
    }
}

/// A directory object named by the caller and the object id Graph knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The id as the caller gave it (reported back in bulk outputs).
    pub given: String,
    /// The object id (a userPrincipalName resolved to its id).
    pub object_id: String,
}

impl Target {
    /// The id as the caller gave it, under which a bulk output reports it.
    pub fn id(&self) -> String {
        self.given.clone()
    }
}

/// A required, non-empty list of ids (see [`Input::id_list`]: duplicates are dropped).
pub fn required_id_list(input: &Input, name: &str) -> Result<Vec<String>> {
    match input.id_list(name)? {
        Some(ids) if !ids.is_empty() => Ok(ids),
        _ => Err(ConnectorError::invalid_input(format!("`{name}` is required and must name at least one id"))),
    }
}

/// Resolves ids for a bulk action: with `users`, userPrincipalNames become object ids; one
/// that cannot be resolved is recorded as failed and left out (nothing is sent for it). Once
/// the invocation's deadline has passed, the ids left are recorded as not attempted.
pub fn resolve_targets(
    client: &mut GraphClient,
    ids: Vec<String>,
    users: bool,
    outcome: &mut BulkOutcome,
) -> Vec<Target> {
    let mut targets = Vec::with_capacity(ids.len());
    let mut ids = ids.into_iter();
    while let Some(given) = ids.next() {
        if client.out_of_time() {
            outcome.not_attempted.push(given);
            outcome.not_attempted.extend(ids);
            break;
        }
        let resolved = if users { resolve_user_id(client, &given) } else { Ok(given.clone()) };
        match resolved {
            Ok(object_id) => targets.push(Target { given, object_id }),
            Err(error) => outcome.failed.push((given, error)),
        }
    }
    targets
}
