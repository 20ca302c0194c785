//! The HTTP API: connections, invocations and every error mapping, API keys, the offered
//! catalog, admission, rate limits, metrics, probes and graceful shutdown.

use super::{
    client_id, log_lines_with, logs, metric, named, secret_of, token_of, ApiClient, FakeGraph, TestServer, TENANT,
};
use connector_host::serve::auth::ApiKeys;
use connector_host::{HostPattern, Limits};
use serde_json::{json, Value};
use std::time::Duration;

/// Asserts that no secret of connection `n`, nor `extra`, appears in `text`, as is or in base64.
fn assert_no_secrets(text: &str, n: usize, extra: &[&str]) {
    use base64ct::{Base64, Encoding as _};
    let client = client_id(n);
    let mut secrets = vec![secret_of(&client), token_of(&client)];
    secrets.extend(extra.iter().map(|secret| secret.to_string()));
    for secret in secrets {
        assert!(!text.contains(&secret), "`{secret}` appears in:\n{text}");
        let encoded = Base64::encode_string(secret.as_bytes());
        assert!(!text.contains(&encoded[..encoded.len() - 4]), "`{secret}` appears in base64 in:\n{text}");
    }
}

/// The form pairs of a token request body.
fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_string(), percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_opened_used_with_its_cached_token_and_deleted_without_its_secrets_ever_shown() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |_| {}).await;
    let api = ApiClient::new(server.addr);
    let mut replies = Vec::new();

    let created = api.post("/v1/connections", &graph.settings(1)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let body = created.json();
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("c-") && id.len() == 34, "{id}");
    assert_eq!(body["description"]["auth"], "clientCredentials");
    assert_eq!(body["description"]["clientId"], client_id(1));
    assert_eq!(body["description"]["tenantId"], TENANT);
    assert!(graph.requests().is_empty(), "opening a connection sends nothing: {:?}", graph.requests());
    replies.push(created);

    let listed = api.get("/v1/connections").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json(), json!([{"id": id, "name": null, "description": body["description"]}]));
    replies.push(listed);

    for round in 0..2 {
        let reply = api
            .send(
                "POST",
                "/v1/actions/users.get/invoke",
                &[("x-request-id", &format!("caller-{round}"))],
                Some(json!({"connection": id, "input": {"userId": "abc"}}).to_string()),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json(), json!({"output": {"id": "abc", "displayName": "User abc"}}));
        assert_eq!(reply.header("x-request-id"), Some(format!("caller-{round}").as_str()));
        assert_eq!(reply.header("request-id"), Some(if round == 0 { "graph-2" } else { "graph-3" }));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        replies.push(reply);
    }

    // One token request, then the two calls with the token it issued.
    let seen = graph.requests();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("POST", "/contoso.onmicrosoft.com/oauth2/v2.0/token")
    );
    let token_form = form(&seen[0].body);
    let field = |name: &str| token_form.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    assert_eq!(field("grant_type"), Some("client_credentials"));
    assert_eq!(field("client_id"), Some(client_id(1).as_str()));
    assert_eq!(field("client_secret"), Some(secret_of(&client_id(1)).as_str()));
    for request in &seen[1..] {
        assert_eq!((request.method.as_str(), request.target.as_str()), ("GET", "/v1.0/users/abc"));
        let expected = format!("Bearer {}", token_of(&client_id(1)));
        assert_eq!(request.header("authorization"), Some(expected.as_str()));
    }

    let deleted = api.send("DELETE", &format!("/v1/connections/{id}"), &[], None).await;
    assert_eq!(deleted.status, 204);
    let after = api.invoke("users.get", &json!({"connection": id, "input": {"userId": "abc"}})).await;
    assert_eq!(after.status, 404);
    assert_eq!(after.json()["error"]["code"], "unknown-connection");
    assert_eq!(after.json()["error"]["message"], format!("no connection has the id or name `{id}`"));
    let again = api.send("DELETE", &format!("/v1/connections/{id}"), &[], None).await;
    assert_eq!(again.status, 404);
    assert_eq!(graph.requests().len(), 3, "nothing is sent for a deleted connection");
    replies.extend([deleted, after, again]);

    for reply in &replies {
        assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()), "{reply:?}");
        assert_no_secrets(&reply.text(), 1, &[]);
    }
    let lines = log_lines_with("caller-0");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["message"], "call");
    assert_eq!(line["action"], "users.get");
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["connection"], id.as_str());
    assert_eq!(line["upstream_request_ids"], "graph-1,graph-2");
    assert!(line["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{line}");
    assert!(line["timestamp"].is_string(), "{line}");
    assert_no_secrets(&logs(), 1, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_are_never_logged_and_inline_settings_open_a_connection_for_one_call() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |_| {}).await;
    let api = ApiClient::new(server.addr);
    for _ in 0..2 {
        let reply = api
            .send(
                "POST",
                "/v1/actions/users.get/invoke",
                &[("x-request-id", "inline-call")],
                Some(json!({"connection": graph.settings(2), "input": {"userId": "input-marker-7f3"}}).to_string()),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["output"]["id"], "input-marker-7f3");
        assert_no_secrets(&reply.text(), 2, &[]);
    }
    // Nothing is kept between inline calls: a token request for each.
    let targets: Vec<String> =
        graph.requests().iter().map(|request| format!("{} {}", request.method, request.target)).collect();
    let token = "POST /contoso.onmicrosoft.com/oauth2/v2.0/token".to_string();
    let user = "GET /v1.0/users/input-marker-7f3".to_string();
    assert_eq!(targets, [token.clone(), user.clone(), token, user]);
    let lines = log_lines_with("inline-call");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|line| line["connection"] == "inline" && line["outcome"] == "ok"), "{lines:?}");
    assert!(!logs().contains("input-marker-7f3"), "an input value reached the logs");
    assert_no_secrets(&logs(), 2, &[]);
}

/// Invokes `users.get` for `user` on `connection` and checks the answer's status, error body
/// and headers; `retry_after` is the expected `Retry-After`.
async fn expect_error(
    api: &ApiClient,
    graph: &FakeGraph,
    connection: &Value,
    user: &str,
    status: u16,
    expected: Value,
    retry_after: Option<&str>,
) {
    let reply = api.invoke("users.get", &json!({"connection": connection, "input": {"userId": user}})).await;
    assert_eq!(reply.status, status, "{user}: {}", reply.body);
    let body = reply.json();
    let error = &body["error"];
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&error[key], value, "{user}: `{key}` of {body}");
    }
    let last_id = format!("graph-{}", graph.requests().len());
    if error["status"].is_number() {
        assert_eq!(error["requestId"], last_id.as_str(), "{user}: {body}");
        assert_eq!(reply.header("request-id"), Some(last_id.as_str()), "{user}");
    }
    assert_eq!(reply.header("retry-after"), retry_after, "{user}");
    assert!(reply.header("x-request-id").is_some(), "{user}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_typed_error_has_its_http_status_body_and_headers() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |options| {
        // Also any port of 127.0.0.1, for a connection to a port where nothing listens.
        options.core.allowed_hosts.allow(HostPattern::new("127.0.0.1", None));
    })
    .await;
    let api = ApiClient::new(server.addr);
    let mut settings = graph.settings(3);
    settings["maxRetries"] = json!(0);
    let id = api.post("/v1/connections", &settings).await.json()["id"].as_str().unwrap().to_string();
    let connection = json!(id);

    let cases = [
        (
            "missing",
            404,
            json!({"code": "not-found", "status": 404, "graphCode": "Request_ResourceNotFound", "retryAfterMs": null}),
            None,
        ),
        (
            "forbidden",
            403,
            json!({"code": "forbidden", "status": 403, "graphCode": "Authorization_RequestDenied"}),
            None,
        ),
        ("conflict", 409, json!({"code": "conflict", "status": 409, "graphCode": "Request_Conflict"}), None),
        ("broken", 502, json!({"code": "upstream", "status": 500, "graphCode": "InternalServerError"}), None),
        ("throttled", 429, json!({"code": "throttled", "status": 429, "retryAfterMs": 1000}), Some("1")),
    ];
    for (user, status, expected, retry_after) in cases {
        expect_error(&api, &graph, &connection, user, status, expected, retry_after).await;
    }

    // The log line of a failed call names the outcome, Graph's status, code and request id.
    let logged = api
        .send(
            "POST",
            "/v1/actions/users.get/invoke",
            &[("x-request-id", "error-log-1")],
            Some(json!({"connection": id, "input": {"userId": "missing"}}).to_string()),
        )
        .await;
    assert_eq!(logged.status, 404);
    let lines = log_lines_with("error-log-1");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "not-found");
    assert_eq!(lines[0]["upstream_status"], 404);
    assert_eq!(lines[0]["graph_code"], "Request_ResourceNotFound");
    assert_eq!(lines[0]["upstream_request_ids"], format!("graph-{}", graph.requests().len()));

    let invalid = api.invoke("users.get", &json!({"connection": id, "input": {}})).await;
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    assert_eq!(invalid.json()["error"]["code"], "invalid-input");
    assert!(invalid.json()["error"]["message"].as_str().unwrap().contains("userId"), "{}", invalid.body);

    let unknown = api.invoke("users.fly", &json!({"connection": id, "input": {}})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json()["error"],
        json!({"code": "unknown-action", "message": "the action `users.fly` is not offered here: the component has no such action (GET /v1/actions lists them)",
               "status": null, "graphCode": null, "requestId": null, "retryAfterMs": null})
    );

    let wrong_secret = graph.settings_with_secret(4, "not-the-secret-0451");
    let refused = api.invoke("users.get", &json!({"connection": wrong_secret, "input": {"userId": "abc"}})).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "auth-failed");
    assert_eq!(refused.header("www-authenticate"), None, "the connection's credentials failed, not the caller's key");
    assert!(!refused.text().contains("not-the-secret-0451"));

    let bad_settings = api.post("/v1/connections", &json!({"auth": "clientCredentials", "tenantId": TENANT})).await;
    assert_eq!(bad_settings.status, 400);
    assert_eq!(bad_settings.json()["error"]["code"], "invalid-config");
    assert!(bad_settings.json()["error"]["message"].as_str().unwrap().contains("clientId"), "{}", bad_settings.body);

    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = json!({"auth": "accessToken", "accessToken": "unreachable-token-1234", "maxRetries": 0,
                             "graphBaseUrl": format!("http://127.0.0.1:{closed_port}/v1.0")});
    let transport = api.invoke("users.get", &json!({"connection": unreachable, "input": {"userId": "abc"}})).await;
    assert_eq!(transport.status, 502, "{}", transport.body);
    assert_eq!(transport.json()["error"]["code"], "transport");
    assert!(!transport.text().contains("unreachable-token-1234"));

    for (body, message) in [
        (json!({"input": {}}), "`connection` is missing: give a connection id or name, or settings"),
        (
            json!({"connection": 7}),
            "`connection` must be a connection id or name (a string) or connection settings (an object), not a number",
        ),
        (json!({"connection": id, "input": []}), "`input` must be an object, not an array"),
        (json!({"connection": id, "timeoutMs": 0}), "`timeoutMs` must be a whole number of milliseconds above 0"),
        (json!({"connection": id, "dryRun": "yes"}), "`dryRun` must be true or false"),
        (
            json!({"connection": id, "timeout_ms": 5}),
            "unknown member `timeout_ms` (expected connection, input, timeoutMs, dryRun)",
        ),
    ] {
        let reply = api.invoke("users.get", &body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.json()["error"]["code"], "invalid-request", "{body}");
        assert_eq!(reply.json()["error"]["message"], message, "{body}");
    }
    let route = api.get("/v2/nothing").await;
    assert_eq!((route.status, route.json()["error"]["code"].as_str()), (404, Some("unknown-route")));
    let method = api.send("PUT", "/v1/actions", &[], None).await;
    assert_eq!((method.status, method.json()["error"]["code"].as_str()), (405, Some("method-not-allowed")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_host_stops_at_its_hard_limit_is_a_504() {
    let graph = FakeGraph::start();
    let limits = Limits { invocation_deadline: Duration::from_millis(300), ..Limits::default() };
    let runtime = super::runtime().with_limits(limits);
    let server = TestServer::start_on(runtime, &graph, |_| {}).await;
    let api = ApiClient::new(server.addr);
    let reply = api.invoke("users.get", &json!({"connection": graph.settings(5), "input": {"userId": "slow-1"}})).await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "transport");
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("hard limit of 300 ms"), "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_required_everywhere_but_the_probes_and_never_logged() {
    const KEY: &str = "the-right-key-5b1d0c9e";
    const WRONG: &str = "a-wrong-key-77aa3c01f0";
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |options| options.api_keys = Some(ApiKeys::new([KEY.to_string()]))).await;
    let anonymous = ApiClient::new(server.addr);

    let missing = anonymous.send("GET", "/v1/actions", &[("x-request-id", "no-key-1")], None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert_eq!(missing.header("x-request-id"), Some("no-key-1"));
    assert_eq!(missing.json()["error"]["code"], "unauthorized");
    let wrong = anonymous.with_key(WRONG).send("GET", "/metrics", &[("x-request-id", "wrong-key-1")], None).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.json()["error"]["message"].as_str().unwrap().starts_with("wrong API key"), "{}", wrong.body);
    let unknown_route = anonymous.get("/nowhere").await;
    assert_eq!(unknown_route.status, 401, "unknown routes say nothing without a key");
    let invoke =
        anonymous.invoke("users.get", &json!({"connection": graph.settings(6), "input": {"userId": "abc"}})).await;
    assert_eq!(invoke.status, 401);
    assert!(graph.requests().is_empty());

    assert_eq!(anonymous.get("/healthz").await.status, 200);
    assert_eq!(anonymous.get("/readyz").await.status, 200);
    let allowed = anonymous.with_key(KEY);
    assert_eq!(allowed.get("/v1/actions").await.status, 200);
    let called =
        allowed.invoke("users.get", &json!({"connection": graph.settings(6), "input": {"userId": "abc"}})).await;
    assert_eq!(called.status, 200, "{}", called.body);

    let refused_lines = log_lines_with("no-key-1");
    assert_eq!(refused_lines.len(), 1, "{refused_lines:?}");
    assert_eq!(refused_lines[0]["reason"], "no API key");
    assert_eq!(refused_lines[0]["path"], "/v1/actions");
    assert_eq!(refused_lines[0]["level"], "WARN");
    let wrong_lines = log_lines_with("wrong-key-1");
    assert_eq!(wrong_lines.len(), 1, "{wrong_lines:?}");
    assert_eq!(wrong_lines[0]["reason"], "wrong API key");
    assert_no_secrets(&logs(), 6, &[KEY, WRONG]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_and_an_action_list_narrow_the_catalog_and_refuse_the_rest() {
    let graph = FakeGraph::start();
    let read_only = TestServer::start(&graph, |options| options.core.read_only = true).await;
    let api = ApiClient::new(read_only.addr);
    let actions = api.get("/v1/actions").await.json();
    let actions = actions.as_array().unwrap();
    assert!(actions.iter().any(|action| action["id"] == "users.get"));
    assert!(actions.iter().all(|action| action["readOnly"] == true), "{actions:?}");
    assert!(actions.iter().all(|action| action["inputSchema"]["type"] == "object"), "schemas are JSON");
    let write = api
        .invoke("users.delete", &json!({"connection": graph.settings(7), "input": {"userId": "abc"}, "dryRun": true}))
        .await;
    assert_eq!(write.status, 404);
    assert_eq!(
        write.json()["error"]["message"],
        "the action `users.delete` is not offered here: the service runs with --read-only and the action writes"
    );

    let listed = TestServer::start(&graph, |options| options.core.actions = Some(vec!["users.get".into()])).await;
    let api = ApiClient::new(listed.addr);
    let ids: Vec<Value> =
        api.get("/v1/actions").await.json().as_array().unwrap().iter().map(|a| a["id"].clone()).collect();
    assert_eq!(ids, [json!("users.get")]);
    let other = api.invoke("groups.get", &json!({"connection": graph.settings(7), "input": {"groupId": "g"}})).await;
    assert_eq!(other.status, 404);
    assert_eq!(
        other.json()["error"]["message"],
        "the action `groups.get` is not offered here: the action is not in the service's --actions list"
    );
    assert!(graph.requests().is_empty(), "{:?}", graph.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_returns_the_plan_and_sends_no_write() {
    let graph = FakeGraph::start();
    let server =
        TestServer::start(&graph, |options| options.connections = vec![named("tenant", &graph.settings(8))]).await;
    let api = ApiClient::new(server.addr);
    let reply =
        api.invoke("users.delete", &json!({"connection": "tenant", "input": {"userId": "abc"}, "dryRun": true})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let output = &reply.json()["output"];
    assert_eq!(output["dryRun"], true);
    let plan = output["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{output}");
    assert_eq!(plan[0]["method"], "DELETE");
    assert_eq!(plan[0]["url"], format!("http://127.0.0.1:{}/v1.0/users/abc", graph.port));
    assert!(graph.requests().iter().all(|request| request.method != "DELETE"), "{:?}", graph.requests());
}

/// Polls `/metrics` until `series` reaches `value` (the service counts a call after its
/// answer went out).
pub async fn wait_for_metric(api: &ApiClient, series: &str, value: f64) -> String {
    for _ in 0..400 {
        let text = api.get("/metrics").await.body;
        if metric(&text, series) == Some(value) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{series} never reached {value}:\n{}", api.get("/metrics").await.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_concurrency_a_caller_gets_429_with_retry_after() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |options| {
        options.core.max_concurrency = 1;
        options.connections = vec![named("only", &graph.settings(9))];
    })
    .await;
    let api = ApiClient::new(server.addr);
    let slow_api = api.clone();
    let slow = tokio::spawn(async move {
        slow_api.invoke("users.get", &json!({"connection": "only", "input": {"userId": "slow-1"}})).await
    });
    wait_for_metric(&api, "connector_calls_in_flight", 1.0).await;
    let refused = api.invoke("users.get", &json!({"connection": "only", "input": {"userId": "abc"}})).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        refused.json()["error"],
        json!({"code": "throttled", "message": "the service is running its maximum of 1 calls; retry shortly",
               "status": null, "graphCode": null, "requestId": null, "retryAfterMs": 1000})
    );
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 200, "{}", slow.body);
    let metrics = wait_for_metric(&api, "connector_calls_in_flight", 0.0).await;
    assert_eq!(metric(&metrics, r#"connector_rejected_calls_total{reason="busy"}"#), Some(1.0), "{metrics}");
    assert_eq!(api.invoke("users.get", &json!({"connection": "only", "input": {"userId": "abc"}})).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_its_rate_gets_429_and_others_are_unaffected() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |options| {
        options.core.rate_limit = Some("2/60s".parse().unwrap());
        options.connections = vec![named("busy", &graph.settings(10)), named("quiet", &graph.settings(11))];
    })
    .await;
    let api = ApiClient::new(server.addr);
    let call = |connection: &str| json!({"connection": connection, "input": {"userId": "abc"}});
    assert_eq!(api.invoke("users.get", &call("busy")).await.status, 200);
    assert_eq!(api.invoke("users.get", &call("busy")).await.status, 200);
    let limited = api.invoke("users.get", &call("busy")).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.json()["error"]["message"], "the connection made its 2 calls allowed per 60 s");
    let seconds: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&seconds), "{seconds}");
    assert_eq!(api.invoke("users.get", &call("quiet")).await.status, 200);
    let users = graph.requests().iter().filter(|request| request.method == "GET").count();
    assert_eq!(users, 3, "the limited call sent nothing");
    let metrics = api.get("/metrics").await.body;
    assert_eq!(metric(&metrics, r#"connector_rejected_calls_total{reason="rate-limit"}"#), Some(1.0), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_latency_upstream_requests_instances_and_connections() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, |options| options.connections = vec![named("m", &graph.settings(12))]).await;
    let api = ApiClient::new(server.addr);
    for user in ["abc", "def", "missing"] {
        api.invoke("users.get", &json!({"connection": "m", "input": {"userId": user}})).await;
    }
    let text =
        wait_for_metric(&api, r#"connector_invocations_total{action="users.get",outcome="not-found"}"#, 1.0).await;
    let expect = [
        (r#"connector_invocations_total{action="users.get",outcome="ok"}"#, 2.0),
        (r#"connector_invocation_duration_seconds_count{action="users.get"}"#, 3.0),
        (r#"connector_upstream_requests_total{status="200"}"#, 3.0),
        (r#"connector_upstream_requests_total{status="404"}"#, 1.0),
        ("connector_upstream_retries_total", 0.0),
        ("connector_connections", 1.0),
        ("connector_instances_idle", 1.0),
        ("connector_instances_in_use", 0.0),
        ("connector_calls_in_flight", 0.0),
    ];
    for (series, value) in expect {
        assert_eq!(metric(&text, series), Some(value), "{series} in\n{text}");
    }
    assert!(text.contains("# TYPE connector_invocation_duration_seconds histogram"), "{text}");
    assert!(text.contains("# HELP connector_upstream_throttle_waits "), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_call_in_flight_finish_then_closes_the_listener() {
    let graph = FakeGraph::start();
    let mut server =
        TestServer::start(&graph, |options| options.connections = vec![named("s", &graph.settings(13))]).await;
    let api = ApiClient::new(server.addr);
    assert_eq!(api.get("/healthz").await.json(), json!({"status": "ok"}));
    assert_eq!(api.get("/readyz").await.json(), json!({"status": "ready"}));
    let caller = api.clone();
    let slow = tokio::spawn(async move {
        caller.invoke("users.get", &json!({"connection": "s", "input": {"userId": "slow-2"}})).await
    });
    wait_for_metric(&api, "connector_calls_in_flight", 1.0).await;
    let stopped = server.begin_shutdown();
    let reply = slow.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["output"]["id"], "slow-2");
    stopped.await.unwrap();
    assert!(std::net::TcpStream::connect(server.addr).is_err(), "the listener is closed");
}
