//! Chaos replay: faults injected in front of a fixture's own responses, deterministically
//! from a seed, to show that a component rides out throttling, overload and dropped
//! connections without changing what it sends or what it returns.
//!
//! Only HTTP semantics decide what may be injected, never knowledge of the service:
//! - `429 Too Many Requests` means the request was not processed, so it may answer any
//!   request, whatever its method.
//! - `503`, `504` and a dropped connection leave it open whether the request took effect,
//!   so they only answer requests whose method is idempotent (see [`is_idempotent`]).
//! - Nothing is injected in front of an exchange the fixture itself answers with 429,
//!   503 or 504, nor in front of the exchange right after one in the same step: those
//!   exchanges script a retry sequence (and often its exhaustion), and an extra fault
//!   would spend a retry the fixture counts on.
//! - At most [`MAX_CONSECUTIVE_FAULTS`] faults answer the same exchange in a row, so a
//!   component that retries as HTTP asks always gets through.
//!
//! A fault answers the request instead of the fixture and leaves the exchange in place;
//! the component's retry must equal the original request (method, URL, the headers the
//! fixture lists, body), and any difference fails the fixture.
//!
//! The waits faults cause are hidden from the component's clocks ([`HiddenWaits`]): its
//! clocks stand still from a fault until its retry arrives. Otherwise a fixture whose
//! story depends on time (a token that expires within seconds) would take another turn
//! under chaos (a renewal the fixture does not list), and no fixture could pass at any seed.

use crate::replay::fixture::{Exchange, Fixture};
use crate::replay::matcher::{url_differences, ActualRequest};
use crate::replay::report::format_duration;
use crate::replay::ReadyResponse;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// At most this many faults answer the same exchange in a row: well below the retries a
/// connector makes by default (four), so a correct one always gets through.
pub const MAX_CONSECUTIVE_FAULTS: u32 = 2;

/// The statuses a fixture uses to script throttling and overload itself; no fault is
/// injected around exchanges answered with them.
pub const RETRYABLE_STATUSES: [u16; 3] = [429, 503, 504];

/// The longest `Retry-After` an injected fault asks for, in seconds; with
/// [`MAX_CONSECUTIVE_FAULTS`] it keeps the extra wait per request far below a two-minute
/// invocation deadline.
pub const MAX_RETRY_AFTER_SECONDS: u64 = 3;

/// The body of an injected status response; plain text, so it claims nothing about the
/// service's error format.
const FAULT_BODY: &str = "fault injected by connector-host replay --chaos";

/// What a chaos run injects: a seed and the chance that an eligible request gets a fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChaosOptions {
    /// The seed; the same seed over the same fixtures injects the same faults.
    pub seed: u64,
    /// The probability (0 to 1) that an eligible request is answered by a fault.
    pub fault_rate: f64,
}

/// A `--fault-rate` outside 0 to 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the fault rate must be a number from 0 to 1, found {0}")]
pub struct InvalidFaultRate(pub f64);

impl ChaosOptions {
    /// Options for `seed` and `fault_rate`, refusing a rate that is not a probability.
    pub fn new(seed: u64, fault_rate: f64) -> Result<Self, InvalidFaultRate> {
        if !(0.0..=1.0).contains(&fault_rate) {
            return Err(InvalidFaultRate(fault_rate));
        }
        Ok(Self { seed, fault_rate })
    }
}

/// Whether a method is idempotent in HTTP's sense (RFC 9110, 9.2.2): sending it twice has
/// the effect of sending it once, so a request that may or may not have been processed
/// can be answered with a fault the client will retry. POST and PATCH are not.
pub fn is_idempotent(method: &str) -> bool {
    ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]
        .iter()
        .any(|idempotent| idempotent.eq_ignore_ascii_case(method))
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An HTTP response with this status (429, 503 or 504).
    Status {
        /// The status code.
        status: u16,
        /// The `Retry-After` header in seconds, when the response carries one.
        retry_after_seconds: Option<u64>,
    },
    /// The connection drops before the request is delivered.
    ConnectionDropped,
}

impl Fault {
    /// The kind the run's tally counts this fault under.
    pub fn kind(&self) -> FaultKind {
        match *self {
            Fault::Status { status, retry_after_seconds } => {
                FaultKind { status: Some(status), with_retry_after: retry_after_seconds.is_some() }
            }
            Fault::ConnectionDropped => FaultKind { status: None, with_retry_after: false },
        }
    }

    /// The response a status fault answers with; `None` for a dropped connection.
    pub fn response(&self) -> Option<ReadyResponse> {
        let Fault::Status { status, retry_after_seconds } = *self else {
            return None;
        };
        let mut headers = vec![("content-type".to_string(), "text/plain".to_string())];
        if let Some(seconds) = retry_after_seconds {
            headers.push(("retry-after".to_string(), seconds.to_string()));
        }
        Some(ReadyResponse { status, headers, body: FAULT_BODY.as_bytes().to_vec() })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status { status, retry_after_seconds: Some(seconds) } => {
                write!(f, "{status} with Retry-After: {seconds}")
            }
            Fault::Status { status, retry_after_seconds: None } => write!(f, "{status} without Retry-After"),
            Fault::ConnectionDropped => f.write_str("dropped connection"),
        }
    }
}

/// What the tally counts faults by: the status (none for a dropped connection) and
/// whether a `Retry-After` came with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultKind {
    /// The status, `None` for a dropped connection.
    pub status: Option<u16>,
    /// Whether the response carried `Retry-After`.
    pub with_retry_after: bool,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, self.with_retry_after) {
            (None, _) => f.write_str("dropped connection"),
            (Some(status), true) => write!(f, "{status} with Retry-After"),
            (Some(status), false) => write!(f, "{status} without Retry-After"),
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator; enough for
/// reproducible fault schedules, no cryptographic claim.
#[derive(Debug, Clone)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `0..bound` (`bound` > 0; tiny modulo bias is fine here).
    pub fn next_below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// FNV-1a, to give each fixture its own stream from one seed: stable across platforms
/// and Rust versions, unlike the standard library's hasher.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3))
}

/// Decides, request by request, whether a fault answers instead of the fixture.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    random: SeededRandom,
    fault_rate: f64,
}

impl FaultInjector {
    /// An injector for one scenario: its stream depends on the seed and on the scenario's
    /// name only, so fixtures replayed in parallel get the same faults in any order.
    pub fn new(options: &ChaosOptions, scenario: &str) -> Self {
        Self { random: SeededRandom::new(options.seed ^ stable_hash(scenario)), fault_rate: options.fault_rate }
    }

    /// The fault answering a request with `method`, if any; `faults_in_a_row` is how many
    /// faults already answered this same exchange.
    pub fn decide(&mut self, method: &str, faults_in_a_row: u32) -> Option<Fault> {
        if faults_in_a_row >= MAX_CONSECUTIVE_FAULTS || self.random.next_unit() >= self.fault_rate {
            return None;
        }
        let retry_after_seconds = match self.random.next_below(2) {
            0 => None,
            _ => Some(1 + self.random.next_below(MAX_RETRY_AFTER_SECONDS)),
        };
        let choices: &[Option<u16>] =
            if is_idempotent(method) { &[Some(429), Some(503), Some(504), None] } else { &[Some(429)] };
        let choice = choices[self.random.next_below(choices.len() as u64) as usize];
        Some(match choice {
            Some(status) => Fault::Status { status, retry_after_seconds },
            None => Fault::ConnectionDropped,
        })
    }
}

/// What chaos did to one or more fixtures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosTally {
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, usize>,
    /// Requests that came after a fault and were compared with the request it answered.
    pub retries: usize,
    /// Of those, the ones that differed from the original.
    pub differing_retries: usize,
    /// Virtual time between each fault and the retry that followed it.
    pub waited: Duration,
}

impl ChaosTally {
    /// How many faults were injected in all.
    pub fn faults_injected(&self) -> usize {
        self.faults.values().sum()
    }

    /// Adds another tally to this one.
    pub fn add(&mut self, other: &ChaosTally) {
        for (kind, count) in &other.faults {
            *self.faults.entry(*kind).or_default() += count;
        }
        self.retries += other.retries;
        self.differing_retries += other.differing_retries;
        self.waited += other.waited;
    }

    /// The run's figures as a few readable lines.
    pub fn render(&self, options: &ChaosOptions) -> String {
        let by_kind: Vec<String> = self.faults.iter().map(|(kind, count)| format!("{kind}: {count}")).collect();
        let by_kind = if by_kind.is_empty() { String::new() } else { format!(" ({})", by_kind.join(", ")) };
        format!(
            "chaos: seed {}, fault rate {}\n  faults injected: {}{by_kind}\n  retries seen: {} ({} differed from \
             the original request)\n  virtual time waited after faults: {}\n",
            options.seed,
            options.fault_rate,
            self.faults_injected(),
            self.retries,
            self.differing_retries,
            format_duration(self.waited),
        )
    }
}

/// The request a fault answered, waiting for the component's retry.
#[derive(Debug, Clone)]
struct PendingRetry {
    exchange: usize,
    original: ActualRequest,
    fault: Fault,
    faults_in_a_row: u32,
    answered_at: Instant,
}

/// The virtual time spent between faults and their retries, which the component's clocks
/// leave out; shared by the replay session (which holds and releases) and the clocks.
#[derive(Debug, Clone, Default)]
pub struct HiddenWaits {
    state: Arc<Mutex<HiddenWaitsState>>,
}

#[derive(Debug, Default)]
struct HiddenWaitsState {
    /// Waits already over.
    hidden: Duration,
    /// When the current wait began, while a fault waits for its retry.
    held_since: Option<Instant>,
}

impl HiddenWaits {
    fn lock(&self) -> MutexGuard<'_, HiddenWaitsState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stops the component's clocks (a fault was just injected).
    fn hold(&self) {
        let mut state = self.lock();
        state.held_since.get_or_insert_with(Instant::now);
    }

    /// Lets the component's clocks run again (the retry arrived, or the phase ended).
    fn release(&self) {
        let mut state = self.lock();
        if let Some(since) = state.held_since.take() {
            state.hidden += since.elapsed();
        }
    }

    /// How much virtual time the clocks leave out so far.
    fn hidden(&self) -> Duration {
        let state = self.lock();
        state.hidden + state.held_since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Virtual time since `start`, less the hidden waits.
    fn visible_since(&self, start: Instant) -> Duration {
        start.elapsed().saturating_sub(self.hidden())
    }
}

/// The component's monotonic clock in a chaos run: virtual time without the waits
/// faults caused; it stands still while a fault waits for its retry.
#[derive(Debug, Clone)]
pub struct ChaosMonotonicClock {
    start: Instant,
    waits: HiddenWaits,
}

impl ChaosMonotonicClock {
    /// A clock starting at zero now, leaving out `waits`.
    pub fn new(waits: HiddenWaits) -> Self {
        Self { start: Instant::now(), waits }
    }
}

impl HostMonotonicClock for ChaosMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.waits.visible_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The component's wall clock in a chaos run: the real time at its creation, then
/// advancing like [`ChaosMonotonicClock`].
#[derive(Debug, Clone)]
pub struct ChaosWallClock {
    start: Instant,
    since_unix_epoch_at_start: Duration,
    waits: HiddenWaits,
}

impl ChaosWallClock {
    /// A clock reading the real time now, advancing with visible virtual time.
    pub fn new(waits: HiddenWaits) -> Self {
        Self {
            start: Instant::now(),
            since_unix_epoch_at_start: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default(),
            waits,
        }
    }
}

impl HostWallClock for ChaosWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.since_unix_epoch_at_start + self.waits.visible_since(self.start)
    }
}

/// Chaos during one fixture's replay: which exchanges may get a fault, the fault waiting
/// for its retry, and the tally.
#[derive(Debug, Clone)]
pub struct ChaosState {
    injector: FaultInjector,
    waits: HiddenWaits,
    /// Per exchange (in the replay session's order): whether a fault may answer it.
    eligible: Vec<bool>,
    pending: Option<PendingRetry>,
    tally: ChaosTally,
}

/// What chaos makes of one incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interception {
    /// How the request differs from the one the previous fault answered, when it is that
    /// request's retry and differs.
    pub retry_differences: Vec<String>,
    /// The fault that answers this request instead of the fixture, if any.
    pub fault: Option<Fault>,
}

impl ChaosState {
    /// Chaos for `fixture`, whose exchanges are numbered across steps in order.
    pub fn new(options: &ChaosOptions, fixture: &Fixture) -> Self {
        let eligible = fixture.steps().iter().flat_map(|step| scripted_retries_excluded(&step.exchanges)).collect();
        Self {
            injector: FaultInjector::new(options, &fixture.name),
            eligible,
            waits: HiddenWaits::default(),
            pending: None,
            tally: ChaosTally::default(),
        }
    }

    /// Looks at a request before the fixture answers it. `next` is the exchange the
    /// request would consume (its index and whether the request matches it); a fault
    /// only answers a request that matches an eligible exchange.
    pub fn intercept(
        &mut self,
        actual: &ActualRequest,
        next: Option<(usize, &Exchange)>,
        matches: bool,
    ) -> Interception {
        let mut retry_differences = Vec::new();
        let mut faults_in_a_row = 0;
        if let Some(pending) = self.pending.take() {
            self.waits.release();
            self.tally.retries += 1;
            self.tally.waited += pending.answered_at.elapsed();
            let expected_headers = next
                .filter(|(index, _)| *index == pending.exchange)
                .map(|(_, exchange)| exchange.request.headers.as_slice())
                .unwrap_or_default();
            retry_differences = differences_from_original(&pending.original, actual, expected_headers);
            if !retry_differences.is_empty() {
                self.tally.differing_retries += 1;
                retry_differences.insert(0, format!("after an injected fault ({})", pending.fault));
            }
            if next.is_some_and(|(index, _)| index == pending.exchange) {
                faults_in_a_row = pending.faults_in_a_row;
            }
        }
        let fault = match next {
            Some((index, _)) if matches && self.eligible.get(index).copied().unwrap_or(false) => {
                self.injector.decide(&actual.method, faults_in_a_row)
            }
            _ => None,
        };
        if let (Some(fault), Some((exchange, _))) = (fault, next) {
            *self.tally.faults.entry(fault.kind()).or_default() += 1;
            self.waits.hold();
            self.pending = Some(PendingRetry {
                exchange,
                original: actual.clone(),
                fault,
                faults_in_a_row: faults_in_a_row + 1,
                answered_at: Instant::now(),
            });
        }
        Interception { retry_differences, fault }
    }

    /// Ends a phase (`connect` or a step): a fault still waiting for its retry means the
    /// component gave up after it; that fault is returned so the report can say so.
    pub fn end_phase(&mut self) -> Option<Fault> {
        self.waits.release();
        self.pending.take().map(|pending| pending.fault)
    }

    /// The waits the component's clocks must leave out (see [`ChaosMonotonicClock`]).
    pub fn hidden_waits(&self) -> HiddenWaits {
        self.waits.clone()
    }

    /// What chaos did so far.
    pub fn tally(&self) -> &ChaosTally {
        &self.tally
    }
}

/// For one step's exchanges: whether a fault may answer each (see the module docs).
fn scripted_retries_excluded(exchanges: &[Exchange]) -> Vec<bool> {
    let scripted = |exchange: &Exchange| RETRYABLE_STATUSES.contains(&exchange.response.status());
    exchanges
        .iter()
        .enumerate()
        .map(|(index, exchange)| {
            !scripted(exchange) && !index.checked_sub(1).is_some_and(|previous| scripted(&exchanges[previous]))
        })
        .collect()
}

/// How a retry differs from the request a fault answered: method, URL, the headers the
/// fixture lists, and the body (bytes, or equal JSON).
pub fn differences_from_original(
    original: &ActualRequest,
    retry: &ActualRequest,
    listed_headers: &[(String, String)],
) -> Vec<String> {
    let mut differences = Vec::new();
    if !original.method.eq_ignore_ascii_case(&retry.method) {
        differences.push(format!("method: first sent {}, retried as {}", original.method, retry.method));
    }
    let url = url_differences(&original.url, &retry.url);
    if !url.is_empty() {
        differences.push(format!("url: first sent {}, retried {}", original.url, retry.url));
        differences.extend(url);
    }
    for (name, _) in listed_headers {
        let first: Vec<&str> = original.header_values(name).collect();
        let again: Vec<&str> = retry.header_values(name).collect();
        if first != again {
            differences.push(format!(
                "header {name}: first sent {:?}, retried with {:?}",
                first.join(", "),
                again.join(", ")
            ));
        }
    }
    if !bodies_equal(&original.body, &retry.body) {
        differences.push(format!(
            "body: first sent {}, retried with {}",
            crate::replay::matcher::quote_text(&String::from_utf8_lossy(&original.body)),
            crate::replay::matcher::quote_text(&String::from_utf8_lossy(&retry.body))
        ));
    }
    differences
}

fn bodies_equal(first: &[u8], again: &[u8]) -> bool {
    if first == again {
        return true;
    }
    match (serde_json::from_slice::<serde_json::Value>(first), serde_json::from_slice::<serde_json::Value>(again)) {
        (Ok(first), Ok(again)) => first == again,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(seed: u64, fault_rate: f64) -> ChaosOptions {
        ChaosOptions::new(seed, fault_rate).unwrap()
    }

    fn schedule(seed: u64, scenario: &str, method: &str) -> Vec<Option<Fault>> {
        let mut injector = FaultInjector::new(&options(seed, 0.3), scenario);
        (0..200).map(|_| injector.decide(method, 0)).collect()
    }

    #[test]
    fn the_same_seed_and_scenario_inject_the_same_faults() {
        assert_eq!(schedule(7, "users.get", "GET"), schedule(7, "users.get", "GET"));
        assert_ne!(schedule(7, "users.get", "GET"), schedule(8, "users.get", "GET"));
        assert_ne!(schedule(7, "users.get", "GET"), schedule(7, "users.list", "GET"));
    }

    #[test]
    fn the_fault_rate_is_roughly_honoured_and_every_kind_occurs() {
        let faults: Vec<Fault> = schedule(1, "s", "GET").into_iter().flatten().collect();
        assert!((40..=80).contains(&faults.len()), "{} faults in 200 requests at 0.3", faults.len());
        let kinds: std::collections::BTreeSet<FaultKind> = faults.iter().map(Fault::kind).collect();
        assert_eq!(kinds.len(), 7, "{kinds:?}");
        let mut never = FaultInjector::new(&options(1, 0.0), "s");
        assert!((0..100).all(|_| never.decide("GET", 0).is_none()));
    }

    #[test]
    fn requests_that_are_not_idempotent_only_get_429() {
        let faults: Vec<Fault> =
            ["POST", "PATCH"].iter().flat_map(|method| schedule(3, "s", method)).flatten().collect();
        assert!(!faults.is_empty());
        assert!(faults.iter().all(|fault| matches!(fault, Fault::Status { status: 429, .. })), "{faults:?}");
    }

    #[test]
    fn an_exchange_gets_at_most_two_faults_in_a_row() {
        let mut always = FaultInjector::new(&options(5, 1.0), "s");
        assert!(always.decide("GET", 0).is_some());
        assert!(always.decide("GET", 1).is_some());
        assert!(always.decide("GET", MAX_CONSECUTIVE_FAULTS).is_none());
    }

    #[test]
    fn a_fault_rate_outside_zero_to_one_is_refused() {
        assert_eq!(ChaosOptions::new(1, 1.5), Err(InvalidFaultRate(1.5)));
        assert!(ChaosOptions::new(1, f64::NAN).is_err());
    }

    #[test]
    fn status_faults_carry_retry_after_in_seconds_when_chosen() {
        let with = Fault::Status { status: 503, retry_after_seconds: Some(2) }.response().unwrap();
        assert_eq!(with.status, 503);
        assert!(with.headers.contains(&("retry-after".to_string(), "2".to_string())));
        let without = Fault::Status { status: 429, retry_after_seconds: None }.response().unwrap();
        assert!(!without.headers.iter().any(|(name, _)| name == "retry-after"));
        assert!(Fault::ConnectionDropped.response().is_none());
    }

    #[test]
    fn exchanges_scripting_throttling_and_the_one_after_are_left_alone() {
        let fixture = Fixture::parse(
            r#"{"name":"n","connection":{},"steps":[{"action":"a","input":{},"exchanges":[
              {"request":{"method":"GET","url":"https://h/a"},"response":{"status":200}},
              {"request":{"method":"GET","url":"https://h/b"},"response":{"status":429}},
              {"request":{"method":"GET","url":"https://h/b"},"response":{"status":200}},
              {"request":{"method":"GET","url":"https://h/c"},"response":{"status":404}}],
              "expect":{"output":{}}}]}"#,
        )
        .unwrap();
        let state = ChaosState::new(&options(1, 1.0), &fixture);
        assert_eq!(state.eligible, vec![true, false, false, true]);
    }

    #[test]
    fn a_retry_must_repeat_method_url_listed_headers_and_body() {
        let original = ActualRequest {
            method: "PUT".into(),
            url: "https://h/x?a=1".into(),
            headers: vec![("authorization".into(), "Bearer a".into()), ("retry-attempt".into(), "0".into())],
            body: br#"{"a":1,"b":2}"#.to_vec(),
        };
        let listed = vec![("Authorization".to_string(), "Bearer a".to_string())];
        let mut retry = original.clone();
        retry.headers[1].1 = "1".into();
        retry.body = br#"{"b":2,"a":1}"#.to_vec();
        assert!(differences_from_original(&original, &retry, &listed).is_empty());
        retry.headers[0].1 = "Bearer b".into();
        retry.body = br#"{"a":2}"#.to_vec();
        retry.url = "https://h/y".into();
        let differences = differences_from_original(&original, &retry, &listed);
        for expected in [
            "url: first sent https://h/x?a=1, retried https://h/y",
            "url path: expected /x, found /y",
            "url query: missing a=1",
            r#"header Authorization: first sent "Bearer a", retried with "Bearer b""#,
            r#"body: first sent {"a":1,"b":2}, retried with {"a":2}"#,
        ] {
            assert!(differences.iter().any(|difference| difference == expected), "{expected}: {differences:#?}");
        }
        assert_eq!(differences.len(), 5, "{differences:#?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_components_clocks_stand_still_from_a_fault_to_its_retry() {
        let waits = HiddenWaits::default();
        let clock = ChaosMonotonicClock::new(waits.clone());
        tokio::time::sleep(Duration::from_secs(2)).await;
        waits.hold();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(clock.now(), 2_000_000_000, "held");
        waits.release();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(clock.now(), 3_000_000_000, "running again, without the wait");
    }

    #[test]
    fn the_tally_counts_faults_retries_and_waits() {
        let fixture = Fixture::parse(
            r#"{"name":"n","connection":{},"steps":[{"action":"a","input":{},"exchanges":[
              {"request":{"method":"GET","url":"https://h/a"},"response":{"status":200}}],
              "expect":{"output":{}}}]}"#,
        )
        .unwrap();
        let mut state = ChaosState::new(&options(2, 1.0), &fixture);
        let request = ActualRequest { method: "GET".into(), url: "https://h/a".into(), ..Default::default() };
        let exchange = &fixture.steps()[0].exchanges[0];
        let faults: Vec<Option<Fault>> =
            (0..3).map(|_| state.intercept(&request, Some((0, exchange)), true).fault).collect();
        assert!(faults[0].is_some() && faults[1].is_some() && faults[2].is_none(), "{faults:?}");
        assert_eq!(state.tally().faults_injected(), 2);
        assert_eq!(state.tally().retries, 2);
        assert_eq!(state.tally().differing_retries, 0);
        assert_eq!(state.end_phase(), None);
    }
}
