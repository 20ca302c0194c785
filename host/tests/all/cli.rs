//! The binary's subcommands print what they promise.

use crate::support::{bad_fixture, workspace};
use serde_json::Value;
use std::process::{Command, Output};

fn host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_connector-host")).args(args).current_dir(workspace()).output().unwrap()
}

#[test]
fn replay_ends_with_the_counts_and_fails_when_a_fixture_fails() {
    let bad = bad_fixture("wrong-output.json");
    let good = workspace().join("fixtures/users/users.get.doc-example.json");
    let output = host(&["replay", good.to_str().unwrap(), bad.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.lines().next().unwrap().starts_with("ok users.get"), "{stdout}");
    assert!(stdout.contains("\nFAILED deliberately broken"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 1 failed"), "{stdout}");
}

#[test]
fn actions_json_lists_descriptors_with_camel_case_keys_and_parsed_schemas() {
    let output = host(&["actions", "--json"]);
    assert!(output.status.success());
    let actions: Value = serde_json::from_slice(&output.stdout).unwrap();
    let get =
        actions.as_array().unwrap().iter().find(|action| action["id"] == "users.get").expect("users.get is listed");
    assert_eq!(get["readOnly"], true);
    assert_eq!(get["category"], "users");
    assert!(get["inputSchema"].is_object(), "{get}");
    assert!(get["permissions"].is_array(), "{get}");
}

#[test]
fn actions_prints_a_table_with_a_header() {
    let output = host(&["actions"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("ID "), "{stdout}");
    assert!(stdout.lines().any(|line| line.starts_with("users.get ") && line.contains("yes")), "{stdout}");
}

#[test]
fn demo_walks_through_the_onboarding_scenario() {
    let output = host(&["demo"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Step 1: "), "{stdout}");
    assert!(stdout.contains("  -> POST https://graph.microsoft.com/v1.0/users"), "{stdout}");
    assert!(stdout.lines().last().unwrap().starts_with("ok "), "{stdout}");
}
