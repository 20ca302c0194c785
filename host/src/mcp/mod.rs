//! The connector as a Model Context Protocol server: every action one tool, over stdio
//! (`connector-host mcp`) or streamable HTTP (`serve`'s `/mcp`), with the official Rust SDK
//! (`rmcp`).
//!
//! What runs the actions is a [`McpBackend`]: [`InstanceBackend`] holds one instance with
//! one open connection (the stdio command), and `serve` drives the same server from its
//! pool. Between the agent and the backend this module adds only what an agent needs:
//! - tool names, schemas and annotations made from the action descriptors ([`tools`]);
//! - list tools that return a small page by default (`maxItems`, [`McpOptions::max_items`])
//!   and outputs of read-only tools cut at an item boundary when they exceed
//!   [`McpOptions::max_output_bytes`], with a note saying how to get the rest ([`results`]);
//! - typed errors as tool errors (`isError`), and the dry-run plan of a write tool called
//!   with `dryRun`.
//!
//! `serve` mounts the HTTP transport next to its own routes, with its pool as the backend:
//!
//! ```ignore
//! let mcp = streamable_http_service(pool_backend, options, StreamableHttpServerConfig::default())?;
//! let app = axum::Router::new().nest_service("/mcp", mcp) /* .route(...) for the HTTP API */;
//! ```

use crate::sandbox::runtime::{ActionDescriptor, ConnectorError};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt as _};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

mod instance_backend;
pub mod results;
pub mod tools;

pub use instance_backend::InstanceBackend;
pub use tools::{tool_name, ToolSet, ToolSetError};

/// The future [`McpBackend::invoke`] returns: the action's output (JSON text) or its typed
/// error.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<String, ConnectorError>> + Send>>;

/// What runs the actions behind the MCP server: one connection of one component, however
/// the host keeps it (one instance for the stdio command, a pool for `serve`).
pub trait McpBackend: Send + Sync + 'static {
    /// The component's action descriptors (`list-actions`), read once when a server starts.
    fn descriptors(&self) -> Vec<ActionDescriptor>;

    /// Invokes `action` with its input (JSON object text) on the backend's connection, with
    /// the call's options (`invoke-options`). A failure of the host that has no typed form is
    /// returned as an `internal` error: the agent sees a tool error, never a broken protocol.
    fn invoke(&self, action: String, input: String, timeout_ms: Option<u64>, dry_run: bool) -> InvokeFuture;
}

/// Which tools the server offers, and how large their results may be.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Offer only the read-only actions (`--read-only`).
    pub read_only: bool,
    /// Offer only these actions, by id (`--actions users.get,users.list`); `None` offers all.
    pub actions: Option<Vec<String>>,
    /// The `maxItems` a list tool uses when the agent gives none (`--mcp-max-items`).
    pub max_items: u64,
    /// The size of a read-only tool's structured result above which it is cut at an item
    /// boundary (see [`results`]).
    pub max_output_bytes: usize,
}

impl McpOptions {
    /// 50: a page an agent can read and reason about; `nextLink` says when more remain.
    pub const DEFAULT_MAX_ITEMS: u64 = 50;
    /// 64 KiB: well inside what MCP clients accept in one tool result (several refuse or
    /// truncate results of a few tens of thousands of tokens).
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 * 1024;
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            actions: None,
            max_items: Self::DEFAULT_MAX_ITEMS,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// The MCP server of one backend: its tools, and the calls it forwards. Cheap to clone (one
/// clone per HTTP session).
#[derive(Clone)]
pub struct ConnectorMcpServer {
    backend: Arc<dyn McpBackend>,
    tools: Arc<ToolSet>,
    options: Arc<McpOptions>,
}

impl ConnectorMcpServer {
    /// Builds the tool set from the backend's descriptors and the options; fails when
    /// `--actions` names an action the component lacks, or two actions would share a tool
    /// name.
    pub fn new(backend: Arc<dyn McpBackend>, options: McpOptions) -> Result<Self, ToolSetError> {
        let tools = ToolSet::new(backend.descriptors(), &options)?;
        Ok(Self { backend, tools: Arc::new(tools), options: Arc::new(options) })
    }

    /// The tools this server offers.
    pub fn tools(&self) -> &ToolSet {
        &self.tools
    }

    /// Runs one `tools/call`: an unknown tool is a protocol error (`invalid params`);
    /// everything the action answers, a typed error included, is a tool result. `dryRun` is
    /// taken out of the arguments into the call's options (read-only actions ignore it), and a
    /// list tool called without `maxItems` gets [`McpOptions::max_items`].
    pub async fn call(&self, name: &str, arguments: Option<Map<String, Value>>) -> Result<CallToolResult, ErrorData> {
        let Some(tool) = self.tools.get(name) else {
            return Err(ErrorData::invalid_params(format!("unknown tool `{name}`"), None));
        };
        let mut input = arguments.unwrap_or_default();
        let dry_run = match input.remove(tools::DRY_RUN) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => flag,
            Some(_) => {
                return Ok(results::error_result(&ConnectorError::new(
                    crate::sandbox::runtime::ErrorCode::InvalidInput,
                    "`dryRun` must be a boolean",
                )))
            }
        };
        if tool.is_list() && !input.contains_key(tools::MAX_ITEMS) {
            input.insert(tools::MAX_ITEMS.to_string(), Value::from(self.options.max_items));
        }
        let input = Value::Object(input).to_string();
        match self.backend.invoke(tool.action.id.clone(), input, None, dry_run).await {
            Ok(output) => Ok(results::success_result(tool, &output, self.options.max_output_bytes)),
            Err(error) => Ok(results::error_result(&error)),
        }
    }
}

impl ServerHandler for ConnectorMcpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("connector-host", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.iter().map(|tool| tool.tool.clone()).collect()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.get(name).map(|tool| tool.tool.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(&request.name, request.arguments).await.map(CallToolResponse::from)
    }
}

/// What the server tells an agent when it connects.
const INSTRUCTIONS: &str = "Each tool runs one action of a Microsoft Graph connector. List tools return at most \
`maxItems` items (a small default); a `nextLink` in the result means more remain, and the tool's description says \
how to continue. A result cut to fit carries `truncated` with the way to get the rest. Write tools take `dryRun`: \
with it the tool sends no write and returns the plan of the writes it would send, for a person to approve before \
the real call.";

/// Serves MCP over stdin/stdout until the client closes the stream. Nothing else may write
/// to stdout meanwhile.
pub async fn serve_stdio(backend: Arc<dyn McpBackend>, options: McpOptions) -> anyhow::Result<()> {
    let server = ConnectorMcpServer::new(backend, options)?;
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

/// The streamable HTTP transport as a tower service, for `serve` to mount
/// (`axum::Router::nest_service("/mcp", service)`): one server clone per MCP session.
///
/// `config` is rmcp's: its defaults accept only loopback `Host` headers (against DNS
/// rebinding); a server listening elsewhere names its hosts with
/// `StreamableHttpServerConfig::with_allowed_hosts`, and stops the sessions with its
/// cancellation token on shutdown. By default sessions live in this process's memory, so
/// replicas behind a load balancer need sticky sessions; with
/// `with_legacy_session_mode(false).with_json_response(true)` every request stands alone and
/// any replica answers it (both are tested).
pub fn streamable_http_service(
    backend: Arc<dyn McpBackend>,
    options: McpOptions,
    config: StreamableHttpServerConfig,
) -> Result<McpHttpService, ToolSetError> {
    let server = ConnectorMcpServer::new(backend, options)?;
    Ok(StreamableHttpService::new(move || Ok(server.clone()), Arc::new(LocalSessionManager::default()), config))
}

/// The tower service [`streamable_http_service`] returns.
pub type McpHttpService = StreamableHttpService<ConnectorMcpServer, LocalSessionManager>;
