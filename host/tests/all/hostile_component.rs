//! A component that misbehaves on purpose (`tests/hostile-component`): each misbehaviour
//! ends in its typed error, the instance that broke a limit is dropped, and a
//! well-behaved Graph instance on the same thread keeps serving meanwhile.

use crate::support::{runtime, workspace};
use connector_host::replay::fixture::Fixture;
use connector_host::replay::report::{render_outcome, StepResult};
use connector_host::replay::{replay_fixture, ReplayOptions};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::sandbox::runtime::{CallResult, ErrorCode};
use connector_host::{AllowedHosts, HostError, Limits, Runtime};
use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// The hostile component, compiled once for all tests of this binary.
pub fn hostile_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let bytes =
            std::fs::read(env!("HOSTILE_COMPONENT_WASM")).expect("the build script built the hostile component");
        Runtime::new(&bytes, Limits::default()).expect("the hostile component compiles")
    })
}

/// A component that exports every function of the world by its name, each with another type
/// (`tests/mistyped-component`): the host finds its exports, but makes no instance of it, at
/// the first try or any after (the types are checked until an instance passes).
#[test]
fn a_component_whose_exports_have_other_types_than_the_worlds_gets_no_instance() {
    let bytes = std::fs::read(env!("MISTYPED_COMPONENT_WASM")).expect("the build script built the mistyped component");
    let runtime = Runtime::new(&bytes, Limits::default()).expect("the mistyped component compiles and links");
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for attempt in 0..2 {
        let outbound = OutboundHttp::new(AllowedHosts::none(), Route::Live);
        match tokio.block_on(runtime.instantiate(outbound, TimeSource::Real)) {
            Ok(_) => panic!("attempt {attempt}: an instance of the mistyped component was made"),
            Err(HostError::Instantiate { reason }) => assert!(reason.contains("type mismatch"), "{reason}"),
            Err(other) => panic!("attempt {attempt}: {other}"),
        }
    }
}

/// Tight limits, so each misbehaviour is stopped quickly.
fn tight_limits() -> Limits {
    Limits {
        memory_bytes: 16 * 1024 * 1024,
        invocation_deadline: Duration::from_secs(1),
        requests_per_invocation: 20,
        ..Limits::default()
    }
}

/// What one call of the hostile component ended in, and whether its instance was dropped.
struct HostileCall {
    result: connector_host::Result<CallResult<String>>,
    instance_dropped: bool,
}

/// Connects a fresh hostile instance (nothing allowed on the network) and invokes `action`.
async fn call_hostile(action: &str) -> HostileCall {
    let runtime = hostile_runtime().with_limits(tight_limits());
    let outbound = OutboundHttp::new(AllowedHosts::none(), Route::Live);
    let mut instance =
        runtime.instantiate(outbound, TimeSource::Real).await.expect("the hostile component instantiates");
    instance.connect("{}").await.expect("connect runs").expect("connect accepts anything");
    let result = instance.invoke(action, "{}").await;
    HostileCall { result, instance_dropped: instance.has_failed() }
}

fn graph_fixture() -> Fixture {
    Fixture::load(&workspace().join("fixtures/users/users.get.doc-example.json")).unwrap()
}

/// Runs `hostile` on a current-thread runtime and, on the same thread until it ends,
/// replays a Graph fixture again and again; then once more after it. Returns the hostile
/// call and how many Graph replays passed while it ran.
fn alongside_graph_replays(hostile: impl Future<Output = HostileCall>) -> (HostileCall, usize) {
    let fixture = graph_fixture();
    let graph = runtime(); // compiled before the clock matters
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let hostile_done = Cell::new(false);
        let hostile = async {
            let call = hostile.await;
            hostile_done.set(true);
            call
        };
        let replays = async {
            let mut passed = 0;
            while !hostile_done.get() {
                let outcome = replay_fixture(graph, &fixture, &ReplayOptions::default()).await;
                assert!(outcome.passed(), "{}", render_outcome(&outcome));
                passed += 1;
                tokio::task::yield_now().await;
            }
            passed
        };
        let (call, passed) = tokio::join!(hostile, replays);
        let after = replay_fixture(graph, &fixture, &ReplayOptions::default()).await;
        assert!(after.passed(), "the host keeps serving after the failure: {}", render_outcome(&after));
        (call, passed)
    })
}

#[test]
fn a_component_looping_forever_is_stopped_at_the_deadline_while_another_keeps_serving() {
    let (call, graph_replays) = alongside_graph_replays(call_hostile("loop-forever"));
    let error = call.result.expect_err("the loop is stopped");
    assert!(matches!(error, HostError::DeadlineExceeded { .. }), "{error}");
    assert!(call.instance_dropped);
    assert!(graph_replays >= 1, "the Graph instance ran while the loop spun");
}

#[test]
fn a_component_growing_memory_without_end_hits_the_memory_limit() {
    let (call, _) = alongside_graph_replays(call_hostile("grow-memory"));
    let error = call.result.expect_err("the growth is stopped");
    assert!(matches!(error, HostError::MemoryLimit { limit_bytes: 16777216, .. }), "{error}");
    assert!(call.instance_dropped);
}

#[test]
fn a_component_sending_too_many_requests_is_stopped_at_the_request_cap() {
    let (call, _) = alongside_graph_replays(call_hostile("request-flood"));
    let error = call.result.expect_err("the flood is stopped");
    assert!(matches!(error, HostError::RequestLimit { limit: 20, .. }), "{error}");
    assert!(error.to_string().starts_with("request limit exceeded"), "{error}");
    assert!(call.instance_dropped);
}

#[test]
fn a_call_to_a_host_outside_the_allowlist_gets_the_components_own_transport_error() {
    let (call, _) = alongside_graph_replays(call_hostile("call-disallowed-host"));
    let error = call.result.expect("the host runs the call").expect_err("the request is refused");
    assert_eq!(error.code, ErrorCode::Transport, "{error}");
    assert!(error.message.contains("HttpRequestDenied"), "{error}");
    assert!(!call.instance_dropped, "a refused request is the component's error, not a breach");
}

#[test]
fn output_that_is_not_json_is_a_typed_host_error() {
    let (call, _) = alongside_graph_replays(call_hostile("invalid-json"));
    let error = call.result.expect_err("the output is refused");
    assert!(
        matches!(&error, HostError::InvalidJson { call, text, .. } if call == "invoke invalid-json" && text.starts_with("this is not JSON")),
        "{error}"
    );
}

#[test]
fn a_well_behaved_call_of_the_hostile_component_succeeds() {
    let (call, _) = alongside_graph_replays(call_hostile("ok"));
    let output = call.result.expect("the host runs the call").expect("ok succeeds");
    assert_eq!(output, r#"{"ok":true,"input":{}}"#);
}

#[test]
fn a_response_larger_than_the_body_cap_never_reaches_the_component() {
    let user = "https://graph.microsoft.com/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd";
    let fixture = Fixture::parse(&format!(
        r#"{{"name":"a huge user","connection":{{"auth":"accessToken","accessToken":"test-token"}},
            "steps":[{{"action":"users.get","input":{{"userId":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"}},
              "exchanges":[{{"request":{{"method":"GET","url":"{user}"}},
                             "response":{{"status":200,"body":{{"displayName":"{}"}}}}}}],
              "expect":{{"error":{{}}}}}}]}}"#,
        "x".repeat(4096)
    ))
    .unwrap();
    let capped = runtime().with_limits(Limits { response_body_bytes: 1024, ..Limits::default() });
    let tokio = connector_host::replay::paused_runtime().unwrap();
    let outcome = tokio.block_on(replay_fixture(&capped, &fixture, &ReplayOptions::default()));
    // Whether the connector retries the refused response is its own policy (any retry is an
    // extra request here); what matters is that it fails without ever seeing the body.
    let Some(StepResult::Error(error)) = &outcome.steps[0].result else {
        panic!("the step fails: {}", render_outcome(&outcome));
    };
    assert!(["transport", "upstream"].contains(&error["code"].as_str().unwrap_or_default()), "{error}");
    assert!(!error.to_string().contains("xxxx"), "no part of the body reached the component: {error}");
}
