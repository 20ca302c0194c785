//! How a request the component sends, and a result it returns, are compared with a
//! fixture. Every function returns the list of differences, each a readable sentence
//! naming where it is (`query`, `header authorization`, `body $.displayName`); an empty
//! list means a match.

use crate::replay::fixture::{BodyMatch, ExpectedRequest};
use crate::sandbox::http_policy::split_host_port;
use serde_json::{Map, Value};

/// The longest JSON text quoted in a difference before it is shortened.
const QUOTE_LIMIT: usize = 200;

/// A request as the component sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActualRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Every header, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes (empty when there was none).
    pub body: Vec<u8>,
}

impl ActualRequest {
    /// The values of a header, by case-insensitive name.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A URL taken apart the way fixtures compare URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// Lower-cased scheme.
    pub scheme: String,
    /// Lower-cased host name (IPv6 addresses keep their brackets).
    pub host: String,
    /// The port, when the URL names one other than the scheme's default.
    pub port: Option<u16>,
    /// The percent-decoded path (`/` when empty).
    pub path: String,
    /// Decoded query parameters, sorted, so they compare as a multiset.
    pub query: Vec<(String, String)>,
}

/// Splits an absolute URL into the parts fixtures compare. Lenient about characters a
/// strict URI parser refuses (fixtures are written by hand, `$filter=a eq 'b'`).
pub fn parse_url(url: &str) -> Result<UrlParts, String> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("`{url}` is not an absolute URL (scheme://host/path)"))?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return Err(format!("`{url}` has no valid scheme"));
    }
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = split_host_port(authority).map_err(|problem| format!("`{url}`: {problem}"))?;
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let path = if path.is_empty() { "/" } else { path };
    let mut query = parse_form(query);
    query.sort();
    Ok(UrlParts {
        scheme,
        host: host.to_ascii_lowercase(),
        port: port.filter(|port| Some(*port) != default_port),
        path: percent_decode(path, false),
        query,
    })
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_as_space`, as in queries and
/// form bodies). Malformed escapes are kept as written; invalid UTF-8 is replaced.
pub fn percent_decode(text: &str, plus_as_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok().and_then(|pair| u8::from_str_radix(pair, 16).ok()));
                match hex {
                    Some(byte) => {
                        decoded.push(byte);
                        index += 3;
                    }
                    None => {
                        decoded.push(b'%');
                        index += 1;
                    }
                }
            }
            b'+' if plus_as_space => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Parses `a=1&b=two%20words` into decoded pairs, in order (`+` is a space).
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

/// Differences between the request a fixture expects and the one the component sent.
pub fn request_differences(expected: &ExpectedRequest, actual: &ActualRequest) -> Vec<String> {
    let mut differences = Vec::new();
    if !expected.method.eq_ignore_ascii_case(&actual.method) {
        differences.push(format!("method: expected {}, found {}", expected.method, actual.method));
    }
    differences.extend(url_differences(&expected.url, &actual.url));
    for (name, value) in &expected.headers {
        let found: Vec<&str> = actual.header_values(name).collect();
        if found.is_empty() {
            differences.push(format!("header {name}: missing (expected {value:?})"));
        } else if !found.iter().any(|candidate| candidate == value) {
            differences.push(format!("header {name}: expected {value:?}, found {:?}", found.join(", ")));
        }
    }
    if let Some(body) = &expected.body {
        let content_type = actual.header_values("content-type").next();
        differences.extend(body_differences(body, expected.body_match, &actual.body, content_type));
    }
    differences
}

/// Differences between two URLs: scheme, host, port and decoded path equal; query
/// parameters equal as a multiset of decoded pairs.
pub fn url_differences(expected: &str, actual: &str) -> Vec<String> {
    let (expected, actual) = match (parse_url(expected), parse_url(actual)) {
        (Ok(expected), Ok(actual)) => (expected, actual),
        (Err(problem), _) | (_, Err(problem)) => return vec![format!("url: {problem}")],
    };
    let mut differences = Vec::new();
    let show_port = |port: Option<u16>| port.map(|port| format!(":{port}")).unwrap_or_default();
    if expected.scheme != actual.scheme {
        differences.push(format!("url scheme: expected {}, found {}", expected.scheme, actual.scheme));
    }
    if expected.host != actual.host || expected.port != actual.port {
        differences.push(format!(
            "url host: expected {}{}, found {}{}",
            expected.host,
            show_port(expected.port),
            actual.host,
            show_port(actual.port)
        ));
    }
    if expected.path != actual.path {
        differences.push(format!("url path: expected {}, found {}", expected.path, actual.path));
    }
    if expected.query != actual.query {
        let missing = multiset_minus(&expected.query, &actual.query);
        let unexpected = multiset_minus(&actual.query, &expected.query);
        let show = |pairs: &[&(String, String)]| {
            pairs.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(" & ")
        };
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing {}", show(&missing)));
        }
        if !unexpected.is_empty() {
            parts.push(format!("unexpected {}", show(&unexpected)));
        }
        differences.push(format!("url query: {}", parts.join("; ")));
    }
    differences
}

/// Members of `left` not matched one-for-one by members of `right` (both sorted).
fn multiset_minus<'a>(left: &'a [(String, String)], right: &[(String, String)]) -> Vec<&'a (String, String)> {
    let mut remaining: Vec<&(String, String)> = right.iter().collect();
    left.iter()
        .filter(|pair| match remaining.iter().position(|other| other == pair) {
            Some(position) => {
                remaining.remove(position);
                false
            }
            None => true,
        })
        .collect()
}

/// Differences between an expected body and the bytes sent. Form-encoded bodies (by
/// `content-type`) compare as maps of decoded keys to values; others as JSON, or as text
/// when the fixture gives a string and the body is not JSON.
pub fn body_differences(expected: &Value, mode: BodyMatch, actual: &[u8], content_type: Option<&str>) -> Vec<String> {
    let text = String::from_utf8_lossy(actual);
    if expected.is_null() {
        return if actual.is_empty() {
            Vec::new()
        } else {
            vec![format!("body: expected none, found {}", quote_text(&text))]
        };
    }
    let is_form = content_type.is_some_and(|content_type| {
        content_type.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
    });
    if is_form {
        let expected = match expected {
            Value::String(text) => form_to_json(&parse_form(text)),
            Value::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(key, value)| {
                        let value = match value {
                            Value::String(_) => value.clone(),
                            other => Value::String(other.to_string()),
                        };
                        (key.clone(), value)
                    })
                    .collect(),
            ),
            other => {
                return vec![format!(
                    "body: the fixture gives {} for a form-encoded body; use an object or a string",
                    quote(other)
                )];
            }
        };
        return json_differences_at("body", &expected, &form_to_json(&parse_form(&text)), mode);
    }
    if let Value::String(expected_text) = expected {
        if *expected_text == text {
            return Vec::new();
        }
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(actual) => {
            let expected = match expected {
                Value::String(expected_text) => {
                    serde_json::from_str(expected_text).unwrap_or_else(|_| expected.clone())
                }
                _ => expected.clone(),
            };
            json_differences_at("body", &expected, &actual, mode)
        }
        Err(_) => vec![format!(
            "body: expected {}, found {}",
            quote(expected),
            if actual.is_empty() { "no body".to_string() } else { quote_text(&text) }
        )],
    }
}

fn form_to_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs.iter().map(|(key, value)| (key.clone(), Value::String(value.clone()))).collect::<Map<String, Value>>(),
    )
}

/// Differences between an expected and an actual JSON value, with `$`-rooted paths.
/// `Subset` allows members the fixture does not list; arrays always match element by
/// element with the same length.
pub fn json_differences(expected: &Value, actual: &Value, mode: BodyMatch) -> Vec<String> {
    let mut differences = Vec::new();
    compare(expected, actual, mode, "$", &mut differences);
    differences
}

fn json_differences_at(label: &str, expected: &Value, actual: &Value, mode: BodyMatch) -> Vec<String> {
    json_differences(expected, actual, mode).into_iter().map(|difference| format!("{label} {difference}")).collect()
}

fn compare(expected: &Value, actual: &Value, mode: BodyMatch, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(expected_members), Value::Object(actual_members)) => {
            for (key, expected_value) in expected_members {
                let member_path = member_path(path, key);
                match actual_members.get(key) {
                    Some(actual_value) => compare(expected_value, actual_value, mode, &member_path, out),
                    None => out.push(format!("{member_path}: missing (expected {})", quote(expected_value))),
                }
            }
            if mode == BodyMatch::Exact {
                for (key, actual_value) in actual_members {
                    if !expected_members.contains_key(key) {
                        out.push(format!("{}: unexpected member {}", member_path(path, key), quote(actual_value)));
                    }
                }
            }
        }
        (Value::Array(expected_items), Value::Array(actual_items)) => {
            if expected_items.len() != actual_items.len() {
                out.push(format!(
                    "{path}: expected {} elements, found {}: {}",
                    expected_items.len(),
                    actual_items.len(),
                    quote(actual)
                ));
                return;
            }
            for (index, (expected_item, actual_item)) in expected_items.iter().zip(actual_items).enumerate() {
                compare(expected_item, actual_item, mode, &format!("{path}[{index}]"), out);
            }
        }
        (Value::Number(expected_number), Value::Number(actual_number))
            if expected_number.as_f64() == actual_number.as_f64() => {}
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {}, found {}", quote(expected), quote(actual))),
    }
}

fn member_path(path: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '.') && !key.is_empty() {
        format!("{path}.{key}")
    } else {
        format!("{path}[{key:?}]")
    }
}

/// Compact JSON text of a value, shortened past [`QUOTE_LIMIT`] characters.
pub fn quote(value: &Value) -> String {
    quote_text(&value.to_string())
}

/// A text, shortened past [`QUOTE_LIMIT`] characters.
pub(crate) fn quote_text(text: &str) -> String {
    if text.chars().count() <= QUOTE_LIMIT {
        text.to_string()
    } else {
        let shortened: String = text.chars().take(QUOTE_LIMIT).collect();
        format!("{shortened}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(method: &str, url: &str) -> ExpectedRequest {
        ExpectedRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            body_match: BodyMatch::Exact,
        }
    }

    fn actual(method: &str, url: &str) -> ActualRequest {
        ActualRequest { method: method.to_string(), url: url.to_string(), ..Default::default() }
    }

    #[test]
    fn query_parameters_compare_as_a_multiset_in_any_order() {
        let expected = "https://graph.microsoft.com/v1.0/users?$top=5&$select=id,mail&$select=id,mail";
        let reordered = "https://graph.microsoft.com/v1.0/users?$select=id,mail&$top=5&$select=id,mail";
        assert!(url_differences(expected, reordered).is_empty());
        let once = "https://graph.microsoft.com/v1.0/users?$select=id,mail&$top=5";
        let differences = url_differences(expected, once);
        assert_eq!(differences, vec!["url query: missing $select=id,mail"]);
        let other = "https://graph.microsoft.com/v1.0/users?$top=6&$select=id,mail&$select=id,mail";
        assert_eq!(url_differences(expected, other), vec!["url query: missing $top=5; unexpected $top=6"]);
    }

    #[test]
    fn urls_compare_after_percent_decoding() {
        assert!(url_differences(
            "https://graph.microsoft.com/v1.0/users?$filter=startswith(displayName,'Meg')",
            "https://graph.microsoft.com/v1.0/users?%24filter=startswith%28displayName%2C%27Meg%27%29",
        )
        .is_empty());
        assert!(url_differences(
            "https://graph.microsoft.com/v1.0/users/megan@contoso.com",
            "https://graph.microsoft.com/v1.0/users/megan%40contoso.com",
        )
        .is_empty());
        assert!(url_differences(
            "https://graph.microsoft.com/v1.0/users?$filter=mail eq 'a'",
            "https://graph.microsoft.com/v1.0/users?$filter=mail%20eq%20%27a%27",
        )
        .is_empty());
        assert!(url_differences(
            "https://graph.microsoft.com/v1.0/users?$search=\"a b\"",
            "https://graph.microsoft.com/v1.0/users?$search=%22a+b%22",
        )
        .is_empty());
    }

    #[test]
    fn scheme_host_and_default_ports_normalise() {
        assert!(url_differences("HTTPS://Graph.Microsoft.com:443/v1.0/me", "https://graph.microsoft.com/v1.0/me")
            .is_empty());
        assert_eq!(
            url_differences("https://graph.microsoft.com/v1.0/me", "http://graph.microsoft.com:8080/v1.0/me"),
            vec![
                "url scheme: expected https, found http",
                "url host: expected graph.microsoft.com, found graph.microsoft.com:8080"
            ]
        );
        assert_eq!(
            url_differences("https://graph.microsoft.com/v1.0/me", "https://graph.microsoft.com/beta/me"),
            vec!["url path: expected /v1.0/me, found /beta/me"]
        );
    }

    #[test]
    fn header_names_compare_case_insensitively_and_values_exactly() {
        let mut expected = request("GET", "https://graph.microsoft.com/v1.0/me");
        expected.headers = vec![("Authorization".into(), "Bearer t".into())];
        let mut sent = actual("get", "https://graph.microsoft.com/v1.0/me");
        sent.headers = vec![("authorization".into(), "Bearer t".into()), ("x-extra".into(), "not checked".into())];
        assert!(request_differences(&expected, &sent).is_empty());
        sent.headers = vec![("AUTHORIZATION".into(), "bearer t".into())];
        assert_eq!(
            request_differences(&expected, &sent),
            vec![r#"header Authorization: expected "Bearer t", found "bearer t""#]
        );
        sent.headers.clear();
        assert_eq!(
            request_differences(&expected, &sent),
            vec![r#"header Authorization: missing (expected "Bearer t")"#]
        );
    }

    #[test]
    fn subset_bodies_allow_unlisted_members_but_exact_ones_do_not() {
        let expected = json!({ "displayName": "Megan", "passwordProfile": { "forceChange": true } });
        let sent =
            br#"{"displayName":"Megan","mailNickname":"megan","passwordProfile":{"forceChange":true,"password":"x"}}"#;
        assert!(body_differences(&expected, BodyMatch::Subset, sent, Some("application/json")).is_empty());
        let differences = body_differences(&expected, BodyMatch::Exact, sent, Some("application/json"));
        assert_eq!(
            differences,
            vec![
                r#"body $.passwordProfile.password: unexpected member "x""#,
                r#"body $.mailNickname: unexpected member "megan""#,
            ]
        );
        let wrong = br#"{"displayName":"Meg","passwordProfile":{"forceChange":true}}"#;
        assert_eq!(
            body_differences(&expected, BodyMatch::Subset, wrong, None),
            vec![r#"body $.displayName: expected "Megan", found "Meg""#]
        );
    }

    #[test]
    fn arrays_match_element_by_element_with_the_same_length() {
        let expected = json!({ "value": [{ "id": "1" }, { "id": "2" }] });
        let actual = json!({ "value": [{ "id": "1", "x": 0 }, { "id": "3" }] });
        assert_eq!(
            json_differences(&expected, &actual, BodyMatch::Subset),
            vec![r#"$.value[1].id: expected "2", found "3""#]
        );
        let shorter = json!({ "value": [{ "id": "1" }] });
        assert_eq!(
            json_differences(&expected, &shorter, BodyMatch::Subset),
            vec![r#"$.value: expected 2 elements, found 1: [{"id":"1"}]"#]
        );
        assert!(json_differences(&json!({ "n": 1 }), &json!({ "n": 1.0 }), BodyMatch::Exact).is_empty());
    }

    #[test]
    fn form_bodies_compare_as_decoded_maps() {
        let sent = b"grant_type=client_credentials&client_id=abc&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret=s+e%2Bcret";
        let form = Some("application/x-www-form-urlencoded; charset=utf-8");
        let expected = json!({
            "scope": "https://graph.microsoft.com/.default",
            "client_id": "abc",
            "grant_type": "client_credentials",
            "client_secret": "s e+cret"
        });
        assert!(body_differences(&expected, BodyMatch::Exact, sent, form).is_empty());
        let as_text = json!("client_id=abc&grant_type=client_credentials&scope=https://graph.microsoft.com/.default&client_secret=s%20e%2Bcret");
        assert!(body_differences(&as_text, BodyMatch::Exact, sent, form).is_empty());
        let subset = json!({ "client_id": "abc" });
        assert!(body_differences(&subset, BodyMatch::Subset, sent, form).is_empty());
        assert_eq!(
            body_differences(&subset, BodyMatch::Exact, sent, form).len(),
            3,
            "exact reports the three unlisted keys"
        );
        let wrong = json!({ "client_id": "abd" });
        assert_eq!(
            body_differences(&wrong, BodyMatch::Subset, sent, form),
            vec![r#"body $.client_id: expected "abd", found "abc""#]
        );
    }

    #[test]
    fn text_bodies_compare_as_text() {
        assert!(body_differences(&json!("plain"), BodyMatch::Exact, b"plain", Some("text/plain")).is_empty());
        assert_eq!(
            body_differences(&json!("plain"), BodyMatch::Exact, b"other", Some("text/plain")),
            vec![r#"body: expected "plain", found other"#]
        );
        assert_eq!(
            body_differences(&json!({ "a": 1 }), BodyMatch::Exact, b"", None),
            vec![r#"body: expected {"a":1}, found no body"#]
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%41", false), "%zzA");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("caf%C3%A9", false), "café");
    }

    #[test]
    fn methods_compare_case_insensitively() {
        let expected = request("PATCH", "https://graph.microsoft.com/v1.0/users/1");
        assert!(request_differences(&expected, &actual("patch", "https://graph.microsoft.com/v1.0/users/1")).is_empty());
        assert_eq!(
            request_differences(&expected, &actual("PUT", "https://graph.microsoft.com/v1.0/users/1")),
            vec!["method: expected PATCH, found PUT"]
        );
    }
}
