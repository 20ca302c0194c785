//! Connections are isolated: many instances with different access tokens, invoked
//! concurrently, each send only their own token and get only their own answers.

use crate::support::runtime;
use connector_host::replay::fixture::Fixture;
use connector_host::replay::report::{render_outcome, RequestOutcome};
use connector_host::replay::{replay_fixture, ReplayOptions};
use serde_json::json;

const CONNECTIONS: usize = 50;
const INVOCATIONS_PER_CONNECTION: usize = 20;

/// Connection `n`: token `token-<n>`; invocation `k` reads user `user-<n>-<k>`, and the
/// fixture answers only a request carrying `Bearer token-<n>`, with that user.
fn connection_fixture(connection: usize) -> Fixture {
    let token = format!("token-{connection}");
    let steps: Vec<_> = (0..INVOCATIONS_PER_CONNECTION)
        .map(|invocation| {
            let user = format!("user-{connection}-{invocation}");
            json!({
                "action": "users.get",
                "input": {"userId": user},
                "exchanges": [{
                    "request": {"method": "GET", "url": format!("https://graph.microsoft.com/v1.0/users/{user}"),
                                "headers": {"authorization": format!("Bearer {token}")}},
                    "response": {"status": 200, "body": {"id": user, "displayName": format!("User {connection}.{invocation}")}}
                }],
                "expect": {"output": {"id": user, "displayName": format!("User {connection}.{invocation}")}}
            })
        })
        .collect();
    Fixture::from_json(&json!({
        "name": format!("connection {connection}"),
        "connection": {"auth": "accessToken", "accessToken": token},
        "steps": steps,
    }))
    .unwrap()
}

#[test]
fn concurrent_connections_each_send_their_own_token_and_get_their_own_results() {
    let runtime = runtime();
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let outcomes = tokio.block_on(async {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|connection| {
                let fixture = connection_fixture(connection);
                tokio::spawn(async move { replay_fixture(runtime, &fixture, &ReplayOptions::default()).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("the replay task completes"));
        }
        outcomes
    });
    let mut answered = 0;
    for outcome in &outcomes {
        assert!(outcome.passed(), "{}", render_outcome(outcome));
        for step in &outcome.steps {
            assert_eq!(step.requests.len(), 1, "{}", render_outcome(outcome));
            answered += step.requests.iter().filter(|request| request.outcome == RequestOutcome::Answered(200)).count();
        }
    }
    assert_eq!(answered, CONNECTIONS * INVOCATIONS_PER_CONNECTION);
}
