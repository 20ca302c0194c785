//! The action catalog: one table from action id to its descriptor and handler.

use crate::actions;
use crate::error::Result;
use crate::graph::client::GraphClient;
use crate::json::entity::Entity;
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::output::Output;
use serde_json::Value;

/// The handler of an action: validate input, call Graph, shape the output.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Builds its output as a JSON tree.
    Value(fn(&mut GraphClient, &Input) -> Result<Value>),
    /// Reads a collection; its items pass through as Graph wrote them (see [`Listing`]).
    Listing(fn(&mut GraphClient, &Input) -> Result<Listing>),
    /// Reads one object, passed through as Graph wrote it (see [`Entity`]).
    Entity(fn(&mut GraphClient, &Input) -> Result<Entity>),
}

impl Handler {
    /// Runs the handler.
    pub fn run(self, client: &mut GraphClient, input: &Input) -> Result<Output> {
        match self {
            Handler::Value(handler) => handler(client, input).map(Output::Value),
            Handler::Listing(handler) => handler(client, input).map(Output::from),
            Handler::Entity(handler) => handler(client, input).map(Output::from),
        }
    }
}

/// One action: what `list-actions` reports about it and the code that runs it.
pub struct Action {
    /// Stable id, e.g. `users.get`.
    pub id: &'static str,
    /// Short human title.
    pub title: &'static str,
    /// What the action does.
    pub description: &'static str,
    /// Category (users, groups, ...).
    pub category: &'static str,
    /// Least-privileged Microsoft Graph application permissions.
    pub permissions: &'static [&'static str],
    /// True when the action changes nothing.
    pub read_only: bool,
    /// JSON Schema of the input.
    pub input_schema: fn() -> Value,
    /// JSON Schema of the output.
    pub output_schema: fn() -> Value,
    /// The handler.
    pub run: Handler,
}

/// Every action the connector offers, in catalog order.
pub fn all() -> impl Iterator<Item = &'static Action> {
    [
        actions::users::ACTIONS,
        actions::authentication::ACTIONS,
        actions::audit::ACTIONS,
        actions::groups::ACTIONS,
        actions::guests::ACTIONS,
        actions::devices::ACTIONS,
        actions::risk::ACTIONS,
        actions::roles::ACTIONS,
        actions::workbook::ACTIONS,
        actions::sites::ACTIONS,
        actions::custom::ACTIONS,
    ]
    .into_iter()
    .flatten()
}

/// The action with that id.
pub fn find(id: &str) -> Option<&'static Action> {
    all().find(|action| action.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn action_ids_are_unique_and_schemas_are_objects() {
        let mut seen = HashSet::new();
        for action in all() {
            assert!(seen.insert(action.id), "duplicate id {}", action.id);
            assert_eq!((action.input_schema)()["type"], "object", "{}", action.id);
            assert_eq!((action.output_schema)()["type"], "object", "{}", action.id);
            assert!(!action.permissions.is_empty(), "{}", action.id);
        }
    }
}
