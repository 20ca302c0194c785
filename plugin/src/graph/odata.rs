//! URL and OData building: path segments, query strings, string literals.
//!
//! Identifiers from callers are never trusted: every value placed in a path is
//! percent-encoded as one segment, and every value placed in an OData string
//! literal has its single quotes doubled.

/// Characters kept as they are in a path segment: RFC 3986 unreserved plus `@`,
/// so that userPrincipalNames read as Graph's examples print them.
fn keep_in_segment(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'@')
}

/// Characters kept as they are in a query value: unreserved plus the OData
/// punctuation Graph's own examples print unencoded.
fn keep_in_query(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'$' | b',' | b'\'' | b'(' | b')' | b':' | b'@' | b'/' | b'*')
}

fn percent_encode(value: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    // Runs of kept bytes are copied whole. Only ASCII is kept, so a run that holds bytes
    // starts and ends on a character boundary (empty runs are never sliced).
    let mut kept_from = 0;
    for (at, &byte) in value.as_bytes().iter().enumerate() {
        if byte.is_ascii() && keep(byte) {
            continue;
        }
        if kept_from < at {
            out.push_str(&value[kept_from..at]);
        }
        out.push('%');
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0F)] as char);
        kept_from = at + 1;
    }
    if kept_from < value.len() {
        out.push_str(&value[kept_from..]);
    }
    out
}

/// Percent-encodes a value as exactly one path segment. `/`, `?`, `#` and `%`
/// are encoded, and the dot segments `.` and `..` are encoded too so that no
/// normalising proxy can turn them into a step up the path.
pub fn encode_segment(value: &str) -> String {
    if value == "." || value == ".." {
        return value.replace('.', "%2E");
    }
    percent_encode(value, keep_in_segment)
}

/// The error text for an id that is a dot segment, or `None` for any other id. `.` and `..`
/// would be percent-encoded as `%2E`/`%2E%2E`, which URL normalisation turns back into a
/// step up the path (`DELETE /v1.0/users/%2E%2E` deletes nothing it should), so they are
/// refused as ids rather than encoded.
pub fn dot_segment_problem(field: &str, id: &str) -> Option<String> {
    (id == "." || id == "..").then(|| format!("`{field}` must not be `{id}`: a dot segment is not an id"))
}

/// What follows a URL's first `://` (the whole text when it has none). Found byte by byte: a
/// URL is short, and a substring searcher's set-up cost more than the search (every request
/// checks its URL, and a fresh instance checks its settings' URLs on every connection).
pub fn after_scheme(url: &str) -> &str {
    url.as_bytes().windows(3).position(|bytes| bytes == b"://").map_or(url, |at| &url[at + 3..])
}

/// True when a URL's path (what follows the authority, up to `?` or `#`) has a `.` or `..`
/// segment, plain or percent-encoded (up to three rounds of encoding). A segment that only
/// holds dots next to an encoded slash (`..%2Fx`, an id encoded as one segment) is not one.
pub fn path_has_dot_segment(url: &str) -> bool {
    let after_scheme = after_scheme(url);
    let path = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').any(|segment| {
        // Most segments hold no escape: they are compared as they are, without allocating.
        if !segment.contains('%') {
            return segment == "." || segment == "..";
        }
        let mut current = segment.to_string();
        for _ in 0..4 {
            if current == "." || current == ".." {
                return true;
            }
            let decoded = percent_decode(&current);
            if decoded == current {
                break;
            }
            current = decoded;
        }
        false
    })
}

/// Decodes `%XX` escapes, leaving malformed ones as they are (bytes that are not UTF-8
/// become U+FFFD).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query parameter value (or name).
pub fn encode_query_value(value: &str) -> String {
    percent_encode(value, keep_in_query)
}

/// Percent-encodes a form field (application/x-www-form-urlencoded).
pub fn encode_form_value(value: &str) -> String {
    percent_encode(value, |byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

/// Doubles single quotes so the value can sit inside an OData string literal.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The path segment addressing a user: `users/{id}`, or `users('{id}')` for a
/// userPrincipalName starting with `$`, which Graph cannot take as a plain segment.
pub fn user_segment(user: &str) -> String {
    if user.starts_with('$') {
        format!("users({})", encode_segment_keeping_quotes(&quote_literal(user)))
    } else {
        ["users/", &encode_segment(user)].concat()
    }
}

/// Encodes a key expression such as `'$x@y.com'` while keeping its quotes.
fn encode_segment_keeping_quotes(value: &str) -> String {
    percent_encode(value, |byte| keep_in_segment(byte) || byte == b'\'' || byte == b'$')
}

/// Builds a query string from name/value pairs, in the given order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.pairs.push((name.to_string(), value.into()));
    }

    /// Adds a parameter when a value is present.
    pub fn push_opt(&mut self, name: &str, value: Option<impl Into<String>>) {
        if let Some(value) = value {
            self.push(name, value);
        }
    }

    /// True when a parameter of that name was added.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// True when no parameter was added.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The encoded query, without the leading `?`.
    pub fn encode(&self) -> String {
        self.pairs
            .iter()
            .map(|(name, value)| format!("{}={}", encode_query_value(name), encode_query_value(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Wraps a `$search` value in double quotes unless the caller already quoted its clauses,
/// as Graph requires for directory objects (`displayName:john` → `"displayName:john"`).
pub fn search_clause(value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.contains('"') {
        trimmed.to_string()
    } else {
        format!("\"{trimmed}\"")
    }
}

/// True when the value has the shape of a directory object id (a GUID).
pub fn is_guid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn percent_encoding_encodes_each_byte_not_kept_and_decodes_back(value in "\\PC{0,24}") {
            let encoded = encode_segment(&value);
            let mut expected = String::new();
            for &byte in value.as_bytes() {
                match keep_in_segment(byte) {
                    true => expected.push(byte as char),
                    false => expected.push_str(&format!("%{byte:02X}")),
                }
            }
            if value == "." || value == ".." {
                expected = value.replace('.', "%2E");
            }
            prop_assert_eq!(&encoded, &expected);
            prop_assert!(encoded.bytes().all(|byte| byte == b'%' || keep_in_segment(byte)));
        }
    }

    #[test]
    fn the_text_after_the_first_scheme_separator_is_what_split_once_gives() {
        for url in ["https://graph.example/v1.0", "no scheme here", "a:/b://c://d", "://x", "é://ü/", "x:", "x:/", ""]
        {
            assert_eq!(after_scheme(url), url.split_once("://").map_or(url, |(_, rest)| rest), "{url}");
        }
    }

    #[test]
    fn segment_encoding_keeps_slash_question_hash_and_dots_inside_the_segment() {
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(encode_segment("a?b=c"), "a%3Fb%3Dc");
        assert_eq!(encode_segment("AdeleV_adatum.com#EXT#@contoso.com"), "AdeleV_adatum.com%23EXT%23@contoso.com");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("."), "%2E");
        assert_eq!(encode_segment("../../groups"), "..%2F..%2Fgroups");
        assert_eq!(encode_segment("50%"), "50%25");
        assert_eq!(encode_segment("josé"), "jos%C3%A9");
    }

    #[test]
    fn dot_segments_are_found_in_paths_in_any_encoding_but_not_in_names_or_queries() {
        for url in [
            "https://graph.microsoft.com/v1.0/users/..",
            "https://graph.microsoft.com/v1.0/users/%2E%2E?$select=id",
            "https://graph.microsoft.com/v1.0/./users",
            "https://graph.microsoft.com/v1.0/users/%252e%252e/x",
        ] {
            assert!(path_has_dot_segment(url), "{url}");
        }
        for url in [
            "https://graph.microsoft.com/v1.0/users/a..b/x.y",
            "https://graph.microsoft.com/v1.0/users?$filter=x eq '..'",
            "https://graph.microsoft.com/v1.0/users/%2E%2Ex",
            "https://graph.microsoft.com/v1.0/users/..%2Fgroups%3Fx%3D1%23y",
            "https://graph.microsoft.com",
        ] {
            assert!(!path_has_dot_segment(url), "{url}");
        }
        assert_eq!(
            dot_segment_problem("userId", ".."),
            Some("`userId` must not be `..`: a dot segment is not an id".into())
        );
        assert_eq!(dot_segment_problem("userId", "..."), None);
    }

    #[test]
    fn user_segment_uses_key_syntax_for_dollar_upns() {
        assert_eq!(user_segment("john@contoso.com"), "users/john@contoso.com");
        assert_eq!(user_segment("$x@y.com"), "users('$x@y.com')");
        assert_eq!(user_segment("$o'neil@y.com"), "users('$o''neil@y.com')");
    }

    #[test]
    fn odata_literals_double_single_quotes() {
        assert_eq!(quote_literal("O'Brien"), "'O''Brien'");
        assert_eq!(quote_literal("''"), "''''''");
        assert_eq!(quote_literal("plain"), "'plain'");
    }

    #[test]
    fn query_values_encode_reserved_characters() {
        let mut query = Query::new();
        query.push("$filter", "startswith(displayName,'a&b')");
        query.push("$search", "\"displayName:jo hn\"");
        assert_eq!(query.encode(), "$filter=startswith(displayName,'a%26b')&$search=%22displayName:jo%20hn%22");
    }

    #[test]
    fn search_values_are_quoted_once() {
        assert_eq!(search_clause("displayName:john"), "\"displayName:john\"");
        assert_eq!(search_clause("\"displayName:a\" OR \"mail:b\""), "\"displayName:a\" OR \"mail:b\"");
    }

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid("87d349ed-44d7-43e1-9a83-5f2406dee5bd"));
        assert!(!is_guid("98765432-abcd-efgh-ijkl-mnopqrstuvwx"));
        assert!(!is_guid("john@contoso.com"));
    }
}
