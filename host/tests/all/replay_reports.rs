//! What `replay` reports besides its lines: a JUnit XML file for CI systems, a progress bar
//! that leaves piped output as it was, and, for a request no exchange matches, the closest
//! request of the fixture (WireMock's near-miss report).

use crate::support::{bad_fixture, workspace};
use std::path::PathBuf;
use std::process::Output;

fn host(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_connector-host")).args(args).output().unwrap()
}

fn describe(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("connector-host-{}-{name}", std::process::id()))
}

#[test]
fn junit_xml_lists_every_fixture_and_carries_each_failure() {
    let passing = workspace().join("fixtures/users/users.get.doc-example.json");
    let failing = bad_fixture("wrong-output.json");
    let report = temp_file("junit.xml");
    let output =
        host(&["replay", "--junit", report.to_str().unwrap(), passing.to_str().unwrap(), failing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let xml = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"connector-host replay\" tests=\"2\" failures=\"1\" errors=\"0\" time=\""), "{xml}");
    let passed = "<testcase name=\"users.get returns the user as Microsoft&apos;s example shows\" classname=\"";
    let passed_at = xml.find(passed).unwrap_or_else(|| panic!("{passed}\n{xml}"));
    let passed_line = xml[passed_at..].lines().next().unwrap();
    assert!(passed_line.contains("fixtures.users\" time=\""), "{passed_line}");
    assert!(passed_line.ends_with(&format!(" file=\"{}\"/>", passing.display())), "{passed_line}");
    let failed_at = xml
        .find("<testcase name=\"deliberately broken: the expected output names another user\"")
        .unwrap_or_else(|| panic!("{xml}"));
    let failure = &xml[failed_at..];
    assert!(failure.contains("\n      <failure message=\"step 1 (users.get): the output differs from the fixture&apos;s\" type=\"fixture mismatch\">FAILED deliberately broken"), "{failure}");
    assert_eq!(xml.matches("<failure ").count(), 1);
}

#[test]
fn progress_leaves_piped_output_as_it_was_and_names_the_slowest_fixtures() {
    let folder = workspace().join("fixtures/users");
    let plain = host(&["replay", folder.to_str().unwrap()]);
    let with_progress = host(&["replay", "--progress", folder.to_str().unwrap()]);
    assert!(plain.status.success() && with_progress.status.success(), "{}", describe(&with_progress));
    assert_eq!(with_progress.stdout, plain.stdout, "stdout is the same report, ending with the counts");
    let stderr = String::from_utf8_lossy(&with_progress.stderr);
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r'), "no bar is drawn off a terminal: {stderr:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], "slowest 5 fixture(s):", "{stderr}");
    assert_eq!(lines.len(), 6, "{stderr}");
    for line in &lines[1..] {
        assert!(line.contains(" users.") && line.contains("(") && line.ends_with(".json)"), "{line}");
    }
}

#[test]
fn a_request_no_exchange_matches_shows_the_closest_request_of_the_fixture() {
    let fixture = temp_file("near-miss.json");
    std::fs::write(
        &fixture,
        r#"{"name": "the expected request has another id", "connection": {"auth": "accessToken", "accessToken": "t"},
            "steps": [{"action": "users.get", "input": {"userId": "abc"},
              "exchanges": [
                {"request": {"method": "GET", "url": "https://graph.microsoft.com/v1.0/users/xyz"},
                 "response": {"status": 200, "body": {"id": "xyz"}}},
                {"request": {"method": "GET", "url": "https://graph.microsoft.com/v1.0/users/abc?$select=id"},
                 "response": {"status": 200, "body": {"id": "abc"}}}],
              "expect": {"output": {"id": "abc"}}}]}"#,
    )
    .unwrap();
    let output = host(&["replay", fixture.to_str().unwrap()]);
    std::fs::remove_file(&fixture).unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = "        - url path: expected /v1.0/users/xyz, found /v1.0/users/abc\n";
    assert!(stdout.contains(expected), "{stdout}");
    let near_miss = "        closest request in the fixture: request 2 (step 1): GET https://graph.microsoft.com/v1.0/users/abc?$select=id\n          - url query: missing $select=id\n";
    assert!(stdout.contains(near_miss), "{stdout}");
}
