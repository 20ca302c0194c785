//! The service's core, independent of the door a call comes through (the HTTP API, MCP):
//! the catalog it offers, the registered connections, each connection's pool of instances,
//! admission (`--max-concurrency`), the per-connection rate limit, metrics and the log line
//! of every call.
//!
//! A connection's instances each hold the connection open (`connection.open` once, when the
//! instance is made), so its token cache lives across calls; an instance runs one call at a
//! time, so a connection gets up to `instances_per_connection` of them for concurrent calls,
//! and calls beyond wait for one to come free. Waiting is bounded: only admitted calls wait,
//! and admission refuses calls beyond `max_concurrency` at once.

use crate::error::HostError;
use crate::sandbox::clock::TimeSource;
use crate::sandbox::http_policy::{OutboundHttp, Route};
use crate::sandbox::runtime::{ActionDescriptor, Connection, ConnectorError, ErrorCode, Instance, InvokeOptions};
use crate::serve::metrics::{CallObserver, Metrics};
use crate::serve::rate_limit::{Rate, RateLimiter};
use crate::{AllowedHosts, Runtime};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How the core is set up.
#[derive(Clone)]
pub struct CoreOptions {
    /// Hosts every instance may reach besides those of its connection's cloud (`--allow-host`).
    pub allowed_hosts: AllowedHosts,
    /// Where allowed requests go (the live route, or an interceptor in tests and replays).
    pub route: Route,
    /// The most invocations running or waiting for an instance at once; beyond it callers are
    /// refused with `throttled` instead of queuing without bound.
    pub max_concurrency: usize,
    /// The most instances one connection keeps (its concurrent calls).
    pub instances_per_connection: usize,
    /// Offer only read-only actions.
    pub read_only: bool,
    /// Offer only these actions (`None`: all).
    pub actions: Option<Vec<String>>,
    /// At most this many calls per connection per period.
    pub rate_limit: Option<Rate>,
}

impl CoreOptions {
    /// 64 calls at once: each running call holds an instance (a few MiB of memory once warm).
    pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
    /// 4 instances per connection: several concurrent calls of one connection without each
    /// instance paying for its own token many times over.
    pub const DEFAULT_INSTANCES_PER_CONNECTION: usize = 4;
}

impl Default for CoreOptions {
    fn default() -> Self {
        Self {
            allowed_hosts: AllowedHosts::none(),
            route: Route::Live,
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            instances_per_connection: Self::DEFAULT_INSTANCES_PER_CONNECTION,
            read_only: false,
            actions: None,
            rate_limit: None,
        }
    }
}

/// Why the core could not start.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The component failed around `list-actions` or instantiation.
    #[error(transparent)]
    Host(#[from] HostError),
    /// `--actions` names actions the component does not offer.
    #[error("--actions names actions the component does not offer: {}", unknown.join(", "))]
    UnknownActions {
        /// The names not found.
        unknown: Vec<String>,
    },
    /// A connection of `--connections` was refused by the component.
    #[error("the connection `{name}` was refused: {}: {}", error.code.as_str(), error.message)]
    Connection {
        /// Its name in the file.
        name: String,
        /// The component's typed error.
        error: ConnectorError,
    },
    /// Two connections of `--connections` have the same name.
    #[error("the connection name `{name}` is used twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
}

/// Connection settings: JSON text holding secrets, never printed (`Debug` hides them).
#[derive(Clone)]
pub struct Settings(String);

impl Settings {
    /// Settings from JSON object text.
    pub fn new(json: String) -> Self {
        Self(json)
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Settings([hidden])")
    }
}

/// Which connection a call uses.
#[derive(Debug, Clone)]
pub enum ConnectionRef {
    /// A registered connection, by id or by name.
    Registered(String),
    /// Settings given with the call: a connection opened for this call only (one token
    /// request per call), dropped after it.
    Inline(Settings),
}

/// One call as a door hands it to the core.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The connection.
    pub connection: ConnectionRef,
    /// The action id.
    pub action: String,
    /// The input, JSON object text.
    pub input: String,
    /// The call's options (deadline, dry run).
    pub timeout_ms: Option<u64>,
    /// Run the reads only and return the plan of the writes.
    pub dry_run: bool,
    /// The id under which the call is logged (the HTTP `x-request-id`).
    pub request_id: String,
}

/// What became of a call.
#[derive(Debug)]
pub struct CallOutcome {
    /// The action's output (JSON text), or why there is none.
    pub result: Result<String, CallError>,
    /// The request ids of the upstream answers the call received, in order (the first ones).
    pub upstream_request_ids: Vec<String>,
}

/// Why a call has no output.
#[derive(Debug)]
pub enum CallError {
    /// The component's typed error.
    Connector(ConnectorError),
    /// A limit of the sandbox stopped the call; `deadline` when it was the host's hard limit
    /// on the call's duration.
    Stopped {
        /// The error as the caller sees it (`transport` or `upstream`).
        error: ConnectorError,
        /// Whether the host's time limit stopped it.
        deadline: bool,
    },
    /// The action is not offered by this service (`reason` says why).
    NotOffered {
        /// The action asked for.
        action: String,
        /// Why it is not offered.
        reason: &'static str,
    },
    /// No connection with this id or name.
    UnknownConnection(String),
    /// `max_concurrency` calls are in flight.
    Busy {
        /// The limit.
        max_concurrency: usize,
    },
    /// The connection used its rate; the next call is allowed after `retry_after`.
    RateLimited {
        /// When to come back.
        retry_after: Duration,
        /// The rate.
        rate: Rate,
    },
    /// The component or the host failed (a trap, an instance that could not be made).
    Failed(HostError),
}

impl CallError {
    /// The error code a caller branches on: the component's code, or for the service's own
    /// refusals the code that fits them (`throttled` for `busy` and rate limits, so clients
    /// that back off from Graph's throttling back off from the service the same way).
    pub fn code(&self) -> String {
        match self {
            CallError::Connector(error) | CallError::Stopped { error, .. } => error.code.as_str(),
            CallError::NotOffered { .. } => ErrorCode::UnknownAction.as_str(),
            CallError::UnknownConnection(_) => "unknown-connection".to_string(),
            CallError::Busy { .. } | CallError::RateLimited { .. } => ErrorCode::Throttled.as_str(),
            CallError::Failed(_) => ErrorCode::Internal.as_str(),
        }
    }

    /// The error as the component's error type, for doors that speak only it (MCP).
    pub fn to_connector_error(&self) -> ConnectorError {
        match self {
            CallError::Connector(error) | CallError::Stopped { error, .. } => error.clone(),
            CallError::NotOffered { action, reason } => ConnectorError::new(
                ErrorCode::UnknownAction,
                format!("the action `{action}` is not offered here: {reason}"),
            ),
            CallError::UnknownConnection(name) => {
                ConnectorError::new(ErrorCode::InvalidInput, format!("no connection has the id or name `{name}`"))
            }
            CallError::Busy { max_concurrency } => ConnectorError {
                retry_after_ms: Some(BUSY_RETRY_AFTER.as_millis() as u64),
                ..ConnectorError::new(
                    ErrorCode::Throttled,
                    format!("the service is running its maximum of {max_concurrency} calls; retry shortly"),
                )
            },
            CallError::RateLimited { retry_after, rate } => ConnectorError {
                retry_after_ms: Some(retry_after.as_millis().max(1) as u64),
                ..ConnectorError::new(
                    ErrorCode::Throttled,
                    format!("the connection made its {} calls allowed per {} s", rate.calls, rate.period.as_secs_f64()),
                )
            },
            CallError::Failed(error) => ConnectorError::new(ErrorCode::Internal, error.to_string()),
        }
    }
}

/// What a caller refused for `busy` is told to wait: calls of a live service last tens of
/// milliseconds to seconds, so one second frees slots without hammering.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A registered connection.
pub struct ConnectionEntry {
    /// Its id (random, given at registration).
    pub id: String,
    /// Its name, for connections of `--connections`.
    pub name: Option<String>,
    /// What `connection.describe()` returned: the settings without secrets.
    pub description: serde_json::Value,
    settings: Settings,
    pool: InstancePool,
    rate: Option<(Rate, RateLimiter)>,
}

/// A connection's instances: idle ones kept for the next call, and a cap on how many exist.
struct InstancePool {
    idle: Mutex<Vec<PooledInstance>>,
    slots: Arc<Semaphore>,
    closed: AtomicBool,
}

/// An instance with the connection open in it.
struct PooledInstance {
    instance: Instance,
    connection: Connection,
    observer: Arc<CallObserver>,
}

/// The core shared by every door.
pub struct ServeCore {
    runtime: Runtime,
    options: CoreOptions,
    /// Every action of the component, in its order.
    all_actions: Vec<ActionDescriptor>,
    /// The ids offered (after `--read-only` and `--actions`).
    offered: BTreeSet<String>,
    connections: RwLock<Registry>,
    admission: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<ConnectionEntry>>,
    /// Name to id.
    by_name: HashMap<String, String>,
}

impl ServeCore {
    /// Reads the component's catalog and opens the named connections (name, settings); each
    /// gets its first instance now, so a refused one stops the start-up.
    pub async fn start(
        runtime: Runtime,
        options: CoreOptions,
        named: Vec<(String, Settings)>,
    ) -> Result<Arc<Self>, CoreError> {
        let mut lister =
            runtime.instantiate(OutboundHttp::new(AllowedHosts::none(), Route::Live), TimeSource::Real).await?;
        let all_actions = lister.list_actions().await?;
        let known: BTreeSet<&str> = all_actions.iter().map(|action| action.id.as_str()).collect();
        if let Some(allowlist) = &options.actions {
            let unknown: Vec<String> = allowlist.iter().filter(|id| !known.contains(id.as_str())).cloned().collect();
            if !unknown.is_empty() {
                return Err(CoreError::UnknownActions { unknown });
            }
        }
        let offered = all_actions
            .iter()
            .filter(|action| !options.read_only || action.read_only)
            .filter(|action| options.actions.as_ref().is_none_or(|allowed| allowed.contains(&action.id)))
            .map(|action| action.id.clone())
            .collect();
        let core = Arc::new(Self {
            runtime,
            admission: Arc::new(Semaphore::new(options.max_concurrency)),
            options,
            all_actions,
            offered,
            connections: RwLock::new(Registry::default()),
            metrics: Arc::new(Metrics::new()),
        });
        for (name, settings) in named {
            if core.lookup(&name).is_some() {
                return Err(CoreError::DuplicateName { name });
            }
            match core.register(Some(name.clone()), settings).await? {
                Ok(_) => {}
                Err(error) => return Err(CoreError::Connection { name, error }),
            }
        }
        Ok(core)
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The descriptors of the actions offered, in the component's order.
    pub fn descriptors(&self) -> Vec<ActionDescriptor> {
        self.all_actions.iter().filter(|action| self.offered.contains(&action.id)).cloned().collect()
    }

    /// Every connection registered, in no particular order.
    pub fn connections(&self) -> Vec<Arc<ConnectionEntry>> {
        self.read_registry().by_id.values().cloned().collect()
    }

    /// A registered connection by id or name.
    pub fn lookup(&self, id_or_name: &str) -> Option<Arc<ConnectionEntry>> {
        let registry = self.read_registry();
        let id = registry.by_name.get(id_or_name).map(String::as_str).unwrap_or(id_or_name);
        registry.by_id.get(id).cloned()
    }

    /// Opens a connection with `settings` and registers it: `Ok(Err(..))` when the component
    /// refuses the settings. Its first instance stays in its pool for the first call.
    pub async fn register(
        &self,
        name: Option<String>,
        settings: Settings,
    ) -> Result<Result<Arc<ConnectionEntry>, ConnectorError>, HostError> {
        let (pooled, description) = match self.open_instance(&settings).await? {
            Ok(opened) => opened,
            Err(error) => return Ok(Err(error)),
        };
        let description = serde_json::from_str(&description).unwrap_or(serde_json::Value::String(description));
        let entry = Arc::new(ConnectionEntry {
            id: random_id("c-"),
            name: name.clone(),
            description,
            settings,
            pool: InstancePool {
                idle: Mutex::new(vec![pooled]),
                slots: Arc::new(Semaphore::new(self.options.instances_per_connection.max(1))),
                closed: AtomicBool::new(false),
            },
            rate: self.options.rate_limit.map(|rate| (rate, RateLimiter::new(rate))),
        });
        self.metrics.instances_idle().inc();
        let mut registry = self.write_registry();
        if let Some(name) = name {
            registry.by_name.insert(name, entry.id.clone());
        }
        registry.by_id.insert(entry.id.clone(), entry.clone());
        self.metrics.connections().set(registry.by_id.len() as i64);
        Ok(Ok(entry))
    }

    /// Forgets a connection: its idle instances are dropped at once (with its secrets and
    /// tokens), those running a call when it ends. `false` when there was none.
    pub fn remove(&self, id_or_name: &str) -> bool {
        let entry = {
            let mut registry = self.write_registry();
            let id = registry.by_name.get(id_or_name).cloned().unwrap_or_else(|| id_or_name.to_string());
            let Some(entry) = registry.by_id.remove(&id) else {
                return false;
            };
            if let Some(name) = &entry.name {
                registry.by_name.remove(name);
            }
            self.metrics.connections().set(registry.by_id.len() as i64);
            entry
        };
        entry.pool.closed.store(true, Ordering::SeqCst);
        let idle = std::mem::take(&mut *lock(&entry.pool.idle));
        self.metrics.instances_idle().dec_by(idle.len() as i64);
        drop(idle);
        true
    }

    /// Runs one call to its end, even when the caller goes away meanwhile (the call runs in
    /// a task of its own, so an instance is never dropped half-way through a call and a
    /// connection's instances go back to its pool), counts it and logs it.
    pub async fn call(self: &Arc<Self>, request: CallRequest) -> CallOutcome {
        let core = self.clone();
        let task = tokio::spawn(async move { core.run_call(request).await });
        match task.await {
            Ok(outcome) => outcome,
            Err(error) => CallOutcome {
                result: Err(CallError::Failed(HostError::Trap {
                    call: "serve".into(),
                    reason: error.to_string(),
                    stderr: String::new(),
                })),
                upstream_request_ids: Vec::new(),
            },
        }
    }

    async fn run_call(self: Arc<Self>, request: CallRequest) -> CallOutcome {
        let started = Instant::now();
        let (connection_id, outcome) = self.admit_and_run(&request).await;
        let outcome_label = match &outcome.result {
            Ok(_) => "ok".to_string(),
            Err(error) => error.code(),
        };
        match &outcome.result {
            Err(CallError::Busy { .. }) => self.metrics.rejected("busy"),
            Err(CallError::RateLimited { .. }) => self.metrics.rejected("rate-limit"),
            Err(CallError::NotOffered { .. } | CallError::UnknownConnection(_)) => {}
            _ => self.metrics.invocation(&request.action, &outcome_label, started.elapsed()),
        }
        let (message, graph_code, status) = match &outcome.result {
            Err(CallError::Connector(error) | CallError::Stopped { error, .. }) => {
                (None, error.graph_code.clone(), error.status)
            }
            Err(CallError::Failed(error)) => (Some(error.to_string()), None, None),
            _ => (None, None, None),
        };
        // Inputs, outputs and settings are never logged; a host failure's message names the
        // call and Wasmtime's reason, not the data.
        tracing::info!(
            target: "connector_host::serve::call",
            request_id = %request.request_id,
            connection = connection_id.as_deref().unwrap_or("inline"),
            action = %request.action,
            outcome = %outcome_label,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            upstream_status = status,
            graph_code = graph_code.as_deref(),
            upstream_request_ids = %outcome.upstream_request_ids.join(","),
            failure = message.as_deref(),
            dry_run = request.dry_run,
            "call"
        );
        outcome
    }

    /// Admission, the connection, the rate limit, then the call itself; returns the
    /// connection's id for the log.
    async fn admit_and_run(&self, request: &CallRequest) -> (Option<String>, CallOutcome) {
        let refused = |error| CallOutcome { result: Err(error), upstream_request_ids: Vec::new() };
        if !self.offered.contains(&request.action) {
            let reason = if !self.all_actions.iter().any(|action| action.id == request.action) {
                "the component has no such action (GET /v1/actions lists them)"
            } else if self.options.read_only {
                "the service runs with --read-only and the action writes"
            } else {
                "the action is not in the service's --actions list"
            };
            return (None, refused(CallError::NotOffered { action: request.action.clone(), reason }));
        }
        let entry = match &request.connection {
            ConnectionRef::Registered(name) => match self.lookup(name) {
                Some(entry) => Some(entry),
                None => return (None, refused(CallError::UnknownConnection(name.clone()))),
            },
            ConnectionRef::Inline(_) => None,
        };
        let connection_id = entry.as_ref().map(|entry| entry.id.clone());
        if let Some((rate, limiter)) = entry.as_ref().and_then(|entry| entry.rate.as_ref()) {
            if let Err(retry_after) = limiter.try_acquire(Instant::now()) {
                return (connection_id, refused(CallError::RateLimited { retry_after, rate: *rate }));
            }
        }
        let Ok(_admitted) = self.admission.clone().try_acquire_owned() else {
            return (connection_id, refused(CallError::Busy { max_concurrency: self.options.max_concurrency }));
        };
        self.metrics.calls_in_flight().inc();
        let options = InvokeOptions { timeout_ms: request.timeout_ms, dry_run: request.dry_run };
        let outcome = match (&entry, &request.connection) {
            (Some(entry), _) => self.call_registered(entry, &request.action, &request.input, options).await,
            (None, ConnectionRef::Inline(settings)) => {
                self.call_inline(settings, &request.action, &request.input, options).await
            }
            (None, ConnectionRef::Registered(_)) => unreachable!("a registered connection was looked up above"),
        };
        self.metrics.calls_in_flight().dec();
        (connection_id, outcome)
    }

    async fn call_registered(
        &self,
        entry: &ConnectionEntry,
        action: &str,
        input: &str,
        options: InvokeOptions,
    ) -> CallOutcome {
        let failed = |error| CallOutcome { result: Err(error), upstream_request_ids: Vec::new() };
        // The pool's semaphore is never closed, so acquiring only waits.
        let Ok(_slot) = entry.pool.slots.clone().acquire_owned().await else {
            return failed(CallError::Failed(HostError::InstanceFailed));
        };
        let reused = lock(&entry.pool.idle).pop();
        let mut pooled = match reused {
            Some(pooled) => {
                self.metrics.instances_idle().dec();
                pooled
            }
            None => match self.open_instance(&entry.settings).await {
                Ok(Ok((pooled, _description))) => pooled,
                Ok(Err(error)) => return failed(CallError::Connector(error)),
                Err(error) => return failed(CallError::Failed(error)),
            },
        };
        self.metrics.instances_in_use().inc();
        let result = pooled.instance.invoke_on(&pooled.connection, action, input, options).await;
        self.metrics.instances_in_use().dec();
        let upstream_request_ids = pooled.observer.take_request_ids();
        if !pooled.instance.has_failed() && !entry.pool.closed.load(Ordering::SeqCst) {
            lock(&entry.pool.idle).push(pooled);
            self.metrics.instances_idle().inc();
        }
        CallOutcome { result: call_result(result), upstream_request_ids }
    }

    async fn call_inline(&self, settings: &Settings, action: &str, input: &str, options: InvokeOptions) -> CallOutcome {
        let mut pooled = match self.open_instance(settings).await {
            Ok(Ok((pooled, _description))) => pooled,
            Ok(Err(error)) => {
                return CallOutcome { result: Err(CallError::Connector(error)), upstream_request_ids: Vec::new() }
            }
            Err(error) => {
                return CallOutcome { result: Err(CallError::Failed(error)), upstream_request_ids: Vec::new() }
            }
        };
        self.metrics.instances_in_use().inc();
        let result = pooled.instance.invoke_on(&pooled.connection, action, input, options).await;
        self.metrics.instances_in_use().dec();
        CallOutcome { result: call_result(result), upstream_request_ids: pooled.observer.take_request_ids() }
    }

    /// A new instance with a connection opened from `settings`, and the connection's description.
    async fn open_instance(
        &self,
        settings: &Settings,
    ) -> Result<Result<(PooledInstance, String), ConnectorError>, HostError> {
        let observer = Arc::new(CallObserver::new(self.metrics.clone()));
        let outbound =
            OutboundHttp::new(self.options.allowed_hosts.clone(), self.options.route.clone()).observe(observer.clone());
        let mut instance = self.runtime.instantiate(outbound, TimeSource::Real).await?;
        match instance.open(&settings.0).await {
            Ok(Ok((connection, description))) => {
                let _ = observer.take_request_ids();
                Ok(Ok((PooledInstance { instance, connection, observer }, description)))
            }
            Ok(Err(error)) => Ok(Err(error)),
            Err(error) => match error.as_connector_error() {
                Some(typed) => Ok(Err(typed)),
                None => Err(error),
            },
        }
    }

    fn read_registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.connections.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_registry(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.connections.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The call's result as the doors see it: the sandbox's limits as typed errors too.
fn call_result(result: crate::Result<Result<String, ConnectorError>>) -> Result<String, CallError> {
    match result {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(CallError::Connector(error)),
        Err(error) => match error.as_connector_error() {
            Some(typed) => {
                Err(CallError::Stopped { error: typed, deadline: matches!(error, HostError::DeadlineExceeded { .. }) })
            }
            None => Err(CallError::Failed(error)),
        },
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A random id with a prefix: 16 bytes of the operating system's randomness, in hex.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    // Without OS randomness, a time-based id is still unique in this process.
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = nanos.to_le_bytes();
    }
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}
