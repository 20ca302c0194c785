//! JSON read without building a tree: an object's members as the text Graph wrote, and the
//! checks that keep text passed through readable by whoever parses the connector's output.
//!
//! serde_json only skips over the values it hands out as [`RawValue`]s: it checks their
//! syntax, but not their depth nor their surrogate escapes, which it refuses when it builds a
//! `Value`. [`object_members`] checks both, so that passed-through text is exactly what
//! serde_json would have read.

use crate::error::ConnectorError;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// Deepest nesting of arrays and objects accepted in a body: what `serde_json` parses into a
/// `Value`.
pub const MAX_NESTING: usize = 127;

/// How many members an object may have before repeated names are found through an index
/// rather than a scan: Graph's objects have a few dozen, for which the scan is cheaper.
const INDEXED_FROM: usize = 64;

/// Why a body is not what Graph should have sent (an object, or a page of a collection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Empty, or whitespace only.
    Empty,
    /// Not JSON, nested deeper than [`MAX_NESTING`], or with a lone surrogate escape.
    NotJson,
    /// JSON, but not an object.
    NotAnObject,
    /// An object without a `value` array.
    NoValueArray,
    /// `@odata.nextLink` is there but not a string.
    NextLinkNotAString,
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

/// An object's members in the order written, each value as its JSON text. A name given
/// twice keeps its first place and its last value, as serde_json keeps the last.
#[derive(Debug, Default)]
pub struct Members<'a>(Vec<(Name<'a>, &'a RawValue)>);

/// A member name: borrowed from the body when it was written without escapes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name<'a>(Cow<'a, str>);

impl<'a> Members<'a> {
    /// Removes the member `name` and returns its value.
    pub fn take(&mut self, name: &str) -> Option<&'a RawValue> {
        let index = self.0.iter().position(|(member, _)| member.0 == name)?;
        Some(self.0.remove(index).1)
    }

    /// The object as JSON text, members in their order.
    pub fn to_json(&self) -> String {
        let size = self.0.iter().map(|(name, value)| name.0.len() + value.get().len() + 4).sum::<usize>() + 2;
        let mut out = String::with_capacity(size);
        out.push('{');
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            match &name.0 {
                // Written without escapes, so it needs none.
                Cow::Borrowed(text) => {
                    out.push('"');
                    out.push_str(text);
                    out.push('"');
                }
                Cow::Owned(text) => out.push_str(&Value::String(text.clone()).to_string()),
            }
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        out
    }
}

/// The members of the object in `body`, after the checks that make its text safe to pass on.
pub fn object_members(body: &[u8]) -> Result<Members<'_>, BodyError> {
    parse_checked(body)
}

/// `body` read as a `T` (whose values borrow from it), after the checks that make its text
/// safe to pass on: one pass of serde_json over the body, whatever `T` keeps of it.
pub fn parse_checked<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotJson)?;
    if nesting_exceeds(text, MAX_NESTING) || !surrogate_escapes_pair_up(text) {
        return Err(BodyError::NotJson);
    }
    serde_json::from_str(text).map_err(|error| {
        if error.classify() == serde_json::error::Category::Data {
            BodyError::NotAnObject
        } else {
            BodyError::NotJson
        }
    })
}

/// A member's value as a tree (for the small ones: links, counts).
pub fn member_value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Members<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                // Graph's objects have a dozen or two members: one allocation, no regrowing.
                let mut members: Vec<(Name<'de>, &'de RawValue)> = Vec::with_capacity(map.size_hint().unwrap_or(16));
                // A repeated name is looked for by a scan while the object is small; past
                // `INDEXED_FROM` members an index takes over, so that an object of a million
                // members (a hostile server's) costs linear time, not quadratic.
                let mut index: Option<HashMap<Name<'de>, usize>> = None;
                while let Some(name) = map.next_key::<Name<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    let seen = match &index {
                        Some(index) => index.get(&name).copied(),
                        None => members.iter().position(|(seen, _)| *seen == name),
                    };
                    match seen {
                        Some(position) => members[position].1 = value,
                        None => {
                            if let Some(index) = &mut index {
                                index.insert(name.clone(), members.len());
                            }
                            members.push((name, value));
                            if index.is_none() && members.len() >= INDEXED_FROM {
                                index = Some(
                                    members
                                        .iter()
                                        .enumerate()
                                        .map(|(position, (name, _))| (name.clone(), position))
                                        .collect(),
                                );
                            }
                        }
                    }
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(name)))
            }

            fn visit_str<E>(self, name: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(name.to_string())))
            }

            fn visit_string<E>(self, name: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(name)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// True unless a `\uXXXX` escape in `text` (well-formed JSON) names half of a surrogate pair
/// without its other half.
pub fn surrogate_escapes_pair_up(text: &str) -> bool {
    let bytes = text.as_bytes();
    let hex_at = |at: usize| -> Option<u16> {
        let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    };
    let mut at = 0;
    while let Some(offset) = bytes.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
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

/// True when arrays and objects in `text` (well-formed JSON) nest deeper than `limit`. On
/// text that is not JSON the answer means nothing, but it is always given.
pub fn nesting_exceeds(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    // Most of a Graph body is inside strings, so a string is skipped in a loop of its own
    // that looks for nothing but its closing quote and backslashes: the fewest branches per
    // byte, which is what costs in a component (wasm has no vector search by default).
    let mut depth = 0usize;
    let mut at = 0usize;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        match byte {
            b'"' => {
                // Eight bytes at a time while none of them ends the string or escapes.
                while let Some(Ok(word)) = bytes.get(at..at + 8).map(<[u8; 8]>::try_from) {
                    let word = u64::from_le_bytes(word);
                    if has_byte(word, b'"') | has_byte(word, b'\\') != 0 {
                        break;
                    }
                    at += 8;
                }
                while let Some(&inside) = bytes.get(at) {
                    at += 1;
                    if inside == b'"' {
                        break;
                    }
                    if inside == b'\\' {
                        at += 1;
                    }
                }
            }
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

/// Non-zero when one of the eight bytes of `word` is `byte` (the classic test for a zero
/// byte, applied to `word` with `byte` cleared out of it).
fn has_byte(word: u64, byte: u8) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let cleared = word ^ ONES.wrapping_mul(u64::from(byte));
    cleared.wrapping_sub(ONES) & !cleared & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_their_order_and_text_and_a_repeated_name_its_last_value() {
        let body = br#" {"z": 1.50, "a\"b": [true, null], "m":{"y":1,"x":2}, "z": "last"} "#;
        let mut members = object_members(body).unwrap();
        assert_eq!(members.to_json(), r#"{"z":"last","a\"b":[true, null],"m":{"y":1,"x":2}}"#);
        assert_eq!(members.take("m").map(RawValue::get), Some(r#"{"y":1,"x":2}"#));
        assert!(members.take("m").is_none());
        assert_eq!(member_value(members.take("a\"b").unwrap()), serde_json::json!([true, null]));
        assert_eq!(members.to_json(), r#"{"z":"last"}"#);
    }

    #[test]
    fn a_huge_object_keeps_repeated_names_in_their_first_place_with_their_last_value() {
        // 300,000 members, every tenth one repeating an earlier name: a quadratic search for
        // repeats would run for minutes here.
        let mut body = String::from("{");
        for n in 0..300_000u32 {
            if n > 0 {
                body.push(',');
            }
            let name = if n % 10 == 9 { n - 9 } else { n };
            body.push_str(&format!("\"m{name}\":{n}"));
        }
        body.push('}');
        let members = object_members(body.as_bytes()).unwrap();
        assert_eq!(members.0.len(), 270_000);
        let values: HashMap<&str, &str> = members.0.iter().map(|(name, value)| (&*name.0, value.get())).collect();
        // m10 is written at n = 10 and again at n = 19; m18 once.
        assert_eq!(values["m10"], "19");
        assert_eq!(values["m18"], "18");
        assert_eq!(values["m299990"], "299999");
        assert_eq!(&*members.0[9].0 .0, "m10");
        // Before and after the index takes over, the result is the same.
        let small = object_members(br#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(small.to_json(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn bodies_that_are_not_objects_say_why() {
        assert_eq!(object_members(b" \n").unwrap_err(), BodyError::Empty);
        assert_eq!(object_members(b"<html>").unwrap_err(), BodyError::NotJson);
        assert_eq!(object_members(br#"{"id":"#).unwrap_err(), BodyError::NotJson);
        assert_eq!(object_members(b"[1]").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(object_members(b"\"text\"").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(object_members(b"{\"a\":\"\xff\"}").unwrap_err(), BodyError::NotJson);
        // Cut off right after a backslash: refused, not read past its end.
        assert_eq!(object_members(b"{\"a\":\"\\").unwrap_err(), BodyError::NotJson);
        assert_eq!(object_members(b"{\"a\":\"\\u12").unwrap_err(), BodyError::NotJson);
    }

    #[test]
    fn nesting_is_bounded_as_serde_json_bounds_it() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let fits = format!(r#"{{"value":[{}]}}"#, nested(MAX_NESTING - 2));
        let too_deep = format!(r#"{{"value":[{}]}}"#, nested(MAX_NESTING - 1));
        assert!(object_members(fits.as_bytes()).is_ok());
        assert!(serde_json::from_str::<Value>(&fits).is_ok(), "the limit is serde_json's own");
        assert_eq!(object_members(too_deep.as_bytes()).unwrap_err(), BodyError::NotJson);
        assert!(serde_json::from_str::<Value>(&too_deep).is_err());
        // Brackets inside strings are text, not nesting.
        assert!(object_members(format!(r#"{{"value":["{}"]}}"#, "[\\\"{".repeat(500)).as_bytes()).is_ok());
    }

    /// The byte-by-byte reading of nesting that [`nesting_exceeds`] must agree with.
    fn nesting_exceeds_bytewise(text: &str, limit: usize) -> bool {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
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

    #[test]
    fn the_nesting_scan_agrees_with_a_byte_by_byte_one_on_any_text() {
        // Texts over the bytes that matter, well-formed or not, cut anywhere (a backslash
        // last included), with small limits so that both answers occur.
        let alphabet = b"[]{}\"\\a,";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut answers = [0usize; 2];
        for case in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let length = (seed % 40) as usize;
            let text: String = (0..length)
                .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7 + case) % alphabet.len()] as char)
                .collect();
            for limit in [0, 1, 2, 3, 5] {
                let expected = nesting_exceeds_bytewise(&text, limit);
                assert_eq!(nesting_exceeds(&text, limit), expected, "{text:?} at limit {limit}");
                answers[usize::from(expected)] += 1;
            }
        }
        assert!(answers[0] > 1000 && answers[1] > 1000, "{answers:?}");
        // Long strings, read eight bytes at a time: a quote, a backslash or a bracket at
        // every place in and around a word.
        for before in 0..20 {
            for special in ["\"", "\\\"", "\\\\", "[", "{", "]"] {
                let text = format!(r#"[["{}{special}{}"],[[1]]]"#, "x".repeat(before), "y".repeat(9));
                for limit in [1, 2, 3] {
                    assert_eq!(nesting_exceeds(&text, limit), nesting_exceeds_bytewise(&text, limit), "{text}");
                }
            }
        }
        // A page of a collection: more brackets than the limit, none of them deep.
        let page = format!(r#"{{"value":[{}]}}"#, vec![r#"{"a":["x\"]}"],"b":{"c":"[{"}}"#; 200].join(","));
        assert!(serde_json::from_str::<Value>(&page).is_ok());
        assert!(!nesting_exceeds(&page, 4));
        assert!(nesting_exceeds(&page, 3));
        assert_eq!(nesting_exceeds(&page, 3), nesting_exceeds_bytewise(&page, 3));
    }

    #[test]
    fn lone_surrogate_escapes_are_refused_as_serde_json_refuses_them() {
        for (text, pairs) in [
            (r#"{"value":["\ud83d\ude00 ok", "\\ud800 is text", "\u00e9"]}"#, true),
            (r#"{"value":["\ud800"]}"#, false),
            (r#"{"value":["\udc00\ud800"]}"#, false),
            (r#"{"value":["\uD83D\u0041"]}"#, false),
            (r#"{"end \ud83d":1}"#, false),
        ] {
            assert_eq!(surrogate_escapes_pair_up(text), pairs, "{text}");
            assert_eq!(serde_json::from_str::<Value>(text).is_ok(), pairs, "serde_json agrees on {text}");
            assert_eq!(object_members(text.as_bytes()).is_ok(), pairs, "{text}");
        }
    }
}
