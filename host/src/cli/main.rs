//! `connector-host`: list a connector's actions, invoke one live, serve them over HTTP,
//! replay fixtures, or walk through the bundled demo scenario.

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use connector_host::http::live_http::{load_ca_certificates, LiveHttp, ProxyUrl};
use connector_host::http::proxy_env::ProxySettings;
use connector_host::replay::chaos::ChaosOptions;
use connector_host::replay::fixture::Fixture;
use connector_host::replay::junit::render_junit;
use connector_host::replay::report::render_walkthrough;
use connector_host::replay::{paused_runtime, replay_fixture, replay_paths_observed, ReplayOptions};
use connector_host::sandbox::cache::CompiledCache;
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::sandbox::runtime::{InvokeOptions, RuntimeOptions};
use connector_host::{AllowedHosts, HostPattern, Limits, Runtime};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod mcp;
mod record;
mod repeat;
mod serve;

/// The demo scenario, relative to the workspace root.
const DEMO_FIXTURE: &str = "fixtures/scenarios/onboarding.json";

/// Wasmtime reference host for connector components.
#[derive(Parser)]
#[command(name = "connector-host", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the actions the component offers.
    Actions {
        #[command(flatten)]
        component: ComponentArgs,
        /// Print the descriptors as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Print the catalog as Markdown documentation (a table per category with inputs,
        /// outputs and permissions), as checked in under docs/actions.md.
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
        /// Print the OpenAPI 3.1 document of `serve`'s HTTP API for these actions, as checked
        /// in under docs/openapi.json.
        #[arg(long, conflicts_with_all = ["json", "markdown"])]
        openapi: bool,
    },
    /// Run one action against the real service.
    Invoke {
        #[command(flatten)]
        component: ComponentArgs,
        #[command(flatten)]
        network: NetworkArgs,
        #[command(flatten)]
        live: LiveArgs,
        /// Connection settings: a JSON file (or inline JSON text).
        #[arg(long, value_name = "FILE")]
        config: String,
        /// The action id, e.g. `users.get`.
        #[arg(long, value_name = "ID")]
        action: String,
        /// The action input: JSON text, or `@FILE` to read it from a file.
        #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
        input: String,
        /// How long the call may take, in milliseconds: the connector's deadline for this
        /// call (`invoke-options.timeout-ms`, which overrides a deprecated `timeoutMs` in the
        /// input), and, a few seconds above it, the host's hard limit.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        timeout_ms: Option<u64>,
        /// Run the action's reads but send none of its writes, and print the plan of the
        /// writes it would send (`invoke-options.dry-run`); read-only actions run as usual.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        repeat: repeat::RepeatArgs,
    },
    /// Serve the actions as MCP tools over stdio, for agents (Claude Desktop, VS Code, ...):
    /// one connection, opened at start-up; stdout carries the protocol, logs go to stderr.
    Mcp {
        #[command(flatten)]
        component: ComponentArgs,
        #[command(flatten)]
        network: NetworkArgs,
        #[command(flatten)]
        live: LiveArgs,
        /// Connection settings: a JSON file (or inline JSON text).
        #[arg(long, value_name = "FILE")]
        config: String,
        #[command(flatten)]
        tools: mcp::ToolArgs,
    },
    /// Serve the actions over HTTP (see README, "Serve"): connections, invocations, metrics.
    Serve {
        #[command(flatten)]
        component: ComponentArgs,
        #[command(flatten)]
        network: NetworkArgs,
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        serve: serve::ServeArgs,
    },
    /// Replay fixtures (files, or folders searched for *.json) without any network.
    Replay {
        #[command(flatten)]
        component: ComponentArgs,
        #[command(flatten)]
        network: NetworkArgs,
        /// Fixture files or folders.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Inject 429/503/504 responses and dropped connections in front of the fixtures'
        /// responses, chosen deterministically from SEED, and check every retry.
        #[arg(long = "chaos", value_name = "SEED")]
        chaos_seed: Option<u64>,
        /// With --chaos: the probability (0 to 1) that an eligible request gets a fault.
        #[arg(long, value_name = "R", default_value_t = 0.3, requires = "chaos_seed")]
        fault_rate: f64,
        /// Show a progress bar on stderr (when it is a terminal) and, at the end, the
        /// slowest fixtures.
        #[arg(long)]
        progress: bool,
        /// Also write the results as a JUnit XML report to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Run a scenario (or one action) live and keep it as a fixture, secrets and tenant
    /// data scrubbed; then replay the fixture and report whether it passes.
    Record {
        #[command(flatten)]
        component: ComponentArgs,
        #[command(flatten)]
        network: NetworkArgs,
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        record: record::RecordArgs,
    },
    /// Replay the onboarding scenario and show each step as it happens.
    Demo {
        #[command(flatten)]
        component: ComponentArgs,
        /// The scenario to walk through.
        #[arg(value_name = "FILE")]
        fixture: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ComponentArgs {
    /// Load this component instead of the embedded Graph connector.
    #[arg(long, value_name = "FILE")]
    component: Option<PathBuf>,
    /// Memory cap per instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::DEFAULT_MEMORY_BYTES / (1024 * 1024))]
    memory_mib: usize,
    /// Keep the compiled component in DIR (default: $XDG_CACHE_HOME/connector-host or
    /// ~/.cache/connector-host), so later start-ups load it instead of compiling.
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    cache_dir: Option<PathBuf>,
    /// Compile the component at every start-up; read and write no cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct NetworkArgs {
    /// Also allow requests to HOST or HOST:PORT (repeatable).
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    allow_hosts: Vec<String>,
}

/// How live requests reach the network.
#[derive(Args)]
struct LiveArgs {
    /// Send every request through this HTTP proxy: http://[USER:PASSWORD@]HOST[:PORT], or
    /// https://... for TLS to the proxy (https targets through a CONNECT tunnel, plain http
    /// ones as absolute URLs). Without it, HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY
    /// are read as curl reads them (lower case first).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Also trust the certificate authorities in this PEM file (repeatable), besides the
    /// built-in webpki roots.
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
}

impl LiveArgs {
    fn route(&self) -> anyhow::Result<Route> {
        let proxies = self.proxies()?;
        if proxies.is_empty() && self.ca_certs.is_empty() {
            return Ok(Route::Live);
        }
        Ok(Route::LiveWith(self.live_http_with(proxies)?))
    }

    /// The live client these settings describe.
    fn live_http(&self) -> anyhow::Result<LiveHttp> {
        self.live_http_with(self.proxies()?)
    }

    fn live_http_with(&self, proxies: ProxySettings) -> anyhow::Result<LiveHttp> {
        let mut extra_roots = Vec::new();
        for path in &self.ca_certs {
            extra_roots.extend(load_ca_certificates(path)?);
        }
        Ok(LiveHttp::with_proxies(proxies, &extra_roots)?)
    }

    /// `--proxy` for every request, or else the proxies of the environment.
    fn proxies(&self) -> anyhow::Result<ProxySettings> {
        match self.proxy.as_deref() {
            Some(proxy) => Ok(ProxySettings::all(proxy.parse::<ProxyUrl>().context("reading --proxy")?)),
            None => ProxySettings::from_env().context("reading the proxy environment variables"),
        }
    }
}

impl ComponentArgs {
    fn runtime(&self, deadline: Option<Duration>) -> anyhow::Result<Runtime> {
        let limits = Limits {
            memory_bytes: self.memory_mib.saturating_mul(1024 * 1024),
            invocation_deadline: deadline.unwrap_or(Limits::DEFAULT_INVOCATION_DEADLINE),
            ..Limits::default()
        };
        let cache = match (&self.cache_dir, self.no_cache) {
            (_, true) => None,
            (Some(dir), false) => Some(CompiledCache::new(dir)),
            (None, false) => CompiledCache::user_default(),
        };
        let options = RuntimeOptions { cache, ..RuntimeOptions::default() };
        Ok(match &self.component {
            Some(path) => Runtime::from_file_with_options(path, limits, &options)?,
            None => connector_host::embedded::runtime_with_options(limits, &options)?,
        })
    }
}

impl NetworkArgs {
    fn allowed_hosts(&self) -> anyhow::Result<AllowedHosts> {
        let patterns =
            self.allow_hosts.iter().map(|pattern| pattern.parse::<HostPattern>()).collect::<Result<Vec<_>, _>>()?;
        Ok(AllowedHosts::from_patterns(patterns))
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Actions { component, json, markdown, openapi } => {
            let format = if openapi {
                CatalogFormat::OpenApi
            } else if markdown {
                CatalogFormat::Markdown
            } else if json {
                CatalogFormat::Json
            } else {
                CatalogFormat::Table
            };
            list_actions(&component, format)
        }
        Command::Invoke { component, network, live, config, action, input, timeout_ms, dry_run, repeat } => {
            let options = InvokeOptions { timeout_ms, dry_run };
            if repeat.repeat.is_some() {
                return repeat::invoke_repeated(
                    &component, &network, &live, &config, &action, &input, options, &repeat,
                );
            }
            invoke(&component, &network, &live, &config, &action, &input, options)
        }
        Command::Mcp { component, network, live, config, tools } => {
            mcp::serve_mcp_stdio(&component, &network, &live, &config, &tools)
        }
        Command::Serve { component, network, live, serve } => serve::serve(&component, &network, &live, serve),
        Command::Replay { component, network, paths, chaos_seed, fault_rate, progress, junit } => {
            replay(&component, &network, &paths, chaos_seed, fault_rate, progress, junit.as_deref())
        }
        Command::Record { component, network, live, record } => record::record(&component, &network, &live, &record),
        Command::Demo { component, fixture } => demo(&component, fixture),
    }
}

/// How many of the slowest fixtures `replay --progress` names at the end.
const SLOWEST_SHOWN: usize = 5;

fn replay(
    component: &ComponentArgs,
    network: &NetworkArgs,
    paths: &[PathBuf],
    chaos_seed: Option<u64>,
    fault_rate: f64,
    progress: bool,
    junit: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let runtime = component.runtime(None)?;
    let chaos = chaos_seed.map(|seed| ChaosOptions::new(seed, fault_rate)).transpose()?;
    let options = ReplayOptions { allowed_hosts: network.allowed_hosts()?, chaos };
    // indicatif draws nothing when stderr is not a terminal, so pipes and CI logs stay clean.
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} fixtures {elapsed} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let on_done = |finished: usize, total: usize, outcome: &connector_host::replay::report::FixtureOutcome| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(finished as u64);
            if !outcome.passed() {
                bar.println(format!("FAILED {}", outcome.name));
            }
        }
    };
    let (report, tally) = replay_paths_observed(&runtime, paths, &options, &on_done);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(file) = junit {
        std::fs::write(file, render_junit(&report)).with_context(|| format!("writing {}", file.display()))?;
    }
    emit(&report.render());
    if let Some(chaos) = &chaos {
        emit(&tally.render(chaos));
    }
    if progress {
        // On stderr: stdout keeps its last line `N passed, N failed`.
        eprint!("{}", report.render_slowest(SLOWEST_SHOWN));
    }
    Ok(if report.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The runtime of `serve` and `mcp`, which run calls side by side.
fn live_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// The runtime of the commands that run one instance, one call at a time (`invoke`, its
/// `--repeat`, `record`, `actions`): the instance, the pooled connections' tasks and the I/O
/// driver share the one thread, so a live call never waits for another thread to be woken
/// to send its request or to hand its answer back.
fn one_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// How `actions` prints the catalog.
enum CatalogFormat {
    /// Aligned columns for a terminal.
    Table,
    /// The descriptors as a JSON array.
    Json,
    /// Markdown documentation (see `connector_host::cli::catalog_docs`).
    Markdown,
    /// The OpenAPI document of `serve` (see `connector_host::serve::openapi`).
    OpenApi,
}

fn list_actions(component: &ComponentArgs, format: CatalogFormat) -> anyhow::Result<ExitCode> {
    let runtime = component.runtime(None)?;
    let actions = one_thread_runtime()?.block_on(async {
        let outbound = OutboundHttp::new(AllowedHosts::none(), Route::Live);
        let mut instance = runtime.instantiate(outbound, TimeSource::Real).await?;
        instance.list_actions().await
    })?;
    match format {
        CatalogFormat::Table => {}
        CatalogFormat::Json => {
            let descriptors: Vec<_> = actions.iter().map(|action| action.to_json()).collect();
            emit(&format!("{}\n", serde_json::to_string_pretty(&descriptors)?));
            return Ok(ExitCode::SUCCESS);
        }
        CatalogFormat::Markdown => {
            emit(&connector_host::cli::catalog_docs::render_markdown(&actions));
            return Ok(ExitCode::SUCCESS);
        }
        CatalogFormat::OpenApi => {
            emit(&connector_host::serve::openapi::render(&actions));
            return Ok(ExitCode::SUCCESS);
        }
    }
    let rows: Vec<[String; 5]> = actions
        .iter()
        .map(|action| {
            [
                action.id.clone(),
                action.category.clone(),
                if action.read_only { "yes" } else { "no" }.to_string(),
                action.permissions.join(", "),
                action.title.clone(),
            ]
        })
        .collect();
    let header = ["ID", "CATEGORY", "READ-ONLY", "PERMISSIONS", "TITLE"].map(String::from);
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        table.push_str(line.join("  ").trim_end());
        table.push('\n');
    }
    emit(&table);
    Ok(ExitCode::SUCCESS)
}

/// What a live invocation needs, read from the command line.
struct Prepared {
    runtime: Runtime,
    outbound: OutboundHttp,
    /// The connection settings, as JSON text.
    config: String,
    /// The action input, as JSON text.
    input: String,
}

/// Reads the settings and the input, and builds the runtime and the outgoing policy of a live
/// invocation (`invoke`, and `invoke --repeat`).
fn prepare_invocation(
    component: &ComponentArgs,
    network: &NetworkArgs,
    live: &LiveArgs,
    config: &str,
    input: &str,
    options: &InvokeOptions,
) -> anyhow::Result<Prepared> {
    let config =
        json_argument(config, JsonSource::FileUnlessInline).context("reading the connection settings (--config)")?;
    let input = json_argument(input, JsonSource::InlineUnlessAt).context("reading the action input (--input)")?;
    // The host's own limit stays above the connector's deadline, so the connector's typed
    // error (naming the request that ran out of time) comes first.
    let hard_limit = options.timeout_ms.map(|ms| Duration::from_millis(ms).saturating_add(HARD_LIMIT_MARGIN));
    let runtime = component.runtime(hard_limit)?;
    let outbound = OutboundHttp::new(network.allowed_hosts()?, live.route()?);
    Ok(Prepared { runtime, outbound, config, input })
}

fn invoke(
    component: &ComponentArgs,
    network: &NetworkArgs,
    live: &LiveArgs,
    config: &str,
    action: &str,
    input: &str,
    options: InvokeOptions,
) -> anyhow::Result<ExitCode> {
    let Prepared { runtime, outbound, config, input } =
        prepare_invocation(component, network, live, config, input, &options)?;
    let result = one_thread_runtime()?.block_on(async {
        let mut instance = runtime.instantiate(outbound, TimeSource::Real).await?;
        match instance.connect(&config).await? {
            Err(error) => Ok(Err(error)),
            Ok(_) => instance.invoke_with(action, &input, options).await,
        }
    });
    let result = match result {
        Ok(result) => result,
        // A limit of the sandbox stopped the call: reported as a typed error like the
        // connector's own, not as a failure of the host.
        Err(error) => match error.as_connector_error() {
            Some(typed) => Err(typed),
            None => return Err(error.into()),
        },
    };
    match result {
        Ok(output) => {
            let pretty = serde_json::from_str::<serde_json::Value>(&output)
                .ok()
                .and_then(|value| serde_json::to_string_pretty(&value).ok())
                .unwrap_or(output);
            emit(&format!("{pretty}\n"));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{}", serde_json::to_string_pretty(&error.to_json())?);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// How far above `--timeout-ms` the host's hard limit lies.
const HARD_LIMIT_MARGIN: Duration = Duration::from_secs(5);

/// Where a JSON argument comes from.
enum JsonSource {
    /// A file name, unless the text itself is JSON (an object, or an array or string given
    /// by mistake, which is then refused by kind).
    FileUnlessInline,
    /// JSON text, unless it starts with `@` (then the rest is a file name).
    InlineUnlessAt,
}

/// Reads a JSON object argument. Its content is never part of an error: connection settings
/// hold secrets, so a wrong one is described by what it is (`expected a JSON object, found a
/// string`), and parse errors give only a line and column.
fn json_argument(argument: &str, source: JsonSource) -> anyhow::Result<String> {
    let file = match source {
        JsonSource::FileUnlessInline if looks_like_inline_json(argument) => None,
        JsonSource::FileUnlessInline => Some(argument),
        JsonSource::InlineUnlessAt => argument.strip_prefix('@'),
    };
    let text = match file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => argument.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).context("not valid JSON")?;
    if !value.is_object() {
        bail!("expected a JSON object, found {}", json_kind(&value));
    }
    Ok(value.to_string())
}

/// Whether an argument is JSON text rather than a file name: it opens an object, an array
/// or a string. Such an argument is never named as a missing file.
fn looks_like_inline_json(argument: &str) -> bool {
    matches!(argument.trim_start().as_bytes().first(), Some(b'{' | b'[' | b'"'))
}

/// What a JSON value is, with its article, for errors that must not show the value.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn demo(component: &ComponentArgs, fixture: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = match fixture {
        Some(path) => path,
        None => {
            let relative = Path::new(DEMO_FIXTURE);
            if relative.exists() {
                relative.to_path_buf()
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(DEMO_FIXTURE)
            }
        }
    };
    let fixture = Fixture::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let runtime = component.runtime(None)?;
    let mut outcome = paused_runtime()?.block_on(replay_fixture(&runtime, &fixture, &ReplayOptions::default()));
    outcome.path = Some(path);
    emit(&render_walkthrough(&outcome));
    Ok(if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Writes to stdout, ignoring a closed pipe (`connector-host actions | head`).
fn emit(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
