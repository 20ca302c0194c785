//! `docs/actions.md` is exactly what `connector-host actions --markdown` prints for the
//! embedded component, and `docs/openapi.json` what `connector-host actions --openapi` prints,
//! so the documentation cannot drift from the catalog.

use crate::support::workspace;
use connector_host::cli::catalog_docs::REGENERATE_COMMAND;
use std::process::Command;

/// The checked-in catalog documentation, relative to the workspace root.
const CATALOG_DOCS: &str = "docs/actions.md";

#[test]
fn checked_in_catalog_docs_match_what_the_component_reports() {
    assert_generated_file_is_current(CATALOG_DOCS, "--markdown", REGENERATE_COMMAND);
}

#[test]
fn checked_in_openapi_document_matches_what_the_component_reports() {
    let document = std::fs::read_to_string(workspace().join(OPENAPI_DOCUMENT)).unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_str(&document).unwrap_or_default();
    assert_eq!(parsed["openapi"], "3.1.0", "{OPENAPI_DOCUMENT} is an OpenAPI 3.1 document");
    assert_generated_file_is_current(OPENAPI_DOCUMENT, "--openapi", connector_host::serve::openapi::REGENERATE_COMMAND);
}

/// The OpenAPI document of `serve`, relative to the workspace root.
const OPENAPI_DOCUMENT: &str = "docs/openapi.json";

/// Fails, naming the first difference and the command to run, unless `file` is exactly what
/// `connector-host actions <flag>` prints.
fn assert_generated_file_is_current(file: &str, flag: &str, regenerate: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["actions", flag])
        .current_dir(workspace())
        .output()
        .expect("running connector-host actions");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reported = String::from_utf8(output.stdout).expect("the output is UTF-8");
    let checked_in = std::fs::read_to_string(workspace().join(file)).unwrap_or_else(|error| {
        panic!("{file} cannot be read ({error}); generate it from the workspace root with:\n    {regenerate}")
    });
    if let Some(difference) = first_difference(&checked_in, &reported) {
        panic!(
            "{file} differs from what the component's list-actions reports.\n{difference}\n\
             Regenerate it from the workspace root with:\n    {regenerate}\n\
             and review the change with `git diff {file}`."
        );
    }
}

/// The first line where `checked_in` and `reported` differ, both versions shown.
fn first_difference(checked_in: &str, reported: &str) -> Option<String> {
    if checked_in == reported {
        return None;
    }
    let mut checked_in_lines = checked_in.lines();
    let mut reported_lines = reported.lines();
    let mut number = 1;
    loop {
        match (checked_in_lines.next(), reported_lines.next()) {
            (Some(old), Some(new)) if old == new => number += 1,
            (None, None) => return Some("The lines are equal; the line endings or the final newline differ.".into()),
            (old, new) => {
                let show = |line: Option<&str>| line.map_or_else(|| "(end of file)".to_string(), str::to_string);
                return Some(format!(
                    "First difference at line {number}:\n  checked in: {}\n  reported:   {}",
                    show(old),
                    show(new)
                ));
            }
        }
    }
}

#[test]
fn a_stale_line_is_pointed_out_with_both_versions() {
    let difference = first_difference("a\nb\nc\n", "a\nB\nc\n").expect("a difference");
    assert!(difference.contains("line 2"), "{difference}");
    assert!(difference.contains("checked in: b") && difference.contains("reported:   B"), "{difference}");
    assert!(first_difference("a\n", "a\n").is_none());
    assert!(first_difference("a\n", "a\nb\n").expect("a difference").contains("checked in: (end of file)"));
    let newline = first_difference("a", "a\n").expect("a missing final newline is a difference too");
    assert!(newline.contains("final newline"), "{newline}");
}
