//! Tokens from the Microsoft identity platform (v2.0 token endpoint), cached until
//! shortly before they expire.

use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::assertion::{TransportRng, ASSERTION_TYPE};
use crate::graph::config::{AuthMode, ConnectionConfig};
use crate::graph::odata::encode_form_value;
use crate::graph::retry::{retry_after_wait_ms, Next, RetryPolicy};
use crate::graph::secrets::SecretSet;
use crate::graph::transport::{HttpRequest, HttpResponse, Transport, TransportErrorKind};
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
    /// When the current invocation's time is up (monotonic ms); no retry wait goes past it.
    deadline_ms: u64,
    /// Every secret the connection has or had: configured, acquired, made for a request.
    secrets: SecretSet,
}

impl TokenSource {
    /// Sets when the current invocation's time is up; token retries never wait past it.
    pub fn set_deadline(&mut self, deadline_ms: u64) {
        self.deadline_ms = deadline_ms;
    }

    /// A source with nothing cached yet.
    pub fn new(config: &ConnectionConfig) -> Self {
        let refresh_token = match &config.auth {
            AuthMode::RefreshToken { refresh_token, .. } => Some(refresh_token.clone()),
            _ => None,
        };
        TokenSource { cached: None, refresh_token, deadline_ms: u64::MAX, secrets: SecretSet::new(config) }
    }

    /// Every secret the connection has or had, to scrub from texts that came from outside.
    pub fn secrets(&self) -> &SecretSet {
        &self.secrets
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
        let mut scope = config.scope.clone();
        match &config.auth {
            AuthMode::ClientCredentials { client_secret } => {
                form.push(("client_secret", client_secret.clone()));
                form.push(("grant_type", "client_credentials".into()));
            }
            AuthMode::Certificate { certificate, algorithm } => {
                let now_secs = transport.wall_clock_secs();
                let assertion = certificate.assertion(
                    *algorithm,
                    &config.client_id,
                    &config.token_url,
                    now_secs,
                    &mut TransportRng(transport),
                )?;
                // Held before it is sent, so an echo of it is scrubbed like the configured secrets.
                self.secrets.hold_assertion(&assertion);
                form.push(("client_assertion_type", ASSERTION_TYPE.into()));
                form.push(("client_assertion", assertion));
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
                // Without `offline_access` Microsoft returns no new refresh token, and the one
                // configured could not be replaced before it dies; so it is added to the default
                // scope. A scope the caller set is sent as configured, as Microsoft's documented
                // refresh request does (auth code flow, "Refresh the access token").
                if !config.scope_given && !scope.split(' ').any(|s| s == "offline_access") {
                    scope.push_str(" offline_access");
                }
            }
            AuthMode::AccessToken { .. } => {
                return Err(ConnectorError::invalid_config(format!(
                    "auth `{}` cannot acquire tokens",
                    config.auth.name()
                )))
            }
        }
        form.push(("scope", scope));
        let body = form
            .iter()
            .map(|(name, value)| format!("{name}={}", encode_form_value(value)))
            .collect::<Vec<_>>()
            .join("&");
        let response = send_token_request(config, transport, body.into_bytes(), self.deadline_ms)?;
        let status = response.status();
        let parsed: Option<Value> = serde_json::from_slice(response.body()).ok();
        if status != 200 {
            return Err(token_error(status, parsed.as_ref(), &self.secrets));
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
        // Every token the connection held stays a secret: Graph may echo an old one.
        self.secrets.hold(token);
        if let Some(new_refresh) = parsed.get("refresh_token").and_then(Value::as_str) {
            self.secrets.hold(new_refresh);
            if !new_refresh.is_empty() && self.refresh_token.is_some() {
                self.refresh_token = Some(new_refresh.to_string());
            }
        }
        Ok((token.to_string(), expires_in))
    }
}

/// Sends the token request, and sends it again after 429, 503, 504 or a connection that
/// failed before delivery (asking for a token twice is harmless), waiting for `Retry-After` or
/// a jittered backoff, at most `maxRetries` times and never past the invocation's deadline.
fn send_token_request(
    config: &ConnectionConfig,
    transport: &mut dyn Transport,
    body: Vec<u8>,
    deadline_ms: u64,
) -> Result<HttpResponse> {
    let mut attempt: u32 = 0;
    let policy = RetryPolicy { max_retries: config.max_retries, deadline_ms };
    let time_left =
        |transport: &dyn Transport| (deadline_ms != u64::MAX).then(|| deadline_ms.saturating_sub(transport.now_ms()));
    let deadline_passed = |when: &str| {
        ConnectorError::new(
            ErrorCode::Transport,
            format!("token request: the invocation's deadline (`timeoutMs`) passed {when}"),
        )
    };
    loop {
        let left = time_left(transport);
        if left == Some(0) {
            return Err(deadline_passed("before it could be sent"));
        }
        let request = HttpRequest::new(http::Method::POST, &config.token_url)
            .and_then(|request| request.header("content-type", "application/x-www-form-urlencoded"))
            .and_then(|request| request.header("accept", "application/json"))
            .map_err(|_| ConnectorError::invalid_config("`tokenUrl` is not a valid URL"))?
            .body_bytes(body.clone())
            .with_timeout_ms(left);
        let wait = match transport.send(request) {
            Ok(response) if RetryPolicy::is_retryable_status(response.status()) => {
                let retry_after = retry_after_wait_ms(transport, &response);
                match policy.after_failure(transport, attempt, retry_after) {
                    Next::RetryAfter(wait) => wait,
                    // The last answer says why: the caller maps it to a typed error.
                    Next::GiveUp(_) => return Ok(response),
                }
            }
            Ok(response) => return Ok(response),
            Err(error) if time_left(transport) == Some(0) => {
                return Err(deadline_passed(&format!("while waiting for its answer ({})", error.message)))
            }
            Err(error) if error.kind == TransportErrorKind::NotDelivered => {
                match policy.after_failure(transport, attempt, None) {
                    Next::RetryAfter(wait) => wait,
                    Next::GiveUp(_) => {
                        return Err(ConnectorError::new(
                            ErrorCode::Transport,
                            format!("token endpoint unreachable: {}", error.message),
                        ))
                    }
                }
            }
            Err(error) => {
                return Err(ConnectorError::new(
                    ErrorCode::Transport,
                    format!("token endpoint unreachable: {}", error.message),
                ))
            }
        };
        transport.sleep_ms(wait);
        attempt += 1;
    }
}

/// Maps a token endpoint failure to `auth-failed` (400/401) or `upstream`, with the
/// AADSTS code and the first line of Microsoft's description, and never a secret.
fn token_error(status: u16, body: Option<&Value>, secrets: &SecretSet) -> ConnectorError {
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
    let code = match status {
        400 | 401 => ErrorCode::AuthFailed,
        429 => ErrorCode::Throttled,
        _ => ErrorCode::Upstream,
    };
    let mut result = ConnectorError::new(code, secrets.redact(&message).into_owned()).with_status(status);
    result.graph_code = aadsts;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::assertion::test_keys::*;
    use crate::graph::transport::scripted::{connected, ScriptedTransport, SentLog, SCRIPTED_EPOCH_SECS};
    use base64ct::{Base64UrlUnpadded, Encoding};
    use serde_json::json;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "535fb089-9ff3-47b6-9bfb-4f1264799865";
    const TOKEN_URL: &str = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";
    const USER: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";

    fn certificate_config() -> Value {
        json!({"auth": "certificate", "tenantId": TENANT, "clientId": CLIENT,
               "certificatePem": TEST_ONLY_CERTIFICATE_PEM, "privateKeyPem": TEST_ONLY_KEY_PKCS8_PEM})
    }

    fn refresh_config() -> Value {
        json!({"auth": "refreshToken", "tenantId": TENANT, "clientId": CLIENT, "refreshToken": "refresh-1"})
    }

    fn password_config() -> Value {
        json!({"auth": "password", "tenantId": "contoso.onmicrosoft.com", "clientId": CLIENT,
               "username": "AdeleV@contoso.onmicrosoft.com", "password": "user-password-1"})
    }

    fn token(access_token: &str, expires_in: u64) -> Value {
        json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": access_token})
    }

    fn user() -> Value {
        json!({"id": USER, "displayName": "Adele Vance"})
    }

    /// One form-encoded name or value, decoded.
    fn decode_form_text(text: &str) -> String {
        let bytes = text.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// A form body as decoded (name, value) pairs, in order.
    fn decode_form(body: &str) -> Vec<(String, String)> {
        body.split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap();
                (decode_form_text(name), decode_form_text(value))
            })
            .collect()
    }

    /// A sent token request's form as decoded (name, value) pairs, in order.
    fn form(log: &SentLog, index: usize) -> Vec<(String, String)> {
        let request = &log.borrow()[index];
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.header_value("content-type"), Some("application/x-www-form-urlencoded"));
        decode_form(std::str::from_utf8(request.body()).unwrap())
    }

    /// `text` with the hex digits of every `%XX` escape in lower case.
    fn lower_hex(text: &str) -> String {
        let mut out = String::new();
        let mut escape_left = 0;
        for c in text.chars() {
            if c == '%' {
                escape_left = 2;
                out.push(c);
            } else if escape_left > 0 {
                escape_left -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The spellings of a secret an echo may show, written here independently of the code
    /// under test: raw, form-encoded with upper- and lower-case hex and with `+` for space,
    /// and JSON-escaped.
    fn spellings(secret: &str) -> Vec<String> {
        let mut encoded = String::new();
        for byte in secret.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                encoded.push(byte as char);
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        let quoted = serde_json::to_string(secret).unwrap();
        vec![
            secret.to_string(),
            lower_hex(&encoded),
            encoded.replace("%20", "+"),
            encoded,
            quoted[1..quoted.len() - 1].to_string(),
        ]
    }

    /// A token endpoint's refusal whose description's first line echoes the whole request
    /// form: as sent, with lower-case hex, with `+` for space, and as a JSON object; then `extra`.
    fn echoing_refusal(request: &HttpRequest, extra: &str) -> HttpResponse {
        let sent = std::str::from_utf8(request.body()).unwrap();
        let fields: serde_json::Map<String, Value> =
            decode_form(sent).into_iter().map(|(name, value)| (name, Value::String(value))).collect();
        let description = format!(
            "AADSTS7000215: Invalid client secret provided. Request was: {sent} | {} | {} | {}{extra}\r\nTrace ID: t\r\nCorrelation ID: c",
            lower_hex(sent),
            sent.replace("%20", "+"),
            Value::Object(fields),
        );
        let body = json!({"error": "invalid_client", "error_description": description, "error_codes": [7000215]});
        HttpResponse::new(
            401,
            vec![("content-type".to_string(), "application/json".to_string())],
            body.to_string().into_bytes(),
        )
    }

    /// Asserts that a refused token request's error keeps Microsoft's code and the harmless
    /// part of the echo, and no spelling of any of `secrets`.
    fn assert_echo_redacted(error: &ConnectorError, secrets: &[&str]) {
        assert_eq!(error.code, ErrorCode::AuthFailed);
        assert_eq!(error.graph_code.as_deref(), Some("AADSTS7000215"));
        let expected_start = format!("AADSTS7000215: Invalid client secret provided. Request was: client_id={CLIENT}&");
        assert!(error.message.starts_with(&expected_start), "{}", error.message);
        assert!(error.message.contains("[redacted]"), "{}", error.message);
        for secret in secrets {
            for spelling in spellings(secret) {
                assert!(!error.message.contains(&spelling), "`{spelling}` survives in: {}", error.message);
            }
        }
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn run(config: Value, script: ScriptedTransport, invocations: usize) -> (Vec<Result<Value>>, SentLog) {
        let (mut connector, log) = connected(config, script);
        let results =
            (0..invocations).map(|_| connector.invoke("users.get", &json!({"userId": USER}).to_string())).collect();
        (results, log)
    }

    #[test]
    fn certificate_sends_a_signed_assertion_for_the_token_endpoint() {
        let script = ScriptedTransport::new().respond(200, token("cert-token", 3599)).respond(200, user());
        let (results, log) = run(certificate_config(), script, 1);
        assert_eq!(results[0].as_ref().unwrap()["id"], USER);
        assert_eq!(log.borrow()[0].uri(), TOKEN_URL);
        let sent = form(&log, 0);
        let assertion = sent[2].1.clone();
        assert_eq!(
            sent,
            pairs(&[
                ("client_id", CLIENT),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &assertion),
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
        );
        let parts: Vec<&str> = assertion.split('.').collect();
        let decode =
            |part: &str| -> Value { serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap() };
        assert_eq!(decode(parts[0]), json!({"alg": "PS256", "typ": "JWT", "x5t#S256": TEST_ONLY_CERTIFICATE_X5T_S256}));
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], TOKEN_URL);
        assert_eq!(claims["iss"], CLIENT);
        assert_eq!(claims["sub"], CLIENT);
        assert_eq!(claims["nbf"], SCRIPTED_EPOCH_SECS);
        assert_eq!(claims["iat"], SCRIPTED_EPOCH_SECS);
        assert_eq!(claims["exp"], SCRIPTED_EPOCH_SECS + 600);
        assert_eq!(log.borrow()[1].header_value("authorization"), Some("Bearer cert-token"));
    }

    #[test]
    fn certificate_with_rs256_uses_the_sha1_thumbprint() {
        let mut config = certificate_config();
        config["assertionAlgorithm"] = json!("RS256");
        let script = ScriptedTransport::new().respond(200, token("cert-token", 3599)).respond(200, user());
        let (_, log) = run(config, script, 1);
        let assertion = form(&log, 0)[2].1.clone();
        let header = Base64UrlUnpadded::decode_vec(assertion.split('.').next().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&header).unwrap(),
            json!({"alg": "RS256", "typ": "JWT", "x5t": TEST_ONLY_CERTIFICATE_X5T})
        );
    }

    #[test]
    fn each_certificate_token_request_gets_a_new_assertion() {
        let script = ScriptedTransport::new()
            .respond(200, token("t1", 1))
            .respond(200, user())
            .respond(200, token("t2", 1))
            .respond(200, user());
        let (_, log) = run(certificate_config(), script, 2);
        assert_ne!(form(&log, 0)[2], form(&log, 2)[2]);
    }

    #[test]
    fn an_echoed_assertion_is_redacted_from_token_errors() {
        // The assertion the scripted transport's deterministic randomness produces first.
        let config = ConnectionConfig::parse(&certificate_config().to_string()).unwrap();
        let AuthMode::Certificate { certificate, algorithm } = &config.auth else { unreachable!() };
        let mut probe = ScriptedTransport::new();
        let assertion = certificate
            .assertion(
                *algorithm,
                CLIENT,
                TOKEN_URL,
                SCRIPTED_EPOCH_SECS,
                &mut crate::graph::assertion::TransportRng(&mut probe),
            )
            .unwrap();
        let signature = assertion.rsplit('.').next().unwrap().to_string();
        let script = ScriptedTransport::new().respond(
            400,
            json!({"error": "invalid_client",
                   "error_description": format!("AADSTS700027: Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: 'X', Found key 'Start=01/01/2025', End=01/01/2027', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{CLIENT}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{CLIENT}'] Assertion {assertion} signature {signature}\r\nTrace ID: a\r\nCorrelation ID: b"),
                   "error_codes": [700027]}),
        );
        let (results, _) = run(certificate_config(), script, 1);
        let error = results[0].as_ref().unwrap_err();
        assert_eq!(error.code, ErrorCode::AuthFailed);
        assert_eq!(error.graph_code.as_deref(), Some("AADSTS700027"));
        assert!(error.message.starts_with("AADSTS700027: Client assertion failed signature validation."));
        assert!(!error.message.contains(&signature), "{}", error.message);
        assert!(error.message.contains("Assertion [redacted] signature [redacted]"), "{}", error.message);
    }

    #[test]
    fn redact_covers_the_private_key_pem_and_its_lines() {
        let config = ConnectionConfig::parse(&certificate_config().to_string()).unwrap();
        let key_line = TEST_ONLY_KEY_PKCS8_PEM.lines().nth(3).unwrap();
        let text = format!("whole: {TEST_ONLY_KEY_PKCS8_PEM} line: {key_line}");
        let redacted = SecretSet::new(&config).redact(&text);
        assert_eq!(redacted, "whole: [redacted] line: [redacted]");
    }

    #[test]
    fn a_form_echoed_by_the_token_endpoint_shows_no_client_secret() {
        let secret = "p+ss/w=rd&1 x~\"y";
        let config = json!({"tenantId": TENANT, "clientId": CLIENT, "clientSecret": secret});
        let script = ScriptedTransport::new().respond_from(|request| echoing_refusal(request, ""));
        let (results, log) = run(config, script, 1);
        assert_eq!(form(&log, 0)[1], ("client_secret".to_string(), secret.to_string()));
        let error = results[0].as_ref().unwrap_err();
        assert_echo_redacted(error, &[secret]);
        assert!(error.message.contains("&grant_type=client_credentials&"), "{}", error.message);
    }

    #[test]
    fn a_form_echoed_by_the_token_endpoint_shows_no_password() {
        let (password, secret) = ("Pa+ss&w=rd é\"q/1", "c+s/2=3&4");
        let config = json!({"auth": "password", "tenantId": TENANT, "clientId": CLIENT,
                            "username": "AdeleV@contoso.onmicrosoft.com", "password": password, "clientSecret": secret});
        let script = ScriptedTransport::new().respond_from(|request| echoing_refusal(request, ""));
        let (results, log) = run(config, script, 1);
        assert_eq!(form(&log, 0)[4], ("password".to_string(), password.to_string()));
        let error = results[0].as_ref().unwrap_err();
        assert_echo_redacted(error, &[password, secret]);
        assert!(error.message.contains("&username=AdeleV%40contoso.onmicrosoft.com&"), "{}", error.message);
    }

    #[test]
    fn a_form_echoed_by_the_token_endpoint_shows_no_refresh_token_old_or_rotated() {
        let (configured, rotated, secret) = ("0.AR8A+r/t=1&2 x", "1.AR8B+r/t=3&4 y", "c+s/2=3&4");
        let config = json!({"auth": "refreshToken", "tenantId": TENANT, "clientId": CLIENT,
                            "refreshToken": configured, "clientSecret": secret});
        let script = ScriptedTransport::new()
            .respond_from(|request| echoing_refusal(request, ""))
            .respond(200, json!({"expires_in": 3599, "access_token": "a1", "refresh_token": rotated}))
            .respond(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}))
            .respond_from(|request| echoing_refusal(request, ""));
        let (results, log) = run(config, script, 2);
        assert_echo_redacted(results[0].as_ref().unwrap_err(), &[configured, secret]);
        assert_eq!(form(&log, 3)[3], ("refresh_token".to_string(), rotated.to_string()));
        assert_echo_redacted(results[1].as_ref().unwrap_err(), &[configured, rotated, secret]);
    }

    #[test]
    fn a_form_echoed_by_the_token_endpoint_shows_no_assertion_in_any_encoding() {
        // The signature also in the standard base64 alphabet, as a server decoding and
        // re-encoding the assertion would show it.
        let script = ScriptedTransport::new().respond_from(|request| {
            let sent = decode_form(std::str::from_utf8(request.body()).unwrap());
            let signature = sent[2].1.rsplit('.').next().unwrap().to_string();
            let standard = signature.replace('-', "+").replace('_', "/");
            echoing_refusal(request, &format!(" | signature {standard}"))
        });
        let (results, log) = run(certificate_config(), script, 1);
        let assertion = form(&log, 0)[2].1.clone();
        let signature = assertion.rsplit('.').next().unwrap();
        let standard = signature.replace('-', "+").replace('_', "/");
        let error = results[0].as_ref().unwrap_err();
        assert_echo_redacted(error, &[&assertion, signature, &standard]);
        assert!(error.message.ends_with(" | signature [redacted]"), "{}", error.message);
    }

    #[test]
    fn a_form_encoded_private_key_line_is_redacted() {
        let config = ConnectionConfig::parse(&certificate_config().to_string()).unwrap();
        let key_line = TEST_ONLY_KEY_PKCS8_PEM.lines().find(|line| line.contains('+') || line.contains('/')).unwrap();
        for spelling in spellings(key_line).into_iter().chain(spellings(TEST_ONLY_KEY_PKCS8_PEM)) {
            let text = format!("privateKeyPem={spelling}&x=1");
            assert_eq!(SecretSet::new(&config).redact(&text), "privateKeyPem=[redacted]&x=1", "{spelling}");
        }
    }

    #[test]
    fn password_grant_sends_the_user_credentials_without_offline_access() {
        let script = ScriptedTransport::new().respond(200, token("user-token", 3599)).respond(200, user());
        let (_, log) = run(password_config(), script, 1);
        assert_eq!(
            log.borrow()[0].uri(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            form(&log, 0),
            pairs(&[
                ("client_id", CLIENT),
                ("grant_type", "password"),
                ("username", "AdeleV@contoso.onmicrosoft.com"),
                ("password", "user-password-1"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
        );
    }

    #[test]
    fn mfa_required_for_the_password_grant_is_auth_failed_without_the_password() {
        let script = ScriptedTransport::new().respond(
            400,
            json!({"error": "interaction_required",
                   "error_description": "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'. user-password-1\r\nTrace ID: a\r\nCorrelation ID: b\r\nTimestamp: 2026-11-25 10:00:00Z",
                   "error_codes": [50076], "suberror": "basic_action"}),
        );
        let (results, _) = run(password_config(), script, 1);
        let error = results[0].as_ref().unwrap_err();
        assert_eq!(error.code, ErrorCode::AuthFailed);
        assert_eq!(error.status, Some(400));
        assert_eq!(error.graph_code.as_deref(), Some("AADSTS50076"));
        assert!(error.message.ends_with("'00000003-0000-0000-c000-000000000000'. [redacted]"), "{}", error.message);
    }

    #[test]
    fn refresh_token_rotates_across_renewals_and_asks_for_offline_access() {
        let script = ScriptedTransport::new()
            .respond(
                200,
                json!({"token_type": "Bearer", "expires_in": 1, "access_token": "a1", "refresh_token": "refresh-2"}),
            )
            .respond(200, user())
            .respond(
                200,
                json!({"token_type": "Bearer", "expires_in": 1, "access_token": "a2", "refresh_token": "refresh-3"}),
            )
            .respond(200, user())
            .respond(200, json!({"token_type": "Bearer", "expires_in": 1, "access_token": "a3"}))
            .respond(200, user())
            .respond(200, json!({"token_type": "Bearer", "expires_in": 1, "access_token": "a4"}))
            .respond(200, user());
        let (results, log) = run(refresh_config(), script, 4);
        assert!(results.iter().all(Result::is_ok));
        // Answers without a refresh token keep the last one.
        for (index, refresh) in [(0, "refresh-1"), (2, "refresh-2"), (4, "refresh-3"), (6, "refresh-3")] {
            assert_eq!(
                form(&log, index),
                pairs(&[
                    ("client_id", CLIENT),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("scope", "https://graph.microsoft.com/.default offline_access"),
                ]),
                "token request {index}"
            );
        }
        assert_eq!(log.borrow()[7].header_value("authorization"), Some("Bearer a4"));
    }

    #[test]
    fn refresh_token_sends_a_configured_scope_unchanged() {
        let script = ScriptedTransport::new().respond(200, token("a1", 3599)).respond(200, user());
        let mut config = refresh_config();
        config["scope"] = json!("https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read");
        let (results, log) = run(config, script, 1);
        assert!(results[0].is_ok());
        assert_eq!(
            form(&log, 0),
            pairs(&[
                ("client_id", CLIENT),
                ("grant_type", "refresh_token"),
                ("refresh_token", "refresh-1"),
                ("scope", "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read"),
            ])
        );
    }

    #[test]
    fn a_401_renews_a_refresh_token_connection_with_the_rotated_token() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 3599, "access_token": "a1", "refresh_token": "refresh-2"}))
            .respond(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}))
            .respond(200, json!({"expires_in": 3599, "access_token": "a2", "refresh_token": "refresh-3"}))
            .respond(200, user());
        let (results, log) = run(refresh_config(), script, 1);
        assert!(results[0].is_ok());
        assert_eq!(form(&log, 2)[2], ("refresh_token".to_string(), "refresh-2".to_string()));
        assert_eq!(log.borrow()[3].header_value("authorization"), Some("Bearer a2"));
    }

    #[test]
    fn an_expired_refresh_token_is_auth_failed_and_never_shown() {
        let script = ScriptedTransport::new().respond(
            400,
            json!({"error": "invalid_grant",
                   "error_description": "AADSTS700082: The refresh token has expired due to inactivity. refresh-1\r\nTrace ID: a",
                   "error_codes": [700082]}),
        );
        let (results, _) = run(refresh_config(), script, 1);
        let error = results[0].as_ref().unwrap_err();
        assert_eq!(error.graph_code.as_deref(), Some("AADSTS700082"));
        assert_eq!(error.message, "AADSTS700082: The refresh token has expired due to inactivity. [redacted]");
    }

    #[test]
    fn tokens_are_renewed_five_minutes_before_they_expire() {
        let config = ConnectionConfig::parse(&password_config().to_string()).unwrap();
        let mut transport = ScriptedTransport::new().respond(200, token("t1", 3600)).respond(200, token("t2", 3600));
        let log = transport.log();
        let mut source = TokenSource::new(&config);
        assert_eq!(source.token(&config, &mut transport).unwrap(), "t1");
        transport.sleep_ms((3600 - 300) * 1000 - 1);
        assert_eq!(source.token(&config, &mut transport).unwrap(), "t1");
        assert_eq!(log.borrow().len(), 1);
        transport.sleep_ms(1);
        assert_eq!(source.token(&config, &mut transport).unwrap(), "t2");
        assert_eq!(log.borrow().len(), 2);
    }

    #[test]
    fn token_endpoint_errors_carry_the_aadsts_code_and_first_line() {
        let cases = [
            (401, "invalid_client", 7000222, "AADSTS7000222: The provided client secret keys for app '535fb089-9ff3-47b6-9bfb-4f1264799865' are expired."),
            (400, "invalid_request", 90002, "AADSTS90002: Tenant '72f988bf-86f1-41af-91ab-2d7cd011db47' not found."),
            (400, "invalid_grant", 65001, "AADSTS65001: The user or administrator has not consented to use the application with ID '535fb089-9ff3-47b6-9bfb-4f1264799865'."),
        ];
        for (status, error, code, line) in cases {
            let script = ScriptedTransport::new().respond(
                status,
                json!({"error": error, "error_description": format!("{line}\r\nTrace ID: t\r\nCorrelation ID: c"), "error_codes": [code]}),
            );
            let (results, _) = run(password_config(), script, 1);
            let result = results[0].as_ref().unwrap_err();
            assert_eq!(result.code, ErrorCode::AuthFailed);
            assert_eq!(result.status, Some(status));
            assert_eq!(result.graph_code, Some(format!("AADSTS{code}")));
            assert_eq!(result.message, line);
        }
    }

    #[test]
    fn a_token_endpoint_unavailable_after_every_retry_is_upstream() {
        let mut script = ScriptedTransport::new();
        for _ in 0..5 {
            script = script.respond(
                503,
                json!({"error": "temporarily_unavailable", "error_description": "AADSTS90033: A transient error has occurred. Please try again.\r\nTrace ID: t", "error_codes": [90033]}),
            );
        }
        let (results, _) = run(password_config(), script, 1);
        let error = results[0].as_ref().unwrap_err();
        assert_eq!((error.code, error.graph_code.as_deref()), (ErrorCode::Upstream, Some("AADSTS90033")));
    }
}
