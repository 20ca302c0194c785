//! The connector as an MCP server, driven by rmcp's own client: `connector-host mcp` over
//! stdio, and the streamable HTTP service served on loopback, both against a Graph
//! look-alike on 127.0.0.1.

use crate::support::{runtime, RoutedServer, SeenRequest};
use connector_host::mcp::{streamable_http_service, InstanceBackend, McpOptions};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::AllowedHosts;
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::transport::{ConfigureCommandExt as _, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt as _;
use serde_json::{json, Map, Value};
use std::sync::Arc;

type Client = RunningService<RoleClient, ()>;

/// A 2,000-character property, so that forty users make more than 64 KiB of JSON.
fn about_me(index: usize) -> String {
    format!("{index:04}").repeat(500)
}

/// The Graph look-alike of these tests: user `abc`, a 404 for anyone else, and `/users`
/// pages of the size asked for (`$top`), each user two kilobytes long, with a next link.
fn fake_graph() -> RoutedServer {
    RoutedServer::start(|request: &SeenRequest| {
        let target = request.target.as_str();
        if request.method == "GET" && target == "/v1.0/users/abc" {
            return (200, json!({"id": "abc", "displayName": "Adele Vance", "mail": "AdeleV@contoso.com"}).to_string());
        }
        if request.method == "GET" && target.starts_with("/v1.0/users/boss@contoso.com") {
            return (200, json!({"id": "boss-id"}).to_string());
        }
        if request.method == "GET" && target.starts_with("/v1.0/users?") {
            let top: usize = target
                .split(['?', '&'])
                .find_map(|pair| pair.strip_prefix("$top=").or_else(|| pair.strip_prefix("%24top=")))
                .and_then(|top| top.parse().ok())
                .unwrap_or(100);
            let host = request.header("host").unwrap_or_default();
            let users: Vec<Value> = (0..top)
                .map(|index| json!({"id": format!("u{index}"), "displayName": format!("User {index}"), "aboutMe": about_me(index)}))
                .collect();
            let next = format!("http://{host}/v1.0/users?$top={top}&$skiptoken=page-2");
            return (200, json!({"value": users, "@odata.nextLink": next}).to_string());
        }
        (
            404,
            json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource 'missing' does not exist."}})
                .to_string(),
        )
    })
}

/// Starts `connector-host mcp` against `graph` with extra arguments, and connects rmcp's
/// client to it over stdio.
async fn stdio_client(graph: &RoutedServer, extra: &[&str]) -> Client {
    let mut args = vec!["mcp".to_string(), "--config".into(), graph.connection(), "--allow-host".into()];
    args.push(format!("127.0.0.1:{}", graph.port));
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-host")).configure(|command| {
        command.args(&args);
    });
    let transport = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("connector-host mcp starts")
        .0;
    ().serve(transport).await.expect("the MCP handshake succeeds")
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(object(arguments)))
        .await
        .unwrap_or_else(|error| panic!("calling {tool}: {error}"))
}

/// The text of a result's only content block.
fn text_of(result: &CallToolResult) -> String {
    assert_eq!(result.content.len(), 1, "{result:?}");
    result.content[0].as_text().map(|text| text.text.clone()).expect("a text block")
}

fn find<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools.iter().find(|tool| tool.name == name).unwrap_or_else(|| panic!("no tool {name}"))
}

fn schema_of(tool: &Tool) -> Value {
    Value::Object(tool.input_schema.as_ref().clone())
}

/// The number of actions the embedded component offers, and how many are read-only.
fn catalog_counts() -> (usize, usize) {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let actions = tokio
        .block_on(async {
            let outbound = OutboundHttp::new(AllowedHosts::none(), Route::Live);
            runtime().instantiate(outbound, TimeSource::Real).await?.list_actions().await
        })
        .unwrap();
    (actions.len(), actions.iter().filter(|action| action.read_only).count())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_is_a_tool_with_its_schemas_and_annotations() {
    let (actions, _) = tokio::task::spawn_blocking(catalog_counts).await.unwrap();
    let graph = fake_graph();
    let client = stdio_client(&graph, &["--mcp-max-items", "3"]).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), actions);
    for tool in &tools {
        let valid = !tool.name.is_empty()
            && tool.name.len() <= 64
            && tool.name.chars().all(|letter| letter.is_ascii_alphanumeric() || letter == '_' || letter == '-');
        assert!(valid, "tool name {} is outside ^[A-Za-z0-9_-]{{1,64}}$", tool.name);
        assert_eq!(schema_of(tool)["type"], "object", "{}", tool.name);
    }

    let get = find(&tools, "users_get");
    assert_eq!(get.title.as_deref(), Some("Get user"));
    assert!(get.description.as_deref().unwrap().starts_with("Reads a user (GET /users/{id})"));
    assert!(get.description.as_deref().unwrap().ends_with("Microsoft Graph permissions: User.Read.All."));
    let input = schema_of(get);
    assert_eq!(input["required"], json!(["userId"]));
    assert_eq!(input["properties"]["userId"]["type"], "string");
    assert!(input["properties"].get("dryRun").is_none(), "a read-only tool takes no dryRun");
    let annotations = serde_json::to_value(get.annotations.as_ref().unwrap()).unwrap();
    assert_eq!(
        annotations,
        json!({"title": "Get user", "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true,
               "openWorldHint": true})
    );
    assert_eq!(get.output_schema.as_ref().unwrap()["type"], "object");

    let delete = find(&tools, "users_delete");
    let annotations = serde_json::to_value(delete.annotations.as_ref().unwrap()).unwrap();
    assert_eq!(annotations["readOnlyHint"], false);
    assert_eq!(annotations["destructiveHint"], true);
    assert_eq!(annotations["idempotentHint"], true);
    assert_eq!(schema_of(delete)["properties"]["dryRun"]["type"], "boolean");
    // A write's output schema admits its result and its dry-run plan.
    let outputs = delete.output_schema.as_ref().unwrap()["anyOf"].as_array().unwrap().clone();
    assert_eq!(outputs[0]["required"], json!(["success", "userId"]));
    assert_eq!(outputs[1]["required"], json!(["dryRun", "plan"]));

    let create = find(&tools, "users_create");
    assert_eq!(create.annotations.as_ref().unwrap().destructive_hint, Some(false));
    assert_eq!(create.annotations.as_ref().unwrap().idempotent_hint, Some(false));

    let list = find(&tools, "users_list");
    let max_items = &schema_of(list)["properties"]["maxItems"]["description"];
    assert!(max_items.as_str().unwrap().starts_with("Stop after this many items (default 3 here"), "{max_items}");
    assert!(list.description.as_deref().unwrap().contains("$skiptoken of the nextLink as skipToken"));
    assert_eq!(list.output_schema.as_ref().unwrap()["properties"]["truncated"]["required"][0], "member");
    assert!(find(&tools, "users_list-licenses").name.contains('-'), "hyphens are kept");
    drop(client);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_get_sends_one_request_and_returns_the_user_as_structured_content_and_text() {
    let graph = fake_graph();
    let client = stdio_client(&graph, &[]).await;
    let result = call(&client, "users_get", json!({"userId": "abc"})).await;
    assert_eq!(result.is_error, Some(false));
    let expected = json!({"id": "abc", "displayName": "Adele Vance", "mail": "AdeleV@contoso.com"});
    assert_eq!(result.structured_content, Some(expected.clone()));
    assert_eq!(serde_json::from_str::<Value>(&text_of(&result)).unwrap(), expected);

    let seen = graph.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/v1.0/users/abc");
    assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
    assert!(seen[0].body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typed_error_is_a_tool_error_with_its_code_status_and_request_id() {
    let graph = fake_graph();
    let client = stdio_client(&graph, &[]).await;
    let result = call(&client, "users_get", json!({"userId": "missing"})).await;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(result.structured_content, None);
    let error: Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert_eq!(error["error"]["code"], "not-found");
    assert_eq!(error["error"]["status"], 404);
    assert_eq!(error["error"]["graphCode"], "Request_ResourceNotFound");
    assert_eq!(error["error"]["requestId"], "routed-1");
    assert!(error["error"]["message"].as_str().unwrap().contains("does not exist"), "{error}");
    assert_eq!(graph.requests()[0].target, "/v1.0/users/missing");

    // Invalid input is typed too, and nothing is sent for it.
    let result = call(&client, "users_get", json!({})).await;
    assert_eq!(result.is_error, Some(true));
    let error: Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert_eq!(error, json!({"error": {"code": "invalid-input", "message": "`userId` is required"}}));
    assert_eq!(graph.requests().len(), 1);

    // A tool that does not exist is a protocol error, not a tool result.
    let unknown = client.call_tool(CallToolRequestParams::new("users.get").with_arguments(object(json!({})))).await;
    assert!(unknown.is_err(), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_tool_returns_max_items_by_default_and_the_next_link() {
    let graph = fake_graph();
    let client = stdio_client(&graph, &["--mcp-max-items", "3"]).await;
    let result = call(&client, "users_list", json!({"select": "id,displayName"})).await;
    assert_eq!(result.is_error, Some(false));
    let output = result.structured_content.unwrap();
    let ids: Vec<&str> = output["value"].as_array().unwrap().iter().map(|user| user["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u0", "u1", "u2"]);
    assert_eq!(output["nextLink"], format!("http://127.0.0.1:{}/v1.0/users?$top=3&$skiptoken=page-2", graph.port));
    assert!(output.get("truncated").is_none());
    let seen = graph.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/v1.0/users?$select=id,displayName&$top=3");

    // The agent's own maxItems wins over the default.
    call(&client, "users_list", json!({"maxItems": 2})).await;
    assert_eq!(graph.requests()[1].target, "/v1.0/users?$top=2");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_output_over_the_bound_is_cut_at_an_item_boundary_with_a_note() {
    let graph = fake_graph();
    let client = stdio_client(&graph, &[]).await;
    let result = call(&client, "users_list", json!({"maxItems": 40})).await;
    assert_eq!(result.is_error, Some(false));
    let output = result.structured_content.clone().unwrap();
    let text = text_of(&result);
    assert!(text.len() <= McpOptions::DEFAULT_MAX_OUTPUT_BYTES, "{} bytes", text.len());
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), output);

    let items = output["value"].as_array().unwrap();
    let returned = items.len();
    assert!(returned > 0 && returned < 40, "{returned} items");
    // The first items, whole and in order.
    for (index, item) in items.iter().enumerate() {
        assert_eq!(item["id"], format!("u{index}"));
        assert_eq!(item["aboutMe"], about_me(index));
    }
    let truncated = &output["truncated"];
    assert_eq!(truncated["member"], "value");
    assert_eq!(truncated["returned"], returned);
    assert_eq!(truncated["omitted"], 40 - returned);
    assert_eq!(
        truncated["note"],
        format!(
            "The result was cut to fit: {} items after the first {returned} are not shown. To read them, call \
             users_list again with the same arguments and maxItems {returned} and top {returned}, then with the \
             $skiptoken of each nextLink as skipToken; or narrow the items with select.",
            40 - returned
        )
    );
    // One more item would not have fitted.
    let next_item =
        json!({"id": format!("u{returned}"), "displayName": format!("User {returned}"), "aboutMe": about_me(returned)});
    let with_one_more = text.len() + serde_json::to_string(&next_item).unwrap().len() + 1;
    assert!(with_one_more > McpOptions::DEFAULT_MAX_OUTPUT_BYTES);
    // Graph's own next link is kept: the items beyond the forty.
    assert_eq!(output["nextLink"], format!("http://127.0.0.1:{}/v1.0/users?$top=40&$skiptoken=page-2", graph.port));
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_and_the_allowlist_offer_only_those_tools() {
    let (_, read_only) = tokio::task::spawn_blocking(catalog_counts).await.unwrap();
    let graph = fake_graph();
    let client = stdio_client(&graph, &["--read-only"]).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), read_only);
    assert!(tools.iter().all(|tool| tool.annotations.as_ref().unwrap().read_only_hint == Some(true)));
    assert!(tools.iter().all(|tool| tool.name != "users_delete"));
    let arguments = object(json!({"userId": "abc"}));
    let refused = client.call_tool(CallToolRequestParams::new("users_delete").with_arguments(arguments)).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(graph.requests().is_empty());
    drop(client);

    let client = stdio_client(&graph, &["--actions", "users.get,users.disable"]).await;
    let names: Vec<String> = client.list_all_tools().await.unwrap().iter().map(|tool| tool.name.to_string()).collect();
    assert_eq!(names, ["users_get", "users_disable"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_tool_with_dry_run_returns_the_plan_and_sends_no_write() {
    let graph = fake_graph();
    let client = stdio_client(&graph, &[]).await;
    let result = call(&client, "users_disable", json!({"userId": "abc", "revokeSessions": true, "dryRun": true})).await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let base = format!("http://127.0.0.1:{}/v1.0", graph.port);
    assert_eq!(
        result.structured_content,
        Some(json!({"dryRun": true, "plan": [
            {"method": "PATCH", "url": format!("{base}/users/abc"), "body": {"accountEnabled": false}},
            {"method": "POST", "url": format!("{base}/users/abc/revokeSignInSessions")},
        ]}))
    );
    assert!(graph.requests().is_empty(), "{:?}", graph.requests());

    // The reads of a dry run are sent: a manager's userPrincipalName becomes its id.
    let arguments = json!({"userId": "abc", "managerId": "boss@contoso.com", "dryRun": true});
    let result = call(&client, "users_assign-manager", arguments).await;
    assert_eq!(
        result.structured_content,
        Some(json!({"dryRun": true, "plan": [
            {"method": "PUT", "url": format!("{base}/users/abc/manager/$ref"),
             "body": {"@odata.id": format!("{base}/users/boss-id")}},
        ]}))
    );
    let seen = graph.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("GET", "/v1.0/users/boss@contoso.com?$select=id"));

    let result = call(&client, "users_disable", json!({"userId": "abc", "dryRun": "yes"})).await;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        serde_json::from_str::<Value>(&text_of(&result)).unwrap(),
        json!({"error": {"code": "invalid-input", "message": "`dryRun` must be a boolean"}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_streamable_http_service_lists_tools_and_calls_users_get() {
    streamable_http_lists_tools_and_calls_users_get(StreamableHttpServerConfig::default()).await;
}

/// Without sessions, every request stands alone: what `serve` behind a load balancer needs.
#[tokio::test(flavor = "multi_thread")]
async fn the_stateless_streamable_http_service_lists_tools_and_calls_users_get() {
    let config = StreamableHttpServerConfig::default().with_legacy_session_mode(false).with_json_response(true);
    streamable_http_lists_tools_and_calls_users_get(config).await;
}

async fn streamable_http_lists_tools_and_calls_users_get(config: StreamableHttpServerConfig) {
    let graph = fake_graph();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{}", graph.port).parse().unwrap()]);
    let outbound = Box::new(move || OutboundHttp::new(allowed.clone(), Route::Live));
    let backend = InstanceBackend::open(runtime().clone(), outbound, graph.connection())
        .await
        .unwrap()
        .expect("the settings are accepted");
    let service = streamable_http_service(
        Arc::new(backend),
        McpOptions { actions: Some(vec!["users.get".into()]), ..McpOptions::default() },
        config,
    )
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });

    let transport = StreamableHttpClientTransport::from_uri(format!("http://127.0.0.1:{port}/mcp"));
    let client = ().serve(transport).await.expect("the MCP handshake over HTTP succeeds");
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, ["users_get"]);
    let result = call(&client, "users_get", json!({"userId": "abc"})).await;
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "abc", "displayName": "Adele Vance", "mail": "AdeleV@contoso.com"}))
    );
    let seen = graph.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("GET", "/v1.0/users/abc"));
    assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
    client.cancel().await.unwrap();
    server.abort();
}

/// Arguments as an rmcp JSON object.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, not {other}"),
    }
}

#[test]
fn settings_the_component_refuses_stop_the_server_with_their_typed_error_and_no_secret() {
    let settings = r#"{"auth":"clientCredentials","tenantId":"contoso.onmicrosoft.com","clientSecret":"SECRET-mcp-7"}"#;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["mcp", "--config", settings])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "stdout belongs to the protocol");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: the connection settings were refused: {\"code\":\"invalid-config\""),
        "{stderr}"
    );
    assert!(stderr.contains("clientId"), "the error names the missing field: {stderr}");
    assert!(!stderr.contains("SECRET-mcp-7"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_stopped_by_a_limit_is_a_typed_tool_error_and_the_next_call_gets_a_fresh_one() {
    use connector_host::mcp::ConnectorMcpServer;
    use connector_host::Limits;
    let limits = Limits { memory_bytes: 16 * 1024 * 1024, ..Limits::default() };
    let runtime = crate::hostile_component::hostile_runtime().with_limits(limits);
    let outbound = Box::new(|| OutboundHttp::new(AllowedHosts::none(), Route::Live));
    let backend = InstanceBackend::open(runtime, outbound, "{}".to_string()).await.unwrap().unwrap();
    let server = ConnectorMcpServer::new(Arc::new(backend), McpOptions::default()).unwrap();

    let stopped = server.call("grow-memory", None).await.unwrap();
    assert_eq!(stopped.is_error, Some(true));
    let error: Value = serde_json::from_str(&text_of(&stopped)).unwrap();
    assert_eq!(error["error"]["code"], "upstream", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("bytes of memory the sandbox allows"), "{error}");

    let next = server.call("ok", Some(object(json!({"n": 1})))).await.unwrap();
    assert_eq!(next.is_error, Some(false), "{next:?}");
    assert_eq!(next.structured_content, Some(json!({"ok": true, "input": {"n": 1}})));
}
