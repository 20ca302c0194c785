//! `connector-host serve`: reads the command line, sets up JSON logs, starts the service and
//! runs it until SIGTERM or Ctrl-C.

use crate::{ComponentArgs, LiveArgs, NetworkArgs};
use anyhow::{bail, Context as _};
use clap::builder::TypedValueParser as _;
use clap::Args;
use connector_host::mcp::McpOptions;
use connector_host::serve::auth::ApiKeys;
use connector_host::serve::rate_limit::Rate;
use connector_host::serve::service::{CoreOptions, Settings};
use connector_host::serve::{ServeOptions, Server};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The options of `serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// The address to listen on. Anything but a loopback address needs --api-key-file.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Require `Authorization: Bearer <key>` with one of the keys in FILE (one per line, at
    /// least 16 characters; lines starting with # are skipped).
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// Connections that exist from start-up: a JSON object of name -> connection settings.
    #[arg(long, value_name = "FILE")]
    connections: Option<PathBuf>,
    /// The most calls in flight at once; beyond it callers get 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = CoreOptions::DEFAULT_MAX_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    max_concurrency: usize,
    /// The most instances one connection keeps for its concurrent calls (each keeps the
    /// connection's token cache).
    #[arg(long, value_name = "N", default_value_t = CoreOptions::DEFAULT_INSTANCES_PER_CONNECTION,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    instances_per_connection: usize,
    /// Offer read-only actions only.
    #[arg(long)]
    read_only: bool,
    /// Offer only these actions (comma-separated ids).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    actions: Option<Vec<String>>,
    /// At most N calls per connection per period, e.g. 200/60s (Power Automate's cap for its
    /// Entra connector).
    #[arg(long, value_name = "N/PERIOD")]
    rate_limit: Option<Rate>,
    /// How long a client may take to send a request head, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = ServeOptions::DEFAULT_HEADER_READ_TIMEOUT.as_secs())]
    header_read_timeout: u64,
    /// How long calls in flight may take to finish after SIGTERM, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = ServeOptions::DEFAULT_SHUTDOWN_GRACE.as_secs())]
    shutdown_grace: u64,
    /// The `maxItems` an MCP list tool (at `/mcp/{name}`) uses when the agent gives none.
    #[arg(long, value_name = "N", default_value_t = McpOptions::DEFAULT_MAX_ITEMS)]
    mcp_max_items: u64,
    /// The size in bytes above which an MCP tool's read-only result is cut at an item boundary.
    #[arg(long, value_name = "BYTES", default_value_t = McpOptions::DEFAULT_MAX_OUTPUT_BYTES)]
    mcp_max_output_bytes: usize,
}

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn serve(
    component: &ComponentArgs,
    network: &NetworkArgs,
    live: &LiveArgs,
    args: ServeArgs,
) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .init();
    let api_keys = args.api_key_file.as_deref().map(ApiKeys::from_file).transpose()?;
    if api_keys.is_none() && !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without --api-key-file: only a loopback address may be served without API keys",
            args.listen
        );
    }
    let connections = match &args.connections {
        Some(path) => read_connections(path)?,
        None => Vec::new(),
    };
    let options = ServeOptions {
        api_keys,
        core: CoreOptions {
            allowed_hosts: network.allowed_hosts()?,
            route: live.route()?,
            max_concurrency: args.max_concurrency,
            instances_per_connection: args.instances_per_connection,
            read_only: args.read_only,
            actions: args.actions,
            rate_limit: args.rate_limit,
        },
        connections,
        header_read_timeout: Duration::from_secs(args.header_read_timeout.max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        mcp: McpOptions {
            max_items: args.mcp_max_items,
            max_output_bytes: args.mcp_max_output_bytes,
            ..McpOptions::default()
        },
        ..ServeOptions::new(args.listen)
    };
    let runtime = component.runtime(None)?;
    crate::live_runtime()?.block_on(async move {
        let server = Server::start(runtime, options).await?;
        // The one line a script waits for; the logs go to stderr as JSON lines.
        crate::emit(&format!("connector-host serve: listening on http://{}\n", server.local_addr()));
        server.run(shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes at SIGTERM (what Kubernetes and `docker stop` send) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reads `--connections`: a JSON object of name -> settings object. The content is never
/// part of an error (it holds secrets).
fn read_connections(path: &Path) -> anyhow::Result<Vec<(String, Settings)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading --connections {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|error| {
        anyhow::anyhow!(
            "--connections {} is not valid JSON (line {}, column {})",
            path.display(),
            error.line(),
            error.column()
        )
    })?;
    let serde_json::Value::Object(named) = value else {
        bail!("--connections {} must hold a JSON object of name -> connection settings", path.display());
    };
    let mut connections = Vec::new();
    for (name, settings) in named {
        if !settings.is_object() {
            bail!("--connections {}: the settings of `{name}` must be a JSON object", path.display());
        }
        connections.push((name, Settings::new(settings.to_string())));
    }
    Ok(connections)
}
