//! The catalog the component reports is the one `../shared/ACTIONS.md` promises: every
//! id and no other, each with permissions and real input and output schemas, and each
//! exercised by fixtures that expect an output and fixtures that expect an error.

use crate::support::workspace;
use connector_host::replay::collect_fixture_files;
use connector_host::replay::fixture::{Expectation, Fixture};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::OnceLock;

/// Every action id of `../shared/ACTIONS.md`, in its order. Ids never change once
/// shipped, so this list is the contract itself, not a copy that could drift.
const CONTRACT_ACTION_IDS: &[&str] = &[
    "users.create",
    "users.update",
    "users.delete",
    "users.get",
    "users.list",
    "users.delta",
    "users.assign-licenses",
    "users.list-licenses",
    "users.list-memberships",
    "users.get-member-groups",
    "users.check-member-groups",
    "users.list-owned-devices",
    "users.reset-mfa",
    "users.change-password",
    "users.reset-password",
    "users.assign-manager",
    "users.get-manager",
    "users.revoke-sessions",
    "users.get-presence",
    "groups.create",
    "groups.get",
    "groups.update",
    "groups.delete",
    "groups.list",
    "groups.list-members",
    "groups.add-members",
    "groups.remove-members",
    "groups.list-owners",
    "groups.add-owners",
    "guests.invite",
    "guests.add-sponsor",
    "devices.get",
    "devices.list",
    "devices.delete",
    "devices.add-registered-owner",
    "workbook.add-row",
    "workbook.fetch-rows",
    "workbook.update-row",
    "workbook.add-worksheet",
    "sites.get",
    "sites.create-list",
    "sites.list-items",
    "graph.request",
    "users.disable",
    "users.enable",
    "users.list-auth-methods",
    "users.create-temporary-access-pass",
    "users.list-direct-reports",
    "users.list-transitive-memberships",
    "users.list-deleted",
    "users.restore",
    "users.list-sign-ins",
    "audit.list-directory-audits",
    "risk.list-risky-users",
    "risk.confirm-compromised",
    "risk.dismiss",
    "roles.list-definitions",
    "roles.list-assignments",
    "roles.assign",
    "roles.remove-assignment",
    "groups.remove-owners",
    "groups.list-transitive-members",
    "groups.delta",
    "devices.disable",
    "devices.enable",
];

/// What `connector-host actions --json` lists, run once for this module's tests.
fn listed_actions() -> &'static [Value] {
    static ACTIONS: OnceLock<Vec<Value>> = OnceLock::new();
    ACTIONS.get_or_init(|| {
        let output = Command::new(env!("CARGO_BIN_EXE_connector-host"))
            .args(["actions", "--json"])
            .current_dir(workspace())
            .output()
            .expect("running connector-host actions --json");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        match serde_json::from_slice(&output.stdout) {
            Ok(Value::Array(actions)) => actions,
            other => panic!("actions --json did not print a JSON array: {other:?}"),
        }
    })
}

fn action_id(action: &Value) -> &str {
    action["id"].as_str().unwrap_or_else(|| panic!("an action without a string id: {action}"))
}

#[test]
fn the_catalog_lists_every_contract_id_and_no_other() {
    let listed: BTreeSet<&str> = listed_actions().iter().map(action_id).collect();
    let contract: BTreeSet<&str> = CONTRACT_ACTION_IDS.iter().copied().collect();
    let missing: Vec<_> = contract.difference(&listed).collect();
    let unexpected: Vec<_> = listed.difference(&contract).collect();
    assert!(missing.is_empty() && unexpected.is_empty(), "missing: {missing:?}; not in ACTIONS.md: {unexpected:?}");
    assert_eq!(listed.len(), listed_actions().len(), "an id is listed twice");
}

#[test]
fn every_action_names_its_permissions_and_real_schemas() {
    let mut problems = Vec::new();
    for action in listed_actions() {
        let id = action_id(action);
        let permissions = action["permissions"].as_array().map(Vec::as_slice).unwrap_or_default();
        if permissions.is_empty() || permissions.iter().any(|permission| permission.as_str().is_none_or(str::is_empty))
        {
            problems
                .push(format!("{id}: permissions must be a non-empty list of names, got {}", action["permissions"]));
        }
        problems.extend(input_schema_problems(&action["inputSchema"]).into_iter().map(|p| format!("{id}: input {p}")));
        problems
            .extend(output_schema_problems(&action["outputSchema"]).into_iter().map(|p| format!("{id}: output {p}")));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// An input schema is an object with properties, whose required members all exist.
fn input_schema_problems(schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if schema["type"] != "object" {
        problems.push(format!("schema type is {}, not \"object\"", schema["type"]));
    }
    let Some(properties) = schema["properties"].as_object() else {
        problems.push("schema has no `properties` object".into());
        return problems;
    };
    if properties.is_empty() {
        problems.push("schema lists no properties".into());
    }
    match &schema["required"] {
        Value::Null => {}
        Value::Array(required) => {
            for name in required {
                match name.as_str() {
                    Some(name) if properties.contains_key(name) => {}
                    _ => problems.push(format!("schema requires {name}, which is not among its properties")),
                }
            }
        }
        other => problems.push(format!("schema `required` is {other}, not a list")),
    }
    problems
}

/// An output schema is an object that says what it holds: properties, alternatives, or
/// a description of the entity it passes through.
fn output_schema_problems(schema: &Value) -> Vec<String> {
    if schema["type"] != "object" {
        return vec![format!("schema type is {}, not \"object\"", schema["type"])];
    }
    let says_what_it_holds = schema["properties"].as_object().is_some_and(|properties| !properties.is_empty())
        || ["oneOf", "anyOf"].iter().any(|keyword| schema[keyword].as_array().is_some_and(|list| !list.is_empty()))
        || schema["description"].as_str().is_some_and(|text| !text.trim().is_empty());
    if says_what_it_holds {
        Vec::new()
    } else {
        vec!["schema has neither properties, alternatives nor a description".into()]
    }
}

/// For each action id, the fixture files with a step of that action expecting an
/// output, and those with one expecting an error.
#[derive(Default)]
struct FixtureCoverage {
    output: BTreeSet<String>,
    error: BTreeSet<String>,
}

fn fixture_coverage() -> BTreeMap<String, FixtureCoverage> {
    let mut coverage: BTreeMap<String, FixtureCoverage> = BTreeMap::new();
    for file in collect_fixture_files(&[workspace().join("fixtures")]) {
        let path = file.unwrap_or_else(|(path, error)| panic!("{}: {error}", path.display()));
        let fixture = Fixture::load(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let name = path.strip_prefix(workspace()).unwrap_or(&path).display().to_string();
        for step in fixture.steps() {
            let entry = coverage.entry(step.action.clone()).or_default();
            match step.expect {
                Expectation::Output(_) => entry.output.insert(name.clone()),
                Expectation::Error(_) => entry.error.insert(name.clone()),
            };
        }
    }
    coverage
}

#[test]
fn every_contract_action_has_a_fixture_expecting_output_and_one_expecting_an_error() {
    let coverage = fixture_coverage();
    let mut gaps = Vec::new();
    for id in CONTRACT_ACTION_IDS {
        let entry = coverage.get(*id);
        if entry.is_none_or(|entry| entry.output.is_empty()) {
            gaps.push(format!("{id}: no fixture step expects an `output`"));
        }
        if entry.is_none_or(|entry| entry.error.is_empty()) {
            gaps.push(format!("{id}: no fixture step expects an `error`"));
        }
    }
    assert!(gaps.is_empty(), "fixtures/ lacks:\n{}", gaps.join("\n"));
}

#[test]
fn fixtures_only_invoke_actions_the_catalog_lists() {
    let listed: BTreeSet<&str> = listed_actions().iter().map(action_id).collect();
    let unknown: Vec<String> = fixture_coverage()
        .into_iter()
        .filter(|(id, _)| !listed.contains(id.as_str()))
        .filter(|(_, entry)| !entry.output.is_empty())
        .map(|(id, entry)| format!("{id} (in {})", entry.output.into_iter().collect::<Vec<_>>().join(", ")))
        .collect();
    assert!(unknown.is_empty(), "fixtures expect an output from actions the catalog does not list: {unknown:?}");
}
