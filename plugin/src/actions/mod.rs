//! Action handlers, one module per Graph area, and the shapes they share.

pub mod audit;
pub mod authentication;
pub mod bulk;
pub mod custom;
pub mod devices;
pub mod groups;
pub mod guests;
pub mod sites;
pub mod users;
pub mod workbook;

use crate::error::Result;
use crate::graph::client::GraphClient;
use crate::graph::odata::{self, Query};
use crate::json::input::Input;
use serde_json::{json, Map, Value};

/// Default `maxItems` of list actions.
pub const DEFAULT_MAX_ITEMS: u64 = 1000;
/// Largest `$top` Graph accepts on directory collections.
pub const MAX_PAGE_SIZE: u64 = 999;

/// The OData options of a list action, read from its input.
pub struct ListQuery {
    /// The query string to send.
    pub query: Query,
    /// True when Graph needs `ConsistencyLevel: eventual` (advanced query).
    pub eventual: bool,
    /// How many items to collect (0 = all).
    pub max_items: u64,
}

impl ListQuery {
    /// Reads `filter`, `count`, `top`, `skipToken`, `select`, `expand`, `orderby`,
    /// `search` and `maxItems`. Advanced queries (count, search, `ne`/`not`/`endsWith`
    /// filters, filter with orderby) get `ConsistencyLevel: eventual` and `$count=true`.
    pub fn read(input: &Input) -> Result<ListQuery> {
        let filter = input.optional_str("filter")?;
        let count = input.optional_bool("count")?.unwrap_or(false);
        let top = input.optional_u64("top")?;
        let skip_token = input.optional_str("skipToken")?;
        let select = input.optional_str("select")?;
        let expand = input.optional_str("expand")?;
        let orderby = input.optional_str("orderby")?;
        let search = input.optional_str("search")?;
        let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
        if top == Some(0) || top.is_some_and(|t| t > MAX_PAGE_SIZE) {
            return Err(crate::error::ConnectorError::invalid_input(format!(
                "`top` must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        let eventual = count
            || search.is_some()
            || filter.is_some_and(needs_advanced_query)
            || (filter.is_some() && orderby.is_some());
        let mut query = Query::new();
        query.push_opt("$filter", filter);
        query.push_opt("$search", search.map(odata::search_clause));
        query.push_opt("$select", select);
        query.push_opt("$expand", expand);
        query.push_opt("$orderby", orderby);
        // Without an explicit page size, ask for exactly maxItems when one page can hold
        // them, so no page is cut in the middle.
        let page_size = top.or((max_items > 0 && max_items <= MAX_PAGE_SIZE).then_some(max_items));
        query.push_opt("$top", page_size.map(|t| t.to_string()));
        query.push_opt("$skiptoken", skip_token);
        if eventual {
            query.push("$count", "true");
        }
        Ok(ListQuery { query, eventual, max_items })
    }

    /// Makes it an advanced query: `ConsistencyLevel: eventual` and `$count=true` (once).
    pub fn advanced(&mut self) {
        if !self.eventual {
            self.eventual = true;
            self.query.push("$count", "true");
        }
    }
}

/// Filters that Graph only runs as advanced queries on directory objects.
fn needs_advanced_query(filter: &str) -> bool {
    let lower = filter.to_ascii_lowercase();
    lower.contains(" ne ") || lower.contains("not(") || lower.contains("not ") || lower.contains("endswith(")
}

/// `{"success": true}` plus the given id members, for calls that return no body.
pub fn success(ids: &[(&str, &str)]) -> Value {
    let mut output = Map::new();
    output.insert("success".into(), json!(true));
    for (name, value) in ids {
        output.insert((*name).into(), json!(value));
    }
    Value::Object(output)
}

/// An entity as Graph returned it, without `@odata.context`.
pub fn entity(mut object: Map<String, Value>) -> Value {
    object.remove("@odata.context");
    Value::Object(object)
}

/// The object id of a user: the value itself when it has no `@`, otherwise the id
/// Graph returns for that userPrincipalName (`GET /users/{upn}?$select=id`).
pub fn resolve_user_id(client: &mut GraphClient, user: &str) -> Result<String> {
    if !user.contains('@') {
        return Ok(user.to_string());
    }
    let mut query = Query::new();
    query.push("$select", "id");
    let url = client.url(&odata::user_segment(user), &query);
    let object = client.get_object(url, false)?;
    object
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| crate::error::ConnectorError::upstream(format!("Graph returned no id for user `{user}`")))
}

/// The `@odata.id` reference URL of a directory object under the connection's base.
pub fn reference(client: &GraphClient, collection: &str, id: &str) -> String {
    format!("{}/{collection}/{}", client.config().graph_base(), odata::encode_segment(id))
}
