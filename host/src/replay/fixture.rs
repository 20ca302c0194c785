//! The fixture format (see `fixtures/README.md`): a scenario of steps run on one
//! connection, with every HTTP exchange the component is expected to make and what each
//! step must return.
//!
//! Fixtures are written by other tools too, so parsing is strict and its errors name the
//! member at fault (`steps[1].exchanges[0].request.url: missing`).

use crate::replay::ReadyResponse;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One fixture file.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// The scenario's name, printed in the report.
    pub name: String,
    /// The object passed to `connect`, as JSON.
    pub connection: Value,
    /// What the fixture checks.
    pub scenario: Scenario,
}

/// What a fixture checks once connected.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// `connect` succeeds, then each step runs in order.
    Steps(Vec<Step>),
    /// `connect` must fail with an error matching this (subset) JSON.
    ConnectError(Value),
}

/// One `invoke` and the exchanges it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The action id, e.g. `users.get`.
    pub action: String,
    /// The action input (a JSON object).
    pub input: Value,
    /// The HTTP exchanges the step makes, in order.
    pub exchanges: Vec<Exchange>,
    /// What the step must return.
    pub expect: Expectation,
}

/// What a step must return: its output, or a typed error. Both compare as subsets.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The output must contain every member listed here.
    Output(Value),
    /// The typed error (as JSON with `code`, `message`, `status`, `graphCode`,
    /// `requestId`, `retryAfterMs`) must contain every member listed here.
    Error(Value),
}

/// An expected request and the response replay answers it with.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// What the component must send.
    pub request: ExpectedRequest,
    /// What replay answers.
    pub response: CannedResponse,
}

/// A request the component must send.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Headers that must be present with these values; others are not checked.
    pub headers: Vec<(String, String)>,
    /// The expected body, when the fixture checks it.
    pub body: Option<Value>,
    /// How `body` is compared.
    pub body_match: BodyMatch,
}

/// How an expected body is compared with the actual one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyMatch {
    /// The bodies are equal (the default).
    #[default]
    Exact,
    /// Every member the fixture lists is present and equal, recursively.
    Subset,
}

/// The response replay sends back.
#[derive(Debug, Clone, PartialEq)]
pub struct CannedResponse {
    status: u16,
    body: Option<Value>,
    /// The same response as it goes on the wire, made once when the fixture is read
    /// rather than for every request it answers.
    wire: ReadyResponse,
}

impl CannedResponse {
    /// A response with this status, headers and body (a JSON value is sent serialized, a
    /// string as-is, `None` as no body).
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Option<Value>) -> Self {
        let wire = wire_form(status, headers, body.as_ref());
        Self { status, body, wire }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A response whose body is these bytes (`bodyBase64`), sent as they are: their
    /// content type is whatever the headers say.
    pub fn with_bytes(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Self { status, body: None, wire: ReadyResponse { status, headers, body } }
    }

    /// The body, as the fixture gives it (`None` for no body and for `bodyBase64` bytes).
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// What replay sends: a JSON body serialized and labelled `application/json` unless the
    /// fixture sets a content type, a string as-is.
    pub fn wire(&self) -> &ReadyResponse {
        &self.wire
    }
}

/// The wire form of a fixture response (see [`CannedResponse::wire`]).
fn wire_form(status: u16, mut headers: Vec<(String, String)>, body: Option<&Value>) -> ReadyResponse {
    let body = match body {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(json) => {
            if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
                headers.push(("content-type".to_string(), "application/json".to_string()));
            }
            json.to_string().into_bytes()
        }
    };
    ReadyResponse { status, headers, body }
}

/// Why a fixture file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The fixture file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON does not follow the fixture format.
    #[error("{at}: {problem}")]
    Format {
        /// Where in the document, e.g. `steps[0].expect`.
        at: String,
        /// What is wrong there.
        problem: String,
    },
}

impl Fixture {
    /// Reads and parses a fixture file.
    pub fn load(path: &Path) -> Result<Self, FixtureError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| FixtureError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text)
    }

    /// Parses a fixture from its JSON text.
    pub fn parse(text: &str) -> Result<Self, FixtureError> {
        let document: Value = serde_json::from_str(text)?;
        Self::from_json(&document)
    }

    /// Reads a fixture from an already parsed JSON document.
    pub fn from_json(document: &Value) -> Result<Self, FixtureError> {
        let root = Node::new(document, String::new()).object(&[
            "name",
            "connection",
            "steps",
            "connectError",
            "description",
            "$schema",
        ])?;
        let name = root.required("name")?.string()?;
        let connection = root.required("connection")?.object(&[])?.value().clone();
        let steps = root.optional("steps");
        let connect_error = root.optional("connectError");
        let scenario = match (steps, connect_error) {
            (Some(_), Some(_)) => {
                return Err(root.problem("has both `steps` and `connectError`; keep one"));
            }
            (None, None) => return Err(root.problem("needs `steps` or `connectError`")),
            (None, Some(error)) => Scenario::ConnectError(error.object(&[])?.value().clone()),
            (Some(steps), None) => {
                let steps = steps.array()?;
                if steps.is_empty() {
                    return Err(root.problem("`steps` is empty; list one or more steps"));
                }
                Scenario::Steps(steps.into_iter().map(parse_step).collect::<Result<_, _>>()?)
            }
        };
        Ok(Fixture { name, connection, scenario })
    }

    /// The steps of the scenario; empty for a `connectError` fixture.
    pub fn steps(&self) -> &[Step] {
        match &self.scenario {
            Scenario::Steps(steps) => steps,
            Scenario::ConnectError(_) => &[],
        }
    }

    /// Every host (lower-cased, with its port when the URL names one) the fixture's
    /// exchanges address.
    pub fn exchange_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .steps()
            .iter()
            .flat_map(|step| &step.exchanges)
            .filter_map(|exchange| crate::replay::matcher::parse_url(&exchange.request.url).ok())
            .map(|url| match url.port {
                Some(port) => format!("{}:{port}", url.host),
                None => url.host,
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

fn parse_step(node: Node<'_>) -> Result<Step, FixtureError> {
    let step = node.object(&["action", "input", "exchanges", "expect", "description", "name"])?;
    let action = step.required("action")?.string()?;
    let input = step.required("input")?.object(&[])?.value().clone();
    let exchanges = match step.optional("exchanges") {
        Some(exchanges) => exchanges.array()?.into_iter().map(parse_exchange).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let expect_node = step.required("expect")?;
    let expect = expect_node.object(&["output", "error"])?;
    let expect = match (expect.optional("output"), expect.optional("error")) {
        (Some(output), None) => Expectation::Output(output.value().clone()),
        (None, Some(error)) => Expectation::Error(error.object(&[])?.value().clone()),
        _ => {
            return Err(expect_node.problem("must hold exactly one of `output` or `error`"));
        }
    };
    Ok(Step { action, input, exchanges, expect })
}

fn parse_exchange(node: Node<'_>) -> Result<Exchange, FixtureError> {
    let exchange = node.object(&["request", "response"])?;
    let request = exchange.required("request")?.object(&["method", "url", "headers", "body", "bodyMatch"])?;
    let url_node = request.required("url")?;
    let url = url_node.string()?;
    if let Err(problem) = crate::replay::matcher::parse_url(&url) {
        return Err(url_node.problem(&problem));
    }
    let body_match = match request.optional("bodyMatch") {
        None => BodyMatch::Exact,
        Some(node) => match node.string()?.as_str() {
            "exact" => BodyMatch::Exact,
            "subset" => BodyMatch::Subset,
            other => {
                return Err(node.problem(&format!("`{other}` is not a body match; use \"exact\" or \"subset\"")));
            }
        },
    };
    let request = ExpectedRequest {
        method: request.required("method")?.string()?,
        url,
        headers: parse_headers(request.optional("headers"))?,
        body: request.optional("body").map(|body| body.value().clone()),
        body_match,
    };

    let response = exchange.required("response")?.object(&["status", "headers", "body", "bodyBase64"])?;
    let status_node = response.required("status")?;
    let status = status_node
        .value()
        .as_u64()
        .and_then(|status| u16::try_from(status).ok())
        .filter(|status| (100..=999).contains(status))
        .ok_or_else(|| status_node.problem("must be an HTTP status code (100 to 999)"))?;
    let headers = parse_headers(response.optional("headers"))?;
    let response = match (response.optional("body"), response.optional("bodyBase64")) {
        (Some(_), Some(_)) => return Err(response.problem("has both `body` and `bodyBase64`; keep one")),
        (_, Some(encoded)) => {
            use base64ct::{Base64, Encoding as _};
            let bytes = Base64::decode_vec(encoded.string()?.trim())
                .map_err(|_| encoded.problem("must be standard base64 (RFC 4648, with padding)"))?;
            CannedResponse::with_bytes(status, headers, bytes)
        }
        (body, None) => {
            CannedResponse::new(status, headers, body.map(|body| body.value().clone()).filter(|body| !body.is_null()))
        }
    };
    Ok(Exchange { request, response })
}

fn parse_headers(node: Option<Node<'_>>) -> Result<Vec<(String, String)>, FixtureError> {
    let Some(node) = node else {
        return Ok(Vec::new());
    };
    let headers = node.object(&[])?;
    headers.members().map(|(name, value)| Ok((name.to_string(), value.string()?))).collect()
}

/// A JSON value with its location in the document, for error messages.
#[derive(Clone)]
struct Node<'a> {
    value: &'a Value,
    at: String,
}

impl<'a> Node<'a> {
    fn new(value: &'a Value, at: String) -> Self {
        Self { value, at }
    }

    fn value(&self) -> &'a Value {
        self.value
    }

    fn problem(&self, problem: &str) -> FixtureError {
        FixtureError::Format {
            at: if self.at.is_empty() { "fixture".to_string() } else { self.at.clone() },
            problem: problem.to_string(),
        }
    }

    fn string(&self) -> Result<String, FixtureError> {
        self.value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.problem(&format!("must be a string, found {}", self.value)))
    }

    /// Checks this is an object whose members are all in `known` (any member when
    /// `known` is empty).
    fn object(&self, known: &[&str]) -> Result<Self, FixtureError> {
        let Some(members) = self.value.as_object() else {
            return Err(self.problem(&format!("must be an object, found {}", self.value)));
        };
        if !known.is_empty() {
            if let Some(unknown) = members.keys().find(|key| !known.contains(&key.as_str())) {
                return Err(
                    self.problem(&format!("unknown member `{unknown}` (expected one of: {})", known.join(", ")))
                );
            }
        }
        Ok(self.clone())
    }

    fn array(&self) -> Result<Vec<Self>, FixtureError> {
        let Some(items) = self.value.as_array() else {
            return Err(self.problem(&format!("must be an array, found {}", self.value)));
        };
        Ok(items.iter().enumerate().map(|(index, item)| Node::new(item, format!("{}[{index}]", self.at))).collect())
    }

    fn member_path(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    fn optional(&self, key: &str) -> Option<Self> {
        let members: &'a Map<String, Value> = self.value.as_object()?;
        members.get(key).map(|value| Node::new(value, self.member_path(key)))
    }

    fn required(&self, key: &str) -> Result<Self, FixtureError> {
        self.optional(key).ok_or_else(|| Node::new(self.value, self.member_path(key)).problem("missing"))
    }

    fn members(&self) -> impl Iterator<Item = (&'a str, Node<'a>)> + '_ {
        self.value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| (key.as_str(), Node::new(value, self.member_path(key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "name": "users.get returns the user",
      "connection": { "auth": "accessToken", "accessToken": "test-token" },
      "steps": [{
        "action": "users.get",
        "input": { "userId": "87d3", "select": "displayName,mail" },
        "exchanges": [{
          "request": { "method": "GET",
                       "url": "https://graph.microsoft.com/v1.0/users/87d3?$select=displayName,mail",
                       "headers": { "authorization": "Bearer test-token" } },
          "response": { "status": 200, "headers": { "content-type": "application/json" },
                        "body": { "id": "87d3", "displayName": "Megan Bowen" } }
        }],
        "expect": { "output": { "displayName": "Megan Bowen" } }
      }]
    }"#;

    #[test]
    fn the_documented_example_parses() {
        let fixture = Fixture::parse(EXAMPLE).unwrap();
        assert_eq!(fixture.name, "users.get returns the user");
        let step = &fixture.steps()[0];
        assert_eq!(step.action, "users.get");
        assert_eq!(step.exchanges[0].request.method, "GET");
        assert_eq!(step.exchanges[0].request.body_match, BodyMatch::Exact);
        assert_eq!(step.exchanges[0].response.status(), 200);
        assert!(matches!(step.expect, Expectation::Output(_)));
        assert_eq!(fixture.exchange_hosts(), vec!["graph.microsoft.com"]);
    }

    #[test]
    fn binary_response_bodies_are_given_in_base64_with_their_content_type() {
        let binary = EXAMPLE
            .replace(r#""body": { "id": "87d3", "displayName": "Megan Bowen" }"#, r#""bodyBase64": "UEsDBAAA/w==""#);
        let fixture = Fixture::parse(&binary).unwrap();
        let wire = fixture.steps()[0].exchanges[0].response.wire();
        assert_eq!(wire.body, [b'P', b'K', 3, 4, 0, 0, 0xff]);
        assert_eq!(wire.headers, vec![("content-type".to_string(), "application/json".to_string())]);
        let both = binary.replace(r#""bodyBase64""#, r#""body": "x", "bodyBase64""#);
        let error = Fixture::parse(&both).unwrap_err().to_string();
        assert!(error.contains("has both `body` and `bodyBase64`"), "{error}");
        let bad = binary.replace("UEsDBAAA/w==", "not base64!");
        let error = Fixture::parse(&bad).unwrap_err().to_string();
        assert!(error.starts_with("steps[0].exchanges[0].response.bodyBase64: must be standard base64"), "{error}");
    }

    #[test]
    fn a_connect_error_fixture_needs_no_steps() {
        let fixture =
            Fixture::parse(r#"{"name":"n","connection":{},"connectError":{"code":"invalid-config"}}"#).unwrap();
        assert!(matches!(fixture.scenario, Scenario::ConnectError(_)));
    }

    #[test]
    fn errors_name_the_member_at_fault() {
        let broken = EXAMPLE.replace(r#""url""#, r#""uri""#);
        let error = Fixture::parse(&broken).unwrap_err().to_string();
        assert!(error.starts_with("steps[0].exchanges[0].request: unknown member `uri`"), "{error}");
        let broken = EXAMPLE.replace(r#""output""#, r#""outptu""#);
        let error = Fixture::parse(&broken).unwrap_err().to_string();
        assert!(error.starts_with("steps[0].expect: unknown member"), "{error}");
        let error = Fixture::parse(r#"{"name":"n","connection":{}}"#).unwrap_err().to_string();
        assert!(error.contains("needs `steps` or `connectError`"), "{error}");
    }
}
