//! A replay run as a JUnit XML report (`replay --junit FILE`), the format CI systems
//! (GitLab, Jenkins, GitHub test reporters) display: one `testsuite`, one `testcase` per
//! fixture, a `failure` holding the same text the terminal report prints for it.

use crate::replay::report::{render_outcome, FixtureOutcome, ReplayReport};
use std::fmt::Write as _;

/// The name of the one test suite.
const SUITE_NAME: &str = "connector-host replay";

/// The report as JUnit XML.
pub fn render_junit(report: &ReplayReport) -> String {
    let total: f64 = report.outcomes.iter().map(|outcome| outcome.wall_time.as_secs_f64()).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"{SUITE_NAME}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{total:.3}\">",
        report.outcomes.len(),
        report.failed()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{SUITE_NAME}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{total:.3}\">",
        report.outcomes.len(),
        report.failed()
    );
    for outcome in &report.outcomes {
        xml.push_str(&testcase(outcome));
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn testcase(outcome: &FixtureOutcome) -> String {
    let mut xml = String::new();
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
        escape(&outcome.name),
        escape(&class_name(outcome)),
        outcome.wall_time.as_secs_f64()
    );
    if let Some(path) = &outcome.path {
        let _ = write!(xml, " file=\"{}\"", escape(&path.display().to_string()));
    }
    let Some(first) = outcome.differences.first() else {
        xml.push_str("/>\n");
        return xml;
    };
    let message = format!("{}: {}", first.context, first.summary);
    let _ = writeln!(xml, ">");
    let _ = writeln!(
        xml,
        "      <failure message=\"{}\" type=\"fixture mismatch\">{}</failure>",
        escape(&message),
        escape(&render_outcome(outcome))
    );
    xml.push_str("    </testcase>\n");
    xml
}

/// The fixture's folder with dots (`fixtures.users`), as JUnit's class names group tests.
fn class_name(outcome: &FixtureOutcome) -> String {
    let folder = outcome.path.as_ref().and_then(|path| path.parent()).map(|parent| {
        parent
            .components()
            .filter_map(|component| match component {
                std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(".")
    });
    match folder {
        Some(folder) if !folder.is_empty() => folder,
        _ => "fixtures".to_string(),
    }
}

/// Text as XML 1.0 character data or attribute value: the five special characters as
/// entities, and characters XML 1.0 cannot carry at all (most control characters) as `?`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(character),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::report::Difference;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn passes_and_failures_become_testcases_with_escaped_text() {
        let outcome = |name: &str, differences: Vec<Difference>| FixtureOutcome {
            name: name.to_string(),
            path: Some(PathBuf::from("fixtures/users/x.json")),
            differences,
            virtual_time: Duration::ZERO,
            wall_time: Duration::from_millis(1250),
            steps: Vec::new(),
        };
        let report = ReplayReport {
            outcomes: vec![
                outcome("users.get <ok>", vec![]),
                outcome(
                    "R&D \"list\"",
                    vec![Difference::new("step 1 (users.list)", "output differs\u{1}")
                        .with_details(vec!["$.a: expected 1, found 2".into()])],
                ),
            ],
        };
        let xml = render_junit(&report);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"connector-host replay\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"2.500\">\n"), "{xml}");
        assert!(xml.contains(
            "    <testcase name=\"users.get &lt;ok&gt;\" classname=\"fixtures.users\" time=\"1.250\" file=\"fixtures/users/x.json\"/>\n"
        ), "{xml}");
        assert!(xml.contains(
            "      <failure message=\"step 1 (users.list): output differs?\" type=\"fixture mismatch\">FAILED R&amp;D &quot;list&quot; (fixtures/users/x.json) (0ms virtual)\n"
        ), "{xml}");
        assert!(xml.contains("        $.a: expected 1, found 2\n</failure>\n    </testcase>\n"), "{xml}");
        assert!(xml.ends_with("  </testsuite>\n</testsuites>\n"));
    }
}
