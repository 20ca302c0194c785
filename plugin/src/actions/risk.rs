//! Identity Protection: risky users (`/identityProtection/riskyUsers`), listed, confirmed
//! compromised and dismissed. The riskyUsers API needs Microsoft Entra ID P2 in the tenant.

use super::bulk::{required_id_list, resolve_targets, BulkOutcome, Target};
use super::DEFAULT_MAX_ITEMS;
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::Query;
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::schema;
use http::Method;
use serde_json::{json, Value};

/// The Identity Protection actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "risk.list-risky-users",
        title: "List risky users",
        description: "Lists the users Identity Protection flags as risky (GET /identityProtection/riskyUsers), \
            optionally only some risk levels and states (`riskLevel eq microsoft.graph.riskLevel'high'`, a list \
            joined with `or`), following pages up to maxItems. Needs Microsoft Entra ID P2.",
        category: "risk",
        permissions: &["IdentityRiskyUser.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "riskLevel": one_or_more("Only users at this risk level, or at any of these", RISK_LEVELS),
                    "riskState": one_or_more("Only users in this risk state, or in any of these", RISK_STATES),
                    "filter": schema::string("Further OData $filter, joined with `and` in parentheses"),
                    "select": schema::string("Comma-separated properties ($select)"),
                    "top": schema::whole_number("Page size ($top, at most 500)"),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &[],
            )
        },
        output_schema: || schema::list_output("A riskyUser"),
        run: Handler::Listing(list_risky_users),
    },
    Action {
        id: "risk.confirm-compromised",
        title: "Confirm users compromised",
        description: "Confirms users as compromised (POST /identityProtection/riskyUsers/confirmCompromised, 60 \
            ids a call), which sets their risk level to high; it neither disables the accounts nor revokes \
            sessions (users.disable does). userPrincipalNames are first resolved to object ids (User.ReadBasic.All). \
            Graph answers for a whole call, so every id of a refused call is in `failed`. Needs Microsoft Entra ID P2.",
        category: "risk",
        permissions: &["IdentityRiskyUser.ReadWrite.All", "User.ReadBasic.All"],
        read_only: false,
        input_schema: user_ids_input,
        output_schema: BulkOutcome::schema,
        run: Handler::Value(confirm_compromised),
    },
    Action {
        id: "risk.dismiss",
        title: "Dismiss user risk",
        description: "Dismisses the risk of users (POST /identityProtection/riskyUsers/dismiss, 60 ids a call), \
            which sets their risk level to none. userPrincipalNames are first resolved to object ids \
            (User.ReadBasic.All). Graph answers for a whole call, so every id of a refused call is in `failed`. \
            Needs Microsoft Entra ID P2.",
        category: "risk",
        permissions: &["IdentityRiskyUser.ReadWrite.All", "User.ReadBasic.All"],
        read_only: false,
        input_schema: user_ids_input,
        output_schema: BulkOutcome::schema,
        run: Handler::Value(dismiss),
    },
];

/// The values of Graph's `riskLevel` enumeration.
const RISK_LEVELS: &[&str] = &["low", "medium", "high", "hidden", "none"];
/// The values of Graph's `riskState` enumeration.
const RISK_STATES: &[&str] = &["atRisk", "confirmedCompromised", "remediated", "dismissed", "confirmedSafe", "none"];
/// Largest page Graph serves of riskyUsers.
const MAX_RISKY_USERS_PAGE: u64 = 500;
/// Most user ids Graph takes in one confirmCompromised or dismiss call.
const USER_IDS_PER_CALL: usize = 60;

fn user_ids_input() -> Value {
    schema::object(json!({"userIds": schema::ids("Object ids or userPrincipalNames of the users")}), &["userIds"])
}

/// A property taking one value of `values` or a list of them.
fn one_or_more(description: &str, values: &[&str]) -> Value {
    json!({
        "oneOf": [
            {"type": "string", "enum": values},
            {"type": "array", "items": {"type": "string", "enum": values}},
        ],
        "description": description,
    })
}

/// The filter term of an enumeration member given as one value or a list:
/// `riskLevel eq microsoft.graph.riskLevel'high'`, or such terms joined with ` or ` in
/// parentheses. Values compare case-insensitively and are sent in Graph's spelling.
fn enum_term(input: &Input, name: &str, values: &[&'static str]) -> Result<Option<String>> {
    let canonical = |value: &str| {
        values.iter().find(|known| known.eq_ignore_ascii_case(value.trim())).copied().ok_or_else(|| {
            ConnectorError::invalid_input(format!("`{name}` must be one of {} (got `{value}`)", values.join(", ")))
        })
    };
    let mut chosen: Vec<&str> = Vec::new();
    match input.get(name) {
        None => return Ok(None),
        Some(Value::String(value)) if value.trim().is_empty() => return Ok(None),
        Some(Value::String(value)) => chosen.push(canonical(value)?),
        Some(Value::Array(items)) if !items.is_empty() => {
            for item in items {
                let value = item.as_str().ok_or_else(|| {
                    ConnectorError::invalid_input(format!("`{name}` must be a string or a list of strings"))
                })?;
                let value = canonical(value)?;
                if !chosen.contains(&value) {
                    chosen.push(value);
                }
            }
        }
        Some(_) => {
            return Err(ConnectorError::invalid_input(format!(
                "`{name}` must be one of {}, or a non-empty list of them",
                values.join(", ")
            )))
        }
    }
    let terms: Vec<String> = chosen.iter().map(|value| format!("{name} eq microsoft.graph.{name}'{value}'")).collect();
    Ok(Some(match terms.as_slice() {
        [one] => one.clone(),
        _ => format!("({})", terms.join(" or ")),
    }))
}

fn list_risky_users(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let mut terms = Vec::new();
    terms.extend(enum_term(input, "riskLevel", RISK_LEVELS)?);
    terms.extend(enum_term(input, "riskState", RISK_STATES)?);
    terms.extend(input.optional_str("filter")?.map(|filter| format!("({filter})")));
    let top = input.optional_u64("top")?;
    if top == Some(0) || top.is_some_and(|top| top > MAX_RISKY_USERS_PAGE) {
        return Err(ConnectorError::invalid_input(format!("`top` must be between 1 and {MAX_RISKY_USERS_PAGE}")));
    }
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    let mut query = Query::new();
    if !terms.is_empty() {
        query.push("$filter", terms.join(" and "));
    }
    query.push_opt("$select", input.optional_str("select")?);
    // Without a page size, ask for exactly maxItems when one page can hold them.
    let page_size = top.or((max_items > 0 && max_items <= MAX_RISKY_USERS_PAGE).then_some(max_items));
    query.push_opt("$top", page_size.map(|top| top.to_string()));
    let url = client.url("identityProtection/riskyUsers", &query);
    client.list(url, false, max_items).map_err(licence_hint)
}

fn confirm_compromised(client: &mut GraphClient, input: &Input) -> Result<Value> {
    change_risk(client, input, "confirmCompromised")
}

fn dismiss(client: &mut GraphClient, input: &Input) -> Result<Value> {
    change_risk(client, input, "dismiss")
}

/// `POST /identityProtection/riskyUsers/{operation}` with `{"userIds"}`, [`USER_IDS_PER_CALL`]
/// ids a call, userPrincipalNames resolved first (one that does not resolve is failed and not
/// sent). Graph answers 204 for a whole call and does not say which id it refused, so every id
/// of a failed call is failed with that call's error. Setting a risk state twice has the
/// effect of setting it once, so a call is safe to send again.
fn change_risk(client: &mut GraphClient, input: &Input, operation: &str) -> Result<Value> {
    let ids = required_id_list(input, "userIds")?;
    let mut outcome = BulkOutcome::new();
    let targets = resolve_targets(client, ids, true, &mut outcome);
    let url = client.url(&format!("identityProtection/riskyUsers/{operation}"), &Query::new());
    for (index, chunk) in targets.chunks(USER_IDS_PER_CALL).enumerate() {
        if client.out_of_time() {
            outcome.not_attempted.extend(targets[index * USER_IDS_PER_CALL..].iter().map(Target::id));
            break;
        }
        // A name and the object id it resolves to are one user: sent once.
        let mut user_ids: Vec<&str> = Vec::with_capacity(chunk.len());
        for target in chunk {
            if !user_ids.contains(&target.object_id.as_str()) {
                user_ids.push(&target.object_id);
            }
        }
        let request = GraphRequest::new(Method::POST, url.clone()).json(json!({"userIds": user_ids})).idempotent();
        match client.send(&request) {
            Ok(_) => outcome.succeeded.extend(chunk.iter().map(Target::id)),
            Err(error) => {
                let error = licence_hint(error);
                outcome.failed.extend(chunk.iter().map(|target| (target.id(), error.clone())));
            }
        }
    }
    Ok(outcome.to_json())
}

/// A 403 from `identityProtection/*` may mean the tenant lacks the licence: the message says
/// so as a possible cause, keeping Graph's status, code and text.
fn licence_hint(error: ConnectorError) -> ConnectorError {
    if error.code != ErrorCode::Forbidden || error.status != Some(403) {
        return error;
    }
    ConnectorError {
        message: format!("{} (possible cause: the riskyUsers API needs Microsoft Entra ID P2)", error.message),
        ..error
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use serde_json::{json, Value};

    const BASE: &str = "https://graph.microsoft.com/v1.0";

    fn user(n: usize) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn forbidden() -> Value {
        json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
            "innerError": {"request-id": "7f3b1c0e-5f0a-4d1c-9d55-1a2b3c4d5e6f"}}})
    }

    #[test]
    fn list_builds_the_filter_from_levels_states_and_the_callers_filter() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": "u1", "riskLevel": "high"}]}))
            .respond(200, json!({"value": []}));
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"riskLevel": ["HIGH", "medium", "high"], "riskState": "atrisk",
            "filter": "userDisplayName eq 'O''Neil'", "select": "id,riskLevel", "maxItems": 0});
        let output = connector.invoke("risk.list-risky-users", &input.to_string()).unwrap();
        assert_eq!(output, json!({"value": [{"id": "u1", "riskLevel": "high"}]}));
        connector.invoke("risk.list-risky-users", &json!({"riskLevel": ["low"], "top": 50}).to_string()).unwrap();
        let sent = log.borrow();
        assert_eq!(
            sent[0].uri(),
            format!(
                "{BASE}/identityProtection/riskyUsers?$filter=(riskLevel%20eq%20microsoft.graph.riskLevel'high'%20or%20\
                 riskLevel%20eq%20microsoft.graph.riskLevel'medium')%20and%20riskState%20eq%20\
                 microsoft.graph.riskState'atRisk'%20and%20(userDisplayName%20eq%20'O''Neil')&$select=id,riskLevel"
            )
        );
        assert_eq!(sent[0].header_value("consistencylevel"), None);
        assert_eq!(
            sent[1].uri(),
            format!(
                "{BASE}/identityProtection/riskyUsers?$filter=riskLevel%20eq%20microsoft.graph.riskLevel'low'&$top=50"
            )
        );
    }

    #[test]
    fn list_without_options_asks_for_a_page_of_at_most_500() {
        let script = ScriptedTransport::new().respond(200, json!({"value": []})).respond(200, json!({"value": []}));
        let (mut connector, log) = connected(token_config(), script);
        connector.invoke("risk.list-risky-users", "{}").unwrap();
        connector.invoke("risk.list-risky-users", r#"{"maxItems": 20}"#).unwrap();
        let sent = log.borrow();
        assert_eq!(sent[0].uri(), format!("{BASE}/identityProtection/riskyUsers"));
        assert_eq!(sent[1].uri(), format!("{BASE}/identityProtection/riskyUsers?$top=20"));
    }

    #[test]
    fn list_refuses_unknown_levels_and_states_and_a_top_above_500() {
        for (input, expected) in [
            (json!({"riskLevel": "severe"}), "`riskLevel` must be one of low, medium, high, hidden, none (got `severe`)"),
            (json!({"riskState": ["atRisk", 3]}), "`riskState` must be a string or a list of strings"),
            (json!({"riskState": []}), "`riskState` must be one of atRisk, confirmedCompromised, remediated, dismissed, confirmedSafe, none, or a non-empty list of them"),
            (json!({"top": 501}), "`top` must be between 1 and 500"),
            (json!({"maxItems": -1}), "`maxItems` must be a whole number (0 or more)"),
        ] {
            let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
            let error = connector.invoke("risk.list-risky-users", &input.to_string()).unwrap_err();
            assert_eq!((error.code.as_str(), error.message.as_str()), ("invalid-input", expected), "{input}");
            assert!(log.borrow().is_empty());
        }
    }

    #[test]
    fn a_403_names_the_p2_licence_as_a_possible_cause_and_keeps_graphs_answer() {
        let script = ScriptedTransport::new().respond(403, forbidden());
        let (mut connector, _) = connected(token_config(), script);
        let error = connector.invoke("risk.list-risky-users", "{}").unwrap_err();
        assert_eq!(error.code.as_str(), "forbidden");
        assert_eq!((error.status, error.graph_code.as_deref()), (Some(403), Some("Authorization_RequestDenied")));
        assert_eq!(
            error.message,
            "Insufficient privileges to complete the operation. (possible cause: the riskyUsers API needs Microsoft Entra ID P2)"
        );
        assert_eq!(error.request_id.as_deref(), Some("7f3b1c0e-5f0a-4d1c-9d55-1a2b3c4d5e6f"));
    }

    #[test]
    fn dismiss_resolves_names_sends_60_ids_a_call_and_fails_every_id_of_a_refused_call() {
        let mut given: Vec<String> = vec!["adele@contoso.com".to_string(), "nobody@contoso.com".to_string()];
        given.extend((1..=125).map(user));
        given.push(user(7));
        let script = ScriptedTransport::new()
            .respond(200, json!({"id": user(500)}))
            .respond(404, json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource 'nobody@contoso.com' does not exist."}}))
            .respond(204, Value::Null)
            .respond(403, forbidden())
            .respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let output = connector.invoke("risk.dismiss", &json!({"userIds": given}).to_string()).unwrap();
        let sent = log.borrow();
        assert_eq!(sent.len(), 5);
        assert_eq!(sent[0].uri(), format!("{BASE}/users/adele@contoso.com?$select=id"));
        for request in &sent[2..] {
            assert_eq!(
                (request.method().as_str(), request.uri()),
                ("POST", &*format!("{BASE}/identityProtection/riskyUsers/dismiss"))
            );
            assert_eq!(request.header_value("content-type"), Some("application/json"));
        }
        let first: Vec<String> = std::iter::once(user(500)).chain((1..=59).map(user)).collect();
        assert_eq!(body_json(&sent[2]), json!({"userIds": first}));
        assert_eq!(body_json(&sent[3]), json!({"userIds": (60..=119).map(user).collect::<Vec<_>>()}));
        assert_eq!(body_json(&sent[4]), json!({"userIds": (120..=125).map(user).collect::<Vec<_>>()}));

        let succeeded: Vec<String> =
            std::iter::once("adele@contoso.com".to_string()).chain((1..=59).chain(120..=125).map(user)).collect();
        assert_eq!(output["success"], json!(false));
        assert_eq!(output["succeeded"], json!(succeeded));
        let failed = output["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 1 + 60);
        assert_eq!(
            (failed[0]["id"].as_str(), failed[0]["error"]["code"].as_str()),
            (Some("nobody@contoso.com"), Some("not-found"))
        );
        let refused: Vec<&str> = failed[1..].iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(refused, (60..=119).map(user).collect::<Vec<_>>());
        for item in &failed[1..] {
            assert_eq!(item["error"]["code"], json!("forbidden"));
            assert!(item["error"]["message"]
                .as_str()
                .unwrap()
                .ends_with("the riskyUsers API needs Microsoft Entra ID P2)"));
        }
    }

    #[test]
    fn confirm_compromised_sends_a_name_and_its_object_id_once() {
        let script = ScriptedTransport::new().respond(200, json!({"id": user(1)})).respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let output = connector
            .invoke("risk.confirm-compromised", &json!({"userIds": ["adele@contoso.com", user(1)]}).to_string())
            .unwrap();
        let sent = log.borrow();
        assert_eq!(sent[1].uri(), format!("{BASE}/identityProtection/riskyUsers/confirmCompromised"));
        assert_eq!(body_json(&sent[1]), json!({"userIds": [user(1)]}));
        assert_eq!(output, json!({"success": true, "succeeded": ["adele@contoso.com", user(1)], "failed": []}));
    }

    #[test]
    fn risk_changes_refuse_bad_ids_before_any_request() {
        for (input, expected) in [
            (json!({}), "`userIds` is required and must name at least one id"),
            (json!({"userIds": ""}), "`userIds` is required and must name at least one id"),
            (json!({"userIds": ["a", "."]}), "`userIds[1]` must not be `.`: a dot segment is not an id"),
            (json!({"userIds": 5}), "`userIds` must be a list of ids or a comma-separated string of ids"),
        ] {
            for action in ["risk.confirm-compromised", "risk.dismiss"] {
                let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
                let error = connector.invoke(action, &input.to_string()).unwrap_err();
                assert_eq!(
                    (error.code.as_str(), error.message.as_str()),
                    ("invalid-input", expected),
                    "{action} {input}"
                );
                assert!(log.borrow().is_empty());
            }
        }
    }

    #[test]
    fn a_dry_run_plans_each_call_as_a_change_not_a_create() {
        let script = ScriptedTransport::new().respond(200, json!({"id": user(1)}));
        let (mut connector, log) = connected(token_config(), script);
        let options = crate::connector::InvokeOptions { dry_run: true, ..Default::default() };
        let output = connector
            .invoke_with(
                "risk.confirm-compromised",
                &json!({"userIds": ["adele@contoso.com", user(2)]}).to_string(),
                &options,
            )
            .unwrap();
        assert_eq!(log.borrow().len(), 1, "only the name lookup is sent");
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [{"method": "POST",
                "url": format!("{BASE}/identityProtection/riskyUsers/confirmCompromised"),
                "body": {"userIds": [user(1), user(2)]}}]})
        );
        let (mut connector, _) = connected(token_config(), ScriptedTransport::new());
        let output =
            connector.invoke_with("risk.dismiss", &json!({"userIds": [user(3)]}).to_string(), &options).unwrap();
        assert_eq!(output["plan"][0]["url"], json!(format!("{BASE}/identityProtection/riskyUsers/dismiss")));
        assert_eq!(output["plan"][0].get("returns"), None);
    }
}
