//! Directory roles through unified RBAC (`/roleManagement/directory`): role definitions, role
//! assignments, assigning a role and removing an assignment.

use super::{entity, resolve_user_id, success, DEFAULT_MAX_ITEMS};
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::{encode_segment, quote_literal, Query};
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::schema;
use http::Method;
use serde_json::{json, Value};

/// The role actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "roles.list-definitions",
        title: "List directory roles",
        description: "Lists the directory's role definitions, built-in and custom (GET \
            /roleManagement/directory/roleDefinitions), optionally the one with a display name \
            (`displayName eq '{name}'`); follows pages up to maxItems.",
        category: "roles",
        permissions: &["RoleManagement.Read.Directory"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "displayName": schema::string("Only the role with this display name, e.g. Helpdesk Administrator"),
                    "filter": schema::string("Further OData $filter (Graph supports eq and in on id, displayName, isBuiltIn), joined with `and` in parentheses"),
                    "select": schema::string("Comma-separated properties ($select)"),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &[],
            )
        },
        output_schema: || schema::list_output("A unifiedRoleDefinition"),
        run: Handler::Listing(list_definitions),
    },
    Action {
        id: "roles.list-assignments",
        title: "List directory role assignments",
        description: "Lists role assignments (GET /roleManagement/directory/roleAssignments) of a principal, of a \
            role, or both (Graph requires a filter on one of them); each assignment carries its `roleDefinition` \
            (expanded by default) or its `principal`. A userPrincipalName is first resolved to its object id \
            (User.ReadBasic.All), and a `roleName` to its role's id.",
        category: "roles",
        permissions: &["RoleManagement.Read.Directory", "User.ReadBasic.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "principalId": schema::string("Object id (or userPrincipalName) of the user, group or service principal"),
                    "roleDefinitionId": schema::string("Id (or template id) of the role"),
                    "roleName": schema::string("Display name of the role, instead of roleDefinitionId"),
                    "expand": schema::choice("What each assignment carries ($expand; default roleDefinition)", EXPANSIONS),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &[],
            )
        },
        output_schema: || {
            schema::list_output("A unifiedRoleAssignment, with `roleDefinition` or `principal` when expanded")
        },
        run: Handler::Listing(list_assignments),
    },
    Action {
        id: "roles.assign",
        title: "Assign a directory role",
        description: "Assigns a directory role to a user, a role-assignable group or a service principal (POST \
            /roleManagement/directory/roleAssignments; 201). The role is given by id or by display name (looked \
            up first: no match is not-found, several are invalid-input); a userPrincipalName is first resolved to \
            its object id (User.ReadBasic.All). The scope defaults to the whole tenant (`/`). \
            RoleManagement.ReadWrite.Directory can grant any role, Global Administrator included.",
        category: "roles",
        permissions: &["RoleManagement.ReadWrite.Directory", "User.ReadBasic.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "roleDefinitionId": schema::string("Id (or template id) of the role"),
                    "roleName": schema::string("Display name of the role, instead of roleDefinitionId, e.g. Helpdesk Administrator"),
                    "principalId": schema::string("Object id of the user, role-assignable group or service principal (a user's userPrincipalName is resolved)"),
                    "directoryScopeId": schema::string("Scope of the assignment: `/` (the tenant, default), `/administrativeUnits/{id}` or `/{applicationObjectId}`"),
                }),
                &["principalId"],
            )
        },
        output_schema: || schema::entity("The unifiedRoleAssignment as Graph returns it"),
        run: Handler::Value(assign),
    },
    Action {
        id: "roles.remove-assignment",
        title: "Remove a directory role assignment",
        description: "Removes a role assignment (DELETE /roleManagement/directory/roleAssignments/{id}; 204); \
            roles.list-assignments gives the ids.",
        category: "roles",
        permissions: &["RoleManagement.ReadWrite.Directory"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({"assignmentId": schema::string("Id of the unifiedRoleAssignment")}),
                &["assignmentId"],
            )
        },
        output_schema: || schema::success_output(&["assignmentId"]),
        run: Handler::Value(remove_assignment),
    },
];

/// The `expand` values of roles.list-assignments.
const EXPANSIONS: &[&str] = &["roleDefinition", "principal", "none"];
/// The collection of role definitions.
const DEFINITIONS: &str = "roleManagement/directory/roleDefinitions";
/// The collection of role assignments.
const ASSIGNMENTS: &str = "roleManagement/directory/roleAssignments";

fn list_definitions(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let mut terms = Vec::new();
    terms.extend(input.optional_str("displayName")?.map(|name| format!("displayName eq {}", quote_literal(name))));
    terms.extend(input.optional_str("filter")?.map(|filter| format!("({filter})")));
    let mut query = Query::new();
    if !terms.is_empty() {
        query.push("$filter", terms.join(" and "));
    }
    query.push_opt("$select", input.optional_str("select")?);
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    let url = client.url(DEFINITIONS, &query);
    client.list(url, false, max_items)
}

fn list_assignments(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let principal = input.optional_str("principalId")?;
    let role = input.optional_str("roleDefinitionId")?;
    let role_name = input.optional_str("roleName")?;
    let expand = input.optional_choice("expand", EXPANSIONS)?.unwrap_or("roleDefinition");
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    if principal.is_none() && role.is_none() && role_name.is_none() {
        return Err(ConnectorError::invalid_input(
            "`principalId`, `roleDefinitionId` or `roleName` is required: Graph lists role assignments only \
             filtered on the principal or the role",
        ));
    }
    let role = role_definition_id(client, input)?;
    let mut terms = Vec::new();
    if let Some(principal) = principal {
        terms.push(format!("principalId eq {}", quote_literal(&resolve_user_id(client, principal)?)));
    }
    terms.extend(role.map(|role| format!("roleDefinitionId eq {}", quote_literal(&role))));
    let mut query = Query::new();
    query.push("$filter", terms.join(" and "));
    if expand != "none" {
        query.push("$expand", expand);
    }
    let url = client.url(ASSIGNMENTS, &query);
    client.list(url, false, max_items)
}

fn assign(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let principal = input.required_str("principalId")?;
    let scope = input.optional_str("directoryScopeId")?.unwrap_or("/");
    if !scope.starts_with('/') {
        return Err(ConnectorError::invalid_input(
            "`directoryScopeId` must start with `/`: `/` (the tenant), `/administrativeUnits/{id}` or \
             `/{applicationObjectId}`",
        ));
    }
    let role = role_definition_id(client, input)?
        .ok_or_else(|| ConnectorError::invalid_input("`roleDefinitionId` or `roleName` is required"))?;
    let principal = resolve_user_id(client, principal)?;
    let body = json!({
        "@odata.type": "#microsoft.graph.unifiedRoleAssignment",
        "roleDefinitionId": role,
        "principalId": principal,
        "directoryScopeId": scope,
    });
    let url = client.url(ASSIGNMENTS, &Query::new());
    // A create: not sent again after an unknown outcome. An assignment that already exists is
    // refused by Graph, and that refusal is returned as Graph gives it.
    let created = client.send(&GraphRequest::new(Method::POST, url).json(body))?.into_object()?;
    Ok(entity(created))
}

fn remove_assignment(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let assignment = input.required_str("assignmentId")?;
    let url = client.url(&format!("{ASSIGNMENTS}/{}", encode_segment(assignment)), &Query::new());
    client.send(&GraphRequest::new(Method::DELETE, url))?;
    Ok(success(&[("assignmentId", assignment)]))
}

/// The role of `roleDefinitionId`, or the id of the one role whose display name is `roleName`
/// (`GET roleDefinitions?$filter=displayName eq '{name}'&$select=id`): no match is not-found,
/// several are invalid-input. `None` when neither is given; both together are invalid-input.
fn role_definition_id(client: &mut GraphClient, input: &Input) -> Result<Option<String>> {
    let role = input.optional_str("roleDefinitionId")?;
    let name = input.optional_str("roleName")?;
    let name = match (role, name) {
        (Some(_), Some(_)) => {
            return Err(ConnectorError::invalid_input("give `roleDefinitionId` or `roleName`, not both"));
        }
        (Some(role), None) => return Ok(Some(role.to_string())),
        (None, None) => return Ok(None),
        (None, Some(name)) => name,
    };
    let mut query = Query::new();
    query.push("$filter", format!("displayName eq {}", quote_literal(name)));
    query.push("$select", "id");
    let url = client.url(DEFINITIONS, &query);
    // Two are enough to tell one match from several.
    let found = client.list(url, false, 2)?.into_value()?;
    let ids: Vec<&str> = found
        .get("value")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|item| item.get("id").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    match ids.as_slice() {
        [id] => Ok(Some((*id).to_string())),
        [] => Err(ConnectorError::new(
            ErrorCode::NotFound,
            format!("no directory role is named `{name}` (`roleName`; roles.list-definitions lists them)"),
        )),
        _ => Err(ConnectorError::invalid_input(format!(
            "`roleName` `{name}` matches several directory roles: give `roleDefinitionId` instead"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use serde_json::{json, Value};

    const BASE: &str = "https://graph.microsoft.com/v1.0";
    const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
    const USER: &str = "f8ca5a85-489a-49a0-b555-0a6d81e56f0d";

    fn definitions_by_name(name: &str) -> String {
        format!(
            "{BASE}/roleManagement/directory/roleDefinitions?$filter=displayName%20eq%20'{}'&$select=id",
            name.replace(' ', "%20")
        )
    }

    #[test]
    fn list_definitions_filters_on_a_display_name_with_its_quotes_doubled() {
        let script = ScriptedTransport::new()
            .respond(
                200,
                json!({"@odata.context": "c", "value": [{"id": HELPDESK, "displayName": "Helpdesk Administrator"}]}),
            )
            .respond(200, json!({"value": []}));
        let (mut connector, log) = connected(token_config(), script);
        let output = connector
            .invoke(
                "roles.list-definitions",
                &json!({"displayName": "Helpdesk Administrator", "select": "id,displayName"}).to_string(),
            )
            .unwrap();
        assert_eq!(output, json!({"value": [{"id": HELPDESK, "displayName": "Helpdesk Administrator"}]}));
        connector
            .invoke(
                "roles.list-definitions",
                &json!({"displayName": "Bob's role", "filter": "isBuiltIn eq false"}).to_string(),
            )
            .unwrap();
        let sent = log.borrow();
        assert_eq!(
            sent[0].uri(),
            format!("{BASE}/roleManagement/directory/roleDefinitions?$filter=displayName%20eq%20'Helpdesk%20Administrator'&$select=id,displayName")
        );
        assert_eq!(
            sent[1].uri(),
            format!("{BASE}/roleManagement/directory/roleDefinitions?$filter=displayName%20eq%20'Bob''s%20role'%20and%20(isBuiltIn%20eq%20false)")
        );
    }

    #[test]
    fn list_assignments_resolves_the_principal_and_the_role_name_and_expands_the_role() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": HELPDESK}]}))
            .respond(200, json!({"id": USER}))
            .respond(
                200,
                json!({"value": [{"id": "a-1", "roleDefinition": {"displayName": "Helpdesk Administrator"}}]}),
            );
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"principalId": "adele@contoso.com", "roleName": "Helpdesk Administrator"});
        let output = connector.invoke("roles.list-assignments", &input.to_string()).unwrap();
        assert_eq!(
            output,
            json!({"value": [{"id": "a-1", "roleDefinition": {"displayName": "Helpdesk Administrator"}}]})
        );
        let sent = log.borrow();
        let urls: Vec<&str> = sent.iter().map(|request| request.uri()).collect();
        assert_eq!(
            urls,
            [
                &*definitions_by_name("Helpdesk Administrator"),
                &*format!("{BASE}/users/adele@contoso.com?$select=id"),
                &*format!(
                    "{BASE}/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20'{USER}'%20and%20\
                     roleDefinitionId%20eq%20'{HELPDESK}'&$expand=roleDefinition"
                ),
            ]
        );
    }

    #[test]
    fn list_assignments_of_a_role_expands_what_is_asked() {
        let script = ScriptedTransport::new().respond(200, json!({"value": []})).respond(200, json!({"value": []}));
        let (mut connector, log) = connected(token_config(), script);
        connector
            .invoke("roles.list-assignments", &json!({"roleDefinitionId": HELPDESK, "expand": "principal"}).to_string())
            .unwrap();
        connector
            .invoke("roles.list-assignments", &json!({"principalId": USER, "expand": "NONE"}).to_string())
            .unwrap();
        let sent = log.borrow();
        assert_eq!(
            sent[0].uri(),
            format!("{BASE}/roleManagement/directory/roleAssignments?$filter=roleDefinitionId%20eq%20'{HELPDESK}'&$expand=principal")
        );
        assert_eq!(
            sent[1].uri(),
            format!("{BASE}/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20'{USER}'")
        );
    }

    #[test]
    fn list_assignments_needs_a_principal_or_a_role() {
        for (input, expected) in [
            (json!({}), "`principalId`, `roleDefinitionId` or `roleName` is required"),
            (json!({"expand": "principal"}), "`principalId`, `roleDefinitionId` or `roleName` is required"),
            (json!({"roleDefinitionId": HELPDESK, "roleName": "x"}), "give `roleDefinitionId` or `roleName`, not both"),
            (
                json!({"principalId": USER, "expand": "members"}),
                "`expand` must be one of roleDefinition, principal, none",
            ),
        ] {
            let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
            let error = connector.invoke("roles.list-assignments", &input.to_string()).unwrap_err();
            assert_eq!(error.code.as_str(), "invalid-input", "{input}");
            assert!(error.message.starts_with(expected), "{input}: {}", error.message);
            assert!(log.borrow().is_empty());
        }
    }

    #[test]
    fn assign_looks_up_the_role_resolves_the_principal_and_posts_the_assignment() {
        let created = json!({"@odata.context": "ctx", "id": "YUb1-1", "roleDefinitionId": HELPDESK, "principalId": USER, "directoryScopeId": "/"});
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": HELPDESK}]}))
            .respond(200, json!({"id": USER}))
            .respond(201, created);
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"roleName": "Helpdesk Administrator", "principalId": "adele.vance@contoso.com"});
        let output = connector.invoke("roles.assign", &input.to_string()).unwrap();
        assert_eq!(
            output,
            json!({"id": "YUb1-1", "roleDefinitionId": HELPDESK, "principalId": USER, "directoryScopeId": "/"})
        );
        let sent = log.borrow();
        assert_eq!(sent[0].uri(), definitions_by_name("Helpdesk Administrator"));
        assert_eq!(sent[1].uri(), format!("{BASE}/users/adele.vance@contoso.com?$select=id"));
        assert_eq!(
            (sent[2].method().as_str(), sent[2].uri()),
            ("POST", &*format!("{BASE}/roleManagement/directory/roleAssignments"))
        );
        assert_eq!(sent[2].header_value("content-type"), Some("application/json"));
        assert_eq!(
            body_json(&sent[2]),
            json!({"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "roleDefinitionId": HELPDESK,
                "principalId": USER, "directoryScopeId": "/"})
        );
    }

    #[test]
    fn assign_with_a_role_id_and_a_scope_sends_no_lookup() {
        let script = ScriptedTransport::new().respond(201, json!({"id": "a"}));
        let (mut connector, log) = connected(token_config(), script);
        let input =
            json!({"roleDefinitionId": HELPDESK, "principalId": USER, "directoryScopeId": "/administrativeUnits/au-1"});
        connector.invoke("roles.assign", &input.to_string()).unwrap();
        let sent = log.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(body_json(&sent[0])["directoryScopeId"], json!("/administrativeUnits/au-1"));
        assert_eq!(body_json(&sent[0])["principalId"], json!(USER));
    }

    #[test]
    fn a_role_name_matching_no_role_is_not_found_and_several_is_invalid_input() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": []}))
            .respond(200, json!({"value": [{"id": "r1"}, {"id": "r2"}]}));
        let (mut connector, log) = connected(token_config(), script);
        let error = connector
            .invoke("roles.assign", &json!({"roleName": "Nobody's role", "principalId": USER}).to_string())
            .unwrap_err();
        assert_eq!(error.code.as_str(), "not-found");
        assert!(error.message.contains("no directory role is named `Nobody's role`"), "{}", error.message);
        let error = connector
            .invoke("roles.assign", &json!({"roleName": "Twin", "principalId": USER}).to_string())
            .unwrap_err();
        assert_eq!(error.code.as_str(), "invalid-input");
        assert!(error.message.starts_with("`roleName` `Twin` matches several directory roles"), "{}", error.message);
        let sent = log.borrow();
        assert_eq!(sent.len(), 2, "nothing is posted");
        assert_eq!(sent[0].uri(), definitions_by_name("Nobody''s role"));
    }

    #[test]
    fn assign_refuses_bad_input_before_any_request() {
        for (input, expected) in [
            (json!({"roleDefinitionId": HELPDESK}), "`principalId` is required"),
            (json!({"principalId": USER}), "`roleDefinitionId` or `roleName` is required"),
            (
                json!({"roleDefinitionId": HELPDESK, "roleName": "x", "principalId": USER}),
                "give `roleDefinitionId` or `roleName`, not both",
            ),
            (
                json!({"roleDefinitionId": HELPDESK, "principalId": USER, "directoryScopeId": "tenant"}),
                "`directoryScopeId` must start with `/`",
            ),
            (json!({"roleDefinitionId": "..", "principalId": USER}), "`roleDefinitionId` must not be `..`"),
        ] {
            let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
            let error = connector.invoke("roles.assign", &input.to_string()).unwrap_err();
            assert_eq!(error.code.as_str(), "invalid-input", "{input}");
            assert!(error.message.starts_with(expected), "{input}: {}", error.message);
            assert!(log.borrow().is_empty());
        }
    }

    #[test]
    fn a_dry_run_of_assign_runs_the_lookups_and_plans_the_post_as_a_create() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": HELPDESK}]}))
            .respond(200, json!({"id": USER}));
        let (mut connector, log) = connected(token_config(), script);
        let options = crate::connector::InvokeOptions { dry_run: true, ..Default::default() };
        let input = json!({"roleName": "Helpdesk Administrator", "principalId": "adele@contoso.com"});
        let output = connector.invoke_with("roles.assign", &input.to_string(), &options).unwrap();
        assert_eq!(log.borrow().len(), 2, "the role and the user are looked up");
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [{"method": "POST", "url": format!("{BASE}/roleManagement/directory/roleAssignments"),
                "body": {"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "roleDefinitionId": HELPDESK,
                    "principalId": USER, "directoryScopeId": "/"},
                "returns": {"id": "{write-1.id}"}}]})
        );
    }

    #[test]
    fn remove_assignment_encodes_the_id_and_reports_it() {
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let output = connector.invoke("roles.remove-assignment", r#"{"assignmentId": "lAPp/x-1"}"#).unwrap();
        assert_eq!(output, json!({"success": true, "assignmentId": "lAPp/x-1"}));
        let sent = log.borrow();
        assert_eq!(
            (sent[0].method().as_str(), sent[0].uri()),
            ("DELETE", &*format!("{BASE}/roleManagement/directory/roleAssignments/lAPp%2Fx-1"))
        );
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let error = connector.invoke("roles.remove-assignment", "{}").unwrap_err();
        assert_eq!((error.code.as_str(), error.message.as_str()), ("invalid-input", "`assignmentId` is required"));
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn a_dry_run_of_remove_assignment_plans_the_delete() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let options = crate::connector::InvokeOptions { dry_run: true, ..Default::default() };
        let output = connector.invoke_with("roles.remove-assignment", r#"{"assignmentId": "a-1"}"#, &options).unwrap();
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [{"method": "DELETE", "url": format!("{BASE}/roleManagement/directory/roleAssignments/a-1")}]})
        );
        assert!(log.borrow().is_empty());
    }
}
