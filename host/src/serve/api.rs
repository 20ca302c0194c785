//! The HTTP API: routes, JSON bodies, the mapping of typed errors to HTTP statuses, request
//! ids, and API keys. Documented in README ("Serve") and `docs/openapi.json`.

use crate::mcp::McpHttpService;
use crate::sandbox::runtime::{ConnectorError, ErrorCode};
use crate::serve::auth::ApiKeys;
use crate::serve::service::{CallError, CallRequest, ConnectionRef, ServeCore, Settings};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The request id header, the caller's or one the service makes.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest caller request id kept; a longer (or non-printable) one is replaced.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The core.
    pub core: Arc<ServeCore>,
    /// The keys callers must present, if any.
    pub keys: Option<Arc<ApiKeys>>,
    /// The largest request body read.
    pub max_body_bytes: usize,
    /// False once shutdown began: `/readyz` answers 503 so that load balancers stop sending.
    pub ready: Arc<AtomicBool>,
    /// The MCP servers, by connection name (mounted at `/mcp/{name}`).
    pub mcp: Vec<(String, McpHttpService)>,
}

/// The request id of the request being answered.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The API's routes, with request ids and API keys applied to every route (the health
/// probes excepted from keys).
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/v1/actions", get(list_actions))
        .route("/v1/actions/{id}/invoke", post(invoke))
        .route("/v1/connections", post(create_connection).get(list_connections))
        .route("/v1/connections/{id}", delete(delete_connection).get(get_connection))
        .route("/metrics", get(metrics));
    // MCP (streamable HTTP), under the same API keys and request ids: one server per named
    // connection of --connections, at `/mcp/{name}` (see `mcp_services` in serve/mod.rs).
    let api =
        state.mcp.iter().fold(api, |api, (name, service)| api.nest_service(&format!("/mcp/{name}"), service.clone()));
    // With one named connection there is no choice to make: `/mcp` is its server too.
    let api = match state.mcp.as_slice() {
        [(_, only)] => api.nest_service("/mcp", only.clone()),
        _ => api,
    };
    let api = api
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), require_api_key));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(api)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// An answer of the API that is an error: `{"error": {...}}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    error: ConnectorError,
}

impl ApiError {
    /// An error of the service itself (not of the component), with its own code.
    pub fn service(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), error: ConnectorError::new(ErrorCode::Internal, message) }
    }

    /// A refused request body or field (`invalid-request`).
    fn invalid_request(message: impl Into<String>) -> Self {
        Self::service(StatusCode::BAD_REQUEST, "invalid-request", message)
    }

    /// A typed error of the component, with the status that fits it.
    pub fn connector(error: ConnectorError) -> Self {
        Self { status: status_for(error.code), code: error.code.as_str(), error }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        let typed = error.to_connector_error();
        let status = match &error {
            CallError::Stopped { deadline: true, .. } => StatusCode::GATEWAY_TIMEOUT,
            CallError::UnknownConnection(_) => StatusCode::NOT_FOUND,
            CallError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => status_for(typed.code),
        };
        Self { status, code: error.code(), error: typed }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = &self.error;
        let body = json!({"error": {
            "code": self.code,
            "message": error.message,
            "status": error.status,
            "graphCode": error.graph_code,
            "requestId": error.request_id,
            "retryAfterMs": error.retry_after_ms,
        }});
        let mut response = (self.status, json_headers(), body.to_string()).into_response();
        if let Some(ms) = error.retry_after_ms.filter(|_| self.status == StatusCode::TOO_MANY_REQUESTS) {
            // Whole seconds, rounded up and at least one: `Retry-After: 0` invites a hot loop.
            let seconds = ms.div_ceil(1000).max(1);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(value) = error.request_id.as_deref().and_then(|id| HeaderValue::from_str(id).ok()) {
            response.headers_mut().insert("request-id", value);
        }
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthorized" {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The HTTP status of each error code.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidConfig | ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorCode::UnknownAction | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AuthFailed => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Throttled => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Upstream | ErrorCode::Transport => StatusCode::BAD_GATEWAY,
        ErrorCode::NotConnected | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn json_headers() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]
}

/// Gives every request an id (the caller's `x-request-id` when it is short printable ASCII,
/// else a new one) and every response the `x-request-id` header.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID_CHARS && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| crate::serve::service::random_id("r-"));
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Refuses a request without a configured API key (when keys are configured). The key is
/// never logged, only that it was missing or wrong.
async fn require_api_key(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(keys) = &state.keys else {
        return next.run(request).await;
    };
    let authorization = request.headers().get(header::AUTHORIZATION);
    if keys.accepts(authorization.map(HeaderValue::as_bytes)) {
        return next.run(request).await;
    }
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let reason = if authorization.is_some() { "wrong API key" } else { "no API key" };
    tracing::warn!(
        target: "connector_host::serve::auth",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        reason,
        "request refused"
    );
    ApiError::service(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!("{reason}: send `Authorization: Bearer <key>` with a key of the service's --api-key-file"),
    )
    .into_response()
}

async fn healthz() -> Response {
    (StatusCode::OK, json_headers(), r#"{"status":"ok"}"#).into_response()
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, json_headers(), r#"{"status":"ready"}"#).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, json_headers(), r#"{"status":"shutting down"}"#).into_response()
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], state.core.metrics().render()).into_response()
}

async fn unknown_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::service(
        StatusCode::NOT_FOUND,
        "unknown-route",
        format!("no route {method} {} (see docs/openapi.json)", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::service(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} does not take {method} (see docs/openapi.json)", uri.path()),
    )
}

async fn list_actions(State(state): State<ApiState>) -> Response {
    let descriptors: Vec<Value> = state.core.descriptors().iter().map(|action| action.to_json()).collect();
    (StatusCode::OK, json_headers(), Value::Array(descriptors).to_string()).into_response()
}

fn connection_json(entry: &crate::serve::service::ConnectionEntry) -> Value {
    json!({"id": entry.id, "name": entry.name, "description": entry.description})
}

async fn list_connections(State(state): State<ApiState>) -> Response {
    let mut connections = state.core.connections();
    connections.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let list: Vec<Value> = connections.iter().map(|entry| connection_json(entry)).collect();
    (StatusCode::OK, json_headers(), Value::Array(list).to_string()).into_response()
}

async fn get_connection(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let entry = state.core.lookup(&id).ok_or_else(|| ApiError::from(CallError::UnknownConnection(id)))?;
    Ok((StatusCode::OK, json_headers(), connection_json(&entry).to_string()).into_response())
}

async fn create_connection(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let settings = read_json_object(&headers, body, state.max_body_bytes, "the connection settings").await?;
    let entry = match state.core.register(None, Settings::new(Value::Object(settings).to_string())).await {
        Ok(Ok(entry)) => entry,
        Ok(Err(error)) => return Err(ApiError::connector(error)),
        Err(error) => return Err(CallError::Failed(error).into()),
    };
    let body = json!({"id": entry.id, "description": entry.description});
    Ok((StatusCode::CREATED, json_headers(), body.to_string()).into_response())
}

async fn delete_connection(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    if state.core.remove(&id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(CallError::UnknownConnection(id).into())
    }
}

async fn invoke(
    State(state): State<ApiState>,
    Path(action): Path<String>,
    axum::Extension(RequestId(request_id)): axum::Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut envelope = read_json_object(&headers, body, state.max_body_bytes, "the invocation").await?;
    let connection = match envelope.remove("connection") {
        Some(Value::String(id)) => ConnectionRef::Registered(id),
        Some(Value::Object(settings)) => ConnectionRef::Inline(Settings::new(Value::Object(settings).to_string())),
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "`connection` must be a connection id or name (a string) or connection settings (an object), not {}",
                json_kind(&other)
            )))
        }
        None => {
            return Err(ApiError::invalid_request("`connection` is missing: give a connection id or name, or settings"))
        }
    };
    let input = match envelope.remove("input") {
        None => "{}".to_string(),
        Some(input @ Value::Object(_)) => input.to_string(),
        Some(other) => {
            return Err(ApiError::invalid_request(format!("`input` must be an object, not {}", json_kind(&other))))
        }
    };
    let timeout_ms = match envelope.remove("timeoutMs") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) if number.as_u64().is_some_and(|ms| ms > 0) => number.as_u64(),
        Some(_) => return Err(ApiError::invalid_request("`timeoutMs` must be a whole number of milliseconds above 0")),
    };
    let dry_run = match envelope.remove("dryRun") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => flag,
        Some(_) => return Err(ApiError::invalid_request("`dryRun` must be true or false")),
    };
    if let Some(unknown) = envelope.keys().next() {
        return Err(ApiError::invalid_request(format!(
            "unknown member `{unknown}` (expected connection, input, timeoutMs, dryRun)"
        )));
    }
    let outcome = state.core.call(CallRequest { connection, action, input, timeout_ms, dry_run, request_id }).await;
    let upstream_id = outcome.upstream_request_ids.last().cloned();
    match outcome.result {
        Ok(output) => {
            let mut response = (StatusCode::OK, json_headers(), format!(r#"{{"output":{output}}}"#)).into_response();
            if let Some(value) = upstream_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response.headers_mut().insert("request-id", value);
            }
            Ok(response)
        }
        Err(error) => {
            let mut error = ApiError::from(error);
            if error.error.request_id.is_none() {
                error.error.request_id = upstream_id;
            }
            Err(error)
        }
    }
}

/// Reads a request body of at most `limit` bytes holding one JSON object; `what` names it
/// in errors. The body's content is never part of an error (it may hold secrets).
async fn read_json_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    what: &str,
) -> Result<Map<String, Value>, ApiError> {
    let too_large = || {
        ApiError::service(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the request body is larger than the {limit} bytes the service reads"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return Err(too_large()),
        Err(_) => return Err(ApiError::invalid_request("the request body could not be read")),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(ApiError::invalid_request(format!("{what} must be a JSON object, not {}", json_kind(&other)))),
        Err(error) => Err(ApiError::invalid_request(format!(
            "{what} is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ))),
    }
}

/// What a JSON value is, for errors that must not show it.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
