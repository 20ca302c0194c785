//! Load through the HTTP API on the live route against the local fake Graph: a thousand
//! concurrent calls over fifty connections, each result right and each request carrying its
//! own connection's token; and a Graph that throttles a third of the requests. The figures
//! (`serve_load_figures`, ignored by default) go to BENCHMARKS.md, "Serve".

use super::{client_id, metric, named, token_of, ApiClient, FakeGraph, TestServer};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::serve::ServeOptions;
use connector_host::{AllowedHosts, HostPattern};
use serde_json::json;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 50;
const CALLS: usize = 1000;

/// The connection (0-based) of call `i`, and the user it asks for.
fn call_of(i: usize) -> (usize, String) {
    let connection = i % CONNECTIONS;
    (connection, format!("u{connection}-{i}"))
}

fn load_options(graph: &FakeGraph) -> impl FnOnce(&mut ServeOptions) + '_ {
    move |options| {
        options.core.max_concurrency = CALLS;
        options.connections =
            (0..CONNECTIONS).map(|n| named(&format!("tenant-{n}"), &graph.settings(100 + n))).collect();
    }
}

/// Runs every call at once; returns each call's status, body and latency, in call order.
async fn run_calls(api: &ApiClient) -> Vec<(u16, serde_json::Value, Duration)> {
    let tasks: Vec<_> = (0..CALLS)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let (connection, user) = call_of(i);
                let started = Instant::now();
                let reply = api
                    .invoke(
                        "users.get",
                        &json!({"connection": format!("tenant-{connection}"), "input": {"userId": user}}),
                    )
                    .await;
                (reply.status, reply.json(), started.elapsed())
            })
        })
        .collect();
    let mut results = Vec::with_capacity(CALLS);
    for task in tasks {
        results.push(task.await.expect("no call task panicked"));
    }
    results
}

/// Checks that each Graph request for a user carried the token of the connection the call used.
fn assert_own_tokens(graph: &FakeGraph) {
    for request in graph.requests().iter().filter(|request| request.method == "GET") {
        let user = request.target.strip_prefix("/v1.0/users/").expect("only users are asked for");
        let connection: usize = user[1..].split('-').next().unwrap().parse().unwrap();
        let expected = format!("Bearer {}", token_of(&client_id(100 + connection)));
        assert_eq!(request.header("authorization"), Some(expected.as_str()), "{}", request.target);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_over_fifty_connections_all_come_back_right() {
    let graph = FakeGraph::start();
    let server = TestServer::start(&graph, load_options(&graph)).await;
    let api = ApiClient::new(server.addr);
    let results = run_calls(&api).await;
    for (i, (status, body, _)) in results.iter().enumerate() {
        let (_, user) = call_of(i);
        assert_eq!(*status, 200, "call {i}: {body}");
        assert_eq!(body["output"], json!({"id": user, "displayName": format!("User {user}")}), "call {i}");
    }
    let seen = graph.requests();
    let users: Vec<_> = seen.iter().filter(|request| request.method == "GET").collect();
    assert_eq!(users.len(), CALLS, "one Graph request per call, none lost or repeated");
    let mut targets: Vec<&str> = users.iter().map(|request| request.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), CALLS);
    assert_own_tokens(&graph);
    // Each instance asks for its connection's token once; at most the pool's cap per connection.
    let token_requests = seen.len() - CALLS;
    assert!(
        (CONNECTIONS..=CONNECTIONS * connector_host::serve::service::CoreOptions::DEFAULT_INSTANCES_PER_CONNECTION)
            .contains(&token_requests),
        "{token_requests} token requests"
    );
    let metrics = api.get("/metrics").await.body;
    assert_eq!(metric(&metrics, r#"connector_invocations_total{action="users.get",outcome="ok"}"#), Some(CALLS as f64));
    assert_eq!(metric(&metrics, "connector_calls_in_flight"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_third_of_graph_requests_throttled_calls_complete_or_end_throttled_and_retries_are_counted() {
    let graph = FakeGraph::start_with(Some(3));
    let server = TestServer::start(&graph, load_options(&graph)).await;
    let api = ApiClient::new(server.addr);
    let results = run_calls(&api).await;
    let mut throttled = 0;
    for (i, (status, body, _)) in results.iter().enumerate() {
        let (_, user) = call_of(i);
        match status {
            200 => assert_eq!(body["output"]["id"], user.as_str(), "call {i}"),
            429 => {
                assert_eq!(body["error"]["code"], "throttled", "call {i}");
                assert_eq!(body["error"]["retryAfterMs"], 1000, "call {i}");
                throttled += 1;
            }
            other => panic!("call {i}: {other} {body}"),
        }
    }
    let seen = graph.requests();
    let users: Vec<_> = seen.iter().filter(|request| request.method == "GET").collect();
    let retried = users.iter().filter(|request| request.header("retry-attempt").is_some()).count();
    let answered_429 = users.len() / 3;
    assert!(retried > 0 && answered_429 > 0);
    assert_own_tokens(&graph);
    let metrics = api.get("/metrics").await.body;
    assert_eq!(metric(&metrics, "connector_upstream_retries_total"), Some(retried as f64), "{metrics}");
    assert_eq!(metric(&metrics, r#"connector_upstream_requests_total{status="429"}"#), Some(answered_429 as f64));
    assert_eq!(metric(&metrics, "connector_upstream_throttle_waits_total"), Some(answered_429 as f64));
    assert_eq!(metric(&metrics, "connector_upstream_throttle_wait_seconds_total"), Some(answered_429 as f64));
    let ok = metric(&metrics, r#"connector_invocations_total{action="users.get",outcome="ok"}"#).unwrap_or(0.0);
    let ended_throttled = metric(&metrics, r#"connector_invocations_total{action="users.get",outcome="throttled"}"#);
    assert_eq!(ok as usize, CALLS - throttled);
    assert_eq!(ended_throttled.unwrap_or(0.0) as usize, throttled);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn summary(label: &str, mut latencies: Vec<Duration>, wall: Duration) {
    latencies.sort_unstable();
    println!(
        "{label}: {} calls in {:.2} s, {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
}

/// Prints the figures of BENCHMARKS.md, "Serve": 1,000 concurrent calls over 50 connections
/// through the HTTP API, and the baseline of the same calls one after another on one
/// instance (as `invoke --repeat` runs them). Run with
/// `cargo test --release -p connector-host --test all serve::load::serve_load_figures -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures for BENCHMARKS.md; run on a quiet machine"]
fn serve_load_figures() {
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let graph = FakeGraph::start();
        let allowed = AllowedHosts::from_patterns([HostPattern::new("127.0.0.1", Some(graph.port))]);
        let mut instance =
            super::runtime().instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Real).await.unwrap();
        instance.connect(&graph.settings(100).to_string()).await.unwrap().unwrap();
        let mut latencies = Vec::new();
        let started = Instant::now();
        for i in 0..CALLS {
            let (_, user) = call_of(i);
            let began = Instant::now();
            instance.invoke("users.get", &json!({"userId": user}).to_string()).await.unwrap().unwrap();
            latencies.push(began.elapsed());
        }
        summary("baseline, one instance, sequential", latencies, started.elapsed());

        for round in 0..2 {
            let graph = FakeGraph::start();
            let server = TestServer::start(&graph, load_options(&graph)).await;
            let api = ApiClient::new(server.addr);
            let started = Instant::now();
            let results = run_calls(&api).await;
            let wall = started.elapsed();
            assert!(results.iter().all(|(status, _, _)| *status == 200));
            summary(
                &format!("serve round {round}, {CALLS} concurrent over {CONNECTIONS} connections"),
                results.into_iter().map(|(_, _, took)| took).collect(),
                wall,
            );
        }
    });
}
