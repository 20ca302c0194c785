//! Replaying fixtures: each fixture gets a fresh instance on a current-thread tokio
//! runtime whose time is paused, so the component's waits jump ahead instead of
//! sleeping. Its outgoing requests are answered by a [`ReplaySession`] from the fixture,
//! in order, and every difference is collected into a [`FixtureOutcome`].

pub mod chaos;
pub mod fixture;
pub mod junit;
pub mod matcher;
pub mod report;

use crate::replay::chaos::{ChaosOptions, ChaosState, ChaosTally, HiddenWaits};
use crate::replay::fixture::{BodyMatch, Exchange, Expectation, Fixture, Scenario, Step};
use crate::replay::matcher::{json_differences, quote, quote_text, request_differences, ActualRequest};
use crate::replay::report::{
    Difference, FixtureOutcome, ReplayReport, RequestOutcome, RequestRecord, StepRecord, StepResult,
};
use crate::sandbox::clock::TimeSource;
use crate::sandbox::http_policy::{
    AllowedHosts, HostPattern, Interception, Interceptor, OutboundHttp, Route, SendFuture, VirtualClocks,
};
use crate::sandbox::runtime::{ConnectorError, Runtime};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Options of a replay run.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Hosts allowed besides the connection's cloud and the hosts the fixture addresses
    /// (`--allow-host`).
    pub allowed_hosts: AllowedHosts,
    /// Faults to inject in front of the fixtures' responses (`--chaos`), if any.
    pub chaos: Option<ChaosOptions>,
}

/// How replay answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayReply {
    /// With this response (the fixture's, or an injected fault's).
    Response(ReadyResponse),
    /// Not at all: the request is refused (`HttpRequestDenied`), its difference recorded.
    Refused,
    /// The connection drops before the request is delivered (an injected fault).
    ConnectionDropped,
}

/// A refused request (expected exchange, method, url), the position of its difference,
/// and how many times it came in a row.
type RefusalKey = ((Option<usize>, String, String), usize, usize);

/// Answers one fixture's requests, in order, and remembers every difference.
///
/// Exchanges are consumed in the order listed across all steps; a step may only use its
/// own exchanges (the ones of the first step are also open to `connect`). A request that
/// does not match the next exchange is refused (`HttpRequestDenied`) and reported with
/// the expected and the actual request side by side; exchanges left over at the end of
/// a step are reported as missing.
#[derive(Debug)]
pub struct ReplaySession {
    exchanges: Vec<Exchange>,
    /// Index one past the last exchange of each step.
    step_ends: Vec<usize>,
    next: usize,
    open_until: usize,
    context: String,
    requests_in_phase: usize,
    differences: Vec<Difference>,
    records: Vec<RequestRecord>,
    /// The last refused request (expected exchange, method, url), where its difference
    /// sits and how often it came, so retries do not repeat the report.
    last_refusal: Option<RefusalKey>,
    reported_exchanges: Vec<usize>,
    /// Faults injected in front of the fixture's responses, in a chaos run.
    chaos: Option<ChaosState>,
    /// Every request that reached the session, as sent (bodies included), in order.
    received: Vec<ActualRequest>,
}

impl ReplaySession {
    /// A session over the exchanges of every step of `fixture`.
    pub fn new(fixture: &Fixture) -> Self {
        let mut exchanges = Vec::new();
        let mut step_ends = Vec::new();
        for step in fixture.steps() {
            exchanges.extend(step.exchanges.iter().cloned());
            step_ends.push(exchanges.len());
        }
        Self {
            exchanges,
            step_ends,
            next: 0,
            open_until: 0,
            context: "connect".to_string(),
            requests_in_phase: 0,
            differences: Vec::new(),
            records: Vec::new(),
            last_refusal: None,
            reported_exchanges: Vec::new(),
            chaos: None,
            received: Vec::new(),
        }
    }

    /// A session that also injects faults in front of the fixture's responses.
    pub fn with_chaos(fixture: &Fixture, chaos: &ChaosOptions) -> Self {
        Self { chaos: Some(ChaosState::new(chaos, fixture)), ..Self::new(fixture) }
    }

    /// In a chaos run, the waits the component's clocks must leave out.
    pub fn hidden_waits(&self) -> Option<HiddenWaits> {
        self.chaos.as_ref().map(ChaosState::hidden_waits)
    }

    /// What chaos did in this session so far (empty without chaos).
    pub fn chaos_tally(&self) -> ChaosTally {
        self.chaos.as_ref().map(|chaos| chaos.tally().clone()).unwrap_or_default()
    }

    /// Answers a request: in a chaos run an injected fault may answer it first (and a
    /// retry is checked against the request the fault answered); otherwise as [`Self::answer`].
    pub fn reply(&mut self, actual: ActualRequest) -> ReplayReply {
        self.received.push(actual.clone());
        if let Some(chaos) = &mut self.chaos {
            let next = self.exchanges.get(self.next).filter(|_| self.next < self.open_until);
            let matches = next.is_some_and(|exchange| request_differences(&exchange.request, &actual).is_empty());
            let interception = chaos.intercept(&actual, next.map(|exchange| (self.next, exchange)), matches);
            if !interception.retry_differences.is_empty() {
                self.differences.push(
                    Difference::new(self.context.clone(), "the retry differs from the request the fault answered")
                        .with_details(interception.retry_differences),
                );
            }
            if let Some(fault) = interception.fault {
                let response = fault.response();
                self.records.push(RequestRecord {
                    method: actual.method,
                    url: actual.url,
                    outcome: match &response {
                        Some(response) => RequestOutcome::Answered(response.status),
                        None => RequestOutcome::Refused(format!("chaos: {fault}")),
                    },
                });
                return response.map_or(ReplayReply::ConnectionDropped, ReplayReply::Response);
            }
        }
        self.answer(actual).map_or(ReplayReply::Refused, ReplayReply::Response)
    }

    /// Every request that reached the session so far, exactly as the component sent it
    /// (for checks that look at what left the sandbox, such as secret scans).
    pub fn received_requests(&self) -> &[ActualRequest] {
        &self.received
    }

    /// Starts the `connect` phase: it may use the first step's exchanges.
    pub fn begin_connect(&mut self) {
        self.begin_phase("connect".to_string(), self.step_ends.first().copied().unwrap_or(0));
    }

    /// Starts step `index` (zero-based) running `action`.
    pub fn begin_step(&mut self, index: usize, action: &str) {
        let end = self.step_ends.get(index).copied().unwrap_or(self.exchanges.len());
        self.begin_phase(format!("step {} ({action})", index + 1), end);
    }

    fn begin_phase(&mut self, context: String, open_until: usize) {
        self.context = context;
        self.open_until = open_until;
        self.requests_in_phase = 0;
        self.last_refusal = None;
    }

    /// Ends the current phase and returns the requests it made. At the end of a step,
    /// exchanges of that step the component never asked for are reported as missing.
    pub fn end_phase(&mut self, check_missing: bool) -> Vec<RequestRecord> {
        if let Some(fault) = self.chaos.as_mut().and_then(ChaosState::end_phase) {
            self.differences.push(Difference::new(
                self.context.clone(),
                format!("the component did not retry after an injected fault ({fault})"),
            ));
        }
        if check_missing {
            while self.next < self.open_until {
                let index = self.next;
                self.next += 1;
                if self.reported_exchanges.contains(&index) {
                    continue;
                }
                let expected = &self.exchanges[index].request;
                let mut details = vec![format!(
                    "the fixture lists request {} ({} {}) but the component never sent it",
                    index + 1,
                    expected.method,
                    expected.url
                )];
                details.extend(side_by_side(Some(&self.exchanges[index]), None));
                self.differences.push(Difference::new(self.context.clone(), "missing request").with_details(details));
            }
        }
        std::mem::take(&mut self.records)
    }

    /// Notes a request the allowlist refused before it reached the session.
    pub fn note_refused(&mut self, method: &str, url: &str) {
        self.records.push(RequestRecord {
            method: method.to_string(),
            url: url.to_string(),
            outcome: RequestOutcome::Refused("host not allowed".to_string()),
        });
    }

    /// Answers a request from the fixture, or records why it cannot and returns `None`.
    pub fn answer(&mut self, actual: ActualRequest) -> Option<ReadyResponse> {
        self.requests_in_phase += 1;
        let ordinal = self.requests_in_phase;
        if self.next >= self.open_until {
            self.refuse(&actual, "not in the fixture");
            let context = self.context.clone();
            let near_miss = self.near_miss(&actual, None);
            self.report(None, &actual, || {
                let mut details = side_by_side(None, Some(&actual));
                details.extend(near_miss);
                Difference::new(context, format!("extra request {ordinal}: the fixture lists no further request here"))
                    .with_details(details)
            });
            return None;
        }
        let index = self.next;
        let exchange = &self.exchanges[index];
        let differences = request_differences(&exchange.request, &actual);
        if differences.is_empty() {
            self.next += 1;
            let response = exchange.response.wire().clone();
            self.records.push(RequestRecord {
                method: actual.method,
                url: actual.url,
                outcome: RequestOutcome::Answered(response.status),
            });
            return Some(response);
        }
        let mut details: Vec<String> = differences.into_iter().map(|d| format!("- {d}")).collect();
        details.extend(side_by_side(Some(exchange), Some(&actual)));
        details.extend(self.near_miss(&actual, Some(index)));
        let difference = Difference::new(
            self.context.clone(),
            format!("request {ordinal} does not match request {} of the fixture", index + 1),
        )
        .with_details(details);
        self.reported_exchanges.push(index);
        self.refuse(&actual, "does not match the fixture");
        self.report(Some(index), &actual, || difference);
        None
    }

    /// The fixture's request closest to one that matched none, as WireMock's near-miss
    /// report shows it: the same method and path count most, then the fewest query
    /// differences, then the fewest header and body ones. Nothing when the closest is
    /// `shown` (the expected request, already side by side) or nothing is close at all
    /// (neither method nor path in common).
    fn near_miss(&self, actual: &ActualRequest, shown: Option<usize>) -> Vec<String> {
        let closest = self
            .exchanges
            .iter()
            .enumerate()
            .map(|(index, exchange)| {
                let differences = request_differences(&exchange.request, actual);
                let count = |prefixes: &[&str]| {
                    differences.iter().filter(|line| prefixes.iter().any(|prefix| line.starts_with(prefix))).count()
                };
                let method_and_path = count(&["method:", "url scheme:", "url host:", "url path:", "url:"]);
                let query = count(&["url query:"]);
                let rest = differences.len() - method_and_path - query;
                ((method_and_path, query, rest, index), differences)
            })
            .min_by_key(|(rank, _)| *rank);
        let Some(((method_and_path, _, _, index), differences)) = closest else {
            return Vec::new();
        };
        if Some(index) == shown || method_and_path >= 2 {
            return Vec::new();
        }
        let request = &self.exchanges[index].request;
        let step = self.step_ends.iter().position(|&end| index < end).map_or(0, |step| step + 1);
        let mut lines = vec![format!(
            "closest request in the fixture: request {} (step {step}): {} {}",
            index + 1,
            request.method,
            request.url
        )];
        if differences.is_empty() {
            lines.push("  (it matches, but is not the next one the fixture lists here)".to_string());
        }
        lines.extend(differences.into_iter().map(|difference| format!("  - {difference}")));
        lines
    }

    /// Records a refused request's difference, or, when the component repeats the
    /// request it was just refused (a retry), counts the repeat on the earlier report.
    fn report(&mut self, exchange: Option<usize>, actual: &ActualRequest, difference: impl FnOnce() -> Difference) {
        let key = (exchange, actual.method.clone(), actual.url.clone());
        if let Some((last_key, position, count)) = &mut self.last_refusal {
            if *last_key == key {
                *count += 1;
                let line = format!("sent {count} times in a row (the component retried the refused request)");
                let details = &mut self.differences[*position].details;
                match details.last_mut() {
                    Some(last) if last.starts_with("sent ") => *last = line,
                    _ => details.push(line),
                }
                return;
            }
        }
        self.differences.push(difference());
        self.last_refusal = Some((key, self.differences.len() - 1, 1));
    }

    fn refuse(&mut self, actual: &ActualRequest, why: &str) {
        self.records.push(RequestRecord {
            method: actual.method.clone(),
            url: actual.url.clone(),
            outcome: RequestOutcome::Refused(why.to_string()),
        });
    }

    /// Takes the differences found so far.
    pub fn take_differences(&mut self) -> Vec<Difference> {
        self.last_refusal = None;
        std::mem::take(&mut self.differences)
    }
}

/// Expected and actual request, field by field, labels aligned.
fn side_by_side(expected: Option<&Exchange>, actual: Option<&ActualRequest>) -> Vec<String> {
    let mut lines = Vec::new();
    let expected = expected.map(|exchange| &exchange.request);
    lines.push(format!(
        "expected: {}",
        expected.map_or("(no further request)".to_string(), |request| format!("{} {}", request.method, request.url))
    ));
    lines.push(format!(
        "actual:   {}",
        actual.map_or("(never sent)".to_string(), |request| format!("{} {}", request.method, request.url))
    ));
    let mut header_names: Vec<&str> =
        expected.map(|request| request.headers.iter().map(|(name, _)| name.as_str()).collect()).unwrap_or_default();
    if !header_names.iter().any(|name| name.eq_ignore_ascii_case("content-type")) {
        header_names.push("content-type");
    }
    for name in header_names {
        let expected_value = expected.and_then(|request| {
            request
                .headers
                .iter()
                .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
        });
        let actual_value = actual.map(|request| request.header_values(name).collect::<Vec<_>>().join(", "));
        if expected_value.is_none() && actual_value.as_deref().is_none_or(str::is_empty) {
            continue;
        }
        lines.push(format!("header {name}:"));
        lines.push(format!("  expected: {}", expected_value.unwrap_or_else(|| "(not checked)".to_string())));
        if let Some(actual_value) = actual_value {
            lines.push(format!("  actual:   {}", if actual_value.is_empty() { "(absent)" } else { &actual_value }));
        }
    }
    let expected_body = expected.and_then(|request| request.body.as_ref());
    let actual_body = actual.filter(|request| !request.body.is_empty());
    if expected_body.is_some() || actual_body.is_some() {
        lines.push("body:".to_string());
        lines.push(format!(
            "  expected: {}",
            expected_body.map_or("(not checked)".to_string(), |body| {
                let mode = match expected.map(|request| request.body_match) {
                    Some(BodyMatch::Subset) => " (subset)",
                    _ => "",
                };
                format!("{}{mode}", quote(body))
            })
        ));
        if let Some(actual) = actual {
            let text = String::from_utf8_lossy(&actual.body);
            lines.push(format!(
                "  actual:   {}",
                if text.is_empty() { "(none)".to_string() } else { quote_text(&text) }
            ));
        }
    }
    lines
}

/// Replays one parsed fixture on a fresh instance. Must run on a tokio runtime; for
/// virtual time, a current-thread runtime with time paused (see [`replay_file`]).
pub async fn replay_fixture(runtime: &Runtime, fixture: &Fixture, options: &ReplayOptions) -> FixtureOutcome {
    replay_fixture_tallied(runtime, fixture, options).await.0
}

/// [`replay_fixture`], also returning what chaos did (an empty tally without chaos).
pub async fn replay_fixture_tallied(
    runtime: &Runtime,
    fixture: &Fixture,
    options: &ReplayOptions,
) -> (FixtureOutcome, ChaosTally) {
    let started = tokio::time::Instant::now();
    let session = match &options.chaos {
        Some(chaos) => ReplaySession::with_chaos(fixture, chaos),
        None => ReplaySession::new(fixture),
    };
    let session = Arc::new(Mutex::new(session));
    let mut allowed = options.allowed_hosts.clone();
    for host in fixture.exchange_hosts() {
        if let Ok(pattern) = host.parse::<HostPattern>() {
            allowed.allow(pattern);
        }
    }
    let outbound = OutboundHttp::new(allowed, route(session.clone()));
    let mut differences = Vec::new();
    let mut records = Vec::new();

    match runtime.instantiate(outbound, TimeSource::Virtual).await {
        Err(error) => differences.push(Difference::new("fixture", error.to_string())),
        Ok(mut instance) => {
            lock(&session).begin_connect();
            let connected = instance.connect(&fixture.connection.to_string()).await;
            let _ = lock(&session).end_phase(false);
            differences.extend(lock(&session).take_differences());
            let connected = match (&fixture.scenario, connected) {
                (_, Err(error)) => {
                    differences.push(Difference::new("connect", error.to_string()));
                    false
                }
                (Scenario::ConnectError(expected), Ok(Ok(description))) => {
                    differences.push(
                        Difference::new("connect", "succeeded, but the fixture expects an error").with_details(vec![
                            format!("expected error: {}", quote(expected)),
                            format!("actual result:  {description}"),
                        ]),
                    );
                    false
                }
                (Scenario::ConnectError(expected), Ok(Err(error))) => {
                    let details = json_differences(expected, &error.to_json(), BodyMatch::Subset);
                    if !details.is_empty() {
                        differences.push(
                            Difference::new("connect", "the error differs from the fixture's")
                                .with_details(with_actual(details, &error.to_json())),
                        );
                    }
                    false
                }
                (Scenario::Steps(_), Ok(Err(error))) => {
                    differences.push(
                        Difference::new("connect", format!("failed: {}: {}", error.code.as_str(), error.message))
                            .with_details(vec![format!("error: {}", quote(&error.to_json()))]),
                    );
                    false
                }
                (Scenario::Steps(_), Ok(Ok(_))) => true,
            };
            if connected {
                for (index, step) in fixture.steps().iter().enumerate() {
                    lock(&session).begin_step(index, &step.action);
                    let result = run_step(&mut instance, step).await;
                    let requests = lock(&session).end_phase(true);
                    let context = format!("step {} ({})", index + 1, step.action);
                    let stop = matches!(result, StepResult::HostFailure(_));
                    differences.extend(lock(&session).take_differences());
                    differences.extend(check_step(&context, &step.expect, &result));
                    records.push(StepRecord {
                        action: step.action.clone(),
                        input: step.input.clone(),
                        requests,
                        result: Some(result),
                    });
                    if stop {
                        break;
                    }
                }
            }
            differences.extend(lock(&session).take_differences());
        }
    }
    for step in fixture.steps().iter().skip(records.len()) {
        records.push(StepRecord {
            action: step.action.clone(),
            input: step.input.clone(),
            requests: Vec::new(),
            result: None,
        });
    }
    let outcome = FixtureOutcome {
        name: fixture.name.clone(),
        path: None,
        differences,
        virtual_time: started.elapsed(),
        wall_time: std::time::Duration::ZERO,
        steps: records,
    };
    let tally = lock(&session).chaos_tally();
    (outcome, tally)
}

fn lock(session: &Mutex<ReplaySession>) -> std::sync::MutexGuard<'_, ReplaySession> {
    session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run_step(instance: &mut crate::sandbox::runtime::Instance, step: &Step) -> StepResult {
    match instance.invoke(&step.action, &step.input.to_string()).await {
        Ok(Ok(output)) => match serde_json::from_str(&output) {
            Ok(output) => StepResult::Output(output),
            Err(error) => StepResult::HostFailure(format!("the output is not JSON ({error}): {}", quote_text(&output))),
        },
        Ok(Err(error)) => StepResult::Error(ConnectorError::to_json(&error)),
        Err(error) => StepResult::HostFailure(error.to_string()),
    }
}

fn check_step(context: &str, expect: &Expectation, result: &StepResult) -> Vec<Difference> {
    let difference =
        |summary: &str, details: Vec<String>| vec![Difference::new(context, summary).with_details(details)];
    match (expect, result) {
        (_, StepResult::HostFailure(message)) => difference("the host failed", vec![message.clone()]),
        (Expectation::Output(expected), StepResult::Output(actual)) => {
            let details = json_differences(expected, actual, BodyMatch::Subset);
            if details.is_empty() {
                Vec::new()
            } else {
                difference("the output differs from the fixture's", with_actual(details, actual))
            }
        }
        (Expectation::Error(expected), StepResult::Error(actual)) => {
            let details = json_differences(expected, actual, BodyMatch::Subset);
            if details.is_empty() {
                Vec::new()
            } else {
                difference("the error differs from the fixture's", with_actual(details, actual))
            }
        }
        (Expectation::Output(expected), StepResult::Error(actual)) => difference(
            "failed, but the fixture expects an output",
            vec![format!("expected output: {}", quote(expected)), format!("actual error:    {}", quote(actual))],
        ),
        (Expectation::Error(expected), StepResult::Output(actual)) => difference(
            "succeeded, but the fixture expects an error",
            vec![format!("expected error: {}", quote(expected)), format!("actual output:  {}", quote(actual))],
        ),
    }
}

fn with_actual(mut details: Vec<String>, actual: &Value) -> Vec<String> {
    details.push(format!("actual: {}", quote(actual)));
    details
}

/// Reads and replays one fixture file on its own current-thread runtime with paused
/// time. A file that cannot be read or parsed is a failed outcome naming the problem.
pub fn replay_file(runtime: &Runtime, path: &Path, options: &ReplayOptions) -> FixtureOutcome {
    replay_file_tallied(runtime, path, options).0
}

/// [`replay_file`], also returning what chaos did (an empty tally without chaos).
pub fn replay_file_tallied(runtime: &Runtime, path: &Path, options: &ReplayOptions) -> (FixtureOutcome, ChaosTally) {
    let started = std::time::Instant::now();
    let (mut outcome, tally) = replay_file_untimed(runtime, path, options);
    outcome.wall_time = started.elapsed();
    (outcome, tally)
}

fn replay_file_untimed(runtime: &Runtime, path: &Path, options: &ReplayOptions) -> (FixtureOutcome, ChaosTally) {
    let fixture = match Fixture::load(path) {
        Ok(fixture) => fixture,
        Err(error) => {
            let outcome = FixtureOutcome::broken(
                path.display().to_string(),
                Some(path.to_path_buf()),
                format!("not a valid fixture: {error}"),
            );
            return (outcome, ChaosTally::default());
        }
    };
    let (mut outcome, tally) = match paused_runtime() {
        Ok(tokio) => tokio.block_on(replay_fixture_tallied(runtime, &fixture, options)),
        Err(error) => (
            FixtureOutcome::broken(fixture.name.clone(), None, format!("could not start a tokio runtime: {error}")),
            ChaosTally::default(),
        ),
    };
    outcome.path = Some(path.to_path_buf());
    (outcome, tally)
}

/// A current-thread tokio runtime whose clock starts paused, so sleeps complete at once
/// and advance virtual time.
pub fn paused_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
}

/// Every `*.json` file under `paths` (folders are walked recursively, in name order);
/// a path that names a file is taken as is.
pub fn collect_fixture_files(paths: &[PathBuf]) -> Vec<Result<PathBuf, (PathBuf, std::io::Error)>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files);
        } else if path.exists() {
            files.push(Ok(path.clone()));
        } else {
            files
                .push(Err((path.clone(), std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"))));
        }
    }
    files
}

fn walk(folder: &Path, files: &mut Vec<Result<PathBuf, (PathBuf, std::io::Error)>>) {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) => {
            files.push(Err((folder.to_path_buf(), error)));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "json") {
            files.push(Ok(path));
        }
    }
}

/// Replays every fixture under `paths`, several at a time, and reports them in order.
pub fn replay_paths(runtime: &Runtime, paths: &[PathBuf], options: &ReplayOptions) -> ReplayReport {
    replay_paths_tallied(runtime, paths, options).0
}

/// [`replay_paths`], also returning what chaos did over all fixtures (an empty tally
/// without chaos).
pub fn replay_paths_tallied(
    runtime: &Runtime,
    paths: &[PathBuf],
    options: &ReplayOptions,
) -> (ReplayReport, ChaosTally) {
    replay_paths_observed(runtime, paths, options, &|_, _, _| {})
}

/// [`replay_paths_tallied`], telling `on_done(finished, total, outcome)` of each fixture as
/// it finishes (in the order they finish; the report keeps the order of the files).
pub fn replay_paths_observed(
    runtime: &Runtime,
    paths: &[PathBuf],
    options: &ReplayOptions,
    on_done: &(dyn Fn(usize, usize, &FixtureOutcome) + Sync),
) -> (ReplayReport, ChaosTally) {
    let files = collect_fixture_files(paths);
    let finished = AtomicUsize::new(0);
    let outcomes: Vec<Mutex<Option<(FixtureOutcome, ChaosTally)>>> = files.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |count| count.get()).min(files.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = files.get(index) else {
                    break;
                };
                let outcome = match file {
                    Ok(path) => replay_file_tallied(runtime, path, options),
                    Err((path, error)) => (
                        FixtureOutcome::broken(
                            path.display().to_string(),
                            Some(path.clone()),
                            format!("could not read: {error}"),
                        ),
                        ChaosTally::default(),
                    ),
                };
                on_done(finished.fetch_add(1, Ordering::Relaxed) + 1, files.len(), &outcome.0);
                *outcomes[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(outcome);
            });
        }
    });
    let mut tally = ChaosTally::default();
    let mut report = ReplayReport::default();
    for (outcome, fixture_tally) in
        outcomes.into_iter().filter_map(|slot| slot.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()))
    {
        tally.add(&fixture_tally);
        report.outcomes.push(outcome);
    }
    (report, tally)
}

/// Reads a whole outgoing request into an [`ActualRequest`].
async fn collect_request(request: http::Request<WasiBody>) -> Result<ActualRequest, Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != http::header::HOST)
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    Ok(ActualRequest {
        method: parts.method.as_str().to_string(),
        url: parts.uri.to_string(),
        headers,
        body: body.to_vec(),
    })
}

/// A response replay sends back, ready for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A replay session plugged into the sandbox's seam: it answers every allowed request from
/// the fixture (or refuses it, or drops the connection, as the session says), records the
/// requests the allowlist refused, and in a chaos replay gives the instance clocks that leave
/// out the waits its faults cause.
pub struct ReplayInterceptor {
    session: Arc<Mutex<ReplaySession>>,
}

/// The route of an instance whose requests `session` answers.
pub fn route(session: Arc<Mutex<ReplaySession>>) -> Route {
    Route::Intercept(Arc::new(ReplayInterceptor { session }))
}

impl Interceptor for ReplayInterceptor {
    fn intercept(
        &self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        body_cap: usize,
    ) -> Interception {
        let session = self.session.clone();
        Interception::Answer(answer_from(session, request, body_cap))
    }

    fn refused(&self, method: &str, uri: &str) {
        if let Ok(mut session) = self.session.lock() {
            session.note_refused(method, uri);
        }
    }

    fn virtual_clocks(&self) -> Option<VirtualClocks> {
        let waits = self.session.lock().ok()?.hidden_waits()?;
        Some((
            Box::new(crate::replay::chaos::ChaosMonotonicClock::new(waits.clone())),
            Box::new(crate::replay::chaos::ChaosWallClock::new(waits)),
        ))
    }
}

/// The session's answer to one request, as the wire would carry it.
fn answer_from(session: Arc<Mutex<ReplaySession>>, request: http::Request<WasiBody>, body_cap: usize) -> SendFuture {
    Box::new(async move {
        let actual = collect_request(request).await?;
        let reply =
            session.lock().map_err(|_| Error::InternalError(Some("replay session poisoned".into())))?.reply(actual);
        let canned = match reply {
            ReplayReply::Response(canned) => canned,
            ReplayReply::Refused => return Err(Error::HttpRequestDenied),
            ReplayReply::ConnectionDropped => return Err(Error::ConnectionRefused),
        };
        if canned.body.len() > body_cap {
            return Err(Error::HttpResponseBodySize(Some(canned.body.len() as u64)));
        }
        let mut response = http::Response::builder().status(canned.status);
        for (name, value) in &canned.headers {
            response = response.header(name, value);
        }
        // As on the wire: a body of known size comes with its length.
        if !canned.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
            response = response.header(http::header::CONTENT_LENGTH, canned.body.len());
        }
        let body = Full::new(Bytes::from(canned.body)).map_err(|never| match never {}).boxed_unsync();
        let response =
            response.body(body).map_err(|error| Error::InternalError(Some(format!("fixture response: {error}"))))?;
        let io: Box<dyn std::future::Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
        Ok((response, io))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Fixture {
        Fixture::parse(
            r#"{"name":"two steps","connection":{},"steps":[
              {"action":"a","input":{},"exchanges":[
                {"request":{"method":"GET","url":"https://graph.microsoft.com/v1.0/me"},
                 "response":{"status":200,"body":{"id":"1"}}}],
               "expect":{"output":{}}},
              {"action":"b","input":{},"exchanges":[
                {"request":{"method":"GET","url":"https://graph.microsoft.com/v1.0/users"},
                 "response":{"status":200,"headers":{"Content-Type":"text/plain"},"body":"plain"}}],
               "expect":{"output":{}}}]}"#,
        )
        .unwrap()
    }

    fn get(url: &str) -> ActualRequest {
        ActualRequest { method: "GET".into(), url: url.into(), ..Default::default() }
    }

    #[test]
    fn json_bodies_are_labelled_and_text_bodies_sent_as_they_are() {
        let mut session = ReplaySession::new(&fixture());
        session.begin_step(0, "a");
        let json = session.answer(get("https://graph.microsoft.com/v1.0/me")).unwrap();
        assert_eq!(json.body, br#"{"id":"1"}"#);
        assert!(json.headers.contains(&("content-type".into(), "application/json".into())));
        session.end_phase(true);
        session.begin_step(1, "b");
        let text = session.answer(get("https://graph.microsoft.com/v1.0/users")).unwrap();
        assert_eq!(text.body, b"plain");
        assert_eq!(text.headers, vec![("Content-Type".into(), "text/plain".into())]);
        assert!(session.take_differences().is_empty());
    }

    #[test]
    fn a_step_cannot_use_the_next_steps_exchanges() {
        let mut session = ReplaySession::new(&fixture());
        session.begin_step(0, "a");
        assert!(session.answer(get("https://graph.microsoft.com/v1.0/me")).is_some());
        assert!(session.answer(get("https://graph.microsoft.com/v1.0/users")).is_none());
        session.end_phase(true);
        let differences = session.take_differences();
        assert_eq!(differences.len(), 1);
        assert_eq!(differences[0].context, "step 1 (a)");
        assert!(differences[0].summary.starts_with("extra request 2"));
    }

    #[test]
    fn a_request_that_matches_nothing_shows_the_closest_one_in_the_fixture() {
        let mut session = ReplaySession::new(&fixture());
        session.begin_step(0, "a");
        assert!(session.answer(get("https://graph.microsoft.com/v1.0/users?$top=5")).is_none());
        let differences = session.take_differences();
        let details = &differences[0].details;
        assert_eq!(details[0], "- url path: expected /v1.0/me, found /v1.0/users");
        let near_miss = details.iter().position(|line| line.starts_with("closest")).expect("a near-miss report");
        assert_eq!(
            details[near_miss..],
            [
                "closest request in the fixture: request 2 (step 2): GET https://graph.microsoft.com/v1.0/users",
                "  - url query: unexpected $top=5",
            ]
        );

        // An extra request: the closest is ranked by method and path first, then query.
        let mut session = ReplaySession::new(&fixture());
        session.begin_step(0, "a");
        assert!(session.answer(get("https://graph.microsoft.com/v1.0/me")).is_some());
        let post = ActualRequest { method: "POST".into(), ..get("https://graph.microsoft.com/v1.0/me?$select=id") };
        assert!(session.answer(post).is_none());
        let details = &session.take_differences()[0].details;
        let near_miss = details.iter().position(|line| line.starts_with("closest")).expect("a near-miss report");
        assert_eq!(
            details[near_miss..],
            [
                "closest request in the fixture: request 1 (step 1): GET https://graph.microsoft.com/v1.0/me",
                "  - method: expected GET, found POST",
                "  - url query: unexpected $select=id",
            ]
        );
    }

    #[test]
    fn nothing_close_means_no_near_miss_report() {
        let mut session = ReplaySession::new(&fixture());
        session.begin_step(0, "a");
        let post = ActualRequest { method: "POST".into(), ..get("https://graph.microsoft.com/v1.0/groups") };
        assert!(session.answer(post).is_none());
        let details = &session.take_differences()[0].details;
        assert!(!details.iter().any(|line| line.starts_with("closest")), "{details:#?}");
    }

    #[test]
    fn a_mismatch_is_not_reported_again_as_missing() {
        let mut session = ReplaySession::new(&fixture());
        session.begin_step(0, "a");
        assert!(session.answer(get("https://graph.microsoft.com/beta/me")).is_none());
        assert!(session.answer(get("https://graph.microsoft.com/beta/me")).is_none());
        session.end_phase(true);
        let differences = session.take_differences();
        assert_eq!(differences.len(), 1, "{differences:#?}");
        assert!(differences[0].details.contains(&"- url path: expected /v1.0/me, found /beta/me".to_string()));
        assert_eq!(
            differences[0].details.last().unwrap(),
            "sent 2 times in a row (the component retried the refused request)"
        );
    }
}
