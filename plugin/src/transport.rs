//! The seam between the Graph logic and the network.
//!
//! The component sends through `wasi:http/outgoing-handler`; native unit tests
//! plug in a scripted transport. Both run the very same Graph code.

/// An HTTP request as the plugin builds it.
pub type HttpRequest = http::Request<Vec<u8>>;

/// An HTTP response with its whole body read.
pub type HttpResponse = http::Response<Vec<u8>>;

/// How far a request that got no HTTP answer went, which decides whether it may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The host's sandbox refused the destination (wasi-http `HTTP-request-denied`): the
    /// request never left, and sending it again would be refused again. Never retried.
    Refused,
    /// The request did not reach the server (DNS, connection refused, TLS): nothing was
    /// applied, so it can be sent again.
    NotDelivered,
    /// The request may have reached the server (its body was sent before the failure), so a
    /// write may have been applied: the outcome is unknown.
    MaybeDelivered,
    /// The answer was larger than the host's sandbox lets through (wasi-http
    /// `HTTP-response-body-size`): asking again would get the same answer. Never retried.
    TooLarge,
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong, as the host reported it (e.g. `HTTP-request-denied`).
    pub message: String,
    /// How far the request went.
    pub kind: TransportErrorKind,
}

impl TransportError {
    /// A failure of the given kind.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError { message: message.into(), kind }
    }
}

/// Sends requests and keeps time. Implemented over wasi-http in the component.
pub trait Transport {
    /// Sends one request and reads the whole response.
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError>;

    /// Milliseconds on a monotonic clock (the host's, which may be virtual in replay).
    fn now_ms(&self) -> u64;

    /// Waits for the given number of milliseconds.
    fn sleep_ms(&mut self, ms: u64);

    /// Seconds since the Unix epoch on the wall clock (for the `nbf`/`exp` of client assertions).
    fn wall_clock_secs(&self) -> u64;

    /// `n` bytes from a cryptographically secure random source.
    fn random_bytes(&mut self, n: usize) -> Vec<u8>;
}

/// The largest response body the plugin reads (bytes); larger ones are an `upstream` error.
/// Parsing JSON takes a few times its size in memory, so this stays well below the host's
/// default instance memory (64 MiB); a full Graph page of 999 users is a few MiB.
pub const MAX_RESPONSE_BODY: usize = 8 * 1024 * 1024;

#[cfg(test)]
pub mod scripted {
    //! A transport that answers from a script and records what was sent, for native tests.

    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// What a scripted transport saw: the requests, in order.
    pub type SentLog = Rc<RefCell<Vec<HttpRequest>>>;

    /// Answers requests in order from canned responses and records them.
    #[derive(Default)]
    pub struct ScriptedTransport {
        responses: VecDeque<Result<HttpResponse, TransportError>>,
        sent: SentLog,
        clock_ms: Rc<std::cell::Cell<u64>>,
        random_counter: u64,
    }

    /// The scripted wall clock at monotonic time zero: 2025-11-24T16:00:00Z.
    pub const SCRIPTED_EPOCH_SECS: u64 = 1_764_000_000;

    impl ScriptedTransport {
        /// An empty script.
        pub fn new() -> Self {
            Self::default()
        }

        /// The log of sent requests, shared with the transport.
        pub fn log(&self) -> SentLog {
            self.sent.clone()
        }

        /// Queues a response with a JSON body (`null` = no body) and extra headers.
        pub fn respond_with(mut self, status: u16, headers: &[(&str, &str)], body: serde_json::Value) -> Self {
            let mut builder = http::Response::builder().status(status);
            if !body.is_null() {
                builder = builder.header("content-type", "application/json");
            }
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            let bytes = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
            self.responses.push_back(Ok(builder.body(bytes).expect("valid test response")));
            self
        }

        /// Queues a response with a JSON body (`null` = no body).
        pub fn respond(self, status: u16, body: serde_json::Value) -> Self {
            self.respond_with(status, &[], body)
        }

        /// Queues a transport failure.
        pub fn fail(mut self, message: &str, kind: TransportErrorKind) -> Self {
            self.responses.push_back(Err(TransportError::new(kind, message)));
            self
        }

        /// Queues a response with a raw body and a content type.
        pub fn respond_raw(mut self, status: u16, content_type: &str, body: &[u8]) -> Self {
            let response = http::Response::builder().status(status).header("content-type", content_type);
            self.responses.push_back(Ok(response.body(body.to_vec()).expect("valid test response")));
            self
        }

        /// Queues an already built response or failure.
        pub fn push(mut self, answer: Result<HttpResponse, TransportError>) -> Self {
            self.responses.push_back(answer);
            self
        }

        /// The scripted monotonic clock, in milliseconds (advanced only by sleeps).
        pub fn clock(&self) -> std::rc::Rc<std::cell::Cell<u64>> {
            self.clock_ms.clone()
        }
    }

    impl Transport for ScriptedTransport {
        fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.borrow_mut().push(request);
            self.responses.pop_front().unwrap_or_else(|| {
                Err(TransportError::new(TransportErrorKind::NotDelivered, "no scripted response left"))
            })
        }

        fn now_ms(&self) -> u64 {
            self.clock_ms.get()
        }

        fn sleep_ms(&mut self, ms: u64) {
            self.clock_ms.set(self.clock_ms.get().saturating_add(ms));
        }

        fn wall_clock_secs(&self) -> u64 {
            SCRIPTED_EPOCH_SECS + self.clock_ms.get() / 1000
        }

        /// Deterministic, distinct on every call: good for tests, worthless as randomness.
        fn random_bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n)
                .map(|_| {
                    self.random_counter += 1;
                    (self.random_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
                })
                .collect()
        }
    }

    /// A connected connector over a script, and the log of what it sends.
    pub fn connected(config: serde_json::Value, script: ScriptedTransport) -> (crate::Connector, SentLog) {
        let log = script.log();
        let mut connector = crate::Connector::new();
        connector.connect(&config.to_string(), Box::new(script)).expect("test config is valid");
        (connector, log)
    }

    /// The usual test connection: a fixed access token.
    pub fn token_config() -> serde_json::Value {
        serde_json::json!({"auth": "accessToken", "accessToken": "test-token"})
    }

    /// A sent request's body as JSON.
    pub fn body_json(request: &HttpRequest) -> serde_json::Value {
        serde_json::from_slice(request.body()).expect("request body is JSON")
    }
}
