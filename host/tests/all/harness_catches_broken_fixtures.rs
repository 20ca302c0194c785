//! The harness must fail fixtures that are wrong, and say why in a readable way.

use crate::support::{bad_fixture, runtime};
use connector_host::replay::report::{render_outcome, FixtureOutcome};
use connector_host::replay::{replay_file, ReplayOptions};

fn replay_bad(name: &str) -> (FixtureOutcome, String) {
    let outcome = replay_file(runtime(), &bad_fixture(name), &ReplayOptions::default());
    let text = render_outcome(&outcome);
    assert!(!outcome.passed(), "{name} should fail:\n{text}");
    assert!(text.starts_with("FAILED deliberately broken"), "{text}");
    assert!(text.contains(name), "the report names the file:\n{text}");
    (outcome, text)
}

#[test]
fn a_wrong_expected_output_fails_with_the_differing_member() {
    let (_, text) = replay_bad("wrong-output.json");
    assert!(text.contains("the output differs from the fixture's"), "{text}");
    assert!(text.contains(r#"$.displayName: expected "Megan Bowen", found "Adele Vance""#), "{text}");
}

#[test]
fn a_request_the_fixture_lacks_fails_as_an_extra_request() {
    let (_, text) = replay_bad("extra-request.json");
    assert!(text.contains("extra request 1"), "{text}");
    assert!(text.contains("expected: (no further request)"), "{text}");
    assert!(
        text.contains("actual:   GET https://graph.microsoft.com/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
        "{text}"
    );
}

#[test]
fn a_request_the_component_never_makes_fails_as_a_missing_request() {
    let (_, text) = replay_bad("missing-request.json");
    assert!(text.contains("missing request"), "{text}");
    assert!(
        text.contains(
            "expected: GET https://graph.microsoft.com/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd/manager"
        ),
        "{text}"
    );
    assert!(text.contains("actual:   (never sent)"), "{text}");
}

#[test]
fn a_request_that_differs_shows_expected_and_actual_side_by_side() {
    let (_, text) = replay_bad("mismatched-request.json");
    assert!(text.contains("does not match request 1 of the fixture"), "{text}");
    assert!(text.contains("- url query: missing $select=displayName"), "{text}");
    assert!(
        text.contains("expected: GET https://graph.microsoft.com/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd?$select=displayName"),
        "{text}"
    );
    assert!(
        text.contains("actual:   GET https://graph.microsoft.com/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd\n"),
        "{text}"
    );
    assert!(text.contains("expected: Bearer another-token"), "{text}");
    assert!(text.contains("actual:   Bearer test-token"), "{text}");
}

#[test]
fn a_file_that_is_not_a_fixture_fails_with_the_parse_error() {
    let directory = std::env::temp_dir().join(format!("connector-host-test-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("not-a-fixture.json");
    std::fs::write(&path, r#"{"name":"x","connection":{},"steps":[{"action":"a","input":{},"expect":{}}]}"#).unwrap();
    let outcome = replay_file(runtime(), &path, &ReplayOptions::default());
    let text = render_outcome(&outcome);
    assert!(text.starts_with("FAILED "), "{text}");
    assert!(text.contains("steps[0].expect: must hold exactly one of `output` or `error`"), "{text}");
    std::fs::remove_dir_all(&directory).ok();
}
