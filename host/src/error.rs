//! The host's error type: what can go wrong around a component, as opposed to the typed
//! errors a component returns itself ([`crate::ConnectorError`]).

use std::path::PathBuf;
use std::time::Duration;

/// Convenience alias for results whose error is a [`HostError`].
pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// A failure of the host or of the sandbox around a component.
///
/// A failure during a call (trap, deadline, memory limit) drops the instance that
/// raised it: later calls on it return [`HostError::InstanceFailed`].
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The component bytes could not be read.
    #[error("could not read the component {path}: {source}")]
    ReadComponent {
        /// The file named with `--component`.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },

    /// Wasmtime could not compile the component, or the engine could not be configured.
    #[error("could not compile the component: {reason}")]
    Compile {
        /// Wasmtime's explanation.
        reason: String,
    },

    /// The component imports something the host does not provide, or does not export
    /// the `connector` world.
    #[error("the component does not fit the connector world: {reason}")]
    Link {
        /// Wasmtime's explanation.
        reason: String,
    },

    /// Creating a new instance failed (for example its start-up code trapped).
    #[error("could not instantiate the component: {reason}")]
    Instantiate {
        /// Wasmtime's explanation.
        reason: String,
    },

    /// The component trapped (a panic, an unreachable, an out-of-bounds access).
    #[error("the component trapped during `{call}`: {reason}{}", stderr_suffix(stderr))]
    Trap {
        /// The call being made: `connect` (`connection.open` and `describe`), `list-actions`,
        /// `invoke <action>`, `call <action>` or `drop connection`.
        call: String,
        /// Wasmtime's description of the trap.
        reason: String,
        /// What the component wrote to stderr, usually its panic message.
        stderr: String,
    },

    /// The call ran longer than the invocation deadline.
    #[error("deadline exceeded: `{call}` ran longer than {}ms", deadline.as_millis())]
    DeadlineExceeded {
        /// The export being called.
        call: String,
        /// The deadline that applied.
        deadline: Duration,
    },

    /// The component tried to grow its memory beyond the cap.
    #[error("memory limit exceeded: `{call}` asked for {requested_bytes} bytes, the cap is {limit_bytes}")]
    MemoryLimit {
        /// The export being called.
        call: String,
        /// The cap on linear memory per instance.
        limit_bytes: usize,
        /// The size the component asked to grow to.
        requested_bytes: usize,
    },

    /// The call sent more HTTP requests than the cap per invocation.
    #[error("request limit exceeded: `{call}` sent more than {limit} requests")]
    RequestLimit {
        /// The export being called.
        call: String,
        /// The cap on requests per invocation.
        limit: usize,
    },

    /// The component returned text that is not JSON where the world promises JSON.
    #[error("`{call}` returned text that is not JSON ({reason}): {}", shortened(text))]
    InvalidJson {
        /// The export being called.
        call: String,
        /// What the JSON parser found.
        reason: String,
        /// The text returned.
        text: String,
    },

    /// An earlier call on this instance failed, so the instance was dropped.
    #[error("the instance was dropped after an earlier failure and cannot be called again")]
    InstanceFailed,

    /// A `--allow-host` value is not `HOST` or `HOST:PORT`.
    #[error("invalid allowed host `{pattern}`: {reason}")]
    InvalidHostPattern {
        /// The value as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `--proxy` value is not an `http://[user:password@]host[:port]` URL. The URL itself
    /// is not repeated: it may hold a password.
    #[error("invalid proxy URL: {reason}")]
    InvalidProxy {
        /// What is wrong with it.
        reason: String,
    },

    /// A `--ca-cert` file could not be read or holds no PEM certificate.
    #[error("could not use the CA certificates in {path}: {reason}")]
    InvalidCaCertificates {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The TLS client could not be set up (for example a CA certificate rustls refuses).
    #[error("could not set up TLS: {reason}")]
    TlsSetup {
        /// rustls's explanation.
        reason: String,
    },
}

impl HostError {
    /// The typed error a caller sees when one of the sandbox's limits stopped a call (the
    /// host's hard deadline, the memory cap, the request cap): the same shape as the errors a
    /// component returns, so a platform branches on one set of codes. `None` for failures of
    /// the host itself or of the component (a trap, a component that does not load).
    pub fn as_connector_error(&self) -> Option<crate::sandbox::runtime::ConnectorError> {
        let (code, message) = match self {
            HostError::DeadlineExceeded { call, deadline } => (
                crate::sandbox::runtime::ErrorCode::Transport,
                format!(
                    "the host stopped `{call}` at its hard limit of {} ms; give the call a `timeoutMs` below it",
                    deadline.as_millis()
                ),
            ),
            HostError::MemoryLimit { call, limit_bytes, .. } => (
                crate::sandbox::runtime::ErrorCode::Upstream,
                format!(
                    "`{call}` needed more than the {limit_bytes} bytes of memory the sandbox allows; ask for less \
                     (`maxItems`, `select`, a smaller input)"
                ),
            ),
            HostError::RequestLimit { call, limit } => (
                crate::sandbox::runtime::ErrorCode::Upstream,
                format!("`{call}` sent more than the {limit} requests the sandbox allows in one call; ask for less (`maxItems`)"),
            ),
            _ => return None,
        };
        Some(crate::sandbox::runtime::ConnectorError {
            code,
            message,
            status: None,
            graph_code: None,
            request_id: None,
            retry_after_ms: None,
        })
    }
}

/// The first 200 characters of a text, for messages.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("\ncomponent stderr:\n{stderr}")
    }
}
