//! A connector component that misbehaves on purpose, one action per misbehaviour, so the
//! host's tests can show that each is stopped with its typed error while well-behaved
//! instances keep working; and a few probes of how the host answers wasi-http:
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
//! | `probe-get` | sends `GET https://api.test/probe`; returns `{"readyAtOnce":B,"status":N}`, B telling whether the answer was there before any wait |
//! | `probe-post` | the same with `POST https://api.test/probe`, writing the body `{"probe":true}` after handing the request over |
//! | `length-without-body` | sends a GET declaring `content-length: 5` and no body; returns the error code |
//! | `header-rules` | tries each of a list of request headers alone, then sends `GET https://api.test/headers`; returns `{"refused":[..],"accepted":[..],"seen":[..]}`, the names of the headers the host refused, accepted, and let through in the answer |
//!
//! Built for `wasm32-wasip2` only; on other targets the crate is empty.

#![cfg(target_arch = "wasm32")]

// The generated glue of `call` takes its four arguments as nine core values.
#[allow(clippy::too_many_arguments)]
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

use bindings::connector::plugin::types::{ActionDescriptor, ConnectorError, ErrorCode, InvokeOptions};
use bindings::exports::connector::plugin::connections;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

/// The actions, with what each one does.
const ACTIONS: &[(&str, &str)] = &[
    ("ok", "Returns its input"),
    ("loop-forever", "Spins without end"),
    ("grow-memory", "Allocates memory without end"),
    ("call-disallowed-host", "Sends a request to a host no allowlist names"),
    ("request-flood", "Sends requests without end, ignoring failures"),
    ("invalid-json", "Returns text that is not JSON"),
    ("retry-elsewhere", "Retries a failed request with another URL"),
    ("probe-get", "Tells whether a GET's answer is there before any wait"),
    ("probe-post", "Tells whether a POST's answer is there before any wait"),
    ("length-without-body", "Declares a body length and sends no body"),
    ("header-rules", "Lists the request and response headers the host lets through"),
];

struct Component;

/// A connection: holds nothing, every action is stateless.
struct Connection;

impl connections::Guest for Component {
    type Connection = Connection;
}

impl connections::GuestConnection for Connection {
    fn open(_config: String) -> Result<connections::Connection, ConnectorError> {
        Ok(connections::Connection::new(Connection))
    }

    fn describe(&self) -> String {
        "{}".to_string()
    }

    fn invoke(&self, action: String, input: String, _options: InvokeOptions) -> Result<String, ConnectorError> {
        invoke(&action, &input)
    }
}

impl bindings::Guest for Component {
    fn call(_config: String, action: String, input: String, _options: InvokeOptions) -> Result<String, ConnectorError> {
        invoke(&action, &input)
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
}

/// Runs one of the hostile actions.
fn invoke(action: &str, input: &str) -> Result<String, ConnectorError> {
    match action {
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
        "probe-get" => probe(Method::Get, None),
        "probe-post" => probe(Method::Post, Some(br#"{"probe":true}"#)),
        "length-without-body" => length_without_body(),
        "header-rules" => header_rules(),
        other => Err(error(ErrorCode::UnknownAction, format!("no action `{other}`"))),
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

/// An outgoing request for `https://api.test<path>`.
fn api_request(headers: Fields, method: &Method, path: &str) -> Result<OutgoingRequest, ConnectorError> {
    let request = OutgoingRequest::new(headers);
    request
        .set_method(method)
        .and_then(|_| request.set_scheme(Some(&Scheme::Https)))
        .and_then(|_| request.set_authority(Some("api.test")))
        .and_then(|_| request.set_path_with_query(Some(path)))
        .map_err(|_| error(ErrorCode::Internal, "could not address api.test".to_string()))?;
    Ok(request)
}

/// Sends `method https://api.test/probe`, with `body` written after `handle`, and tells
/// whether `get` had the answer before any wait on its pollable.
fn probe(method: Method, body: Option<&[u8]>) -> Result<String, ConnectorError> {
    let request = api_request(Fields::new(), &method, "/probe")?;
    let outgoing_body = match body {
        Some(_) => Some(request.body().map_err(|_| error(ErrorCode::Internal, "no body".to_string()))?),
        None => None,
    };
    let transport = |what: String| error(ErrorCode::Transport, what);
    let future = outgoing_handler::handle(request, None).map_err(|code| transport(format!("{code:?}")))?;
    let at_once = future.get();
    let ready_at_once = at_once.is_some();
    if let (Some(outgoing_body), Some(bytes)) = (outgoing_body, body) {
        let stream = outgoing_body.write().map_err(|_| transport("no body stream".to_string()))?;
        stream.blocking_write_and_flush(bytes).map_err(|e| transport(format!("{e:?}")))?;
        drop(stream);
        OutgoingBody::finish(outgoing_body, None).map_err(|code| transport(format!("{code:?}")))?;
    }
    let answer = match at_once {
        Some(answer) => answer,
        None => {
            future.subscribe().block();
            future.get().ok_or_else(|| transport("no answer after the wait".to_string()))?
        }
    };
    match answer {
        Ok(Ok(response)) => Ok(format!(r#"{{"readyAtOnce":{ready_at_once},"status":{}}}"#, response.status())),
        Ok(Err(code)) => Err(transport(format!("{code:?}"))),
        Err(()) => Err(error(ErrorCode::Internal, "the response was already taken".to_string())),
    }
}

/// Sends a GET that declares five bytes of body and has none; returns the error code.
fn length_without_body() -> Result<String, ConnectorError> {
    let headers = Fields::from_list(&[("content-length".to_string(), b"5".to_vec())])
        .map_err(|e| error(ErrorCode::Internal, format!("{e:?}")))?;
    let request = api_request(headers, &Method::Get, "/probe")?;
    match outgoing_handler::handle(request, None) {
        Ok(_) => Ok(r#"{"refused":null}"#.to_string()),
        Err(code) => Ok(format!(r#"{{"refused":"{code:?}"}}"#)),
    }
}

/// The request headers [`header_rules`] tries: every one wasi-http hosts forbid by
/// default, and some that a connector needs.
const TRIED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
    "authorization",
    "accept",
    "content-type",
    "x-host",
];

/// Tries each of [`TRIED_HEADERS`] alone in `fields.from-list`, then sends a GET and lists
/// the names of the answer's headers, sorted.
fn header_rules() -> Result<String, ConnectorError> {
    let (mut refused, mut accepted) = (Vec::new(), Vec::new());
    for name in TRIED_HEADERS {
        match Fields::from_list(&[(name.to_string(), b"x".to_vec())]) {
            Ok(_) => accepted.push(format!("{name:?}")),
            Err(_) => refused.push(format!("{name:?}")),
        }
    }
    let request = api_request(Fields::new(), &Method::Get, "/headers")?;
    let transport = |what: String| error(ErrorCode::Transport, what);
    let future = outgoing_handler::handle(request, None).map_err(|code| transport(format!("{code:?}")))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        other => return Err(transport(format!("no answer: {other:?}"))),
    };
    let mut seen: Vec<String> = response.headers().entries().into_iter().map(|(name, _)| format!("{name:?}")).collect();
    seen.sort();
    Ok(format!(
        r#"{{"refused":[{}],"accepted":[{}],"seen":[{}]}}"#,
        refused.join(","),
        accepted.join(","),
        seen.join(",")
    ))
}

bindings::export!(Component with_types_in bindings);
