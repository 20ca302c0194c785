//! The pooling allocator reuses memory slots, and keeps the pages a dropped instance wrote
//! mapped, reset in place, where Linux allows (see `Runtime::engine`). An instance in a
//! reused slot must still start pristine: nothing of the connection, the token or the
//! answers of the instance before it.

use connector_host::replay::fixture::Fixture;
use connector_host::replay::report::render_outcome;
use connector_host::replay::{paused_runtime, replay_fixture, ReplayOptions, ReplaySession};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{HostPattern, OutboundHttp, Route};
use connector_host::sandbox::runtime::{ErrorCode, InstanceAllocation, RuntimeOptions};
use connector_host::{AllowedHosts, Limits};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Users in the large page: about 1.3 MB of JSON, more than the pages a slot keeps mapped.
const LARGE_PAGE_USERS: usize = 8_000;

/// Connection `n` (token `token-<n>`) reads user `user-<n>` and, when `large`, first lists a
/// page of users that fills more memory than a slot keeps mapped.
fn fixture(connection: usize, large: bool) -> Fixture {
    let token = format!("token-{connection}");
    let user = format!("user-{connection}");
    let mut steps = Vec::new();
    if large {
        let users: Vec<_> = (0..LARGE_PAGE_USERS)
            .map(|n| json!({"id": format!("{connection}-{n:05}"), "displayName": format!("Listed user {n} of connection {connection}")}))
            .collect();
        steps.push(json!({
            "action": "users.list",
            "input": {"maxItems": 0},
            "exchanges": [{
                "request": {"method": "GET", "url": "https://graph.microsoft.com/v1.0/users",
                            "headers": {"authorization": format!("Bearer {token}")}},
                "response": {"status": 200, "body": {"value": users}}
            }],
            "expect": {"output": {"value": users}}
        }));
    }
    steps.push(json!({
        "action": "users.get",
        "input": {"userId": user},
        "exchanges": [{
            "request": {"method": "GET", "url": format!("https://graph.microsoft.com/v1.0/users/{user}"),
                        "headers": {"authorization": format!("Bearer {token}")}},
            "response": {"status": 200, "body": {"id": user, "displayName": format!("User {connection}")}}
        }],
        "expect": {"output": {"id": user, "displayName": format!("User {connection}")}}
    }));
    let fixture = json!({
        "name": format!("pooled connection {connection}"),
        "connection": {"auth": "accessToken", "accessToken": token},
        "steps": steps
    });
    Fixture::parse(&fixture.to_string()).unwrap()
}

#[test]
fn an_instance_in_a_reused_slot_starts_pristine() {
    // One slot: every instance below runs in the memory of the one before it.
    let options =
        RuntimeOptions { allocation: InstanceAllocation::Pooling { max_instances: 1 }, ..RuntimeOptions::default() };
    let runtime = connector_host::embedded::runtime_with_options(Limits::default(), &options).unwrap();
    let tokio = paused_runtime().unwrap();
    for connection in 0..4 {
        // The instance before was connected: this one is not.
        let mut fresh = tokio
            .block_on(runtime.instantiate(OutboundHttp::new(AllowedHosts::none(), Route::Live), TimeSource::Virtual))
            .unwrap();
        let before_connect = tokio.block_on(fresh.invoke("users.get", r#"{"userId":"someone"}"#)).unwrap();
        assert_eq!(before_connect.unwrap_err().code, ErrorCode::NotConnected, "connection {connection}");
        drop(fresh);

        // Odd connections write more than a slot keeps mapped, so both ways of resetting run.
        let fixture = fixture(connection, connection % 2 == 1);
        let outcome = tokio.block_on(replay_fixture(&runtime, &fixture, &ReplayOptions::default()));
        assert!(outcome.passed(), "{}", render_outcome(&outcome));
    }
}

#[test]
fn a_fresh_instance_connects_and_answers_within_its_initial_memory() {
    // A memory that grows in a pooled slot costs two `mprotect`s per instance (opening the
    // pages, then closing them when the slot is reused): the component's initial memory
    // leaves its heap room for a connect and a call, and this holds it to that.
    let options = RuntimeOptions { allocation: InstanceAllocation::pooling(), ..RuntimeOptions::default() };
    let runtime = connector_host::embedded::runtime_with_options(Limits::default(), &options).unwrap();
    let tokio = paused_runtime().unwrap();
    let fixture = fixture(7, false);
    let session = Arc::new(Mutex::new(ReplaySession::new(&fixture)));
    let allowed = AllowedHosts::from_patterns(["graph.microsoft.com".parse::<HostPattern>().unwrap()]);
    let outbound = OutboundHttp::new(allowed, connector_host::replay::route(session.clone()));
    let mut instance = tokio.block_on(runtime.instantiate(outbound, TimeSource::Virtual)).unwrap();
    let initial = instance.peak_memory_bytes();
    assert!(initial > 0, "the limiter saw the initial memory");

    let connection = json!({"auth": "accessToken", "accessToken": "token-7"}).to_string();
    tokio.block_on(instance.connect(&connection)).unwrap().expect("the connection is accepted");
    session.lock().unwrap().begin_step(0, "users.get");
    let output = tokio.block_on(instance.invoke("users.get", r#"{"userId":"user-7"}"#)).unwrap();
    let output: serde_json::Value = serde_json::from_str(&output.expect("users.get answers")).unwrap();
    assert_eq!(output, json!({"id": "user-7", "displayName": "User 7"}));
    assert_eq!(instance.peak_memory_bytes(), initial, "the memory grew from {initial} bytes");
}
