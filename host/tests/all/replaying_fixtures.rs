use crate::support::{runtime, workspace};
use connector_host::replay::{replay_paths, ReplayOptions};

#[test]
fn every_fixture_under_fixtures_passes() {
    let report = replay_paths(runtime(), &[workspace().join("fixtures")], &ReplayOptions::default());
    assert!(!report.outcomes.is_empty(), "fixtures/ holds no fixture");
    assert!(report.success(), "\n{}", report.render());
}

#[test]
fn a_retry_after_wait_passes_in_virtual_time_and_is_reported() {
    use connector_host::replay::fixture::Fixture;
    use connector_host::replay::report::render_outcome;
    use connector_host::replay::{paused_runtime, replay_fixture};
    use std::time::{Duration, Instant};

    let user = "https://graph.microsoft.com/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd";
    let fixture = Fixture::parse(&format!(
        r#"{{
          "name": "a throttled read waits for Retry-After",
          "connection": {{ "auth": "accessToken", "accessToken": "test-token" }},
          "steps": [{{
            "action": "users.get",
            "input": {{ "userId": "87d349ed-44d7-43e1-9a83-5f2406dee5bd" }},
            "exchanges": [
              {{ "request": {{ "method": "GET", "url": "{user}" }},
                 "response": {{ "status": 429, "headers": {{ "retry-after": "7" }},
                               "body": {{ "error": {{ "code": "TooManyRequests", "message": "Slow down" }} }} }} }},
              {{ "request": {{ "method": "GET", "url": "{user}" }},
                 "response": {{ "status": 200, "body": {{ "displayName": "Adele Vance" }} }} }}
            ],
            "expect": {{ "output": {{ "displayName": "Adele Vance" }} }}
          }}]
        }}"#
    ))
    .unwrap();
    let runtime = runtime(); // compiled before the clock starts
    let started = Instant::now();
    let outcome = paused_runtime().unwrap().block_on(replay_fixture(runtime, &fixture, &ReplayOptions::default()));
    let text = render_outcome(&outcome);
    assert!(outcome.passed(), "{text}");
    assert!(outcome.virtual_time >= Duration::from_secs(7), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "the wait was not real");
    assert!(text.starts_with("ok a throttled read waits for Retry-After (7"), "{text}");
}
