//! The Graph HTTP client: authentication, retries, error mapping and paging.

use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::auth::TokenSource;
use crate::graph::config::ConnectionConfig;
use crate::graph::odata::Query;
use crate::graph::retry::{retry_after_wait_ms, Next, RetryPolicy};
use crate::graph::secrets::SecretSet;
use crate::graph::transport::{
    header_in, HttpRequest, HttpResponse, InvalidRequest, Transport, TransportErrorKind, MAX_REQUEST_HEADER_BYTES,
    MAX_RESPONSE_BODY,
};
use crate::json::entity::Entity;
use crate::json::listing::{Listing, Page};
use http::Method;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Whether a request may be sent again after a failure that leaves its outcome unknown
/// (a 503 or 504, or a connection lost after the request went out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Sending it twice has the effect of sending it once (GET, PUT, PATCH, DELETE, and
    /// POSTs that only read or that set a state, such as `getMemberGroups` or `assignLicense`).
    Idempotent,
    /// Adds one reference (`POST .../$ref`): Graph refuses a duplicate with "references already
    /// exist", so it is sent again, and that refusal after an unknown outcome means the first
    /// attempt was applied.
    AddsOneReference,
    /// Would be applied twice (creates, row appends, ...): never sent again after an unknown
    /// outcome; creates check for the object first (see [`GraphClient::create`]).
    NotIdempotent,
}

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
    /// Whether it may be sent again after an unknown outcome; POST is `NotIdempotent` by default.
    pub idempotency: Idempotency,
}

impl GraphRequest {
    /// A request without body or extra headers.
    pub fn new(method: Method, url: String) -> Self {
        let idempotency = if method == Method::POST { Idempotency::NotIdempotent } else { Idempotency::Idempotent };
        GraphRequest { method, url, headers: Vec::new(), body: None, idempotency }
    }

    /// The same request, declared safe to send again after an unknown outcome.
    pub fn idempotent(mut self) -> Self {
        self.idempotency = Idempotency::Idempotent;
        self
    }

    /// The same request, declared as adding one reference (`POST .../$ref`).
    pub fn adds_one_reference(mut self) -> Self {
        self.idempotency = Idempotency::AddsOneReference;
        self
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
        header_in(&self.headers, name)
    }
}

/// A successful answer whose body is not parsed yet: list pages are split into their items
/// without building a tree (see [`crate::json::listing`]), everything else becomes a [`GraphResponse`].
#[derive(Debug, Clone)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    /// The body parsed as JSON (`None` when Graph sent none), or `upstream` when it is not JSON.
    fn into_graph_response(self) -> Result<GraphResponse> {
        let RawResponse { status, headers, body } = self;
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(value) => Some(value),
                Err(_) => {
                    return Err(ConnectorError::upstream(format!(
                        "Graph answered HTTP {status} with a body that is not JSON ({})",
                        describe_body(&headers, &body)
                    ))
                    .with_status(status))
                }
            }
        };
        Ok(GraphResponse { status, headers, body })
    }
}

/// The most bytes of items one list call gathers. The output is built from them and copied
/// to the host, so an instance holds a few times this much: past it, a list returns what it
/// has with its `nextLink`, as when `maxItems` is reached, and the caller goes on from there.
pub const MAX_LISTING_BYTES: usize = 12 * 1024 * 1024;

/// The most pages one list call reads (a host caps the requests of a call; Wasmtime's
/// reference host at 500): past it, a list returns what it has with its `nextLink`.
pub const MAX_PAGES_PER_CALL: usize = 250;

/// The longest bearer token sent: tokens of the Microsoft identity platform are a few KiB.
pub const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// Why one attempt at a request did not end the request.
struct RetryableFailure {
    /// The error to report if no further attempt is made.
    error: ConnectorError,
    /// The wait Graph asked for (`Retry-After`), in milliseconds.
    retry_after_ms: Option<u64>,
    /// True when the request may have been applied (503, 504, connection lost after sending).
    outcome_unknown: bool,
}

/// How a request ended when it did not succeed.
struct SendFailure {
    /// The typed error.
    error: ConnectorError,
    /// True when the last attempt may have been applied and was not sent again.
    outcome_unknown: bool,
}

impl From<ConnectorError> for SendFailure {
    fn from(error: ConnectorError) -> Self {
        SendFailure { error, outcome_unknown: false }
    }
}

/// Looks for the object a create whose outcome is unknown may have made (see [`GraphClient::create`]).
pub type FindExisting<'a> = dyn Fn(&mut GraphClient) -> Result<Option<Map<String, Value>>> + 'a;

/// Sends Graph requests for one connection.
pub struct GraphClient {
    transport: Box<dyn Transport>,
    config: ConnectionConfig,
    tokens: TokenSource,
    deadline_ms: u64,
    /// The current invocation's time budget, for messages.
    timeout_ms: u64,
    /// In a dry run, the writes the action would have sent, in order.
    plan: Option<Vec<PlannedWrite>>,
}

/// A write a dry run did not send.
#[derive(Debug, Clone)]
struct PlannedWrite {
    method: Method,
    url: String,
    body: Option<Value>,
    /// What later writes call the object this one creates (a POST), e.g. `{write-1.id}`.
    placeholder: Option<String>,
}

/// Body members whose values a plan never shows: a plan is for a person to approve, and ends
/// up in logs.
const HIDDEN_IN_PLANS: &[&str] = &["password", "newpassword", "currentpassword", "temporaryaccesspass"];

impl GraphClient {
    /// A client for the connection, sending through the transport.
    pub fn new(config: ConnectionConfig, transport: Box<dyn Transport>) -> Self {
        let tokens = TokenSource::new(&config);
        GraphClient { transport, config, tokens, deadline_ms: u64::MAX, timeout_ms: 0, plan: None }
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Every secret the connection has or had, to scrub from what came from outside.
    pub fn secrets(&self) -> &SecretSet {
        self.tokens.secrets()
    }

    /// Starts the time budget of one invocation.
    pub fn start_invocation(&mut self, timeout_ms: u64) {
        self.deadline_ms = self.transport.now_ms().saturating_add(timeout_ms);
        self.timeout_ms = timeout_ms;
        self.tokens.set_deadline(self.deadline_ms);
    }

    /// The absolute URL of a path below the versioned Graph base. `path` must already
    /// be built from encoded segments (see [`crate::graph::odata`]).
    pub fn url(&self, path: &str, query: &Query) -> String {
        // Pushed piece by piece: `format!` costs several times more inside the sandbox.
        let (root, version, path) = (&self.config.graph_root, &self.config.api_version, path.trim_start_matches('/'));
        let mut url = String::with_capacity(root.len() + version.len() + path.len() + 2);
        for piece in [root.as_str(), "/", version.as_str(), "/", path] {
            url.push_str(piece);
        }
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

    /// Sends a request: adds the token, renews it once on 401, retries throttling and
    /// transient failures, and maps Graph errors to typed errors.
    ///
    /// Retries: 429, 503, 504 and connections that failed are retried up to `maxRetries`
    /// times within the invocation's deadline, waiting for `Retry-After` (seconds or an HTTP
    /// date) or else an exponential backoff with jitter. A 429 was not processed, so it is
    /// always sent again; after a 503, a 504 or a connection lost once the request went out,
    /// only a request whose [`Idempotency`] allows it is. Other 4xx, and destinations the
    /// host's sandbox refuses, are never retried.
    pub fn send(&mut self, request: &GraphRequest) -> Result<GraphResponse> {
        self.send_with_retries(request).map_err(|failure| failure.error)?.into_graph_response()
    }

    /// Creates an object without ever creating it twice: `POST`s the request, and when the
    /// outcome is unknown (503, 504, connection lost after sending), waits, asks
    /// `find_existing` whether the object now exists and returns it if so; otherwise sends
    /// the create again, within `maxRetries` and the invocation's deadline.
    pub fn create(&mut self, request: &GraphRequest, find_existing: &FindExisting<'_>) -> Result<Map<String, Value>> {
        let mut resends: u32 = 0;
        loop {
            let failure = match self.send_with_retries(request) {
                Ok(response) => return response.into_graph_response()?.into_object(),
                Err(failure) if failure.outcome_unknown => failure,
                Err(failure) => return Err(failure.error),
            };
            // Give Graph's replication a moment before looking, then look before resending.
            match self.retry_policy().after_failure(self.transport.as_mut(), resends, None) {
                Next::RetryAfter(wait) => self.transport.sleep_ms(wait),
                Next::GiveUp(_) => return Err(failure.error),
            }
            resends += 1;
            match find_existing(self) {
                Ok(Some(existing)) => return Ok(existing),
                Ok(None) => {}
                Err(error) => {
                    return Err(ConnectorError {
                        message: format!(
                            "{}; checking whether the object was created anyway failed: {}",
                            failure.error.message, error.message
                        ),
                        ..failure.error
                    })
                }
            }
        }
    }

    /// The first object of a collection matching an OData filter, if any
    /// (`GET {collection}?$filter=...&$top=1`), e.g. to find what a create may have made.
    pub fn find_first(
        &mut self,
        collection: &str,
        filter: &str,
        select: Option<&str>,
    ) -> Result<Option<Map<String, Value>>> {
        let mut query = Query::new();
        query.push("$filter", filter);
        query.push_opt("$select", select);
        let url = self.url(collection, &query);
        let page = self.list(url, false, 1)?.into_value()?;
        match page.get("value").and_then(Value::as_array).and_then(|items| items.first()) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(object.clone())),
            Some(_) => Err(ConnectorError::upstream(format!("Graph listed a {collection} item that is not an object"))),
        }
    }

    fn send_with_retries(&mut self, request: &GraphRequest) -> std::result::Result<RawResponse, SendFailure> {
        // Ids are refused as dot segments where they are read; this is the last line, for
        // any path built from a value that was not.
        if crate::graph::odata::path_has_dot_segment(&request.url) {
            return Err(ConnectorError::invalid_input(format!(
                "refusing to send a request whose path has a `.` or `..` segment: {}",
                path_of(&request.url)
            ))
            .into());
        }
        if self.plan.is_some() && request.method != Method::GET {
            return Ok(self.plan_write(request));
        }
        let mut renewed = false;
        let mut attempt: u32 = 0;
        let mut outcome_unknown_before = false;
        // One token serves every retry of this request, so a retry repeats the request exactly;
        // only a 401 renews it.
        let mut token = self.tokens.token(&self.config, self.transport.as_mut())?;
        self.check_token_size(&token)?;
        loop {
            let time_left = self.time_left_ms();
            if time_left == Some(0) {
                return Err(self.deadline_error(request, "before it could be sent", outcome_unknown_before));
            }
            let http_request = self.build(request, &token, attempt)?.with_timeout_ms(time_left);
            let failure = match self.transport.send(http_request) {
                Ok(response) => {
                    let status = response.status();
                    if status == 401 && !renewed && TokenSource::can_renew(&self.config) {
                        renewed = true;
                        self.tokens.invalidate();
                        token = self.tokens.token(&self.config, self.transport.as_mut())?;
                        self.check_token_size(&token)?;
                        continue;
                    }
                    if !RetryPolicy::is_retryable_status(status) {
                        return self.finish_after(request, response, outcome_unknown_before);
                    }
                    RetryableFailure {
                        retry_after_ms: self.retry_after_ms(&response),
                        error: self.read_response(response).err().unwrap_or_else(|| {
                            ConnectorError::upstream(format!("Graph answered HTTP {status}")).with_status(status)
                        }),
                        outcome_unknown: status != 429,
                    }
                }
                Err(error) if self.time_left_ms() == Some(0) => {
                    // The request was given what was left of the deadline, and used it up.
                    let sent = error.kind == TransportErrorKind::MaybeDelivered || outcome_unknown_before;
                    let when = format!("while waiting for its answer ({})", error.message);
                    return Err(self.deadline_error(request, &when, sent));
                }
                Err(error) => {
                    let what = format!("{} {}", request.method, path_of(&request.url));
                    let outcome_unknown = match error.kind {
                        TransportErrorKind::Refused => {
                            return Err(ConnectorError::new(
                                ErrorCode::Transport,
                                format!(
                                    "{what}: the host refused the destination (its sandbox does not allow it), so it \
                                     was not retried ({})",
                                    error.message
                                ),
                            )
                            .into())
                        }
                        TransportErrorKind::TooLarge => {
                            return Err(ConnectorError::upstream(format!(
                                "{what}: the answer is larger than the sandbox lets through ({})",
                                error.message
                            ))
                            .into())
                        }
                        TransportErrorKind::HostFailure => {
                            return Err(ConnectorError::new(
                                ErrorCode::Transport,
                                format!(
                                    "{what}: the host could not send it, so it was not retried ({})",
                                    error.message
                                ),
                            )
                            .into())
                        }
                        TransportErrorKind::NotDelivered => false,
                        TransportErrorKind::MaybeDelivered => true,
                    };
                    RetryableFailure {
                        error: ConnectorError::new(ErrorCode::Transport, format!("{what} failed: {}", error.message)),
                        retry_after_ms: None,
                        outcome_unknown,
                    }
                }
            };
            if failure.outcome_unknown && request.idempotency == Idempotency::NotIdempotent {
                let mut error = failure.error;
                error.message = format!(
                    "{} (the request may have been applied, so it was not sent again: check before retrying)",
                    error.message
                );
                return Err(SendFailure { error, outcome_unknown: true });
            }
            match self.retry_policy().after_failure(self.transport.as_mut(), attempt, failure.retry_after_ms) {
                Next::RetryAfter(wait) => self.transport.sleep_ms(wait),
                Next::GiveUp(wait) => {
                    let mut error = failure.error;
                    if error.code == ErrorCode::Throttled {
                        error.retry_after_ms = Some(wait);
                    }
                    return Err(error.into());
                }
            }
            outcome_unknown_before |= failure.outcome_unknown;
            attempt += 1;
        }
    }

    /// Reads a final response. A reference that Graph says already exists, after an earlier
    /// attempt whose outcome was unknown, is the earlier attempt's success.
    fn finish_after(
        &self,
        request: &GraphRequest,
        response: HttpResponse,
        outcome_unknown_before: bool,
    ) -> std::result::Result<RawResponse, SendFailure> {
        let status = response.status();
        if status == 304 && request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("if-none-match")) {
            // The answer Graph documents to a conditional GET whose entity tag still matches.
            let (status, headers, _) = response.into_parts();
            return Ok(RawResponse { status, headers, body: Vec::new() });
        }
        match self.read_response(response) {
            Err(error)
                if outcome_unknown_before
                    && request.idempotency == Idempotency::AddsOneReference
                    && is_reference_already_present(&error) =>
            {
                Ok(RawResponse { status: 204, headers: Vec::new(), body: Vec::new() })
            }
            result => result.map_err(SendFailure::from),
        }
    }

    /// What is left of the invocation's time, in milliseconds (`None` outside an invocation).
    pub fn time_left_ms(&self) -> Option<u64> {
        (self.deadline_ms != u64::MAX).then(|| self.deadline_ms.saturating_sub(self.transport.now_ms()))
    }

    /// Starts a dry run: from now on, reads are sent and writes only planned.
    pub fn start_dry_run(&mut self) {
        self.plan = Some(Vec::new());
    }

    /// Ends a dry run and returns its plan: `{"dryRun": true, "plan": [{"method", "url",
    /// "body"?, "returns"?}]}`, the writes in the order the action would have sent them. A
    /// write that creates an object `returns` a placeholder (`{write-1.id}`) that later writes
    /// use where they need the created object's id.
    pub fn dry_run_plan(&mut self) -> Value {
        let plan = self.plan.take().unwrap_or_default();
        let steps: Vec<Value> = plan
            .into_iter()
            .map(|write| {
                let mut step = Map::new();
                step.insert("method".into(), Value::String(write.method.to_string()));
                step.insert("url".into(), Value::String(write.url));
                if let Some(body) = write.body {
                    step.insert("body".into(), body);
                }
                if let Some(placeholder) = write.placeholder {
                    step.insert("returns".into(), json!({"id": placeholder}));
                }
                Value::Object(step)
            })
            .collect();
        json!({"dryRun": true, "plan": steps})
    }

    /// Plans a write instead of sending it, and answers as Graph would have: a created object
    /// carries a placeholder id, a change or a deletion answers with no body.
    fn plan_write(&mut self, request: &GraphRequest) -> RawResponse {
        let plan = self.plan.get_or_insert_with(Vec::new);
        let number = plan.len() + 1;
        // Ids of objects created by earlier writes appear percent-encoded in paths: shown as
        // the placeholder they stand for.
        let mut url = request.url.clone();
        for earlier in plan.iter().filter_map(|write| write.placeholder.as_deref()) {
            url = url.replace(&crate::graph::odata::encode_segment(earlier), earlier);
        }
        let mut body = request.body.clone();
        if let Some(body) = &mut body {
            hide_in_plan(body);
        }
        let creates = request.method == Method::POST && request.idempotency == Idempotency::NotIdempotent;
        let placeholder = creates.then(|| format!("{{write-{number}.id}}"));
        let answer = match (&placeholder, &request.body) {
            (Some(placeholder), Some(Value::Object(sent))) => {
                let mut created = sent.clone();
                created.insert("id".into(), Value::String(placeholder.clone()));
                Some(Value::Object(created))
            }
            (Some(placeholder), _) => Some(json!({"id": placeholder})),
            (None, _) => None,
        };
        plan.push(PlannedWrite { method: request.method.clone(), url, body, placeholder });
        match answer {
            Some(answer) => RawResponse { status: 201, headers: Vec::new(), body: answer.to_string().into_bytes() },
            None => RawResponse { status: 204, headers: Vec::new(), body: Vec::new() },
        }
    }

    /// True when the invocation's deadline has passed: a bulk action stops sending and
    /// reports what is left as not attempted.
    pub fn out_of_time(&self) -> bool {
        self.time_left_ms() == Some(0)
    }

    /// The `transport` error of a request cut by the invocation's deadline, naming the request;
    /// `maybe_applied` when it may have reached Graph.
    fn deadline_error(&self, request: &GraphRequest, when: &str, maybe_applied: bool) -> SendFailure {
        let mut message = format!(
            "{} {}: the invocation's deadline (`timeoutMs`, {} ms) passed {when}",
            request.method,
            path_of(&request.url),
            self.timeout_ms
        );
        let outcome_unknown = maybe_applied && request.method != Method::GET;
        if outcome_unknown {
            message.push_str("; the request may have been applied: check before retrying");
        }
        SendFailure { error: ConnectorError::new(ErrorCode::Transport, message), outcome_unknown }
    }

    /// Refuses a bearer token too large for a request header, before a host has to.
    fn check_token_size(&mut self, token: &str) -> Result<()> {
        if token.len() <= MAX_TOKEN_BYTES {
            return Ok(());
        }
        if let crate::graph::config::AuthMode::AccessToken { .. } = self.config.auth {
            return Err(ConnectorError::invalid_config(format!(
                "`accessToken` is {} bytes, more than the {MAX_TOKEN_BYTES} a request header can carry",
                token.len()
            )));
        }
        // Never kept: the next invocation asks again.
        self.tokens.invalidate();
        Err(ConnectorError::upstream(format!(
            "the token endpoint issued an access token of {} bytes, more than the {MAX_TOKEN_BYTES} a request header \
             can carry",
            token.len()
        )))
    }

    /// The invocation's retry budget.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy { max_retries: self.config.max_retries, deadline_ms: self.deadline_ms }
    }

    /// `Retry-After` in milliseconds (see [`retry_after_wait_ms`]).
    fn retry_after_ms(&self, response: &HttpResponse) -> Option<u64> {
        retry_after_wait_ms(self.transport.as_ref(), response)
    }

    fn build(&self, request: &GraphRequest, token: &str, attempt: u32) -> Result<HttpRequest> {
        let invalid = |problem: InvalidRequest| match problem {
            InvalidRequest::Url => {
                ConnectorError::invalid_input(format!("cannot build a request for `{}`", request.url))
            }
            InvalidRequest::HeaderValue(name) => {
                ConnectorError::invalid_input(format!("the `{name}` header of the request is not valid HTTP"))
            }
        };
        let mut built = HttpRequest::new(request.method.clone(), &request.url)
            .and_then(|built| built.header("authorization", ["Bearer ", token].concat()))
            .and_then(|built| built.header("accept", "application/json"))
            .map_err(invalid)?;
        for (name, value) in &request.headers {
            built = built.header(name, value.as_str()).map_err(invalid)?;
        }
        if attempt > 0 {
            built = built.header("retry-attempt", attempt.to_string()).map_err(invalid)?;
        }
        let built = match &request.body {
            Some(body) => built
                .header("content-type", "application/json")
                .map_err(invalid)?
                .body_bytes(serde_json::to_vec(body).unwrap_or_else(|_| body.to_string().into_bytes())),
            None => built,
        };
        if built.header_bytes() > MAX_REQUEST_HEADER_BYTES {
            return Err(ConnectorError::invalid_input(format!(
                "the request's headers come to {} bytes, more than the {MAX_REQUEST_HEADER_BYTES} the connector sends: \
                 shorten `headers`",
                built.header_bytes()
            )));
        }
        Ok(built)
    }

    /// The response checked for errors and size, its body not parsed yet, or the typed error
    /// it stands for.
    fn read_response(&self, response: HttpResponse) -> Result<RawResponse> {
        let status = response.status();
        let body_bytes = response.body();
        if body_bytes.len() > MAX_RESPONSE_BODY {
            return Err(ConnectorError::upstream(format!(
                "Graph answered with a body of {} bytes, more than the {MAX_RESPONSE_BODY} the connector reads",
                body_bytes.len()
            ))
            .with_status(status));
        }
        if status >= 400 {
            return Err(self.graph_error(&response));
        }
        if (300..400).contains(&status) {
            return Err(redirect_error(&response));
        }
        let (status, headers, body) = response.into_parts();
        Ok(RawResponse { status, headers, body })
    }

    fn graph_error(&self, response: &HttpResponse) -> ConnectorError {
        let (status, headers, body) = (response.status(), response.headers(), response.body().as_slice());
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let graph_code = error.and_then(|e| e.get("code")).and_then(Value::as_str).map(str::to_string);
        let graph_message = error.and_then(|e| e.get("message")).and_then(Value::as_str).map(str::to_string);
        let inner = error.and_then(|e| e.get("innerError").or_else(|| e.get("innererror")));
        let request_id = inner
            .and_then(|i| i.get("request-id").or_else(|| i.get("requestId")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| header_in(headers, "request-id").map(str::to_string));
        let message = match graph_message {
            Some(message) if !message.is_empty() => message,
            _ if error.is_none() && !body.is_empty() => {
                format!("Graph answered HTTP {status} ({})", describe_body(headers, body))
            }
            _ => format!("Graph answered HTTP {status}"),
        };
        ConnectorError {
            code: ErrorCode::from_http_status(status),
            message: self.tokens.secrets().redact(&message).into_owned(),
            status: Some(status),
            graph_code,
            request_id,
            retry_after_ms: self.retry_after_ms(response),
        }
    }

    /// Sends a GET and returns the object as Graph wrote it, less `@odata.context`.
    pub fn get_entity(&mut self, url: String, eventual: bool) -> Result<Entity> {
        let request = GraphRequest::new(Method::GET, url).eventual(eventual);
        let response = self.send_with_retries(&request).map_err(|failure| failure.error)?;
        Entity::parse(&response.body).map_err(|error| {
            error.to_connector_error(response.status, || describe_body(&response.headers, &response.body))
        })
    }

    /// Sends a GET and returns the JSON object.
    pub fn get_object(&mut self, url: String, eventual: bool) -> Result<Map<String, Value>> {
        self.send(&GraphRequest::new(Method::GET, url).eventual(eventual))?.into_object()
    }

    /// Reads a collection: follows `@odata.nextLink` (re-sending `ConsistencyLevel`,
    /// which the link does not carry) until `max_items` items (0 = all) are collected.
    /// The items are passed through as Graph wrote them, into the output
    /// `{"value", "nextLink"?, "count"?, "deltaLink"?}` (see [`Listing`]).
    pub fn list(&mut self, first_url: String, eventual: bool, max_items: u64) -> Result<Listing> {
        self.list_pages(&GraphRequest::new(Method::GET, first_url).eventual(eventual), max_items)
    }

    /// [`GraphClient::list`] from a GET request whose headers (`ConsistencyLevel`, `Prefer`,
    /// ...) are sent again on every page, since a next link does not carry them.
    pub fn list_pages(&mut self, first: &GraphRequest, max_items: u64) -> Result<Listing> {
        self.list_pages_where(first, max_items, &|_| true)
    }

    /// [`GraphClient::list`] keeping only the items `keep` accepts, for a condition Graph
    /// cannot filter on: `max_items` counts the items kept, so more pages may be read.
    pub fn list_where(
        &mut self,
        first_url: String,
        eventual: bool,
        max_items: u64,
        keep: &dyn Fn(&RawValue) -> bool,
    ) -> Result<Listing> {
        self.list_pages_where(&GraphRequest::new(Method::GET, first_url).eventual(eventual), max_items, keep)
    }

    /// The paging every list shares: `first`'s headers on every page, only the items `keep`
    /// accepts, `max_items` of them at most (0 = all), within the memory and page budgets.
    fn list_pages_where(
        &mut self,
        first: &GraphRequest,
        max_items: u64,
        keep: &dyn Fn(&RawValue) -> bool,
    ) -> Result<Listing> {
        let mut listing = Listing::new();
        let mut url = first.url.clone();
        let mut seen_links: HashSet<String> = HashSet::new();
        let mut pages: usize = 0;
        loop {
            pages += 1;
            let request = GraphRequest { url: url.clone(), ..first.clone() };
            let response = self.send_with_retries(&request).map_err(|failure| failure.error)?;
            let status = response.status;
            let page = Page::parse(&response.body).map_err(|error| {
                error.to_connector_error(status, || describe_body(&response.headers, &response.body))
            })?;
            if listing.count.is_none() {
                listing.count = page.count;
            }
            if page.delta_link.is_some() {
                listing.delta_link = page.delta_link;
            }
            let items: Vec<&RawValue> = page.items.iter().copied().filter(|item| keep(item)).collect();
            let room = if max_items == 0 { usize::MAX } else { (max_items as usize).saturating_sub(listing.len()) };
            if items.len() > room {
                // The page holds more than was asked for: keep what fits, and point the
                // caller back at this same page so nothing is skipped when they resume.
                listing.extend(&items[..room]);
                listing.next_link = Some(url);
                listing.delta_link = None;
                return Ok(listing);
            }
            listing.extend(&items);
            let room_left = listing.byte_len() < MAX_LISTING_BYTES && pages < MAX_PAGES_PER_CALL;
            match page.next_link {
                Some(link) if room_left && (max_items == 0 || (listing.len() as u64) < max_items) => {
                    self.check_same_origin(&link)?;
                    if !seen_links.insert(link.clone()) || link == url {
                        return Err(ConnectorError::upstream(format!(
                            "Graph returned a next link it had already returned ({}): the pages loop",
                            path_of(&link)
                        )));
                    }
                    url = link;
                }
                next => {
                    listing.next_link = next;
                    return Ok(listing);
                }
            }
        }
    }

    /// A nextLink must stay on the Graph host the connection talks to, and must not step
    /// out of its path with `.`/`..` segments (plain or percent-encoded), which URL
    /// normalisation would resolve.
    fn check_same_origin(&self, link: &str) -> Result<()> {
        if crate::graph::odata::path_has_dot_segment(link) {
            return Err(ConnectorError::upstream(format!(
                "Graph returned a next link with a dot segment (`.` or `..`) in its path: {}",
                path_of(link)
            )));
        }
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

/// True when Graph refused a reference because it is already there ("One or more added
/// object references already exist ..."); Graph gives only `Request_BadRequest`, so the
/// message tells it apart.
pub fn is_reference_already_present(error: &ConnectorError) -> bool {
    error.status == Some(400) && error.message.to_ascii_lowercase().contains("references already exist")
}

/// Replaces the values of password-like members, at any depth, by `[hidden]`.
fn hide_in_plan(value: &mut Value) {
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                if HIDDEN_IN_PLANS.contains(&name.to_ascii_lowercase().as_str()) {
                    *member = Value::String("[hidden]".into());
                } else {
                    hide_in_plan(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_in_plan),
        _ => {}
    }
}

/// A redirect is never followed: the next hop would get the bearer token, or (for the
/// download URLs Graph redirects file content to) the caller would get a URL that is itself a
/// credential. It is an `upstream` error naming the status and only the host it points to.
fn redirect_error(response: &HttpResponse) -> ConnectorError {
    let status = response.status();
    let target = match response.header("location").map(str::trim) {
        Some(location) => match location.split_once("://") {
            Some((_, rest)) => {
                let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
                // Userinfo (`user:password@`) is not a host and is never repeated.
                let host = authority.rsplit('@').next().unwrap_or_default();
                format!(" to {host}")
            }
            None => " to a location on the same host".to_string(),
        },
        None => String::new(),
    };
    let mut error = ConnectorError::upstream(format!(
        "Graph answered HTTP {status} (a redirect{target}), which the connector does not follow: the request was \
         not applied as asked"
    ))
    .with_status(status);
    error.request_id = response.header("request-id").map(str::to_string);
    error
}

/// The path of a URL, for messages (queries may hold personal data).
fn path_of(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

/// A short description of an unexpected body: its content type and first bytes.
fn describe_body(headers: &[(String, String)], body: &[u8]) -> String {
    let kind = header_in(headers, "content-type").unwrap_or("no content type");
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]).replace(['\r', '\n'], " ");
    format!("{kind}: {}", text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::retry::{jittered, parse_imf_fixdate, parse_retry_after_ms, MIN_RETRY_AFTER_MS};
    use crate::graph::transport::scripted::{body_json, token_config, SCRIPTED_EPOCH_SECS};
    use crate::graph::transport::scripted::{connected, ScriptedTransport};
    use crate::graph::transport::TransportErrorKind;
    use crate::ErrorCode;
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
        assert_eq!(sent[2].header_value("authorization"), Some("Bearer tok-1"));
    }

    #[test]
    fn an_answer_too_large_for_the_sandbox_is_upstream_at_once() {
        let script =
            ScriptedTransport::new().fail("HttpResponseBodySize(Some(20000000))", TransportErrorKind::TooLarge);
        let (mut connector, log) = connected(crate::graph::transport::scripted::token_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::Upstream);
        assert!(error.message.contains("larger than the sandbox lets through"), "{}", error.message);
        assert_eq!(log.borrow().len(), 1);
    }

    #[test]
    fn a_token_retry_never_waits_past_the_invocation_deadline() {
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "120")], json!({"error": "temporarily_unavailable"}))
            .respond(200, json!({"expires_in": 3599, "access_token": "tok-1"}));
        let (mut connector, log) = connected(secret_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a","timeoutMs":60000}"#).unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::Throttled);
        assert_eq!(log.borrow().len(), 1);
    }

    #[test]
    fn a_throttled_token_request_is_sent_again_after_retry_after() {
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "3")], json!({"error": "temporarily_unavailable"}))
            .respond(200, json!({"expires_in": 3599, "access_token": "tok-1"}))
            .respond(200, json!({"id": "a"}));
        let (mut connector, log) = connected(secret_config(), script);
        assert_eq!(connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap()["id"], "a");
        let sent = log.borrow();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].body(), sent[1].body());
        assert_eq!(sent[2].header_value("authorization"), Some("Bearer tok-1"));
    }

    #[test]
    fn a_token_endpoint_that_stays_throttled_is_a_throttled_error() {
        let mut script = ScriptedTransport::new();
        for _ in 0..5 {
            script = script.respond_with(429, &[("retry-after", "1")], json!({"error": "temporarily_unavailable"}));
        }
        let (mut connector, log) = connected(secret_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::Throttled);
        assert_eq!(log.borrow().len(), 5);
    }

    #[test]
    fn a_retry_reuses_the_token_of_the_first_attempt_even_when_it_is_about_to_expire() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 60, "access_token": "short-lived"}))
            .respond_with(
                503,
                &[("retry-after", "1")],
                json!({"error": {"code": "serviceNotAvailable", "message": "busy"}}),
            )
            .respond(200, json!({"id": "a"}));
        let (mut connector, log) = connected(secret_config(), script);
        connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap();
        let sent = log.borrow();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[2].header_value("authorization"), Some("Bearer short-lived"));
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
        assert_eq!(log.borrow()[3].header_value("authorization"), Some("Bearer new"));
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
        let (mut connector, log) = connected(crate::graph::transport::scripted::token_config(), script);
        connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap();
        assert_eq!(log.borrow()[1].header_value("retry-attempt"), Some("1"));
    }

    #[test]
    fn html_error_pages_and_non_json_bodies_are_upstream_errors() {
        let script = ScriptedTransport::new().respond_with(200, &[], serde_json::Value::String("<html>".into()));
        let (mut connector, _) = connected(crate::graph::transport::scripted::token_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::Upstream);
    }

    #[test]
    fn paging_follows_next_links_and_resends_consistency_level() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"@odata.count": 5, "value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$count=true&$skiptoken=p2"}))
            .respond(200, json!({"value": [{"id": "3"}, {"id": "4"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$count=true&$skiptoken=p3"}))
            .respond(200, json!({"value": [{"id": "5"}]}));
        let (mut connector, log) = connected(crate::graph::transport::scripted::token_config(), script);
        let output = connector.invoke("users.list", r#"{"count": true, "maxItems": 0}"#).unwrap();
        assert_eq!(
            output,
            json!({"value": [{"id": "1"}, {"id": "2"}, {"id": "3"}, {"id": "4"}, {"id": "5"}], "count": 5})
        );
        for request in log.borrow().iter() {
            assert_eq!(request.header_value("consistencylevel"), Some("eventual"));
        }
    }

    #[test]
    fn a_next_link_to_another_host_is_refused() {
        let script = ScriptedTransport::new().respond(
            200,
            json!({"value": [{"id": "1"}], "@odata.nextLink": "https://evil.example/v1.0/users?$skiptoken=x"}),
        );
        let (mut connector, log) = connected(crate::graph::transport::scripted::token_config(), script);
        let error = connector.invoke("users.list", "{}").unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::Upstream);
        assert_eq!(log.borrow().len(), 1);
    }

    #[test]
    fn a_next_link_with_dot_segments_is_refused() {
        for link in [
            "https://graph.microsoft.com/v1.0/users/../../beta/users?$skiptoken=x",
            "https://graph.microsoft.com/v1.0/users/%2E%2E/me?$skiptoken=x",
            "https://graph.microsoft.com/v1.0/./users?$skiptoken=x",
            "https://graph.microsoft.com/v1.0/users/%252e%252e/x",
        ] {
            let script = ScriptedTransport::new()
                .respond(200, json!({"value": [{"id": "1"}], "@odata.nextLink": link}))
                .respond(200, json!({"value": [{"id": "2"}]}));
            let (mut connector, log) = connected(crate::graph::transport::scripted::token_config(), script);
            let error = connector.invoke("users.list", "{}").unwrap_err();
            assert_eq!(error.code, crate::ErrorCode::Upstream, "{link}");
            assert!(error.message.contains("dot segment"), "{link}: {}", error.message);
            assert_eq!(log.borrow().len(), 1, "{link}");
        }
    }

    const USER: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";

    fn throttled_body() -> serde_json::Value {
        json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}})
    }

    fn unavailable_body() -> serde_json::Value {
        json!({"error": {"code": "serviceNotAvailable", "message": "Service unavailable"}})
    }

    /// Runs one invocation over a script; returns the result, the requests and the virtual time waited.
    fn invoke_with(
        config: serde_json::Value,
        script: ScriptedTransport,
        action: &str,
        input: serde_json::Value,
    ) -> (crate::error::Result<serde_json::Value>, Vec<crate::graph::transport::HttpRequest>, u64) {
        let clock = script.clock();
        let (mut connector, log) = connected(config, script);
        let result = connector.invoke(action, &input.to_string());
        let sent = log.borrow().clone();
        (result, sent, clock.get())
    }

    fn get_user(script: ScriptedTransport) -> (crate::error::Result<serde_json::Value>, usize, u64) {
        let (result, sent, waited) = invoke_with(token_config(), script, "users.get", json!({"userId": USER}));
        (result, sent.len(), waited)
    }

    fn config_with(members: serde_json::Value) -> serde_json::Value {
        let mut config = token_config();
        for (name, value) in members.as_object().into_iter().flatten() {
            config[name] = value.clone();
        }
        config
    }

    #[test]
    fn retry_after_in_seconds_is_waited_exactly() {
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "7")], throttled_body())
            .respond(200, json!({"id": USER}));
        let (result, requests, waited) = get_user(script);
        assert_eq!(result.unwrap()["id"], USER);
        assert_eq!((requests, waited), (2, 7_000));
    }

    #[test]
    fn retry_after_as_an_http_date_waits_until_that_date() {
        assert_eq!(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_imf_fixdate("Mon, 24 Nov 2025 16:00:30 GMT"), Some(SCRIPTED_EPOCH_SECS + 30));
        let script = ScriptedTransport::new()
            .respond_with(503, &[("retry-after", "Mon, 24 Nov 2025 16:00:30 GMT")], unavailable_body())
            .respond(200, json!({"id": USER}));
        let (result, requests, waited) = get_user(script);
        assert!(result.is_ok());
        assert_eq!((requests, waited), (2, 30_000));
    }

    #[test]
    fn a_retry_after_date_in_the_past_means_no_wait_and_garbage_means_backoff() {
        assert_eq!(parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", SCRIPTED_EPOCH_SECS), Some(0));
        assert_eq!(parse_retry_after_ms(" 12 ", 0), Some(12_000));
        for garbage in ["soon", "-5", "1.5", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT", ""] {
            assert_eq!(parse_retry_after_ms(garbage, 0), None, "{garbage}");
        }
    }

    #[test]
    fn a_retry_after_of_zero_or_in_the_past_still_waits_the_floor() {
        let past = "Sun, 06 Nov 1994 08:49:37 GMT";
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "0")], throttled_body())
            .respond_with(503, &[("retry-after", past)], unavailable_body())
            .respond_with(429, &[("retry-after", "0")], throttled_body())
            .respond(200, json!({"id": USER}));
        let (result, requests, waited) = get_user(script);
        assert_eq!(result.unwrap()["id"], USER);
        assert_eq!((requests, waited), (4, 3 * MIN_RETRY_AFTER_MS));

        // Exhausted throttling reports the wait it would have honoured.
        let mut script = ScriptedTransport::new();
        for _ in 0..5 {
            script = script.respond_with(429, &[("retry-after", "0")], throttled_body());
        }
        let (result, requests, _) = get_user(script);
        let error = result.unwrap_err();
        assert_eq!((error.code, error.retry_after_ms, requests), (ErrorCode::Throttled, Some(MIN_RETRY_AFTER_MS), 5));
    }

    #[test]
    fn a_redirect_is_upstream_naming_only_the_host_and_is_never_followed() {
        let cases: [(&str, &str, serde_json::Value, u16, &str); 5] = [
            ("users.delete", "DELETE", json!({"userId": USER}), 301, "https://evil.example/v1.0/users?tempauth=abc"),
            (
                "users.update",
                "PATCH",
                json!({"userId": USER, "jsonBody": {"jobTitle": "x"}}),
                302,
                "https://u:pw@evil.example:8443/x",
            ),
            ("groups.add-members", "PATCH", json!({"groupId": "g1", "members": [USER]}), 307, "/v1.0/elsewhere"),
            ("groups.remove-members", "DELETE", json!({"groupId": "g1", "memberIds": [USER]}), 308, ""),
            (
                "graph.request",
                "GET",
                json!({"url": "/drives/d/items/i/content"}),
                302,
                "https://dl.example/f?tempauth=t",
            ),
        ];
        for (action, method, input, status, location) in cases {
            let headers: Vec<(&str, &str)> =
                if location.is_empty() { vec![] } else { vec![("location", location), ("request-id", "rid-1")] };
            let script = ScriptedTransport::new().respond_with(status, &headers, serde_json::Value::Null);
            let (result, sent, _) = invoke_with(token_config(), script, action, input);
            assert_eq!(sent.len(), 1, "{action}: a redirect is not followed nor retried");
            assert_eq!(sent[0].method().as_str(), method, "{action}");
            let text = match result {
                Ok(output) => output.to_string(),
                Err(error) => {
                    assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(status)), "{action}");
                    error.message
                }
            };
            // A bulk action reports the chunk as failed with the same message.
            assert!(text.contains(&format!("HTTP {status} (a redirect")), "{action}: {text}");
            assert!(!text.contains("tempauth") && !text.contains("pw@") && !text.contains("u:pw"), "{action}: {text}");
            if location.starts_with("https://") {
                let host = location.split("://").nth(1).unwrap().split('/').next().unwrap().rsplit('@').next().unwrap();
                assert!(text.contains(&format!("redirect to {host})")), "{action}: {text}");
            }
        }
    }

    #[test]
    fn a_304_answers_a_conditional_request_and_is_a_redirect_error_otherwise() {
        let input = json!({"url": "/me/drive/items/i", "headers": [{"key": "If-None-Match", "value": "\"etag-1\""}]});
        let script = ScriptedTransport::new().respond_with(304, &[("etag", "\"etag-1\"")], serde_json::Value::Null);
        let (result, _, _) = invoke_with(token_config(), script, "graph.request", input);
        assert_eq!(result.unwrap(), json!({"status": 304, "body": null}));

        let script = ScriptedTransport::new().respond_with(304, &[], serde_json::Value::Null);
        let (result, _, _) = invoke_with(token_config(), script, "users.get", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(304)));
    }

    #[test]
    fn a_request_is_given_what_is_left_of_the_deadline_and_cut_when_it_runs_out() {
        // Graph answers after 8 s; the invocation has 3 s.
        let script = ScriptedTransport::new().respond(200, json!({"id": USER})).after_ms(8_000);
        let config = config_with(json!({"timeoutMs": 3_000}));
        let (result, sent, clock) = invoke_with(config, script, "users.get", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Transport);
        assert!(
            error
                .message
                .starts_with(&format!("GET https://graph.microsoft.com/v1.0/users/{USER}: the invocation's deadline")),
            "{}",
            error.message
        );
        assert!(error.message.contains("3000 ms) passed while waiting for its answer"), "{}", error.message);
        assert_eq!(sent.len(), 1, "a request cut by the deadline is not sent again");
        assert_eq!(sent[0].timeout_ms(), Some(3_000));
        assert_eq!(clock, 3_000, "the call ends at its deadline, not when Graph answers");

        // After a 1 s Retry-After, the retry is given the 2 s that are left.
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "1")], throttled_body())
            .respond(200, json!({"id": USER}))
            .after_ms(500);
        let config = config_with(json!({"timeoutMs": 3_000}));
        let (result, sent, _) = invoke_with(config, script, "users.get", json!({"userId": USER}));
        assert!(result.is_ok());
        let timeouts: Vec<Option<u64>> = sent.iter().map(HttpRequest::timeout_ms).collect();
        assert_eq!(timeouts, [Some(3_000), Some(2_000)]);
    }

    #[test]
    fn a_write_cut_by_the_deadline_says_it_may_have_been_applied() {
        let script = ScriptedTransport::new().respond(204, serde_json::Value::Null).after_ms(5_000);
        let config = config_with(json!({"timeoutMs": 1_000}));
        let input = json!({"userId": USER, "jsonBody": {"jobTitle": "Buyer"}});
        let (result, sent, _) = invoke_with(config, script, "users.update", input);
        let error = result.unwrap_err();
        assert_eq!((error.code, sent.len()), (ErrorCode::Transport, 1));
        assert!(error.message.starts_with("PATCH "), "{}", error.message);
        assert!(error.message.contains("may have been applied"), "{}", error.message);

        // A per-call timeoutMs sets the budget of that call alone.
        let script = ScriptedTransport::new().respond(200, json!({"id": USER})).after_ms(1_500);
        let (result, sent, _) =
            invoke_with(token_config(), script, "users.get", json!({"userId": USER, "timeoutMs": 1_000}));
        assert_eq!(result.unwrap_err().code, ErrorCode::Transport);
        assert_eq!(sent[0].timeout_ms(), Some(1_000));
    }

    #[test]
    fn a_bulk_action_cut_by_the_deadline_lists_what_it_never_attempted() {
        let members: Vec<String> = (0..45).map(|n| format!("00000000-0000-0000-0000-{n:012}")).collect();
        // The first chunk of 20 is applied in 2 s; the second gets no answer in the 3 s left.
        let script = ScriptedTransport::new()
            .respond(204, serde_json::Value::Null)
            .after_ms(2_000)
            .respond(204, serde_json::Value::Null)
            .after_ms(4_000);
        let config = config_with(json!({"timeoutMs": 5_000}));
        let input = json!({"groupId": "g1", "members": members});
        let (result, sent, _) = invoke_with(config, script, "groups.add-members", input);
        let output = result.unwrap();
        assert_eq!(sent.len(), 2, "nothing is sent once the deadline has passed");
        assert_eq!(output["success"], false);
        assert_eq!(output["succeeded"], json!(members[..20]));
        let failed: Vec<&str> =
            output["failed"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(failed, members[20..40].iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(output["failed"][0]["error"]["code"], "transport");
        assert_eq!(output["notAttempted"], json!(members[40..]));
    }

    #[test]
    fn tokens_and_headers_too_large_for_a_host_are_typed_errors_before_any_request() {
        let huge = "a".repeat(200 * 1024);
        let config = json!({"auth": "accessToken", "accessToken": huge});
        let (result, sent, _) = invoke_with(config, ScriptedTransport::new(), "users.get", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidConfig);
        assert!(error.message.starts_with("`accessToken` is 204800 bytes"), "{}", error.message);
        assert!(sent.is_empty());

        // A token endpoint that issues a 140 KB token.
        let script = ScriptedTransport::new()
            .respond(200, json!({"access_token": "t".repeat(140 * 1024), "expires_in": 3600, "token_type": "Bearer"}));
        let (result, sent, _) = invoke_with(secret_config(), script, "users.get", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Upstream);
        assert!(error.message.contains("access token of 143360 bytes"), "{}", error.message);
        assert_eq!(sent.len(), 1, "only the token request went out");

        // Many large custom headers.
        let headers: Vec<serde_json::Value> =
            (0..3).map(|_| json!({"key": "Prefer", "value": "x".repeat(30 * 1024)})).collect();
        let input = json!({"url": "/me", "headers": headers});
        let (result, sent, _) = invoke_with(token_config(), ScriptedTransport::new(), "graph.request", input);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.contains("shorten `headers`"), "{}", error.message);
        assert!(sent.is_empty());
    }

    #[test]
    fn an_input_too_large_for_the_sandbox_is_refused_naming_its_size() {
        let input = json!({"userId": USER, "padding": "p".repeat(crate::connector::MAX_INPUT_BYTES)});
        let (result, sent, _) = invoke_with(token_config(), ScriptedTransport::new(), "users.get", input);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.starts_with("the input is 4194"), "{}", error.message);
        assert!(sent.is_empty());
    }

    #[test]
    fn a_next_link_seen_before_is_an_upstream_error() {
        let base = "https://graph.microsoft.com/v1.0/users";
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": "1"}], "@odata.nextLink": format!("{base}?$skiptoken=A")}))
            .respond(200, json!({"value": [{"id": "2"}], "@odata.nextLink": format!("{base}?$skiptoken=B")}))
            .respond(200, json!({"value": [{"id": "3"}], "@odata.nextLink": format!("{base}?$skiptoken=A")}));
        let (result, sent, _) = invoke_with(token_config(), script, "users.list", json!({"maxItems": 0}));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Upstream);
        assert!(error.message.contains("already returned"), "{}", error.message);
        assert_eq!(sent.len(), 3);
    }

    #[test]
    fn a_list_stops_at_its_memory_and_page_budgets_and_says_where_to_go_on() {
        let base = "https://graph.microsoft.com/v1.0/users";
        // Two pages of about 7 MiB each pass the 12 MiB budget: the third is not read.
        let big_page = |n: u32| {
            let items: Vec<serde_json::Value> =
                (0..7).map(|i| json!({"id": format!("{n}-{i}"), "aboutMe": "x".repeat(1024 * 1024)})).collect();
            json!({"value": items, "@odata.nextLink": format!("{base}?$skiptoken={}", n + 1)})
        };
        let script = ScriptedTransport::new().respond(200, big_page(1)).respond(200, big_page(2));
        let (result, sent, _) = invoke_with(token_config(), script, "users.list", json!({"maxItems": 0}));
        let output = result.unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(output["value"].as_array().unwrap().len(), 14);
        assert_eq!(output["nextLink"], format!("{base}?$skiptoken=3"));

        // A server that pages one item at a time forever is read for MAX_PAGES_PER_CALL pages.
        let mut script = ScriptedTransport::new();
        for n in 0..=MAX_PAGES_PER_CALL {
            script = script
                .respond(200, json!({"value": [{"id": n}], "@odata.nextLink": format!("{base}?$skiptoken={}", n + 1)}));
        }
        let (result, sent, _) = invoke_with(token_config(), script, "users.list", json!({"maxItems": 0}));
        let output = result.unwrap();
        assert_eq!(sent.len(), MAX_PAGES_PER_CALL);
        assert_eq!(output["value"].as_array().unwrap().len(), MAX_PAGES_PER_CALL);
        assert_eq!(output["nextLink"], format!("{base}?$skiptoken={MAX_PAGES_PER_CALL}"));
    }

    #[test]
    fn every_action_output_leaves_without_the_connections_secrets() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"access_token": "acquired-token-123", "expires_in": 3600, "token_type": "Bearer"}))
            .respond(200, json!({"id": USER, "aboutMe": "token acquired-token-123, secret s3cr3t-value"}))
            .respond(200, json!({"value": [{"id": "1", "displayName": "s3cr3t-value"}]}));
        let (mut connector, _) = connected(secret_config(), script);
        let got = connector.invoke_json("users.get", &json!({"userId": USER}).to_string()).unwrap();
        let got: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(got["aboutMe"], "token [redacted], secret [redacted]");
        let listed = connector.invoke("users.list", "{}").unwrap();
        assert_eq!(listed["value"][0]["displayName"], "[redacted]");
    }

    #[test]
    fn secrets_a_server_writes_with_json_escapes_leave_redacted() {
        // `\/` and `\u` escapes spell the secret in JSON text no spelling list covers; the
        // items of a list and an entity pass through as written, so their strings are decoded.
        let escaped = r#"s3cr3t-v\u0061lue"#;
        let script = ScriptedTransport::new()
            .respond(200, json!({"access_token": "acquired/token+123", "expires_in": 3600, "token_type": "Bearer"}))
            .respond_raw(
                200,
                "application/json",
                format!(r#"{{"id":"{USER}","aboutMe":"token acquired\/token+123","mail":"{escaped}"}}"#).as_bytes(),
            )
            .respond_raw(
                200,
                "application/json",
                format!(r#"{{"value":[{{"id":"1","displayName":"{escaped}","{escaped}":1}}]}}"#).as_bytes(),
            );
        let (mut connector, _) = connected(secret_config(), script);
        let got = connector.invoke_json("users.get", &json!({"userId": USER}).to_string()).unwrap();
        assert!(!got.contains("token+123") && !got.contains("v\\u0061lue"), "{got}");
        let got: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!((&got["aboutMe"], &got["mail"]), (&json!("token [redacted]"), &json!("[redacted]")));
        let listed = connector.invoke_json("users.list", "{}").unwrap();
        let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed["value"][0], json!({"id": "1", "displayName": "[redacted]", "[redacted]": 1}));
    }

    fn dry_run(
        script: ScriptedTransport,
        action: &str,
        input: serde_json::Value,
    ) -> (serde_json::Value, Vec<HttpRequest>) {
        let (mut connector, log) = connected(token_config(), script);
        let options = crate::connector::InvokeOptions { dry_run: true, ..Default::default() };
        let output = connector.invoke_with(action, &input.to_string(), &options).unwrap();
        let sent = log.borrow().clone();
        (output, sent)
    }

    #[test]
    fn a_dry_run_sends_the_reads_and_plans_the_writes_with_placeholders() {
        // users.create with a manager given by name: the manager's lookup is a read and is sent;
        // the create and the manager assignment (which needs the created user's id) are planned.
        let manager = "4562bcc8-c436-4f95-b7c0-4f8ce89dca5e";
        let script = ScriptedTransport::new().respond(200, json!({"id": manager}));
        let input = json!({"accountEnabled": true, "displayName": "Adele Vance", "mailNickname": "AdeleV",
            "userPrincipalName": "AdeleV@contoso.com", "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"},
            "manager": "boss@contoso.com"});
        let (output, sent) = dry_run(script, "users.create", input);
        assert_eq!(sent.len(), 1, "only the lookup is sent");
        assert_eq!(sent[0].method(), Method::GET);
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/users/boss@contoso.com?$select=id");
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [
                {"method": "POST", "url": "https://graph.microsoft.com/v1.0/users",
                 "body": {"accountEnabled": true, "displayName": "Adele Vance", "mailNickname": "AdeleV",
                          "userPrincipalName": "AdeleV@contoso.com", "passwordProfile": {"password": "[hidden]"}},
                 "returns": {"id": "{write-1.id}"}},
                {"method": "PUT", "url": "https://graph.microsoft.com/v1.0/users/{write-1.id}/manager/$ref",
                 "body": {"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{manager}")}},
            ]})
        );
        assert!(!output.to_string().contains("xWwvJ"), "the new user's password is not in the plan");
    }

    #[test]
    fn a_dry_run_of_a_bulk_action_resolves_names_and_plans_each_chunk() {
        let script = ScriptedTransport::new().respond(200, json!({"id": "u-1"}));
        let members: Vec<String> =
            std::iter::once("a@contoso.com".to_string()).chain((2..=22).map(|n| format!("u-{n}"))).collect();
        let (output, sent) = dry_run(script, "groups.add-members", json!({"groupId": "g1", "members": members}));
        assert_eq!(sent.len(), 1, "only the name lookup is sent");
        let plan = output["plan"].as_array().unwrap();
        assert_eq!(plan.len(), 2, "two chunks of at most 20: {output}");
        assert_eq!(plan[0]["method"], "PATCH");
        assert_eq!(plan[0]["url"], "https://graph.microsoft.com/v1.0/groups/g1");
        let bound = plan[0]["body"]["members@odata.bind"].as_array().unwrap();
        assert_eq!((bound.len(), &bound[0]), (20, &json!("https://graph.microsoft.com/v1.0/directoryObjects/u-1")));
        assert_eq!(plan[1]["body"]["members@odata.bind"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_read_only_action_ignores_dry_run() {
        let script = ScriptedTransport::new().respond(200, json!({"id": USER}));
        let (output, sent) = dry_run(script, "users.get", json!({"userId": USER}));
        assert_eq!((output["id"].as_str(), sent.len()), (Some(USER), 1));
    }

    #[test]
    fn per_call_options_set_the_deadline_over_the_input_and_the_connection() {
        let script = ScriptedTransport::new().respond(200, json!({"id": USER}));
        let (mut connector, log) = connected(config_with(json!({"timeoutMs": 9_000})), script);
        let options = crate::connector::InvokeOptions { timeout_ms: Some(1_234), dry_run: false };
        let input = json!({"userId": USER, "timeoutMs": 5_000}).to_string();
        connector.invoke_with("users.get", &input, &options).unwrap();
        assert_eq!(log.borrow()[0].timeout_ms(), Some(1_234));
        let zero = crate::connector::InvokeOptions { timeout_ms: Some(0), dry_run: false };
        assert_eq!(connector.invoke_with("users.get", &input, &zero).unwrap_err().code, ErrorCode::InvalidInput);
    }

    #[test]
    fn jitter_keeps_every_wait_between_half_and_the_whole_step() {
        for random in [0, 1, 499, 500, 501, 12_345, u64::MAX / 3, u64::MAX] {
            let wait = jittered(1_000, random);
            assert!((500..=1_000).contains(&wait), "{random} gave {wait}");
        }
        assert_eq!(jittered(1_000, 0), 1_000);
        assert_eq!(jittered(1_000, 500), 500);
    }

    #[test]
    fn without_retry_after_the_backoff_doubles_with_jitter() {
        let script = ScriptedTransport::new()
            .respond(503, unavailable_body())
            .respond(504, Value::Null)
            .respond(503, unavailable_body())
            .respond(200, json!({"id": USER}));
        let (result, requests, waited) = get_user(script);
        assert!(result.is_ok());
        assert_eq!(requests, 4);
        // 1 s, 2 s and 4 s steps, each jittered down by at most half.
        assert!((3_500..=7_000).contains(&waited), "waited {waited} ms");
    }

    #[test]
    fn a_504_on_a_get_is_retried_with_the_attempt_header() {
        let script = ScriptedTransport::new().respond(504, Value::Null).respond(200, json!({"id": USER}));
        let (result, sent, _) = invoke_with(token_config(), script, "users.get", json!({"userId": USER}));
        assert!(result.is_ok());
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].uri(), sent[1].uri());
        assert_eq!(sent[1].header_value("retry-attempt"), Some("1"));
    }

    #[test]
    fn max_retries_bounds_the_attempts() {
        let mut script = ScriptedTransport::new();
        for _ in 0..6 {
            script = script.respond(503, unavailable_body());
        }
        let (result, sent, _) =
            invoke_with(config_with(json!({"maxRetries": 2})), script, "users.get", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(503)));
        assert_eq!(sent.len(), 3);
    }

    #[test]
    fn the_default_is_four_retries_and_exhausted_throttling_is_throttled_with_retry_after() {
        let mut script = ScriptedTransport::new();
        for _ in 0..6 {
            script = script.respond_with(429, &[("retry-after", "2")], throttled_body());
        }
        let (result, requests, waited) = get_user(script);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Throttled);
        assert_eq!(error.retry_after_ms, Some(2_000));
        assert_eq!((requests, waited), (5, 8_000));
    }

    #[test]
    fn exhausted_throttling_without_retry_after_still_says_how_long_to_wait() {
        let mut script = ScriptedTransport::new();
        for _ in 0..3 {
            script = script.respond(429, throttled_body());
        }
        let (result, _, _) =
            invoke_with(config_with(json!({"maxRetries": 1})), script, "users.get", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Throttled);
        assert!(error.retry_after_ms.is_some_and(|ms| (1_000..=2_000).contains(&ms)), "{error:?}");
    }

    #[test]
    fn a_wait_past_the_invocation_deadline_ends_the_retries() {
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "10")], throttled_body())
            .respond(200, json!({"id": USER}));
        let (result, sent, waited) =
            invoke_with(config_with(json!({"timeoutMs": 5000})), script, "users.get", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!((error.code, error.retry_after_ms), (ErrorCode::Throttled, Some(10_000)));
        assert_eq!((sent.len(), waited), (1, 0));
    }

    #[test]
    fn timeout_ms_in_the_input_overrides_the_connection_and_is_not_passed_on() {
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "10")], throttled_body())
            .respond(200, json!({"id": USER}));
        let config = config_with(json!({"timeoutMs": 5000}));
        let input = json!({"userId": USER, "timeoutMs": 60000});
        let (result, sent, waited) = invoke_with(config, script, "users.get", input);
        assert!(result.is_ok());
        assert_eq!((sent.len(), waited), (2, 10_000));
        assert!(!sent[1].uri().to_string().contains("timeout"));
    }

    #[test]
    fn a_bad_timeout_ms_is_invalid_input_naming_it() {
        for bad in [json!("soon"), json!(0), json!(-1), json!([1])] {
            let (result, sent, _) = invoke_with(
                token_config(),
                ScriptedTransport::new(),
                "users.get",
                json!({"userId": USER, "timeoutMs": bad}),
            );
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.contains("`timeoutMs`"), "{}", error.message);
            assert!(sent.is_empty());
        }
    }

    #[test]
    fn client_errors_other_than_429_are_never_retried() {
        for status in [400, 403, 404, 409, 412] {
            let script = ScriptedTransport::new()
                .respond(status, json!({"error": {"code": "x", "message": "no"}}))
                .respond(200, json!({"id": USER}));
            let (result, requests, waited) = get_user(script);
            assert_eq!(result.unwrap_err().status, Some(status));
            assert_eq!((requests, waited), (1, 0), "{status}");
        }
    }

    #[test]
    fn a_destination_refused_by_the_host_is_reported_at_once() {
        let script = ScriptedTransport::new()
            .fail("HTTP-request-denied", TransportErrorKind::Refused)
            .respond(200, json!({"id": USER}));
        let (result, requests, waited) = get_user(script);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Transport);
        assert!(error.message.contains("host refused the destination"), "{}", error.message);
        assert_eq!((requests, waited), (1, 0));
    }

    #[test]
    fn connection_failures_are_retried() {
        let script = ScriptedTransport::new()
            .fail("connection refused", TransportErrorKind::NotDelivered)
            .fail("connection reset", TransportErrorKind::MaybeDelivered)
            .respond(200, json!({"id": USER}));
        let (result, requests, _) = get_user(script);
        assert!(result.is_ok());
        assert_eq!(requests, 3);
    }

    #[test]
    fn a_throttled_create_is_sent_again_as_is() {
        let created = json!({"id": USER, "userPrincipalName": "adele@contoso.com"});
        let script = ScriptedTransport::new()
            .respond_with(429, &[("retry-after", "1")], throttled_body())
            .respond(201, created.clone());
        let mut input = new_user();
        input["timeoutMs"] = json!(30_000);
        let (result, sent, _) = invoke_with(token_config(), script, "users.create", input);
        assert_eq!(result.unwrap(), created);
        assert_eq!(sent.len(), 2);
        assert_eq!(body_json(&sent[0]), body_json(&sent[1]));
        assert_eq!(body_json(&sent[0]), new_user(), "`timeoutMs` is not passed on to Graph");
        assert_eq!(sent[1].method(), Method::POST);
    }

    fn new_user() -> serde_json::Value {
        json!({"accountEnabled": true, "displayName": "Adele Vance", "mailNickname": "AdeleV",
               "userPrincipalName": "adele@contoso.com",
               "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "xWwvJ]6NMw+bWH-d"}})
    }

    #[test]
    fn an_ambiguous_create_finds_the_user_instead_of_creating_it_twice() {
        let existing = json!({"id": USER, "userPrincipalName": "adele@contoso.com"});
        let script =
            ScriptedTransport::new().respond(503, unavailable_body()).respond(200, json!({"value": [existing]}));
        let (result, sent, _) = invoke_with(token_config(), script, "users.create", new_user());
        assert_eq!(result.unwrap(), existing);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].method(), Method::GET);
        assert_eq!(
            sent[1].uri(),
            "https://graph.microsoft.com/v1.0/users?$filter=userPrincipalName%20eq%20'adele@contoso.com'"
        );
    }

    #[test]
    fn an_ambiguous_create_of_a_user_that_does_not_exist_is_sent_again() {
        let created = json!({"id": USER});
        let script = ScriptedTransport::new()
            .fail("connection reset after the body was sent", TransportErrorKind::MaybeDelivered)
            .respond(200, json!({"value": []}))
            .respond(201, created.clone());
        let (result, sent, _) = invoke_with(token_config(), script, "users.create", new_user());
        assert_eq!(result.unwrap(), created);
        let methods: Vec<&Method> = sent.iter().map(|r| r.method()).collect();
        assert_eq!(methods, [Method::POST, Method::GET, Method::POST]);
        assert_eq!(body_json(&sent[0]), body_json(&sent[2]));
    }

    #[test]
    fn a_create_that_cannot_be_checked_is_not_sent_again() {
        let input = json!({"displayName": "B2C user", "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"},
                           "identities": [{"signInType": "emailAddress", "issuer": "contoso.onmicrosoft.com",
                                           "issuerAssignedId": "jsmith@yahoo.com"}]});
        let script = ScriptedTransport::new().respond(504, Value::Null).respond(201, json!({"id": USER}));
        let (result, sent, _) = invoke_with(token_config(), script, "users.create", input);
        let error = result.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(504)));
        assert!(error.message.contains("may have been applied"), "{}", error.message);
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn an_ambiguous_group_create_returns_the_group_with_the_same_nickname_and_name() {
        let input = json!({"displayName": "Operations", "mailNickname": "operations", "mailEnabled": false,
                           "securityEnabled": true});
        let group = json!({"id": "g-1", "displayName": "Operations", "mailNickname": "operations"});
        let script = ScriptedTransport::new().respond(503, unavailable_body()).respond(200, json!({"value": [group]}));
        let (result, sent, _) = invoke_with(token_config(), script, "groups.create", input.clone());
        assert_eq!(result.unwrap(), group);
        assert_eq!(sent[1].uri(), "https://graph.microsoft.com/v1.0/groups?$filter=mailNickname%20eq%20'operations'");
        // Another group holding the nickname is not this create's: the create is sent again.
        let other = json!({"id": "g-0", "displayName": "Old operations", "mailNickname": "operations"});
        let script = ScriptedTransport::new()
            .respond(503, unavailable_body())
            .respond(200, json!({"value": [other]}))
            .respond(201, group.clone());
        let (result, sent, _) = invoke_with(token_config(), script, "groups.create", input);
        assert_eq!(result.unwrap(), group);
        assert_eq!(sent.len(), 3);
    }

    #[test]
    fn an_ambiguous_invitation_returns_the_invited_user() {
        let input = json!({"invitedUserEmailAddress": "admin@fabrikam.com",
                           "inviteRedirectUrl": "https://myapp.contoso.com"});
        let guest = json!({"id": USER, "displayName": "Admin", "mail": "admin@fabrikam.com", "userType": "Guest",
                           "externalUserState": "PendingAcceptance"});
        let script = ScriptedTransport::new()
            .fail("connection reset", TransportErrorKind::MaybeDelivered)
            .respond(200, json!({"value": [guest]}));
        let (result, sent, _) = invoke_with(token_config(), script, "guests.invite", input);
        let output = result.unwrap();
        assert_eq!(output["invitedUser"]["id"], USER);
        assert_eq!(output["status"], "PendingAcceptance");
        assert_eq!(output["invitedUserEmailAddress"], "admin@fabrikam.com");
        assert_eq!(sent.len(), 2);
        let url = sent[1].uri().to_string();
        assert!(url.contains("$filter=mail%20eq%20'admin@fabrikam.com'%20or%20otherMails/any("), "{url}");
    }

    #[test]
    fn a_reference_already_present_after_an_ambiguous_attempt_is_the_first_attempts_success() {
        let device = "d-1";
        let script = ScriptedTransport::new()
            .fail("connection reset", TransportErrorKind::MaybeDelivered)
            .respond(
                400,
                json!({"error": {"code": "Request_BadRequest",
                       "message": "One or more added object references already exist for the following modified properties: 'registeredOwners'."}}),
            );
        let (result, sent, _) = invoke_with(
            token_config(),
            script,
            "devices.add-registered-owner",
            json!({"deviceId": device, "userId": USER}),
        );
        assert_eq!(result.unwrap()["success"], true);
        assert_eq!(sent.len(), 2);
        assert_eq!(body_json(&sent[0]), body_json(&sent[1]));
    }

    #[test]
    fn bulk_additions_send_again_only_the_chunk_that_failed() {
        let ids: Vec<String> = (0..45).map(|n| format!("00000000-0000-0000-0000-{n:012}")).collect();
        let script = ScriptedTransport::new()
            .respond(204, Value::Null)
            .respond(503, unavailable_body())
            .respond(204, Value::Null)
            .respond(204, Value::Null);
        let input = json!({"groupId": "g-1", "directoryObject": "Devices", "members": ids});
        let (result, sent, _) = invoke_with(token_config(), script, "groups.add-members", input);
        let output = result.unwrap();
        assert_eq!(output["success"], true);
        assert_eq!(output["succeeded"].as_array().map(Vec::len), Some(45));
        let sizes: Vec<usize> =
            sent.iter().map(|r| body_json(r)["members@odata.bind"].as_array().map_or(0, Vec::len)).collect();
        assert_eq!(sizes, [20, 20, 20, 5]);
        assert_eq!(body_json(&sent[1]), body_json(&sent[2]));
    }

    #[test]
    fn a_chunk_still_throttled_after_its_retries_fails_alone_and_the_next_chunks_go_on() {
        let ids: Vec<String> = (0..45).map(|n| format!("00000000-0000-0000-0000-{n:012}")).collect();
        let mut script = ScriptedTransport::new().respond(204, Value::Null);
        for _ in 0..2 {
            script = script.respond_with(429, &[("retry-after", "1")], throttled_body());
        }
        let script = script.respond(204, Value::Null);
        let input = json!({"groupId": "g-1", "directoryObject": "Devices", "members": ids});
        let (result, sent, _) = invoke_with(config_with(json!({"maxRetries": 1})), script, "groups.add-members", input);
        let output = result.unwrap();
        assert_eq!(output["success"], false);
        assert_eq!(output["succeeded"].as_array().map(Vec::len), Some(25));
        let failed = output["failed"].as_array().cloned().unwrap_or_default();
        assert_eq!(failed.len(), 20);
        assert!(failed.iter().all(|f| f["error"]["code"] == "throttled"));
        assert_eq!(sent.len(), 4);
    }

    #[test]
    fn a_body_over_the_cap_is_an_upstream_error() {
        let script = ScriptedTransport::new().respond_raw(200, "application/json", &vec![b' '; MAX_RESPONSE_BODY + 1]);
        let error = get_user(script).0.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(200)));
        assert!(error.message.contains("more than"), "{}", error.message);
    }

    #[test]
    fn list_items_pass_through_as_graph_wrote_them_across_pages() {
        let next = "https://graph.microsoft.com/v1.0/users?$skiptoken=X%27Y";
        let first = format!(
            r#"{{"@odata.context":"c","value":[{{"id":"u-1","displayName":"Zo\u00eb \"Z\""}}],"@odata.nextLink":"{next}"}}"#
        );
        let second = r#"{"value":[ {"zeta": 1, "alpha": [true, null]} ]}"#;
        let script = ScriptedTransport::new().respond_raw(200, "application/json", first.as_bytes()).respond_raw(
            200,
            "application/json",
            second.as_bytes(),
        );
        let log = script.log();
        let mut connector = crate::Connector::new();
        connector.connect(&token_config().to_string(), Box::new(script)).unwrap();
        let output = connector.invoke_json("users.list", r#"{"maxItems": 0}"#).unwrap();
        assert_eq!(
            output,
            r#"{"value":[{"id":"u-1","displayName":"Zo\u00eb \"Z\""},{"zeta": 1, "alpha": [true, null]}]}"#
        );
        let sent = log.borrow();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].uri(), next);
    }

    #[test]
    fn a_page_cut_at_max_items_points_back_at_itself() {
        let page = r#"{"value":[{"id":"a"},{"id":"b"},{"id":"c"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=2"}"#;
        let script = ScriptedTransport::new().respond_raw(200, "application/json", page.as_bytes());
        let (result, sent, _) = invoke_with(token_config(), script, "users.list", json!({"maxItems": 2, "top": 3}));
        assert_eq!(
            result.unwrap(),
            json!({"value": [{"id": "a"}, {"id": "b"}], "nextLink": "https://graph.microsoft.com/v1.0/users?$top=3"})
        );
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn a_page_nested_deeper_than_json_parsers_accept_is_an_upstream_error() {
        let depth = 200;
        let page = format!(r#"{{"value":[{}{}]}}"#, "[".repeat(depth), "]".repeat(depth));
        let script = ScriptedTransport::new().respond_raw(200, "application/json", page.as_bytes());
        let (result, _, _) = invoke_with(token_config(), script, "users.list", json!({}));
        let error = result.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(200)));
        assert!(error.message.contains("not JSON"), "{}", error.message);
    }

    #[test]
    fn list_pages_that_are_not_collections_are_upstream_errors_saying_why() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "empty body"),
            (b"[1]", "not an object"),
            (br#"{"id":"a"}"#, "without a `value` array"),
            (br#"{"value":[],"@odata.nextLink":1}"#, "`@odata.nextLink` is not a string"),
        ];
        for (body, expected) in cases {
            let script = ScriptedTransport::new().respond_raw(200, "application/json", body);
            let (result, _, _) = invoke_with(token_config(), script, "users.list", json!({}));
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::Upstream);
            assert!(error.message.contains(expected), "{expected}: {}", error.message);
        }
    }

    #[test]
    fn an_html_error_page_and_malformed_json_are_upstream_errors() {
        let script = ScriptedTransport::new().respond_raw(502, "text/html", b"<html><body>Bad Gateway</body></html>");
        let (result, _, _) = get_user(script);
        let error = result.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(502)));
        assert!(error.message.contains("text/html"), "{}", error.message);
        let script = ScriptedTransport::new().respond_raw(200, "application/json", b"{\"id\": \"a\",");
        let error = get_user(script).0.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(200)));
        let script = ScriptedTransport::new().respond_raw(200, "application/json", b"");
        assert_eq!(get_user(script).0.unwrap_err().code, ErrorCode::Upstream);
    }

    #[test]
    fn tokens_the_connection_acquired_are_redacted_when_graph_echoes_them() {
        use crate::graph::assertion::test_keys::{TEST_ONLY_CERTIFICATE_PEM, TEST_ONLY_KEY_PKCS8_PEM};
        let tenant = "contoso.onmicrosoft.com";
        let configs = [
            secret_config(),
            json!({"auth": "certificate", "tenantId": tenant, "clientId": "app-id",
                   "certificatePem": TEST_ONLY_CERTIFICATE_PEM, "privateKeyPem": TEST_ONLY_KEY_PKCS8_PEM}),
            json!({"auth": "password", "tenantId": tenant, "clientId": "app-id", "username": "u@contoso.com", "password": "pw-1234"}),
            json!({"auth": "refreshToken", "tenantId": tenant, "clientId": "app-id", "refreshToken": "refresh-1"}),
        ];
        for config in configs {
            let script = ScriptedTransport::new()
                .respond(200, json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0.acquired+one/x=="}))
                .respond(400, json!({"error": {"code": "BadRequest",
                    "message": "Invalid header. Header was: Bearer eyJ0.acquired+one/x== (eyJ0.acquired%2Bone%2Fx%3D%3D)"}}));
            let (mut connector, _) = connected(config.clone(), script);
            let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
            assert_eq!((error.code, error.status), (ErrorCode::InvalidInput, Some(400)), "{config}");
            assert_eq!(error.message, "Invalid header. Header was: Bearer [redacted] ([redacted])", "{config}");
        }
    }

    #[test]
    fn a_token_replaced_after_a_401_stays_redacted() {
        let rejected = json!({"error": {"code": "InvalidAuthenticationToken",
            "message": "Access token validation failure. Header was: Bearer tok-first-acquired"}});
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 3599, "access_token": "tok-first-acquired"}))
            .respond(401, rejected)
            .respond(200, json!({"expires_in": 3599, "access_token": "tok-second-acquired"}))
            .respond(
                401,
                json!({"error": {"code": "InvalidAuthenticationToken",
                "message": "Bearer tok-second-acquired is not tok-first-acquired"}}),
            )
            .respond(
                403,
                json!({"error": {"code": "Authorization_RequestDenied",
                "message": "Insufficient privileges (earlier: tok-first-acquired)"}}),
            );
        let (mut connector, log) = connected(secret_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!(log.borrow()[3].header_value("authorization"), Some("Bearer tok-second-acquired"));
        assert_eq!((error.code, error.status), (ErrorCode::AuthFailed, Some(401)));
        assert_eq!(error.message, "Bearer [redacted] is not [redacted]");
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Forbidden, Some(403)));
        assert_eq!(error.message, "Insufficient privileges (earlier: [redacted])");
    }

    #[test]
    fn an_answer_that_is_not_json_is_described_without_the_token() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 3599, "access_token": "tok-acquired-1"}))
            .respond_raw(200, "text/plain", b"echo: Bearer tok-acquired-1 s3cr3t-value");
        let (mut connector, _) = connected(secret_config(), script);
        let error = connector.invoke("users.get", r#"{"userId":"a"}"#).unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(200)));
        assert!(error.message.ends_with("(text/plain: echo: Bearer [redacted] [redacted])"), "{}", error.message);
    }
}
