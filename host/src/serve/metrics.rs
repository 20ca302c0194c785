//! The service's Prometheus metrics (`GET /metrics`, text exposition format), and the
//! observer that counts what each instance sends to the network.

use crate::sandbox::http_policy::ExchangeObserver;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Labels as name/value pairs (`prometheus-client` encodes a `Vec` of pairs as a label set).
type Labels = Vec<(&'static str, String)>;

/// Every metric the service exports. Cheap to share: each metric is an `Arc` inside.
pub struct Metrics {
    registry: Registry,
    invocations: Family<Labels, Counter>,
    duration: Family<Labels, Histogram>,
    graph_requests: Family<Labels, Counter>,
    retries: Counter,
    throttle_waits: Counter,
    throttle_wait_seconds: Counter<f64>,
    rejected: Family<Labels, Counter>,
    calls_in_flight: Gauge,
    instances_in_use: Gauge,
    instances_idle: Gauge,
    connections: Gauge,
}

/// Latency buckets in seconds: from a replayed call (well under a millisecond) to the host's
/// hard limit per call.
const DURATION_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 150.0];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS.iter().copied())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("connector");
        let invocations = Family::<Labels, Counter>::default();
        registry.register(
            "invocations",
            "Action invocations by action and outcome (`ok` or the error code)",
            invocations.clone(),
        );
        let duration = Family::<Labels, Histogram>::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register("invocation_duration_seconds", "How long invocations took, by action", duration.clone());
        let graph_requests = Family::<Labels, Counter>::default();
        registry.register(
            "upstream_requests",
            "Requests the component sent to the network, by response status (`failed`: no response)",
            graph_requests.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "upstream_retries",
            "Requests the component sent again (marked `retry-attempt`)",
            retries.clone(),
        );
        let throttle_waits = Counter::default();
        registry.register(
            "upstream_throttle_waits",
            "Answers asking the component to wait (429 or 503 with `Retry-After`)",
            throttle_waits.clone(),
        );
        let throttle_wait_seconds = Counter::<f64>::default();
        registry.register(
            "upstream_throttle_wait_seconds",
            "The waits those answers asked for (`Retry-After` in seconds)",
            throttle_wait_seconds.clone(),
        );
        let rejected = Family::<Labels, Counter>::default();
        registry.register(
            "rejected_calls",
            "Invocations refused before they ran, by reason (`busy`: --max-concurrency; `rate-limit`)",
            rejected.clone(),
        );
        let calls_in_flight = Gauge::default();
        registry.register("calls_in_flight", "Invocations admitted and not yet finished", calls_in_flight.clone());
        let instances_in_use = Gauge::default();
        registry.register("instances_in_use", "Component instances running a call", instances_in_use.clone());
        let instances_idle = Gauge::default();
        registry.register(
            "instances_idle",
            "Component instances kept open between calls (each holds its connection's tokens)",
            instances_idle.clone(),
        );
        let connections = Gauge::default();
        registry.register("connections", "Connections registered in the service", connections.clone());
        Self {
            registry,
            invocations,
            duration,
            graph_requests,
            retries,
            throttle_waits,
            throttle_wait_seconds,
            rejected,
            calls_in_flight,
            instances_in_use,
            instances_idle,
            connections,
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// Counts one finished invocation.
    pub fn invocation(&self, action: &str, outcome: &str, took: Duration) {
        self.invocations.get_or_create(&vec![("action", action.to_string()), ("outcome", outcome.to_string())]).inc();
        self.duration.get_or_create(&vec![("action", action.to_string())]).observe(took.as_secs_f64());
    }

    /// Counts one invocation refused before it ran.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&vec![("reason", reason.to_string())]).inc();
    }

    /// The gauge of admitted calls.
    pub fn calls_in_flight(&self) -> &Gauge {
        &self.calls_in_flight
    }

    /// The gauge of instances running a call.
    pub fn instances_in_use(&self) -> &Gauge {
        &self.instances_in_use
    }

    /// The gauge of idle instances.
    pub fn instances_idle(&self) -> &Gauge {
        &self.instances_idle
    }

    /// The gauge of registered connections.
    pub fn connections(&self) -> &Gauge {
        &self.connections
    }
}

/// What one instance's requests to the network looked like during its current call: counted
/// into the shared [`Metrics`], and the server's request ids kept for the call's log line.
pub struct CallObserver {
    metrics: Arc<Metrics>,
    request_ids: Mutex<Vec<String>>,
}

/// The most upstream request ids kept for one call's log line; a call that pages through
/// hundreds of pages logs the first ones.
const MAX_REQUEST_IDS_PER_CALL: usize = 16;

impl CallObserver {
    /// An observer counting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics, request_ids: Mutex::new(Vec::new()) }
    }

    /// The request ids the server gave the current call's requests, forgetting them.
    pub fn take_request_ids(&self) -> Vec<String> {
        std::mem::take(&mut *self.request_ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

impl ExchangeObserver for CallObserver {
    fn sending(&self, headers: &http::HeaderMap) {
        if headers.contains_key("retry-attempt") {
            self.metrics.retries.inc();
        }
    }

    fn answered(&self, status: http::StatusCode, headers: &http::HeaderMap) {
        self.metrics.graph_requests.get_or_create(&vec![("status", status.as_u16().to_string())]).inc();
        if matches!(status.as_u16(), 429 | 503) {
            if let Some(seconds) = headers
                .get(http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<f64>().ok())
            {
                self.metrics.throttle_waits.inc();
                self.metrics.throttle_wait_seconds.inc_by(seconds.max(0.0));
            }
        }
        if let Some(id) = headers.get("request-id").and_then(|value| value.to_str().ok()) {
            let mut ids = self.request_ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if ids.len() < MAX_REQUEST_IDS_PER_CALL {
                ids.push(id.chars().take(128).collect());
            }
        }
    }

    fn failed(&self, _error: &wasmtime_wasi_http::Error) {
        self.metrics.graph_requests.get_or_create(&vec![("status", "failed".to_string())]).inc();
    }
}
