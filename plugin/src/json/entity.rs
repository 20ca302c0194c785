//! One object passed through as the JSON text Graph wrote: what the read actions
//! (`users.get`, `groups.get`, ...) return, without building a tree in the sandbox.

use crate::json::output::Output;
use crate::json::raw_json::{object_members, BodyError};

/// An object Graph returned, as the text it wrote (members in their order, values as
/// written), less `@odata.context`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity(String);

impl Entity {
    /// The object in `body`.
    pub fn parse(body: &[u8]) -> Result<Entity, BodyError> {
        let mut members = object_members(body)?;
        members.take("@odata.context");
        Ok(Entity(members.to_json()))
    }

    /// The JSON text.
    pub fn into_json(self) -> String {
        self.0
    }
}

impl From<Entity> for Output {
    fn from(entity: Entity) -> Self {
        Output::Json(entity.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn an_entity_keeps_what_graph_wrote_but_its_context() {
        let body = br#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                        "id":"a","displayName":"Zo\u00eb","a\"quote":1.50,"nested":{"z":1,"a":2}}"#;
        let entity = Entity::parse(body).unwrap().into_json();
        assert_eq!(entity, r#"{"id":"a","displayName":"Zo\u00eb","a\"quote":1.50,"nested":{"z":1,"a":2}}"#);
        assert_eq!(
            serde_json::from_str::<Value>(&entity).unwrap(),
            json!({"id": "a", "displayName": "Zoë", "a\"quote": 1.5, "nested": {"z": 1, "a": 2}})
        );
        assert_eq!(Entity::parse(b"{}").unwrap().into_json(), "{}");
        assert_eq!(Entity::parse(br#"{"@odata.context":"c"}"#).unwrap().into_json(), "{}");
    }

    #[test]
    fn bodies_that_are_not_objects_are_not_entities() {
        assert_eq!(Entity::parse(b"").unwrap_err(), BodyError::Empty);
        assert_eq!(Entity::parse(b"[1]").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(Entity::parse(b"{\"id\":").unwrap_err(), BodyError::NotJson);
        assert_eq!(Entity::parse(br#"{"name":"\udfff"}"#).unwrap_err(), BodyError::NotJson);
    }
}
