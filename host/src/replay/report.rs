//! What a replay found, and how it is printed: one line per fixture (`ok` or `FAILED`),
//! the differences indented under each failure, and a last line `N passed, N failed`.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// The outcome of replaying one fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureOutcome {
    /// The fixture's name (its path when it could not be parsed).
    pub name: String,
    /// The fixture file, when it came from one.
    pub path: Option<PathBuf>,
    /// Everything that did not match; empty when the fixture passed.
    pub differences: Vec<Difference>,
    /// How much virtual time the scenario took (waits the component made).
    pub virtual_time: Duration,
    /// How long replaying it took on the wall clock (reading, instantiating, running).
    pub wall_time: Duration,
    /// What each step did, for the demo.
    pub steps: Vec<StepRecord>,
}

impl FixtureOutcome {
    /// A fixture that failed before it could run (unreadable, not a fixture).
    pub fn broken(name: String, path: Option<PathBuf>, problem: String) -> Self {
        Self {
            name,
            path,
            differences: vec![Difference::new("fixture", problem)],
            virtual_time: Duration::ZERO,
            wall_time: Duration::ZERO,
            steps: Vec::new(),
        }
    }

    /// Whether everything matched.
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }
}

/// One thing that did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where: `connect`, `step 2 (users.get)`, `fixture`.
    pub context: String,
    /// What, in one sentence.
    pub summary: String,
    /// Supporting lines: the individual mismatches, expected and actual side by side.
    pub details: Vec<String>,
}

impl Difference {
    /// A difference without details.
    pub fn new(context: impl Into<String>, summary: impl Into<String>) -> Self {
        Self { context: context.into(), summary: summary.into(), details: Vec::new() }
    }

    /// Adds supporting lines.
    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The action id.
    pub action: String,
    /// The input given.
    pub input: Value,
    /// The requests the component made, in order.
    pub requests: Vec<RequestRecord>,
    /// What the step returned; `None` when it did not run.
    pub result: Option<StepResult>,
}

/// What a step returned.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    /// The output JSON.
    Output(Value),
    /// The typed error as JSON.
    Error(Value),
    /// The host failed (trap, deadline, memory limit), with its message.
    HostFailure(String),
}

/// One request a component made during replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// What became of it.
    pub outcome: RequestOutcome,
}

/// What became of a request during replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Answered from the fixture with this status.
    Answered(u16),
    /// Refused, for this reason (not allowed, not in the fixture).
    Refused(String),
}

/// The outcomes of a whole replay run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplayReport {
    /// One outcome per fixture, in the order the files were listed.
    pub outcomes: Vec<FixtureOutcome>,
}

impl ReplayReport {
    /// How many fixtures passed.
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|outcome| outcome.passed()).count()
    }

    /// How many fixtures failed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }

    /// True when no fixture failed.
    pub fn success(&self) -> bool {
        self.failed() == 0
    }

    /// The `count` fixtures that took longest on the wall clock, slowest first.
    pub fn slowest(&self, count: usize) -> Vec<&FixtureOutcome> {
        let mut outcomes: Vec<&FixtureOutcome> = self.outcomes.iter().collect();
        outcomes.sort_by(|a, b| b.wall_time.cmp(&a.wall_time).then_with(|| a.name.cmp(&b.name)));
        outcomes.truncate(count);
        outcomes
    }

    /// The slowest fixtures as lines for a terminal: `  1.2s  name (path)`.
    pub fn render_slowest(&self, count: usize) -> String {
        let mut text = format!("slowest {} fixture(s):\n", count.min(self.outcomes.len()));
        for outcome in self.slowest(count) {
            let _ = write!(text, "  {:>8}  {}", format_duration(outcome.wall_time), outcome.name);
            if let Some(path) = &outcome.path {
                let _ = write!(text, " ({})", path.display());
            }
            text.push('\n');
        }
        text
    }

    /// The whole report: each outcome, then the summary line.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for outcome in &self.outcomes {
            text.push_str(&render_outcome(outcome));
        }
        text.push_str(&summary_line(self.passed(), self.failed()));
        text.push('\n');
        text
    }
}

/// The last line of a report.
pub fn summary_line(passed: usize, failed: usize) -> String {
    format!("{passed} passed, {failed} failed")
}

/// One fixture's lines: `ok <name>` or `FAILED <name>` with its file and differences.
pub fn render_outcome(outcome: &FixtureOutcome) -> String {
    let mut text = String::new();
    let virtual_time = format_duration(outcome.virtual_time);
    if outcome.passed() {
        let _ = writeln!(text, "ok {} ({virtual_time} virtual)", outcome.name);
        return text;
    }
    let _ = write!(text, "FAILED {}", outcome.name);
    if let Some(path) = outcome.path.as_ref().filter(|path| path.display().to_string() != outcome.name) {
        let _ = write!(text, " ({})", path.display());
    }
    let _ = writeln!(text, " ({virtual_time} virtual)");
    for difference in &outcome.differences {
        let _ = writeln!(text, "    {}: {}", difference.context, difference.summary);
        for detail in &difference.details {
            let _ = writeln!(text, "        {detail}");
        }
    }
    text
}

/// `250ms`, `1.5s`, `30s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        let text = format!("{:.3}", duration.as_secs_f64());
        format!("{}s", text.trim_end_matches('0'))
    }
}

/// The demo's readable account of a replayed scenario: each step's action, input,
/// requests with their statuses, and result; then the `ok`/`FAILED` line.
pub fn render_walkthrough(outcome: &FixtureOutcome) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "Scenario: {}", outcome.name);
    for (index, step) in outcome.steps.iter().enumerate() {
        let _ = writeln!(text);
        let _ = writeln!(text, "Step {}: {}", index + 1, step.action);
        let _ = writeln!(text, "  input: {}", indent_json(&step.input, "  "));
        for request in &step.requests {
            let outcome = match &request.outcome {
                RequestOutcome::Answered(status) => status.to_string(),
                RequestOutcome::Refused(why) => format!("refused ({why})"),
            };
            let _ = writeln!(text, "  -> {} {}  <- {outcome}", request.method, request.url);
        }
        match &step.result {
            Some(StepResult::Output(output)) => {
                let _ = writeln!(text, "  output: {}", indent_json(output, "  "));
            }
            Some(StepResult::Error(error)) => {
                let _ = writeln!(text, "  error: {}", indent_json(error, "  "));
            }
            Some(StepResult::HostFailure(message)) => {
                let _ = writeln!(text, "  host failure: {message}");
            }
            None => {
                let _ = writeln!(text, "  (not run)");
            }
        }
    }
    let _ = writeln!(text);
    text.push_str(&render_outcome(outcome));
    text
}

fn indent_json(value: &Value, indent: &str) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()).replace('\n', &format!("\n{indent}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, differences: Vec<Difference>) -> FixtureOutcome {
        FixtureOutcome {
            name: name.to_string(),
            path: Some(PathBuf::from("fixtures/x.json")),
            differences,
            virtual_time: Duration::from_millis(1500),
            wall_time: Duration::ZERO,
            steps: Vec::new(),
        }
    }

    #[test]
    fn the_report_ends_with_the_counts_alone_on_a_line() {
        let report = ReplayReport {
            outcomes: vec![
                outcome("passes", vec![]),
                outcome(
                    "fails",
                    vec![Difference::new("step 1 (users.get)", "output differs")
                        .with_details(vec!["$.id: expected \"1\", found \"2\"".into()])],
                ),
            ],
        };
        assert_eq!(
            report.render(),
            "ok passes (1.5s virtual)\n\
             FAILED fails (fixtures/x.json) (1.5s virtual)\n    \
             step 1 (users.get): output differs\n        \
             $.id: expected \"1\", found \"2\"\n\
             1 passed, 1 failed\n"
        );
        assert!(!report.success());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::ZERO), "0ms");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.25s");
    }
}
