//! The component's exports: the WIT world wired to [`Connector`].

mod wasi_transport;

use crate::connector::Connector;
use crate::error::{ConnectorError, ErrorCode};
use crate::json::output::Output;
use std::cell::RefCell;
use wasi_transport::WasiTransport;

/// wasi-libc's malloc, named directly: the default global allocator is the same malloc behind
/// one more call layer.
#[global_allocator]
static ALLOCATOR: std::alloc::System = std::alloc::System;

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
        },
    });
}

use bindings::connector::plugin::types as wit;

thread_local! {
    /// The instance's one connection; the host creates one instance per connection.
    static CONNECTOR: RefCell<Connector> = RefCell::new(Connector::new());
}

struct Component;

impl bindings::Guest for Component {
    fn connect(config: String) -> Result<String, wit::ConnectorError> {
        CONNECTOR
            .with(|c| c.borrow_mut().connect(&config, Box::new(WasiTransport)))
            .map(|info| Output::from(info).into_json())
            .map_err(to_wit)
    }

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

    fn invoke(action: String, input: String) -> Result<String, wit::ConnectorError> {
        CONNECTOR.with(|c| c.borrow_mut().invoke_json(&action, &input)).map_err(to_wit)
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
