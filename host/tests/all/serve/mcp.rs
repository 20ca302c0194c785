//! `serve`'s MCP door: one streamable-HTTP MCP server per named connection, at `/mcp/{name}`,
//! behind the same API keys as the HTTP API, calling through the same pools.

use super::{client_id, named, token_of, ApiClient, FakeGraph, TestServer};
use connector_host::serve::auth::ApiKeys;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::json;

const KEY: &str = "mcp-door-key-0123456789abcdef0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_named_connection_is_an_mcp_server_behind_the_api_keys() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |options| {
        options.api_keys = Some(ApiKeys::new([KEY.to_string()]));
        options.connections = vec![named("tenant-a", &graph.settings(1)), named("tenant-b", &graph.settings(2))];
        options.core.read_only = true;
    })
    .await;
    let uri = |name: &str| format!("http://{}/mcp/{name}", server.addr);

    // Without the key, the MCP door is closed as the API is.
    let refused = ApiClient::new(server.addr)
        .send("POST", "/mcp/tenant-a", &[("content-type", "application/json")], Some("{}".to_string()))
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let unknown = ApiClient::new(server.addr).with_key(KEY).send("POST", "/mcp/nobody", &[], Some("{}".into())).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    // Two named connections: `/mcp` alone names none of them.
    let ambiguous = ApiClient::new(server.addr).with_key(KEY).send("POST", "/mcp", &[], Some("{}".into())).await;
    assert_eq!(ambiguous.status, 404, "{}", ambiguous.body);

    for (n, name) in [(1, "tenant-a"), (2, "tenant-b")] {
        let config = StreamableHttpClientTransportConfig::with_uri(uri(name)).auth_header(KEY);
        let client = ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("the MCP handshake");
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.iter().any(|tool| tool.name == "users_get"));
        assert!(
            tools.iter().all(|tool| tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)),
            "--read-only offers read-only tools only"
        );
        let arguments = json!({"userId": format!("user-{n}")}).as_object().cloned();
        let result =
            client.call_tool(CallToolRequestParams::new("users_get").with_arguments(arguments.unwrap())).await.unwrap();
        assert_eq!(result.is_error, Some(false), "{result:?}");
        assert_eq!(
            result.structured_content,
            Some(json!({"id": format!("user-{n}"), "displayName": format!("User user-{n}")}))
        );
        client.cancel().await.unwrap();
        // The call went out with that connection's own token.
        let seen = graph.requests();
        let last = seen.last().unwrap();
        assert_eq!((last.method.as_str(), last.target.as_str()), ("GET", format!("/v1.0/users/user-{n}").as_str()));
        assert_eq!(last.header("authorization"), Some(format!("Bearer {}", token_of(&client_id(n))).as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_named_connection_mcp_is_also_at_the_bare_path() {
    let graph = FakeGraph::start();
    let server =
        TestServer::start(&graph, |options| options.connections = vec![named("only", &graph.settings(3))]).await;
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{}/mcp", server.addr));
    let client = ().serve(transport).await.expect("the MCP handshake at /mcp");
    let arguments = json!({"userId": "solo"}).as_object().cloned().unwrap();
    let result = client.call_tool(CallToolRequestParams::new("users_get").with_arguments(arguments)).await.unwrap();
    assert_eq!(result.structured_content, Some(json!({"id": "solo", "displayName": "User solo"})));
    client.cancel().await.unwrap();
    let last = graph.requests().pop().unwrap();
    assert_eq!(last.target, "/v1.0/users/solo");
    assert_eq!(last.header("authorization"), Some(format!("Bearer {}", token_of(&client_id(3))).as_str()));
}
