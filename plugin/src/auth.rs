//! Tokens from the Microsoft identity platform (v2.0 token endpoint), cached until
//! shortly before they expire.

use crate::config::{AuthMode, ConnectionConfig};
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::odata::encode_form_value;
use crate::transport::Transport;
use serde_json::Value;

/// Tokens are renewed this long before Microsoft says they expire, so a request
/// never leaves with a token that dies in flight.
const RENEW_MARGIN_MS: u64 = 5 * 60 * 1000;

/// A bearer token and when to stop using it.
struct CachedToken {
    access_token: String,
    renew_at_ms: u64,
}

/// Obtains and caches the connection's bearer token.
pub struct TokenSource {
    cached: Option<CachedToken>,
    /// The refresh token in use; replaced by each new one the endpoint returns.
    refresh_token: Option<String>,
}

impl TokenSource {
    /// A source with nothing cached yet.
    pub fn new(config: &ConnectionConfig) -> Self {
        let refresh_token = match &config.auth {
            AuthMode::RefreshToken { refresh_token, .. } => Some(refresh_token.clone()),
            _ => None,
        };
        TokenSource { cached: None, refresh_token }
    }

    /// True when a rejected token can be replaced by asking for a new one.
    pub fn can_renew(config: &ConnectionConfig) -> bool {
        !matches!(config.auth, AuthMode::AccessToken { .. })
    }

    /// Forgets the cached token (after Graph answered 401).
    pub fn invalidate(&mut self) {
        self.cached = None;
    }

    /// The current bearer token, acquiring a fresh one when none is cached or it is about to expire.
    pub fn token(&mut self, config: &ConnectionConfig, transport: &mut dyn Transport) -> Result<String> {
        if let AuthMode::AccessToken { token } = &config.auth {
            return Ok(token.clone());
        }
        let now = transport.now_ms();
        if let Some(cached) = &self.cached {
            if now < cached.renew_at_ms {
                return Ok(cached.access_token.clone());
            }
        }
        let (token, expires_in_s) = self.acquire(config, transport)?;
        let lifetime_ms = expires_in_s.saturating_mul(1000);
        // A token with less than the margin left serves the request it was fetched for only.
        let renew_at_ms = now.saturating_add(lifetime_ms.saturating_sub(RENEW_MARGIN_MS));
        self.cached = Some(CachedToken { access_token: token.clone(), renew_at_ms });
        Ok(token)
    }

    fn acquire(&mut self, config: &ConnectionConfig, transport: &mut dyn Transport) -> Result<(String, u64)> {
        let mut form: Vec<(&str, String)> = vec![("client_id", config.client_id.clone())];
        match &config.auth {
            AuthMode::ClientCredentials { client_secret } => {
                form.push(("client_secret", client_secret.clone()));
                form.push(("grant_type", "client_credentials".into()));
            }
            AuthMode::Password { username, password, client_secret } => {
                if let Some(secret) = client_secret {
                    form.push(("client_secret", secret.clone()));
                }
                form.push(("grant_type", "password".into()));
                form.push(("username", username.clone()));
                form.push(("password", password.clone()));
            }
            AuthMode::RefreshToken { client_secret, .. } => {
                if let Some(secret) = client_secret {
                    form.push(("client_secret", secret.clone()));
                }
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", self.refresh_token.clone().unwrap_or_default()));
            }
            AuthMode::Certificate | AuthMode::AccessToken { .. } => {
                return Err(ConnectorError::invalid_config(format!(
                    "auth `{}` cannot acquire tokens",
                    config.auth.name()
                )))
            }
        }
        form.push(("scope", config.scope.clone()));
        let body = form
            .iter()
            .map(|(name, value)| format!("{name}={}", encode_form_value(value)))
            .collect::<Vec<_>>()
            .join("&");
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(config.token_url.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.into_bytes())
            .map_err(|_| ConnectorError::invalid_config("`tokenUrl` is not a valid URL"))?;
        let response = transport.send(request).map_err(|e| {
            ConnectorError::new(ErrorCode::Transport, format!("token endpoint unreachable: {}", e.message))
        })?;
        let status = response.status().as_u16();
        let parsed: Option<Value> = serde_json::from_slice(response.body()).ok();
        if status != 200 {
            return Err(token_error(status, parsed.as_ref(), config));
        }
        let parsed = parsed.ok_or_else(|| {
            ConnectorError::upstream("token endpoint answered 200 with a body that is not JSON").with_status(status)
        })?;
        let token = parsed.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
            ConnectorError::upstream("token endpoint answer has no `access_token`").with_status(status)
        })?;
        let expires_in = match parsed.get("expires_in") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            ConnectorError::upstream("token endpoint answer has no valid `expires_in`").with_status(status)
        })?;
        if let Some(new_refresh) = parsed.get("refresh_token").and_then(Value::as_str) {
            if !new_refresh.is_empty() && self.refresh_token.is_some() {
                self.refresh_token = Some(new_refresh.to_string());
            }
        }
        Ok((token.to_string(), expires_in))
    }
}

/// Maps a token endpoint failure to `auth-failed` (400/401) or `upstream`, with the
/// AADSTS code and the first line of Microsoft's description, and never a secret.
fn token_error(status: u16, body: Option<&Value>, config: &ConnectionConfig) -> ConnectorError {
    let description = body.and_then(|b| b.get("error_description")).and_then(Value::as_str).unwrap_or("");
    let first_line = description.lines().next().unwrap_or("").trim();
    let error = body.and_then(|b| b.get("error")).and_then(Value::as_str).unwrap_or("");
    let aadsts = body
        .and_then(|b| b.get("error_codes"))
        .and_then(|c| c.get(0))
        .and_then(Value::as_u64)
        .map(|n| format!("AADSTS{n}"))
        .or_else(|| {
            let code: String = first_line.strip_prefix("AADSTS")?.chars().take_while(char::is_ascii_digit).collect();
            (!code.is_empty()).then(|| format!("AADSTS{code}"))
        });
    let message = if !first_line.is_empty() {
        first_line.to_string()
    } else if !error.is_empty() {
        format!("token endpoint refused the request: {error}")
    } else {
        format!("token endpoint answered HTTP {status}")
    };
    let code = if status == 400 || status == 401 { ErrorCode::AuthFailed } else { ErrorCode::Upstream };
    let mut result = ConnectorError::new(code, redact(&message, config)).with_status(status);
    result.graph_code = aadsts;
    result
}

/// Removes any of the connection's secrets from a text that came from outside.
pub fn redact(text: &str, config: &ConnectionConfig) -> String {
    let secrets: Vec<&str> = match &config.auth {
        AuthMode::ClientCredentials { client_secret } => vec![client_secret],
        AuthMode::Password { password, client_secret, .. } => {
            let mut all = vec![password.as_str()];
            all.extend(client_secret.as_deref());
            all
        }
        AuthMode::RefreshToken { refresh_token, client_secret } => {
            let mut all = vec![refresh_token.as_str()];
            all.extend(client_secret.as_deref());
            all
        }
        AuthMode::AccessToken { token } => vec![token],
        AuthMode::Certificate => vec![],
    };
    let mut out = text.to_string();
    for secret in secrets.into_iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    out
}
