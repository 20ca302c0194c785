//! How the host answers a component's wasi-http requests (`src/outgoing_handler.rs`): a
//! replayed answer is there as soon as `handle` returns, a request whose body is written
//! after `handle` still gets its answer once the body is in, and a declared body length
//! without a body is refused before anything is sent.

use crate::hostile_component::hostile_runtime;
use connector_host::replay::fixture::Fixture;
use connector_host::replay::report::render_outcome;
use connector_host::replay::{paused_runtime, replay_fixture, ReplayOptions};

#[test]
fn replayed_answers_are_ready_at_once_and_streamed_bodies_still_arrive() {
    let fixture = Fixture::parse(
        r#"{"name":"wasi-http answers","connection":{},"steps":[
            {"action":"probe-get","input":{},
             "exchanges":[{"request":{"method":"GET","url":"https://api.test/probe","body":null},
                           "response":{"status":200}}],
             "expect":{"output":{"readyAtOnce":true,"status":200}}},
            {"action":"probe-post","input":{},
             "exchanges":[{"request":{"method":"POST","url":"https://api.test/probe","body":{"probe":true}},
                           "response":{"status":201}}],
             "expect":{"output":{"readyAtOnce":false,"status":201}}},
            {"action":"length-without-body","input":{},"exchanges":[],
             "expect":{"output":{"refused":"ErrorCode::HttpRequestBodySize(Some(0))"}}}]}"#,
    )
    .unwrap();
    let outcome = replay(&fixture);
    assert!(outcome.passed(), "{}", render_outcome(&outcome));
}

#[test]
fn forbidden_headers_are_refused_going_out_and_removed_coming_in() {
    // The host's own check of forbidden headers (`src/http_policy.rs`) must refuse what
    // wasmtime-wasi-http's does, and no more.
    let fixture = Fixture::parse(
        r#"{"name":"header rules","connection":{},"steps":[
            {"action":"header-rules","input":{},
             "exchanges":[{"request":{"method":"GET","url":"https://api.test/headers"},
                           "response":{"status":200,"headers":{"connection":"close","upgrade":"h2c","x-kept":"1"}}}],
             "expect":{"output":{
                "refused":["connection","keep-alive","proxy-authenticate","proxy-authorization","proxy-connection",
                           "transfer-encoding","upgrade","host","http2-settings"],
                "accepted":["authorization","accept","content-type","x-host"],
                "seen":["content-length","x-kept"]}}}]}"#,
    )
    .unwrap();
    let outcome = replay(&fixture);
    assert!(outcome.passed(), "{}", render_outcome(&outcome));
}

#[test]
fn a_wrong_expectation_about_readiness_fails() {
    // The probe's answer is what the test above relies on: the same fixture expecting the
    // opposite readiness must fail.
    let fixture = Fixture::parse(
        r#"{"name":"wasi-http answers","connection":{},"steps":[
            {"action":"probe-get","input":{},
             "exchanges":[{"request":{"method":"GET","url":"https://api.test/probe"},"response":{"status":200}}],
             "expect":{"output":{"readyAtOnce":false}}}]}"#,
    )
    .unwrap();
    let outcome = replay(&fixture);
    assert!(!outcome.passed());
}

/// Replays `fixture` on the hostile test component.
fn replay(fixture: &Fixture) -> connector_host::replay::report::FixtureOutcome {
    paused_runtime().unwrap().block_on(replay_fixture(hostile_runtime(), fixture, &ReplayOptions::default()))
}
