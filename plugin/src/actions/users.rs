//! Users: create, read, update, delete and list (`/users`), directory sync (`delta`),
//! licenses, memberships, owned devices, manager, sign-in sessions and presence.

use super::bulk::GRAPH_BULK_LIMIT;
use super::{entity, reference, resolve_user_id, success, ListQuery, DEFAULT_MAX_ITEMS};
use crate::catalog::Action;
use crate::client::{GraphClient, GraphRequest, GraphResponse};
use crate::error::{ConnectorError, Result};
use crate::input::Input;
use crate::odata::{is_guid, user_segment, Query};
use crate::schema;
use http::Method;
use serde_json::{json, Value};

/// The user actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "users.create",
        title: "Create user",
        description:
            "Creates a work or school account (POST /users), then assigns its manager when `manager` is given.",
        category: "users",
        permissions: &["User.ReadWrite.All"],
        read_only: false,
        input_schema: create_input,
        output_schema: || schema::entity("The created user"),
        run: create,
    },
    Action {
        id: "users.update",
        title: "Update user",
        description: "Updates properties of a user (PATCH /users/{id}) from `jsonBody`.",
        category: "users",
        permissions: &["User.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "id": schema::string("Object id or userPrincipalName of the user"),
                    "userId": schema::string("Same as `id`"),
                    "jsonBody": schema::entity("The user properties to change"),
                }),
                &["jsonBody"],
            )
        },
        output_schema: || schema::success_output(&["userId"]),
        run: update,
    },
    Action {
        id: "users.delete",
        title: "Delete user",
        description: "Deletes a user (DELETE /users/{id}); it stays restorable for 30 days.",
        category: "users",
        permissions: &["User.DeleteRestore.All"],
        read_only: false,
        input_schema: user_id_input,
        output_schema: || schema::success_output(&["userId"]),
        run: delete,
    },
    Action {
        id: "users.get",
        title: "Get user",
        description: "Reads a user (GET /users/{id}) with optional $select and $expand.",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "select": schema::string("Comma-separated properties ($select)"),
                    "expand": schema::string("$expand expression; one with $levels is sent as an advanced query"),
                }),
                &["userId"],
            )
        },
        output_schema: || schema::entity("The user"),
        run: get,
    },
    Action {
        id: "users.list",
        title: "List users",
        description: "Lists users (GET /users), following pages up to maxItems.",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: || schema::object(Value::Object(schema::list_query_properties()), &[]),
        output_schema: || schema::list_output("A user"),
        run: list,
    },
];

fn user_id_input() -> Value {
    schema::object(json!({"userId": schema::string("Object id or userPrincipalName")}), &["userId"])
}

fn create_input() -> Value {
    schema::open_object(
        json!({
            "accountEnabled": {"type": "boolean"},
            "displayName": schema::string("Name shown in the address book"),
            "mailNickname": schema::string("Mail alias (required unless `identities` is given)"),
            "userPrincipalName": schema::string("Sign-in name, e.g. john@contoso.com (required unless `identities` is given)"),
            "passwordProfile": {
                "type": "object",
                "properties": {
                    "password": {"type": "string"},
                    "forceChangePasswordNextSignIn": {"type": "boolean"},
                    "forceChangePasswordNextSignInWithMfa": {"type": "boolean"},
                },
                "required": ["password"],
            },
            "businessPhones": {
                "type": "array",
                "items": {"oneOf": [{"type": "string"}, {"type": "object", "properties": {"businessPhone": {"type": "string"}}}]},
            },
            "manager": schema::string("Object id or userPrincipalName of the manager to assign after creation"),
            "identities": {"type": "array", "items": {"type": "object"}},
        }),
        &["displayName", "passwordProfile"],
    )
}

fn create(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let mut body = input.object().clone();
    input.required_str("displayName")?;
    let profile = input.required_object("passwordProfile")?;
    match profile.get("password") {
        Some(Value::String(p)) if !p.is_empty() => {}
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ConnectorError::invalid_input("`passwordProfile.password` is required"))
        }
        Some(_) => return Err(ConnectorError::invalid_input("`passwordProfile.password` must be a string")),
    }
    if input.get("identities").is_none() {
        input.required_str("userPrincipalName")?;
        input.required_str("mailNickname")?;
    }
    let manager = input.optional_str("manager")?.map(str::to_string);
    body.remove("manager");
    if let Some(phones) = body.get_mut("businessPhones") {
        *phones = business_phones(phones)?;
    }
    let url = client.url("users", &Query::new());
    let created = client.send(&GraphRequest::new(Method::POST, url).json(Value::Object(body)))?.into_object()?;
    if let Some(manager) = manager {
        let user_id = created
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ConnectorError::upstream("Graph created the user but returned no `id`"))?
            .to_string();
        assign_manager(client, &user_id, &manager).map_err(|mut error| {
            error.message = format!(
                "the user was created (id {user_id}) but assigning manager `{manager}` failed: {}",
                error.message
            );
            error
        })?;
    }
    Ok(entity(created))
}

/// `businessPhones` as strings; `{"businessPhone": "..."}` objects (the connector
/// documentation's form) are unwrapped.
fn business_phones(value: &Value) -> Result<Value> {
    let wrong = || {
        ConnectorError::invalid_input(
            "`businessPhones` must be a list of strings or {\"businessPhone\": string} objects",
        )
    };
    let Value::Array(items) = value else {
        return Err(wrong());
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(_) => Ok(item.clone()),
            Value::Object(object) => match object.get("businessPhone") {
                Some(Value::String(phone)) => Ok(json!(phone)),
                _ => Err(wrong()),
            },
            _ => Err(wrong()),
        })
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

/// Assigns a manager: `PUT /users/{id}/manager/$ref` with a reference to the manager's object id.
pub fn assign_manager(client: &mut GraphClient, user_id: &str, manager: &str) -> Result<()> {
    let user_id = resolve_user_id(client, user_id)?;
    let manager_id = resolve_user_id(client, manager)?;
    let url = client.url(&format!("{}/manager/$ref", user_segment(&user_id)), &Query::new());
    let body = json!({"@odata.id": reference(client, "users", &manager_id)});
    client.send(&GraphRequest::new(Method::PUT, url).json(body))?;
    Ok(())
}

fn update(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str_of(&["id", "userId"])?;
    let body = input.required_object("jsonBody")?;
    if body.is_empty() {
        return Err(ConnectorError::invalid_input("`jsonBody` must name at least one property to change"));
    }
    let url = client.url(&user_segment(user), &Query::new());
    client.send(&GraphRequest::new(Method::PATCH, url).json(Value::Object(body.clone())))?;
    Ok(success(&[("userId", user)]))
}

fn delete(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let url = client.url(&user_segment(user), &Query::new());
    client.send(&GraphRequest::new(Method::DELETE, url))?;
    Ok(success(&[("userId", user)]))
}

fn get(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let select = input.optional_str("select")?;
    let expand = input.optional_str("expand")?;
    let mut query = Query::new();
    query.push_opt("$select", select);
    query.push_opt("$expand", expand);
    let eventual = expand.is_some_and(|e| e.to_ascii_lowercase().contains("$levels"));
    if eventual {
        query.push("$count", "true");
    }
    let url = client.url(&user_segment(user), &query);
    Ok(entity(client.get_object(url, eventual)?))
}

fn list(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let list = ListQuery::read(input)?;
    let url = client.url("users", &list.query);
    client.list(url, list.eventual, list.max_items)
}
