//! Reading action inputs: typed accessors whose errors name the field.

use crate::error::{ConnectorError, Result};
use serde_json::{Map, Value};

/// An action's input object.
pub struct Input<'a> {
    object: &'a Map<String, Value>,
}

/// Longest string accepted in any single input field (bytes); longer values are refused
/// before they reach a URL or a request body.
pub const MAX_FIELD_LENGTH: usize = 64 * 1024;

impl<'a> Input<'a> {
    /// Wraps the input, which must be a JSON object.
    pub fn new(value: &'a Value) -> Result<Self> {
        match value {
            Value::Object(object) => Ok(Input { object }),
            _ => Err(ConnectorError::invalid_input("input must be a JSON object")),
        }
    }

    /// The raw object.
    pub fn object(&self) -> &'a Map<String, Value> {
        self.object
    }

    /// The raw value of a member, if present and not null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    /// A required, non-empty string.
    pub fn required_str(&self, name: &str) -> Result<&'a str> {
        self.optional_str(name)?.ok_or_else(|| ConnectorError::invalid_input(format!("`{name}` is required")))
    }

    /// The first present of several names (aliases such as `id`/`userId`).
    pub fn required_str_of(&self, names: &[&str]) -> Result<&'a str> {
        for name in names {
            if let Some(value) = self.optional_str(name)? {
                return Ok(value);
            }
        }
        let listed = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ");
        Err(ConnectorError::invalid_input(format!("{listed} is required")))
    }

    /// An optional string; empty strings count as absent.
    pub fn optional_str(&self, name: &str) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() > MAX_FIELD_LENGTH => Err(ConnectorError::invalid_input(format!(
                "`{name}` is too long ({} bytes; at most {MAX_FIELD_LENGTH})",
                s.len()
            ))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ConnectorError::invalid_input(format!("`{name}` must be a string"))),
        }
    }

    /// An optional whole number, given as a JSON number or a numeric string (`"50"`).
    pub fn optional_u64(&self, name: &str) -> Result<Option<u64>> {
        let wrong = || ConnectorError::invalid_input(format!("`{name}` must be a whole number (0 or more)"));
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15).map(|f| f as u64))
                .map(Some)
                .ok_or_else(wrong),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| wrong()),
            Some(_) => Err(wrong()),
        }
    }

    /// An optional boolean, given as a JSON boolean or `"true"`/`"false"`.
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ConnectorError::invalid_input(format!("`{name}` must be true or false"))),
        }
    }

    /// A required JSON object.
    pub fn required_object(&self, name: &str) -> Result<&'a Map<String, Value>> {
        match self.get(name) {
            Some(Value::Object(object)) => Ok(object),
            None => Err(ConnectorError::invalid_input(format!("`{name}` is required"))),
            Some(_) => Err(ConnectorError::invalid_input(format!("`{name}` must be a JSON object"))),
        }
    }

    /// One of a fixed set of values, compared case-insensitively; returns the canonical spelling.
    pub fn optional_choice(&self, name: &str, choices: &[&'static str]) -> Result<Option<&'static str>> {
        let Some(value) = self.optional_str(name)? else {
            return Ok(None);
        };
        choices.iter().find(|choice| choice.eq_ignore_ascii_case(value)).copied().map(Some).ok_or_else(|| {
            ConnectorError::invalid_input(format!("`{name}` must be one of {} (got `{value}`)", choices.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_arrive_as_numbers_or_strings() {
        let value = json!({"top": "50", "maxItems": 7, "bad": "x"});
        let input = Input::new(&value).unwrap();
        assert_eq!(input.optional_u64("top").unwrap(), Some(50));
        assert_eq!(input.optional_u64("maxItems").unwrap(), Some(7));
        assert!(input.optional_u64("bad").unwrap_err().message.contains("`bad`"));
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let value = json!({"userId": 5});
        let input = Input::new(&value).unwrap();
        assert_eq!(input.required_str("userId").unwrap_err().message, "`userId` must be a string");
        assert_eq!(input.required_str("groupId").unwrap_err().message, "`groupId` is required");
        assert_eq!(input.required_str_of(&["id", "name"]).unwrap_err().message, "`id` or `name` is required");
    }

    #[test]
    fn choices_are_case_insensitive() {
        let value = json!({"type": "Group"});
        let input = Input::new(&value).unwrap();
        assert_eq!(input.optional_choice("type", &["group", "directoryRole"]).unwrap(), Some("group"));
        assert!(input.optional_choice("type", &["user"]).is_err());
    }
}
