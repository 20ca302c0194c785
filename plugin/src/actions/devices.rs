//! Devices: read, list, delete, disable and enable, and registered owners (`/devices`).

use super::{reference, resolve_user_id, success, ListQuery};
use crate::catalog::{Action, Handler};
use crate::error::Result;
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::{encode_segment, Query};
use crate::json::entity::Entity;
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::schema;
use http::Method;
use serde_json::{json, Value};

/// The device actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "devices.get",
        title: "Get device",
        description: "Reads a device (GET /devices/{id}) by its directory object id, with optional $select.",
        category: "devices",
        permissions: &["Device.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "deviceId": schema::string("Directory object id of the device"),
                    "select": schema::string("Comma-separated properties ($select)"),
                }),
                &["deviceId"],
            )
        },
        output_schema: || schema::entity("The device"),
        run: Handler::Entity(get),
    },
    Action {
        id: "devices.list",
        title: "List devices",
        description: "Lists devices (GET /devices), following pages up to maxItems.",
        category: "devices",
        permissions: &["Device.Read.All"],
        read_only: true,
        input_schema: || schema::object(Value::Object(schema::list_query_properties()), &[]),
        output_schema: || schema::list_output("A device"),
        run: Handler::Listing(list),
    },
    Action {
        id: "devices.delete",
        title: "Delete device",
        description: "Deletes a device (DELETE /devices/{id}) by its directory object id.",
        category: "devices",
        permissions: &["Device.ReadWrite.All"],
        read_only: false,
        input_schema: || schema::object(json!({"deviceId": device_id_property()}), &["deviceId"]),
        output_schema: || schema::success_output(&["deviceId"]),
        run: Handler::Value(delete),
    },
    Action {
        id: "devices.add-registered-owner",
        title: "Add registered owner of a device",
        description: "Adds a user as a registered owner of a device (POST /devices/{id}/registeredOwners/$ref with \
                      `{base}/directoryObjects/{userId}`; a userPrincipalName is first resolved to its object id). \
                      Microsoft documents this call for delegated connections only (Directory.AccessAsUser.All; \
                      Application: not supported), so an app-only connection may get `forbidden`.",
        category: "devices",
        permissions: &["Directory.AccessAsUser.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "deviceId": device_id_property(),
                    "userId": schema::string("Object id or userPrincipalName of the user to add as owner"),
                }),
                &["deviceId", "userId"],
            )
        },
        output_schema: || schema::success_output(&["deviceId", "userId"]),
        run: Handler::Value(add_registered_owner),
    },
    Action {
        id: "devices.disable",
        title: "Disable device",
        description: "Disables a device (PATCH /devices/{id} with `{\"accountEnabled\": false}`), by its directory \
                      object id: it can no longer authenticate with Microsoft Entra ID. Microsoft says only callers \
                      in the Global Administrator or Cloud Device Administrator role may change `accountEnabled` \
                      (delegated: Directory.AccessAsUser.All).",
        category: "devices",
        permissions: &["Device.ReadWrite.All"],
        read_only: false,
        input_schema: || schema::object(json!({"deviceId": device_id_property()}), &["deviceId"]),
        output_schema: account_enabled_output,
        run: Handler::Value(disable),
    },
    Action {
        id: "devices.enable",
        title: "Enable device",
        description: "Enables a device again (PATCH /devices/{id} with `{\"accountEnabled\": true}`), by its \
                      directory object id. Same role requirements as devices.disable.",
        category: "devices",
        permissions: &["Device.ReadWrite.All"],
        read_only: false,
        input_schema: || schema::object(json!({"deviceId": device_id_property()}), &["deviceId"]),
        output_schema: account_enabled_output,
        run: Handler::Value(enable),
    },
];

fn device_id_property() -> Value {
    schema::string("Directory object id of the device (not its deviceId)")
}

/// `{"success": true, "deviceId", "accountEnabled"}`, the output of devices.disable and devices.enable.
fn account_enabled_output() -> Value {
    let mut output = schema::success_output(&["deviceId"]);
    output["properties"]["accountEnabled"] = schema::boolean("The state the device was set to");
    output["required"] = json!(["success", "deviceId", "accountEnabled"]);
    output
}

/// The path of a device: `devices/{id}`.
fn device_path(device: &str) -> String {
    format!("devices/{}", encode_segment(device))
}

fn get(client: &mut GraphClient, input: &Input) -> Result<Entity> {
    let device = input.required_str("deviceId")?;
    let mut query = Query::new();
    query.push_opt("$select", input.optional_str("select")?);
    let url = client.url(&device_path(device), &query);
    client.get_entity(url, false)
}

fn list(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let list = ListQuery::read(input)?;
    let url = client.url("devices", &list.query);
    client.list(url, list.eventual, list.max_items)
}

fn delete(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let device = input.required_str("deviceId")?;
    let url = client.url(&device_path(device), &Query::new());
    client.send(&GraphRequest::new(Method::DELETE, url))?;
    Ok(success(&[("deviceId", device)]))
}

fn disable(client: &mut GraphClient, input: &Input) -> Result<Value> {
    set_account_enabled(client, input, false)
}

fn enable(client: &mut GraphClient, input: &Input) -> Result<Value> {
    set_account_enabled(client, input, true)
}

/// `PATCH /devices/{id}` with `{"accountEnabled": enabled}` (Graph answers 204): the shape
/// devices.disable and devices.enable share.
fn set_account_enabled(client: &mut GraphClient, input: &Input, enabled: bool) -> Result<Value> {
    let device = input.required_str("deviceId")?;
    let url = client.url(&device_path(device), &Query::new());
    client.send(&GraphRequest::new(Method::PATCH, url).json(json!({"accountEnabled": enabled})))?;
    let mut output = success(&[("deviceId", device)]);
    output["accountEnabled"] = json!(enabled);
    Ok(output)
}

fn add_registered_owner(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let device = input.required_str("deviceId")?;
    let user = input.required_str("userId")?;
    let user_id = resolve_user_id(client, user)?;
    let target = reference(client, "directoryObjects", &user_id);
    add_reference(client, &format!("{}/registeredOwners", device_path(device)), target)?;
    Ok(success(&[("deviceId", device), ("userId", user)]))
}

/// Adds a directory reference: `POST {collection_path}/$ref` with `{"@odata.id": target}`.
/// `collection_path` must already be built from encoded segments; `target` comes from
/// [`reference`]. Shared by every "add a reference" action (owners, sponsors).
pub fn add_reference(client: &mut GraphClient, collection_path: &str, target: String) -> Result<()> {
    let url = client.url(&format!("{collection_path}/$ref"), &Query::new());
    client.send(&GraphRequest::new(Method::POST, url).json(json!({"@odata.id": target})).adds_one_reference())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use crate::ErrorCode;
    use serde_json::{json, Value};

    #[test]
    fn get_encodes_the_id_and_sends_select() {
        let script =
            ScriptedTransport::new().respond(200, json!({"@odata.context": "x", "id": "d/1", "displayName": "Laptop"}));
        let (mut connector, log) = connected(token_config(), script);
        let output = connector.invoke("devices.get", r#"{"deviceId":"d/1","select":"displayName"}"#).unwrap();
        assert_eq!(output, json!({"id": "d/1", "displayName": "Laptop"}));
        let sent = log.borrow();
        assert_eq!(sent[0].method(), "GET");
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/devices/d%2F1?$select=displayName");
    }

    #[test]
    fn list_sends_advanced_queries_with_consistency_level() {
        let script = ScriptedTransport::new().respond(200, json!({"@odata.count": 1, "value": [{"id": "a"}]}));
        let (mut connector, log) = connected(token_config(), script);
        let output = connector.invoke("devices.list", r#"{"count": true, "top": "5"}"#).unwrap();
        assert_eq!(output, json!({"value": [{"id": "a"}], "count": 1}));
        let sent = log.borrow();
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/devices?$top=5&$count=true");
        assert_eq!(sent[0].header_value("consistencylevel"), Some("eventual"));
    }

    #[test]
    fn delete_reports_the_device_id() {
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let output = connector.invoke("devices.delete", r#"{"deviceId":"abc"}"#).unwrap();
        assert_eq!(output, json!({"success": true, "deviceId": "abc"}));
        assert_eq!(log.borrow()[0].method(), "DELETE");
    }

    #[test]
    fn add_registered_owner_resolves_a_upn_and_references_a_directory_object() {
        let script = ScriptedTransport::new().respond(200, json!({"id": "u-1"})).respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let output = connector
            .invoke("devices.add-registered-owner", r#"{"deviceId":"dev-1","userId":"adele@contoso.com"}"#)
            .unwrap();
        assert_eq!(output, json!({"success": true, "deviceId": "dev-1", "userId": "adele@contoso.com"}));
        let sent = log.borrow();
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/users/adele@contoso.com?$select=id");
        assert_eq!(sent[1].method(), "POST");
        assert_eq!(sent[1].uri(), "https://graph.microsoft.com/v1.0/devices/dev-1/registeredOwners/$ref");
        assert_eq!(sent[1].header_value("content-type"), Some("application/json"));
        assert_eq!(body_json(&sent[1]), json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/u-1"}));
    }

    #[test]
    fn disable_and_enable_patch_account_enabled_and_report_the_state() {
        let script = ScriptedTransport::new().respond(204, Value::Null).respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let disabled = connector.invoke("devices.disable", r#"{"deviceId":"7c06cd31/x"}"#).unwrap();
        assert_eq!(disabled, json!({"success": true, "deviceId": "7c06cd31/x", "accountEnabled": false}));
        let enabled = connector.invoke("devices.enable", r#"{"deviceId":"7c06cd31"}"#).unwrap();
        assert_eq!(enabled, json!({"success": true, "deviceId": "7c06cd31", "accountEnabled": true}));
        let sent = log.borrow();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].method(), "PATCH");
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/devices/7c06cd31%2Fx");
        assert_eq!(sent[0].header_value("content-type"), Some("application/json"));
        assert_eq!(body_json(&sent[0]), json!({"accountEnabled": false}));
        assert_eq!(sent[1].uri(), "https://graph.microsoft.com/v1.0/devices/7c06cd31");
        assert_eq!(body_json(&sent[1]), json!({"accountEnabled": true}));
    }

    #[test]
    fn disable_refuses_a_missing_or_dot_segment_device_id() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let error = connector.invoke("devices.disable", "{}").unwrap_err();
        assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidInput, "`deviceId` is required"));
        let error = connector.invoke("devices.enable", r#"{"deviceId":".."}"#).unwrap_err();
        assert_eq!(error.message, "`deviceId` must not be `..`: a dot segment is not an id");
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn a_dry_run_of_disable_plans_the_patch_and_sends_nothing() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let options = crate::connector::InvokeOptions { dry_run: true, ..Default::default() };
        let output = connector.invoke_with("devices.disable", r#"{"deviceId":"d-1"}"#, &options).unwrap();
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [{"method": "PATCH", "url": "https://graph.microsoft.com/v1.0/devices/d-1",
                "body": {"accountEnabled": false}}]})
        );
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn missing_ids_are_refused_before_any_request() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let error = connector.invoke("devices.add-registered-owner", r#"{"deviceId":"d"}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert_eq!(error.message, "`userId` is required");
        assert!(log.borrow().is_empty());
    }
}
