//! The simplest backend: one instance of the component with one open connection, calls
//! taking turns on it (an agent over stdio makes one call at a time anyway). The
//! connection's token cache lives as long as the instance; an instance that failed (a trap,
//! a limit of the sandbox) is replaced, and its connection opened again, on the next call.

use super::{InvokeFuture, McpBackend};
use crate::error::{HostError, Result};
use crate::sandbox::clock::TimeSource;
use crate::sandbox::http_policy::OutboundHttp;
use crate::sandbox::runtime::{
    ActionDescriptor, CallResult, Connection, ConnectorError, ErrorCode, Instance, InvokeOptions, Runtime,
};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Makes the outgoing-HTTP policy of each new instance (the allowlist and the route).
pub type OutboundFactory = Box<dyn Fn() -> OutboundHttp + Send + Sync>;

/// One instance and one connection behind an MCP server (see the module docs). Its
/// [`McpBackend::invoke`] spawns the call on the current tokio runtime, so it is called from
/// within one (as the MCP server's handlers are).
#[derive(Clone)]
pub struct InstanceBackend {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    outbound: OutboundFactory,
    /// The connection settings (JSON text); they hold secrets and are never shown.
    config: String,
    descriptors: Vec<ActionDescriptor>,
    live: Mutex<Option<Live>>,
}

struct Live {
    instance: Instance,
    connection: Connection,
}

impl InstanceBackend {
    /// Instantiates the component, reads its actions and opens the connection. The inner
    /// result is the component's refusal of the settings (`invalid-config`, ...).
    pub async fn open(runtime: Runtime, outbound: OutboundFactory, config: String) -> Result<CallResult<Self>> {
        let mut instance = runtime.instantiate(outbound(), TimeSource::Real).await?;
        let descriptors = instance.list_actions().await?;
        let connection = match instance.open(&config).await? {
            Ok((connection, _description)) => connection,
            Err(error) => return Ok(Err(error)),
        };
        let live = Mutex::new(Some(Live { instance, connection }));
        Ok(Ok(Self { inner: Arc::new(Inner { runtime, outbound, config, descriptors, live }) }))
    }
}

impl Inner {
    async fn invoke(&self, action: &str, input: &str, options: InvokeOptions) -> Result<CallResult<String>> {
        let mut live = self.live.lock().await;
        if live.as_ref().is_none_or(|live| live.instance.has_failed()) {
            *live = None;
            let mut instance = self.runtime.instantiate((self.outbound)(), TimeSource::Real).await?;
            match instance.open(&self.config).await? {
                Ok((connection, _description)) => *live = Some(Live { instance, connection }),
                Err(error) => return Ok(Err(error)),
            }
        }
        let Some(Live { instance, connection }) = live.as_mut() else {
            return Err(HostError::InstanceFailed);
        };
        instance.invoke_on(connection, action, input, options).await
    }
}

impl McpBackend for InstanceBackend {
    fn descriptors(&self) -> Vec<ActionDescriptor> {
        self.inner.descriptors.clone()
    }

    fn invoke(&self, action: String, input: String, timeout_ms: Option<u64>, dry_run: bool) -> InvokeFuture {
        let inner = self.inner.clone();
        // The call runs in its own task: when the client cancels the request (or drops the
        // HTTP stream), the call still ends normally and releases the instance, rather than
        // stopping mid-call inside the component.
        let call =
            tokio::spawn(async move { inner.invoke(&action, &input, InvokeOptions { timeout_ms, dry_run }).await });
        Box::pin(async move {
            let outcome = match call.await {
                Ok(outcome) => outcome,
                Err(join_error) => {
                    return Err(ConnectorError::new(
                        ErrorCode::Internal,
                        format!("the call did not finish: {join_error}"),
                    ))
                }
            };
            match outcome {
                Ok(result) => result,
                // A limit of the sandbox has a typed form; any other failure of the host is
                // `internal`, described without the input or the settings.
                Err(error) => Err(error
                    .as_connector_error()
                    .unwrap_or_else(|| ConnectorError::new(ErrorCode::Internal, error.to_string()))),
            }
        })
    }
}
