//! The custom request: any Graph call, kept inside the connection's Graph base.
//!
//! The caller's URL is the one input here that is a URL rather than an id, so it gets
//! the strictest treatment: it must resolve below the connection's Graph root, and
//! anything that could step out of it (another host, `//` authorities, dot segments in
//! any encoding, backslashes) is refused before a request is made.

use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::config::ConnectionConfig;
use crate::graph::odata::Query;
use crate::json::input::Input;
use crate::json::schema;
use http::Method;
use serde_json::{json, Value};

/// The API versions a URL may name as its first segment.
const API_VERSIONS: &[&str] = &["v1.0", "beta"];

/// Headers a caller may set, in the spelling sent. Everything else (above all
/// `Authorization`, `Host`, `Content-Type`) stays under the connector's control.
const ALLOWED_HEADERS: &[&str] = &[
    "ConsistencyLevel",
    "Prefer",
    "If-Match",
    "If-None-Match",
    "Accept-Language",
    "client-request-id",
    "workbook-session-id",
];

/// How many rounds of percent-decoding are looked through for dot segments, so that
/// double-encoded `%252e%252e` is caught as well as `%2e%2e`.
const DECODE_ROUNDS: usize = 3;

/// The custom actions.
pub const ACTIONS: &[Action] = &[Action {
    id: "graph.request",
    title: "Send a Graph request",
    description: "Sends one request to any Graph endpoint. `url` is relative to the connection's Graph base \
                  (`/users/...` uses the connection's API version; `/v1.0/...` and `/beta/...` choose one), or an \
                  absolute URL on the connection's own Graph host (such as an `@odata.nextLink`, to read the next \
                  page); other hosts, `//` authorities, `.`/`..` segments (also percent-encoded) and backslashes are \
                  refused. `params` are appended as encoded query parameters. `headers` adds request headers (see its \
                  schema); `ConsistencyLevel: eventual` is sent for `$count=true`, `$search` and `/$count` unless \
                  `headers` sets one. Returns `{\"status\", \"body\"}` for \
                  2xx answers (`body` is null when Graph sends none); Graph error statuses are returned as typed \
                  errors (not-found, forbidden, invalid-input, ...) like every other action, after the usual \
                  token renewal and throttling retries. One request, no paging; the response must be JSON.",
    category: "custom",
    permissions: &["Depends on the request"],
    read_only: false,
    input_schema,
    output_schema: || {
        schema::object(
            json!({
                "status": {"type": "integer", "description": "HTTP status Graph answered with (2xx)"},
                "body": {"description": "The JSON body Graph returned, or null"},
            }),
            &["status", "body"],
        )
    },
    run: Handler::Value(request),
}];

fn input_schema() -> Value {
    let pairs = |description: &str| {
        json!({
            "type": "array",
            "description": description,
            "items": {"type": "object", "properties": {"key": {"type": "string"}, "value": {"type": "string"}}, "required": ["key"]},
        })
    };
    schema::object(
        json!({
            "url": schema::string("Path relative to the Graph base (`/users/{id}/calendar/events`, `/beta/...`) or an absolute URL on the connection's Graph host"),
            "httpMethod": schema::choice("HTTP method (default GET)", &["GET", "POST", "PUT", "PATCH", "DELETE"]),
            "params": pairs("Query parameters, e.g. [{\"key\": \"$top\", \"value\": \"10\"}]"),
            "body": schema::choice("Whether a JSON body is sent (default JSON when `bodyJson` is given)", &["NONE", "JSON"]),
            "bodyJson": {"type": ["object", "array", "string"], "description": "The JSON body, as JSON or as a JSON string"},
            "headers": pairs(&format!(
                "Extra request headers as [{{\"key\", \"value\"}}]; only {} may be set. `ConsistencyLevel: eventual` \
                 is added when the URL or `params` hold `$count=true` or `$search`, or the path ends in `/$count`, \
                 unless a `ConsistencyLevel` is given here",
                ALLOWED_HEADERS.join(", ")
            )),
        }),
        &["url"],
    )
}

fn request(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let mut url = resolve_url(client.config(), input.required_str("url")?)?;
    let params = read_pairs(input, "params")?;
    if !params.is_empty() {
        let mut query = Query::new();
        for (key, value) in &params {
            query.push(key, value.as_str());
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.encode());
    }
    let method = match input.optional_choice("httpMethod", &["GET", "POST", "PUT", "PATCH", "DELETE"])? {
        Some("POST") => Method::POST,
        Some("PUT") => Method::PUT,
        Some("PATCH") => Method::PATCH,
        Some("DELETE") => Method::DELETE,
        _ => Method::GET,
    };
    let body = read_body(input)?;
    if body.is_some() && (method == Method::GET || method == Method::DELETE) {
        return Err(ConnectorError::invalid_input(format!("a {method} request takes no body: set `body` to NONE")));
    }
    let mut graph_request = GraphRequest::new(method, url);
    graph_request.body = body;
    for (name, value) in read_pairs(input, "headers")? {
        graph_request.headers.push((allowed_header(&name)?, checked_header_value(&name, value)?));
    }
    // The conventions of ACTIONS.md: `$count`, `$search` and `/$count` segments are advanced
    // queries, which Graph answers only with `ConsistencyLevel: eventual`; a caller's own
    // `ConsistencyLevel` wins.
    let caller_consistency = graph_request.headers.iter().any(|(name, _)| *name == "ConsistencyLevel");
    if !caller_consistency && is_advanced_query(&graph_request.url) {
        graph_request.headers.push(("ConsistencyLevel", "eventual".into()));
    }
    let response = client.send(&graph_request)?;
    // Any endpoint may answer here, including one that echoes what it was sent.
    let mut body = response.body.unwrap_or(Value::Null);
    client.secrets().redact_value(&mut body);
    Ok(json!({"status": response.status, "body": body}))
}

/// True for a URL Graph treats as an advanced directory query: a last path segment
/// `$count`, a `$count=true` parameter, or a `$search` parameter (names compared without
/// case, percent-escapes decoded).
fn is_advanced_query(url: &str) -> bool {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let last_segment = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    if crate::graph::odata::percent_decode(last_segment) == "$count" {
        return true;
    }
    query.split('&').any(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = crate::graph::odata::percent_decode(name).to_ascii_lowercase();
        name == "$search"
            || (name == "$count" && crate::graph::odata::percent_decode(value).trim().eq_ignore_ascii_case("true"))
    })
}

/// `[{"key", "value"}]` pairs; rows with neither key nor value (blank form rows) are skipped.
/// Values may be strings, numbers or booleans.
fn read_pairs(input: &Input, field: &str) -> Result<Vec<(String, String)>> {
    let rows = match input.get(field) {
        None => return Ok(Vec::new()),
        Some(Value::Array(rows)) => rows,
        Some(_) => return Err(ConnectorError::invalid_input(format!("`{field}` must be a list of {{key, value}}"))),
    };
    let mut pairs = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let wrong = |what: &str| ConnectorError::invalid_input(format!("`{field}[{index}]` {what}"));
        let Value::Object(row) = row else {
            return Err(wrong("must be an object {key, value}"));
        };
        let key = match row.get("key") {
            None | Some(Value::Null) => "",
            Some(Value::String(key)) => key.trim(),
            Some(_) => return Err(wrong("has a `key` that is not a string")),
        };
        let value = match row.get("value") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(value)) => value.clone(),
            Some(value @ (Value::Number(_) | Value::Bool(_))) => value.to_string(),
            Some(_) => return Err(wrong("has a `value` that is not a string, number or boolean")),
        };
        match (key.is_empty(), value.is_empty()) {
            (true, true) => continue,
            (true, false) => return Err(wrong("needs a `key`")),
            _ => pairs.push((key.to_string(), value)),
        }
    }
    Ok(pairs)
}

/// The JSON body: `bodyJson` as JSON or as a JSON string, sent when `body` is JSON
/// (the default when `bodyJson` is given).
fn read_body(input: &Input) -> Result<Option<Value>> {
    let json_body = match input.get("bodyJson") {
        None => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| ConnectorError::invalid_input(format!("`bodyJson` is not valid JSON: {e}")))?,
        ),
        Some(value) => Some(value.clone()),
    };
    if json_body.as_ref().is_some_and(|body| !body.is_object() && !body.is_array()) {
        return Err(ConnectorError::invalid_input("`bodyJson` must be a JSON object or array"));
    }
    match (input.optional_choice("body", &["NONE", "JSON"])?, json_body) {
        (Some("NONE"), Some(_)) => Err(ConnectorError::invalid_input("`bodyJson` is given but `body` is NONE")),
        (Some("JSON"), None) => Err(ConnectorError::invalid_input("`bodyJson` is required when `body` is JSON")),
        (_, body) => Ok(body),
    }
}

/// The canonical spelling of an allowed header, or an error naming it.
fn allowed_header(name: &str) -> Result<&'static str> {
    ALLOWED_HEADERS.iter().find(|allowed| allowed.eq_ignore_ascii_case(name)).copied().ok_or_else(|| {
        ConnectorError::invalid_input(format!(
            "header `{name}` cannot be set; `headers` may only hold {}",
            ALLOWED_HEADERS.join(", ")
        ))
    })
}

/// A header value of visible ASCII and spaces (no line breaks that could add headers).
fn checked_header_value(name: &str, value: String) -> Result<String> {
    if value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        Ok(value)
    } else {
        Err(ConnectorError::invalid_input(format!("header `{name}` has characters a header value cannot hold")))
    }
}

/// The Graph root split into what a URL must match: `scheme`, `authority`, and the
/// path prefix (empty unless `graphBaseUrl` points below a proxy path).
struct GraphRoot {
    scheme: String,
    authority: String,
    path: String,
}

impl GraphRoot {
    fn of(config: &ConnectionConfig) -> Result<GraphRoot> {
        let uri: http::Uri = config.graph_root.parse().map_err(|_| {
            ConnectorError::new(ErrorCode::Internal, format!("the Graph root `{}` is not a URL", config.graph_root))
        })?;
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => Ok(GraphRoot {
                scheme: scheme.to_ascii_lowercase(),
                authority: authority.as_str().to_ascii_lowercase(),
                path: uri.path().trim_end_matches('/').to_string(),
            }),
            _ => Err(ConnectorError::new(ErrorCode::Internal, "the Graph root has no scheme or host")),
        }
    }

    fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

fn refused(why: &str) -> ConnectorError {
    ConnectorError::invalid_input(format!("`url` {why}"))
}

/// Resolves the caller's URL to an absolute URL below the connection's Graph root,
/// with the API version as its first segment; everything that could leave that base
/// is refused.
fn resolve_url(config: &ConnectionConfig, url: &str) -> Result<String> {
    let url = url.trim();
    if url.contains('\\') {
        return Err(refused("must not contain a backslash"));
    }
    if url.chars().any(char::is_control) {
        return Err(refused("must not contain control characters"));
    }
    if url.contains('#') {
        return Err(refused("must not contain `#` (encode it as %23 inside an id)"));
    }
    let root = GraphRoot::of(config)?;
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let path = match split_scheme(path) {
        Some((scheme, rest)) => path_on_graph_host(&root, scheme, rest)?,
        None if path.starts_with("//") => return Err(refused("must not start with `//` (another host)")),
        None => {
            let relative = format!("/{}", path.trim_start_matches('/'));
            if API_VERSIONS.contains(&first_segment(&relative)) {
                relative
            } else {
                format!("/{}{relative}", config.api_version)
            }
        }
    };
    let mut resolved = format!("{}{}{}", root.origin(), root.path, normalize_path(&path)?);
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        resolved.push('?');
        resolved.push_str(&normalize_query(query)?);
    }
    check_below_root(&root, &resolved)?;
    Ok(resolved)
}

/// `(scheme, rest)` when the text starts with a URI scheme (`https:`, `file:`, ...).
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_is_letter && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some((scheme, rest))
}

/// The path of an absolute URL, which must be on the Graph host, below the root path,
/// and name the API version.
fn path_on_graph_host(root: &GraphRoot, scheme: &str, rest: &str) -> Result<String> {
    let other_host = || refused(&format!("may only be absolute on the connection's Graph host {}", root.origin()));
    let Some(after_slashes) = rest.strip_prefix("//") else {
        return Err(other_host());
    };
    let (authority, path) = match after_slashes.find('/') {
        Some(slash) => after_slashes.split_at(slash),
        None => (after_slashes, ""),
    };
    if !scheme.eq_ignore_ascii_case(&root.scheme) || !authority.eq_ignore_ascii_case(&root.authority) {
        return Err(other_host());
    }
    let below_root = path
        .strip_prefix(root.path.as_str())
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| refused(&format!("must stay below {}{}", root.origin(), root.path)))?;
    if !API_VERSIONS.contains(&first_segment(below_root)) {
        return Err(refused("must name the API version (`/v1.0/...` or `/beta/...`) when it is absolute"));
    }
    Ok(below_root.to_string())
}

/// The first segment of a path that starts with `/`.
fn first_segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

/// Checks each segment of a path (which starts with `/`) and percent-encodes the
/// characters a URL path cannot carry raw (spaces, quotes, non-ASCII).
fn normalize_path(path: &str) -> Result<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut normalized = String::with_capacity(path.len());
    for (index, segment) in segments.iter().enumerate() {
        if segment.is_empty() && index != last {
            return Err(refused("must not contain an empty path segment (`//`)"));
        }
        check_escapes(segment)?;
        if is_dot_segment(segment)? {
            return Err(refused("must not contain `.` or `..` path segments, plain or percent-encoded"));
        }
        normalized.push('/');
        normalized.push_str(&encode_raw(segment, |c| matches!(c, b':' | b'@')));
    }
    Ok(normalized)
}

/// The query as given, with raw characters a URL cannot carry percent-encoded.
fn normalize_query(query: &str) -> Result<String> {
    check_escapes(query)?;
    Ok(encode_raw(query, |c| matches!(c, b':' | b'@' | b'/' | b'?')))
}

/// Every `%` starts a two-digit hex escape.
fn check_escapes(text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    for (index, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b'%') {
        let hex = bytes.get(index + 1..index + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return Err(refused("has a `%` that does not start a percent-escape (write `%25` for a percent sign)"));
        }
    }
    Ok(())
}

/// True when the segment is, or decodes (in up to [`DECODE_ROUNDS`] rounds) to
/// something containing, a `.`/`..` step; `;` parameters and encoded slashes or
/// backslashes do not hide one. A segment that decodes to a backslash or a control
/// character is refused outright.
fn is_dot_segment(segment: &str) -> Result<bool> {
    let mut current = segment.to_string();
    for _ in 0..=DECODE_ROUNDS {
        if current.contains('\\') {
            return Err(refused("must not contain a backslash, plain or percent-encoded"));
        }
        if current.chars().any(char::is_control) {
            return Err(refused("must not contain control characters, plain or percent-encoded"));
        }
        if current.split(['/', ';']).any(|piece| piece == "." || piece == "..") {
            return Ok(true);
        }
        let decoded = crate::graph::odata::percent_decode(&current);
        if decoded == current {
            break;
        }
        current = decoded;
    }
    Ok(false)
}

/// Percent-encodes every byte that is not unreserved, a sub-delimiter, `%` (escapes are
/// checked before) or one of the extra characters the URL part allows.
fn encode_raw(text: &str, extra: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'%')
            || matches!(byte, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
            || extra(byte);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Defence in depth: the resolved URL parses, and its origin and path prefix are the root's.
fn check_below_root(root: &GraphRoot, resolved: &str) -> Result<()> {
    let uri: http::Uri = resolved.parse().map_err(|_| refused("does not make a valid URL"))?;
    let same_origin = uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case(&root.scheme))
        && uri.authority().is_some_and(|a| a.as_str().eq_ignore_ascii_case(&root.authority));
    let below = uri.path().strip_prefix(root.path.as_str()).is_some_and(|p| p.starts_with('/'));
    if same_origin && below {
        Ok(())
    } else {
        Err(refused(&format!("must stay below {}{}", root.origin(), root.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};

    fn global() -> ConnectionConfig {
        ConnectionConfig::parse(&token_config().to_string()).unwrap()
    }

    fn resolve(url: &str) -> Result<String> {
        resolve_url(&global(), url)
    }

    fn assert_refused(url: &str) {
        let error = resolve(url).expect_err(url);
        assert_eq!(error.code, ErrorCode::InvalidInput, "{url}");
        assert!(error.message.starts_with("`url`"), "{url}: {}", error.message);
    }

    #[test]
    fn relative_urls_get_the_connection_version_unless_they_name_one() {
        assert_eq!(
            resolve("/users/a/calendar/events").unwrap(),
            "https://graph.microsoft.com/v1.0/users/a/calendar/events"
        );
        assert_eq!(resolve("users/a").unwrap(), "https://graph.microsoft.com/v1.0/users/a");
        assert_eq!(resolve("/v1.0/me").unwrap(), "https://graph.microsoft.com/v1.0/me");
        assert_eq!(resolve("/beta/me").unwrap(), "https://graph.microsoft.com/beta/me");
        assert_eq!(resolve("/v1.0").unwrap(), "https://graph.microsoft.com/v1.0");
        let beta = ConnectionConfig::parse(r#"{"auth":"accessToken","accessToken":"t","apiVersion":"beta"}"#).unwrap();
        assert_eq!(resolve_url(&beta, "/me").unwrap(), "https://graph.microsoft.com/beta/me");
    }

    #[test]
    fn absolute_urls_on_the_graph_host_are_kept_with_their_query() {
        let next = "https://graph.microsoft.com/v1.0/users?$top=5&$skiptoken=RFNwdAIAAQAAAD8%3d";
        assert_eq!(resolve(next).unwrap(), next);
        assert_eq!(resolve("HTTPS://Graph.Microsoft.com/beta/me").unwrap(), "https://graph.microsoft.com/beta/me");
    }

    #[test]
    fn absolute_urls_without_a_version_are_refused() {
        assert_refused("https://graph.microsoft.com/users");
        assert_refused("https://graph.microsoft.com");
    }

    #[test]
    fn other_hosts_and_schemes_are_refused() {
        for url in [
            "https://evil.example/v1.0/users",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com.evil.example/v1.0/users",
            "https://graph.microsoft.com@evil.example/v1.0/users",
            "https://evil.example@graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:443/v1.0/users",
            "https://graph.microsoft.com%2eevil.example/v1.0/users",
            "https:graph.microsoft.com/v1.0/users",
            "https:/graph.microsoft.com/v1.0/users",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "mailto:someone@contoso.com",
            "ftp://graph.microsoft.com/v1.0/users",
        ] {
            assert_refused(url);
        }
    }

    #[test]
    fn authority_tricks_are_refused() {
        for url in [
            "//evil.example/v1.0/users",
            "///evil.example/v1.0/users",
            "\\\\evil.example\\v1.0",
            "/\\evil.example/v1.0",
            "/users\\..\\..\\evil",
            "https://evil.example#@graph.microsoft.com/v1.0/me",
            "/users#@evil.example",
            "/users/a//b",
        ] {
            assert_refused(url);
        }
    }

    #[test]
    fn dot_segments_are_refused_in_every_encoding() {
        for url in [
            "/users/../../evil",
            "/../beta/me",
            "/v1.0/../beta/me",
            "/users/./me",
            "/users/.",
            "/users/..",
            "/users/%2e%2e/x",
            "/users/%2E%2E/x",
            "/users/.%2e/x",
            "/users/%2e./x",
            "/users/%2e",
            "/users/%252e%252e/x",
            "/users/%25252e%25252e/x",
            "/users/..%2f..%2fx",
            "/users/..%2F..%2Fx",
            "/users/a%2f..%2fb",
            "/users/..;/x",
            "/users/..%3b/x",
            "/users/%5c..%5cx",
            "/users/a%00b",
            "https://graph.microsoft.com/v1.0/../evil",
            "https://graph.microsoft.com/v1.0/%2e%2e/evil",
        ] {
            assert_refused(url);
        }
    }

    #[test]
    fn malformed_escapes_and_control_characters_are_refused() {
        assert_refused("/users/%zz");
        assert_refused("/users/50%");
        assert_refused("/users?$filter=a%2");
        assert_refused("/users/a\nHost: evil");
        assert_refused("/users/a\tb");
    }

    #[test]
    fn dots_inside_names_and_encoded_ids_are_fine() {
        assert_eq!(
            resolve("/users/AdeleV_adatum.com%23EXT%23@contoso.com").unwrap(),
            "https://graph.microsoft.com/v1.0/users/AdeleV_adatum.com%23EXT%23@contoso.com"
        );
        assert_eq!(resolve("/users/a..b/x.y").unwrap(), "https://graph.microsoft.com/v1.0/users/a..b/x.y");
        assert_eq!(
            resolve("/sites/contoso.sharepoint.com,1,2/drive/root:/My Docs/é.xlsx:/content").unwrap(),
            "https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com,1,2/drive/root:/My%20Docs/%C3%A9.xlsx:/content"
        );
        assert_eq!(
            resolve("/users('$x@contoso.com')").unwrap(),
            "https://graph.microsoft.com/v1.0/users('$x@contoso.com')"
        );
        assert_eq!(resolve("/users/").unwrap(), "https://graph.microsoft.com/v1.0/users/");
    }

    #[test]
    fn raw_query_characters_are_encoded() {
        assert_eq!(
            resolve("/users?$filter=startswith(displayName,'a b')&$select=id").unwrap(),
            "https://graph.microsoft.com/v1.0/users?$filter=startswith(displayName,'a%20b')&$select=id"
        );
        assert_eq!(resolve("/users?").unwrap(), "https://graph.microsoft.com/v1.0/users");
    }

    #[test]
    fn a_graph_root_below_a_proxy_path_is_kept() {
        let proxy = ConnectionConfig::parse(
            r#"{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:8080/graph/v1.0"}"#,
        )
        .unwrap();
        assert_eq!(resolve_url(&proxy, "/me").unwrap(), "http://127.0.0.1:8080/graph/v1.0/me");
        assert_eq!(
            resolve_url(&proxy, "http://127.0.0.1:8080/graph/beta/me").unwrap(),
            "http://127.0.0.1:8080/graph/beta/me"
        );
        assert!(resolve_url(&proxy, "http://127.0.0.1:8080/other/v1.0/me").is_err());
        assert!(resolve_url(&proxy, "http://127.0.0.1:8080/graphx/v1.0/me").is_err());
        assert!(resolve_url(&proxy, "http://127.0.0.1:8081/graph/v1.0/me").is_err());
    }

    #[test]
    fn the_sample_sends_a_get_with_encoded_params() {
        let script = ScriptedTransport::new().respond(200, json!({"value": [{"subject": "Standup"}]}));
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"url": "/users/12345678-abcd-efgh-ijkl-mnopqrstuvwx/calendar/events", "httpMethod": "GET",
                           "params": [{"key": "$top", "value": "10"}, {"key": "$select", "value": "subject,start,end"}]});
        let output = connector.invoke("graph.request", &input.to_string()).unwrap();
        assert_eq!(output, json!({"status": 200, "body": {"value": [{"subject": "Standup"}]}}));
        let sent = log.borrow();
        assert_eq!(sent[0].method(), "GET");
        assert_eq!(
            sent[0].uri(),
            "https://graph.microsoft.com/v1.0/users/12345678-abcd-efgh-ijkl-mnopqrstuvwx/calendar/events?$top=10&$select=subject,start,end"
        );
        assert_eq!(sent[0].header_value("authorization"), Some("Bearer test-token"));
        assert!(sent[0].body().is_empty());
    }

    /// The `ConsistencyLevel` headers `graph.request` sends for one input.
    fn consistency_sent(input: Value) -> Vec<String> {
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (mut connector, log) = connected(token_config(), script);
        connector.invoke("graph.request", &input.to_string()).unwrap();
        let sent = log.borrow();
        assert_eq!(sent.len(), 1);
        sent[0]
            .headers()
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("consistencylevel"))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
            .collect()
    }

    #[test]
    fn count_search_and_count_segments_send_consistency_level_eventual() {
        for input in [
            json!({"url": "/users", "params": [{"key": "$count", "value": "true"}, {"key": "$top", "value": "5"}]}),
            json!({"url": "/users?$count=true&$filter=endsWith(mail,'@contoso.com')"}),
            json!({"url": "/users?%24count=true"}),
            json!({"url": "/users", "params": [{"key": "$search", "value": "\"displayName:wa\""}]}),
            json!({"url": "/groups?$search=\"displayName:wa\""}),
            json!({"url": "/users/$count"}),
            json!({"url": "https://graph.microsoft.com/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/members/$count"}),
        ] {
            assert_eq!(consistency_sent(input.clone()), ["eventual"], "{input}");
        }
    }

    #[test]
    fn a_caller_consistency_level_wins_and_plain_requests_send_none() {
        let input = json!({"url": "/users/$count", "headers": [{"key": "consistencyLevel", "value": "session"}]});
        assert_eq!(consistency_sent(input), ["session"]);
        for input in [
            json!({"url": "/users", "params": [{"key": "$top", "value": "5"}]}),
            json!({"url": "/users?$count=false"}),
            json!({"url": "/users/$countries"}),
            json!({"url": "/users", "params": [{"key": "filter", "value": "$count"}]}),
        ] {
            assert!(consistency_sent(input.clone()).is_empty(), "{input}");
        }
    }

    #[test]
    fn params_are_encoded_and_appended_to_an_existing_query() {
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"url": "/users?$count=true",
                           "params": [{"key": "$filter", "value": "displayName eq 'A&B'"}, {"key": "", "value": ""}, {"key": "$top", "value": 5}],
                           "headers": [{"key": "consistencylevel", "value": "eventual"}]});
        connector.invoke("graph.request", &input.to_string()).unwrap();
        let sent = log.borrow();
        assert_eq!(
            sent[0].uri(),
            "https://graph.microsoft.com/v1.0/users?$count=true&$filter=displayName%20eq%20'A%26B'&$top=5"
        );
        assert_eq!(sent[0].header_value("consistencylevel"), Some("eventual"));
    }

    #[test]
    fn a_json_body_is_sent_from_an_object_or_a_string() {
        let script = ScriptedTransport::new().respond(201, json!({"id": "g"})).respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let input =
            json!({"url": "/groups", "httpMethod": "post", "body": "JSON", "bodyJson": "{\"displayName\": \"G\"}"});
        let output = connector.invoke("graph.request", &input.to_string()).unwrap();
        assert_eq!(output, json!({"status": 201, "body": {"id": "g"}}));
        let input = json!({"url": "/groups/g", "httpMethod": "PATCH", "bodyJson": {"description": "d"}});
        let output = connector.invoke("graph.request", &input.to_string()).unwrap();
        assert_eq!(output, json!({"status": 204, "body": null}));
        let sent = log.borrow();
        assert_eq!(sent[0].method(), "POST");
        assert_eq!(sent[0].header_value("content-type"), Some("application/json"));
        assert_eq!(body_json(&sent[0]), json!({"displayName": "G"}));
        assert_eq!(sent[1].method(), "PATCH");
        assert_eq!(body_json(&sent[1]), json!({"description": "d"}));
    }

    #[test]
    fn graph_errors_come_back_typed() {
        let script = ScriptedTransport::new().respond(
            404,
            json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist.",
                             "innerError": {"request-id": "r-1", "date": "2024-01-01T00:00:00"}}}),
        );
        let (mut connector, _) = connected(token_config(), script);
        let error = connector.invoke("graph.request", r#"{"url": "/users/x"}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::NotFound);
        assert_eq!(error.status, Some(404));
        assert_eq!(error.graph_code.as_deref(), Some("Request_ResourceNotFound"));
        assert_eq!(error.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn unsafe_headers_and_inconsistent_bodies_are_refused_before_any_request() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        for (input, message) in [
            (
                json!({"url": "/me", "headers": [{"key": "Authorization", "value": "Bearer other"}]}),
                "header `Authorization` cannot be set",
            ),
            (
                json!({"url": "/me", "headers": [{"key": "Host", "value": "evil.example"}]}),
                "header `Host` cannot be set",
            ),
            (
                json!({"url": "/me", "headers": [{"key": "Prefer", "value": "a\r\nAuthorization: x"}]}),
                "header `Prefer` has characters",
            ),
            (json!({"url": "/me", "body": "JSON"}), "`bodyJson` is required when `body` is JSON"),
            (json!({"url": "/me", "body": "NONE", "bodyJson": {"a": 1}}), "`bodyJson` is given but `body` is NONE"),
            (json!({"url": "/me", "bodyJson": "{not json"}), "`bodyJson` is not valid JSON"),
            (json!({"url": "/me", "bodyJson": 5}), "`bodyJson` must be a JSON object or array"),
            (json!({"url": "/me", "bodyJson": {"a": 1}}), "a GET request takes no body"),
            (json!({"url": "/me", "httpMethod": "TRACE"}), "`httpMethod` must be one of"),
            (json!({"url": "/me", "params": {"$top": "1"}}), "`params` must be a list"),
            (json!({"url": "/me", "params": [{"value": "1"}]}), "`params[0]` needs a `key`"),
            (json!({"url": "https://evil.example/v1.0/me"}), "`url` may only be absolute"),
            (json!({}), "`url` is required"),
        ] {
            let error = connector.invoke("graph.request", &input.to_string()).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput, "{input}");
            assert!(error.message.starts_with(message), "{input}: {}", error.message);
        }
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn the_connections_secrets_are_redacted_from_a_successful_answer() {
        let password = "Pa+ss&w=rd é\"q";
        let config = json!({"auth": "password", "tenantId": "contoso.onmicrosoft.com", "clientId": "app-id",
                            "username": "u@contoso.com", "password": password, "clientSecret": "c+s/2=3&4"});
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 3599, "access_token": "eyJ0.acquired.token"}))
            .respond(200, json!({
                "echo": format!("password={password}!"),
                "form": "grant_type=password&password=Pa%2Bss%26w%3Drd%20%C3%A9%22q&client_secret=c%2Bs%2F2%3D3%264",
                "json": format!("{{\"password\":{}}}", Value::String(password.into())),
                "headers": [{"name": "Authorization", "value": "Bearer eyJ0.acquired.token"}],
                "eyJ0.acquired.token": 1,
                "displayName": "Adele Vance",
            }));
        let (mut connector, _) = connected(config, script);
        let output = connector.invoke("graph.request", r#"{"url": "/me"}"#).unwrap();
        assert_eq!(
            output,
            json!({"status": 200, "body": {
                "echo": "password=[redacted]!",
                "form": "grant_type=password&password=[redacted]&client_secret=[redacted]",
                "json": "{\"password\":\"[redacted]\"}",
                "headers": [{"name": "Authorization", "value": "Bearer [redacted]"}],
                "[redacted]": 1,
                "displayName": "Adele Vance",
            }})
        );
    }

    #[test]
    fn a_password_graph_echoes_in_an_error_is_redacted_in_every_spelling() {
        let config = json!({"auth": "password", "tenantId": "contoso.onmicrosoft.com", "clientId": "app-id",
                            "username": "u@contoso.com", "password": "Pa+ss&w=rd é\"q"});
        let script = ScriptedTransport::new()
            .respond(200, json!({"expires_in": 3599, "access_token": "eyJ0.acquired.token"}))
            .respond(400, json!({"error": {"code": "Request_BadRequest",
                "message": "Invalid value in {\"passwordProfile\":{\"password\":\"Pa+ss&w=rd \\u00e9\\\"q\"}} or password=Pa%2bss%26w%3drd+%c3%a9%22q"}}));
        let (mut connector, _) = connected(config, script);
        let input = json!({"url": "/users", "httpMethod": "POST", "bodyJson": {"displayName": "x"}});
        let error = connector.invoke("graph.request", &input.to_string()).unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::InvalidInput, Some(400)));
        assert_eq!(
            error.message,
            "Invalid value in {\"passwordProfile\":{\"password\":\"[redacted]\"}} or password=[redacted]"
        );
    }
}
