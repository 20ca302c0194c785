//! The transport of the component: `wasi:http/outgoing-handler`, `wasi:clocks` and `wasi:random`.

use crate::graph::transport::{
    HttpRequest, HttpResponse, Transport, TransportError, TransportErrorKind, MAX_RESPONSE_BODY,
};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

/// Bytes written to an outgoing body stream per call; wasi-http hosts accept at least 4 KiB.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of a response body.
const READ_CHUNK: u64 = 64 * 1024;

/// Sends through the host's wasi-http; the host decides what may leave the sandbox.
pub struct WasiTransport;

fn error(message: impl Into<String>, kind: TransportErrorKind) -> TransportError {
    TransportError::new(kind, message)
}

/// The failure for a wasi-http error code. A denial by the host's sandbox is permanent; a
/// failure to open the connection means nothing reached the server; any other failure is as
/// far as `sent` says the request went.
fn failure(code: &ErrorCode, sent: TransportErrorKind) -> TransportError {
    let kind = match code {
        ErrorCode::HttpRequestDenied => TransportErrorKind::Refused,
        // The host could not send it for a reason of its own (a proxy that refuses the
        // tunnel, a fault of the host): sending it again would meet the same.
        ErrorCode::InternalError(_) => TransportErrorKind::HostFailure,
        ErrorCode::HttpResponseBodySize(_) => TransportErrorKind::TooLarge,
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => TransportErrorKind::NotDelivered,
        _ => sent,
    };
    error(describe(code), kind)
}

fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => "HTTP-request-denied".into(),
        ErrorCode::DnsError(_) => "DNS lookup failed".into(),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::TlsCertificateError => "TLS certificate rejected".into(),
        ErrorCode::ConnectionReadTimeout => "no answer in time (connection-read-timeout)".into(),
        ErrorCode::HttpResponseTimeout => "the answer stalled (HTTP-response-timeout)".into(),
        ErrorCode::InternalError(Some(text)) => text.clone(),
        other => format!("{other:?}"),
    }
}

impl Transport for WasiTransport {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        // Every host call has a cost: the headers go over in one, as they are.
        let headers = Fields::from_list(request.headers()).map_err(|_| refused_header(request.headers()))?;
        let outgoing = OutgoingRequest::new(headers);
        let method = match request.method().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        };
        let scheme = match request.scheme() {
            scheme if scheme.eq_ignore_ascii_case("http") => Scheme::Http,
            _ => Scheme::Https,
        };
        // A new outgoing-request is a GET already (wasi-http), so a GET saves the call.
        let method_set = if matches!(method, Method::Get) { Ok(()) } else { outgoing.set_method(&method) };
        let set = method_set
            .and_then(|_| outgoing.set_scheme(Some(&scheme)))
            .and_then(|_| outgoing.set_authority(Some(request.authority())))
            .and_then(|_| outgoing.set_path_with_query(Some(request.path_and_query())));
        if set.is_err() {
            let path = request.path_and_query().split('?').next().unwrap_or_default();
            return Err(error(format!("the host refused the URL {path}"), TransportErrorKind::Refused));
        }
        let timeout_ms = request.timeout_ms();
        let body = request.into_body();
        // A GET, HEAD or DELETE without a body goes without a body resource (two host calls
        // fewer); any other method keeps one, so that an empty POST is sent with its length.
        let bodiless = body.is_empty() && matches!(method, Method::Get | Method::Head | Method::Delete);
        let outgoing_body = match bodiless {
            true => None,
            false => {
                Some(outgoing.body().map_err(|_| error("request body unavailable", TransportErrorKind::NotDelivered))?)
            }
        };
        let options = request_options(timeout_ms);
        let future = outgoing_handler::handle(outgoing, options)
            .map_err(|code| failure(&code, TransportErrorKind::NotDelivered))?;

        let (write_result, finish_result) = match outgoing_body {
            None => (Ok(()), Ok(())),
            Some(outgoing_body) => {
                let written = write_body(&outgoing_body, &body);
                (written, OutgoingBody::finish(outgoing_body, None))
            }
        };
        // Read the response first: when the host refused the request, the body write
        // fails too, and the response says why. A host may have the answer at once (a
        // replay, a refusal): only one that has not waits on a pollable (three calls more).
        let answer = match future.get() {
            None => {
                future.subscribe().block();
                future.get()
            }
            ready => ready,
        };
        // Once the request went out, a lost answer leaves the outcome unknown.
        let response = match answer {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(failure(&code, TransportErrorKind::MaybeDelivered)),
            Some(Err(())) | None => return Err(error("response already taken", TransportErrorKind::MaybeDelivered)),
        };
        if let Err(message) = write_result {
            return Err(error(message, TransportErrorKind::MaybeDelivered));
        }
        if let Err(code) = finish_result {
            return Err(failure(&code, TransportErrorKind::MaybeDelivered));
        }
        read_response(response)
    }

    fn now_ms(&self) -> u64 {
        wasi::clocks::monotonic_clock::now() / 1_000_000
    }

    fn sleep_ms(&mut self, ms: u64) {
        wasi::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    }

    fn wall_clock_secs(&self) -> u64 {
        wasi::clocks::wall_clock::now().seconds
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        wasi::random::random::get_random_bytes(n as u64)
    }
}

/// The request's time budget as wasi-http request options: connecting, waiting for the first
/// byte of the answer and waiting between two of its bytes may each take what is left of the
/// invocation's deadline, so a request never outlives it. A host that does not support a
/// timeout refuses to set it; the invocation's own checks and the host's cap still apply.
fn request_options(timeout_ms: Option<u64>) -> Option<RequestOptions> {
    let nanoseconds = timeout_ms?.max(1).saturating_mul(1_000_000);
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(nanoseconds));
    let _ = options.set_first_byte_timeout(Some(nanoseconds));
    let _ = options.set_between_bytes_timeout(Some(nanoseconds));
    Some(options)
}

/// The error for a header list the host refused, naming the first header it refuses alone.
fn refused_header(entries: &[(String, Vec<u8>)]) -> TransportError {
    let probe = Fields::new();
    for (name, value) in entries {
        if let Err(e) = probe.append(name, value) {
            return error(format!("header `{name}` refused: {e:?}"), TransportErrorKind::Refused);
        }
    }
    error("the host refused the request headers", TransportErrorKind::Refused)
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body.write().map_err(|_| "request body stream unavailable".to_string())?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk).map_err(|e| format!("sending the request body failed: {e:?}"))?;
    }
    Ok(())
}

fn read_response(response: IncomingResponse) -> Result<HttpResponse, TransportError> {
    let status = response.status();
    let mut declared_length = None;
    let fields = response.headers();
    let headers: Vec<(String, String)> = fields
        .entries()
        .into_iter()
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("content-length") {
                declared_length = std::str::from_utf8(&value).ok().and_then(|text| text.trim().parse::<usize>().ok());
            }
            // Header values are bytes; Graph's are ASCII, so this copies nothing.
            let value =
                String::from_utf8(value).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
            (name, value)
        })
        .collect();
    drop(fields);
    let incoming =
        response.consume().map_err(|_| error("response body unavailable", TransportErrorKind::MaybeDelivered))?;
    let stream =
        incoming.stream().map_err(|_| error("response body stream unavailable", TransportErrorKind::MaybeDelivered))?;
    // Graph sends a Content-Length: the body is read in as few calls as the host allows, and
    // grows to that size at most once rather than doubling (a page of users is a few hundred KiB).
    let mut body: Vec<u8> = Vec::new();
    loop {
        // Ask for all that is still declared (a host holding the whole body hands it over in
        // one call), and take what is there before waiting: `read` is a plain host call,
        // `blocking-read` suspends the instance even when the bytes are there.
        let wanted = match declared_length {
            Some(length) => length.saturating_sub(body.len()).clamp(1, MAX_RESPONSE_BODY + 1) as u64,
            None => READ_CHUNK,
        };
        let read = match stream.read(wanted) {
            Ok(chunk) if chunk.is_empty() => stream.blocking_read(wanted),
            other => other,
        };
        match read {
            Ok(chunk) => {
                if body.is_empty() {
                    body = chunk;
                } else {
                    if body.capacity() == body.len() {
                        // Never trust a declared length for more than the connector reads.
                        let target = declared_length.map_or(0, |length| length.min(MAX_RESPONSE_BODY + 1));
                        body.reserve(target.saturating_sub(body.len()).max(chunk.len()));
                    }
                    body.extend_from_slice(&chunk);
                }
                if body.len() > MAX_RESPONSE_BODY {
                    // Stop reading: the client turns an over-long body into an upstream error.
                    break;
                }
                if declared_length == Some(body.len()) {
                    // All the declared bytes are in: no read is needed to learn the stream ended.
                    break;
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                if let Some(code) = wasi::http::types::http_error_code(&e) {
                    return Err(failure(&code, TransportErrorKind::MaybeDelivered));
                }
                return Err(error(
                    format!("reading the response failed: {}", e.to_debug_string()),
                    TransportErrorKind::MaybeDelivered,
                ));
            }
        }
    }
    drop(stream);
    Ok(HttpResponse::new(status, headers, body))
}
