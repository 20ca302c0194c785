//! Small builders for the JSON Schemas that `list-actions` reports.

use serde_json::{json, Map, Value};

/// An object schema with the given properties and required names.
pub fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// An object schema that also accepts members it does not list.
pub fn open_object(properties: Value, required: &[&str]) -> Value {
    let mut schema = object(properties, required);
    schema["additionalProperties"] = json!(true);
    schema
}

/// A string property.
pub fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

/// A whole number, given as a number or a numeric string.
pub fn whole_number(description: &str) -> Value {
    json!({"type": ["integer", "string"], "description": description})
}

/// A boolean, given as a boolean or `"true"`/`"false"`.
pub fn boolean(description: &str) -> Value {
    json!({"type": ["boolean", "string"], "description": description})
}

/// A boolean in an output (always a JSON boolean).
pub fn boolean_output(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

/// One of fixed string values.
pub fn choice(description: &str, values: &[&str]) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

/// A list of strings.
pub fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// A list of ids: a list of strings, or one string of comma-separated ids.
pub fn ids(description: &str) -> Value {
    json!({
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
        "description": format!("{description} (a list, or one comma-separated string)"),
    })
}

/// An object as Graph returns it.
pub fn entity(description: &str) -> Value {
    json!({"type": "object", "description": description, "additionalProperties": true})
}

/// The output of a list action: `{"value", "nextLink"?, "count"?}`.
pub fn list_output(item: &str) -> Value {
    object(
        json!({
            "value": {"type": "array", "items": entity(item)},
            "nextLink": string("URL of the next page, present while more items remain beyond maxItems"),
            "count": {"type": "integer", "description": "Total count, when `count` was asked for"},
        }),
        &["value"],
    )
}

/// The output of an action whose Graph call returns no body: `{"success": true, <ids>}`.
pub fn success_output(ids: &[&str]) -> Value {
    let mut properties = Map::new();
    properties.insert("success".into(), json!({"type": "boolean", "const": true}));
    for id in ids {
        properties.insert((*id).into(), string("Id from the input"));
    }
    let mut required = vec!["success"];
    required.extend_from_slice(ids);
    object(Value::Object(properties), &required)
}

/// The named ones of [`list_query_properties`], for list actions that take only some.
pub fn list_query_properties_of(names: &[&str]) -> Map<String, Value> {
    let mut all = list_query_properties();
    all.retain(|name, _| names.contains(&name.as_str()));
    all
}

/// The properties shared by list actions (`users.list`, `groups.list`, `devices.list`).
pub fn list_query_properties() -> Map<String, Value> {
    let value = json!({
        "filter": string("OData $filter expression"),
        "count": boolean("Ask Graph for the total count ($count=true)"),
        "top": whole_number("Page size ($top, at most 999)"),
        "skipToken": string("$skiptoken from an earlier nextLink"),
        "select": string("Comma-separated properties ($select)"),
        "expand": string("$expand expression"),
        "orderby": string("$orderby expression"),
        "search": string("$search expression, e.g. displayName:john (quoted as Graph requires)"),
        "maxItems": whole_number("Stop after this many items (default 1000, 0 = all)"),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
