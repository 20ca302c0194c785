//! Collections read page by page, every item passed through as the JSON text Graph sent.
//!
//! A list of 10,000 users would take several times its size in memory as a tree of
//! `serde_json::Value`s. Instead, each page is split into its items without building them
//! ([`Page::parse`]) and the items are copied into the output text ([`Listing`]), so the
//! sandbox holds little more than the output itself.

use crate::error::Result;
use crate::json::output::Output;
use crate::json::raw_json::{member_value, parse_checked, BodyError};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

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

impl<'a> Page<'a> {
    /// Splits a page's body into its items and links, in one pass over the body.
    pub fn parse(body: &'a [u8]) -> std::result::Result<Page<'a>, BodyError> {
        let members: PageMembers<'a> = parse_checked(body)?;
        let items = match members.value {
            Some(ValueMember::Items(items)) => items,
            Some(ValueMember::Other) | None => return Err(BodyError::NoValueArray),
        };
        let next_link = match members.next_link.map(member_value) {
            None | Some(Value::Null) => None,
            Some(Value::String(link)) => Some(link),
            Some(_) => return Err(BodyError::NextLinkNotAString),
        };
        let delta_link = match members.delta_link.map(member_value) {
            Some(Value::String(link)) => Some(link),
            _ => None,
        };
        let count = members.count.map(member_value).and_then(|count| count.as_u64());
        Ok(Page { items, next_link, delta_link, count })
    }
}

/// The members of a page that a list reads; a name given twice keeps its last value, as in
/// [`crate::json::raw_json::Members`].
struct PageMembers<'a> {
    value: Option<ValueMember<'a>>,
    next_link: Option<&'a RawValue>,
    delta_link: Option<&'a RawValue>,
    count: Option<&'a RawValue>,
}

/// A page's `value`: its items as written, or something that is not an array.
enum ValueMember<'a> {
    Items(Vec<&'a RawValue>),
    Other,
}

impl<'de> Deserialize<'de> for PageMembers<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct PageVisitor;
        impl<'de> Visitor<'de> for PageVisitor {
            type Value = PageMembers<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                let mut page = PageMembers { value: None, next_link: None, delta_link: None, count: None };
                while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                    match name.as_ref() {
                        "value" => page.value = Some(map.next_value()?),
                        "@odata.nextLink" => page.next_link = Some(map.next_value()?),
                        "@odata.deltaLink" => page.delta_link = Some(map.next_value()?),
                        "@odata.count" => page.count = Some(map.next_value()?),
                        _ => {
                            map.next_value::<&'de RawValue>()?;
                        }
                    }
                }
                Ok(page)
            }
        }
        deserializer.deserialize_map(PageVisitor)
    }
}

impl<'de> Deserialize<'de> for ValueMember<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = ValueMember<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("any JSON value")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                // A page of Graph's holds up to a thousand items or so.
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(ValueMember::Items(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                while map.next_key::<IgnoredAny>()?.is_some() {
                    map.next_value::<&'de RawValue>()?;
                }
                Ok(ValueMember::Other)
            }

            fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(ValueMember::Other)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(ValueMember::Other)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(ValueMember::Other)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(ValueMember::Other)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
                Ok(ValueMember::Other)
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(ValueMember::Other)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
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

    /// Bytes of item text gathered so far.
    pub fn byte_len(&self) -> usize {
        self.bytes
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
