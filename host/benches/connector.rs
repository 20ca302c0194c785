//! `cargo bench -p connector-host`: every figure of BENCHMARKS.md, in one run.
//!
//! The fixtures are built in memory and replayed (no network). The same Graph logic runs
//! twice on each of them: inside the sandbox (the embedded component on Wasmtime), and
//! compiled natively behind a [`Transport`] that answers from the very same replay
//! session, so the difference between the two is what the sandbox costs.
//!
//! Options (after `--`): `--quick` (fewer samples, for a smoke run), `--section NAME`
//! (one of `startup`, `instantiate`, `invoke`, `exchange`, `throughput`, `fresh`, `memory`, `size`;
//! repeatable), `--cache-dir DIR` (keep the compiled component there between runs, so that a
//! profiler attached to the run sees no compilation), `--no-pooling` (the pooling figures on the
//! default allocator, for valgrind, which cannot reserve the pool's address space). The environment variable
//! `CONNECTOR_BENCH_COMPONENT=FILE` measures another build of the component (another
//! optimisation level, say) against the same native baseline, without rebuilding the benchmark.
//! `CONNECTOR_BENCH_BASELINE=FILE` adds a section `compare`: a warm `users.get` on the measured
//! component and on that one, samples alternating in one process, so that a change of a
//! microsecond shows through the machine's drift between runs.

use connector_host::replay::fixture::Fixture;
use connector_host::replay::matcher::ActualRequest;
use connector_host::replay::{paused_runtime, ReplaySession};
use connector_host::sandbox::cache::{compile, CompiledCache};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{AllowedHosts, HostPattern, OutboundHttp};
use connector_host::sandbox::runtime::{InstanceAllocation, RuntimeOptions};
use connector_host::{Instance, Limits, Runtime, EMBEDDED_COMPONENT};
use graph_connector::graph::transport::{HttpRequest, HttpResponse, Transport, TransportError, TransportErrorKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The connection every benchmark uses: a fixed access token, so `connect` sends nothing.
const CONNECTION: &str = r#"{"auth":"accessToken","accessToken":"bench-token"}"#;
/// The user `users.get` reads.
const USER_ID: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
/// Users in the large list, and how many pages Graph splits them into.
const LIST_USERS: usize = 10_000;
const LIST_PAGES: usize = 10;
/// Names a component file to measure instead of the embedded one.
const COMPONENT_VARIABLE: &str = "CONNECTOR_BENCH_COMPONENT";
/// Names a component file to compare the measured one with (section `compare`).
const BASELINE_VARIABLE: &str = "CONNECTOR_BENCH_BASELINE";

/// The component under measurement: the embedded one, or the file [`COMPONENT_VARIABLE`] names.
fn component() -> &'static [u8] {
    static COMPONENT: OnceLock<Vec<u8>> = OnceLock::new();
    match std::env::var_os(COMPONENT_VARIABLE) {
        None => EMBEDDED_COMPONENT,
        Some(path) => COMPONENT
            .get_or_init(|| std::fs::read(&path).expect("the component file named by CONNECTOR_BENCH_COMPONENT reads")),
    }
}

/// The argument that makes the benchmark binary measure memory in a child process.
const MEMORY_CHILD_ARGUMENT: &str = "--memory-child";

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let Some(position) = arguments.iter().position(|argument| argument == MEMORY_CHILD_ARGUMENT) {
        memory_child(&arguments[position + 1..]);
        return;
    }
    let quick = arguments.iter().any(|argument| argument == "--quick");
    let sections: Vec<&str> =
        arguments.windows(2).filter(|pair| pair[0] == "--section").map(|pair| pair[1].as_str()).collect();
    let wanted = |name: &str| sections.is_empty() || sections.contains(&name);
    let scale = if quick { Scale::QUICK } else { Scale::FULL };
    let cache_dir = arguments.windows(2).find(|pair| pair[0] == "--cache-dir").map(|pair| PathBuf::from(&pair[1]));
    let pooling = !arguments.iter().any(|argument| argument == "--no-pooling");
    let bench = Bench::new(cache_dir, pooling);

    println!("connector-host benchmarks ({} samples mode)", if quick { "quick" } else { "full" });
    if !pooling {
        println!("--no-pooling: every figure said to be of the pooling allocator is of the default one");
    }
    match std::env::var_os(COMPONENT_VARIABLE) {
        Some(path) => println!("component: {} bytes, from {}", component().len(), PathBuf::from(path).display()),
        None => println!("component: {} bytes embedded", component().len()),
    }
    if wanted("startup") {
        bench.startup(&scale);
    }
    if wanted("instantiate") {
        bench.instantiate(&scale);
    }
    if wanted("invoke") {
        bench.invoke(&scale);
    }
    if wanted("exchange") {
        bench.exchange(&scale);
    }
    if sections.contains(&"instructions") {
        bench.instructions(&scale);
    }
    if let Some(baseline) = std::env::var_os(BASELINE_VARIABLE) {
        if wanted("compare") {
            bench.compare(&scale, Path::new(&baseline));
        }
    }
    if wanted("throughput") {
        bench.throughput(&scale);
    }
    if wanted("fresh") {
        bench.fresh(&scale);
    }
    if wanted("memory") {
        bench.memory();
    }
    if wanted("size") {
        bench.size();
    }
}

/// How many samples each measurement takes.
struct Scale {
    compilations: usize,
    loads: usize,
    instantiations: usize,
    small_invocations: usize,
    list_invocations: usize,
    throughput_time: Duration,
}

impl Scale {
    const FULL: Scale = Scale {
        compilations: 3,
        loads: 200,
        instantiations: 5_000,
        small_invocations: 10_000,
        list_invocations: 20,
        throughput_time: Duration::from_secs(3),
    };
    const QUICK: Scale = Scale {
        compilations: 1,
        loads: 20,
        instantiations: 200,
        small_invocations: 300,
        list_invocations: 3,
        throughput_time: Duration::from_millis(300),
    };
}

/// What every section shares: the fixtures, a cache folder, and the runtimes built from it.
struct Bench {
    get_fixture: Fixture,
    list_fixture: Fixture,
    list_json_bytes: usize,
    cache_dir: CacheDir,
    on_demand: Runtime,
    pooled: Runtime,
}

impl Bench {
    /// `pooling: false` runs the pooling figures on the default allocator, for tools that
    /// cannot reserve the pool's address space (valgrind).
    fn new(kept_cache: Option<PathBuf>, pooling: bool) -> Self {
        let cache_dir = match kept_cache {
            Some(path) => CacheDir::Kept(path),
            None => CacheDir::Temporary(TemporaryDir::new("bench-cache")),
        };
        let options = |allocation| RuntimeOptions {
            cache: Some(CompiledCache::new(cache_dir.path())),
            allocation,
            ..RuntimeOptions::default()
        };
        let on_demand = Runtime::with_options(component(), Limits::default(), &options(Default::default()))
            .expect("the embedded component compiles");
        let pooled = match pooling {
            true => Runtime::with_options(component(), Limits::default(), &options(InstanceAllocation::pooling()))
                .expect("the embedded component compiles for the pooling allocator"),
            false => on_demand.with_limits(Limits::default()),
        };
        let (list_fixture, list_json_bytes) = list_fixture();
        let bench = Self { get_fixture: get_fixture(), list_fixture, list_json_bytes, cache_dir, on_demand, pooled };
        bench.check_both_sides_agree();
        bench
    }

    /// The sandboxed and the native connector give the same output on both fixtures and
    /// use every exchange: otherwise the figures would compare different work.
    fn check_both_sides_agree(&self) {
        let tokio = paused_runtime().expect("a tokio runtime");
        for (fixture, input) in [(&self.get_fixture, get_input()), (&self.list_fixture, list_input())] {
            let mut sandboxed = tokio.block_on(SandboxedConnection::open(&self.on_demand, fixture));
            let mut native = NativeConnection::open(fixture);
            let from_sandbox = tokio.block_on(sandboxed.invoke(fixture, &input));
            let from_native = native.invoke(fixture, &input);
            let action = &fixture.steps()[0].action;
            assert_eq!(from_sandbox, from_native, "{action}: the sandbox and the native build disagree");
            assert!(from_native.starts_with('{'), "{action} failed: {from_native}");
            for session in [&sandboxed.session, &native.session] {
                let mut session = lock(session);
                let _ = session.end_phase(true);
                let differences = session.take_differences();
                assert!(differences.is_empty(), "{action}: the replay found differences: {differences:?}");
            }
        }
    }

    fn startup(&self, scale: &Scale) {
        section("1. start-up: compiling the component vs loading the cached artefact");
        let engine = Runtime::engine(Limits::default(), InstanceAllocation::OnDemand).expect("an engine");
        let compiling = sample(scale.compilations, || {
            compile(&engine, component()).expect("the component compiles");
        });
        report("compile (Component::new, parallel Cranelift)", &compiling);

        let cache = CompiledCache::new(self.cache_dir.path());
        // The embedded component's digest was computed at build time, as the CLI uses it.
        let known = std::ptr::eq(component(), EMBEDDED_COMPONENT)
            .then_some(connector_host::embedded::EMBEDDED_COMPONENT_SHA256);
        let artefact = cache.artefact_path(&engine, component(), known);
        let _ = cache.load_or_compile(&engine, component(), known).expect("the cache is primed");
        let keying = sample(scale.loads, || {
            std::hint::black_box(cache.artefact_path(&engine, component(), known));
        });
        report("cache key (SHA-256 of the component + engine hash)", &keying);
        let loading = sample(scale.loads, || {
            let (_component, source) = cache.load_or_compile(&engine, component(), known).expect("loads");
            assert_eq!(source, connector_host::sandbox::cache::ComponentSource::LoadedFromCache);
        });
        report("load cached artefact (key + mmap + checks)", &loading);
        let starting = sample(scale.loads / 4 + 1, || {
            let options = RuntimeOptions {
                cache: Some(cache.clone()),
                allocation: InstanceAllocation::OnDemand,
                component_sha256: known,
            };
            Runtime::with_options(component(), Limits::default(), &options).expect("starts");
        });
        report("whole Runtime start-up from the cache (+ engine, linker, pre-instantiation)", &starting);
        let artefact_bytes = std::fs::metadata(&artefact).map(|metadata| metadata.len()).unwrap_or(0);
        println!("  cached artefact: {artefact_bytes} bytes ({})", artefact.display());
        println!("  compile / load: {:.0}x", compiling.median() / loading.median());
    }

    fn instantiate(&self, scale: &Scale) {
        section("2. instantiate + connect (accessToken), per instance");
        let tokio = paused_runtime().expect("a tokio runtime");
        for (name, runtime) in [("default allocator", &self.on_demand), ("pooling allocator", &self.pooled)] {
            let instantiating = sample(scale.instantiations, || {
                drop(tokio.block_on(runtime.instantiate(replay_outbound(&self.get_fixture).0, TimeSource::Virtual)));
            });
            report(&format!("instantiate + drop, {name}"), &instantiating);
            let connecting = sample(scale.instantiations, || {
                drop(tokio.block_on(SandboxedConnection::open(runtime, &self.get_fixture)));
            });
            report(&format!("instantiate + connect + drop, {name}"), &connecting);
        }
        // The same connect on an instance that has run before: what the first call of a fresh
        // instance costs beyond it is the instance's own start (constructors, first touches).
        let mut warm = tokio.block_on(SandboxedConnection::open(&self.pooled, &self.get_fixture));
        let reconnecting = sample(scale.instantiations, || {
            let connected = tokio.block_on(warm.instance.connect(CONNECTION)).expect("connect runs");
            assert!(connected.is_ok(), "connect failed: {connected:?}");
        });
        report("connect again on a connected instance, pooling allocator", &reconnecting);
        let native = sample(scale.instantiations, || drop(NativeConnection::open(&self.get_fixture)));
        report("native: Connector::new + connect + drop", &native);
    }

    fn invoke(&self, scale: &Scale) {
        section("3. warm invocations (one connected instance, one fixture replayed per call)");
        let tokio = paused_runtime().expect("a tokio runtime");
        let cases = [
            ("users.get", &self.get_fixture, get_input(), scale.small_invocations, 1),
            (
                "users.list 10,000 users / 10 pages",
                &self.list_fixture,
                list_input(),
                scale.list_invocations,
                LIST_PAGES,
            ),
        ];
        for (name, fixture, input, count, exchanges) in cases {
            let mut sandboxed = tokio.block_on(SandboxedConnection::open(&self.pooled, fixture));
            let mut native = NativeConnection::open(fixture);
            let (wasm, native) = sample_interleaved(
                count,
                |measure| {
                    sandboxed.reset(fixture);
                    measure(&mut || {
                        tokio.block_on(sandboxed.invoke_only(&input));
                    })
                },
                |measure| {
                    native.reset(fixture);
                    measure(&mut || {
                        native.invoke_only(&input);
                    })
                },
            );
            report(&format!("{name}, wasm"), &wasm);
            report(&format!("{name}, native"), &native);
            println!(
                "  {name}: wasm/native {:.2}x (median), sandbox overhead {:.1} µs per call, {:.1} µs per exchange",
                wasm.median() / native.median(),
                (wasm.median() - native.median()) * 1e6,
                (wasm.median() - native.median()) * 1e6 / exchanges as f64,
            );
        }
        let list_call = sample(3, || {
            let mut native = NativeConnection::open(&self.list_fixture);
            native.invoke(&self.list_fixture, &list_input());
        });
        println!(
            "  list fixture: {} bytes of JSON across {LIST_PAGES} pages; one native list call with session set-up {}",
            self.list_json_bytes,
            micros(list_call.median())
        );
    }

    /// A connected sandboxed instance (pooling) and a native connector for `users.get`, and
    /// the runtime the instance runs on (sections 3b and 3c).
    fn warm_users_get(&self) -> (tokio::runtime::Runtime, SandboxedConnection, NativeConnection) {
        let tokio = paused_runtime().expect("a tokio runtime");
        let sandboxed = tokio.block_on(SandboxedConnection::open(&self.pooled, &self.get_fixture));
        let native = NativeConnection::open(&self.get_fixture);
        (tokio, sandboxed, native)
    }

    /// Splits one warm `users.get` into the call itself (an input refused before any request)
    /// and its HTTP exchange, on both sides, to show where the sandbox's overhead lies.
    fn exchange(&self, scale: &Scale) {
        section("3b. where the time of one warm users.get goes");
        let fixture = &self.get_fixture;
        let (tokio, mut sandboxed, mut native) = self.warm_users_get();
        let refused = refused_users_get_input();
        let mut medians = Vec::new();
        for (name, input) in [("no request (input refused)", refused), ("one exchange", get_input())] {
            let (wasm, native) = sample_interleaved(
                scale.small_invocations,
                |measure| {
                    sandboxed.reset(fixture);
                    measure(&mut || {
                        tokio.block_on(sandboxed.invoke_only_of("users.get", &input));
                    })
                },
                |measure| {
                    native.reset(fixture);
                    measure(&mut || {
                        native.invoke_of("users.get", &input);
                    })
                },
            );
            report(&format!("users.get, {name}, wasm"), &wasm);
            report(&format!("users.get, {name}, native"), &native);
            medians.push((wasm.median(), native.median()));
        }
        let (call_wasm, call_native) = medians[0];
        let (get_wasm, get_native) = medians[1];
        println!(
            "  the call alone costs {:.1} µs more in the sandbox; the exchange {:.1} µs (wasm {:.1} µs, native {:.1} µs)",
            (call_wasm - call_native) * 1e6,
            ((get_wasm - call_wasm) - (get_native - call_native)) * 1e6,
            (get_wasm - call_wasm) * 1e6,
            (get_native - call_native) * 1e6,
        );
    }

    /// The calls of section 3b, each kind through a function of its own, for an instruction
    /// count under `valgrind --tool=callgrind` (repeatable, whatever the machine's speed):
    /// the inclusive count of each `counted_*` function, divided by the calls printed here.
    /// Only run when asked for (`--section instructions`); nothing in it is timed.
    fn instructions(&self, scale: &Scale) {
        section("3c. one warm users.get, for counting instructions");
        let fixture = &self.get_fixture;
        let (tokio, mut sandboxed, mut native) = self.warm_users_get();
        let refused = refused_users_get_input();
        let exchange = get_input();
        let calls = scale.small_invocations;
        let warm_ups = calls / 10;
        for counted in [false, true] {
            for _ in 0..if counted { calls } else { warm_ups } {
                sandboxed.reset(fixture);
                counted_wasm_refused(&tokio, &mut sandboxed, &refused);
                sandboxed.reset(fixture);
                counted_wasm_exchange(&tokio, &mut sandboxed, &exchange);
                native.reset(fixture);
                counted_native_refused(&mut native, &refused);
                native.reset(fixture);
                counted_native_exchange(&mut native, &exchange);
            }
        }
        println!("  {} calls of each counted_* function (the first {warm_ups} of each are warm-ups)", calls + warm_ups);
        // A fresh pooled instance per users.get (section 4b), phase by phase.
        let paused = paused_runtime().expect("a tokio runtime");
        for _ in 0..calls + warm_ups {
            let (outbound, session) = replay_outbound(fixture);
            let mut instance = counted_fresh_instantiate(&paused, &self.pooled, outbound);
            counted_fresh_connect(&paused, &mut instance);
            lock(&session).begin_step(0, &fixture.steps()[0].action);
            counted_fresh_first_get(&paused, &mut instance, &exchange);
            counted_fresh_drop(instance);
        }
        println!("  {} fresh pooled instances, each counted in counted_fresh_* phase by phase", calls + warm_ups);
    }

    /// A fresh instance per `users.get` on one thread, timed phase by phase: what each part
    /// of instantiate + connect + invoke + drop costs.
    fn fresh(&self, scale: &Scale) {
        section("4b. where the time of a fresh instance per users.get goes (pooling, 1 thread)");
        let tokio = paused_runtime().expect("a tokio runtime");
        let fixture = &self.get_fixture;
        let input = get_input();
        let mut phases: [Vec<f64>; 5] = Default::default();
        for run in 0..scale.instantiations + scale.instantiations.div_ceil(10) {
            let (outbound, session) = replay_outbound(fixture);
            let started = Instant::now();
            let mut instance = counted_fresh_instantiate(&tokio, &self.pooled, outbound);
            let instantiated = Instant::now();
            counted_fresh_connect(&tokio, &mut instance);
            let connect_done = Instant::now();
            lock(&session).begin_step(0, &fixture.steps()[0].action);
            let invoke_started = Instant::now();
            counted_fresh_first_get(&tokio, &mut instance, &input);
            let invoked = Instant::now();
            counted_fresh_drop(instance);
            let dropped = Instant::now();
            // The first tenth warms up and is not kept.
            if run >= scale.instantiations.div_ceil(10) {
                let durations = [
                    instantiated - started,
                    connect_done - instantiated,
                    invoked - invoke_started,
                    dropped - invoked,
                    (dropped - started) - (invoke_started - connect_done),
                ];
                for (phase, duration) in phases.iter_mut().zip(durations) {
                    phase.push(duration.as_secs_f64());
                }
            }
        }
        let names = ["instantiate", "first connect", "first users.get", "drop", "all four"];
        for (name, samples) in names.iter().zip(phases) {
            report(name, &Samples(samples));
        }
    }

    /// A warm `users.get` on the measured component and on the baseline, alternating.
    fn compare(&self, scale: &Scale, baseline: &Path) {
        section("compare: a warm users.get, this component vs the baseline, alternating");
        let options = RuntimeOptions {
            cache: Some(CompiledCache::new(self.cache_dir.path())),
            allocation: InstanceAllocation::pooling(),
            ..RuntimeOptions::default()
        };
        let other = Runtime::from_file_with_options(baseline, Limits::default(), &options)
            .expect("the baseline component named by CONNECTOR_BENCH_BASELINE compiles");
        let tokio = paused_runtime().expect("a tokio runtime");
        let fixture = &self.get_fixture;
        let input = get_input();
        let mut measured = tokio.block_on(SandboxedConnection::open(&self.pooled, fixture));
        let mut base = tokio.block_on(SandboxedConnection::open(&other, fixture));
        let run = |connection: &mut SandboxedConnection, measure: &mut dyn FnMut(&mut dyn FnMut()) -> f64| {
            connection.reset(fixture);
            measure(&mut || {
                tokio.block_on(connection.invoke_only(&input));
            })
        };
        let (this, that) = sample_interleaved(
            scale.small_invocations,
            |measure| run(&mut measured, measure),
            |measure| run(&mut base, measure),
        );
        report("users.get, this component", &this);
        report(&format!("users.get, baseline {}", baseline.display()), &that);
        println!("  this minus baseline: {:+.1} µs (median)", (this.median() - that.median()) * 1e6);
    }

    fn throughput(&self, scale: &Scale) {
        section("4. throughput of users.get on 2 threads (2 cores)");
        let fixture = &self.get_fixture;
        let input = get_input();
        let duration = scale.throughput_time;
        let reused_wasm = per_second(duration, |stop| {
            let tokio = paused_runtime().expect("a tokio runtime");
            let mut connection = tokio.block_on(SandboxedConnection::open(&self.pooled, fixture));
            count_until(stop, || {
                connection.reset(fixture);
                tokio.block_on(connection.invoke_only(&input));
            })
        });
        let reused_native = per_second(duration, |stop| {
            let mut connection = NativeConnection::open(fixture);
            count_until(stop, || {
                connection.reset(fixture);
                connection.invoke_only(&input);
            })
        });
        report_throughput("one instance per connection, reused", reused_wasm, reused_native);
        for (name, runtime) in [("pooling", &self.pooled), ("default", &self.on_demand)] {
            let fresh_wasm = per_second(duration, |stop| {
                let tokio = paused_runtime().expect("a tokio runtime");
                count_until(stop, || {
                    let mut connection = tokio.block_on(SandboxedConnection::open(runtime, fixture));
                    tokio.block_on(connection.invoke_only(&input));
                })
            });
            let fresh_native = per_second(duration, |stop| {
                count_until(stop, || {
                    let mut connection = NativeConnection::open(fixture);
                    connection.invoke_only(&input);
                })
            });
            report_throughput(&format!("fresh instance per invocation, {name} allocator"), fresh_wasm, fresh_native);
        }
        // The replay session (the harness's, not the instance's) is built outside the timed part.
        let tokio = paused_runtime().expect("a tokio runtime");
        let fresh = sample_prepared(scale.instantiations, |measure| {
            let mut replay = Some(replay_outbound(fixture));
            measure(&mut || {
                let replay = replay.take().expect("one replay session per run");
                let mut connection = tokio.block_on(SandboxedConnection::open_with(&self.pooled, fixture, replay));
                tokio.block_on(connection.invoke_only(&input));
            })
        });
        report("fresh instance per invocation (instantiate + connect + invoke + drop), pooling, 1 thread", &fresh);
    }

    /// Peak memory runs in child processes, so neither compilation nor the other sections
    /// count towards the host's high-water mark.
    fn memory(&self) {
        section("6. peak memory for users.list of 10,000 users");
        println!("  JSON of the 10 pages: {} bytes", self.list_json_bytes);
        for side in ["wasm", "native"] {
            let executable = std::env::current_exe().expect("the benchmark's own path");
            let output = Command::new(executable)
                .args([MEMORY_CHILD_ARGUMENT, side])
                .arg(self.cache_dir.path())
                .output()
                .expect("the memory child runs");
            print!("{}", String::from_utf8_lossy(&output.stdout));
            if !output.status.success() {
                println!("  {side} child failed: {}", String::from_utf8_lossy(&output.stderr));
            }
        }
    }

    fn size(&self) {
        section("7. component size");
        let size = component().len();
        println!(
            "  graph_connector.wasm: {size} bytes = {:.1} KiB ({:.0}% of the 1 MiB budget)",
            size as f64 / 1024.0,
            size as f64 * 100.0 / (1024.0 * 1024.0)
        );
    }
}

/// Runs in a child process: loads the runtime from the parent's cache, lists 10,000
/// users once on `side`, and prints the high-water marks.
fn memory_child(arguments: &[String]) {
    let (Some(side), Some(cache_dir)) = (arguments.first(), arguments.get(1)) else {
        panic!("usage: {MEMORY_CHILD_ARGUMENT} wasm|native CACHE_DIR");
    };
    let (fixture, json_bytes) = list_fixture();
    let input = list_input();
    let before = high_water_mark_bytes();
    match side.as_str() {
        "wasm" => {
            let options = RuntimeOptions { cache: Some(CompiledCache::new(cache_dir)), ..RuntimeOptions::default() };
            let runtime = Runtime::with_options(component(), Limits::default(), &options).expect("loads");
            let tokio = paused_runtime().expect("a tokio runtime");
            let mut connection = tokio.block_on(SandboxedConnection::open(&runtime, &fixture));
            let started = high_water_mark_bytes();
            let instance_before = connection.instance.peak_memory_bytes();
            let output = tokio.block_on(connection.invoke(&fixture, &input));
            let instance_peak = connection.instance.peak_memory_bytes();
            let after = high_water_mark_bytes();
            println!(
                "  wasm: instance linear memory {} after connect, {} after the list ({:.2}x the JSON); \
                 host VmHWM {} at start, {} with the instance, {} after the list (output {} bytes)",
                mib(instance_before),
                mib(instance_peak),
                instance_peak as f64 / json_bytes as f64,
                mib(before),
                mib(started),
                mib(after),
                output.len()
            );
        }
        _ => {
            let mut connection = NativeConnection::open(&fixture);
            let output = connection.invoke(&fixture, &input);
            let after = high_water_mark_bytes();
            println!(
                "  native: process VmHWM {} at start, {} after the list ({} more; output {} bytes)",
                mib(before),
                mib(after),
                mib(after.saturating_sub(before)),
                output.len()
            );
        }
    }
}

/// The process's peak resident set (`VmHWM` of /proc/self/status), in bytes.
fn high_water_mark_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// A connection inside the sandbox: an instance whose requests a replay session answers.
struct SandboxedConnection {
    instance: Instance,
    session: Arc<Mutex<ReplaySession>>,
}

impl SandboxedConnection {
    async fn open(runtime: &Runtime, fixture: &Fixture) -> Self {
        Self::open_with(runtime, fixture, replay_outbound(fixture)).await
    }

    /// Opens a connection whose replay session was built beforehand (outside a timed part).
    async fn open_with(
        runtime: &Runtime,
        fixture: &Fixture,
        (outbound, session): (OutboundHttp, Arc<Mutex<ReplaySession>>),
    ) -> Self {
        let mut instance = runtime.instantiate(outbound, TimeSource::Virtual).await.expect("instantiates");
        let connected = instance.connect(CONNECTION).await.expect("connect runs");
        assert!(connected.is_ok(), "connect failed: {connected:?}");
        lock(&session).begin_step(0, &fixture.steps()[0].action);
        Self { instance, session }
    }

    /// A new replay of the fixture for the next call.
    fn reset(&mut self, fixture: &Fixture) {
        let mut session = lock(&self.session);
        *session = ReplaySession::new(fixture);
        session.begin_step(0, &fixture.steps()[0].action);
    }

    async fn invoke(&mut self, fixture: &Fixture, input: &str) -> String {
        self.invoke_only_of(&fixture.steps()[0].action, input).await
    }

    async fn invoke_only(&mut self, input: &str) -> String {
        let action = if input.contains("userId") { "users.get" } else { "users.list" };
        self.invoke_only_of(action, input).await
    }

    async fn invoke_only_of(&mut self, action: &str, input: &str) -> String {
        match self.instance.invoke(action, input).await.expect("the instance does not fail") {
            Ok(output) => output,
            Err(error) => error.to_json().to_string(),
        }
    }
}

/// A `users.get` input refused before any request: what the call alone costs.
fn refused_users_get_input() -> String {
    json!({"userId": ""}).to_string()
}

/// Section 3c: a warm `users.get` refused before any request, in the sandbox.
#[inline(never)]
fn counted_wasm_refused(tokio: &tokio::runtime::Runtime, connection: &mut SandboxedConnection, input: &str) {
    std::hint::black_box(1); // distinct bodies: never folded into one function
    std::hint::black_box(tokio.block_on(connection.invoke_only_of("users.get", input)));
}

/// Section 3c: a warm `users.get` with its one exchange, in the sandbox.
#[inline(never)]
fn counted_wasm_exchange(tokio: &tokio::runtime::Runtime, connection: &mut SandboxedConnection, input: &str) {
    std::hint::black_box(2); // distinct bodies: never folded into one function
    std::hint::black_box(tokio.block_on(connection.invoke_only_of("users.get", input)));
}

/// Section 3c: a warm `users.get` refused before any request, native.
#[inline(never)]
fn counted_native_refused(connection: &mut NativeConnection, input: &str) {
    std::hint::black_box(3); // distinct bodies: never folded into one function
    std::hint::black_box(connection.invoke_of("users.get", input));
}

/// Section 3c: a warm `users.get` with its one exchange, native.
#[inline(never)]
fn counted_native_exchange(connection: &mut NativeConnection, input: &str) {
    std::hint::black_box(4); // distinct bodies: never folded into one function
    std::hint::black_box(connection.invoke_of("users.get", input));
}

/// Sections 3c and 4b: instantiating a fresh pooled instance.
#[inline(never)]
fn counted_fresh_instantiate(tokio: &tokio::runtime::Runtime, runtime: &Runtime, outbound: OutboundHttp) -> Instance {
    tokio.block_on(runtime.instantiate(outbound, TimeSource::Virtual)).expect("instantiates")
}

/// Sections 3c and 4b: the first `connect` of a fresh instance.
#[inline(never)]
fn counted_fresh_connect(tokio: &tokio::runtime::Runtime, instance: &mut Instance) {
    let connected = tokio.block_on(instance.connect(CONNECTION)).expect("connect runs");
    assert!(connected.is_ok(), "connect failed: {connected:?}");
}

/// Sections 3c and 4b: the first `users.get` of a fresh instance, with its one exchange.
#[inline(never)]
fn counted_fresh_first_get(tokio: &tokio::runtime::Runtime, instance: &mut Instance, input: &str) {
    let output = tokio.block_on(instance.invoke("users.get", input)).expect("the instance does not fail");
    assert!(output.is_ok(), "users.get failed: {output:?}");
}

/// Sections 3c and 4b: dropping a fresh instance (its slot goes back to the pool).
#[inline(never)]
fn counted_fresh_drop(instance: Instance) {
    std::hint::black_box(5); // distinct bodies: never folded into one function
    drop(instance);
}

/// The same connector compiled natively, its requests answered by a replay session.
struct NativeConnection {
    connector: graph_connector::Connector,
    session: Arc<Mutex<ReplaySession>>,
}

impl NativeConnection {
    fn open(fixture: &Fixture) -> Self {
        let session = Arc::new(Mutex::new(ReplaySession::new(fixture)));
        let mut connector = graph_connector::Connector::new();
        let transport = NativeReplayTransport { session: session.clone(), clock_ms: 0, random_counter: 0 };
        connector.connect(CONNECTION, Box::new(transport)).expect("connects");
        lock(&session).begin_step(0, &fixture.steps()[0].action);
        Self { connector, session }
    }

    fn reset(&mut self, fixture: &Fixture) {
        let mut session = lock(&self.session);
        *session = ReplaySession::new(fixture);
        session.begin_step(0, &fixture.steps()[0].action);
    }

    fn invoke(&mut self, fixture: &Fixture, input: &str) -> String {
        let action = fixture.steps()[0].action.clone();
        self.invoke_of(&action, input)
    }

    fn invoke_only(&mut self, input: &str) -> String {
        let action = if input.contains("userId") { "users.get" } else { "users.list" };
        self.invoke_of(action, input)
    }

    /// Serializes the output as the component does, so both sides do the same work.
    fn invoke_of(&mut self, action: &str, input: &str) -> String {
        match self.connector.invoke_json(action, input) {
            Ok(output) => output,
            Err(error) => json!({"code": format!("{:?}", error.code), "message": error.message}).to_string(),
        }
    }
}

/// The native side of the seam: turns the plugin's requests into the host's
/// [`ActualRequest`] and answers them from the replay session, as the host's replay route does.
struct NativeReplayTransport {
    session: Arc<Mutex<ReplaySession>>,
    clock_ms: u64,
    random_counter: u8,
}

impl Transport for NativeReplayTransport {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| (name.clone(), String::from_utf8_lossy(value).into_owned()))
            .collect();
        let actual = ActualRequest {
            method: request.method().as_str().to_string(),
            url: request.uri().to_string(),
            headers,
            body: request.into_body(),
        };
        let Some(answer) = lock(&self.session).answer(actual) else {
            return Err(TransportError::new(TransportErrorKind::Refused, "HTTP-request-denied"));
        };
        Ok(HttpResponse::new(answer.status, answer.headers, answer.body))
    }

    fn now_ms(&self) -> u64 {
        self.clock_ms
    }

    fn sleep_ms(&mut self, ms: u64) {
        self.clock_ms += ms;
    }

    fn wall_clock_secs(&self) -> u64 {
        1_764_000_000 + self.clock_ms / 1000
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.random_counter = self.random_counter.wrapping_add(1);
                self.random_counter
            })
            .collect()
    }
}

/// The outgoing-HTTP policy of a replayed instance, and its session.
fn replay_outbound(fixture: &Fixture) -> (OutboundHttp, Arc<Mutex<ReplaySession>>) {
    let session = Arc::new(Mutex::new(ReplaySession::new(fixture)));
    let allowed = AllowedHosts::from_patterns(
        fixture.exchange_hosts().iter().filter_map(|host| host.parse::<HostPattern>().ok()),
    );
    (OutboundHttp::new(allowed, connector_host::replay::route(session.clone())), session)
}

fn lock(session: &Mutex<ReplaySession>) -> std::sync::MutexGuard<'_, ReplaySession> {
    session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn get_input() -> String {
    json!({"userId": USER_ID}).to_string()
}

fn list_input() -> String {
    json!({"maxItems": 0}).to_string()
}

/// One exchange: `GET /users/{id}` answered with Microsoft's example user.
fn get_fixture() -> Fixture {
    let user = json!({
        "businessPhones": ["+1 425 555 0109"], "displayName": "Adele Vance", "givenName": "Adele",
        "jobTitle": "Retail Manager", "mail": "AdeleV@contoso.onmicrosoft.com", "mobilePhone": "+1 425 555 0109",
        "officeLocation": "18/2111", "preferredLanguage": "en-US", "surname": "Vance",
        "userPrincipalName": "AdeleV@contoso.onmicrosoft.com", "id": USER_ID,
    });
    single_step_fixture("users.get", get_input(), vec![exchange(&format!("{GRAPH}/users/{USER_ID}"), user.clone())])
}

const GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// 10,000 users over 10 pages of 1,000 linked by `@odata.nextLink`, and the size of
/// those pages' JSON.
fn list_fixture() -> (Fixture, usize) {
    let per_page = LIST_USERS / LIST_PAGES;
    let page_url = |page: usize| match page {
        0 => format!("{GRAPH}/users"),
        page => format!("{GRAPH}/users?$skiptoken=RFNwdAIAAQAAAB{page:04}"),
    };
    let mut json_bytes = 0;
    let exchanges = (0..LIST_PAGES)
        .map(|page| {
            let users: Vec<Value> = (page * per_page..(page + 1) * per_page).map(generated_user).collect();
            let mut body = json!({"@odata.context": format!("{GRAPH}/$metadata#users"), "value": users});
            if page + 1 < LIST_PAGES {
                body["@odata.nextLink"] = Value::String(page_url(page + 1));
            }
            json_bytes += body.to_string().len();
            exchange(&page_url(page), body)
        })
        .collect();
    (single_step_fixture("users.list", list_input(), exchanges), json_bytes)
}

/// A user as `GET /users` returns it by default.
fn generated_user(index: usize) -> Value {
    json!({
        "businessPhones": [format!("+1 425 555 {:04}", index % 10_000)],
        "displayName": format!("Bench User {index}"),
        "givenName": "Bench",
        "jobTitle": "Benchmark Subject",
        "mail": format!("bench.user{index}@contoso.onmicrosoft.com"),
        "mobilePhone": null,
        "officeLocation": format!("{}/{}", 10 + index % 30, 1000 + index % 997),
        "preferredLanguage": "en-US",
        "surname": format!("User {index}"),
        "userPrincipalName": format!("bench.user{index}@contoso.onmicrosoft.com"),
        "id": format!("00000000-0000-4000-8000-{index:012}"),
    })
}

fn exchange(url: &str, body: Value) -> Value {
    json!({
        "request": {"method": "GET", "url": url, "headers": {"authorization": "Bearer bench-token"}},
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": body},
    })
}

fn single_step_fixture(action: &str, input: String, exchanges: Vec<Value>) -> Fixture {
    let input: Value = serde_json::from_str(&input).expect("bench input is JSON");
    let document = json!({
        "name": format!("benchmark {action}"),
        "connection": serde_json::from_str::<Value>(CONNECTION).expect("bench connection is JSON"),
        "steps": [{"action": action, "input": input, "exchanges": exchanges, "expect": {"output": {}}}],
    });
    Fixture::from_json(&document).expect("the benchmark fixture is valid")
}

/// Timings of repeated runs, in seconds.
struct Samples(Vec<f64>);

impl Samples {
    fn percentile(&self, fraction: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
        sorted.get(index).copied().unwrap_or(f64::NAN)
    }

    fn median(&self) -> f64 {
        self.percentile(0.5)
    }
}

/// Seconds one run takes.
fn time_one(run: &mut dyn FnMut()) -> f64 {
    let started = Instant::now();
    run();
    started.elapsed().as_secs_f64()
}

/// Times `run` `count` times, after a tenth as many warm-up runs.
fn sample(count: usize, mut run: impl FnMut()) -> Samples {
    sample_prepared(count, |measure| measure(&mut run))
}

/// Times the part of each run that `prepare` hands to its `measure` argument, so set-up
/// (such as resetting a replay session) stays out of the figure.
fn sample_prepared(count: usize, mut prepare: impl FnMut(&mut dyn FnMut(&mut dyn FnMut()) -> f64) -> f64) -> Samples {
    let mut measure = time_one;
    for _ in 0..count.div_ceil(10) {
        prepare(&mut measure);
    }
    Samples((0..count).map(|_| prepare(&mut measure)).collect())
}

/// Like [`sample_prepared`] for two sides at once, alternating one run of each, so that
/// both see the same machine (a shared machine's speed drifts from one second to the next,
/// and a ratio of two figures taken apart would measure the drift).
fn sample_interleaved(
    count: usize,
    mut prepare_a: impl FnMut(&mut dyn FnMut(&mut dyn FnMut()) -> f64) -> f64,
    mut prepare_b: impl FnMut(&mut dyn FnMut(&mut dyn FnMut()) -> f64) -> f64,
) -> (Samples, Samples) {
    let mut measure = time_one;
    for _ in 0..count.div_ceil(10) {
        prepare_a(&mut measure);
        prepare_b(&mut measure);
    }
    let (mut a, mut b) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for _ in 0..count {
        a.push(prepare_a(&mut measure));
        b.push(prepare_b(&mut measure));
    }
    (Samples(a), Samples(b))
}

/// Runs `worker` on two threads until `duration` passes; returns calls per second.
fn per_second(duration: Duration, worker: impl Fn(&AtomicBool) -> u64 + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| total.fetch_add(worker(&stop), Ordering::Relaxed));
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    total.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn count_until(stop: &AtomicBool, mut call: impl FnMut()) -> u64 {
    let mut calls = 0;
    while !stop.load(Ordering::Relaxed) {
        call();
        calls += 1;
    }
    calls
}

fn section(title: &str) {
    println!("\n{title}");
}

fn report(name: &str, samples: &Samples) {
    println!(
        "  {name}: median {}, p99 {} ({} runs)",
        micros(samples.median()),
        micros(samples.percentile(0.99)),
        samples.0.len()
    );
}

fn report_throughput(name: &str, wasm: f64, native: f64) {
    println!("  {name}: wasm {wasm:.0}/s, native {native:.0}/s, native/wasm {:.2}x", native / wasm);
}

fn micros(seconds: f64) -> String {
    if seconds >= 0.01 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Where the benchmark keeps compiled components: a folder it removes at the end, or one
/// named with `--cache-dir`, kept for the next run.
enum CacheDir {
    Temporary(TemporaryDir),
    Kept(PathBuf),
}

impl CacheDir {
    fn path(&self) -> &Path {
        match self {
            CacheDir::Temporary(folder) => folder.path(),
            CacheDir::Kept(path) => path,
        }
    }
}

/// A folder under the system's temporary folder, removed when dropped.
struct TemporaryDir(PathBuf);

impl TemporaryDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("connector-host-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temporary folder");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TemporaryDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
