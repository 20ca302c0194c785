//! The component's exports: the WIT world wired to [`Connector`]. Each `connection`
//! resource owns one [`Connector`]; `call` opens one, invokes it and drops it.

mod wasi_transport;

use crate::connector::{Connector, InvokeOptions};
use crate::error::{ConnectorError, ErrorCode};
use crate::graph::config::DECLARED_HOSTS;
use std::cell::RefCell;
use wasi_transport::WasiTransport;

/// wasi-libc's malloc, named directly: the default global allocator is the same malloc behind
/// one more call layer.
#[global_allocator]
static ALLOCATOR: std::alloc::System = std::alloc::System;

/// The contract's docs for tools that decode the component (`wasm-tools component wit`,
/// `jco wit`): the `package-docs` section `build.rs` writes from `wit/`.
const PACKAGE_DOCS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/package-docs.bin"));

/// [`PACKAGE_DOCS`] as a custom section of the binary.
#[used]
#[link_section = "package-docs"]
static PACKAGE_DOCS_SECTION: [u8; PACKAGE_DOCS.len()] = *include_bytes!(concat!(env!("OUT_DIR"), "/package-docs.bin"));

/// The hosts any connection may name (see [`DECLARED_HOSTS`]) as the `connector-hosts`
/// custom section, which hosts read before instantiating the component.
#[used]
#[link_section = "connector-hosts"]
static DECLARED_HOSTS_SECTION: [u8; DECLARED_HOSTS.len()] = match DECLARED_HOSTS.as_bytes().first_chunk() {
    Some(bytes) => *bytes,
    None => unreachable!(),
};

// The generated glue of `call` takes its four arguments as nine core values.
#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "connector",
        with: {
            "wasi:http/types@0.2.12": wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasi::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasi::io::error,
            "wasi:io/poll@0.2.12": wasi::io::poll,
            "wasi:io/streams@0.2.12": wasi::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasi::clocks::monotonic_clock,
            "wasi:clocks/wall-clock@0.2.12": wasi::clocks::wall_clock,
            "wasi:random/random@0.2.12": wasi::random::random,
            "wasi:random/insecure-seed@0.2.12": wasi::random::insecure_seed,
            "wasi:cli/environment@0.2.12": wasi::cli::environment,
            "wasi:cli/exit@0.2.12": wasi::cli::exit,
            "wasi:cli/stdin@0.2.12": wasi::cli::stdin,
            "wasi:cli/stdout@0.2.12": wasi::cli::stdout,
            "wasi:cli/stderr@0.2.12": wasi::cli::stderr,
            "wasi:cli/terminal-input@0.2.12": wasi::cli::terminal_input,
            "wasi:cli/terminal-output@0.2.12": wasi::cli::terminal_output,
            "wasi:cli/terminal-stdin@0.2.12": wasi::cli::terminal_stdin,
            "wasi:cli/terminal-stdout@0.2.12": wasi::cli::terminal_stdout,
            "wasi:cli/terminal-stderr@0.2.12": wasi::cli::terminal_stderr,
        },
    });
}

use bindings::connector::plugin::types as wit;
use bindings::exports::connector::plugin::connections;

struct Component;

/// One open connection (the WIT's `connection` resource): a [`Connector`] with its own
/// settings, token cache and secrets, all dropped with the resource.
struct Connection {
    /// The connection's state; a `RefCell` because the WIT's methods take `&self`.
    connector: RefCell<Connector>,
    /// What `open` found in the settings, without secrets (JSON text).
    description: String,
}

impl Connection {
    /// Opens a connection: validates the settings and keeps them (no request is made).
    fn open_with(config: &str) -> Result<Self, wit::ConnectorError> {
        let mut connector = Connector::new();
        let description = connector.connect_json(config, Box::new(WasiTransport)).map_err(to_wit)?;
        Ok(Self { connector: RefCell::new(connector), description })
    }

    /// Runs one action on this connection.
    fn invoke_with(
        &self,
        action: &str,
        input: &str,
        options: wit::InvokeOptions,
    ) -> Result<String, wit::ConnectorError> {
        let options = InvokeOptions { timeout_ms: options.timeout_ms, dry_run: options.dry_run };
        // Calls into one instance never overlap, so the connection is never borrowed twice;
        // if it were, the caller gets a typed error instead of a trap.
        let mut connector = self.connector.try_borrow_mut().map_err(|_| {
            to_wit(ConnectorError::new(ErrorCode::Internal, "the connection is already running an invocation"))
        })?;
        connector.invoke_json_with(action, input, &options).map_err(to_wit)
    }
}

impl connections::GuestConnection for Connection {
    fn open(config: String) -> Result<connections::Connection, wit::ConnectorError> {
        Self::open_with(&config).map(connections::Connection::new)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn invoke(
        &self,
        action: String,
        input: String,
        options: wit::InvokeOptions,
    ) -> Result<String, wit::ConnectorError> {
        self.invoke_with(&action, &input, options)
    }
}

impl connections::Guest for Component {
    type Connection = Connection;
}

impl bindings::Guest for Component {
    fn list_actions() -> Vec<wit::ActionDescriptor> {
        crate::catalog::all()
            .map(|action| wit::ActionDescriptor {
                id: action.id.into(),
                title: action.title.into(),
                description: action.description.into(),
                category: action.category.into(),
                input_schema: (action.input_schema)().to_string(),
                output_schema: (action.output_schema)().to_string(),
                permissions: action.permissions.iter().map(|p| p.to_string()).collect(),
                read_only: action.read_only,
            })
            .collect()
    }

    fn call(
        config: String,
        action: String,
        input: String,
        options: wit::InvokeOptions,
    ) -> Result<String, wit::ConnectorError> {
        // The connection, its token and its secrets are dropped on return.
        Connection::open_with(&config)?.invoke_with(&action, &input, options)
    }
}

fn to_wit(error: ConnectorError) -> wit::ConnectorError {
    let code = match error.code {
        ErrorCode::InvalidConfig => wit::ErrorCode::InvalidConfig,
        ErrorCode::InvalidInput => wit::ErrorCode::InvalidInput,
        ErrorCode::UnknownAction => wit::ErrorCode::UnknownAction,
        ErrorCode::NotConnected => wit::ErrorCode::NotConnected,
        ErrorCode::AuthFailed => wit::ErrorCode::AuthFailed,
        ErrorCode::Forbidden => wit::ErrorCode::Forbidden,
        ErrorCode::NotFound => wit::ErrorCode::NotFound,
        ErrorCode::Conflict => wit::ErrorCode::Conflict,
        ErrorCode::Throttled => wit::ErrorCode::Throttled,
        ErrorCode::Upstream => wit::ErrorCode::Upstream,
        ErrorCode::Transport => wit::ErrorCode::Transport,
        ErrorCode::Internal => wit::ErrorCode::Internal,
    };
    wit::ConnectorError {
        code,
        message: error.message,
        status: error.status,
        graph_code: error.graph_code,
        request_id: error.request_id,
        retry_after_ms: error.retry_after_ms,
    }
}

bindings::export!(Component with_types_in bindings);
