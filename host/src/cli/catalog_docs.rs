//! The action catalog as Markdown: one table per category, each action with its
//! description, input members, output members and permissions, all read from what
//! `list-actions` reports. Works for any connector; nothing here knows a service.
//!
//! Schemas are JSON Schema as connectors write them: an object with `properties` and
//! `required`, members typed with `type` (a name or a list of names), `enum`, `const`,
//! `items`, `oneOf`/`anyOf`, and `additionalProperties` for open objects.

use crate::sandbox::runtime::ActionDescriptor;
use serde_json::{Map, Value};

/// The command that regenerates the catalog documentation, for the generated file's
/// header and for messages that ask someone to run it.
pub const REGENERATE_COMMAND: &str = "cargo run -q -p connector-host -- actions --markdown > docs/actions.md";

/// Renders `actions` as a Markdown document: a heading, an index of categories, then a
/// table per category (categories and actions in the order the connector lists them).
pub fn render_markdown(actions: &[ActionDescriptor]) -> String {
    let mut document = String::from("# Actions\n\n");
    document.push_str(&format!(
        "Generated from the connector's `list-actions` by `connector-host actions --markdown`; do not edit by hand.\n\
         Regenerate with `{REGENERATE_COMMAND}`.\n\n"
    ));
    let categories = categories_in_order(actions);
    for (category, members) in &categories {
        document.push_str(&format!(
            "- [{category}](#{}) ({} action{})\n",
            anchor(category),
            members.len(),
            if members.len() == 1 { "" } else { "s" }
        ));
    }
    for (category, members) in &categories {
        document.push_str(&format!("\n## {category}\n\n"));
        document.push_str("| action | what it does | input | output | permissions |\n");
        document.push_str("|---|---|---|---|---|\n");
        for action in members {
            document.push_str(&action_row(action));
        }
    }
    document
}

/// Groups actions by category, keeping the order in which categories first appear.
fn categories_in_order(actions: &[ActionDescriptor]) -> Vec<(&str, Vec<&ActionDescriptor>)> {
    let mut categories: Vec<(&str, Vec<&ActionDescriptor>)> = Vec::new();
    for action in actions {
        match categories.iter_mut().find(|(category, _)| *category == action.category) {
            Some((_, members)) => members.push(action),
            None => categories.push((&action.category, vec![action])),
        }
    }
    categories
}

/// The anchor GitHub gives a heading: lower case, spaces as dashes, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|character| match character {
            ' ' => Some('-'),
            '-' | '_' => Some(character),
            _ if character.is_alphanumeric() => Some(character),
            _ => None,
        })
        .collect()
}

fn action_row(action: &ActionDescriptor) -> String {
    let mut summary = format!("**{}**", cell_text(&action.title));
    if !action.description.trim().is_empty() {
        summary.push_str("<br>");
        summary.push_str(&cell_text(&action.description));
    }
    if action.read_only {
        summary.push_str("<br>*Read-only.*");
    }
    let permissions: Vec<String> =
        action.permissions.iter().map(|permission| format!("`{}`", cell_text(permission))).collect();
    format!(
        "| `{}` | {summary} | {} | {} | {} |\n",
        cell_text(&action.id),
        schema_cell(&action.input_schema),
        schema_cell(&action.output_schema),
        if permissions.is_empty() { "none".to_string() } else { permissions.join("<br>") }
    )
}

/// The members of a schema (given as JSON text), one line each, for a table cell.
fn schema_cell(schema_text: &str) -> String {
    match serde_json::from_str::<Value>(schema_text) {
        Ok(schema) => describe_object(&schema).join("<br>"),
        Err(_) => "(schema is not valid JSON)".to_string(),
    }
}

/// The lines describing an object schema: its description, one line per member, and a
/// line for members it accepts beyond those; alternatives (`oneOf`/`anyOf`) each in turn.
fn describe_object(schema: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(description) = schema.get("description").and_then(Value::as_str) {
        lines.push(cell_text(description));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        // Required members first, in the order the schema requires them; then the others.
        let required = required_names(schema);
        let required_members = required.iter().filter_map(|name| properties.get_key_value(*name));
        let optional_members = properties.iter().filter(|(name, _)| !required.contains(&name.as_str()));
        lines.extend(required_members.map(|(name, member)| member_line(name, member, true)));
        lines.extend(optional_members.map(|(name, member)| member_line(name, member, false)));
    }
    match schema.get("additionalProperties") {
        Some(Value::Bool(true)) if schema.get("properties").is_some() => lines.push("*other members accepted*".into()),
        Some(extra @ Value::Object(_)) => {
            let mut line = format!("*other members*: {}", type_label(extra));
            if let Some(description) = extra.get("description").and_then(Value::as_str) {
                line.push_str(&format!(" — {}", cell_text(description)));
            }
            lines.push(line);
        }
        _ => {}
    }
    for (keyword, heading) in [("oneOf", "one of"), ("anyOf", "any of")] {
        let Some(alternatives) = schema.get(keyword).and_then(Value::as_array) else { continue };
        lines.push(format!("*{heading}:*"));
        for (index, alternative) in alternatives.iter().enumerate() {
            let described = describe_object(alternative);
            let body = if described.is_empty() { type_label(alternative) } else { described.join("; ") };
            lines.push(format!("{}. {body}", index + 1));
        }
    }
    if lines.is_empty() {
        lines.push(type_label(schema));
    }
    lines
}

fn required_names(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |names| names.iter().filter_map(Value::as_str).collect())
}

/// `` `name` (type, required): description ``.
fn member_line(name: &str, member: &Value, required: bool) -> String {
    let mut line = format!("`{}` ({}", cell_text(name), type_label(member));
    if required {
        line.push_str(", **required**");
    }
    line.push(')');
    if let Some(description) = member.get("description").and_then(Value::as_str) {
        line.push_str(": ");
        line.push_str(&cell_text(description));
    }
    line
}

/// A short name for the type a schema admits: `string`, `integer or string`,
/// `array of string`, `` `A` \| `B` `` for an enum, `object {a, b}`.
fn type_label(schema: &Value) -> String {
    if let Some(constant) = schema.get("const") {
        return format!("`{}`", cell_text(&constant.to_string()));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|value| format!("`{}`", cell_text(&enum_value(value)))).collect();
        return values.join(" \\| ");
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema.get(keyword).and_then(Value::as_array) {
            let labels: Vec<String> = alternatives.iter().map(type_label).collect();
            return labels.join(" or ");
        }
    }
    let names: Vec<&str> = match schema.get("type") {
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("properties").is_some() => vec!["object"],
        _ => vec![],
    };
    if names.is_empty() {
        return "any".to_string();
    }
    let labels: Vec<String> = names.iter().map(|name| named_type_label(name, schema)).collect();
    labels.join(" or ")
}

fn named_type_label(name: &str, schema: &Value) -> String {
    match name {
        "array" => match schema.get("items") {
            Some(items) => format!("array of {}", type_label(items)),
            None => "array".to_string(),
        },
        "object" => match schema.get("properties").and_then(Value::as_object) {
            Some(properties) if !properties.is_empty() => format!("object {{{}}}", member_names(schema, properties)),
            _ => "object".to_string(),
        },
        other => cell_text(other),
    }
}

/// `a, b?`: the members of a nested object, optional ones marked with `?`.
fn member_names(schema: &Value, properties: &Map<String, Value>) -> String {
    let required = required_names(schema);
    let names: Vec<String> = properties
        .keys()
        .map(|name| {
            let optional = if required.contains(&name.as_str()) || required.is_empty() { "" } else { "?" };
            format!("{}{optional}", cell_text(name))
        })
        .collect();
    names.join(", ")
}

fn enum_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Text made safe for one table cell: on one line, pipes escaped everywhere (GitHub
/// splits cells before it reads code spans), and `<`/`>` escaped outside code spans so
/// that a placeholder like `<id>` is shown instead of being taken for an HTML tag.
fn cell_text(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut escaped = String::with_capacity(one_line.len());
    let mut in_code = false;
    for character in one_line.chars() {
        match character {
            '`' => {
                in_code = !in_code;
                escaped.push('`');
            }
            '|' => escaped.push_str("\\|"),
            '<' if !in_code => escaped.push_str("&lt;"),
            '>' if !in_code => escaped.push_str("&gt;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn descriptor(id: &str, category: &str, input: Value, output: Value) -> ActionDescriptor {
        ActionDescriptor {
            id: id.into(),
            title: format!("Title of {id}"),
            description: "Does a thing.".into(),
            category: category.into(),
            input_schema: input.to_string(),
            output_schema: output.to_string(),
            permissions: vec!["Thing.Read.All".into()],
            read_only: true,
        }
    }

    #[test]
    fn members_show_their_type_and_whether_they_are_required() {
        let input = json!({"type": "object", "properties": {
            "thingId": {"type": "string", "description": "Id of the thing"},
            "top": {"type": ["integer", "string"]},
            "kind": {"type": "string", "enum": ["A", "B"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        }, "required": ["thingId"]});
        let markdown = render_markdown(&[descriptor("things.get", "things", input, json!({"type": "object"}))]);
        assert!(markdown.contains("`thingId` (string, **required**): Id of the thing"), "{markdown}");
        assert!(markdown.contains("`top` (integer or string)"), "{markdown}");
        assert!(markdown.contains("`kind` (`A` \\| `B`)"), "{markdown}");
        assert!(markdown.contains("`tags` (array of string)"), "{markdown}");
    }

    #[test]
    fn required_members_come_first() {
        let input = json!({"type": "object", "properties": {
            "alpha": {"type": "string"}, "zulu": {"type": "string"}, "mike": {"type": "string"},
        }, "required": ["zulu"]});
        let markdown = render_markdown(&[descriptor("x.y", "x", input, json!({"type": "object"}))]);
        assert!(
            markdown.contains("`zulu` (string, **required**)<br>`alpha` (string)<br>`mike` (string)"),
            "{markdown}"
        );
    }

    #[test]
    fn each_category_gets_its_own_table_in_the_order_listed() {
        let object = || json!({"type": "object"});
        let markdown = render_markdown(&[
            descriptor("b.one", "beta", object(), object()),
            descriptor("a.one", "alpha", object(), object()),
            descriptor("b.two", "beta", object(), object()),
        ]);
        let beta = markdown.find("## beta").expect("a beta section");
        let alpha = markdown.find("## alpha").expect("an alpha section");
        assert!(beta < alpha, "{markdown}");
        assert_eq!(markdown.matches("| action | what it does |").count(), 2, "{markdown}");
        let beta_section = &markdown[beta..alpha];
        assert!(beta_section.contains("`b.one`") && beta_section.contains("`b.two`"), "{markdown}");
        assert!(markdown.contains("- [beta](#beta) (2 actions)"), "{markdown}");
    }

    #[test]
    fn pipes_newlines_and_angle_brackets_cannot_break_the_table() {
        let output = json!({"type": "object", "description": "Either `a|b` or <id field>\nand more"});
        let markdown = render_markdown(&[descriptor("x.y", "x", json!({"type": "object"}), output)]);
        let row = markdown.lines().find(|line| line.starts_with("| `x.y`")).expect("a row for x.y");
        assert!(row.contains("Either `a\\|b` or &lt;id field&gt; and more"), "{row}");
        let unescaped_pipes = row.match_indices('|').filter(|(at, _)| !row[..*at].ends_with('\\')).count();
        assert_eq!(unescaped_pipes, 6, "five cells: {row}");
    }

    #[test]
    fn alternatives_and_open_objects_are_spelled_out() {
        let output = json!({"type": "object", "oneOf": [
            {"type": "object", "properties": {"success": {"type": "boolean", "const": true}}, "required": ["success"]},
            {"type": "object", "description": "The object as the service returns it", "additionalProperties": true},
        ]});
        let input = json!({"type": "object", "properties": {"id": {"type": "string"}}, "additionalProperties": true});
        let markdown = render_markdown(&[descriptor("x.y", "x", input, output)]);
        assert!(
            markdown.contains(
                "*one of:*<br>1. `success` (`true`, **required**)<br>2. The object as the service returns it"
            ),
            "{markdown}"
        );
        assert!(markdown.contains("`id` (string)<br>*other members accepted*"), "{markdown}");
    }

    #[test]
    fn a_schema_that_is_not_json_is_reported_not_fatal() {
        let mut action = descriptor("x.y", "x", json!({}), json!({}));
        action.input_schema = "{not json".into();
        assert!(render_markdown(&[action]).contains("(schema is not valid JSON)"));
    }
}
