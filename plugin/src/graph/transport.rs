//! The seam between the Graph logic and the network.
//!
//! The component sends through `wasi:http/outgoing-handler`; native unit tests
//! plug in a scripted transport. Both run the very same Graph code.

use crate::graph::byte_scan::{all_visible_ascii, has_control_character};
use http::Method;

/// An HTTP request as the plugin builds it, in the shape `wasi:http` takes it: a method, an
/// absolute URL split into scheme, authority and path, and headers as name and bytes. Plain
/// vectors rather than the `http` crate's types: the transport hands them over as they are,
/// and a request is built and checked once, in the sandbox too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    method: Method,
    url: String,
    /// Where the authority starts in `url` (after `://`).
    authority_start: usize,
    /// Where the path (or the query, when the path is empty) starts in `url`.
    path_start: usize,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// How long the request may take, from connecting to its last byte: what is left of the
    /// invocation's deadline when it is sent (`None`: no deadline).
    timeout_ms: Option<u64>,
}

/// The most header bytes a request may carry, counting [`HEADER_OVERHEAD`] per header. Hosts
/// bound the fields of a request (Wasmtime's wasi-http at 128 KiB, and it stops the
/// component outright past that): half of that is far above any Graph request.
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;

/// What each header costs a host beyond its name and value (Wasmtime counts the size of its
/// own name and value types).
pub const HEADER_OVERHEAD: usize = 64;

/// The longest URL a request may have: the `http` crate's bound, and so that of the
/// `wasi:http` hosts built on it (Wasmtime's among them).
pub const MAX_URL_LENGTH: usize = u16::MAX as usize - 1;

/// Why a request cannot be built: the part that is not valid HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidRequest {
    /// The URL is not an absolute `http` or `https` URL of visible ASCII characters, or is
    /// longer than [`MAX_URL_LENGTH`].
    Url,
    /// The named header's value holds a control character (a line break, say).
    HeaderValue(String),
}

impl HttpRequest {
    /// A request without headers or body. A fragment (`#...`) is never sent, so it is cut
    /// off here, as HTTP clients do.
    pub fn new(method: Method, url: &str) -> Result<Self, InvalidRequest> {
        // Byte scans rather than `str` patterns: this runs for every request, in the sandbox.
        let url = &url[..memchr::memchr(b'#', url.as_bytes()).unwrap_or(url.len())];
        let bytes = url.as_bytes();
        let authority_start = if bytes.len() >= 8 && bytes[..8].eq_ignore_ascii_case(b"https://") {
            8
        } else if bytes.len() >= 7 && bytes[..7].eq_ignore_ascii_case(b"http://") {
            7
        } else {
            return Err(InvalidRequest::Url);
        };
        if url.len() > MAX_URL_LENGTH || !all_visible_ascii(bytes) {
            return Err(InvalidRequest::Url);
        }
        let rest = &bytes[authority_start..];
        let authority_length = rest.iter().position(|&byte| byte == b'/' || byte == b'?').unwrap_or(rest.len());
        if authority_length == 0 {
            return Err(InvalidRequest::Url);
        }
        Ok(HttpRequest {
            method,
            url: url.to_string(),
            authority_start,
            path_start: authority_start + authority_length,
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        })
    }

    /// The same request, allowed to take at most `timeout_ms` (connecting, waiting for the
    /// answer, and between any two bytes of it).
    pub fn with_timeout_ms(mut self, timeout_ms: Option<u64>) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    /// How long the request may take, if it has a deadline.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.timeout_ms
    }

    /// The bytes its headers cost a host: names, values and [`HEADER_OVERHEAD`] each.
    pub fn header_bytes(&self) -> usize {
        self.headers.iter().map(|(name, value)| name.len() + value.len() + HEADER_OVERHEAD).sum()
    }

    /// The same request with one more header. The name is sent lower-cased (as HTTP/2 and
    /// `wasi:http` hosts send it); a value with a control character other than tab is refused.
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Result<Self, InvalidRequest> {
        let value = value.into();
        if has_control_character(&value) {
            return Err(InvalidRequest::HeaderValue(name.to_ascii_lowercase()));
        }
        self.headers.push((name.to_ascii_lowercase(), value));
        Ok(self)
    }

    /// The same request with a body.
    pub fn body_bytes(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The whole URL, as sent.
    pub fn uri(&self) -> &str {
        &self.url
    }

    /// `https` or `http`, as written.
    pub fn scheme(&self) -> &str {
        &self.url[..self.authority_start - 3]
    }

    /// The host and port.
    pub fn authority(&self) -> &str {
        &self.url[self.authority_start..self.path_start]
    }

    /// The path and query; `/` when the URL has no path.
    pub fn path_and_query(&self) -> &str {
        match &self.url[self.path_start..] {
            "" => "/",
            path => path,
        }
    }

    /// The headers in the order added, names lower-cased.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The named header's value (the first, if several), when it is text.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        let (_, value) = self.headers.iter().find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(value).ok()
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &Vec<u8> {
        &self.body
    }

    /// The body, given up.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// The value of header `name` (the first, if several) in a list of response headers; names
/// compare whatever their case.
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(candidate, _)| candidate.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// An HTTP response with its whole body read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    /// A response; header names are lower-cased (HTTP names are case-insensitive).
    pub fn new(status: u16, mut headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        for (name, _) in &mut headers {
            if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
                name.make_ascii_lowercase();
            }
        }
        HttpResponse { status, headers, body }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers in the order received, names lower-cased.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The named header's value (the first, if several).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The body.
    pub fn body(&self) -> &Vec<u8> {
        &self.body
    }

    /// Status, headers and body, given up.
    pub fn into_parts(self) -> (u16, Vec<(String, String)>, Vec<u8>) {
        (self.status, self.headers, self.body)
    }
}

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
    /// The host could not send the request for a reason of its own that sending it again
    /// would meet again (a proxy refusing the tunnel, a fault of the host). Never retried.
    HostFailure,
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
/// default instance memory; a full Graph page of 999 users is far smaller.
pub const MAX_RESPONSE_BODY: usize = 8 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_split_into_scheme_authority_and_path() {
        let request = HttpRequest::new(Method::GET, "https://graph.microsoft.com/v1.0/users?$top=5").unwrap();
        assert_eq!(request.scheme(), "https");
        assert_eq!(request.authority(), "graph.microsoft.com");
        assert_eq!(request.path_and_query(), "/v1.0/users?$top=5");
        assert_eq!(request.uri(), "https://graph.microsoft.com/v1.0/users?$top=5");

        let bare = HttpRequest::new(Method::GET, "http://127.0.0.1:8080").unwrap();
        assert_eq!((bare.scheme(), bare.authority(), bare.path_and_query()), ("http", "127.0.0.1:8080", "/"));
        let query_only = HttpRequest::new(Method::GET, "https://h?a=1").unwrap();
        assert_eq!((query_only.authority(), query_only.path_and_query()), ("h", "?a=1"));
    }

    #[test]
    fn a_fragment_is_never_sent() {
        let request = HttpRequest::new(Method::GET, "https://h/p?q=1#part").unwrap();
        assert_eq!(request.uri(), "https://h/p?q=1");
        assert_eq!(request.path_and_query(), "/p?q=1");
    }

    #[test]
    fn urls_that_are_not_absolute_http_of_visible_ascii_are_refused() {
        let too_long = format!("https://h/{}", "a".repeat(MAX_URL_LENGTH));
        for url in
            ["/v1.0/users", "ftp://h/p", "https:///p", "https://h/a b", "https://h/\u{e9}", "https://h/\n", &too_long]
        {
            assert_eq!(HttpRequest::new(Method::GET, url), Err(InvalidRequest::Url), "{url:?}");
        }
        let longest = format!("https://h/{}", "a".repeat(MAX_URL_LENGTH - 10));
        assert!(HttpRequest::new(Method::GET, &longest).is_ok());
    }

    #[test]
    fn header_names_are_lower_cased_and_values_with_line_breaks_refused() {
        let request = HttpRequest::new(Method::POST, "https://h/p")
            .and_then(|request| request.header("ConsistencyLevel", "eventual"))
            .and_then(|request| request.header("x-tab", "a\tb"))
            .unwrap()
            .body_bytes(b"{}".to_vec());
        assert_eq!(
            request.headers(),
            &[("consistencylevel".to_string(), b"eventual".to_vec()), ("x-tab".to_string(), b"a\tb".to_vec())]
        );
        assert_eq!(request.header_value("CONSISTENCYLEVEL"), Some("eventual"));
        assert_eq!(request.body(), b"{}");
        for value in ["a\r\nInjected: 1", "a\0", "a\x7f"] {
            let refused = HttpRequest::new(Method::GET, "https://h/p").unwrap().header("Authorization", value);
            assert_eq!(refused, Err(InvalidRequest::HeaderValue("authorization".into())), "{value:?}");
        }
    }

    #[test]
    fn response_header_names_are_looked_up_whatever_their_case() {
        let headers = vec![("Retry-After".to_string(), "5".to_string()), ("request-id".to_string(), "r".to_string())];
        let response = HttpResponse::new(429, headers, Vec::new());
        assert_eq!(response.headers()[0].0, "retry-after");
        assert_eq!(response.header("RETRY-AFTER"), Some("5"));
        assert_eq!(response.header("request-id"), Some("r"));
        assert_eq!(response.header("location"), None);
        assert_eq!(response.into_parts().0, 429);
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod scripted {
    //! A transport that answers from a script and records what was sent, for native tests:
    //! the unit tests, the property tests and the fuzz target (feature `test-support`).

    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// What a scripted transport saw: the requests, in order.
    pub type SentLog = Rc<RefCell<Vec<HttpRequest>>>;

    /// An answer built from the request it answers (e.g. a server that echoes what it got).
    type Computed = Box<dyn FnOnce(&HttpRequest) -> HttpResponse>;

    /// One scripted answer: canned, or built from the request.
    enum Answer {
        /// Given as is.
        Canned(Result<HttpResponse, TransportError>),
        /// Built from the request when it arrives.
        Computed(Computed),
    }

    /// Answers requests in order from canned responses and records them.
    #[derive(Default)]
    pub struct ScriptedTransport {
        /// Each answer, with how long the server takes to give it (ms).
        responses: VecDeque<(u64, Answer)>,
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
            let mut all = Vec::new();
            if !body.is_null() {
                all.push(("content-type".to_string(), "application/json".to_string()));
            }
            all.extend(headers.iter().map(|(name, value)| (name.to_string(), value.to_string())));
            let bytes = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
            self.responses.push_back((0, Answer::Canned(Ok(HttpResponse::new(status, all, bytes)))));
            self
        }

        /// Queues a response with a JSON body (`null` = no body).
        pub fn respond(self, status: u16, body: serde_json::Value) -> Self {
            self.respond_with(status, &[], body)
        }

        /// Queues a transport failure.
        pub fn fail(mut self, message: &str, kind: TransportErrorKind) -> Self {
            self.responses.push_back((0, Answer::Canned(Err(TransportError::new(kind, message)))));
            self
        }

        /// Queues a response with a raw body and a content type.
        pub fn respond_raw(mut self, status: u16, content_type: &str, body: &[u8]) -> Self {
            let headers = vec![("content-type".to_string(), content_type.to_string())];
            self.responses.push_back((0, Answer::Canned(Ok(HttpResponse::new(status, headers, body.to_vec())))));
            self
        }

        /// Queues an already built response or failure.
        pub fn push(mut self, answer: Result<HttpResponse, TransportError>) -> Self {
            self.responses.push_back((0, Answer::Canned(answer)));
            self
        }

        /// Queues an answer built from the request it answers.
        pub fn respond_from(mut self, answer: impl FnOnce(&HttpRequest) -> HttpResponse + 'static) -> Self {
            self.responses.push_back((0, Answer::Computed(Box::new(answer))));
            self
        }

        /// Makes the server take `ms` to give the last queued answer. A request whose
        /// timeout is shorter gets no answer: the clock moves by its timeout, and it fails as
        /// a wasi-http host reports it (`connection-read-timeout`, the request sent).
        pub fn after_ms(mut self, ms: u64) -> Self {
            if let Some(last) = self.responses.back_mut() {
                last.0 = ms;
            }
            self
        }

        /// The scripted monotonic clock, in milliseconds (advanced only by sleeps).
        pub fn clock(&self) -> std::rc::Rc<std::cell::Cell<u64>> {
            self.clock_ms.clone()
        }
    }

    impl Transport for ScriptedTransport {
        fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            let timeout = request.timeout_ms();
            let (delay, answer) = match self.responses.pop_front() {
                Some((delay, Answer::Canned(answer))) => (delay, answer),
                Some((delay, Answer::Computed(answer))) => (delay, Ok(answer(&request))),
                None => (0, Err(TransportError::new(TransportErrorKind::NotDelivered, "no scripted response left"))),
            };
            self.sent.borrow_mut().push(request);
            match timeout {
                Some(timeout) if delay > timeout => {
                    self.sleep_ms(timeout);
                    Err(TransportError::new(TransportErrorKind::MaybeDelivered, "ConnectionReadTimeout"))
                }
                _ => {
                    self.sleep_ms(delay);
                    answer
                }
            }
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
