//! `connector-host mcp`: the actions as MCP tools over stdio, for an agent host that starts
//! the server itself (Claude Desktop, VS Code, the MCP Inspector). Stdout carries the
//! protocol; everything else goes to stderr.

use super::{json_argument, live_runtime, ComponentArgs, JsonSource, LiveArgs, NetworkArgs};
use anyhow::Context as _;
use clap::Args;
use connector_host::mcp::{serve_stdio, InstanceBackend, McpOptions};
use connector_host::sandbox::http_policy::OutboundHttp;
use std::process::ExitCode;
use std::sync::Arc;

/// Which tools an MCP server offers and how large their results may be (shared by `mcp`
/// and `serve`'s `/mcp`).
#[derive(Args, Clone)]
pub struct ToolArgs {
    /// Offer only the read-only actions as tools.
    #[arg(long)]
    pub read_only: bool,
    /// Offer only these actions (comma-separated ids, e.g. users.get,users.list).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub actions: Option<Vec<String>>,
    /// The maxItems a list tool uses when the agent gives none.
    #[arg(long, value_name = "N", default_value_t = McpOptions::DEFAULT_MAX_ITEMS)]
    pub mcp_max_items: u64,
    /// A read-only tool's result above this many bytes of JSON is cut at an item boundary,
    /// with a note saying how to get the rest.
    #[arg(long, value_name = "BYTES", default_value_t = McpOptions::DEFAULT_MAX_OUTPUT_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..))]
    pub mcp_max_output_bytes: usize,
}

impl ToolArgs {
    /// The MCP options these arguments give.
    pub fn options(&self) -> McpOptions {
        McpOptions {
            read_only: self.read_only,
            actions: self.actions.clone(),
            max_items: self.mcp_max_items,
            max_output_bytes: self.mcp_max_output_bytes,
        }
    }
}

/// Opens one connection in one instance and serves MCP over stdio until the client closes
/// stdin.
pub fn serve_mcp_stdio(
    component: &ComponentArgs,
    network: &NetworkArgs,
    live: &LiveArgs,
    config: &str,
    tools: &ToolArgs,
) -> anyhow::Result<ExitCode> {
    let config =
        json_argument(config, JsonSource::FileUnlessInline).context("reading the connection settings (--config)")?;
    let runtime = component.runtime(None)?;
    let (allowed_hosts, route) = (network.allowed_hosts()?, live.route()?);
    // Each instance gets the same policy; a replaced instance (after a failure) a fresh copy.
    let outbound = Box::new(move || OutboundHttp::new(allowed_hosts.clone(), route.clone()));
    live_runtime()?.block_on(async {
        let backend = match InstanceBackend::open(runtime, outbound, config).await? {
            Ok(backend) => backend,
            Err(error) => anyhow::bail!(
                "the connection settings were refused: {}",
                serde_json::to_string(&error.to_json()).unwrap_or_default()
            ),
        };
        eprintln!("connector-host mcp: serving on stdio");
        serve_stdio(Arc::new(backend), tools.options()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
