//! What an action returns: one JSON document, built as a tree or already written as text.

use crate::error::{ConnectorError, ErrorCode, Result};
use serde_json::Value;

/// An action's output.
///
/// Most actions build a [`Value`]. List actions write their output as JSON text while the
/// pages arrive (see [`crate::json::listing::Listing`]), so that thousands of items never exist as a
/// tree in the sandbox's memory, and reads of one object pass it through as text
/// (see [`crate::json::entity::Entity`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A JSON tree.
    Value(Value),
    /// JSON text, complete and well-formed.
    Json(String),
}

impl Output {
    /// The output as JSON text, as the component returns it.
    pub fn into_json(self) -> String {
        match self {
            // serde_json's writer goes straight to bytes, while `Display` goes through
            // `fmt` for every fragment; a `Value` always serializes, so the fallback never runs.
            Output::Value(value) => serde_json::to_string(&value).unwrap_or_else(|_| value.to_string()),
            Output::Json(text) => text,
        }
    }

    /// The output as a JSON tree, for callers that look into it.
    pub fn into_value(self) -> Result<Value> {
        match self {
            Output::Value(value) => Ok(value),
            Output::Json(text) => serde_json::from_str(&text).map_err(|error| {
                ConnectorError::new(
                    ErrorCode::Internal,
                    format!("the connector wrote an output that is not JSON: {error}"),
                )
            }),
        }
    }
}

impl From<Value> for Output {
    fn from(value: Value) -> Self {
        Output::Value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_forms_give_the_same_document() {
        let tree = Output::from(json!({"value": [1, "two"]}));
        assert_eq!(tree.clone().into_json(), r#"{"value":[1,"two"]}"#);
        let text = Output::Json(r#"{"value": [1, "two"]}"#.into());
        assert_eq!(text.into_value().unwrap(), tree.into_value().unwrap());
    }

    #[test]
    fn text_that_is_not_json_is_an_internal_error_not_a_panic() {
        let error = Output::Json("{\"value\":[".into()).into_value().unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
    }
}
