//! Feeds arbitrary actions, inputs and server responses through `Connector::invoke`.
//!
//! The fuzzer's bytes choose an action of the catalog, an input (raw text, or a JSON
//! object over the action's own field names so that handlers get past their first check)
//! and a script of responses and transport failures. Any panic is a finding; so is an
//! `internal` error or a request that leaves the Graph host.

#![no_main]

use graph_connector::catalog;
use graph_connector::graph::transport::scripted::{ScriptedTransport, SentLog};
use graph_connector::graph::transport::{HttpResponse, TransportError, TransportErrorKind};
use graph_connector::{Connector, ErrorCode};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// Most responses one run scripts.
const MAX_ANSWERS: usize = 12;
/// Deepest JSON nesting built.
const MAX_DEPTH: u32 = 4;

/// Keys Graph responses are made of, so that built bodies look like Graph's.
const RESPONSE_KEYS: &[&str] = &[
    "id",
    "value",
    "@odata.nextLink",
    "@odata.deltaLink",
    "@odata.count",
    "error",
    "code",
    "message",
    "innerError",
    "displayName",
    "values",
    "address",
    "invitedUser",
    "status",
    "mailNickname",
    "index",
    "userPrincipalName",
    "columns",
    "name",
    "fields",
    "@odata.type",
    "methods",
    "rowCount",
    "text",
];

/// Strings that have broken URL builders and validators elsewhere.
const NASTY: &[&str] = &[
    "",
    "..",
    ".",
    "a/b",
    "a?b",
    "x#y",
    "50%",
    "%2e%2e",
    "o'neil",
    "$x@y.com",
    "#EXT#",
    "\u{0}\r\n",
    "😀",
    "https://evil.example/x",
    "//evil",
    "\\",
    "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
    "admin@fabrikam.com",
    "https://myapp.contoso.com",
    "A1:C3",
    "Sheet1!A1",
    "USER",
    "GROUP",
    "Unified",
    "true",
    "0",
    "-1",
    "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x",
];

const STATUSES: &[u16] = &[200, 200, 200, 201, 202, 204, 400, 401, 403, 404, 409, 412, 429, 500, 502, 503, 504];

fn string(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => (*u.choose(NASTY)?).to_string(),
        1 => u.arbitrary::<String>()?,
        _ => format!("{}{}", u.choose(NASTY)?, u.arbitrary::<String>()?),
    })
}

fn value(u: &mut Unstructured, keys: &[String], depth: u32) -> Result<Value> {
    let top = if depth >= MAX_DEPTH { 4 } else { 6 };
    Ok(match u.int_in_range(0..=top)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(string(u)?),
        5 => {
            let mut items = Vec::new();
            while items.len() < 8 && u.arbitrary::<bool>()? {
                items.push(value(u, keys, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => object(u, keys, depth + 1)?,
    })
}

fn object(u: &mut Unstructured, keys: &[String], depth: u32) -> Result<Value> {
    let mut members = Map::new();
    while members.len() < 10 && u.arbitrary::<bool>()? {
        let key = if !keys.is_empty() && u.ratio(3, 4)? { u.choose(keys)?.clone() } else { string(u)? };
        members.insert(key, value(u, keys, depth)?);
    }
    Ok(Value::Object(members))
}

/// A scripted answer: a response (status, optional `Retry-After`, a body) or a failure.
fn answer(u: &mut Unstructured, keys: &[String]) -> Result<std::result::Result<HttpResponse, TransportError>> {
    if u.ratio(1, 10)? {
        let kind = *u.choose(&[
            TransportErrorKind::Refused,
            TransportErrorKind::NotDelivered,
            TransportErrorKind::MaybeDelivered,
            TransportErrorKind::TooLarge,
        ])?;
        return Ok(Err(TransportError::new(kind, "fuzzed failure")));
    }
    let status = if u.ratio(1, 8)? { u.int_in_range(100..=599)? } else { *u.choose(STATUSES)? };
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if u.ratio(1, 4)? {
        headers.push(("retry-after".to_string(), string(u)?));
    }
    let body = match u.int_in_range(0..=3u8)? {
        0 => u.arbitrary::<Vec<u8>>()?,
        1 => Vec::new(),
        _ => object(u, keys, 0)?.to_string().into_bytes(),
    };
    Ok(Ok(HttpResponse::new(status, headers, body)))
}

/// Where every request of an invocation went: the Graph host, and no dot segment in its path.
fn check_requests(sent: &SentLog) {
    for request in sent.borrow().iter() {
        let uri = request.uri();
        assert_eq!(request.authority(), "graph.microsoft.com", "request left the Graph host: {uri}");
        let path = request.path_and_query().split('?').next().unwrap_or_default();
        assert!(path.split('/').all(|s| s != ".." && s != "."), "dot segment in {uri}");
    }
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let actions: Vec<&catalog::Action> = catalog::all().collect();
    let action = actions[u.choose_index(actions.len())?];
    let schema = (action.input_schema)();
    let fields: Vec<String> = schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    let input = if u.ratio(1, 8)? { u.arbitrary::<String>()? } else { object(&mut u, &fields, 0)?.to_string() };
    let response_keys: Vec<String> = RESPONSE_KEYS.iter().map(|k| k.to_string()).chain(fields).collect();
    let mut script = ScriptedTransport::new();
    let mut answers = 0;
    while answers < MAX_ANSWERS && u.arbitrary::<bool>()? {
        script = script.push(answer(&mut u, &response_keys)?);
        answers += 1;
    }
    let sent = script.log();
    let mut connector = Connector::new();
    let config = r#"{"auth": "accessToken", "accessToken": "fuzz-token", "timeoutMs": 600000}"#;
    if connector.connect(config, Box::new(script)).is_err() {
        return Ok(());
    }
    if let Err(error) = connector.invoke(action.id, &input) {
        assert_ne!(error.code, ErrorCode::Internal, "{}: {error}", action.id);
        if error.code == ErrorCode::InvalidInput && error.status.is_none() && input.trim_start().starts_with('{') {
            assert!(error.message.contains('`') || error.message.contains("JSON"), "{}: {}", action.id, error.message);
        }
    }
    check_requests(&sent);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
