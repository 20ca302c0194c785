//! Collections read page by page, and single objects, passed through as the JSON text Graph sent.
//!
//! A list of 10,000 users would take several times its size in memory as a tree of
//! `serde_json::Value`s. Instead, each page is split into its items without building them
//! ([`Page::parse`]) and the items are appended to the output text at once ([`Listing`]), so
//! the sandbox holds little more than the output itself.

use crate::error::{ConnectorError, Result};
use crate::output::Output;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// Deepest nesting of arrays and objects accepted in a page: what `serde_json` parses into a
/// `Value`, so that whoever reads the output can parse it too.
pub const MAX_NESTING: usize = 127;

/// One page of a Graph collection, its items borrowed from the response body.
#[derive(Debug)]
pub struct Page<'a> {
    /// The members of `value`, as Graph wrote them.
    pub items: Vec<&'a RawValue>,
    /// `@odata.nextLink`: where the next page is, if there is one.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: where the changes since this sync will be (last page of a delta query).
    pub delta_link: Option<String>,
    /// `@odata.count`, when it was asked for.
    pub count: Option<u64>,
}

/// Why a body is not what Graph should have sent (a page of a collection, or an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Empty, or whitespace only.
    Empty,
    /// Not JSON, or nested deeper than [`MAX_NESTING`].
    NotJson,
    /// JSON, but not an object.
    NotAnObject,
    /// An object without a `value` array.
    NoValueArray,
    /// `@odata.nextLink` is there but not a string.
    NextLinkNotAString,
}

impl<'a> Page<'a> {
    /// Splits a page's body into its items and links.
    pub fn parse(body: &'a [u8]) -> std::result::Result<Page<'a>, BodyError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Empty);
        }
        let text = std::str::from_utf8(body).map_err(|_| BodyError::NotJson)?;
        if nesting_exceeds(text, MAX_NESTING) || !surrogate_escapes_pair_up(text) {
            return Err(BodyError::NotJson);
        }
        let mut members: BTreeMap<String, &'a RawValue> = serde_json::from_str(text).map_err(|error| {
            if error.classify() == serde_json::error::Category::Data {
                BodyError::NotAnObject
            } else {
                BodyError::NotJson
            }
        })?;
        let items = match members.remove("value") {
            Some(raw) => serde_json::from_str::<Vec<&'a RawValue>>(raw.get()).map_err(|_| BodyError::NoValueArray)?,
            None => return Err(BodyError::NoValueArray),
        };
        let next_link = match members.remove("@odata.nextLink").map(parse_member) {
            None | Some(Value::Null) => None,
            Some(Value::String(link)) => Some(link),
            Some(_) => return Err(BodyError::NextLinkNotAString),
        };
        let delta_link = match members.remove("@odata.deltaLink").map(parse_member) {
            Some(Value::String(link)) => Some(link),
            _ => None,
        };
        let count = members.remove("@odata.count").map(parse_member).and_then(|count| count.as_u64());
        Ok(Page { items, next_link, delta_link, count })
    }
}

impl BodyError {
    /// The `upstream` error for a body that Graph answered with this status.
    pub fn to_connector_error(&self, status: u16, body_description: impl FnOnce() -> String) -> ConnectorError {
        let message = match self {
            BodyError::Empty => "Graph answered with an empty body where an object was expected".to_string(),
            BodyError::NotJson => {
                format!("Graph answered HTTP {status} with a body that is not JSON ({})", body_description())
            }
            BodyError::NotAnObject => "Graph answered with JSON that is not an object".to_string(),
            BodyError::NoValueArray => "Graph answered a list without a `value` array".to_string(),
            BodyError::NextLinkNotAString => "`@odata.nextLink` is not a string".to_string(),
        };
        ConnectorError::upstream(message).with_status(status)
    }
}

/// An object Graph returned, as the JSON text it wrote without `@odata.context`: what the
/// read actions (`users.get`, ...) return, passed through without building a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity(String);

impl Entity {
    /// The object in `body`, its members as Graph wrote them (sorted by name, as the
    /// connector's other outputs are), less `@odata.context`.
    pub fn parse(body: &[u8]) -> std::result::Result<Entity, BodyError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Empty);
        }
        let text = std::str::from_utf8(body).map_err(|_| BodyError::NotJson)?;
        if nesting_exceeds(text, MAX_NESTING) || !surrogate_escapes_pair_up(text) {
            return Err(BodyError::NotJson);
        }
        let mut members: BTreeMap<String, &RawValue> = serde_json::from_str(text).map_err(|error| {
            if error.classify() == serde_json::error::Category::Data {
                BodyError::NotAnObject
            } else {
                BodyError::NotJson
            }
        })?;
        members.remove("@odata.context");
        let size = members.iter().map(|(name, value)| name.len() + value.get().len() + 4).sum::<usize>() + 2;
        let mut out = String::with_capacity(size);
        out.push('{');
        for (index, (name, value)) in members.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_json_string(&mut out, name);
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        Ok(Entity(out))
    }

    /// The JSON text.
    pub fn into_json(self) -> String {
        self.0
    }
}

impl From<Entity> for Output {
    fn from(entity: Entity) -> Self {
        Output::Json(entity.0)
    }
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    if text.bytes().all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&Value::String(text.to_string()).to_string());
    }
}

/// A member that is already known to be well-formed JSON, as a tree (links and counts are small).
fn parse_member(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// True unless a `\uXXXX` escape in `text` (well-formed JSON) names half of a surrogate pair
/// without its other half. Text passed through is only scanned, and the scan lets such a
/// string by, but serde_json (and many another parser) refuses to read it into a string.
pub fn surrogate_escapes_pair_up(text: &str) -> bool {
    let bytes = text.as_bytes();
    let hex_at = |at: usize| -> Option<u16> {
        let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    };
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&byte| byte == b'\\') {
        let escape = at + offset;
        match bytes.get(escape + 1) {
            Some(b'u') => {
                let Some(unit) = hex_at(escape + 2) else { return false };
                at = escape + 6;
                if (0xDC00..=0xDFFF).contains(&unit) {
                    return false;
                }
                if (0xD800..=0xDBFF).contains(&unit) {
                    let low = (bytes.get(at) == Some(&b'\\') && bytes.get(at + 1) == Some(&b'u'))
                        .then(|| hex_at(at + 2))
                        .flatten();
                    if !low.is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) {
                        return false;
                    }
                    at += 6;
                }
            }
            // Any other escape is one character long.
            _ => at = escape + 2,
        }
    }
    true
}

/// True when arrays and objects in `text` (well-formed JSON) nest deeper than `limit`.
pub fn nesting_exceeds(text: &str, limit: usize) -> bool {
    // Most bodies (one object) hold fewer brackets than the limit: counting them is cheaper
    // than following strings and escapes.
    if text.bytes().filter(|byte| matches!(byte, b'[' | b'{')).count() <= limit {
        return false;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A list action's output, gathered while the pages arrive and written as
/// `{"value": [...], "nextLink"?, "count"?, "deltaLink"?}` at the end.
///
/// Each page's items are copied into one buffer of exactly their size, and the output is
/// written into one buffer of exactly its size: no buffer grows by doubling, which in a
/// linear memory that never shrinks would leave the old, halved buffers behind.
#[derive(Debug, Default)]
pub struct Listing {
    /// Each page's items, comma-separated (the first item of every page but the first
    /// starts with a comma).
    pages: Vec<String>,
    /// Bytes in `pages`.
    bytes: usize,
    /// Items in `pages`.
    items: usize,
    /// Where to resume: the next page, or the page that was cut at `maxItems`.
    pub next_link: Option<String>,
    /// `@odata.count` of the first page that had one.
    pub count: Option<u64>,
    /// The delta link of the last page of a delta query.
    pub delta_link: Option<String>,
}

/// What the output starts with.
const HEAD: &str = "{\"value\":[";

impl Listing {
    /// An empty list.
    pub fn new() -> Self {
        Listing::default()
    }

    /// How many items it holds.
    pub fn len(&self) -> usize {
        self.items
    }

    /// True when it holds no item.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Appends items as Graph wrote them.
    pub fn extend(&mut self, items: &[&RawValue]) {
        if items.is_empty() {
            return;
        }
        let size = items.iter().map(|item| item.get().len() + 1).sum();
        let mut page = String::with_capacity(size);
        for item in items {
            if self.items > 0 {
                page.push(',');
            }
            page.push_str(item.get());
            self.items += 1;
        }
        self.bytes += page.len();
        self.pages.push(page);
    }

    /// The finished JSON text.
    pub fn into_json(self) -> String {
        let mut tail = String::from("]");
        let mut member = |name: &str, value: Value| {
            tail.push_str(",\"");
            tail.push_str(name);
            tail.push_str("\":");
            tail.push_str(&value.to_string());
        };
        if let Some(next) = self.next_link {
            member("nextLink", Value::String(next));
        }
        if let Some(count) = self.count {
            member("count", Value::from(count));
        }
        if let Some(delta) = self.delta_link {
            member("deltaLink", Value::String(delta));
        }
        tail.push('}');
        let mut text = String::with_capacity(HEAD.len() + self.bytes + tail.len());
        text.push_str(HEAD);
        for page in self.pages {
            text.push_str(&page);
        }
        text.push_str(&tail);
        text
    }

    /// The list as a JSON tree, for the few callers that look into the items.
    pub fn into_value(self) -> Result<Value> {
        Output::Json(self.into_json()).into_value()
    }
}

impl From<Listing> for Output {
    fn from(listing: Listing) -> Self {
        Output::Json(listing.into_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(text: &str) -> std::result::Result<Page<'_>, BodyError> {
        Page::parse(text.as_bytes())
    }

    #[test]
    fn a_page_splits_into_items_as_written_and_its_links() {
        let body = r#"{"@odata.context":"x","@odata.count":3,
                       "value":[{"id":"a","displayName":"A\"quoted\""}, {"id" : "b"}],
                       "@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=X"}"#;
        let page = page(body).unwrap();
        let items: Vec<&str> = page.items.iter().map(|item| item.get()).collect();
        assert_eq!(items, [r#"{"id":"a","displayName":"A\"quoted\""}"#, r#"{"id" : "b"}"#]);
        assert_eq!(page.next_link.as_deref(), Some("https://graph.microsoft.com/v1.0/users?$skiptoken=X"));
        assert_eq!((page.count, page.delta_link), (Some(3), None));
    }

    #[test]
    fn links_with_escapes_are_unescaped_and_null_links_are_absent() {
        let page = page(r#"{"value":[],"@odata.nextLink":null,"@odata.deltaLink":"https:\/\/g\/d?t=1"}"#).unwrap();
        assert_eq!((page.next_link, page.delta_link.as_deref()), (None, Some("https://g/d?t=1")));
    }

    #[test]
    fn bodies_that_are_not_pages_say_why() {
        assert_eq!(page(" \n").unwrap_err(), BodyError::Empty);
        assert_eq!(page("<html>").unwrap_err(), BodyError::NotJson);
        assert_eq!(page(r#"{"value":[1,"#).unwrap_err(), BodyError::NotJson);
        assert_eq!(page("[1, 2]").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(page(r#"{"values":[]}"#).unwrap_err(), BodyError::NoValueArray);
        assert_eq!(page(r#"{"value":{"id":"a"}}"#).unwrap_err(), BodyError::NoValueArray);
        assert_eq!(page(r#"{"value":[],"@odata.nextLink":7}"#).unwrap_err(), BodyError::NextLinkNotAString);
        assert_eq!(Page::parse(b"{\"value\":[\"\xff\"]}").unwrap_err(), BodyError::NotJson);
    }

    #[test]
    fn nesting_is_bounded_as_serde_json_bounds_it() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let fits = format!(r#"{{"value":[{}]}}"#, nested(MAX_NESTING - 2));
        let too_deep = format!(r#"{{"value":[{}]}}"#, nested(MAX_NESTING - 1));
        assert!(page(&fits).is_ok());
        assert!(serde_json::from_str::<Value>(&fits).is_ok(), "the limit is serde_json's own");
        assert_eq!(page(&too_deep).unwrap_err(), BodyError::NotJson);
        assert!(serde_json::from_str::<Value>(&too_deep).is_err());
        // Brackets inside strings are text, not nesting.
        assert!(page(&format!(r#"{{"value":["{}"]}}"#, "[\\\"{".repeat(500))).is_ok());
    }

    #[test]
    fn lone_surrogate_escapes_are_refused_as_serde_json_refuses_them() {
        for (text, pairs) in [
            (r#"{"value":["\ud83d\ude00 ok", "\\ud800 is text", "\u00e9"]}"#, true),
            (r#"{"value":["\ud800"]}"#, false),
            (r#"{"value":["\udc00\ud800"]}"#, false),
            (r#"{"value":["\uD83D\u0041"]}"#, false),
            (r#"{"value":["end \ud83d"]}"#, false),
        ] {
            assert_eq!(surrogate_escapes_pair_up(text), pairs, "{text}");
            assert_eq!(serde_json::from_str::<Value>(text).is_ok(), pairs, "serde_json agrees on {text}");
            assert_eq!(page(text).is_ok(), pairs, "{text}");
        }
        assert_eq!(Entity::parse(br#"{"name":"\udfff"}"#).unwrap_err(), BodyError::NotJson);
    }

    #[test]
    fn an_entity_keeps_what_graph_wrote_but_its_context() {
        let body = br#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                        "id":"a","displayName":"Zo\u00eb","a\"quote":1.50,"nested":{"z":1,"a":2}}"#;
        let entity = Entity::parse(body).unwrap().into_json();
        assert_eq!(entity, r#"{"a\"quote":1.50,"displayName":"Zo\u00eb","id":"a","nested":{"z":1,"a":2}}"#);
        assert_eq!(
            serde_json::from_str::<Value>(&entity).unwrap(),
            json!({"id": "a", "displayName": "Zoë", "a\"quote": 1.5, "nested": {"z": 1, "a": 2}})
        );
        assert_eq!(Entity::parse(b"{}").unwrap().into_json(), "{}");
    }

    #[test]
    fn bodies_that_are_not_objects_are_not_entities() {
        assert_eq!(Entity::parse(b"").unwrap_err(), BodyError::Empty);
        assert_eq!(Entity::parse(b"[1]").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(Entity::parse(b"\"text\"").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(Entity::parse(b"{\"id\":").unwrap_err(), BodyError::NotJson);
        assert_eq!(Entity::parse(b"<html></html>").unwrap_err(), BodyError::NotJson);
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert_eq!(Entity::parse(deep.as_bytes()).unwrap_err(), BodyError::NotJson);
    }

    #[test]
    fn a_listing_writes_the_items_and_the_links_as_one_json_document() {
        let first = page(r#"{"value":[{"id":"a"},{"id":"b"}]}"#).unwrap();
        let second = page(r#"{"value":[{"id":"c"}]}"#).unwrap();
        let mut listing = Listing::new();
        listing.extend(&first.items);
        listing.extend(&second.items);
        listing.next_link = Some("https://g/u?$skiptoken=\"q\"".into());
        listing.count = Some(3);
        listing.delta_link = Some("https://g/d".into());
        listing.extend(&page(r#"{"value":[]}"#).unwrap().items);
        assert_eq!(listing.len(), 3);
        let text = listing.into_json();
        assert_eq!(text.len(), text.capacity(), "the output is written into a buffer of its exact size");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"value": [{"id": "a"}, {"id": "b"}, {"id": "c"}], "nextLink": "https://g/u?$skiptoken=\"q\"",
                   "count": 3, "deltaLink": "https://g/d"})
        );
        assert_eq!(Listing::new().into_json(), r#"{"value":[]}"#);
    }
}
