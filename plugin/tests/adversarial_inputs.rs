//! Property tests: random and adversarial inputs for every action of the catalog, answered
//! by random server responses. Nothing panics, every failure is a typed error, input
//! errors name their field, and no id ever escapes its path segment.

use graph_connector::catalog;
use graph_connector::graph::transport::scripted::ScriptedTransport;
use graph_connector::graph::transport::{HttpResponse, TransportErrorKind};
use graph_connector::{Connector, ConnectorError, ErrorCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

/// Cases run for each action.
const CASES_PER_ACTION: u32 = 200;

/// Strings built to break URLs, OData literals and validators.
const NASTY: &[&str] = &[
    "",
    " ",
    "..",
    ".",
    "../../groups",
    "a/b",
    "a?b=c",
    "x#frag",
    "50%",
    "%2e%2e",
    "%252e%252e",
    "a&b=c",
    "o'neil@contoso.com",
    "$x@y.com",
    "AdeleV_adatum.com#EXT#@contoso.com",
    "\u{0}\u{1}\r\n\t",
    "josé@exämple.com",
    "😀🙃",
    "\u{202e}evil",
    "https://evil.example/v1.0/users",
    "//evil.example/x",
    "\\\\server\\share",
    "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
    "admin@fabrikam.com",
    "https://myapp.contoso.com",
    "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x",
    "/users/a?b",
    "Sheet1",
    "'My Sheet'!A1:B2",
    "A1:C3",
    "true",
    "123",
    "USER",
    "GROUP",
    "Unified",
    "DynamicMembership",
    "eq",
];

fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(NASTY).prop_map(str::to_string),
        2 => "[a-zA-Z0-9@._/?#%'$ -]{0,24}",
        1 => any::<String>(),
    ]
}

/// A string around the connector's per-field limit (64 KiB), below and above it.
fn huge_string() -> impl Strategy<Value = String> {
    (proptest::sample::select(NASTY), 60_000usize..70_000).prop_map(|(s, n)| s.repeat(n / s.len().max(1)))
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => nasty_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(nasty_string(), inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An input object over the action's own field names (so handlers get past the first
/// check), plus some of the names actions share and some noise.
fn input_for(fields: Vec<String>) -> impl Strategy<Value = Value> {
    let shared: Vec<String> = ["userId", "groupId", "id", "timeoutMs", "members", "maxItems", "top", "filter"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let names: Vec<String> = fields.into_iter().chain(shared).collect();
    let field_value = prop_oneof![20 => json_value(), 1 => huge_string().prop_map(Value::String)];
    proptest::collection::vec((proptest::sample::select(names), field_value), 0..8)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<String, Value>>()))
}

/// One scripted answer.
#[derive(Debug, Clone)]
enum Answer {
    Response { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    Failure(TransportErrorKind),
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => proptest::collection::vec(json_value(), 0..4)
            .prop_map(|items| json!({"value": items}).to_string().into_bytes()),
        1 => proptest::collection::vec(json_value(), 0..3).prop_map(|items| {
            json!({"value": items, "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=x"})
                .to_string()
                .into_bytes()
        }),
        1 => Just(b"<html><body>Bad Gateway</body></html>".to_vec()),
        1 => Just(b"{\"id\": ".to_vec()),
        1 => Just(Vec::new()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => Just(json!({"error": {"code": "Request_BadRequest", "message": "One or more added object references already exist"}}).to_string().into_bytes()),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    let status =
        proptest::sample::select(vec![200u16, 200, 200, 201, 202, 204, 400, 401, 403, 404, 409, 429, 500, 503, 504]);
    let retry_after = proptest::option::of(proptest::sample::select(vec![
        "0",
        "1",
        "120",
        "Mon, 24 Nov 2025 16:00:30 GMT",
        "soon",
        "99999999999999999999",
    ]));
    prop_oneof![
        8 => (status, retry_after, body()).prop_map(|(status, retry_after, body)| {
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if let Some(value) = retry_after {
                headers.push(("retry-after".into(), value.into()));
            }
            Answer::Response { status, headers, body }
        }),
        1 => proptest::sample::select(vec![
            TransportErrorKind::Refused,
            TransportErrorKind::NotDelivered,
            TransportErrorKind::MaybeDelivered,
            TransportErrorKind::TooLarge,
        ])
        .prop_map(Answer::Failure),
    ]
}

/// The script of a case as the shared scripted transport plays it.
fn scripted(answers: Vec<Answer>) -> ScriptedTransport {
    answers.into_iter().fold(ScriptedTransport::new(), |script, answer| match answer {
        Answer::Failure(kind) => script.fail("scripted failure", kind),
        Answer::Response { status, headers, body } => script.push(Ok(HttpResponse::new(status, headers, body))),
    })
}

/// The invariants every invocation keeps, whatever its input and the server's answers.
fn check_invocation(action: &str, input: &Value, answers: Vec<Answer>) -> Result<(), TestCaseError> {
    let transport = scripted(answers);
    let sent = transport.log();
    let mut connector = Connector::new();
    let config = json!({"auth": "accessToken", "accessToken": "test-token", "timeoutMs": 600000});
    connector.connect(&config.to_string(), Box::new(transport)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let result = connector.invoke(action, &input.to_string());
    if let Err(error) = &result {
        check_error(error)?;
    }
    for request in sent.borrow().iter() {
        check_url(action, request.uri())?;
    }
    Ok(())
}

fn check_error(error: &ConnectorError) -> Result<(), TestCaseError> {
    prop_assert!(error.code != ErrorCode::Internal, "internal error: {error}");
    prop_assert!(!error.message.trim().is_empty(), "empty message: {error:?}");
    if error.code == ErrorCode::InvalidInput && error.status.is_none() {
        prop_assert!(error.message.contains('`'), "invalid input names no field: {}", error.message);
    }
    Ok(())
}

/// A request URL is on the Graph host, its path has no dot segment, and (except for the
/// custom request, whose caller writes the query) its query is only OData options.
fn check_url(action: &str, url: &str) -> Result<(), TestCaseError> {
    prop_assert!(!url.contains('#'), "raw `#` in {url}");
    let uri: http::Uri = url.parse().map_err(|_| TestCaseError::fail(format!("unparsable URL {url}")))?;
    prop_assert!(uri.host() == Some("graph.microsoft.com"), "left the Graph host: {url}");
    for segment in uri.path().split('/') {
        prop_assert!(segment != ".." && segment != ".", "dot segment in {url}");
    }
    if action != "graph.request" {
        for pair in uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or("");
            prop_assert!(name.starts_with('$'), "query item `{pair}` is not an OData option in {url}");
        }
    }
    Ok(())
}

fn field_names(action: &catalog::Action) -> Vec<String> {
    let schema = (action.input_schema)();
    let mut names: Vec<String> =
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    if names.is_empty() {
        names.push("id".into());
    }
    names
}

#[test]
fn every_action_survives_adversarial_inputs_and_random_responses() {
    for action in catalog::all() {
        let mut runner =
            TestRunner::new(Config { cases: CASES_PER_ACTION, failure_persistence: None, ..Config::default() });
        let strategy = (input_for(field_names(action)), proptest::collection::vec(answer(), 0..8));
        let outcome = runner.run(&strategy, |(input, answers)| check_invocation(action.id, &input, answers));
        if let Err(failure) = outcome {
            panic!("{}: {failure}", action.id);
        }
    }
}

#[test]
fn inputs_that_are_not_objects_are_refused_as_invalid_input() {
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let result = runner.run(&json_value().prop_filter("not an object", |v| !v.is_object()), |input| {
        for action in catalog::all() {
            let transport = ScriptedTransport::new();
            let sent = transport.log();
            let mut connector = Connector::new();
            connector
                .connect(r#"{"auth": "accessToken", "accessToken": "t"}"#, Box::new(transport))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let error = connector.invoke(action.id, &input.to_string()).err();
            prop_assert_eq!(error.map(|e| e.code), Some(ErrorCode::InvalidInput), "{}", action.id);
            prop_assert!(sent.borrow().is_empty());
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
