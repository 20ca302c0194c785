//! The connector's typed error: one code to branch on, plus the context a person needs.

use serde_json::{json, Map, Value};
use std::fmt;

/// What kind of failure an operation ended in (mirrors `error-code` in the WIT world).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The connection settings are missing a field or have a malformed one.
    InvalidConfig,
    /// The action input is missing a field or has a wrong type or value.
    InvalidInput,
    /// No action with that id exists.
    UnknownAction,
    /// `invoke` came before a successful `connect`.
    NotConnected,
    /// No token could be obtained, or Graph refused it.
    AuthFailed,
    /// Graph answered 403.
    Forbidden,
    /// Graph answered 404 (or 410).
    NotFound,
    /// Graph answered 409, 412 or 423, or the object already exists.
    Conflict,
    /// Graph kept answering 429 after every retry.
    Throttled,
    /// Graph failed (5xx) or answered something it does not document.
    Upstream,
    /// The request got no answer: refused by the sandbox, DNS, TLS, connection errors.
    Transport,
    /// A defect of the connector itself.
    Internal,
}

impl ErrorCode {
    /// The kebab-case name used in JSON, fixtures and the WIT world.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidConfig => "invalid-config",
            ErrorCode::InvalidInput => "invalid-input",
            ErrorCode::UnknownAction => "unknown-action",
            ErrorCode::NotConnected => "not-connected",
            ErrorCode::AuthFailed => "auth-failed",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not-found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Throttled => "throttled",
            ErrorCode::Upstream => "upstream",
            ErrorCode::Transport => "transport",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code Graph's HTTP status maps to.
    pub fn from_http_status(status: u16) -> ErrorCode {
        match status {
            401 => ErrorCode::AuthFailed,
            403 => ErrorCode::Forbidden,
            404 | 410 => ErrorCode::NotFound,
            409 | 412 | 423 => ErrorCode::Conflict,
            429 => ErrorCode::Throttled,
            400..=499 => ErrorCode::InvalidInput,
            _ => ErrorCode::Upstream,
        }
    }
}

/// A typed error, as returned by `connect` and `invoke`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorError {
    /// The kind of failure.
    pub code: ErrorCode,
    /// A readable explanation naming the field, or Graph's own message. Never holds a secret.
    pub message: String,
    /// The HTTP status Graph or the token endpoint answered with.
    pub status: Option<u16>,
    /// Graph's error code, or the `AADSTSnnnn` code of a token error.
    pub graph_code: Option<String>,
    /// Graph's request id, for support tickets.
    pub request_id: Option<String>,
    /// How long Graph asked to wait before retrying.
    pub retry_after_ms: Option<u64>,
}

/// Result type of the connector.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

impl ConnectorError {
    /// An error with a code and a message, and no HTTP context.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ConnectorError {
            code,
            message: message.into(),
            status: None,
            graph_code: None,
            request_id: None,
            retry_after_ms: None,
        }
    }

    /// Invalid caller input; the message names the field.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// Invalid connection settings; the message names the field.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidConfig, message)
    }

    /// Graph answered something it does not document.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Upstream, message)
    }

    /// The same error with an HTTP status attached.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The error as the JSON object of the fixture format (camelCase members).
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("code".into(), json!(self.code.as_str()));
        object.insert("message".into(), json!(self.message));
        if let Some(status) = self.status {
            object.insert("status".into(), json!(status));
        }
        if let Some(code) = &self.graph_code {
            object.insert("graphCode".into(), json!(code));
        }
        if let Some(id) = &self.request_id {
            object.insert("requestId".into(), json!(id));
        }
        if let Some(ms) = self.retry_after_ms {
            object.insert("retryAfterMs".into(), json!(ms));
        }
        Value::Object(object)
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ConnectorError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_codes() {
        assert_eq!(ErrorCode::from_http_status(400), ErrorCode::InvalidInput);
        assert_eq!(ErrorCode::from_http_status(403), ErrorCode::Forbidden);
        assert_eq!(ErrorCode::from_http_status(404), ErrorCode::NotFound);
        assert_eq!(ErrorCode::from_http_status(409), ErrorCode::Conflict);
        assert_eq!(ErrorCode::from_http_status(429), ErrorCode::Throttled);
        assert_eq!(ErrorCode::from_http_status(503), ErrorCode::Upstream);
    }

    #[test]
    fn json_form_omits_absent_members() {
        let error = ConnectorError::invalid_input("`userId` is required").with_status(400);
        assert_eq!(error.to_json(), json!({"code": "invalid-input", "message": "`userId` is required", "status": 400}));
    }
}
