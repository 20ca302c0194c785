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

#[test]
fn an_input_of_twenty_megabytes_is_a_typed_error_naming_its_size() {
    let dir = std::env::temp_dir().join(format!("connector-host-big-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.json");
    let padding = "p".repeat(20 * 1024 * 1024);
    std::fs::write(&input, format!(r#"{{"userId":"abc","padding":"{padding}"}}"#)).unwrap();
    let at_file = format!("@{}", input.display());
    // No request can be sent: the Graph host is a closed loopback port.
    let config = r#"{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:9/v1.0"}"#;
    let output = host(&["invoke", "--config", config, "--action", "users.get", "--input", &at_file]);
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error: Value = serde_json::from_str(&stderr).unwrap_or_else(|_| panic!("not a typed error: {stderr}"));
    assert_eq!(error["code"], "invalid-input");
    assert!(error["message"].as_str().unwrap().starts_with("the input is 20971"), "{error}");
}

#[test]
fn invoke_names_settings_that_are_not_an_object_and_never_shows_them() {
    let secret = "hunter2-Cl1ent-Secret";
    let settings =
        serde_json::json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "app", "clientSecret": secret});
    let double_encoded = Value::String(settings.to_string()).to_string();
    let array = serde_json::json!([settings]).to_string();
    let directory = std::env::temp_dir().join(format!("connector-host-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let (string_file, array_file) = (directory.join("string.json"), directory.join("array.json"));
    std::fs::write(&string_file, &double_encoded).unwrap();
    std::fs::write(&array_file, &array).unwrap();
    for (config, kind) in [
        (double_encoded.as_str(), "a string"),
        (array.as_str(), "an array"),
        (string_file.to_str().unwrap(), "a string"),
        (array_file.to_str().unwrap(), "an array"),
    ] {
        let output = host(&["invoke", "--no-cache", "--config", config, "--action", "users.get"]);
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("expected a JSON object, found {kind}")), "{stderr}");
        assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"), "{stderr}");
    }
    // The action input gets the same treatment: it may hold a password.
    let output = host(&["invoke", "--no-cache", "--config", &string_file.to_string_lossy(), "--input", &array]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let output = host(&["invoke", "--no-cache", "--config", "{}", "--action", "users.get", "--input", &array]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("expected a JSON object, found an array"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    std::fs::remove_dir_all(&directory).unwrap();
}
