//! Recording: a scenario runs live, through the same sandbox, allowlist and live settings as
//! `invoke`, while a [`RecordingInterceptor`] in the sandbox's seam sends each request on and
//! keeps the exchange; [`build_fixture`] then writes the exchanges and each step's result as
//! a fixture (`fixtures/README.md`), with every secret replaced by a stable placeholder
//! ([`secrets`]) and tenant data by consistent fakes ([`scrub`]).
//!
//! The host knows OAuth and the fixture format, not the service: it learns the secrets from
//! the connection settings' secret members, from `Authorization` headers, from the OAuth
//! token requests (form members such as `client_secret`) and the token responses
//! (`access_token`, `refresh_token`, `id_token`) it sees.

pub mod scrub;
pub mod secrets;

use crate::http::live_http::LiveHttp;
use crate::record::scrub::{ScrubOptions, ScrubRuleError, Scrubber};
use crate::record::secrets::SecretRedactor;
use crate::replay::matcher::parse_form;
use crate::sandbox::clock::TimeSource;
use crate::sandbox::http_policy::{AllowedHosts, Interception, Interceptor, OutboundHttp, Route};
use crate::sandbox::runtime::{InvokeOptions, Runtime};
use crate::HostError;
use base64ct::{Base64, Encoding as _};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// The connection settings' members that hold secrets, and the placeholder kind of each.
pub const CONNECTION_SECRETS: &[(&str, &str)] = &[
    ("clientSecret", "client-secret"),
    ("password", "password"),
    ("refreshToken", "refresh-token"),
    ("accessToken", "access-token"),
    ("privateKeyPem", "private-key"),
];

/// OAuth token request (form) members that hold secrets, and the placeholder kind of each.
const TOKEN_REQUEST_SECRETS: &[(&str, &str)] = &[
    ("client_secret", "client-secret"),
    ("password", "password"),
    ("refresh_token", "refresh-token"),
    ("client_assertion", "client-assertion"),
    ("assertion", "assertion"),
    ("code", "authorization-code"),
    ("code_verifier", "code-verifier"),
    ("device_code", "device-code"),
];

/// Token request members made anew for every request (a signed assertion carries its own
/// time and id): left out of the recorded request, which is then matched as a subset.
const PER_REQUEST_MEMBERS: &[&str] = &["client_assertion", "assertion"];

/// OAuth token response members that hold secrets.
const TOKEN_RESPONSE_SECRETS: &[(&str, &str)] =
    &[("access_token", "access-token"), ("refresh_token", "refresh-token"), ("id_token", "id-token")];

/// Request headers not recorded: set by the transport, or different on every run.
const UNRECORDED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "te",
    "user-agent",
    "accept-encoding",
    "proxy-authorization",
    "client-request-id",
];

/// Response headers recorded: the ones a connector acts on. Others (dates, servers,
/// diagnostics, cookies) are left out: they tell about the tenant and matter to nobody.
const RECORDED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "location",
    "content-location",
    "retry-after",
    "request-id",
    "client-request-id",
    "etag",
    "preference-applied",
    "www-authenticate",
];

/// Why a recording could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The scenario file does not follow its format.
    #[error("scenario {at}: {problem}")]
    Scenario {
        /// Where, e.g. `steps[1].input`.
        at: String,
        /// What is wrong there.
        problem: String,
    },
    /// The connection was refused; nothing was recorded.
    #[error("the connection was refused: {code}: {message}")]
    ConnectRefused {
        /// The error code.
        code: String,
        /// The message, secrets redacted.
        message: String,
    },
    /// The sandbox failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A `--scrub` rule is unusable.
    #[error(transparent)]
    Scrub(#[from] ScrubRuleError),
    /// A secret was still found in the fixture text: nothing is written.
    #[error("a secret ({placeholder}) was still found in the recording after scrubbing; nothing was written")]
    SecretLeft {
        /// The placeholder of the secret found.
        placeholder: String,
    },
}

/// What to run: a fixture without exchanges and expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioFile {
    /// The fixture's name.
    pub name: String,
    /// Free text kept as the fixture's `description`.
    pub description: Option<String>,
    /// The steps, in order.
    pub steps: Vec<ScenarioStep>,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioStep {
    /// The action id.
    pub action: String,
    /// The action input (a JSON object).
    pub input: Value,
    /// Free text kept as the step's `description`.
    pub description: Option<String>,
}

impl ScenarioFile {
    /// Parses a scenario (`{"name", "description"?, "steps": [{"action", "input", "description"?}]}`);
    /// errors name the member at fault.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let problem =
            |at: &str, problem: &str| RecordError::Scenario { at: at.to_string(), problem: problem.to_string() };
        let document: Value =
            serde_json::from_str(text).map_err(|error| problem("file", &format!("not JSON: {error}")))?;
        let root = document.as_object().ok_or_else(|| problem("file", "must be a JSON object"))?;
        if let Some(unknown) =
            root.keys().find(|key| !["name", "description", "steps", "$schema"].contains(&key.as_str()))
        {
            return Err(problem(unknown, "unknown member (a scenario has name, description and steps)"));
        }
        let name =
            root.get("name").and_then(Value::as_str).ok_or_else(|| problem("name", "missing, or not a string"))?;
        let steps =
            root.get("steps").and_then(Value::as_array).ok_or_else(|| problem("steps", "missing, or not an array"))?;
        if steps.is_empty() {
            return Err(problem("steps", "is empty; list one or more steps"));
        }
        let steps = steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let at = |member: &str| format!("steps[{index}].{member}");
                let step = step.as_object().ok_or_else(|| problem(&format!("steps[{index}]"), "must be an object"))?;
                if let Some(unknown) =
                    step.keys().find(|key| !["action", "input", "description", "name"].contains(&key.as_str()))
                {
                    return Err(problem(&at(unknown), "unknown member (a step has action, input and description)"));
                }
                let action = step
                    .get("action")
                    .and_then(Value::as_str)
                    .ok_or_else(|| problem(&at("action"), "missing, or not a string"))?;
                let input = step.get("input").cloned().unwrap_or_else(|| json!({}));
                if !input.is_object() {
                    return Err(problem(&at("input"), "must be a JSON object"));
                }
                let description = step.get("description").and_then(Value::as_str).map(str::to_string);
                Ok(ScenarioStep { action: action.to_string(), input, description })
            })
            .collect::<Result<_, _>>()?;
        let description = root.get("description").and_then(Value::as_str).map(str::to_string);
        Ok(Self { name: name.to_string(), description, steps })
    }

    /// A scenario of one action.
    pub fn single(name: &str, action: &str, input: Value) -> Self {
        Self {
            name: name.to_string(),
            description: None,
            steps: vec![ScenarioStep { action: action.to_string(), input, description: None }],
        }
    }
}

/// A request as it left the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A response as the network gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// One request and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedExchange {
    /// The request.
    pub request: RecordedRequest,
    /// Its response, or `None` when it failed before one came (a transport error, which a
    /// fixture cannot replay).
    pub response: Option<RecordedResponse>,
}

/// Sends every allowed request on through the live client and keeps the exchange.
pub struct RecordingInterceptor {
    live: LiveHttp,
    exchanges: Arc<Mutex<Vec<RecordedExchange>>>,
}

impl RecordingInterceptor {
    /// An interceptor sending through `live` (its proxy and trusted authorities).
    pub fn new(live: LiveHttp) -> Self {
        Self { live, exchanges: Arc::default() }
    }

    /// Takes the exchanges recorded so far.
    pub fn take(&self) -> Vec<RecordedExchange> {
        std::mem::take(&mut *self.exchanges.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

impl Interceptor for RecordingInterceptor {
    fn intercept(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        body_cap: usize,
    ) -> Interception {
        let live = self.live.clone();
        let exchanges = self.exchanges.clone();
        Interception::Answer(Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let recorded_request = RecordedRequest {
                method: parts.method.as_str().to_string(),
                url: parts.uri.to_string(),
                headers: header_list(&parts.headers),
                body: body.to_vec(),
            };
            let request =
                http::Request::from_parts(parts, Full::new(body).map_err(|never| match never {}).boxed_unsync());
            let sent = async {
                let (response, _io) = live.send(request, options).await?;
                let (parts, body) = response.into_parts();
                // The whole body is read here (the recording needs it), within the same cap
                // the component would have met.
                let body =
                    Limited::new(body, body_cap).collect().await.map_err(|error| match error.downcast::<Error>() {
                        Ok(error) => *error,
                        Err(error) if error.is::<LengthLimitError>() => Error::HttpResponseBodySize(None),
                        Err(error) => Error::InternalError(Some(error.to_string())),
                    })?;
                Ok::<_, Error>((parts, body.to_bytes()))
            };
            let outcome = sent.await;
            let response = outcome.as_ref().ok().map(|(parts, body)| RecordedResponse {
                status: parts.status.as_u16(),
                headers: header_list(&parts.headers),
                body: body.to_vec(),
            });
            exchanges
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(RecordedExchange { request: recorded_request, response });
            let (parts, body) = outcome?;
            let response =
                http::Response::from_parts(parts, Full::new(body).map_err(|never| match never {}).boxed_unsync());
            let io: Box<dyn std::future::Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
            Ok((response, io))
        }))
    }
}

fn header_list(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect()
}

/// What one step did, live.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedStep {
    /// The step as the scenario gives it.
    pub step: ScenarioStep,
    /// Its exchanges, in order (the first step's include `connect`'s).
    pub exchanges: Vec<RecordedExchange>,
    /// Its output (`Ok`) or typed error as JSON (`Err`).
    pub result: Result<Value, Value>,
}

/// Runs `scenario` live on one connection (`config`, JSON text), through `live`, allowing
/// `allowed` besides the configured cloud's hosts, and returns what each step did. Must run
/// on a multi-threaded tokio runtime.
pub async fn record_scenario(
    runtime: &Runtime,
    scenario: &ScenarioFile,
    config: &str,
    allowed: AllowedHosts,
    live: LiveHttp,
) -> Result<Vec<RecordedStep>, RecordError> {
    let interceptor = Arc::new(RecordingInterceptor::new(live.clone()));
    let outbound = OutboundHttp::new(allowed, Route::Intercept(interceptor.clone())).passing_on_to(live);
    let mut instance = runtime.instantiate(outbound, TimeSource::Real).await?;
    if let Err(error) = instance.connect(config).await? {
        return Err(RecordError::ConnectRefused { code: error.code.as_str(), message: error.message });
    }
    let mut steps = Vec::new();
    for step in &scenario.steps {
        let result = match instance
            .invoke_with(&step.action, &step.input.to_string(), InvokeOptions { timeout_ms: None, dry_run: false })
            .await
        {
            Ok(Ok(output)) => Ok(serde_json::from_str(&output).unwrap_or(Value::String(output))),
            Ok(Err(error)) => Err(error.to_json()),
            Err(error) => match error.as_connector_error() {
                Some(typed) => Err(typed.to_json()),
                None => return Err(error.into()),
            },
        };
        steps.push(RecordedStep { step: step.clone(), exchanges: interceptor.take(), result });
    }
    Ok(steps)
}

/// A fixture made from a recording, and what its author should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltFixture {
    /// The fixture document.
    pub fixture: Value,
    /// Things that may keep it from replaying, or that were left out.
    pub notes: Vec<String>,
}

/// Writes the fixture of a recording: secrets replaced by placeholders everywhere (the
/// connection gets the same placeholders), tenant data by consistent fakes. Refuses when a
/// secret is still found in the resulting text.
pub fn build_fixture(
    scenario: &ScenarioFile,
    config: &Value,
    steps: &[RecordedStep],
    scrub: &ScrubOptions,
) -> Result<BuiltFixture, RecordError> {
    let mut notes = Vec::new();
    let mut secrets = SecretRedactor::new();
    let mut connection = config.clone();
    if let Some(members) = connection.as_object_mut() {
        for (member, kind) in CONNECTION_SECRETS {
            if let Some(Value::String(value)) = members.get(*member) {
                if let Some(placeholder) = secrets.add(&value.clone(), kind) {
                    members.insert(member.to_string(), Value::String(placeholder));
                }
            }
        }
        if members.contains_key("privateKeyPem") {
            notes.push(
                "the connection's privateKeyPem is a placeholder: put a test key (never the real one) in its place to replay \
                 certificate authentication"
                    .to_string(),
            );
        }
    }
    for step in steps {
        learn_secrets_in_value(&mut secrets, &step.step.input);
        for exchange in &step.exchanges {
            learn_request_secrets(&mut secrets, &exchange.request);
            if let Some(response) = &exchange.response {
                learn_response_secrets(&mut secrets, response);
            }
        }
    }

    let mut scrub = scrub.clone();
    if scrub.tenant.is_none() {
        scrub.tenant = config.get("tenantId").and_then(Value::as_str).map(str::to_string);
    }
    let mut scrubber = Scrubber::new(&scrub)?;
    if let Some(members) = connection.as_object_mut() {
        for (name, value) in members.iter_mut() {
            if CONNECTION_SECRETS.iter().any(|(member, _)| member == name) {
                continue;
            }
            scrub_value(&secrets, &mut scrubber, value);
        }
    }

    let mut recorded_steps = Vec::new();
    let mut exchange_number = 0;
    for step in steps {
        let mut input = step.step.input.clone();
        scrub_value(&secrets, &mut scrubber, &mut input);
        let mut exchanges = Vec::new();
        for exchange in &step.exchanges {
            exchange_number += 1;
            let Some(response) = &exchange.response else {
                notes.push(format!(
                    "request {exchange_number} ({} {}) failed before any response (a transport error): a fixture cannot \
                     replay that, so it is left out",
                    exchange.request.method,
                    scrubber.scrub_url(&secrets.redact(&exchange.request.url))
                ));
                continue;
            };
            let request = build_request(&secrets, &mut scrubber, &exchange.request, exchange_number, &mut notes);
            let response = build_response(&secrets, &mut scrubber, response);
            exchanges.push(json!({"request": request, "response": response}));
        }
        let expect = match &step.result {
            Ok(output) => {
                let mut output = output.clone();
                scrub_value(&secrets, &mut scrubber, &mut output);
                json!({"output": output})
            }
            Err(error) => {
                let mut error = without_nulls(error);
                scrub_value(&secrets, &mut scrubber, &mut error);
                json!({"error": error})
            }
        };
        let mut recorded = Map::new();
        recorded.insert("action".into(), Value::String(step.step.action.clone()));
        if let Some(description) = &step.step.description {
            recorded.insert("description".into(), Value::String(scrubber.scrub(&secrets.redact(description))));
        }
        recorded.insert("input".into(), input);
        recorded.insert("exchanges".into(), Value::Array(exchanges));
        recorded.insert("expect".into(), expect);
        recorded_steps.push(Value::Object(recorded));
    }

    let mut fixture = Map::new();
    fixture.insert("name".into(), Value::String(scrubber.scrub(&secrets.redact(&scenario.name))));
    if let Some(description) = &scenario.description {
        fixture.insert("description".into(), Value::String(scrubber.scrub(&secrets.redact(description))));
    }
    fixture.insert("connection".into(), connection);
    fixture.insert("steps".into(), Value::Array(recorded_steps));
    let fixture = Value::Object(fixture);
    let text = serde_json::to_string(&fixture).unwrap_or_default();
    if let Some(placeholder) = secrets.find_in(&text) {
        return Err(RecordError::SecretLeft { placeholder: placeholder.to_string() });
    }
    Ok(BuiltFixture { fixture, notes })
}

/// A typed error without its `null` members, as fixtures write them.
fn without_nulls(error: &Value) -> Value {
    match error {
        Value::Object(members) => Value::Object(
            members.iter().filter(|(_, value)| !value.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    }
}

fn learn_request_secrets(secrets: &mut SecretRedactor, request: &RecordedRequest) {
    for (name, value) in &request.headers {
        if name.eq_ignore_ascii_case("authorization") {
            let (scheme, credential) = value.trim().split_once(' ').unwrap_or(("", value.trim()));
            if scheme.eq_ignore_ascii_case("basic") {
                // `id:secret` in base64: the secret alone too, wherever else it shows.
                if let Some(decoded) =
                    Base64::decode_vec(credential.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok())
                {
                    if let Some((_, secret)) = decoded.split_once(':') {
                        secrets.add(secret, "client-secret");
                    }
                }
                secrets.add(credential.trim(), "authorization");
            } else if scheme.eq_ignore_ascii_case("bearer") {
                secrets.add(credential.trim(), "access-token");
            } else {
                secrets.add(value.trim(), "authorization");
            }
        }
    }
    if is_form(&request.headers, &request.body) {
        let text = String::from_utf8_lossy(&request.body);
        for (name, value) in parse_form(&text) {
            if let Some((_, kind)) = TOKEN_REQUEST_SECRETS.iter().find(|(member, _)| *member == name) {
                secrets.add(&value, kind);
            }
        }
    } else if let Ok(body) = serde_json::from_slice::<Value>(&request.body) {
        learn_secrets_in_value(secrets, &body);
    }
}

fn learn_response_secrets(secrets: &mut SecretRedactor, response: &RecordedResponse) {
    let Ok(body) = serde_json::from_slice::<Value>(&response.body) else { return };
    if let Some(members) = body.as_object() {
        for (member, kind) in TOKEN_RESPONSE_SECRETS {
            if let Some(Value::String(value)) = members.get(*member) {
                secrets.add(value, kind);
            }
        }
    }
    learn_secrets_in_value(secrets, &body);
}

/// String members whose name says they hold a password or a secret, anywhere in a JSON
/// tree (a new user's initial password, a generated one): replaced like connection secrets,
/// consistently in inputs, requests and outputs.
fn learn_secrets_in_value(secrets: &mut SecretRedactor, value: &Value) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                let lower = name.to_ascii_lowercase();
                if let Value::String(text) = member {
                    if lower.ends_with("password") || lower.contains("secret") {
                        secrets.add(text, "password");
                    }
                }
                learn_secrets_in_value(secrets, member);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| learn_secrets_in_value(secrets, item)),
        _ => {}
    }
}

fn is_form(headers: &[(String, String)], body: &[u8]) -> bool {
    header(headers, "content-type")
        .is_some_and(|value| value.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
        || (!body.is_empty()
            && std::str::from_utf8(body)
                .is_ok_and(|text| text.starts_with("grant_type=") || text.contains("&grant_type=")))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(candidate, _)| candidate.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// Secrets out, then the scrub rules: strings that are absolute URLs as URLs. Member
/// names lose their secrets but keep their data (`manager@odata.bind` is no address).
fn scrub_value(secrets: &SecretRedactor, scrubber: &mut Scrubber, value: &mut Value) {
    secrets.redact_value(value);
    scrub_strings(scrubber, value);
}

fn scrub_strings(scrubber: &mut Scrubber, value: &mut Value) {
    match value {
        Value::String(text) => {
            *text = if text.starts_with("http://") || text.starts_with("https://") {
                scrubber.scrub_url(text)
            } else {
                scrubber.scrub(text)
            };
        }
        Value::Array(items) => items.iter_mut().for_each(|item| scrub_strings(scrubber, item)),
        Value::Object(members) => members.values_mut().for_each(|member| scrub_strings(scrubber, member)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn build_request(
    secrets: &SecretRedactor,
    scrubber: &mut Scrubber,
    request: &RecordedRequest,
    number: usize,
    notes: &mut Vec<String>,
) -> Value {
    let url = scrubber.scrub_url(&secrets.redact(&request.url));
    let mut recorded = Map::new();
    recorded.insert("method".into(), Value::String(request.method.clone()));
    recorded.insert("url".into(), Value::String(url.clone()));
    let headers: Map<String, Value> = request
        .headers
        .iter()
        .filter(|(name, _)| !UNRECORDED_REQUEST_HEADERS.iter().any(|skipped| name.eq_ignore_ascii_case(skipped)))
        .map(|(name, value)| (name.to_ascii_lowercase(), Value::String(scrubber.scrub(&secrets.redact(value)))))
        .collect();
    if !headers.is_empty() {
        recorded.insert("headers".into(), Value::Object(headers));
    }
    if request.body.is_empty() {
        return Value::Object(recorded);
    }
    if is_form(&request.headers, &request.body) {
        let text = secrets.redact(&String::from_utf8_lossy(&request.body)).into_owned();
        let mut form = Map::new();
        let mut per_request = false;
        for (name, value) in parse_form(&text) {
            if PER_REQUEST_MEMBERS.contains(&name.as_str()) {
                per_request = true;
                continue;
            }
            form.insert(name, Value::String(scrubber.scrub(&secrets.redact(&value))));
        }
        recorded.insert("body".into(), Value::Object(form));
        if per_request {
            recorded.insert("bodyMatch".into(), Value::String("subset".into()));
        }
        return Value::Object(recorded);
    }
    match std::str::from_utf8(&request.body) {
        Ok(text) => {
            recorded.insert("body".into(), recorded_text_body(secrets, scrubber, text));
        }
        Err(_) => notes.push(format!(
            "request {number} ({} {url}) has a binary body, which the fixture does not check",
            request.method
        )),
    }
    Value::Object(recorded)
}

/// A text body as the fixture keeps it: JSON as JSON, anything else as a string, either way
/// with its secrets replaced and its tenant data scrubbed. A JSON string or null is kept as
/// text, since as JSON it would read as text or as "no body".
fn recorded_text_body(secrets: &SecretRedactor, scrubber: &mut Scrubber, text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(mut json) if !json.is_string() && !json.is_null() => {
            scrub_value(secrets, scrubber, &mut json);
            json
        }
        _ => Value::String(scrubber.scrub(&secrets.redact(text))),
    }
}

fn build_response(secrets: &SecretRedactor, scrubber: &mut Scrubber, response: &RecordedResponse) -> Value {
    let mut recorded = Map::new();
    recorded.insert("status".into(), json!(response.status));
    let headers: Map<String, Value> = response
        .headers
        .iter()
        .filter(|(name, _)| RECORDED_RESPONSE_HEADERS.iter().any(|kept| name.eq_ignore_ascii_case(kept)))
        .map(|(name, value)| {
            let value = secrets.redact(value);
            let value = if value.contains("://") { scrubber.scrub_url(&value) } else { scrubber.scrub(&value) };
            (name.to_ascii_lowercase(), Value::String(value))
        })
        .collect();
    if !headers.is_empty() {
        recorded.insert("headers".into(), Value::Object(headers));
    }
    if response.body.is_empty() {
        return Value::Object(recorded);
    }
    match std::str::from_utf8(&response.body) {
        Ok(text) => {
            recorded.insert("body".into(), recorded_text_body(secrets, scrubber, text));
        }
        Err(_) => {
            // Bytes as base64; their content type is among the recorded headers.
            let bytes = secrets.redact_bytes(&response.body);
            recorded.insert("bodyBase64".into(), Value::String(Base64::encode_string(&bytes)));
        }
    }
    Value::Object(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zk9~q.secret+value/42";

    fn exchange(url: &str, response_headers: &[(&str, &str)], body: Vec<u8>) -> RecordedExchange {
        RecordedExchange {
            request: RecordedRequest {
                method: "GET".into(),
                url: url.into(),
                headers: vec![("authorization".into(), "Bearer issued-token-value".into())],
                body: Vec::new(),
            },
            response: Some(RecordedResponse {
                status: 200,
                headers: response_headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
                body,
            }),
        }
    }

    #[test]
    fn binary_bodies_are_kept_in_base64_and_text_as_text_without_their_secrets() {
        let mut workbook = vec![b'P', b'K', 3, 4, 0xff, 0xfe];
        workbook.extend_from_slice(SECRET.as_bytes());
        let step = RecordedStep {
            step: ScenarioStep { action: "workbook.download".into(), input: json!({}), description: None },
            exchanges: vec![
                exchange(
                    "https://graph.microsoft.com/v1.0/me/drive/items/1/content",
                    &[("content-type", "application/octet-stream"), ("date", "Sun, 06 Dec 2026 07:00:00 GMT")],
                    workbook,
                ),
                exchange(
                    "https://graph.microsoft.com/v1.0/me/drive/items/2/content",
                    &[("content-type", "text/csv")],
                    format!("a,b\n{SECRET},issued-token-value\n").into_bytes(),
                ),
            ],
            result: Ok(json!({"note": "no secret"})),
        };
        let scenario = ScenarioFile::single("download", "workbook.download", json!({}));
        let config =
            json!({"auth": "clientCredentials", "tenantId": "contoso-test.onmicrosoft.com", "clientSecret": SECRET});
        let built = build_fixture(&scenario, &config, &[step], &ScrubOptions::default()).unwrap();
        let exchanges = &built.fixture["steps"][0]["exchanges"];
        let binary = &exchanges[0]["response"];
        assert_eq!(binary["headers"], json!({"content-type": "application/octet-stream"}), "no date header");
        let bytes = Base64::decode_vec(binary["bodyBase64"].as_str().unwrap()).unwrap();
        let mut expected = vec![b'P', b'K', 3, 4, 0xff, 0xfe];
        expected.extend_from_slice(b"<client-secret>");
        assert_eq!(bytes, expected);
        assert_eq!(exchanges[1]["response"]["body"], "a,b\n<client-secret>,<access-token>\n");
        assert_eq!(exchanges[1]["request"]["headers"]["authorization"], "Bearer <access-token>");
        assert_eq!(built.fixture["connection"]["clientSecret"], "<client-secret>");
        assert_eq!(built.fixture["connection"]["tenantId"], "contoso.onmicrosoft.com");
        // And the fixture format reads it back.
        crate::replay::fixture::Fixture::from_json(&built.fixture).unwrap();
    }

    #[test]
    fn scenario_files_name_the_member_at_fault() {
        let error = ScenarioFile::parse(r#"{"name":"n","steps":[{"action":"a","input":[]}]}"#).unwrap_err();
        assert_eq!(error.to_string(), "scenario steps[0].input: must be a JSON object");
        let error = ScenarioFile::parse(r#"{"name":"n","steps":[{"action":"a","exchanges":[]}]}"#).unwrap_err();
        assert!(error.to_string().starts_with("scenario steps[0].exchanges: unknown member"), "{error}");
        let parsed = ScenarioFile::parse(r#"{"name":"n","steps":[{"action":"users.get"}]}"#).unwrap();
        assert_eq!(parsed.steps[0].input, json!({}));
    }
}
