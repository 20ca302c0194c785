//! `connector-host serve`: the connector as a long-running HTTP service.
//!
//! One process compiles the component once and shares it, a pool of instances per
//! connection, and the live HTTP pool between all callers. The parts:
//! - [`service`]: the catalog offered, registered connections and their instance pools,
//!   admission (`--max-concurrency`), the per-connection rate limit, the log line of a call.
//!   Any door (the HTTP API, MCP) calls it.
//! - [`api`]: the HTTP API's routes, bodies, error-to-status mapping, request ids, API keys.
//! - [`metrics`]: Prometheus metrics, and the observer counting each instance's requests.
//! - [`auth`], [`rate_limit`]: API keys compared in constant time; the rate limiter.
//! - [`openapi`]: the OpenAPI 3.1 document of the API, generated from the catalog.
//!
//! The service keeps no state that must outlive the process except connections registered
//! at run time: replicas started with the same `--connections` file are interchangeable.

pub mod api;
pub mod auth;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod service;

use crate::mcp::{streamable_http_service, InvokeFuture, McpBackend, McpHttpService, McpOptions, ToolSetError};
use crate::sandbox::runtime::{ActionDescriptor, ConnectorError};
use crate::serve::api::ApiState;
use crate::serve::auth::ApiKeys;
use crate::serve::service::{CallRequest, ConnectionRef, CoreError, CoreOptions, ServeCore, Settings};
use crate::Runtime;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the service is set up.
pub struct ServeOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Keys callers must present; `None` only on a loopback address.
    pub api_keys: Option<ApiKeys>,
    /// The core's settings.
    pub core: CoreOptions,
    /// Connections that exist from start-up: name and settings.
    pub connections: Vec<(String, Settings)>,
    /// The largest request body read.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request head (a slow client holding
    /// connections open, "slowloris", is cut off after it).
    pub header_read_timeout: Duration,
    /// How long calls in flight may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// The MCP servers at `/mcp/{name}`: their tools' result sizes.
    pub mcp: McpOptions,
}

impl ServeOptions {
    /// 5 MiB: an action input may be 4 MiB, plus the envelope around it.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
    /// 10 s to send a request head: far above any real client's, short enough that slow
    /// clients cannot hold many connections.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// 30 s: Kubernetes' default termination grace period.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

    /// Options listening on `listen`, everything else at its default.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            api_keys: None,
            core: CoreOptions::default(),
            connections: Vec::new(),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            mcp: McpOptions::default(),
        }
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Listening beyond loopback needs API keys.
    #[error("refusing to listen on {address} without --api-key-file: only a loopback address may be served without API keys")]
    NoKeysBeyondLoopback {
        /// The address asked for.
        address: SocketAddr,
    },
    /// The address could not be bound.
    #[error("could not listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The core could not start (catalog, connections).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The actions could not be offered as MCP tools (two ids sharing a tool name).
    #[error("could not offer the actions as MCP tools: {0}")]
    Mcp(#[from] ToolSetError),
}

/// A started service: bound, its component instantiated and its connections open.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: ApiState,
    header_read_timeout: Duration,
    shutdown_grace: Duration,
}

impl Server {
    /// Checks the address, opens the connections and binds. Must run inside a tokio runtime.
    pub async fn start(runtime: Runtime, options: ServeOptions) -> Result<Self, ServeError> {
        if options.api_keys.is_none() && !options.listen.ip().is_loopback() {
            return Err(ServeError::NoKeysBeyondLoopback { address: options.listen });
        }
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| ServeError::Bind { address: options.listen, source })?;
        let core = ServeCore::start(runtime, options.core, options.connections).await?;
        let mcp = mcp_services(&core, &options.mcp, options.listen)?;
        let state = ApiState {
            mcp,
            core,
            keys: options.api_keys.map(Arc::new),
            max_body_bytes: options.max_body_bytes,
            ready: Arc::new(AtomicBool::new(true)),
        };
        Ok(Self {
            listener,
            state,
            header_read_timeout: options.header_read_timeout,
            shutdown_grace: options.shutdown_grace,
        })
    }

    /// The address bound (with the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The core, for another door (MCP) to call.
    pub fn core(&self) -> &Arc<ServeCore> {
        &self.state.core
    }

    /// Serves until `shutdown` completes; then stops accepting, answers `/readyz` with 503,
    /// lets requests in flight finish for up to the grace period, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let router = api::router(self.state.clone());
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                // Out of descriptors or a connection reset before it was accepted: the
                // listener itself is fine; pause briefly so a full table can drain.
                Err(error) => {
                    tracing::warn!(target: "connector_host::serve", %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(router.clone());
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                // A client that goes away or sends garbage ends only its own connection.
                let _ = connection.await;
            });
        }
        self.state.ready.store(false, Ordering::SeqCst);
        drop(self.listener);
        tracing::info!(target: "connector_host::serve", open_connections = graceful.count(), "shutting down");
        tokio::select! {
            () = graceful.shutdown() => tracing::info!(target: "connector_host::serve", "every connection finished"),
            () = tokio::time::sleep(self.shutdown_grace) => {
                tracing::warn!(target: "connector_host::serve", "grace period over; closing the connections left")
            }
        }
    }
}

/// One MCP server (streamable HTTP) per connection named in `--connections`, to be mounted at
/// `/mcp/{name}`. Names that are not plain path segments (letters, digits, `.`, `_`, `-`) get
/// none, and say so in the log. Without sessions, every request stands alone, so any replica
/// behind a load balancer can answer it. rmcp checks the `Host` header against loopback names
/// (DNS rebinding); beyond loopback, where the service requires API keys, any host is taken.
fn mcp_services(
    core: &Arc<ServeCore>,
    options: &McpOptions,
    listen: SocketAddr,
) -> Result<Vec<(String, McpHttpService)>, ServeError> {
    let mut config = StreamableHttpServerConfig::default().with_legacy_session_mode(false).with_json_response(true);
    if !listen.ip().is_loopback() {
        config = config.disable_allowed_hosts();
    }
    let mut services = Vec::new();
    for entry in core.connections() {
        let Some(name) = &entry.name else { continue };
        let plain = !name.is_empty()
            && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
        if !plain {
            tracing::warn!(target: "connector_host::serve", connection = %entry.id,
                "a connection whose name is not a plain path segment gets no /mcp/{{name}} server");
            continue;
        }
        let backend = Arc::new(ConnectionBackend::new(core.clone(), name.clone()));
        services.push((name.clone(), streamable_http_service(backend, options.clone(), config.clone())?));
    }
    Ok(services)
}

impl McpBackend for ConnectionBackend {
    fn descriptors(&self) -> Vec<ActionDescriptor> {
        ConnectionBackend::descriptors(self)
    }

    fn invoke(&self, action: String, input: String, timeout_ms: Option<u64>, dry_run: bool) -> InvokeFuture {
        let backend = self.clone();
        Box::pin(async move { ConnectionBackend::invoke(&backend, action, input, timeout_ms, dry_run).await })
    }
}

/// One registered connection seen as a single-connection backend (what an MCP server per
/// connection needs): the offered catalog, and calls on that connection.
#[derive(Clone)]
pub struct ConnectionBackend {
    core: Arc<ServeCore>,
    connection: String,
}

impl ConnectionBackend {
    /// The backend of the connection with this id or name.
    pub fn new(core: Arc<ServeCore>, connection: impl Into<String>) -> Self {
        Self { core, connection: connection.into() }
    }

    /// The descriptors of the actions offered.
    pub fn descriptors(&self) -> Vec<ActionDescriptor> {
        self.core.descriptors()
    }

    /// Invokes an action on the connection; the service's refusals (busy, rate limit,
    /// unknown action) come back as typed errors too.
    pub async fn invoke(
        &self,
        action: String,
        input: String,
        timeout_ms: Option<u64>,
        dry_run: bool,
    ) -> Result<String, ConnectorError> {
        let request = CallRequest {
            connection: ConnectionRef::Registered(self.connection.clone()),
            action,
            input,
            timeout_ms,
            dry_run,
            request_id: service::random_id("mcp-"),
        };
        self.core.call(request).await.result.map_err(|error| error.to_connector_error())
    }
}
