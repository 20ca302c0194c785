//! Action handlers, one module per Graph area, and the shapes they share.

pub mod audit;
pub mod authentication;
pub mod bulk;
pub mod custom;
pub mod devices;
pub mod groups;
pub mod guests;
pub mod risk;
pub mod roles;
pub mod sites;
pub mod users;
pub mod workbook;

use crate::error::{ConnectorError, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::{self, Query};
use crate::json::input::Input;
use crate::json::listing::Listing;
use http::Method;
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

/// One round of a directory sync (`users.delta`, `groups.delta`): the caller's `deltaLink` (or
/// a nextLink of an output cut by `maxItems`), checked to point at this connection's
/// `/{collection}/delta`, or else `GET /{collection}/delta` with `query`, the options of a
/// full sync (`options` names their input fields, which a `deltaLink` cannot be combined
/// with: the link carries the query of the first round). Pages are followed to a
/// `deltaLink` or `maxItems` (default 1000), `headers` sent on each of them.
pub fn delta_round(
    client: &mut GraphClient,
    input: &Input,
    collection: &str,
    query: Query,
    options: &[&str],
    headers: Vec<(&'static str, String)>,
) -> Result<Listing> {
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    let url = match input.optional_str("deltaLink")? {
        Some(_) if !query.is_empty() => {
            let given: Vec<String> =
                options.iter().filter(|name| input.get(name).is_some()).map(|name| format!("`{name}`")).collect();
            return Err(ConnectorError::invalid_input(format!(
                "{} cannot be combined with `deltaLink`: the link already carries the query of the first sync",
                given.join(" and ")
            )));
        }
        Some(link) => checked_delta_link(client, link, collection)?,
        None => client.url(&format!("{collection}/delta"), &query),
    };
    let mut request = GraphRequest::new(Method::GET, url);
    request.headers = headers;
    client.list_pages(&request, max_items)
}

/// A `deltaLink` (or `nextLink`) from the caller is sent with the connection's token, so it
/// must point at this connection's `/{collection}/delta` and nowhere else.
fn checked_delta_link(client: &GraphClient, link: &str, collection: &str) -> Result<String> {
    let expected = format!("{}/{collection}/delta", client.config().graph_base());
    let (base, query) = link.split_once('?').unwrap_or((link, ""));
    let well_formed = link.parse::<http::Uri>().is_ok() && !link.contains('#');
    if !well_formed || !base.eq_ignore_ascii_case(&expected) {
        return Err(ConnectorError::invalid_input(format!(
            "`deltaLink` must be a deltaLink or nextLink returned by {collection}.delta (a URL starting with {expected})"
        )));
    }
    if query.is_empty() {
        return Err(ConnectorError::invalid_input("`deltaLink` has no $deltatoken or $skiptoken"));
    }
    Ok(link.to_string())
}
