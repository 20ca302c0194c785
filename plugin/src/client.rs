//! The Graph HTTP client: authentication, retries, error mapping and paging.

use crate::auth::{redact, TokenSource};
use crate::config::ConnectionConfig;
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::odata::Query;
use crate::transport::{HttpResponse, Transport, MAX_RESPONSE_BODY};
use http::Method;
use serde_json::{json, Map, Value};

/// One Graph call as an action handler describes it.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URL (built with [`GraphClient::url`]).
    pub url: String,
    /// Extra headers (`ConsistencyLevel`, `Prefer`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body, sent with `Content-Type: application/json`.
    pub body: Option<Value>,
}

impl GraphRequest {
    /// A request without body or extra headers.
    pub fn new(method: Method, url: String) -> Self {
        GraphRequest { method, url, headers: Vec::new(), body: None }
    }

    /// The same request with a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The same request with `ConsistencyLevel: eventual` (advanced directory queries).
    pub fn eventual(mut self, eventual: bool) -> Self {
        if eventual {
            self.headers.push(("ConsistencyLevel", "eventual".into()));
        }
        self
    }
}

/// Graph's answer: status, headers and the parsed JSON body (if any).
#[derive(Debug, Clone)]
pub struct GraphResponse {
    /// HTTP status (2xx; errors become [`ConnectorError`]).
    pub status: u16,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `None` when Graph sent no body.
    pub body: Option<Value>,
}

impl GraphResponse {
    /// The body as an object, or an `upstream` error when Graph sent something else.
    pub fn into_object(self) -> Result<Map<String, Value>> {
        match self.body {
            Some(Value::Object(object)) => Ok(object),
            Some(_) => {
                Err(ConnectorError::upstream("Graph answered with JSON that is not an object").with_status(self.status))
            }
            None => Err(ConnectorError::upstream("Graph answered with an empty body where an object was expected")
                .with_status(self.status)),
        }
    }

    /// The named header, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Largest wait between retries, in milliseconds.
const MAX_BACKOFF_MS: u64 = 60_000;
/// First backoff wait when Graph gives no `Retry-After`.
const BASE_BACKOFF_MS: u64 = 1_000;

/// Sends Graph requests for one connection.
pub struct GraphClient {
    transport: Box<dyn Transport>,
    config: ConnectionConfig,
    tokens: TokenSource,
    deadline_ms: u64,
}

impl GraphClient {
    /// A client for the connection, sending through the transport.
    pub fn new(config: ConnectionConfig, transport: Box<dyn Transport>) -> Self {
        let tokens = TokenSource::new(&config);
        GraphClient { transport, config, tokens, deadline_ms: u64::MAX }
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Starts the time budget of one invocation.
    pub fn start_invocation(&mut self, timeout_ms: u64) {
        self.deadline_ms = self.transport.now_ms().saturating_add(timeout_ms);
    }

    /// The absolute URL of a path below the versioned Graph base. `path` must already
    /// be built from encoded segments (see [`crate::odata`]).
    pub fn url(&self, path: &str, query: &Query) -> String {
        let mut url = format!("{}/{}", self.config.graph_base(), path.trim_start_matches('/'));
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.encode());
        }
        url
    }

    /// Makes sure a token can be obtained (used by `connect` to fail early).
    pub fn ensure_token(&mut self) -> Result<()> {
        self.tokens.token(&self.config, self.transport.as_mut()).map(|_| ())
    }

    /// Sends a request: adds the token, renews it once on 401, retries throttling
    /// and transient failures, and maps Graph errors to typed errors.
    pub fn send(&mut self, request: &GraphRequest) -> Result<GraphResponse> {
        let mut renewed = false;
        let mut attempt: u32 = 0;
        loop {
            let token = self.tokens.token(&self.config, self.transport.as_mut())?;
            let http_request = self.build(request, &token, attempt)?;
            let response = match self.transport.send(http_request) {
                Ok(response) => response,
                Err(error) => {
                    let retryable = !error.maybe_delivered || request.method != Method::POST;
                    if retryable && attempt < self.config.max_retries {
                        let wait = backoff_ms(attempt);
                        if self.wait(wait) {
                            attempt += 1;
                            continue;
                        }
                    }
                    return Err(ConnectorError::new(
                        ErrorCode::Transport,
                        format!("{} {} failed: {}", request.method, path_of(&request.url), error.message),
                    ));
                }
            };
            let status = response.status().as_u16();
            if status == 401 && !renewed && TokenSource::can_renew(&self.config) {
                renewed = true;
                self.tokens.invalidate();
                continue;
            }
            let retryable = status == 429 || ((status == 503 || status == 504) && request.method != Method::POST);
            if retryable && attempt < self.config.max_retries {
                let wait = retry_after_ms(&response).unwrap_or_else(|| backoff_ms(attempt));
                if self.wait(wait) {
                    attempt += 1;
                    continue;
                }
            }
            return self.finish(response);
        }
    }

    /// Waits before a retry unless that would pass the invocation's deadline.
    fn wait(&mut self, ms: u64) -> bool {
        if self.transport.now_ms().saturating_add(ms) >= self.deadline_ms {
            return false;
        }
        self.transport.sleep_ms(ms);
        true
    }

    fn build(&self, request: &GraphRequest, token: &str, attempt: u32) -> Result<http::Request<Vec<u8>>> {
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(request.url.as_str())
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        if attempt > 0 {
            builder = builder.header("retry-attempt", attempt.to_string());
        }
        let body = match &request.body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                body.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        builder
            .body(body)
            .map_err(|_| ConnectorError::invalid_input(format!("cannot build a request for `{}`", request.url)))
    }

    fn finish(&self, response: HttpResponse) -> Result<GraphResponse> {
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body_bytes = response.body();
        if body_bytes.len() > MAX_RESPONSE_BODY {
            return Err(ConnectorError::upstream(format!(
                "Graph answered with a body of {} bytes, more than the {MAX_RESPONSE_BODY} the connector reads",
                body_bytes.len()
            ))
            .with_status(status));
        }
        if status >= 400 {
            return Err(self.graph_error(status, &headers, body_bytes, &response));
        }
        let body = if body_bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Value>(body_bytes) {
                Ok(value) => Some(value),
                Err(_) => {
                    return Err(ConnectorError::upstream(format!(
                        "Graph answered HTTP {status} with a body that is not JSON ({})",
                        describe_body(&headers, body_bytes)
                    ))
                    .with_status(status))
                }
            }
        };
        Ok(GraphResponse { status, headers, body })
    }

    fn graph_error(
        &self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        response: &HttpResponse,
    ) -> ConnectorError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let graph_code = error.and_then(|e| e.get("code")).and_then(Value::as_str).map(str::to_string);
        let graph_message = error.and_then(|e| e.get("message")).and_then(Value::as_str).map(str::to_string);
        let inner = error.and_then(|e| e.get("innerError").or_else(|| e.get("innererror")));
        let request_id = inner
            .and_then(|i| i.get("request-id").or_else(|| i.get("requestId")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| header(headers, "request-id").map(str::to_string));
        let message = match graph_message {
            Some(message) if !message.is_empty() => message,
            _ if error.is_none() && !body.is_empty() => {
                format!("Graph answered HTTP {status} ({})", describe_body(headers, body))
            }
            _ => format!("Graph answered HTTP {status}"),
        };
        ConnectorError {
            code: ErrorCode::from_http_status(status),
            message: redact(&message, &self.config),
            status: Some(status),
            graph_code,
            request_id,
            retry_after_ms: retry_after_ms(response),
        }
    }

    /// Sends a GET and returns the JSON object.
    pub fn get_object(&mut self, url: String, eventual: bool) -> Result<Map<String, Value>> {
        self.send(&GraphRequest::new(Method::GET, url).eventual(eventual))?.into_object()
    }

    /// Reads a collection: follows `@odata.nextLink` (re-sending `ConsistencyLevel`,
    /// which the link does not carry) until `max_items` items (0 = all) are collected.
    /// Returns `{"value", "nextLink"?, "count"?}`.
    pub fn list(&mut self, first_url: String, eventual: bool, max_items: u64) -> Result<Value> {
        let mut items: Vec<Value> = Vec::new();
        let mut count = None;
        let mut url = first_url;
        let mut delta_link = None;
        loop {
            let page = self.send(&GraphRequest::new(Method::GET, url.clone()).eventual(eventual))?;
            let status = page.status;
            let mut page = page.into_object()?;
            if count.is_none() {
                count = page.get("@odata.count").and_then(Value::as_u64);
            }
            let value = match page.remove("value") {
                Some(Value::Array(values)) => values,
                _ => {
                    return Err(
                        ConnectorError::upstream("Graph answered a list without a `value` array").with_status(status)
                    )
                }
            };
            let next = match page.remove("@odata.nextLink") {
                Some(Value::String(link)) => Some(link),
                None | Some(Value::Null) => None,
                Some(_) => {
                    return Err(ConnectorError::upstream("`@odata.nextLink` is not a string").with_status(status))
                }
            };
            if let Some(Value::String(link)) = page.remove("@odata.deltaLink") {
                delta_link = Some(link);
            }
            let room = if max_items == 0 { usize::MAX } else { (max_items as usize).saturating_sub(items.len()) };
            if value.len() > room {
                // The page holds more than was asked for: keep what fits, and point the
                // caller back at this same page so nothing is skipped when they resume.
                items.extend(value.into_iter().take(room));
                return Ok(list_output(items, Some(url), count, None));
            }
            items.extend(value);
            match next {
                Some(link) if max_items == 0 || (items.len() as u64) < max_items => {
                    self.check_same_origin(&link)?;
                    url = link;
                }
                next => return Ok(list_output(items, next, count, delta_link)),
            }
        }
    }

    /// A nextLink must stay on the Graph host the connection talks to.
    fn check_same_origin(&self, link: &str) -> Result<()> {
        let origin = |url: &str| -> Option<String> {
            let uri: http::Uri = url.parse().ok()?;
            Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?.as_str().to_ascii_lowercase()))
        };
        match (origin(link), origin(&self.config.graph_root)) {
            (Some(a), Some(b)) if a == b => Ok(()),
            _ => {
                Err(ConnectorError::upstream(format!("Graph returned a next link to another host: {}", path_of(link))))
            }
        }
    }
}

fn list_output(items: Vec<Value>, next: Option<String>, count: Option<u64>, delta: Option<String>) -> Value {
    let mut output = Map::new();
    output.insert("value".into(), Value::Array(items));
    if let Some(next) = next {
        output.insert("nextLink".into(), json!(next));
    }
    if let Some(count) = count {
        output.insert("count".into(), json!(count));
    }
    if let Some(delta) = delta {
        output.insert("deltaLink".into(), json!(delta));
    }
    Value::Object(output)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `Retry-After` in milliseconds, when given in seconds.
fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    let value = response.headers().get("retry-after")?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(|s| s.saturating_mul(1000))
}

/// Exponential backoff: 1 s, 2 s, 4 s, ... capped.
fn backoff_ms(attempt: u32) -> u64 {
    BASE_BACKOFF_MS.saturating_mul(1u64 << attempt.min(16)).min(MAX_BACKOFF_MS)
}

/// The path of a URL, for messages (queries may hold personal data).
fn path_of(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

/// A short description of an unexpected body: its content type and first bytes.
fn describe_body(headers: &[(String, String)], body: &[u8]) -> String {
    let kind = header(headers, "content-type").unwrap_or("no content type");
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]).replace(['\r', '\n'], " ");
    format!("{kind}: {}", text.trim())
}

#[cfg(test)]
mod tests {
    use crate::transport::scripted::{connected, ScriptedTransport};
    use serde_json::json;

    fn secret_config() -> serde_json::Value {
        json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "app-id", "clientSecret": "s3cr3t-value"})
    }

    #[test]
    fn token_is_acquired_once_and_reused_across_invocations() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-1"}))
            .respond(200, json!({"id": "a"}))
            .respond(200, json!({"id": "b"}));
        let (mut connector, log) = connected(secret_config(), script);
        connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap();
        connector.invoke("users.get", r#"{"userId":"b"}"#).unwrap();
        let sent = log.borrow();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].uri(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
        let form = String::from_utf8(sent[0].body().clone()).unwrap();
        assert_eq!(
            form,
            "client_id=app-id&client_secret=s3cr3t-value&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        );
        assert_eq!(sent[2].headers()["authorization"], "Bearer tok-1");
    }

    #[test]
    fn a_401_renews_the_token_once_and_retries() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 3599, "access_token": "old"}))
            .respond(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "expired"}}))
            .respond(200, json!({"expires_in": 3599, "access_token": "new"}))
            .respond(200, json!({"id": "a"}));
        let (mut connector, log) = connected(secret_config(), script);
        assert_eq!(connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap()["id"], "a");
        assert_eq!(log.borrow()[3].headers()["authorization"], "Bearer new");
    }

    #[test]
    fn a_second_401_is_auth_failed() {
        let error_body = json!({"error": {"code": "InvalidAuthenticationToken", "message": "nope"}});
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 3599, "access_token": "old"}))
            .respond(401, error_body.clone())
            .respond(200, json!({"expires_in": 3599, "access_token": "new"}))
            .respond(401, error_body);
        let (mut connector, _) = connected(secret_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::AuthFailed);
        assert_eq!(error.graph_code.as_deref(), Some("InvalidAuthenticationToken"));
    }

    #[test]
    fn invalid_secret_is_auth_failed_with_the_aadsts_code_and_no_secret() {
        let script = ScriptedTransport::new().respond(
            401,
            json!({"error": "invalid_client",
                   "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is s3cr3t-value.\r\nTrace ID: x\r\nCorrelation ID: y",
                   "error_codes": [7000215]}),
        );
        let (mut connector, _) = connected(secret_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::AuthFailed);
        assert_eq!(error.status, Some(401));
        assert_eq!(error.graph_code.as_deref(), Some("AADSTS7000215"));
        assert!(error.message.starts_with("AADSTS7000215: Invalid client secret provided."));
        assert!(!error.message.contains("s3cr3t-value") && !error.message.contains("Trace ID"));
    }

    #[test]
    fn throttling_waits_for_retry_after_then_succeeds() {
        let script = ScriptedTransport::new()
            .respond_with(
                429,
                &[("retry-after", "7")],
                json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
            )
            .respond(200, json!({"id": "a"}));
        let (mut connector, log) = connected(crate::transport::scripted::token_config(), script);
        connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap();
        assert_eq!(log.borrow()[1].headers()["retry-attempt"], "1");
    }

    #[test]
    fn html_error_pages_and_non_json_bodies_are_upstream_errors() {
        let script = ScriptedTransport::new().respond_with(200, &[], serde_json::Value::String("<html>".into()));
        let (mut connector, _) = connected(crate::transport::scripted::token_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::Upstream);
    }

    #[test]
    fn paging_follows_next_links_and_resends_consistency_level() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"@odata.count": 5, "value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$count=true&$skiptoken=p2"}))
            .respond(200, json!({"value": [{"id": "3"}, {"id": "4"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$count=true&$skiptoken=p3"}))
            .respond(200, json!({"value": [{"id": "5"}]}));
        let (mut connector, log) = connected(crate::transport::scripted::token_config(), script);
        let output = connector.invoke("users.list", r#"{"count": true, "maxItems": 0}"#).unwrap();
        assert_eq!(
            output,
            json!({"value": [{"id": "1"}, {"id": "2"}, {"id": "3"}, {"id": "4"}, {"id": "5"}], "count": 5})
        );
        for request in log.borrow().iter() {
            assert_eq!(request.headers()["consistencylevel"], "eventual");
        }
    }

    #[test]
    fn a_next_link_to_another_host_is_refused() {
        let script = ScriptedTransport::new().respond(
            200,
            json!({"value": [{"id": "1"}], "@odata.nextLink": "https://evil.example/v1.0/users?$skiptoken=x"}),
        );
        let (mut connector, log) = connected(crate::transport::scripted::token_config(), script);
        let error = connector.invoke("users.list", "{}").unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::Upstream);
        assert_eq!(log.borrow().len(), 1);
    }
}
