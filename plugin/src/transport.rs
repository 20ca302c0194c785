//! The seam between the Graph logic and the network.
//!
//! The component sends through `wasi:http/outgoing-handler`; native unit tests
//! plug in a scripted transport. Both run the very same Graph code.

/// An HTTP request as the plugin builds it.
pub type HttpRequest = http::Request<Vec<u8>>;

/// An HTTP response with its whole body read.
pub type HttpResponse = http::Response<Vec<u8>>;

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong, as the host reported it (e.g. `HTTP-request-denied`).
    pub message: String,
    /// True when the request may have reached the server (the body was sent
    /// before the failure), so a write might have been applied.
    pub maybe_delivered: bool,
}

/// Sends requests and keeps time. Implemented over wasi-http in the component.
pub trait Transport {
    /// Sends one request and reads the whole response.
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError>;

    /// Milliseconds on a monotonic clock (the host's, which may be virtual in replay).
    fn now_ms(&self) -> u64;

    /// Waits for the given number of milliseconds.
    fn sleep_ms(&mut self, ms: u64);
}

/// The largest response body the plugin reads (bytes); larger ones are an `upstream` error.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

#[cfg(test)]
pub mod scripted {
    //! A transport that answers from a script and records what was sent.

    use super::*;
    use std::collections::VecDeque;

    /// Answers requests in order from canned responses and records them.
    #[derive(Default)]
    pub struct ScriptedTransport {
        /// Responses still to give, in order.
        pub responses: VecDeque<Result<HttpResponse, TransportError>>,
        /// Requests received so far.
        pub sent: Vec<HttpRequest>,
        /// Virtual time in milliseconds.
        pub clock_ms: u64,
    }

    impl ScriptedTransport {
        /// Queues a JSON response.
        pub fn respond(&mut self, status: u16, body: serde_json::Value) -> &mut Self {
            let body = if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            };
            self.responses.push_back(Ok(http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body)
                .expect("valid test response")));
            self
        }
    }

    impl Transport for ScriptedTransport {
        fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.push(request);
            self.responses.pop_front().unwrap_or_else(|| {
                Err(TransportError { message: "no scripted response left".into(), maybe_delivered: false })
            })
        }

        fn now_ms(&self) -> u64 {
            self.clock_ms
        }

        fn sleep_ms(&mut self, ms: u64) {
            self.clock_ms += ms;
        }
    }
}
