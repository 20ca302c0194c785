//! Tool results: an action's output as structured content plus its JSON as text, cut to
//! fit an agent's context when it must be, and typed errors as tool errors.
//!
//! # Cutting
//! An output of a read-only tool over the bound is cut at an item boundary: its largest
//! top-level list (`value` for list tools) keeps the items that fit, in order, and the result
//! gains `truncated: {member, returned, omitted, note}`, the note saying how to read the
//! items left out (page with a smaller `maxItems` and `skipToken`, narrow with `select`).
//! Nothing is cut silently. Outputs of write tools are never cut: a write cannot be re-run
//! to see its result again, so its whole result is worth more than a small one. An output
//! with no list to cut stays whole.

use super::tools::{ActionTool, Continuation, TRUNCATED};
use crate::sandbox::runtime::ConnectorError;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Map, Value};

/// The result of a successful call: the output as structured content (when it is an object,
/// as MCP requires) and as text, cut when a read-only tool's output exceeds `max_bytes`.
pub fn success_result(tool: &ActionTool, output: &str, max_bytes: usize) -> CallToolResult {
    let parsed = serde_json::from_str::<Value>(output).ok();
    let Some(Value::Object(mut object)) = parsed else {
        // Not an object (or, impossibly, not JSON: the host checks every output): text only.
        return CallToolResult::success(vec![ContentBlock::text(output.to_string())]);
    };
    if tool.action.read_only && output.len() > max_bytes {
        cut_to_fit(&mut object, tool, max_bytes);
    }
    let value = Value::Object(object);
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

/// A typed error as a tool error: its JSON (`{"error": {code, message, status, graphCode,
/// requestId, retryAfterMs}}`, absent values left out) as text, so the agent sees the code
/// and can act on it (`throttled` with `retryAfterMs`, `not-found`, ...). No structured
/// content: it would have to match the tool's output schema, which describes successes.
pub fn error_result(error: &ConnectorError) -> CallToolResult {
    let mut fields = match error.to_json() {
        Value::Object(fields) => fields,
        other => Map::from_iter([("error".to_string(), other)]),
    };
    fields.retain(|_, value| !value.is_null());
    CallToolResult::error(vec![ContentBlock::text(json!({ "error": fields }).to_string())])
}

/// Cuts the largest top-level list of `object` so that its JSON fits in `max_bytes`, and
/// records what was left out under [`TRUNCATED`].
fn cut_to_fit(object: &mut Map<String, Value>, tool: &ActionTool, max_bytes: usize) {
    let largest = object
        .iter()
        .filter_map(|(name, value)| value.as_array().map(|items| (name.clone(), json_len(value), items.len())))
        .max_by_key(|(_, length, _)| *length);
    let Some((member, _, total)) = largest else { return };
    let Some(Value::Array(items)) = object.insert(member.clone(), Value::Array(Vec::new())) else { return };

    // The note is written before the count is known; its length barely changes with the
    // numbers, so room is kept for the largest ones.
    let placeholder = truncation(tool, &member, total, total);
    object.insert(TRUNCATED.to_string(), placeholder);
    let mut used = json_len(&Value::Object(object.clone()));
    let mut kept = Vec::new();
    for item in items.iter() {
        let length = json_len(item) + usize::from(!kept.is_empty());
        if used + length > max_bytes {
            break;
        }
        used += length;
        kept.push(item.clone());
    }
    let returned = kept.len();
    object.insert(member.clone(), Value::Array(kept));
    object.insert(TRUNCATED.to_string(), truncation(tool, &member, returned, total - returned));
}

/// The `truncated` member: what was cut and how to get it.
fn truncation(tool: &ActionTool, member: &str, returned: usize, omitted: usize) -> Value {
    let name = tool.name();
    let note = match tool.list {
        _ if returned == 0 => format!(
            "The result was cut to fit: not even its first `{member}` item fits, so none of the {omitted} is shown. \
             Call {name} again asking for fewer properties (select) or a smaller part."
        ),
        Some(Continuation::SkipToken) => format!(
            "The result was cut to fit: {omitted} items after the first {returned} are not shown. To read them, call \
             {name} again with the same arguments and maxItems {returned} and top {returned}, then with the \
             $skiptoken of each nextLink as skipToken; or narrow the items with select."
        ),
        Some(Continuation::DeltaLink) => format!(
            "The result was cut to fit: {omitted} items after the first {returned} are not shown. Call {name} again \
             with select naming fewer properties so that a page fits."
        ),
        Some(Continuation::LargerMaxItems) | None => format!(
            "The result was cut to fit: {omitted} of the `{member}` items after the first {returned} are not shown. \
             Call {name} again with a narrower request (select, filter, a smaller range) to see them."
        ),
    };
    json!({"member": member, "returned": returned, "omitted": omitted, "note": note})
}

/// The length of a value's compact JSON.
fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map(|bytes| bytes.len()).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::tools::{test_descriptor, ToolSet};
    use crate::mcp::McpOptions;
    use crate::sandbox::runtime::ErrorCode;

    fn tool(id: &str, read_only: bool) -> ActionTool {
        let descriptor = test_descriptor(id, read_only, json!({"type": "object"}), json!({"type": "object"}));
        ToolSet::new(vec![descriptor], &McpOptions::default()).unwrap().iter().next().unwrap().clone()
    }

    #[test]
    fn the_largest_list_of_a_read_only_result_is_cut_and_the_rest_stays_whole() {
        let items: Vec<String> = (0..8).map(|index| index.to_string().repeat(100)).collect();
        let output = json!({"groupId": "g", "small": [1], "value": items});
        let whole = success_result(&tool("groups.ids", true), &output.to_string(), 1_000);
        assert_eq!(whole.structured_content, Some(output.clone()));

        let result = success_result(&tool("groups.ids", true), &output.to_string(), 700);
        let cut = result.structured_content.unwrap();
        let text = result.content[0].as_text().unwrap().text.clone();
        assert!(text.len() <= 700, "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), cut);
        assert_eq!(cut["groupId"], "g");
        assert_eq!(cut["small"], json!([1]));
        let returned = cut["value"].as_array().unwrap().len();
        assert!(returned > 0 && returned < 8, "{cut}");
        assert_eq!(cut["value"], json!(items[..returned]));
        // One more item would not have fitted.
        assert!(text.len() + items[returned].len() + 3 > 700);
        assert_eq!(cut[TRUNCATED]["member"], "value");
        assert_eq!(cut[TRUNCATED]["returned"], returned);
        assert_eq!(cut[TRUNCATED]["omitted"], 8 - returned);
        assert!(cut[TRUNCATED]["note"].as_str().unwrap().contains("a narrower request"), "{cut}");
    }

    #[test]
    fn a_write_result_is_never_cut() {
        let output = json!({"success": false, "succeeded": vec!["an-id"; 200]});
        let result = success_result(&tool("groups.add-members", false), &output.to_string(), 1_024);
        assert_eq!(result.structured_content, Some(output));
    }

    #[test]
    fn a_result_whose_first_item_does_not_fit_says_so_and_keeps_none() {
        let output = json!({"value": ["x".repeat(2_000)]});
        let cut = success_result(&tool("users.list", true), &output.to_string(), 1_024).structured_content.unwrap();
        assert_eq!(cut["value"], json!([]));
        assert_eq!(cut[TRUNCATED]["returned"], 0);
        assert!(cut[TRUNCATED]["note"].as_str().unwrap().starts_with("The result was cut to fit: not even its first"));
    }

    #[test]
    fn a_result_that_is_not_an_object_is_text_only() {
        let result = success_result(&tool("users.ids", true), r#"["a","b"]"#, 1_024);
        assert_eq!(result.structured_content, None);
        assert_eq!(result.content[0].as_text().unwrap().text, r#"["a","b"]"#);
    }

    #[test]
    fn an_error_result_carries_its_typed_fields_and_leaves_out_absent_ones() {
        let mut error = ConnectorError::new(ErrorCode::Throttled, "slow down");
        error.status = Some(429);
        error.retry_after_ms = Some(2_000);
        let result = error_result(&error);
        assert_eq!(result.is_error, Some(true));
        assert_eq!(result.structured_content, None);
        let text: Value = serde_json::from_str(&result.content[0].as_text().unwrap().text).unwrap();
        assert_eq!(
            text,
            json!({"error": {"code": "throttled", "message": "slow down", "status": 429, "retryAfterMs": 2000}})
        );
    }
}
