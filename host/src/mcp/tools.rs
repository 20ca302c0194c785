//! Each action as one MCP tool, made from its descriptor alone.
//!
//! - **Name**: the action id with every character outside `A-Z a-z 0-9 -` replaced by `_`
//!   (`users.get` → `users_get`, `users.list-licenses` → `users_list-licenses`). The MCP
//!   specification (2025-11-25, "Tool names") allows dots, but the model APIs behind many
//!   clients accept only `^[a-zA-Z0-9_-]{1,64}$` and refuse the whole tool list otherwise.
//!   The mapping is reversed through the tool set's table, never by string replacement; two
//!   actions that would share a name, or a name over 64 characters, stop the server at start.
//! - **Schemas**: the descriptor's input schema, plus `dryRun` on write tools; its output
//!   schema, which for a write tool also admits the dry-run plan, and for a list tool
//!   announces `truncated` (see [`super::results`]).
//! - **Annotations**: `readOnlyHint` from the descriptor; `openWorldHint` always (every
//!   action reaches a remote service); `destructiveHint` and `idempotentHint` of a write from
//!   the verb of its id (the part after the category), see [`write_hints`].

use super::McpOptions;
use crate::sandbox::runtime::ActionDescriptor;
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The argument a write tool takes to return its plan instead of writing.
pub const DRY_RUN: &str = "dryRun";
/// The input member of list actions that bounds how many items they return.
pub const MAX_ITEMS: &str = "maxItems";
/// The member of a cut result that says what was left out (see [`super::results`]).
pub const TRUNCATED: &str = "truncated";
/// The longest tool name every common client accepts.
pub const MAX_TOOL_NAME_CHARS: usize = 64;

/// Why a tool set cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ToolSetError {
    /// Two action ids map to one tool name.
    #[error("actions `{first}` and `{second}` would both be the MCP tool `{name}`")]
    NameCollision {
        /// The shared tool name.
        name: String,
        /// The first action id.
        first: String,
        /// The second action id.
        second: String,
    },
    /// An action id maps to a name longer than [`MAX_TOOL_NAME_CHARS`].
    #[error("action `{action}` would be the MCP tool `{name}`, longer than {MAX_TOOL_NAME_CHARS} characters")]
    NameTooLong {
        /// The action id.
        action: String,
        /// The tool name it maps to.
        name: String,
    },
    /// `--actions` names an action the component does not offer.
    #[error("--actions names `{0}`, which the component does not offer (see `connector-host actions`)")]
    UnknownAction(String),
    /// `--actions` names a write action while `--read-only` is set.
    #[error("--actions names `{0}`, which writes, but --read-only offers read-only actions only")]
    WriteActionWhenReadOnly(String),
    /// A descriptor's input schema is not a JSON object.
    #[error("the input schema of action `{0}` is not a JSON Schema object")]
    InputSchema(String),
}

/// How an agent reads past the items a list tool returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// The tool takes `skipToken`: the `$skiptoken` of the `nextLink`.
    SkipToken,
    /// The tool takes `deltaLink`: the `nextLink` itself (delta sync).
    DeltaLink,
    /// The tool takes neither: only a larger `maxItems` reads further.
    LargerMaxItems,
}

/// One action as a tool.
#[derive(Debug, Clone)]
pub struct ActionTool {
    /// The tool as `tools/list` shows it.
    pub tool: Tool,
    /// The action it runs.
    pub action: ActionDescriptor,
    /// For list tools (inputs with `maxItems`, outputs with `value` and `nextLink`), how to
    /// read further; `None` for the others.
    pub list: Option<Continuation>,
}

impl ActionTool {
    /// Whether this is a list tool.
    pub fn is_list(&self) -> bool {
        self.list.is_some()
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.tool.name
    }
}

/// The tools of one server, in the component's order, found by name.
#[derive(Debug, Clone)]
pub struct ToolSet {
    tools: Vec<ActionTool>,
    by_name: HashMap<String, usize>,
}

impl ToolSet {
    /// The tools of the descriptors that the options let through.
    pub fn new(descriptors: Vec<ActionDescriptor>, options: &McpOptions) -> Result<Self, ToolSetError> {
        if let Some(allowed) = &options.actions {
            for id in allowed {
                match descriptors.iter().find(|descriptor| &descriptor.id == id) {
                    None => return Err(ToolSetError::UnknownAction(id.clone())),
                    Some(descriptor) if options.read_only && !descriptor.read_only => {
                        return Err(ToolSetError::WriteActionWhenReadOnly(id.clone()))
                    }
                    Some(_) => {}
                }
            }
        }
        let mut tools: Vec<ActionTool> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut ids_by_name: HashMap<String, String> = HashMap::new();
        for descriptor in descriptors {
            // Every action takes part in the collision check, offered or not, so that a
            // name never changes meaning with the options.
            let name = tool_name(&descriptor.id);
            if name.chars().count() > MAX_TOOL_NAME_CHARS {
                return Err(ToolSetError::NameTooLong { action: descriptor.id, name });
            }
            if let Some(first) = ids_by_name.insert(name.clone(), descriptor.id.clone()) {
                return Err(ToolSetError::NameCollision { name, first, second: descriptor.id });
            }
            let offered = (!options.read_only || descriptor.read_only)
                && options.actions.as_ref().is_none_or(|allowed| allowed.contains(&descriptor.id));
            if offered {
                by_name.insert(name.clone(), tools.len());
                tools.push(action_tool(name, descriptor, options)?);
            }
        }
        Ok(Self { tools, by_name })
    }

    /// The tool of this name.
    pub fn get(&self, name: &str) -> Option<&ActionTool> {
        self.by_name.get(name).map(|&index| &self.tools[index])
    }

    /// The tools, in the component's order.
    pub fn iter(&self) -> impl Iterator<Item = &ActionTool> {
        self.tools.iter()
    }

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no action was let through.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// The MCP tool name of an action id (see the module docs).
pub fn tool_name(action_id: &str) -> String {
    action_id.chars().map(|letter| if letter.is_ascii_alphanumeric() || letter == '-' { letter } else { '_' }).collect()
}

/// The `destructiveHint` and `idempotentHint` of a write action, from the verb of its id
/// (`users.delete` → `delete`, `groups.remove-members` → `remove`). A write is destructive
/// unless its verb only adds (`create`, `add`, `invite`, `restore`, `enable`, and `assign`
/// of a role), so an unknown verb is treated as the spec's default (destructive). It is
/// idempotent when repeating it with the same arguments changes nothing more: updates,
/// deletes, removals, enabling and disabling, and setting a manager.
pub fn write_hints(action_id: &str) -> (bool, bool) {
    let operation = action_id.rsplit('.').next().unwrap_or(action_id);
    let verb = operation.split('-').next().unwrap_or(operation);
    let additive = matches!(verb, "create" | "add" | "invite" | "restore" | "enable") || operation == "assign";
    let idempotent =
        matches!(verb, "update" | "delete" | "remove" | "enable" | "disable") || operation == "assign-manager";
    (!additive, idempotent)
}

/// Builds one tool.
fn action_tool(name: String, action: ActionDescriptor, options: &McpOptions) -> Result<ActionTool, ToolSetError> {
    let mut input = match serde_json::from_str::<Value>(&action.input_schema) {
        Ok(Value::Object(schema)) => schema,
        _ => return Err(ToolSetError::InputSchema(action.id.clone())),
    };
    // MCP requires an object schema for arguments.
    input.entry("type").or_insert_with(|| json!("object"));
    let output = serde_json::from_str::<Value>(&action.output_schema).ok().and_then(|schema| match schema {
        Value::Object(schema) => Some(schema),
        _ => None,
    });
    let list = list_continuation(&input, output.as_ref());

    let properties = input.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(properties) = properties {
        if !action.read_only {
            properties.insert(
                DRY_RUN.to_string(),
                json!({
                    "type": "boolean",
                    "description": "Plan only: run the reads, send no write, and return the write requests \
                                    the call would send ({\"dryRun\": true, \"plan\": [{method, url, body}]}), \
                                    for a person to approve before the real call",
                }),
            );
        }
        if list.is_some() {
            properties.insert(
                MAX_ITEMS.to_string(),
                json!({
                    "type": "integer",
                    "description": format!(
                        "Stop after this many items (default {} here, 0 = all; a result larger than {} bytes is \
                         cut and says how to get the rest)",
                        options.max_items, options.max_output_bytes
                    ),
                }),
            );
        }
    }

    let mut description = action.description.clone();
    match list {
        Some(Continuation::SkipToken) => description.push_str(&format!(
            " Returns at most maxItems items (default {}); a nextLink in the result means more remain: call again \
             with the $skiptoken of the nextLink as skipToken.",
            options.max_items
        )),
        Some(Continuation::DeltaLink) => description.push_str(&format!(
            " Returns at most maxItems items (default {}); a nextLink in the result means more remain: call again \
             with the nextLink as deltaLink.",
            options.max_items
        )),
        Some(Continuation::LargerMaxItems) => description.push_str(&format!(
            " Returns at most maxItems items (default {}); a nextLink in the result means more remain: call again \
             with a larger maxItems.",
            options.max_items
        )),
        None => {}
    }
    if !action.permissions.is_empty() {
        description.push_str(&format!(" Microsoft Graph permissions: {}.", action.permissions.join(", ")));
    }

    let annotations = if action.read_only {
        ToolAnnotations::new().read_only(true).destructive(false).idempotent(true).open_world(true)
    } else {
        let (destructive, idempotent) = write_hints(&action.id);
        ToolAnnotations::new().read_only(false).destructive(destructive).idempotent(idempotent).open_world(true)
    };
    let mut annotations = annotations;
    annotations.title = Some(action.title.clone());

    let mut input = Value::Object(input);
    portable_types(&mut input, Narrowing::Input);
    let Value::Object(input) = input else { return Err(ToolSetError::InputSchema(action.id.clone())) };
    let mut tool = Tool::new(name, description, Arc::new(input)).with_title(action.title.clone()).annotate(annotations);
    if let Some(output) = output.and_then(|schema| mcp_output_schema(schema, &action, list.is_some())) {
        let mut output = Value::Object(output);
        portable_types(&mut output, Narrowing::Output);
        if let Value::Object(output) = output {
            tool = tool.with_raw_output_schema(Arc::new(output));
        }
    }
    Ok(ActionTool { tool, action, list })
}

/// Which schema [`portable_types`] rewrites.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Narrowing {
    /// An input: a value the action also accepts as a string (`["integer", "string"]`) is
    /// offered in its natural type only, which is all an agent needs.
    Input,
    /// An output: described exactly, since clients check results against it.
    Output,
}

/// Rewrites `type` arrays (`["integer", "string"]`), legal JSON Schema that clients mapping
/// schemas onto a one-type dialect (Gemini's function declarations) refuse or drop: in an
/// input, a scalar that may also come as a string keeps its scalar type; any other array
/// becomes `anyOf` branches of one type each, which accept exactly the same values.
fn portable_types(schema: &mut Value, narrowing: Narrowing) {
    match schema {
        Value::Object(members) => {
            if let Some(Value::Array(types)) = members.get("type") {
                let types: Vec<String> = types.iter().filter_map(|kind| kind.as_str().map(str::to_string)).collect();
                let scalar: Vec<&String> = types.iter().filter(|kind| kind.as_str() != "string").collect();
                let narrowed = narrowing == Narrowing::Input
                    && types.len() == 2
                    && types.iter().any(|kind| kind == "string")
                    && matches!(scalar.first().map(|kind| kind.as_str()), Some("integer" | "number" | "boolean"));
                if narrowed {
                    let kind = scalar[0].clone();
                    members.insert("type".to_string(), Value::String(kind));
                } else if !members.contains_key("anyOf") {
                    members.remove("type");
                    let branches = types.into_iter().map(|kind| json!({ "type": kind })).collect();
                    members.insert("anyOf".to_string(), Value::Array(branches));
                }
            }
            for (_, value) in members.iter_mut() {
                portable_types(value, narrowing);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| portable_types(item, narrowing)),
        _ => {}
    }
}

/// A list action takes `maxItems` and returns `{"value": [...], "nextLink"?}`.
fn list_continuation(input: &Map<String, Value>, output: Option<&Map<String, Value>>) -> Option<Continuation> {
    let takes = |name: &str| input.get("properties").and_then(|properties| properties.get(name)).is_some();
    let returns = |name: &str| {
        output.and_then(|schema| schema.get("properties")).and_then(|properties| properties.get(name)).is_some()
    };
    if !(takes(MAX_ITEMS) && returns("value") && returns("nextLink")) {
        return None;
    }
    Some(if takes("skipToken") {
        Continuation::SkipToken
    } else if takes("deltaLink") {
        Continuation::DeltaLink
    } else {
        Continuation::LargerMaxItems
    })
}

/// The `outputSchema` of a tool: MCP wants an object schema, so one that is not (an array,
/// a string) is left out, and the tool's results then carry text only. A write tool's
/// schema also admits its dry-run plan; a read-only tool's announces `truncated`.
fn mcp_output_schema(
    mut schema: Map<String, Value>,
    action: &ActionDescriptor,
    list: bool,
) -> Option<Map<String, Value>> {
    let is_object = |schema: &Map<String, Value>| match schema.get("type") {
        Some(Value::String(kind)) => kind == "object",
        None => ["oneOf", "anyOf"].iter().any(|key| {
            schema.get(*key).and_then(Value::as_array).is_some_and(|alternatives| {
                alternatives.iter().all(|alternative| alternative.get("type") == Some(&json!("object")))
            })
        }),
        Some(_) => false,
    };
    if !is_object(&schema) {
        return None;
    }
    schema.entry("type").or_insert_with(|| json!("object"));
    if !action.read_only {
        let plan = json!({
            "type": "object",
            "description": "The plan of a dry run: the write requests the call would send, in order",
            "properties": {
                "dryRun": {"type": "boolean", "const": true},
                "plan": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "method": {"type": "string"},
                        "url": {"type": "string"},
                        "body": {"type": "object", "additionalProperties": true,
                                 "description": "The JSON body, when the request has one"},
                        "returns": {"type": "object", "description": "The placeholder later steps use for \
                                    the id this write would create ({\"id\": \"{write-1.id}\"})"},
                    },
                    "required": ["method", "url"],
                }},
            },
            "required": ["dryRun", "plan"],
        });
        return Some(
            json!({"type": "object", "anyOf": [Value::Object(schema), plan]}).as_object().cloned().unwrap_or_default(),
        );
    }
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        let note = if list { "the items" } else { "the largest list member" };
        properties.insert(
            TRUNCATED.to_string(),
            json!({
                "type": "object",
                "description": format!("Present when the result was cut to fit the client's context: {note} \
                                        left out, and how to get them"),
                "properties": {
                    "member": {"type": "string", "description": "The list member that was cut"},
                    "returned": {"type": "integer"},
                    "omitted": {"type": "integer"},
                    "note": {"type": "string", "description": "How to get what was left out"},
                },
                "required": ["member", "returned", "omitted", "note"],
            }),
        );
    }
    Some(schema)
}

/// A descriptor for unit tests of this module and of [`super::results`].
#[cfg(test)]
pub(crate) fn test_descriptor(id: &str, read_only: bool, input: Value, output: Value) -> ActionDescriptor {
    ActionDescriptor {
        id: id.to_string(),
        title: format!("Title of {id}"),
        description: format!("Does {id}."),
        category: id.split('.').next().unwrap_or_default().to_string(),
        input_schema: input.to_string(),
        output_schema: output.to_string(),
        permissions: vec!["User.Read.All".to_string()],
        read_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(id: &str, read_only: bool) -> ActionDescriptor {
        test_descriptor(id, read_only, json!({"type": "object", "properties": {}}), json!({"type": "object"}))
    }

    fn names(tools: &ToolSet) -> Vec<&str> {
        tools.iter().map(ActionTool::name).collect()
    }

    #[test]
    fn two_actions_with_one_tool_name_stop_the_server_even_when_one_is_not_offered() {
        let descriptors = vec![descriptor("users.get", true), descriptor("users_get", false)];
        let options = McpOptions { read_only: true, ..McpOptions::default() };
        let error = ToolSet::new(descriptors, &options).unwrap_err();
        assert_eq!(error.to_string(), "actions `users.get` and `users_get` would both be the MCP tool `users_get`");
    }

    #[test]
    fn a_name_over_sixty_four_characters_is_refused() {
        let id = format!("users.{}", "x".repeat(59));
        let error = ToolSet::new(vec![descriptor(&id, true)], &McpOptions::default()).unwrap_err();
        assert!(matches!(error, ToolSetError::NameTooLong { .. }), "{error}");
        assert!(ToolSet::new(vec![descriptor(&id[..64], true)], &McpOptions::default()).is_ok());
    }

    #[test]
    fn the_allowlist_names_offered_actions_only_and_read_only_keeps_the_reads() {
        let all =
            || vec![descriptor("users.get", true), descriptor("users.delete", false), descriptor("users.list", true)];
        let allowed = |ids: &[&str], read_only| McpOptions {
            read_only,
            actions: Some(ids.iter().map(|id| id.to_string()).collect()),
            ..McpOptions::default()
        };
        let tools = ToolSet::new(all(), &allowed(&["users.list", "users.delete"], false)).unwrap();
        assert_eq!(names(&tools), ["users_delete", "users_list"]);
        assert_eq!(tools.get("users_delete").unwrap().action.id, "users.delete");
        assert!(tools.get("users.delete").is_none(), "tools are found by their MCP name only");

        let read_only = McpOptions { read_only: true, ..McpOptions::default() };
        assert_eq!(names(&ToolSet::new(all(), &read_only).unwrap()), ["users_get", "users_list"]);

        let error = ToolSet::new(all(), &allowed(&["users.get", "users.gte"], false)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--actions names `users.gte`, which the component does not offer (see `connector-host actions`)"
        );
        let error = ToolSet::new(all(), &allowed(&["users.delete"], true)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--actions names `users.delete`, which writes, but --read-only offers read-only actions only"
        );
    }

    #[test]
    fn an_input_schema_that_is_not_an_object_is_refused_by_action() {
        let broken = test_descriptor("users.get", true, json!("text"), json!({"type": "object"}));
        let error = ToolSet::new(vec![broken], &McpOptions::default()).unwrap_err();
        assert_eq!(error.to_string(), "the input schema of action `users.get` is not a JSON Schema object");
    }

    #[test]
    fn an_output_schema_that_is_not_an_object_is_left_out() {
        let strings = test_descriptor("users.ids", true, json!({"type": "object"}), json!({"type": "array"}));
        let tools = ToolSet::new(vec![strings], &McpOptions::default()).unwrap();
        assert!(tools.get("users_ids").unwrap().tool.output_schema.is_none());
    }

    #[test]
    fn tool_names_replace_dots_and_keep_hyphens() {
        assert_eq!(tool_name("users.get"), "users_get");
        assert_eq!(tool_name("users.list-licenses"), "users_list-licenses");
        assert_eq!(tool_name("a.b c/d"), "a_b_c_d");
    }

    #[test]
    fn type_arrays_become_one_type_in_inputs_and_any_of_in_outputs() {
        let schema = json!({"type": "object", "properties": {
            "top": {"type": ["integer", "string"], "description": "Page size"},
            "count": {"type": ["boolean", "string"]},
            "value": {"type": ["object", "array", "string"]},
        }});
        let mut input = schema.clone();
        portable_types(&mut input, Narrowing::Input);
        assert_eq!(
            input,
            json!({"type": "object", "properties": {
                "top": {"type": "integer", "description": "Page size"},
                "count": {"type": "boolean"},
                "value": {"anyOf": [{"type": "object"}, {"type": "array"}, {"type": "string"}]},
            }})
        );
        let mut output = schema;
        portable_types(&mut output, Narrowing::Output);
        assert_eq!(
            output["properties"]["top"],
            json!({"anyOf": [{"type": "integer"}, {"type": "string"}], "description": "Page size"})
        );
    }

    #[test]
    fn deletes_and_removals_are_destructive_and_creations_are_not() {
        assert_eq!(write_hints("users.delete"), (true, true));
        assert_eq!(write_hints("groups.remove-members"), (true, true));
        assert_eq!(write_hints("roles.remove-assignment"), (true, true));
        assert_eq!(write_hints("users.revoke-sessions"), (true, false));
        assert_eq!(write_hints("users.update"), (true, true));
        assert_eq!(write_hints("users.create"), (false, false));
        assert_eq!(write_hints("groups.add-members"), (false, false));
        assert_eq!(write_hints("roles.assign"), (false, false));
        assert_eq!(write_hints("users.assign-licenses"), (true, false));
        assert_eq!(write_hints("users.assign-manager"), (true, true));
        assert_eq!(write_hints("graph.request"), (true, false));
    }
}
