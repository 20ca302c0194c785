//! The host's own `wasi:http/outgoing-handler.handle`: the one from `wasmtime-wasi-http`,
//! except that an answer the instance's [`WasiHttpHooks`] give at once (a replayed
//! response, a refusal by the allowlist) is handed to the component ready.
//!
//! `wasmtime-wasi-http` always runs the hooks' future in a new tokio task, so the
//! component's wait on `future-incoming-response` suspends the instance's fiber, lets
//! the runtime run that task and resumes the fiber: a measurable share of what the sandbox
//! costs for a replayed `users.get` (BENCHMARKS.md).
//! Here the future is polled once first; only an answer that is not there yet (any
//! network request, a request whose body the component has still to write) gets a task.
//! Everything else — the methods, schemes, headers and body framing it accepts, and the
//! errors it gives — is what `wasmtime-wasi-http` does, so components see no difference.
//!
//! Forked from `wasmtime-wasi-http` 48.0.8, `src/p2/http_impl.rs`
//! (`impl outgoing_handler::Host for WasiHttpCtxView::handle`). One deliberate difference:
//! the `request-options` handle is an `own` the component gives up, so it is taken out of
//! the resource table (upstream 48.0.8 reads and clones it, leaving one table entry behind
//! for every request sent with options until the instance is dropped).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Method, Scheme};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::p2::{http_request_error, HttpResult};
use wasmtime_wasi_http::{RequestOptions, WasiHttpCtxView, WasiHttpView};

/// The interface whose `handle` this module replaces. The linker matches imports by semver,
/// so components importing any 0.2 version of it get this one.
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// Links all of `wasi:http` from `wasmtime-wasi-http`, then replaces its `handle` by [`handle`].
pub fn add_to_linker<T: WasiHttpView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    linker.allow_shadowing(true);
    let linked = linker.instance(OUTGOING_HANDLER)?.func_wrap(
        "handle",
        |mut store: StoreContextMut<'_, T>,
         (request, options): (Resource<HostOutgoingRequest>, Option<Resource<RequestOptions>>)| {
            match handle(&mut store.data_mut().http(), request, options) {
                Ok(future) => Ok((Ok(future),)),
                // An error code goes back to the component; anything else traps, as upstream.
                Err(error) => error.downcast().map(|code| (Err(code),)),
            }
        },
    );
    linker.allow_shadowing(false);
    linked
}

/// `outgoing-handler.handle`: checks and builds the request as `wasmtime-wasi-http` does,
/// gives it to the hooks, and polls their answer once.
fn handle(
    view: &mut WasiHttpCtxView<'_>,
    request: Resource<HostOutgoingRequest>,
    options: Option<Resource<RequestOptions>>,
) -> HttpResult<Resource<HostFutureIncomingResponse>> {
    // `own<request-options>`: the component gave it up, so it leaves the table here.
    let options = match options {
        Some(options) => Some(view.table.delete(options)?),
        None => None,
    };
    let request = view.table.delete(request)?;
    let request = build_request(view, request)?;
    let mut pending = Pin::from(view.hooks.send_request(request, options, Box::new(async { Ok(()) })));
    let future = match pending.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(answer) => HostFutureIncomingResponse::Ready(
            answer.map(|(response, io)| (response.map(|body| body.boxed_unsync()), drive_io(io))),
        ),
        Poll::Pending => HostFutureIncomingResponse::Pending(wasmtime_wasi::runtime::spawn(async move {
            let (response, io) = pending.await?;
            Ok((response.map(|body| body.boxed_unsync()), drive_io(io)))
        })),
    };
    Ok(view.table.push(future)?)
}

/// The connection's I/O future (what keeps a live response body flowing), in a task that
/// the response holds and that stops when the response is dropped.
fn drive_io(
    io: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
) -> wasmtime_wasi::runtime::AbortOnDropJoinHandle<()> {
    wasmtime_wasi::runtime::spawn(async move {
        // As in wasmtime-wasi-http: the response body reports what went wrong, if anything.
        let _ = Pin::from(io).await;
    })
}

/// The `http::Request` a component's outgoing-request stands for, checked as
/// `wasmtime-wasi-http` checks it.
fn build_request(
    view: &mut WasiHttpCtxView<'_>,
    request: HostOutgoingRequest,
) -> HttpResult<http::Request<wasmtime_wasi_http::WasiBody>> {
    // Nothing else checks Content-Length when a component never opens or finishes the body.
    let declared_length = content_length(&request.headers)
        .map_err(|reason| ErrorCode::InternalError(Some(format!("content-length: {reason}"))))?;
    if request.body.is_none() && declared_length.is_some_and(|length| length != 0) {
        return Err(ErrorCode::HttpRequestBodySize(Some(0)).into());
    }
    let method = match request.method {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Other(other) => {
            http::Method::from_bytes(other.as_bytes()).map_err(|_| ErrorCode::HttpRequestMethodInvalid)?
        }
    };
    let scheme = match request.scheme {
        Some(scheme) => {
            let scheme = match scheme {
                Scheme::Http => http::uri::Scheme::HTTP,
                Scheme::Https => http::uri::Scheme::HTTPS,
                Scheme::Other(other) => {
                    http::uri::Scheme::try_from(other.as_str()).map_err(|_| ErrorCode::HttpProtocolError)?
                }
            };
            if !view.hooks.is_supported_scheme(&scheme) {
                return Err(ErrorCode::HttpProtocolError.into());
            }
            scheme
        }
        None => view.hooks.default_scheme().ok_or(ErrorCode::HttpProtocolError)?,
    };
    let authority = request.authority.unwrap_or_default();
    let mut uri = http::Uri::builder().scheme(scheme).authority(authority.as_str());
    if let Some(path_with_query) = request.path_with_query {
        uri = uri.path_and_query(path_with_query);
    }
    let mut builder = http::Request::builder().method(method).uri(uri.build().map_err(http_request_error)?);
    if view.hooks.set_host_header() {
        builder = builder.header(http::header::HOST, authority.as_str());
    }
    for (name, value) in request.headers.iter() {
        builder = builder.header(name, value);
    }
    let body = request.body.unwrap_or_else(|| Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync());
    builder
        .body(body.map_err(Into::into).boxed_unsync())
        .map_err(|error| ErrorCode::InternalError(Some(error.to_string())).into())
}

/// The request's Content-Length, if it declares one: a single run of decimal digits.
fn content_length(headers: &http::HeaderMap) -> Result<Option<u64>, String> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one value".into());
    }
    let text = value.to_str().map_err(|_| "not ASCII".to_string())?;
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("{text:?} is not a length"));
    }
    text.parse().map(Some).map_err(|_| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::content_length;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for value in values {
            map.append(http::header::CONTENT_LENGTH, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn content_length_is_one_run_of_digits() {
        assert_eq!(content_length(&headers(&[])), Ok(None));
        assert_eq!(content_length(&headers(&["0"])), Ok(Some(0)));
        assert_eq!(content_length(&headers(&["1234"])), Ok(Some(1234)));
        assert!(content_length(&headers(&["+12"])).is_err());
        assert!(content_length(&headers(&[""])).is_err());
        assert!(content_length(&headers(&["1", "1"])).is_err());
        assert!(content_length(&headers(&["99999999999999999999999"])).is_err());
    }
}
