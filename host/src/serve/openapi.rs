//! The HTTP API as an OpenAPI 3.1 document, generated from the catalog (`list-actions`):
//! one invoke path per action, whose request and response bodies carry the action's own input
//! and output JSON Schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12). Checked in as
//! `docs/openapi.json`; a test fails when it is stale.

use crate::sandbox::runtime::ActionDescriptor;
use serde_json::{json, Map, Value};

/// The command that regenerates the document.
pub const REGENERATE_COMMAND: &str = "cargo run -q -p connector-host -- actions --openapi > docs/openapi.json";

/// The statuses an invocation may answer besides 200, and what each means.
const INVOKE_ERRORS: &[(&str, &str)] = &[
    ("400", "`invalid-input`, `invalid-config`, or `invalid-request` (the envelope: malformed JSON, a wrong member)"),
    ("401", "`unauthorized` (no or a wrong API key), or `auth-failed` (the connection's credentials)"),
    ("403", "`forbidden`: the connection lacks a permission"),
    ("404", "`unknown-action`, `not-found`, or `unknown-connection`"),
    ("409", "`conflict`"),
    ("413", "`payload-too-large`"),
    ("429", "`throttled`: by Graph, by the connection's rate limit, or the service is at --max-concurrency; see `Retry-After`"),
    ("500", "`internal`: the component or the host failed"),
    ("502", "`upstream` or `transport`"),
    ("504", "`transport`: the host stopped the call at its hard time limit"),
];

/// The OpenAPI document, as pretty JSON text with a final newline.
pub fn render(actions: &[ActionDescriptor]) -> String {
    let mut text = serde_json::to_string_pretty(&document(actions)).unwrap_or_default();
    text.push('\n');
    text
}

/// The OpenAPI document of the API offering `actions`.
pub fn document(actions: &[ActionDescriptor]) -> Value {
    let mut paths = Map::new();
    paths.insert("/healthz".into(), probe("The process is up.", "ok"));
    paths.insert(
        "/readyz".into(),
        probe("The component is compiled and the connections are open; 503 while shutting down.", "ready"),
    );
    paths.insert(
        "/metrics".into(),
        json!({"get": {
            "summary": "Prometheus metrics (text format): invocations, latency, upstream requests, retries, throttling waits, instances, connections.",
            "operationId": "metrics",
            "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                          "401": error_response("No or a wrong API key")}
        }}),
    );
    paths.insert(
        "/v1/actions".into(),
        json!({"get": {
            "summary": "The actions offered (after --read-only and --actions), with the JSON Schemas of their inputs and outputs.",
            "operationId": "listActions",
            "responses": {"200": {"description": "The descriptors", "content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/ActionDescriptor"}}}}},
                "401": error_response("No or a wrong API key")}
        }}),
    );
    paths.insert(
        "/v1/connections".into(),
        json!({
            "post": {
                "summary": "Opens a connection from settings (kept in memory only, never returned).",
                "operationId": "createConnection",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConnectionSettings"}}}},
                "responses": {
                    "201": {"description": "Opened", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["id", "description"],
                        "properties": {"id": {"type": "string"}, "description": {"type": "object", "description": "`connection.describe()`: the settings without secrets"}}}}}},
                    "400": error_response("`invalid-config` or `invalid-request`"),
                    "401": error_response("No or a wrong API key"),
                    "413": error_response("`payload-too-large`")
                }
            },
            "get": {
                "summary": "The connections registered (without secrets).",
                "operationId": "listConnections",
                "responses": {"200": {"description": "The connections", "content": {"application/json": {"schema": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Connection"}}}}},
                    "401": error_response("No or a wrong API key")}
            }
        }),
    );
    let id_parameter = json!([{"name": "id", "in": "path", "required": true, "description": "The connection's id or name", "schema": {"type": "string"}}]);
    paths.insert(
        "/v1/connections/{id}".into(),
        json!({
            "get": {"summary": "One connection (without secrets).", "operationId": "getConnection", "parameters": id_parameter,
                    "responses": {"200": {"description": "The connection", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Connection"}}}},
                                  "401": error_response("No or a wrong API key"),
                                  "404": error_response("`unknown-connection`")}},
            "delete": {"summary": "Forgets a connection: its instances drop its secrets and tokens.", "operationId": "deleteConnection", "parameters": id_parameter,
                       "responses": {"204": {"description": "Forgotten"},
                                     "401": error_response("No or a wrong API key"),
                                     "404": error_response("`unknown-connection`")}}
        }),
    );
    for action in actions {
        paths.insert(format!("/v1/actions/{}/invoke", action.id), invoke_path(action));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "connector-host serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "The connector's actions over HTTP. Every response carries `x-request-id` (the caller's, or a new one) and, \
                 when the upstream service answered, its `request-id`. Generated from the catalog; regenerate with `{REGENERATE_COMMAND}`."
            )
        },
        "security": [{"apiKey": []}],
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A key of the service's --api-key-file (when it has one). /healthz and /readyz need none."}},
            "headers": {
                "x-request-id": {"description": "The caller's request id, or one the service made", "schema": {"type": "string"}},
                "request-id": {"description": "The upstream service's request id of the last answer the call received", "schema": {"type": "string"}},
                "Retry-After": {"description": "Seconds to wait before calling again (429)", "schema": {"type": "integer", "minimum": 1}}
            },
            "schemas": {
                "ErrorResponse": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {
                        "type": "object", "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "description": "The connector's error code (`invalid-input`, `throttled`, ...) or the service's (`unauthorized`, `unknown-connection`, `invalid-request`, `payload-too-large`, `unknown-route`, `method-not-allowed`)"},
                            "message": {"type": "string"},
                            "status": {"type": ["integer", "null"], "description": "The upstream HTTP status"},
                            "graphCode": {"type": ["string", "null"]},
                            "requestId": {"type": ["string", "null"], "description": "The upstream request id"},
                            "retryAfterMs": {"type": ["integer", "null"]}
                        }
                    }}
                },
                "ConnectionSettings": {"type": "object", "description": "Connection settings as the connector documents them (auth mode, tenant, client id, secret or certificate, cloud, ...)"},
                "Connection": {"type": "object", "required": ["id", "description"], "properties": {
                    "id": {"type": "string"}, "name": {"type": ["string", "null"], "description": "Its name in --connections"},
                    "description": {"type": "object"}}},
                "ActionDescriptor": {"type": "object", "required": ["id", "title", "description", "category", "inputSchema", "outputSchema", "permissions", "readOnly"],
                    "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"}, "category": {"type": "string"},
                                   "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"},
                                   "permissions": {"type": "array", "items": {"type": "string"}}, "readOnly": {"type": "boolean"}}}
            }
        }
    })
}

fn probe(summary: &str, status: &str) -> Value {
    json!({"get": {
        "summary": summary,
        "security": [],
        "responses": {"200": {"description": status, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"status": {"const": status}}}}}}}
    }})
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"x-request-id": {"$ref": "#/components/headers/x-request-id"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    })
}

fn invoke_path(action: &ActionDescriptor) -> Value {
    let schema = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The action's output",
            "headers": {"x-request-id": {"$ref": "#/components/headers/x-request-id"},
                        "request-id": {"$ref": "#/components/headers/request-id"}},
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["output"], "properties": {"output": schema(&action.output_schema)}}}}
        }),
    );
    for (status, description) in INVOKE_ERRORS {
        let mut response = error_response(description);
        if *status == "429" {
            response["headers"]["Retry-After"] = json!({"$ref": "#/components/headers/Retry-After"});
        }
        responses.insert((*status).into(), response);
    }
    let permissions = if action.permissions.is_empty() { "none".to_string() } else { action.permissions.join(", ") };
    json!({"post": {
        "operationId": action.id,
        "summary": action.title,
        "description": format!("{}\n\nPermissions: {permissions}. {}", action.description,
                               if action.read_only { "Read-only." } else { "Writes; `dryRun` returns the plan of its writes instead." }),
        "tags": [action.category],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["connection"],
            "additionalProperties": false,
            "properties": {
                "connection": {"oneOf": [
                    {"type": "string", "description": "A registered connection's id or name"},
                    {"$ref": "#/components/schemas/ConnectionSettings"}
                ]},
                "input": schema(&action.input_schema),
                "timeoutMs": {"type": "integer", "minimum": 1, "description": "The call's deadline"},
                "dryRun": {"type": "boolean", "description": "Run the reads only and return the plan of the writes"}
            }
        }}}},
        "responses": Value::Object(responses)
    }})
}
