//! The Wasmtime side: one [`Runtime`] compiles and links the component once; each
//! connection gets its own [`Instance`] (a store plus an instance of the component),
//! reused across that connection's calls and dropped on the first trap or limit breach.
//!
//! The linker provides exactly the imports of the `connector` world (`wit/connector.wit`):
//! `wasi:io`, the clocks, randomness, the `wasi:cli` interfaces the Rust standard library
//! links, and `wasi:http` (types and the outgoing handler). No filesystem and no sockets are
//! linked at all: a component that imports them does not fit the world. The sandbox grants
//! nothing but outgoing HTTP through [`OutboundHttp`]: there is no environment and there are
//! no arguments; stdout is discarded and stderr is kept in a small buffer for trap reports.

use crate::error::{HostError, Result};
use crate::sandbox::cache::{compile, CompiledCache, ComponentSource};
use crate::sandbox::clock::{TimeSource, VirtualMonotonicClock, VirtualWallClock};
use crate::sandbox::exports::{ExportIndices, Exports};
use crate::sandbox::http_policy::{AllowedHosts, OutboundHttp};
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{InstancePre, Linker, ResourceAny, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How often the epoch advances; the granularity of invocation deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much of the component's stderr is kept for trap reports.
const STDERR_CAPACITY: usize = 64 * 1024;

/// Limits applied to every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most linear memory one instance may use, in bytes.
    pub memory_bytes: usize,
    /// How long one call (`connect`, `list-actions`, `invoke`) may run.
    pub invocation_deadline: Duration,
    /// The largest HTTP response body passed to the component, in bytes; a larger one
    /// fails with `HttpResponseBodySize` instead of reaching it.
    pub response_body_bytes: usize,
    /// How many HTTP requests one call may send; one more stops the call with
    /// [`HostError::RequestLimit`].
    pub requests_per_invocation: usize,
}

impl Limits {
    /// 64 MiB: far above what a connector needs to page through Graph results, low
    /// enough that a runaway component cannot hurt the host.
    pub const DEFAULT_MEMORY_BYTES: usize = 64 * 1024 * 1024;
    /// 150 s: a hard stop above the connector's own default deadline (its `timeoutMs`,
    /// 120 s), so that a call normally ends with the connector's typed error, naming the
    /// request that ran out of time, before the host has to stop it.
    pub const DEFAULT_INVOCATION_DEADLINE: Duration = Duration::from_secs(150);
    /// 16 MiB: Graph pages and workbook ranges are far smaller, and a quarter of the
    /// default memory cap leaves room to parse what is let through.
    pub const DEFAULT_RESPONSE_BODY_BYTES: usize = 16 * 1024 * 1024;
    /// 500: enough to page through half a million objects in one call, few enough that a
    /// component stuck in a request loop is stopped within seconds.
    pub const DEFAULT_REQUESTS_PER_INVOCATION: usize = 500;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            invocation_deadline: Self::DEFAULT_INVOCATION_DEADLINE,
            response_body_bytes: Self::DEFAULT_RESPONSE_BODY_BYTES,
            requests_per_invocation: Self::DEFAULT_REQUESTS_PER_INVOCATION,
        }
    }
}

/// A compiled, linked component ready to be instantiated; cheap to clone and share
/// between threads.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
    limits: Limits,
}

struct RuntimeInner {
    pre: InstancePre<HostState>,
    /// The world's exports in the component.
    exports: ExportIndices,
    source: ComponentSource,
    /// The hosts the component declares (see [`AllowedHosts::declared_by`]).
    declared_hosts: Arc<AllowedHosts>,
    _ticker: EpochTicker,
}

/// How the engine gives instances their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceAllocation {
    /// Wasmtime's default: every instance maps its own memory, tables and stack.
    #[default]
    OnDemand,
    /// Slots reserved up front and reused, which makes instantiation several times
    /// cheaper; at most `max_instances` instances exist at once, and an instance's
    /// memory can never grow past the [`Limits::memory_bytes`] the runtime was built with.
    Pooling {
        /// How many instances may be alive at the same time.
        max_instances: u32,
    },
}

impl InstanceAllocation {
    /// 256 concurrent instances: one per open connection of a busy platform node. Each
    /// slot reserves address space only; memory is committed as instances touch it.
    pub const DEFAULT_POOLED_INSTANCES: u32 = 256;

    /// Pooling with [`Self::DEFAULT_POOLED_INSTANCES`] slots.
    pub fn pooling() -> Self {
        Self::Pooling { max_instances: Self::DEFAULT_POOLED_INSTANCES }
    }
}

/// Core instances, memories and tables a component instance may use from the pool; the
/// Graph component (its main module, the WASI adapter and their shims) needs fewer.
const POOLED_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const POOLED_MEMORIES_PER_COMPONENT: u32 = 2;
const POOLED_TABLES_PER_COMPONENT: u32 = 4;
/// How many bytes of the pages a dropped instance wrote to its linear memory are reset in
/// place and stay mapped for the next instance of the slot; pages beyond are unmapped. A
/// connect and a few calls write a few hundred KiB; a free slot holds at most this much.
const POOLED_MEMORY_KEEP_RESIDENT: usize = 1024 * 1024;
/// The same for each table (a funcref table of the component is a few KiB).
const POOLED_TABLE_KEEP_RESIDENT: usize = 256 * 1024;

/// How a [`Runtime`] is built: where compiled code comes from and how instances are allocated.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Load the compiled component from this cache (and store it there after compiling);
    /// `None` compiles at every start-up.
    pub cache: Option<CompiledCache>,
    /// How instances get their memory.
    pub allocation: InstanceAllocation,
    /// The component's hex SHA-256, when the caller already knows it (a component built into
    /// the binary, hashed at build time); it names the cached artefact without hashing the
    /// component.
    pub component_sha256: Option<&'static str>,
}

impl Runtime {
    /// Reads and compiles the component in `path`.
    pub fn from_file(path: &Path, limits: Limits) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|source| HostError::ReadComponent { path: path.to_path_buf(), source })?;
        Self::new(&bytes, limits)
    }

    /// Compiles a component and links it against the sandbox.
    pub fn new(component: &[u8], limits: Limits) -> Result<Self> {
        Self::with_options(component, limits, &RuntimeOptions::default())
    }

    /// Reads the component in `path`, then builds it as [`Self::with_options`] does.
    pub fn from_file_with_options(path: &Path, limits: Limits, options: &RuntimeOptions) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|source| HostError::ReadComponent { path: path.to_path_buf(), source })?;
        Self::with_options(&bytes, limits, options)
    }

    /// Compiles a component (or loads it from the cache) and links it against the sandbox.
    pub fn with_options(component: &[u8], limits: Limits, options: &RuntimeOptions) -> Result<Self> {
        let engine = Self::engine(limits, options.allocation)?;
        let declared_hosts = Arc::new(AllowedHosts::declared_by(component));
        let (component, source) = match &options.cache {
            Some(cache) => cache.load_or_compile(&engine, component, options.component_sha256)?,
            None => (compile(&engine, component)?, ComponentSource::Compiled),
        };

        let link_error = |error: wasmtime::Error| HostError::Link { reason: format!("{error:#}") };
        let mut linker = Linker::<HostState>::new(&engine);
        add_world_imports(&mut linker).map_err(link_error)?;
        let pre = linker.instantiate_pre(&component).map_err(link_error)?;
        let exports = ExportIndices::new(pre.component()).map_err(link_error)?;

        Ok(Self {
            inner: Arc::new(RuntimeInner {
                pre,
                exports,
                source,
                declared_hosts,
                _ticker: EpochTicker::start(&engine),
            }),
            limits,
        })
    }

    /// The engine every runtime of these settings uses; its settings are part of the
    /// cache key of compiled components.
    pub fn engine(limits: Limits, allocation: InstanceAllocation) -> Result<Engine> {
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        // Profiling: with CONNECTOR_HOST_PERFMAP set, compiled wasm functions are named in
        // /tmp/perf-PID.map, so `perf record`/`perf report` show the component's own functions
        // (build it unstripped to see their Rust names; BENCHMARKS.md, "How it measures").
        if std::env::var_os("CONNECTOR_HOST_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let InstanceAllocation::Pooling { max_instances } = allocation {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(max_instances)
                .total_core_instances(max_instances.saturating_mul(POOLED_CORE_INSTANCES_PER_COMPONENT))
                .total_memories(max_instances.saturating_mul(POOLED_MEMORIES_PER_COMPONENT))
                .total_tables(max_instances.saturating_mul(POOLED_TABLES_PER_COMPONENT))
                .total_stacks(max_instances)
                .max_memory_size(limits.memory_bytes);
            // Where Linux can list the pages an instance wrote (PAGEMAP_SCAN, 6.7 and later),
            // a dropped instance's pages are reset in place and stay mapped: no madvise, no
            // TLB shootdown, and no page faults for the next instance (BENCHMARKS.md, 4b).
            // Without it, keeping memory resident would mean resetting all of it: not done.
            if PoolingAllocationConfig::is_pagemap_scan_available() {
                pool.pagemap_scan(Enabled::Yes)
                    .linear_memory_keep_resident(POOLED_MEMORY_KEEP_RESIDENT)
                    .table_keep_resident(POOLED_TABLE_KEEP_RESIDENT);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        Engine::new(&config).map_err(|error| HostError::Compile { reason: format!("{error:#}") })
    }

    /// How the compiled component was obtained (compiled, or loaded from the cache).
    pub fn component_source(&self) -> &ComponentSource {
        &self.inner.source
    }

    /// The hosts the component declares its connections may reach: each connection is
    /// allowed those of them its description names.
    pub fn declared_hosts(&self) -> &AllowedHosts {
        &self.inner.declared_hosts
    }

    /// The limits every instance gets.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The same compiled component, giving its instances other limits.
    pub fn with_limits(&self, limits: Limits) -> Self {
        Self { inner: self.inner.clone(), limits }
    }

    /// Creates a fresh instance whose outgoing requests follow `outbound` and whose
    /// clocks follow `time`. Must run inside a tokio runtime.
    pub async fn instantiate(&self, mut outbound: OutboundHttp, time: TimeSource) -> Result<Instance> {
        let limits = self.limits;
        outbound.set_caps(limits.response_body_bytes, limits.requests_per_invocation);
        outbound.set_declared_hosts(self.inner.declared_hosts.clone());
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone()).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        if time == TimeSource::Virtual {
            match outbound.virtual_clocks() {
                Some((monotonic, wall)) => wasi.monotonic_clock(BoxedMonotonic(monotonic)).wall_clock(BoxedWall(wall)),
                None => wasi.monotonic_clock(VirtualMonotonicClock::new()).wall_clock(VirtualWallClock::new()),
            };
        }
        let state = HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound,
            memory: MemoryCap::new(limits.memory_bytes),
            call_deadline: std::time::Instant::now() + limits.invocation_deadline,
        };
        let mut store = Store::new(self.inner.pre.engine(), state);
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_callback(at_every_tick);
        store.set_epoch_deadline(1);
        let instance =
            self.inner.pre.instantiate_async(&mut store).await.map_err(|error| instantiation_error(&error, limits))?;
        let connector =
            self.inner.exports.load(&mut store, &instance).map_err(|error| instantiation_error(&error, limits))?;
        Ok(Instance {
            store,
            connector,
            connection: None,
            deadline: limits.invocation_deadline,
            memory_bytes: limits.memory_bytes,
            wall_clock_deadline: time == TimeSource::Real,
            requests_per_invocation: limits.requests_per_invocation,
            stderr,
            failed: false,
        })
    }
}

/// Why an instance could not be made. A memory cap below what the component starts with is
/// an operator's setting that no call can run under: it says both sizes.
fn instantiation_error(error: &wasmtime::Error, limits: Limits) -> HostError {
    let reason = match error.downcast_ref::<MemoryLimitReached>() {
        Some(reached) => format!(
            "the component starts with {} bytes of memory, above the cap of {} bytes per instance",
            reached.requested, limits.memory_bytes
        ),
        None => format!("{error:#}"),
    };
    HostError::Instantiate { reason }
}

/// Links exactly the imports of the `connector` world, no more: a component that imports
/// anything else (a filesystem, sockets) fails to link with [`HostError::Link`].
fn add_world_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
    use wasmtime_wasi::p2::bindings::{cli, clocks, io, random};
    use wasmtime_wasi::random::WasiRandom;
    let l = linker;
    io::error::add_to_linker::<HostState, HostIo>(l, |state| &mut state.table)?;
    io::poll::add_to_linker::<HostState, HostIo>(l, |state| &mut state.table)?;
    io::streams::add_to_linker::<HostState, HostIo>(l, |state| &mut state.table)?;
    clocks::monotonic_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, |state| state.wasi.random())?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, |state| state.wasi.random())?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    crate::http::outgoing_handler::add_to_linker(l)
}

/// `wasi:io`'s view of a store: its resource table.
struct HostIo;

impl wasmtime::component::HasData for HostIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// A monotonic clock an interceptor handed over, boxed.
struct BoxedMonotonic(Box<dyn HostMonotonicClock>);

impl HostMonotonicClock for BoxedMonotonic {
    fn resolution(&self) -> u64 {
        self.0.resolution()
    }

    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// A wall clock an interceptor handed over, boxed.
struct BoxedWall(Box<dyn HostWallClock>);

impl HostWallClock for BoxedWall {
    fn resolution(&self) -> Duration {
        self.0.resolution()
    }

    fn now(&self) -> Duration {
        self.0.now()
    }
}

/// Runs at every epoch tick while the component runs: stops a call that broke its
/// request cap or passed its deadline, and otherwise yields, so that a component spinning
/// in a loop cannot starve the other instances sharing its thread.
fn at_every_tick(store: wasmtime::StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    let state = store.data();
    if state.outbound.request_cap_broken() {
        return Err(wasmtime::Error::new(RequestLimitReached));
    }
    if std::time::Instant::now() >= state.call_deadline {
        return Ok(UpdateDeadline::Interrupt);
    }
    Ok(UpdateDeadline::Yield(1))
}

/// The trap payload of a call stopped for sending more requests than its cap.
#[derive(Debug)]
struct RequestLimitReached;

impl std::fmt::Display for RequestLimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request cap reached")
    }
}

impl std::error::Error for RequestLimitReached {}

/// Advances the engine's epoch from a background thread until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch ticker thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The data of each store.
struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: OutboundHttp,
    memory: MemoryCap,
    /// When the current call must stop (real time; see [`at_every_tick`]).
    call_deadline: std::time::Instant,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// Caps linear memory and turns a breach into a trap carrying [`MemoryLimitReached`],
/// so it is reported as [`HostError::MemoryLimit`] rather than as a generic trap.
struct MemoryCap {
    limit: usize,
    /// The largest size any memory of the instance was allowed to reach.
    peak: usize,
}

impl MemoryCap {
    fn new(limit: usize) -> Self {
        Self { limit, peak: 0 }
    }
}

/// The trap payload of a memory growth past the cap.
#[derive(Debug)]
struct MemoryLimitReached {
    requested: usize,
}

impl std::fmt::Display for MemoryLimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memory growth to {} bytes refused", self.requested)
    }
}

impl std::error::Error for MemoryLimitReached {}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitReached { requested: desired }));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The WIT's own types, as the host's bindings generate them: `error-code`, the typed
/// `connector-error` a component returns, an `action-descriptor`, and `invoke-options`.
pub use crate::sandbox::bindings::connector::plugin::types::{
    ActionDescriptor, ConnectorError, ErrorCode, InvokeOptions,
};

impl ErrorCode {
    /// The WIT (kebab-case) name, e.g. `not-found`: the bindings' case name
    /// (`ErrorCode::NotFound`, from their `Debug`) in kebab case, so the twelve names are
    /// written nowhere in the host.
    pub fn as_str(self) -> String {
        let generated = format!("{self:?}");
        let case = generated.rsplit("::").next().unwrap_or(&generated);
        let mut name = String::with_capacity(case.len() + 4);
        for (index, letter) in case.chars().enumerate() {
            if letter.is_ascii_uppercase() && index > 0 {
                name.push('-');
            }
            name.push(letter.to_ascii_lowercase());
        }
        name
    }
}

impl ConnectorError {
    /// A typed error with only a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status: None, graph_code: None, request_id: None, retry_after_ms: None }
    }

    /// The error as JSON with camelCase keys (`code`, `message`, `status`, `graphCode`,
    /// `requestId`, `retryAfterMs`); absent values are `null`.
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code.as_str(),
            "message": self.message,
            "status": self.status,
            "graphCode": self.graph_code,
            "requestId": self.request_id,
            "retryAfterMs": self.retry_after_ms,
        })
    }
}

impl ActionDescriptor {
    /// The descriptor as JSON with camelCase keys; schemas are parsed (kept as text when
    /// they are not valid JSON).
    pub fn to_json(&self) -> Value {
        let schema = |text: &str| serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
        json!({
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "inputSchema": schema(&self.input_schema),
            "outputSchema": schema(&self.output_schema),
            "permissions": self.permissions,
            "readOnly": self.read_only,
        })
    }
}

/// What a call returned: the component's own result, whose error is typed.
pub type CallResult<T> = std::result::Result<T, ConnectorError>;

/// Awaits a call, also stopping it after `deadline` of tokio time when
/// `wall_clock_deadline` (the epoch deadline only counts time spent running wasm).
async fn within_deadline<T>(
    deadline: Duration,
    wall_clock_deadline: bool,
    running: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    if !wall_clock_deadline {
        return running.await;
    }
    match tokio::time::timeout(deadline, running).await {
        Ok(outcome) => outcome,
        Err(_elapsed) => Err(wasmtime::Error::new(Trap::Interrupt)),
    }
}

/// Checks that a call's successful result is JSON text, as the world promises. The text is
/// only scanned, never built into a tree (a list of 10,000 users is megabytes of it).
fn json_output(call: &str, result: CallResult<String>) -> Result<CallResult<String>> {
    match result {
        Ok(text) => match serde_json::from_str::<&serde_json::value::RawValue>(&text) {
            Ok(_) => Ok(Ok(text)),
            Err(error) => Err(HostError::InvalidJson { call: call.to_string(), reason: error.to_string(), text }),
        },
        Err(error) => Ok(Err(error)),
    }
}

/// A `connection` resource open in an [`Instance`] (see [`Instance::open`]); it belongs to
/// that instance and is used only with it.
#[derive(Debug)]
pub struct Connection(ResourceAny);

/// One instance of the component. [`Instance::connect`] opens the `connection` resource that
/// [`Instance::invoke`] uses (the CLI and the replay harness serve one connection per
/// instance); [`Instance::open`] opens further ones, each with its own settings and tokens.
pub struct Instance {
    store: Store<HostState>,
    connector: Exports,
    /// The `connection` resource [`Instance::connect`] opened last, if any.
    connection: Option<ResourceAny>,
    deadline: Duration,
    memory_bytes: usize,
    /// Live calls also stop at the deadline while waiting on the network; replay's time
    /// is virtual, so there only the epoch deadline (real time spent running) applies.
    wall_clock_deadline: bool,
    requests_per_invocation: usize,
    stderr: MemoryOutputPipe,
    failed: bool,
}

impl Instance {
    /// Opens a `connection` with connection settings (JSON text) and returns its
    /// description (`connection.describe`); the connection opened before, if any, is
    /// dropped first. The hosts of the cloud the settings name become reachable for this
    /// instance.
    pub async fn connect(&mut self, config: &str) -> Result<CallResult<String>> {
        if let Some(previous) = self.connection.take() {
            self.close(Connection(previous)).await?;
        }
        Ok(self.open(config).await?.map(|(connection, description)| {
            self.connection = Some(connection.0);
            description
        }))
    }

    /// Opens one more `connection` (`connection.open`, then `describe`), independent of the
    /// others this instance holds: its own settings and token cache. Returns it with its
    /// description. The hosts of the cloud the settings name become reachable for this instance.
    pub async fn open(&mut self, config: &str) -> Result<CallResult<(Connection, String)>> {
        self.begin()?;
        let exports = &self.connector;
        let store = &mut self.store;
        let running = async move {
            match exports.open(&mut *store, config).await? {
                Ok(connection) => {
                    let description = exports.describe(&mut *store, connection).await;
                    Ok(description.map(|description| Ok((connection, description))))
                }
                Err(error) => Ok(Ok(Err(error))),
            }
        };
        let outcome = within_deadline(self.deadline, self.wall_clock_deadline, running).await.and_then(|inner| inner);
        match self.finish("connect", outcome)? {
            Ok((connection, description)) => match json_output("connect", Ok(description)) {
                Ok(described) => {
                    if let Ok(description) = &described {
                        self.store.data_mut().outbound.connect_with(description);
                    }
                    Ok(described.map(|description| (Connection(connection), description)))
                }
                Err(error) => {
                    self.close(Connection(connection)).await?;
                    Err(error)
                }
            },
            Err(error) => Ok(Err(error)),
        }
    }

    /// Drops a connection [`Instance::open`] returned: the component forgets its secrets and
    /// tokens.
    pub async fn close(&mut self, connection: Connection) -> Result<()> {
        self.begin()?;
        let outcome = connection.0.resource_drop_async(&mut self.store).await;
        self.finish("drop connection", outcome)
    }

    /// Calls `list-actions`.
    pub async fn list_actions(&mut self) -> Result<Vec<ActionDescriptor>> {
        self.begin()?;
        let running = self.connector.list_actions(&mut self.store);
        let outcome = within_deadline(self.deadline, self.wall_clock_deadline, running).await;
        self.finish("list-actions", outcome)
    }

    /// Invokes an action with its input (JSON text) on the open connection, with the
    /// default options. Before a successful [`Instance::connect`] the result is a
    /// `not-connected` error.
    pub async fn invoke(&mut self, action: &str, input: &str) -> Result<CallResult<String>> {
        self.invoke_with(action, input, InvokeOptions { timeout_ms: None, dry_run: false }).await
    }

    /// Invokes an action on the connection [`Instance::connect`] opened, with per-call options.
    pub async fn invoke_with(
        &mut self,
        action: &str,
        input: &str,
        options: InvokeOptions,
    ) -> Result<CallResult<String>> {
        let Some(connection) = self.connection else {
            self.begin()?;
            return Ok(Err(ConnectorError::new(ErrorCode::NotConnected, "call connect before invoke")));
        };
        self.invoke_on(&Connection(connection), action, input, options).await
    }

    /// Invokes an action on one of the connections [`Instance::open`] returned
    /// (`connection.invoke`).
    pub async fn invoke_on(
        &mut self,
        connection: &Connection,
        action: &str,
        input: &str,
        options: InvokeOptions,
    ) -> Result<CallResult<String>> {
        self.begin()?;
        let running = self.connector.invoke(&mut self.store, connection.0, action, input, options);
        let outcome = within_deadline(self.deadline, self.wall_clock_deadline, running).await;
        let call = format!("invoke {action}");
        let output = self.finish(&call, outcome)?;
        json_output(&call, output)
    }

    /// Runs one action with the world's stateless `call` export: the component opens a
    /// connection for it and drops it before returning (one token request per call).
    pub async fn call(
        &mut self,
        config: &str,
        action: &str,
        input: &str,
        options: InvokeOptions,
    ) -> Result<CallResult<String>> {
        // The hosts this call may reach are those its connection describes: open one to
        // read its description (no request is made), then let `call` open its own.
        match self.open(config).await? {
            Ok((connection, _)) => self.close(connection).await?,
            Err(_) => self.store.data_mut().outbound.disconnect(),
        }
        self.begin()?;
        let running = self.connector.call(&mut self.store, config, action, input, options);
        let outcome = within_deadline(self.deadline, self.wall_clock_deadline, running).await;
        let call = format!("call {action}");
        let output = self.finish(&call, outcome)?;
        json_output(&call, output)
    }

    /// What this instance's requests may reach now: the declared hosts its last opened
    /// connection names, and the operator's extra hosts.
    pub fn allowed_hosts(&self) -> AllowedHosts {
        self.store.data().outbound.allowed()
    }

    /// The largest size the instance's linear memory has reached, in bytes (linear memory
    /// never shrinks, so this is also its current size).
    pub fn peak_memory_bytes(&self) -> usize {
        self.store.data().memory.peak
    }

    /// How many host resources (requests, responses, streams, options, ...) the instance
    /// holds between calls. A component that drops what it is done with holds the same
    /// number after every call; a host that forgets to free one grows it call by call.
    pub fn resource_count(&mut self) -> usize {
        self.store.data_mut().table.iter_mut().count()
    }

    /// Whether an earlier failure dropped this instance.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Everything the component wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Refuses calls on a failed instance and arms the deadline for a new call.
    fn begin(&mut self) -> Result<()> {
        if self.failed {
            return Err(HostError::InstanceFailed);
        }
        let state = self.store.data_mut();
        state.call_deadline = std::time::Instant::now() + self.deadline;
        state.outbound.begin_call();
        self.store.set_epoch_deadline(1);
        Ok(())
    }

    /// Turns a trap, or a call that broke its request cap, into a typed host error and
    /// marks the instance failed.
    fn finish<T>(&mut self, call: &str, outcome: wasmtime::Result<T>) -> Result<T> {
        let request_cap_broken = self.store.data().outbound.request_cap_broken();
        match outcome {
            Ok(value) if !request_cap_broken => Ok(value),
            Ok(_) => {
                self.failed = true;
                Err(HostError::RequestLimit { call: call.to_string(), limit: self.requests_per_invocation })
            }
            Err(error) => {
                self.failed = true;
                Err(self.classify(call.to_string(), error))
            }
        }
    }

    fn classify(&self, call: String, error: wasmtime::Error) -> HostError {
        if error.downcast_ref::<RequestLimitReached>().is_some() {
            return HostError::RequestLimit { call, limit: self.requests_per_invocation };
        }
        if let Some(reached) = error.downcast_ref::<MemoryLimitReached>() {
            return HostError::MemoryLimit { call, limit_bytes: self.memory_bytes, requested_bytes: reached.requested };
        }
        if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
            return HostError::DeadlineExceeded { call, deadline: self.deadline };
        }
        HostError::Trap { call, reason: format!("{error:?}"), stderr: self.stderr() }
    }
}
