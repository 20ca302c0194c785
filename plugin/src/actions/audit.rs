//! Audit logs (`/auditLogs`): a user's sign-ins and the directory's audit entries, read over
//! a time window.

use super::DEFAULT_MAX_ITEMS;
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, Result};
use crate::graph::client::GraphClient;
use crate::graph::odata::{quote_literal, Query};
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::raw_json::{member_value, object_members};
use crate::json::schema;
use crate::json::time::UtcDateTime;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// The audit actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "users.list-sign-ins",
        title: "List sign-ins of a user",
        description: "Lists a user's sign-ins, newest first (GET /auditLogs/signIns?$filter=...): `userId eq '{id}'` \
                      for an object id or `userPrincipalName eq '{upn}'` for a userPrincipalName (no lookup), then \
                      `createdDateTime ge {since}`, `createdDateTime le {until}`, then the caller's `(filter)`. \
                      Needs Microsoft Entra ID P1 or P2 in the tenant. v1.0 lists interactive sign-ins (and \
                      successful federated ones); non-interactive and service-principal sign-ins are reached only \
                      through beta. Microsoft's page asks for Directory.Read.All besides AuditLog.Read.All (a \
                      known issue of its licence check).",
        category: "users",
        permissions: &["AuditLog.Read.All", "Directory.Read.All"],
        read_only: true,
        input_schema: || {
            audit_input(
                json!({
                    "userId": schema::string("Object id or userPrincipalName of the user who signed in"),
                }),
                &["userId"],
                SIGN_IN_PAGE_LIMIT,
            )
        },
        output_schema: || schema::list_output("A signIn, newest first"),
        run: Handler::Listing(list_sign_ins),
    },
    Action {
        id: "audit.list-directory-audits",
        title: "List directory audits",
        description: "Lists Microsoft Entra audit entries (GET /auditLogs/directoryAudits?$filter=...): \
                      `activityDisplayName eq '{name}'`, then `initiatedBy/user/id eq '{id}'` (object id) or \
                      `initiatedBy/user/userPrincipalName eq '{upn}'` (userPrincipalName), then `activityDateTime \
                      ge {since}`, `activityDateTime le {until}`, then the caller's `(filter)`; no $filter when \
                      nothing is given. `category` (UserManagement, GroupManagement, RoleManagement, \
                      ApplicationManagement, ...) is applied by the connector to the entries read, since Microsoft \
                      documents no $filter on it: `maxItems` counts the entries kept, so give a time window with it. \
                      Microsoft's page asks for Directory.Read.All besides AuditLog.Read.All (a known issue of its \
                      licence check).",
        category: "audit",
        permissions: &["AuditLog.Read.All", "Directory.Read.All"],
        read_only: true,
        input_schema: || {
            audit_input(
                json!({
                    "activityDisplayName": schema::string("Only this activity, e.g. `Add member to group`"),
                    "category": schema::string(
                        "Only entries of this category (UserManagement, GroupManagement, RoleManagement, \
                         ApplicationManagement, ...); applied by the connector, case-insensitively"
                    ),
                    "initiatedBy": schema::string("Only entries initiated by this user (object id or userPrincipalName)"),
                }),
                &[],
                AUDIT_PAGE_LIMIT,
            )
        },
        output_schema: || schema::list_output("A directoryAudit"),
        run: Handler::Listing(list_directory_audits),
    },
];

/// Graph's largest (and default) page of sign-ins (signin-list: "The maximum and default page
/// size is 1,000 objects").
const SIGN_IN_PAGE_LIMIT: u64 = 1000;
/// The largest page of directory audits asked for: Microsoft documents `$top` on them without a
/// maximum, so the directory's usual 999 is kept.
const AUDIT_PAGE_LIMIT: u64 = 999;

/// Graph's refusal when the licence check of the activity reports fails (HTTP 403).
const NON_PREMIUM_TENANT: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

/// The input schema of an audit list: the action's own members, then the time window,
/// `filter`, `top` and `maxItems`.
fn audit_input(own: Value, required: &[&str], page_limit: u64) -> Value {
    let mut properties = match own {
        Value::Object(properties) => properties,
        _ => Map::new(),
    };
    let window = "ISO 8601 date-time with `Z` or an offset, or a date alone (midnight UTC)";
    properties.insert("since".into(), schema::string(&format!("Only entries at or after this time: {window}")));
    properties.insert("until".into(), schema::string(&format!("Only entries at or before this time: {window}")));
    properties.insert("filter".into(), schema::string("More OData $filter terms, joined last with `and`"));
    properties.insert("top".into(), schema::whole_number(&format!("Page size ($top, at most {page_limit})")));
    properties.insert("maxItems".into(), schema::whole_number("Stop after this many items (default 1000, 0 = all)"));
    schema::object(Value::Object(properties), required)
}

/// `{property} eq '{value}'`, the literal's quotes doubled.
fn equals(property: &str, value: &str) -> String {
    format!("{property} eq {}", quote_literal(value))
}

/// The term naming a user: by object id, or by userPrincipalName when the value has an `@`.
fn user_term(user: &str, id_property: &str, upn_property: &str) -> String {
    if user.contains('@') {
        equals(upn_property, user)
    } else {
        equals(id_property, user)
    }
}

/// The query of an audit list: the action's `terms`, then the window on `time_property`
/// (`since` → `ge`, `until` → `le`, unquoted UTC), then the caller's `(filter)`, joined with
/// ` and `; `$top` is `top`, or `maxItems` when one page holds them. Returns the query and
/// `maxItems`.
fn audit_query(input: &Input, mut terms: Vec<String>, time_property: &str, page_limit: u64) -> Result<(Query, u64)> {
    let since = input.optional_str("since")?.map(|text| UtcDateTime::parse("since", text)).transpose()?;
    let until = input.optional_str("until")?.map(|text| UtcDateTime::parse("until", text)).transpose()?;
    if let (Some(since), Some(until)) = (&since, &until) {
        if since > until {
            return Err(ConnectorError::invalid_input(format!(
                "`since` ({since}) is later than `until` ({until}): the window is empty"
            )));
        }
    }
    if let Some(since) = since {
        terms.push(format!("{time_property} ge {since}"));
    }
    if let Some(until) = until {
        terms.push(format!("{time_property} le {until}"));
    }
    if let Some(filter) = input.optional_str("filter")? {
        terms.push(format!("({})", filter.trim()));
    }
    let top = input.optional_u64("top")?;
    if top.is_some_and(|top| top == 0 || top > page_limit) {
        return Err(ConnectorError::invalid_input(format!("`top` must be between 1 and {page_limit}")));
    }
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    let mut query = Query::new();
    if !terms.is_empty() {
        query.push("$filter", terms.join(" and "));
    }
    let page_size = top.or((max_items > 0 && max_items <= page_limit).then_some(max_items));
    query.push_opt("$top", page_size.map(|size| size.to_string()));
    Ok((query, max_items))
}

/// Graph's licence refusal, kept as Graph answered it (forbidden, its status and code) with a
/// message that says what it means; other errors pass unchanged.
fn explain_licence_refusal(error: ConnectorError, needs_premium: bool) -> ConnectorError {
    if error.graph_code.as_deref() != Some(NON_PREMIUM_TENANT) {
        return error;
    }
    let licence = if needs_premium {
        "the tenant needs Microsoft Entra ID P1 or P2 for sign-in logs"
    } else {
        "directory audits need no premium licence (sign-in logs need Microsoft Entra ID P1 or P2)"
    };
    let message = format!(
        "{} ({licence}; Microsoft also documents intermittent false refusals with this code, for sign-ins and \
         directory audits alike, which granting the app Directory.Read.All as well works around)",
        error.message
    );
    ConnectorError { message, ..error }
}

fn list_sign_ins(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let user = input.required_str("userId")?;
    let terms = vec![user_term(user, "userId", "userPrincipalName")];
    let (query, max_items) = audit_query(input, terms, "createdDateTime", SIGN_IN_PAGE_LIMIT)?;
    let url = client.url("auditLogs/signIns", &query);
    client.list(url, false, max_items).map_err(|error| explain_licence_refusal(error, true))
}

fn list_directory_audits(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let mut terms = Vec::new();
    if let Some(activity) = input.optional_str("activityDisplayName")? {
        terms.push(equals("activityDisplayName", activity));
    }
    if let Some(user) = input.optional_str("initiatedBy")? {
        terms.push(user_term(user, "initiatedBy/user/id", "initiatedBy/user/userPrincipalName"));
    }
    let category = input.optional_str("category")?.map(str::trim);
    let (query, max_items) = audit_query(input, terms, "activityDateTime", AUDIT_PAGE_LIMIT)?;
    let url = client.url("auditLogs/directoryAudits", &query);
    let listed = match category {
        None => client.list(url, false, max_items),
        Some(category) => client.list_where(url, false, max_items, &|item| in_category(item, category)),
    };
    listed.map_err(|error| explain_licence_refusal(error, false))
}

/// True when an audit entry's `category` is `category` (case-insensitively).
fn in_category(item: &RawValue, category: &str) -> bool {
    let Ok(mut members) = object_members(item.get().as_bytes()) else {
        return false;
    };
    members
        .take("category")
        .map(member_value)
        .is_some_and(|value| value.as_str().is_some_and(|value| value.eq_ignore_ascii_case(category)))
}

#[cfg(test)]
mod tests {
    use crate::graph::transport::scripted::{connected, token_config, ScriptedTransport};
    use crate::graph::transport::HttpRequest;
    use crate::ErrorCode;
    use serde_json::{json, Value};

    const USER: &str = "26be570a-ae82-4189-b4e2-a37c6808512d";

    fn run(
        script: ScriptedTransport,
        action: &str,
        input: Value,
    ) -> (Result<Value, crate::ConnectorError>, Vec<HttpRequest>) {
        let (mut connector, log) = connected(token_config(), script);
        let result = connector.invoke(action, &input.to_string());
        let sent = log.borrow().clone();
        (result, sent)
    }

    /// The decoded `$filter` of a request.
    fn filter_of(request: &HttpRequest) -> String {
        let query = request.uri().split_once('?').map_or("", |(_, query)| query).to_string();
        let filter = query.split('&').find_map(|pair| pair.strip_prefix("$filter=")).unwrap_or_default();
        crate::graph::odata::percent_decode(filter)
    }

    #[test]
    fn sign_ins_filter_by_user_then_window_then_the_callers_filter() {
        let script = ScriptedTransport::new().respond(200, json!({"value": [{"id": "s1"}]}));
        let input = json!({"userId": "o'hara@contoso.com", "since": "2024-05-01T02:00:00+02:00", "until": "2024-05-02",
                           "filter": "status/errorCode eq 0", "maxItems": 200});
        let (result, sent) = run(script, "users.list-sign-ins", input);
        assert_eq!(result.unwrap(), json!({"value": [{"id": "s1"}]}));
        assert_eq!(
            filter_of(&sent[0]),
            "userPrincipalName eq 'o''hara@contoso.com' and createdDateTime ge 2024-05-01T00:00:00Z and \
             createdDateTime le 2024-05-02T00:00:00Z and (status/errorCode eq 0)"
        );
        assert!(sent[0].uri().to_string().starts_with("https://graph.microsoft.com/v1.0/auditLogs/signIns?$filter="));
        assert!(sent[0].uri().to_string().ends_with("&$top=200"));
        assert!(sent[0].header_value("consistencylevel").is_none());

        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (_, sent) = run(script, "users.list-sign-ins", json!({"userId": USER, "top": 1000}));
        assert_eq!(
            sent[0].uri().to_string(),
            format!("https://graph.microsoft.com/v1.0/auditLogs/signIns?$filter=userId%20eq%20'{USER}'&$top=1000")
        );
    }

    #[test]
    fn sign_ins_follow_every_page_until_max_items() {
        let next =
            "https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=1&$skiptoken=9177f2e3532fcd4c4d225f68f7b9bdf7_1";
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": "a"}], "@odata.nextLink": next}))
            .respond(200, json!({"value": [{"id": "b"}]}));
        let (result, sent) = run(script, "users.list-sign-ins", json!({"userId": USER, "maxItems": 0}));
        assert_eq!(result.unwrap(), json!({"value": [{"id": "a"}, {"id": "b"}]}));
        assert_eq!(sent[1].uri().to_string(), next);
        assert!(!sent[0].uri().to_string().contains("$top"), "no page size without top or a maxItems that fits");
    }

    #[test]
    fn a_window_that_ends_before_it_starts_or_a_bad_time_is_invalid_input_before_sending() {
        for (input, expected) in [
            (
                json!({"userId": USER, "since": "2024-05-02", "until": "2024-05-01T23:59:59Z"}),
                "`since` (2024-05-02T00:00:00Z) is later than `until` (2024-05-01T23:59:59Z): the window is empty",
            ),
            (json!({"userId": USER, "until": "last week"}), "`until` must be an ISO 8601 date-time"),
            (json!({"userId": USER, "top": 1001}), "`top` must be between 1 and 1000"),
            (json!({"since": "2024-05-01"}), "`userId` is required"),
        ] {
            let (result, sent) = run(ScriptedTransport::new(), "users.list-sign-ins", input);
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.starts_with(expected), "{}", error.message);
            assert!(sent.is_empty());
        }
        // The same instant written two ways is a window of one instant, not an empty one.
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let input = json!({"userId": USER, "since": "2024-05-01T10:00:00+02:00", "until": "2024-05-01T08:00:00Z"});
        assert!(run(script, "users.list-sign-ins", input).0.is_ok());
    }

    #[test]
    fn the_licence_refusal_is_forbidden_and_says_what_the_tenant_needs() {
        let refusal = json!({"error": {"code": "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "message": "Neither tenant is B2C or tenant doesn't have premium license",
            "innerError": {"request-id": "r-403"}}});
        let script = ScriptedTransport::new().respond(403, refusal.clone());
        let (result, sent) = run(script, "users.list-sign-ins", json!({"userId": USER}));
        let error = result.unwrap_err();
        assert_eq!(sent.len(), 1, "a 403 is not retried");
        assert_eq!((error.code, error.status), (ErrorCode::Forbidden, Some(403)));
        assert_eq!(error.graph_code.as_deref(), Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant"));
        assert!(error.message.starts_with("Neither tenant is B2C or tenant doesn't have premium license ("));
        assert!(error.message.contains("needs Microsoft Entra ID P1 or P2 for sign-in logs"), "{}", error.message);
        assert!(error.message.contains("Directory.Read.All"), "{}", error.message);

        let script = ScriptedTransport::new().respond(403, refusal);
        let (result, _) = run(script, "audit.list-directory-audits", json!({}));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert!(error.message.contains("false refusals"), "{}", error.message);

        // Any other refusal is Graph's, unchanged.
        let denied = json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}});
        let script = ScriptedTransport::new().respond(403, denied);
        let (result, _) = run(script, "users.list-sign-ins", json!({"userId": USER}));
        assert_eq!(result.unwrap_err().message, "Insufficient privileges");
    }

    #[test]
    fn directory_audits_build_their_filter_in_the_documented_order_or_send_none() {
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let input = json!({"activityDisplayName": "Add member to group", "initiatedBy": "admin@contoso.com",
                           "since": "2024-05-01", "filter": "result eq 'success'"});
        let (_, sent) = run(script, "audit.list-directory-audits", input);
        assert_eq!(
            filter_of(&sent[0]),
            "activityDisplayName eq 'Add member to group' and initiatedBy/user/userPrincipalName eq \
             'admin@contoso.com' and activityDateTime ge 2024-05-01T00:00:00Z and (result eq 'success')"
        );
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (_, sent) = run(script, "audit.list-directory-audits", json!({"initiatedBy": USER, "maxItems": 5}));
        assert_eq!(filter_of(&sent[0]), format!("initiatedBy/user/id eq '{USER}'"));
        let script = ScriptedTransport::new().respond(200, json!({"value": []}));
        let (_, sent) = run(script, "audit.list-directory-audits", json!({}));
        assert_eq!(sent[0].uri().to_string(), "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits");
    }

    #[test]
    fn a_category_keeps_only_its_entries_and_max_items_counts_the_entries_kept() {
        let next = "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$top=3&$skiptoken=p2";
        let script = ScriptedTransport::new()
            .respond(
                200,
                json!({"value": [{"id": "1", "category": "GroupManagement"}, {"id": "2", "category": "UserManagement"},
                                 {"id": "3"}], "@odata.nextLink": next}),
            )
            .respond(
                200,
                json!({"value": [{"id": "4", "category": "usermanagement"}, {"id": "5", "category": "UserManagement"}],
                       "@odata.nextLink": "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$skiptoken=p3"}),
            );
        let input = json!({"category": "UserManagement", "maxItems": 2, "top": 3});
        let (result, sent) = run(script, "audit.list-directory-audits", input);
        assert_eq!(
            result.unwrap(),
            json!({"value": [{"id": "2", "category": "UserManagement"}, {"id": "4", "category": "usermanagement"}],
                   "nextLink": next})
        );
        assert_eq!(sent.len(), 2, "the second page is read because the first kept only one entry");
        assert_eq!(sent[0].uri().to_string(), "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$top=3");
        assert!(!sent[0].uri().to_string().contains("category"), "category is never sent");
    }
}
