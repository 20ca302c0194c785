//! Reading action inputs: typed accessors whose errors name the field.

use crate::error::{ConnectorError, Result};
use crate::graph::odata::dot_segment_problem;
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

    /// An optional string; empty strings count as absent. A member named as an id (`id`,
    /// or a name ending in `Id`: `userId`, `groupId`, `fido2Id`, ...) must not be `.` or `..`.
    pub fn optional_str(&self, name: &str) -> Result<Option<&'a str>> {
        let value = self.any_optional_str(name)?;
        if let Some(problem) = value.filter(|_| is_id_name(name)).and_then(|id| dot_segment_problem(name, id)) {
            return Err(ConnectorError::invalid_input(problem));
        }
        Ok(value)
    }

    /// An optional id that is not named as one (`manager`); refused when it is `.` or `..`.
    pub fn optional_id(&self, name: &str) -> Result<Option<&'a str>> {
        let value = self.any_optional_str(name)?;
        if let Some(problem) = value.and_then(|id| dot_segment_problem(name, id)) {
            return Err(ConnectorError::invalid_input(problem));
        }
        Ok(value)
    }

    /// A list of ids: a JSON list of strings, or one string of ids separated by commas
    /// (`"u1, u2"`), as ACTIONS.md's samples give them. Ids are trimmed and deduplicated in
    /// the order given; blank pieces of a comma-separated string are skipped. A list item
    /// holding a comma, a blank list item and a `.`/`..` id are refused, named as
    /// `name[index]`. `None` when the member is absent.
    pub fn id_list(&self, name: &str) -> Result<Option<Vec<String>>> {
        let mut ids: Vec<String> = Vec::new();
        let mut push = |index: usize, id: &str| -> Result<()> {
            let id = id.trim();
            let field = format!("{name}[{index}]");
            if let Some(problem) = dot_segment_problem(&field, id) {
                return Err(ConnectorError::invalid_input(problem));
            }
            if id.len() > MAX_FIELD_LENGTH {
                return Err(ConnectorError::invalid_input(format!("`{field}` is too long")));
            }
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_string());
            }
            Ok(())
        };
        match self.get(name) {
            None => return Ok(None),
            Some(Value::String(text)) => {
                for (index, id) in text.split(',').filter(|id| !id.trim().is_empty()).enumerate() {
                    push(index, id)?;
                }
            }
            Some(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    match item {
                        Value::String(id) if id.contains(',') => {
                            return Err(ConnectorError::invalid_input(format!(
                                "`{name}[{index}]` holds a comma; give one id per list item, or all of them as one \
                                 comma-separated string"
                            )))
                        }
                        Value::String(id) if !id.trim().is_empty() => push(index, id)?,
                        _ => {
                            return Err(ConnectorError::invalid_input(format!(
                                "`{name}[{index}]` must be a non-empty id string"
                            )))
                        }
                    }
                }
            }
            Some(_) => {
                return Err(ConnectorError::invalid_input(format!(
                    "`{name}` must be a list of ids or a comma-separated string of ids"
                )))
            }
        }
        Ok(Some(ids))
    }

    /// An optional string of any member, without the id checks.
    fn any_optional_str(&self, name: &str) -> Result<Option<&'a str>> {
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

/// True for a member that names an object by id: `id`, or a camelCase name ending in `Id`.
fn is_id_name(name: &str) -> bool {
    name == "id" || name.ends_with("Id")
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
    fn id_lists_take_lists_or_comma_separated_strings() {
        let value =
            json!({"a": "u1, u2,,u1 ", "b": ["u1", " u2 "], "c": ["u1,u2"], "d": [""], "e": 5, "f": ["x", ".."]});
        let input = Input::new(&value).unwrap();
        assert_eq!(input.id_list("a").unwrap(), Some(vec!["u1".to_string(), "u2".to_string()]));
        assert_eq!(input.id_list("b").unwrap(), Some(vec!["u1".to_string(), "u2".to_string()]));
        assert!(input.id_list("c").unwrap_err().message.starts_with("`c[0]` holds a comma"));
        assert_eq!(input.id_list("d").unwrap_err().message, "`d[0]` must be a non-empty id string");
        assert_eq!(
            input.id_list("e").unwrap_err().message,
            "`e` must be a list of ids or a comma-separated string of ids"
        );
        assert_eq!(input.id_list("f").unwrap_err().message, "`f[1]` must not be `..`: a dot segment is not an id");
        assert_eq!(input.id_list("absent").unwrap(), None);
    }

    #[test]
    fn id_members_refuse_dot_segments_and_other_members_do_not() {
        let value = json!({"userId": "..", "id": ".", "displayName": "..", "manager": ".."});
        let input = Input::new(&value).unwrap();
        assert_eq!(
            input.required_str("userId").unwrap_err().message,
            "`userId` must not be `..`: a dot segment is not an id"
        );
        assert_eq!(input.required_str("id").unwrap_err().message, "`id` must not be `.`: a dot segment is not an id");
        assert_eq!(input.required_str("displayName").unwrap(), "..");
        assert!(input.optional_id("manager").is_err());
    }

    #[test]
    fn choices_are_case_insensitive() {
        let value = json!({"type": "Group"});
        let input = Input::new(&value).unwrap();
        assert_eq!(input.optional_choice("type", &["group", "directoryRole"]).unwrap(), Some("group"));
        assert!(input.optional_choice("type", &["user"]).is_err());
    }
}
