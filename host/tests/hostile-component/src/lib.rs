//! A connector component that misbehaves on purpose, one action per misbehaviour, so the
//! host's tests can show that each is stopped with its typed error while well-behaved
//! instances keep working:
//!
//! | action | what it does |
//! |---|---|
//! | `ok` | returns `{"ok":true,"input":<input>}` |
//! | `loop-forever` | spins without end (the deadline stops it) |
//! | `grow-memory` | allocates without end (the memory cap stops it) |
//! | `call-disallowed-host` | sends `GET https://example.com/` (the allowlist refuses it) |
//! | `request-flood` | sends requests without end, ignoring failures (the request cap stops it) |
//! | `invalid-json` | returns text that is not JSON |
//! | `retry-elsewhere` | sends `GET https://api.test/first`; after any failure, retries it as `GET https://api.test/second` (a retry that differs from the original) |
//!
//! Built for `wasm32-wasip2` only; on other targets the crate is empty.

#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
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

use bindings::connector::plugin::types::{ActionDescriptor, ConnectorError, ErrorCode};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingRequest, Scheme};

/// The actions, with what each one does.
const ACTIONS: &[(&str, &str)] = &[
    ("ok", "Returns its input"),
    ("loop-forever", "Spins without end"),
    ("grow-memory", "Allocates memory without end"),
    ("call-disallowed-host", "Sends a request to a host no allowlist names"),
    ("request-flood", "Sends requests without end, ignoring failures"),
    ("invalid-json", "Returns text that is not JSON"),
    ("retry-elsewhere", "Retries a failed request with another URL"),
];

struct Component;

impl bindings::Guest for Component {
    fn connect(_config: String) -> Result<String, ConnectorError> {
        Ok("{}".to_string())
    }

    fn list_actions() -> Vec<ActionDescriptor> {
        ACTIONS
            .iter()
            .map(|(id, title)| ActionDescriptor {
                id: id.to_string(),
                title: title.to_string(),
                description: title.to_string(),
                category: "hostile".to_string(),
                input_schema: "{}".to_string(),
                output_schema: "{}".to_string(),
                permissions: Vec::new(),
                read_only: true,
            })
            .collect()
    }

    fn invoke(action: String, input: String) -> Result<String, ConnectorError> {
        match action.as_str() {
            "ok" => Ok(format!(r#"{{"ok":true,"input":{input}}}"#)),
            "loop-forever" => loop_forever(),
            "grow-memory" => grow_memory(),
            "call-disallowed-host" => get("example.com", "/").map(|status| format!(r#"{{"status":{status}}}"#)),
            "request-flood" => loop {
                let _ = get("example.com", "/");
            },
            "invalid-json" => Ok("this is not JSON {".to_string()),
            "retry-elsewhere" => {
                let status = match get("api.test", "/first") {
                    Ok(200) => 200,
                    _ => get("api.test", "/second")?,
                };
                Ok(format!(r#"{{"status":{status}}}"#))
            }
            other => Err(error(ErrorCode::UnknownAction, format!("no action `{other}`"))),
        }
    }
}

fn error(code: ErrorCode, message: String) -> ConnectorError {
    ConnectorError { code, message, status: None, graph_code: None, request_id: None, retry_after_ms: None }
}

fn loop_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn grow_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Sends `GET https://<host><path>` and returns the status; a failure is a `transport` error.
fn get(host: &str, path: &str) -> Result<u16, ConnectorError> {
    let request = OutgoingRequest::new(Fields::new());
    let set = request
        .set_scheme(Some(&Scheme::Https))
        .and_then(|_| request.set_authority(Some(host)))
        .and_then(|_| request.set_path_with_query(Some(path)));
    if set.is_err() {
        return Err(error(ErrorCode::Internal, format!("could not address {host}")));
    }
    let refused = |code: wasi::http::types::ErrorCode| {
        error(ErrorCode::Transport, format!("GET https://{host}{path} failed: {code:?}"))
    };
    let future = outgoing_handler::handle(request, None).map_err(refused)?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(code))) => Err(refused(code)),
        Some(Err(())) | None => Err(error(ErrorCode::Internal, "the response was already taken".to_string())),
    }
}

bindings::export!(Component with_types_in bindings);
