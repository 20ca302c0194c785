//! Users: create, read, update, delete and list (`/users`), directory sync (`delta`),
//! licenses, memberships, owned devices, manager, sign-in sessions and presence.

use super::bulk::GRAPH_BULK_LIMIT;
use super::{delta_round, entity, reference, resolve_user_id, success, ListQuery, DEFAULT_MAX_ITEMS};
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, Result};
use crate::graph::client::{GraphClient, GraphRequest, GraphResponse};
use crate::graph::odata::{encode_segment, is_guid, quote_literal, user_segment, Query};
use crate::json::entity::Entity;
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::schema;
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
        run: Handler::Value(create),
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
        run: Handler::Value(update),
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
        run: Handler::Value(delete),
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
        run: Handler::Entity(get),
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
        run: Handler::Listing(list),
    },
    Action {
        id: "users.delta",
        title: "Sync users (delta)",
        description: "Directory sync of users (GET /users/delta): a first call reads every user across pages and \
                      ends with a `deltaLink`; passing that `deltaLink` later returns only what changed since. A \
                      `nextLink` from an output cut by `maxItems` can be passed as `deltaLink` to resume.",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "deltaLink": schema::string("The deltaLink (or nextLink) of an earlier output; omit for a full sync"),
                    "select": schema::string("Comma-separated properties ($select) of a full sync; a deltaLink carries its own"),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &[],
            )
        },
        output_schema: delta_output,
        run: Handler::Listing(delta),
    },
    Action {
        id: "users.assign-licenses",
        title: "Assign licenses",
        description:
            "Adds and removes license subscriptions of a user (POST /users/{id}/assignLicense); returns the user.",
        category: "users",
        permissions: &["LicenseAssignment.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "addLicenses": {
                        "type": "array",
                        "description": "Licenses to add: {skuId, disabledPlans?} objects (a bare skuId string is accepted too)",
                        "items": {"oneOf": [
                            {"type": "string"},
                            {"type": "object", "properties": {
                                "skuId": schema::string("SKU id (GUID)"),
                                "disabledPlans": schema::strings("Service plan ids (GUIDs) to leave disabled"),
                            }, "required": ["skuId"]},
                        ]},
                    },
                    "removeLicenses": schema::ids("SKU ids (GUIDs) to remove"),
                }),
                &["userId"],
            )
        },
        output_schema: || schema::entity("The user"),
        run: Handler::Value(assign_licenses),
    },
    Action {
        id: "users.list-licenses",
        title: "List license details",
        description: "Lists the licenses assigned to a user with their service plans (GET /users/{id}/licenseDetails).",
        category: "users",
        permissions: &["LicenseAssignment.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &["userId"],
            )
        },
        output_schema: || schema::list_output("A licenseDetails object"),
        run: Handler::Listing(list_licenses),
    },
    Action {
        id: "users.list-memberships",
        title: "List memberships",
        description: "Lists the groups, directory roles and administrative units a user is a direct member of \
                      (GET /users/{id}/memberOf), optionally only one `type` (OData cast).",
        category: "users",
        permissions: &["Directory.Read.All"],
        read_only: true,
        input_schema: memberships_input,
        output_schema: || schema::list_output("A group, directoryRole or administrativeUnit, with @odata.type"),
        run: Handler::Listing(list_memberships),
    },
    Action {
        id: "users.get-member-groups",
        title: "Get member groups",
        description: "Returns the ids of every group the user is a member of, directly or transitively \
                      (POST /users/{id}/getMemberGroups).",
        category: "users",
        permissions: &["User.Read.All", "GroupMember.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "securityEnabledOnly": schema::boolean("Only security-enabled groups (default true)"),
                }),
                &["userId"],
            )
        },
        output_schema: group_ids_output,
        run: Handler::Value(get_member_groups),
    },
    Action {
        id: "users.check-member-groups",
        title: "Check member groups",
        description: "Returns which of the given groups the user is a member of, directly or transitively \
                      (POST /users/{id}/checkMemberGroups, 20 ids a call).",
        category: "users",
        permissions: &["User.Read.All", "GroupMember.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "groupIds": schema::ids("Group object ids (GUIDs) to check"),
                }),
                &["userId", "groupIds"],
            )
        },
        output_schema: group_ids_output,
        run: Handler::Value(check_member_groups),
    },
    Action {
        id: "users.list-owned-devices",
        title: "List owned devices",
        description: "Lists the devices a user owns (GET /users/{id}/ownedDevices).",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: || {
            let mut properties = schema::list_query_properties();
            properties.insert("userId".into(), schema::string("Object id or userPrincipalName"));
            schema::object(Value::Object(properties), &["userId"])
        },
        output_schema: || schema::list_output("A device"),
        run: Handler::Listing(list_owned_devices),
    },
    Action {
        id: "users.assign-manager",
        title: "Assign manager",
        description:
            "Sets a user's manager (PUT /users/{id}/manager/$ref); userPrincipalNames are resolved to object ids.",
        category: "users",
        permissions: &["User.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName of the user"),
                    "managerId": schema::string("Object id or userPrincipalName of the manager"),
                }),
                &["userId", "managerId"],
            )
        },
        output_schema: || schema::success_output(&["userId", "managerId"]),
        run: Handler::Value(assign_manager_action),
    },
    Action {
        id: "users.get-manager",
        title: "Get manager",
        description: "Reads a user's manager (GET /users/{id}/manager); a user without manager is not-found.",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: user_id_input,
        output_schema: || schema::entity("The manager (a user or an organizational contact)"),
        run: Handler::Entity(get_manager),
    },
    Action {
        id: "users.revoke-sessions",
        title: "Revoke sign-in sessions",
        description: "Invalidates a user's refresh tokens and session cookies (POST /users/{id}/revokeSignInSessions).",
        category: "users",
        permissions: &["User.RevokeSessions.All"],
        read_only: false,
        input_schema: user_id_input,
        output_schema: || schema::success_output(&["userId"]),
        run: Handler::Value(revoke_sessions),
    },
    Action {
        id: "users.get-presence",
        title: "Get presence",
        description: "Reads a user's Teams presence (GET /users/{id}/presence); a userPrincipalName is first \
                      resolved to the object id Graph requires (which also needs User.ReadBasic.All).",
        category: "users",
        permissions: &["Presence.Read.All"],
        read_only: true,
        input_schema: user_id_input,
        output_schema: || schema::entity("The presence: {id, availability, activity}"),
        run: Handler::Entity(get_presence),
    },
    Action {
        id: "users.disable",
        title: "Disable user",
        description:
            "Blocks a user's sign-in (PATCH /users/{id} `{\"accountEnabled\": false}`); with `revokeSessions`, \
                      then invalidates the user's refresh tokens and session cookies (POST \
                      /users/{id}/revokeSignInSessions). The account is disabled first, so no new session starts \
                      between the two calls; a revocation that fails after that is reported with `success: false` \
                      and `revokeError`, the account staying disabled. Revocation can take a few minutes and does \
                      not reach a guest's home-tenant sessions. Changing `accountEnabled` of an account that holds \
                      an admin role needs a sufficiently privileged directory role as well.",
        category: "users",
        permissions: &["User.EnableDisableAccount.All", "User.Read.All", "User.RevokeSessions.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "revokeSessions": schema::boolean(
                        "Also revoke the user's sign-in sessions (default false; needs User.RevokeSessions.All)"
                    ),
                }),
                &["userId"],
            )
        },
        output_schema: disable_output,
        run: Handler::Value(disable),
    },
    Action {
        id: "users.enable",
        title: "Enable user",
        description: "Allows a user to sign in again (PATCH /users/{id} `{\"accountEnabled\": true}`).",
        category: "users",
        permissions: &["User.EnableDisableAccount.All", "User.Read.All"],
        read_only: false,
        input_schema: user_id_input,
        output_schema: || account_enabled_output(false),
        run: Handler::Value(enable),
    },
    Action {
        id: "users.list-direct-reports",
        title: "List direct reports",
        description: "Lists the users and organizational contacts who report to a user, one level only \
                      (GET /users/{id}/directReports); each item carries its @odata.type.",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: || {
            let mut properties = schema::list_query_properties_of(&["select", "filter", "count", "top", "maxItems"]);
            properties.insert("userId".into(), schema::string("Object id or userPrincipalName"));
            schema::object(Value::Object(properties), &["userId"])
        },
        output_schema: || schema::list_output("A user or organizational contact, with @odata.type"),
        run: Handler::Listing(list_direct_reports),
    },
    Action {
        id: "users.list-transitive-memberships",
        title: "List transitive memberships",
        description: "Lists the groups, directory roles and administrative units a user is a member of, directly or \
                      through nested groups (GET /users/{id}/transitiveMemberOf), optionally only one `type` (OData \
                      cast). Groups come with their properties only with GroupMember.Read.All, roles and \
                      administrative units with Directory.Read.All (otherwise `@odata.type` and `id` only).",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: memberships_input,
        output_schema: || schema::list_output("A group, directoryRole or administrativeUnit, with @odata.type"),
        run: Handler::Listing(list_transitive_memberships),
    },
    Action {
        id: "users.list-deleted",
        title: "List deleted users",
        description: "Lists deleted users, restorable for 30 days after deletion \
                      (GET /directory/deletedItems/microsoft.graph.user). `count`, `search` or `orderby` (e.g. \
                      `deletedDateTime desc`) are sent as advanced queries (ConsistencyLevel: eventual).",
        category: "users",
        permissions: &["User.Read.All"],
        read_only: true,
        input_schema: || {
            let names = ["filter", "count", "search", "orderby", "select", "top", "maxItems"];
            schema::object(Value::Object(schema::list_query_properties_of(&names)), &[])
        },
        output_schema: || schema::list_output("A deleted user, with deletedDateTime"),
        run: Handler::Listing(list_deleted),
    },
    Action {
        id: "users.restore",
        title: "Restore deleted user",
        description: "Restores a deleted user (POST /directory/deletedItems/{id}/restore) by its object id, as \
                      users.list-deleted gives it; `autoReconcileProxyConflict` and `newUserPrincipalName` are sent \
                      when given. A userPrincipalName is refused: a deleted user is not found under /users.",
        category: "users",
        permissions: &["User.DeleteRestore.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id of the deleted user (from users.list-deleted)"),
                    "autoReconcileProxyConflict": schema::boolean(
                        "Remove proxy addresses that now belong to another object instead of failing"
                    ),
                    "newUserPrincipalName": schema::string(
                        "A new userPrincipalName, when the old one was taken by another user meanwhile"
                    ),
                }),
                &["userId"],
            )
        },
        output_schema: || schema::entity("The restored user"),
        run: Handler::Value(restore),
    },
];

/// The input of `users.list-memberships` and `users.list-transitive-memberships`.
fn memberships_input() -> Value {
    let mut properties = schema::list_query_properties();
    properties.insert("userId".into(), schema::string("Object id or userPrincipalName"));
    properties.insert("type".into(), schema::choice("Only memberships of this kind (OData cast)", MEMBERSHIP_TYPES));
    schema::object(Value::Object(properties), &["userId"])
}

/// `{"success", "userId", "accountEnabled"}`, plus what `users.disable` adds when `disable`.
fn account_enabled_output(disable: bool) -> Value {
    let mut output = schema::object(
        json!({
            "success": schema::boolean_output("True when every call succeeded"),
            "userId": schema::string("Id from the input"),
            "accountEnabled": schema::boolean_output("The account's state now"),
        }),
        &["success", "userId", "accountEnabled"],
    );
    if disable {
        output["properties"]["sessionsRevoked"] = schema::boolean_output("True when the sign-in sessions were revoked");
        output["properties"]["revokeError"] = json!({
            "type": "object",
            "description": "The typed error of a revocation that failed after the account was disabled",
        });
        output["required"] = json!(["success", "userId", "accountEnabled", "sessionsRevoked"]);
    }
    output
}

fn disable_output() -> Value {
    account_enabled_output(true)
}

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
    let manager = input.optional_id("manager")?.map(str::to_string);
    body.remove("manager");
    if let Some(phones) = body.get_mut("businessPhones") {
        *phones = business_phones(phones)?;
    }
    let url = client.url("users", &Query::new());
    let request = GraphRequest::new(Method::POST, url).json(Value::Object(body));
    // The userPrincipalName is unique in the tenant: after an unknown outcome, a user holding
    // it is the one this create made. Without one (B2C `identities`), nothing is re-sent.
    let created = match input.optional_str("userPrincipalName")? {
        Some(upn) => {
            let filter = format!("userPrincipalName eq {}", quote_literal(upn));
            client.create(&request, &|client| client.find_first("users", &filter, None))?
        }
        None => client.send(&request)?.into_object()?,
    };
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
    let user = match (input.optional_str("id")?, input.optional_str("userId")?) {
        (Some(id), Some(user_id)) if !id.trim().eq_ignore_ascii_case(user_id.trim()) => {
            return Err(ConnectorError::invalid_input(format!(
                "`id` (`{id}`) and `userId` (`{user_id}`) name different users; give one of them"
            )))
        }
        (Some(id), _) => id,
        (None, Some(user_id)) => user_id,
        (None, None) => return Err(ConnectorError::invalid_input("`id` or `userId` is required")),
    };
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

fn get(client: &mut GraphClient, input: &Input) -> Result<Entity> {
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
    client.get_entity(url, eventual)
}

fn list(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let list = ListQuery::read(input)?;
    let url = client.url("users", &list.query);
    client.list(url, list.eventual, list.max_items)
}

/// The OData casts `users.list-memberships` accepts as `type`.
const MEMBERSHIP_TYPES: &[&str] = &["group", "directoryRole", "administrativeUnit"];

fn delta_output() -> Value {
    let mut output = schema::list_output("A user, or `{id, @removed}` for a deleted one");
    output["properties"]["deltaLink"] =
        schema::string("Pass back as `deltaLink` to get only the changes since this sync (present on the last page)");
    output
}

fn group_ids_output() -> Value {
    schema::object(json!({"value": schema::strings("Group object ids")}), &["value"])
}

/// The URL of a path below a user: `users/{id}/{tail}`.
fn user_url(client: &GraphClient, user: &str, tail: &str, query: &Query) -> String {
    client.url(&format!("{}/{tail}", user_segment(user)), query)
}

fn delta(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let mut query = Query::new();
    query.push_opt("$select", input.optional_str("select")?);
    delta_round(client, input, "users", query, &["select"], Vec::new())
}

fn assign_licenses(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let add = licenses_to_add(input.get("addLicenses"))?;
    let remove = guid_list(input.get("removeLicenses"), "removeLicenses")?;
    if add.is_empty() && remove.is_empty() {
        return Err(ConnectorError::invalid_input("`addLicenses` or `removeLicenses` must name at least one license"));
    }
    // Graph refuses the call when either array is missing, so both are always sent.
    let body = json!({"addLicenses": add, "removeLicenses": remove});
    let url = user_url(client, user, "assignLicense", &Query::new());
    // Assigning the same licenses twice leaves the same state.
    Ok(entity(client.send(&GraphRequest::new(Method::POST, url).json(body).idempotent())?.into_object()?))
}

/// `addLicenses` as Graph's `assignedLicense` objects, `disabledPlans` always present.
fn licenses_to_add(value: Option<&Value>) -> Result<Vec<Value>> {
    let items = array_of(value, "addLicenses")?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let field = format!("addLicenses[{index}]");
            let (sku, disabled) = match item {
                Value::String(sku) => (sku.as_str(), Vec::new()),
                Value::Object(license) => {
                    let sku = match license.get("skuId") {
                        Some(Value::String(sku)) => sku.as_str(),
                        _ => return Err(ConnectorError::invalid_input(format!("`{field}.skuId` is required"))),
                    };
                    (sku, guid_list(license.get("disabledPlans"), &format!("{field}.disabledPlans"))?)
                }
                _ => {
                    return Err(ConnectorError::invalid_input(format!(
                        "`{field}` must be a {{\"skuId\", \"disabledPlans\"?}} object or a skuId string"
                    )))
                }
            };
            let sku = checked_guid(sku, &format!("{field}.skuId"))?;
            Ok(json!({"disabledPlans": disabled, "skuId": sku}))
        })
        .collect()
}

/// The members of an optional array field (absent or null = none).
fn array_of<'a>(value: Option<&'a Value>, field: &str) -> Result<&'a [Value]> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(ConnectorError::invalid_input(format!("`{field}` must be a list"))),
    }
}

/// An optional list of GUID strings (a list, or one comma-separated string, like every id
/// list); the error names the offending element.
fn guid_list(value: Option<&Value>, field: &str) -> Result<Vec<String>> {
    if let Some(Value::String(text)) = value {
        return text
            .split(',')
            .filter(|id| !id.trim().is_empty())
            .enumerate()
            .map(|(index, id)| checked_guid(id, &format!("{field}[{index}]")))
            .collect();
    }
    array_of(value, field)?
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(id) => checked_guid(id, &format!("{field}[{index}]")),
            _ => Err(ConnectorError::invalid_input(format!("`{field}[{index}]` must be a string"))),
        })
        .collect()
}

fn checked_guid(value: &str, field: &str) -> Result<String> {
    let value = value.trim();
    if is_guid(value) {
        Ok(value.to_string())
    } else {
        Err(ConnectorError::invalid_input(format!("`{field}` must be a GUID (got `{value}`)")))
    }
}

fn list_licenses(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let user = input.required_str("userId")?;
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    let url = user_url(client, user, "licenseDetails", &Query::new());
    client.list(url, false, max_items)
}

fn list_memberships(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    list_membership_relationship(client, input, "memberOf")
}

fn list_transitive_memberships(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    list_membership_relationship(client, input, "transitiveMemberOf")
}

/// Lists `memberOf` or `transitiveMemberOf`, cast to one `type` when given.
fn list_membership_relationship(client: &mut GraphClient, input: &Input, relationship: &str) -> Result<Listing> {
    let user = input.required_str("userId")?;
    let tail = match input.optional_choice("type", MEMBERSHIP_TYPES)? {
        Some(kind) => format!("{relationship}/microsoft.graph.{kind}"),
        None => relationship.to_string(),
    };
    list_relationship(client, input, user, &tail)
}

fn list_owned_devices(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let user = input.required_str("userId")?;
    list_relationship(client, input, user, "ownedDevices")
}

/// Lists a directory relationship of a user. On relationships, `$filter` and `$orderby` are
/// advanced queries (ConsistencyLevel plus `$count=true`), on top of what [`ListQuery`] decides;
/// a plain OData cast is sent without them, as Microsoft's examples do.
fn list_relationship(client: &mut GraphClient, input: &Input, user: &str, tail: &str) -> Result<Listing> {
    let mut list = ListQuery::read(input)?;
    if list.query.has("$filter") || list.query.has("$orderby") {
        list.advanced();
    }
    let url = user_url(client, user, tail, &list.query);
    client.list(url, list.eventual, list.max_items)
}

fn get_member_groups(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    // Older Graph pages allowed only `true` for users; it is the safe default.
    let security_enabled_only = input.optional_bool("securityEnabledOnly")?.unwrap_or(true);
    let url = user_url(client, user, "getMemberGroups", &Query::new());
    let request = GraphRequest::new(Method::POST, url).json(json!({"securityEnabledOnly": security_enabled_only}));
    let response = client.send(&request.idempotent())?;
    Ok(json!({"value": string_values(response)?}))
}

fn check_member_groups(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let mut group_ids = guid_list(input.get("groupIds"), "groupIds")?;
    if group_ids.is_empty() {
        return Err(ConnectorError::invalid_input("`groupIds` must name at least one group"));
    }
    let mut seen = std::collections::HashSet::new();
    group_ids.retain(|id| seen.insert(id.to_ascii_lowercase()));
    let url = user_url(client, user, "checkMemberGroups", &Query::new());
    let mut matched = Vec::new();
    for chunk in group_ids.chunks(GRAPH_BULK_LIMIT) {
        let request = GraphRequest::new(Method::POST, url.clone()).json(json!({"groupIds": chunk})).idempotent();
        matched.extend(string_values(client.send(&request)?)?);
    }
    Ok(json!({"value": matched}))
}

/// The `value` of a `Collection(Edm.String)` answer (getMemberGroups, checkMemberGroups).
fn string_values(response: GraphResponse) -> Result<Vec<Value>> {
    let status = response.status;
    match response.into_object()?.remove("value") {
        Some(Value::Array(values)) if values.iter().all(Value::is_string) => Ok(values),
        _ => Err(ConnectorError::upstream("Graph answered without a `value` list of ids").with_status(status)),
    }
}

fn assign_manager_action(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let manager = input.required_str("managerId")?;
    assign_manager(client, user, manager)?;
    Ok(success(&[("userId", user), ("managerId", manager)]))
}

fn get_manager(client: &mut GraphClient, input: &Input) -> Result<Entity> {
    let user = input.required_str("userId")?.to_string();
    get_user_entity(client, &user, "manager")
}

fn get_presence(client: &mut GraphClient, input: &Input) -> Result<Entity> {
    // Presence is addressed by object id only.
    let user = resolve_user_id(client, input.required_str("userId")?)?;
    get_user_entity(client, &user, "presence")
}

/// `GET /users/{id}/{tail}`, answered with one object.
fn get_user_entity(client: &mut GraphClient, user: &str, tail: &str) -> Result<Entity> {
    let url = user_url(client, user, tail, &Query::new());
    client.get_entity(url, false)
}

fn revoke_sessions(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    revoke_sign_in_sessions(client, user)?;
    Ok(success(&[("userId", user)]))
}

/// `POST /users/{id}/revokeSignInSessions`: sets the user's sessions' valid-from time, so
/// sending it twice is sending it once.
fn revoke_sign_in_sessions(client: &mut GraphClient, user: &str) -> Result<()> {
    let url = user_url(client, user, "revokeSignInSessions", &Query::new());
    let response = client.send(&GraphRequest::new(Method::POST, url).idempotent())?;
    // Graph documents 204 but answers 200 `{"value": true}` (a known issue); both succeed.
    let revoked = match &response.body {
        None => true,
        Some(body) => body.get("value").and_then(Value::as_bool).unwrap_or(true),
    };
    if !revoked {
        return Err(ConnectorError::upstream("Graph answered that the sign-in sessions were not revoked")
            .with_status(response.status));
    }
    Ok(())
}

/// Sets `accountEnabled` (PATCH /users/{id}, 204) and returns `{"success": true, "userId",
/// "accountEnabled"}`.
fn set_account_enabled(client: &mut GraphClient, user: &str, enabled: bool) -> Result<Value> {
    let url = client.url(&user_segment(user), &Query::new());
    client.send(&GraphRequest::new(Method::PATCH, url).json(json!({"accountEnabled": enabled})))?;
    Ok(json!({"success": true, "userId": user, "accountEnabled": enabled}))
}

fn enable(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    set_account_enabled(client, user, true)
}

fn disable(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let revoke = input.optional_bool("revokeSessions")?.unwrap_or(false);
    // Disabled first: no new session can start between the two calls. A failed PATCH is
    // the action's error, and nothing is revoked.
    let mut output = set_account_enabled(client, user, false)?;
    let revoked = match revoke.then(|| revoke_sign_in_sessions(client, user)) {
        None => false,
        Some(Ok(())) => true,
        Some(Err(error)) => {
            // The account stays disabled: the caller learns which half failed and why.
            output["success"] = json!(false);
            output["revokeError"] = error.to_json();
            false
        }
    };
    output["sessionsRevoked"] = json!(revoked);
    Ok(output)
}

fn list_direct_reports(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let user = input.required_str("userId")?;
    list_relationship(client, input, user, "directReports")
}

fn list_deleted(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let mut list = ListQuery::read(input)?;
    // Graph needs the advanced query to order deleted items (by `deletedDateTime`).
    if list.query.has("$orderby") {
        list.advanced();
    }
    // The cast is required: Graph lists deleted items of one type at a time.
    let url = client.url("directory/deletedItems/microsoft.graph.user", &list.query);
    client.list(url, list.eventual, list.max_items)
}

fn restore(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    if user.contains('@') {
        return Err(ConnectorError::invalid_input(format!(
            "`userId` must be the object id of the deleted user, not a userPrincipalName (`{user}`): a deleted user \
             is not found under /users, so take its `id` from users.list-deleted"
        )));
    }
    let mut body = serde_json::Map::new();
    if let Some(reconcile) = input.optional_bool("autoReconcileProxyConflict")? {
        body.insert("autoReconcileProxyConflict".into(), json!(reconcile));
    }
    if let Some(upn) = input.optional_str("newUserPrincipalName")? {
        body.insert("newUserPrincipalName".into(), json!(upn));
    }
    let url = client.url(&format!("directory/deletedItems/{}/restore", encode_segment(user)), &Query::new());
    let mut request = GraphRequest::new(Method::POST, url);
    if !body.is_empty() {
        request = request.json(Value::Object(body));
    }
    // Restoring creates nothing: sent again after an unknown outcome, it restores the user
    // or finds it restored already (Graph then answers not-found).
    let response = client.send(&request.idempotent())?;
    match response.body {
        None => Ok(success(&[("userId", user)])),
        Some(_) => Ok(entity(response.into_object()?)),
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use crate::ErrorCode;
    use serde_json::{json, Value};

    const USER: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";

    fn run(
        script: ScriptedTransport,
        action: &str,
        input: Value,
    ) -> (Result<Value, crate::ConnectorError>, Vec<crate::graph::transport::HttpRequest>) {
        let (mut connector, log) = connected(token_config(), script);
        let result = connector.invoke(action, &input.to_string());
        let sent = log.borrow().clone();
        (result, sent)
    }

    fn guid(n: usize) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    #[test]
    fn dot_segment_ids_are_refused_naming_the_field() {
        for (action, input, field) in [
            ("users.delete", json!({"userId": ".."}), "userId"),
            ("users.get", json!({"userId": "."}), "userId"),
            ("users.update", json!({"id": "..", "jsonBody": {"jobTitle": "x"}}), "id"),
            ("users.assign-manager", json!({"userId": USER, "managerId": ".."}), "managerId"),
            (
                "users.create",
                json!({"displayName": "A", "userPrincipalName": "a@contoso.com", "mailNickname": "a",
                                    "passwordProfile": {"password": "P@ssw0rd-1234"}, "manager": ".."}),
                "manager",
            ),
        ] {
            let (result, sent) = run(ScriptedTransport::new(), action, input);
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput, "{action}");
            let named = error.message.contains(&format!("`{field}` must not be `"));
            assert!(named, "{action}: {}", error.message);
            assert!(
                sent.is_empty(),
                "{action} sent {:?}",
                sent.iter().map(|r| r.uri().to_string()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn update_refuses_different_id_and_user_id() {
        let input = json!({"id": USER, "userId": "adele@contoso.com", "jsonBody": {"jobTitle": "x"}});
        let (result, sent) = run(ScriptedTransport::new(), "users.update", input);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert_eq!(
            error.message,
            format!("`id` (`{USER}`) and `userId` (`adele@contoso.com`) name different users; give one of them")
        );
        assert!(sent.is_empty());
        // The same user under both names is no contradiction.
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let input = json!({"id": USER, "userId": USER, "jsonBody": {"jobTitle": "x"}});
        let (result, sent) = run(script, "users.update", input);
        assert_eq!(result.unwrap(), json!({"success": true, "userId": USER}));
        assert_eq!(sent[0].uri(), format!("https://graph.microsoft.com/v1.0/users/{USER}"));
    }

    #[test]
    fn check_member_groups_splits_a_comma_separated_string_like_every_id_list() {
        let script = ScriptedTransport::new().respond(200, json!({"value": [guid(2)]}));
        let input = json!({"userId": USER, "groupIds": format!("{}, {}", guid(1), guid(2))});
        let (result, sent) = run(script, "users.check-member-groups", input);
        assert_eq!(result.unwrap()["value"], json!([guid(2)]));
        assert_eq!(body_json(&sent[0]), json!({"groupIds": [guid(1), guid(2)]}));
    }

    #[test]
    fn delta_follows_pages_to_the_delta_link_then_syncs_from_it() {
        let next = "https://graph.microsoft.com/v1.0/users/delta?$skiptoken=page2";
        let delta_link = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=tok1";
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": "1"}], "@odata.nextLink": next}))
            .respond(200, json!({"value": [{"id": "2"}], "@odata.deltaLink": delta_link}))
            .respond(200, json!({"value": [{"id": "1", "@removed": {"reason": "changed"}}], "@odata.deltaLink": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=tok2"}));
        let (mut connector, log) = connected(token_config(), script);
        let first = connector.invoke("users.delta", r#"{"select": "displayName,mail"}"#).unwrap();
        assert_eq!(first, json!({"value": [{"id": "1"}, {"id": "2"}], "deltaLink": delta_link}));
        let second = connector.invoke("users.delta", &json!({"deltaLink": delta_link}).to_string()).unwrap();
        assert_eq!(second["deltaLink"], "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=tok2");
        let sent = log.borrow();
        let urls: Vec<String> = sent.iter().map(|r| r.uri().to_string()).collect();
        assert_eq!(urls, ["https://graph.microsoft.com/v1.0/users/delta?$select=displayName,mail", next, delta_link]);
        assert!(sent.iter().all(|r| r.method() == http::Method::GET && r.header_value("consistencylevel").is_none()));
    }

    #[test]
    fn delta_links_to_other_hosts_or_paths_are_refused_before_any_request() {
        for link in [
            "https://evil.example/v1.0/users/delta?$deltatoken=x",
            "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=x",
            "https://graph.microsoft.com/v1.0/users/delta",
            "not a url",
        ] {
            let (result, sent) = run(ScriptedTransport::new(), "users.delta", json!({"deltaLink": link}));
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput, "{link}");
            assert!(error.message.contains("`deltaLink`"), "{link}");
            assert!(sent.is_empty());
        }
        let (result, _) = run(
            ScriptedTransport::new(),
            "users.delta",
            json!({"deltaLink": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x", "select": "id"}),
        );
        assert!(result.unwrap_err().message.contains("`select`"));
    }

    #[test]
    fn assign_licenses_always_sends_both_arrays() {
        let sku = "45715bb8-13f9-4bf6-927f-ef96c102d394";
        let script = ScriptedTransport::new().respond(200, json!({"@odata.context": "x", "id": USER}));
        let (result, sent) =
            run(script, "users.assign-licenses", json!({"userId": USER, "addLicenses": [{"skuId": sku}]}));
        assert_eq!(result.unwrap(), json!({"id": USER}));
        assert_eq!(sent[0].uri(), format!("https://graph.microsoft.com/v1.0/users/{USER}/assignLicense").as_str());
        assert_eq!(
            body_json(&sent[0]),
            json!({"addLicenses": [{"disabledPlans": [], "skuId": sku}], "removeLicenses": []})
        );
    }

    #[test]
    fn assign_licenses_names_the_bad_guid_and_sends_nothing() {
        let cases = [
            (json!({"userId": USER, "addLicenses": [{"skuId": "E5"}]}), "`addLicenses[0].skuId`"),
            (
                json!({"userId": USER, "addLicenses": [{"skuId": USER, "disabledPlans": ["x"]}]}),
                "`addLicenses[0].disabledPlans[0]`",
            ),
            (json!({"userId": USER, "removeLicenses": [USER, "nope"]}), "`removeLicenses[1]`"),
            (json!({"userId": USER, "removeLicenses": []}), "at least one license"),
        ];
        for (input, named) in cases {
            let (result, sent) = run(ScriptedTransport::new(), "users.assign-licenses", input);
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.contains(named), "{}", error.message);
            assert!(sent.is_empty());
        }
    }

    #[test]
    fn a_plain_membership_cast_is_sent_without_consistency_level() {
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (result, sent) = run(script, "users.list-memberships", json!({"userId": USER, "type": "directoryRole"}));
        assert_eq!(result.unwrap(), json!({"value": []}));
        assert_eq!(
            sent[0].uri(),
            format!("https://graph.microsoft.com/v1.0/users/{USER}/memberOf/microsoft.graph.directoryRole").as_str()
        );
        assert!(sent[0].header_value("consistencylevel").is_none());
    }

    #[test]
    fn filtering_a_relationship_is_an_advanced_query() {
        let script = ScriptedTransport::new().respond(200, json!({"@odata.count": 1, "value": [{"id": "g"}]}));
        let (result, sent) = run(
            script,
            "users.list-memberships",
            json!({"userId": USER, "type": "group", "filter": "startswith(displayName,'a')"}),
        );
        assert_eq!(result.unwrap(), json!({"value": [{"id": "g"}], "count": 1}));
        let url = sent[0].uri().to_string();
        assert!(url.contains("/memberOf/microsoft.graph.group?") && url.ends_with("&$count=true"), "{url}");
        assert_eq!(sent[0].header_value("consistencylevel"), Some("eventual"));
    }

    #[test]
    fn unknown_membership_types_are_refused() {
        let (result, sent) =
            run(ScriptedTransport::new(), "users.list-memberships", json!({"userId": USER, "type": "user"}));
        assert!(result.unwrap_err().message.contains("`type`"));
        assert!(sent.is_empty());
    }

    #[test]
    fn check_member_groups_sends_twenty_ids_a_call_and_merges_the_matches() {
        let ids: Vec<String> = (0..45).map(guid).collect();
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [guid(3)]}))
            .respond(200, json!({"value": []}))
            .respond(200, json!({"value": [guid(40), guid(44)]}));
        let (result, sent) = run(script, "users.check-member-groups", json!({"userId": USER, "groupIds": ids}));
        assert_eq!(result.unwrap(), json!({"value": [guid(3), guid(40), guid(44)]}));
        let sizes: Vec<usize> = sent.iter().map(|r| body_json(r)["groupIds"].as_array().map_or(0, Vec::len)).collect();
        assert_eq!(sizes, [20, 20, 5]);
        assert_eq!(body_json(&sent[2])["groupIds"][0], guid(40));
    }

    #[test]
    fn check_member_groups_needs_guid_group_ids() {
        let (result, sent) = run(
            ScriptedTransport::new(),
            "users.check-member-groups",
            json!({"userId": USER, "groupIds": [guid(1), 7]}),
        );
        assert_eq!(result.unwrap_err().message, "`groupIds[1]` must be a string");
        assert!(sent.is_empty());
    }

    #[test]
    fn get_member_groups_defaults_to_security_groups() {
        let script = ScriptedTransport::new().respond(200, json!({"@odata.context": "c", "value": [guid(1)]}));
        let (result, sent) = run(script, "users.get-member-groups", json!({"userId": "adele@contoso.com"}));
        assert_eq!(result.unwrap(), json!({"value": [guid(1)]}));
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/users/adele@contoso.com/getMemberGroups");
        assert_eq!(body_json(&sent[0]), json!({"securityEnabledOnly": true}));
    }

    #[test]
    fn presence_of_a_upn_is_read_by_object_id() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"id": USER}))
            .respond(200, json!({"id": USER, "availability": "Available", "activity": "Available"}));
        let (result, sent) = run(script, "users.get-presence", json!({"userId": "adele@contoso.com"}));
        assert_eq!(result.unwrap()["availability"], "Available");
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/users/adele@contoso.com?$select=id");
        assert_eq!(sent[1].uri(), format!("https://graph.microsoft.com/v1.0/users/{USER}/presence").as_str());
    }

    #[test]
    fn revoke_sessions_reports_success_with_the_user_id() {
        let script = ScriptedTransport::new().respond(200, json!({"@odata.context": "c", "value": true}));
        let (result, sent) = run(script, "users.revoke-sessions", json!({"userId": USER}));
        assert_eq!(result.unwrap(), json!({"success": true, "userId": USER}));
        assert_eq!(sent[0].method(), http::Method::POST);
        assert!(sent[0].body().is_empty());
        let script = ScriptedTransport::new().respond(200, json!({"value": false}));
        let (result, _) = run(script, "users.revoke-sessions", json!({"userId": USER}));
        assert_eq!(result.unwrap_err().code, ErrorCode::Upstream);
    }

    #[test]
    fn assign_manager_puts_a_users_reference() {
        let manager = "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0";
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (result, sent) = run(script, "users.assign-manager", json!({"userId": USER, "managerId": manager}));
        assert_eq!(result.unwrap(), json!({"success": true, "userId": USER, "managerId": manager}));
        assert_eq!(sent[0].method(), http::Method::PUT);
        assert_eq!(sent[0].uri(), format!("https://graph.microsoft.com/v1.0/users/{USER}/manager/$ref").as_str());
        assert_eq!(
            body_json(&sent[0]),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{manager}")})
        );
    }

    fn dry_run(
        script: ScriptedTransport,
        action: &str,
        input: Value,
    ) -> (Value, Vec<crate::graph::transport::HttpRequest>) {
        let (mut connector, log) = connected(token_config(), script);
        let options = crate::InvokeOptions { dry_run: true, ..Default::default() };
        let output = connector.invoke_with(action, &input.to_string(), &options).unwrap();
        let sent = log.borrow().clone();
        (output, sent)
    }

    #[test]
    fn disable_patches_account_enabled_and_revokes_only_when_asked() {
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (result, sent) = run(script, "users.disable", json!({"userId": USER}));
        assert_eq!(
            result.unwrap(),
            json!({"success": true, "userId": USER, "accountEnabled": false, "sessionsRevoked": false})
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].method(), http::Method::PATCH);
        assert_eq!(sent[0].uri(), format!("https://graph.microsoft.com/v1.0/users/{USER}").as_str());
        assert_eq!(body_json(&sent[0]), json!({"accountEnabled": false}));

        let script = ScriptedTransport::new()
            .respond(204, Value::Null)
            .respond(200, json!({"@odata.context": "c", "value": true}));
        let (result, sent) =
            run(script, "users.disable", json!({"userId": "adele.vance@contoso.com", "revokeSessions": true}));
        assert_eq!(
            result.unwrap(),
            json!({"success": true, "userId": "adele.vance@contoso.com", "accountEnabled": false,
                   "sessionsRevoked": true})
        );
        let calls: Vec<(String, String)> = sent.iter().map(|r| (r.method().to_string(), r.uri().to_string())).collect();
        assert_eq!(
            calls,
            [
                ("PATCH".to_string(), "https://graph.microsoft.com/v1.0/users/adele.vance@contoso.com".to_string()),
                (
                    "POST".to_string(),
                    "https://graph.microsoft.com/v1.0/users/adele.vance@contoso.com/revokeSignInSessions".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_revocation_failing_after_the_disable_is_reported_with_the_account_left_disabled() {
        let refused = json!({"error": {"code": "Authorization_RequestDenied",
            "message": "Insufficient privileges to complete the operation.", "innerError": {"request-id": "r-1"}}});
        let script = ScriptedTransport::new().respond(204, Value::Null).respond(403, refused);
        let (result, sent) = run(script, "users.disable", json!({"userId": USER, "revokeSessions": "true"}));
        assert_eq!(
            result.unwrap(),
            json!({"success": false, "userId": USER, "accountEnabled": false, "sessionsRevoked": false,
                   "revokeError": {"code": "forbidden", "message": "Insufficient privileges to complete the operation.",
                                   "status": 403, "graphCode": "Authorization_RequestDenied", "requestId": "r-1"}})
        );
        assert_eq!(sent.len(), 2);
    }

    #[test]
    fn a_failed_disable_is_the_error_and_nothing_is_revoked() {
        let missing = json!({"error": {"code": "Request_ResourceNotFound",
            "message": format!("Resource '{USER}' does not exist or one of its queried reference-property objects are not present.")}});
        let script = ScriptedTransport::new().respond(404, missing);
        let (result, sent) = run(script, "users.disable", json!({"userId": USER, "revokeSessions": true}));
        let error = result.unwrap_err();
        assert_eq!((error.code, error.graph_code.as_deref()), (ErrorCode::NotFound, Some("Request_ResourceNotFound")));
        assert_eq!(sent.len(), 1, "no revocation after a failed disable");
        let (result, sent) =
            run(ScriptedTransport::new(), "users.disable", json!({"userId": USER, "revokeSessions": 1}));
        assert_eq!(result.unwrap_err().message, "`revokeSessions` must be true or false");
        assert!(sent.is_empty());
    }

    #[test]
    fn enable_patches_account_enabled_true() {
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (result, sent) = run(script, "users.enable", json!({"userId": "o'neil@contoso.com"}));
        assert_eq!(result.unwrap(), json!({"success": true, "userId": "o'neil@contoso.com", "accountEnabled": true}));
        assert_eq!(sent[0].method(), http::Method::PATCH);
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/users/o%27neil@contoso.com");
        assert_eq!(body_json(&sent[0]), json!({"accountEnabled": true}));
        let (result, sent) = run(ScriptedTransport::new(), "users.enable", json!({}));
        assert_eq!(result.unwrap_err().message, "`userId` is required");
        assert!(sent.is_empty());
    }

    #[test]
    fn dry_runs_of_disable_and_enable_plan_the_patch_and_the_revocation_without_creating_anything() {
        let (output, sent) =
            dry_run(ScriptedTransport::new(), "users.disable", json!({"userId": USER, "revokeSessions": true}));
        assert!(sent.is_empty());
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [
                {"method": "PATCH", "url": format!("https://graph.microsoft.com/v1.0/users/{USER}"),
                 "body": {"accountEnabled": false}},
                {"method": "POST", "url": format!("https://graph.microsoft.com/v1.0/users/{USER}/revokeSignInSessions")},
            ]})
        );
        let (output, sent) = dry_run(ScriptedTransport::new(), "users.enable", json!({"userId": USER}));
        assert!(sent.is_empty());
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [
                {"method": "PATCH", "url": format!("https://graph.microsoft.com/v1.0/users/{USER}"),
                 "body": {"accountEnabled": true}},
            ]})
        );
    }

    #[test]
    fn transitive_memberships_share_the_membership_rules() {
        let script = ScriptedTransport::new().respond(200, json!({"@odata.count": 588, "value": [{"id": "g"}]}));
        let (result, sent) = run(
            script,
            "users.list-transitive-memberships",
            json!({"userId": USER, "type": "Group", "count": true, "maxItems": 5}),
        );
        assert_eq!(result.unwrap(), json!({"value": [{"id": "g"}], "count": 588}));
        assert_eq!(
            sent[0].uri(),
            format!(
                "https://graph.microsoft.com/v1.0/users/{USER}/transitiveMemberOf/microsoft.graph.group?$top=5&$count=true"
            )
            .as_str()
        );
        assert_eq!(sent[0].header_value("consistencylevel"), Some("eventual"));
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (_, sent) = run(script, "users.list-transitive-memberships", json!({"userId": USER}));
        assert_eq!(sent[0].uri(), format!("https://graph.microsoft.com/v1.0/users/{USER}/transitiveMemberOf").as_str());
        assert!(sent[0].header_value("consistencylevel").is_none());
        let (result, sent) = run(
            ScriptedTransport::new(),
            "users.list-transitive-memberships",
            json!({"userId": USER, "type": "device"}),
        );
        assert!(result.unwrap_err().message.starts_with("`type` must be one of"));
        assert!(sent.is_empty());
    }

    #[test]
    fn direct_reports_follow_pages_and_filter_as_an_advanced_query() {
        let next = format!("https://graph.microsoft.com/v1.0/users/{USER}/directReports?$skiptoken=p2");
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": "a"}], "@odata.nextLink": next}))
            .respond(200, json!({"value": [{"id": "b"}]}));
        let (result, sent) = run(
            script,
            "users.list-direct-reports",
            json!({"userId": USER, "filter": "accountEnabled eq true", "maxItems": 0}),
        );
        assert_eq!(result.unwrap(), json!({"value": [{"id": "a"}, {"id": "b"}]}));
        assert_eq!(
            sent[0].uri(),
            format!(
                "https://graph.microsoft.com/v1.0/users/{USER}/directReports?$filter=accountEnabled%20eq%20true&$count=true"
            )
            .as_str()
        );
        assert_eq!(sent[1].uri(), next.as_str());
        assert!(sent.iter().all(|r| r.header_value("consistencylevel") == Some("eventual")));
    }

    #[test]
    fn deleted_users_are_read_through_the_cast_and_ordering_is_an_advanced_query() {
        let script = ScriptedTransport::new().respond(200, json!({"@odata.count": 1, "value": [{"id": "d"}]}));
        let (result, sent) = run(script, "users.list-deleted", json!({"orderby": "deletedDateTime desc", "top": 10}));
        assert_eq!(result.unwrap(), json!({"value": [{"id": "d"}], "count": 1}));
        assert_eq!(
            sent[0].uri(),
            "https://graph.microsoft.com/v1.0/directory/deletedItems/microsoft.graph.user?$orderby=deletedDateTime%20desc&$top=10&$count=true"
        );
        assert_eq!(sent[0].header_value("consistencylevel"), Some("eventual"));
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (_, sent) = run(script, "users.list-deleted", json!({"select": "id,displayName"}));
        assert_eq!(
            sent[0].uri(),
            "https://graph.microsoft.com/v1.0/directory/deletedItems/microsoft.graph.user?$select=id,displayName"
        );
        assert!(sent[0].header_value("consistencylevel").is_none());
    }

    #[test]
    fn restore_posts_to_the_deleted_item_and_returns_the_user() {
        let script = ScriptedTransport::new().respond(
            200,
            json!({"@odata.context": "c", "@odata.type": "#microsoft.graph.user", "id": USER, "displayName": "Adele"}),
        );
        let (result, sent) = run(script, "users.restore", json!({"userId": USER}));
        assert_eq!(
            result.unwrap(),
            json!({"@odata.type": "#microsoft.graph.user", "id": USER, "displayName": "Adele"})
        );
        assert_eq!(sent[0].method(), http::Method::POST);
        assert_eq!(
            sent[0].uri(),
            format!("https://graph.microsoft.com/v1.0/directory/deletedItems/{USER}/restore").as_str()
        );
        assert!(sent[0].body().is_empty(), "no body when no option is given");

        let script = ScriptedTransport::new().respond(200, json!({"id": USER}));
        let input =
            json!({"userId": USER, "autoReconcileProxyConflict": true, "newUserPrincipalName": "adele2@contoso.com"});
        let (_, sent) = run(script, "users.restore", input);
        assert_eq!(
            body_json(&sent[0]),
            json!({"autoReconcileProxyConflict": true, "newUserPrincipalName": "adele2@contoso.com"})
        );
    }

    #[test]
    fn restore_refuses_a_user_principal_name_and_dot_segments() {
        for (input, expected) in [
            (json!({"userId": "adele@contoso.com"}), "`userId` must be the object id of the deleted user"),
            (json!({"userId": ".."}), "`userId` must not be `..`"),
            (json!({"userId": USER, "autoReconcileProxyConflict": "yes"}), "`autoReconcileProxyConflict` must be"),
        ] {
            let (result, sent) = run(ScriptedTransport::new(), "users.restore", input);
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.starts_with(expected), "{}", error.message);
            assert!(sent.is_empty());
        }
    }

    #[test]
    fn a_dry_run_of_restore_plans_the_post_without_a_created_object() {
        let (output, sent) = dry_run(ScriptedTransport::new(), "users.restore", json!({"userId": USER}));
        assert!(sent.is_empty());
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [
                {"method": "POST", "url": format!("https://graph.microsoft.com/v1.0/directory/deletedItems/{USER}/restore")},
            ]})
        );
    }
}
