//! SharePoint sites and lists (`/sites`).

use super::{entity, DEFAULT_MAX_ITEMS};
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::{encode_segment, Query};
use crate::json::entity::Entity;
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::schema;
use http::Method;
use serde_json::{json, Map, Value};

/// The list template used when `template` is not given.
const DEFAULT_LIST_TEMPLATE: &str = "genericList";

/// The site and list actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "sites.get",
        title: "Get site by path",
        description: "Reads a SharePoint site by host name and site name \
                      (GET /sites/{hostname}:/sites/{siteName}); its `id` is `{hostname},{siteCollectionId},{webId}`.",
        category: "sites",
        permissions: &["Sites.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "siteHostname": schema::string("SharePoint host name, e.g. contoso.sharepoint.com"),
                    "siteName": schema::string("Site name under /sites/, e.g. marketing (one path segment, no `/`)"),
                }),
                &["siteHostname", "siteName"],
            )
        },
        output_schema: || schema::entity("The site"),
        run: Handler::Entity(get),
    },
    Action {
        id: "sites.create-list",
        title: "Create list",
        description: "Creates a list in a site (POST /sites/{siteId}/lists) with the given columns; the template \
                      (default genericList) adds its own columns too.",
        category: "sites",
        permissions: &["Sites.Manage.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "siteId": site_id_property(),
                    "displayName": schema::string("Name of the list"),
                    "columns": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                        "description": "Graph columnDefinition objects, e.g. {\"name\": \"Author\", \"text\": {}} (optional: the template's columns are always added)",
                    },
                    "template": schema::string("List template, e.g. genericList (default) or documentLibrary"),
                }),
                &["siteId", "displayName"],
            )
        },
        output_schema: || schema::entity("The created list"),
        run: Handler::Value(create_list),
    },
    Action {
        id: "sites.list-items",
        title: "List items of a list",
        description: "Lists the items of a SharePoint list with their column values \
                      (GET /sites/{siteId}/lists/{listId}/items?$expand=fields), following pages up to maxItems.",
        category: "sites",
        permissions: &["Sites.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "siteId": site_id_property(),
                    "listId": schema::string("Id or title of the list"),
                    "expand": schema::string("$expand (default `fields`, e.g. `fields(select=Name,Color)`)"),
                    "select": schema::string("Comma-separated listItem properties ($select)"),
                    "filter": schema::string("OData $filter, e.g. fields/Color eq 'Red'"),
                    "top": schema::whole_number("Page size ($top)"),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &["siteId", "listId"],
            )
        },
        output_schema: || schema::list_output("A list item, with its column values under `fields`"),
        run: Handler::Listing(list_items),
    },
];

fn site_id_property() -> Value {
    schema::string("Site id (`{hostname},{siteCollectionId},{webId}`, as sites.get returns it)")
}

fn get(client: &mut GraphClient, input: &Input) -> Result<Entity> {
    let host = input.required_str("siteHostname")?.trim();
    if !is_host_name(host) {
        return Err(ConnectorError::invalid_input(format!(
            "`siteHostname` must be a host name such as contoso.sharepoint.com (got `{host}`)"
        )));
    }
    let name = input.required_str("siteName")?.trim();
    if !is_site_name(name) {
        return Err(ConnectorError::invalid_input(format!(
            "`siteName` must be one site name without `/`, `\\`, `:`, `?`, `#`, `%` or dot segments (got `{name}`)"
        )));
    }
    let path = format!("sites/{}:/sites/{}", encode_segment(host), encode_segment(name));
    let url = client.url(&path, &Query::new());
    client.get_entity(url, false)
}

/// A DNS host name: dot-separated labels of letters, digits and inner hyphens.
fn is_host_name(value: &str) -> bool {
    value.len() <= 253
        && value.contains('.')
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// One site name: no path separators, no `:` (which would end Graph's path addressing),
/// no query or fragment characters, no dot segments.
fn is_site_name(value: &str) -> bool {
    value != "."
        && value != ".."
        && !value.chars().any(|c| matches!(c, '/' | '\\' | ':' | '?' | '#' | '%') || c.is_control())
}

/// The path of a site: `sites/{id}`.
fn site_path(site: &str) -> String {
    format!("sites/{}", encode_segment(site))
}

fn create_list(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let site = input.required_str("siteId")?;
    let display_name = input.required_str("displayName")?;
    // Graph makes custom columns optional: without them the list has the template's columns.
    let columns = match input.get("columns") {
        Some(Value::Array(columns)) => Some(columns),
        Some(_) => return Err(ConnectorError::invalid_input("`columns` must be a list of column definitions")),
        None => None,
    };
    for (index, column) in columns.into_iter().flatten().enumerate() {
        let named = column.get("name").and_then(Value::as_str).is_some_and(|name| !name.trim().is_empty());
        if !column.is_object() || !named {
            return Err(ConnectorError::invalid_input(format!(
                "`columns[{index}]` must be a column definition object with a `name`"
            )));
        }
    }
    let template = input.optional_str("template")?.unwrap_or(DEFAULT_LIST_TEMPLATE);
    if !template.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ConnectorError::invalid_input(format!(
            "`template` must be a list template name such as genericList (got `{template}`)"
        )));
    }
    let mut body = Map::new();
    body.insert("displayName".into(), json!(display_name));
    if let Some(columns) = columns {
        body.insert("columns".into(), Value::Array(columns.clone()));
    }
    body.insert("list".into(), json!({"template": template}));
    let url = client.url(&format!("{}/lists", site_path(site)), &Query::new());
    let created = client.send(&GraphRequest::new(Method::POST, url).json(Value::Object(body)))?.into_object()?;
    Ok(entity(created))
}

fn list_items(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let site = input.required_str("siteId")?;
    let list = input.required_str("listId")?;
    let mut query = Query::new();
    query.push("$expand", input.optional_str("expand")?.unwrap_or("fields"));
    query.push_opt("$select", input.optional_str("select")?);
    query.push_opt("$filter", input.optional_str("filter")?);
    query.push_opt("$top", input.optional_u64("top")?.map(|top| top.to_string()));
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    let path = format!("{}/lists/{}/items", site_path(site), encode_segment(list));
    let url = client.url(&path, &query);
    client.list(url, false, max_items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use crate::ErrorCode;

    #[test]
    fn host_names_and_site_names_are_checked() {
        assert!(is_host_name("contoso.sharepoint.com"));
        assert!(!is_host_name("contoso"));
        assert!(!is_host_name("contoso.sharepoint.com/sites/x"));
        assert!(!is_host_name("evil.com:443"));
        assert!(!is_host_name("-a.com"));
        assert!(is_site_name("marketing"));
        assert!(is_site_name("Team Site"));
        for bad in ["a/b", "..", ".", "a:b", "a\\b", "a?b", "a#b", "%2e%2e"] {
            assert!(!is_site_name(bad), "{bad}");
        }
    }

    #[test]
    fn get_addresses_the_site_by_path() {
        let script =
            ScriptedTransport::new().respond(200, json!({"id": "contoso.sharepoint.com,a,b", "name": "marketing"}));
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"siteHostname": "contoso.sharepoint.com", "siteName": "marketing"});
        let output = connector.invoke("sites.get", &input.to_string()).unwrap();
        assert_eq!(output["name"], "marketing");
        assert_eq!(
            log.borrow()[0].uri(),
            "https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com:/sites/marketing"
        );
    }

    #[test]
    fn get_refuses_a_site_name_that_leaves_the_path() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let input = json!({"siteHostname": "contoso.sharepoint.com", "siteName": "../../teams/x"});
        let error = connector.invoke("sites.get", &input.to_string()).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.starts_with("`siteName`"));
        let input = json!({"siteHostname": "contoso.sharepoint.com/sites", "siteName": "x"});
        let error = connector.invoke("sites.get", &input.to_string()).unwrap_err();
        assert!(error.message.starts_with("`siteHostname`"));
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn create_list_sends_columns_and_the_default_template() {
        let script = ScriptedTransport::new().respond(201, json!({"@odata.context": "c", "id": "list-1"}));
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"siteId": "contoso.sharepoint.com,1,2", "displayName": "Books",
                           "columns": [{"name": "Author", "text": {}}]});
        let output = connector.invoke("sites.create-list", &input.to_string()).unwrap();
        assert_eq!(output, json!({"id": "list-1"}));
        let sent = log.borrow();
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com%2C1%2C2/lists");
        assert_eq!(
            body_json(&sent[0]),
            json!({"displayName": "Books", "columns": [{"name": "Author", "text": {}}], "list": {"template": "genericList"}})
        );
    }

    #[test]
    fn create_list_refuses_unnamed_columns_and_odd_templates() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let input = json!({"siteId": "s", "displayName": "B", "columns": [{"text": {}}]});
        let error = connector.invoke("sites.create-list", &input.to_string()).unwrap_err();
        assert_eq!(error.message, "`columns[0]` must be a column definition object with a `name`");
        let input = json!({"siteId": "s", "displayName": "B", "columns": [], "template": "generic list"});
        let error = connector.invoke("sites.create-list", &input.to_string()).unwrap_err();
        assert!(error.message.starts_with("`template`"));
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn list_items_expands_fields_and_follows_pages_to_max_items() {
        let next = "https://graph.microsoft.com/v1.0/sites/s/lists/l/items?$expand=fields&$skiptoken=2";
        let script =
            ScriptedTransport::new().respond(200, json!({"value": [{"id": "1"}], "@odata.nextLink": next})).respond(
                200,
                json!({"value": [{"id": "2"}, {"id": "3"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/x"}),
            );
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"siteId": "s", "listId": "l", "expand": "fields(select=Name,Color)", "maxItems": "2"});
        let output = connector.invoke("sites.list-items", &input.to_string()).unwrap();
        assert_eq!(output, json!({"value": [{"id": "1"}, {"id": "2"}], "nextLink": next}));
        let sent = log.borrow();
        assert_eq!(
            sent[0].uri(),
            "https://graph.microsoft.com/v1.0/sites/s/lists/l/items?$expand=fields(select%3DName,Color)"
        );
        assert_eq!(sent[1].uri(), next);
    }
}
