//! The live route: an allowed request goes to the network, directly or through an HTTP
//! proxy, over TLS that trusts the webpki roots (the set Wasmtime's default client trusts)
//! plus any extra certificate authorities the operator names.
//!
//! Wasmtime's `default_send_request` can neither use a proxy nor trust a private CA, and opens
//! a new connection for every request, so [`LiveHttp`] sends requests through a pooled client
//! (hyper-util's) whose connector opens each connection itself: TCP (tokio, `TCP_NODELAY`), an
//! HTTP `CONNECT` tunnel through the proxy for `https` targets, TLS (tokio-rustls, ALPN `h2`
//! and `http/1.1`). Connections are kept open between requests (HTTP/1.1 keep-alive, or one
//! HTTP/2 connection when the server chose `h2`), for every instance that shares the
//! [`LiveHttp`]; TLS sessions are resumed from the client configuration's session cache. A
//! plain `http` target behind a proxy is sent to the proxy in absolute form
//! (`GET http://host/path`), as HTTP proxies expect. Failures become the wasi-http error codes
//! the component sees (`connection-refused`, `dns-error`, `tls-certificate-error`, ...).
//!
//! Pooled connections carry nothing of one request into the next but the socket: every request
//! brings all its headers (its own `Authorization`), and nothing of a response is kept.

use crate::error::{HostError, Result};
use crate::http::proxy_env::ProxySettings;
use base64ct::{Base64, Encoding as _};
use bytes::Bytes;
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection, Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// How long connecting (TCP, proxy tunnel, TLS, HTTP handshake) and waiting for the first
/// response byte may take when the component sets no timeout: the same 600 s Wasmtime's
/// default client uses; the invocation deadline usually ends a call long before.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The longest proxy answer to `CONNECT` read before giving up: far above any real
/// response head, small enough that a broken proxy cannot make the host buffer much.
const MAX_TUNNEL_RESPONSE_HEAD: usize = 16 * 1024;

/// How long a pooled connection may stay unused before it is closed: below the idle
/// timeouts of common servers and load balancers, so that a connection is rarely closed by
/// the server while the pool still offers it.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// The most connections open at once to one destination (scheme, host and port) for one
/// [`LiveHttp`]; a request that needs one more waits, within its connect timeout, for a
/// pooled connection to come free or for one to close.
pub const MAX_CONNECTIONS_PER_HOST: usize = 64;

/// The most unused connections kept open per destination.
const MAX_IDLE_PER_HOST: usize = 16;

/// How long a request that finds every open connection to its destination in use waits for
/// one to come back to the pool before it opens another. A connection goes back to the pool
/// in a task of its own once its response was read, so a request sent right after the
/// previous one would otherwise often open a second connection; a new connection costs far
/// more than this (a TLS handshake takes one or two round trips).
const REUSE_GRACE: Duration = Duration::from_millis(3);

/// The future that finishes the connection's I/O once the response is handed over. Pooled
/// connections run their I/O in tasks of their own, so this future has nothing left to do: a
/// failure while the body is read reaches the component through the body.
pub type ConnectionFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// An HTTP proxy given as `http://[user:password@]host[:port]`, or `https://...` for a
/// proxy spoken to over TLS (the tunnel to an https target then carries TLS inside TLS).
///
/// The credentials become a `Proxy-Authorization: Basic` header and are never printed:
/// `Display` and `Debug` show only the scheme, host and port.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    host: String,
    port: u16,
    authorization: Option<String>,
    /// Whether the connection to the proxy itself is TLS (`https://`).
    tls: bool,
}

impl ProxyUrl {
    /// The port of an `http://` proxy URL without one, the usual port of HTTP proxies.
    pub const DEFAULT_PORT: u16 = 8080;

    /// The port of an `https://` proxy URL without one, as curl takes it.
    pub const DEFAULT_TLS_PORT: u16 = 443;

    /// Whether the host speaks TLS to the proxy itself.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The `host:port` the host connects to.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Whether the URL carries credentials for `Proxy-Authorization`.
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }
}

impl FromStr for ProxyUrl {
    type Err = HostError;

    /// Parses `http://[user:password@]host[:port][/]` (or `https://...`); the user and
    /// password may be percent-encoded. The error never repeats the URL, which may hold a
    /// password.
    fn from_str(text: &str) -> Result<Self> {
        let invalid = |reason: &str| HostError::InvalidProxy { reason: reason.to_string() };
        let uri: http::Uri = text.trim().parse().map_err(|_| invalid("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(invalid("only http:// and https:// proxies are supported")),
            None => return Err(invalid("give a URL such as http://proxy.example:3128")),
        };
        if uri.path_and_query().is_some_and(|path| !matches!(path.as_str(), "" | "/")) {
            return Err(invalid("a proxy URL has no path or query"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("the host is missing"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("the host is missing"));
        }
        let authorization = match authority.as_str().rsplit_once('@') {
            None => None,
            Some((userinfo, _)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |part: &str| {
                    percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .map(|decoded| decoded.into_owned())
                        .map_err(|_| invalid("the credentials are not UTF-8 once percent-decoded"))
                };
                let credentials = format!("{}:{}", decode(user)?, decode(password)?);
                Some(format!("Basic {}", Base64::encode_string(credentials.as_bytes())))
            }
        };
        let default_port = if tls { Self::DEFAULT_TLS_PORT } else { Self::DEFAULT_PORT };
        Ok(Self { host: host.to_string(), port: authority.port_u16().unwrap_or(default_port), authorization, tls })
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", if self.tls { "https" } else { "http" }, self.authority())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("authority", &self.authority())
            .field("tls", &self.tls)
            .field("credentials", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Reads every certificate of a PEM file (a bundle may hold several), to be trusted as
/// certificate authorities in addition to the webpki roots.
pub fn load_ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let invalid = |reason: String| HostError::InvalidCaCertificates { path: path.to_path_buf(), reason };
    let pem = std::fs::read(path).map_err(|error| invalid(error.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("not PEM: {error}")))?;
    if certificates.is_empty() {
        return Err(invalid("no `BEGIN CERTIFICATE` section found".to_string()));
    }
    Ok(certificates)
}

/// Sends live requests: the network settings of one host process and its connection pool,
/// cheap to clone (clones share the pool).
///
/// The pool is keyed by scheme, host and port; the proxy and the trusted certificate
/// authorities are those of this `LiveHttp`, so connections made with other settings are
/// never shared with it.
#[derive(Clone)]
pub struct LiveHttp {
    /// Behind an `Arc`: the client is a few hundred bytes, and [`crate::sandbox::http_policy::Route`]
    /// holds a `LiveHttp` by value.
    client: Arc<Client<Connector, WasiBody>>,
    proxies: Arc<ProxySettings>,
}

impl fmt::Debug for LiveHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveHttp").field("proxies", &self.proxies).finish_non_exhaustive()
    }
}

impl LiveHttp {
    /// Connects directly and trusts the webpki roots plus `extra_roots`; with `proxy`,
    /// every connection goes through it.
    pub fn new(proxy: Option<ProxyUrl>, extra_roots: &[CertificateDer<'static>]) -> Result<Self> {
        Self::with_proxies(proxy.map_or_else(ProxySettings::none, ProxySettings::all), extra_roots)
    }

    /// Trusts the webpki roots plus `extra_roots`, and sends each request through the proxy
    /// `proxies` chooses for its target (see [`ProxySettings::from_env`]).
    pub fn with_proxies(proxies: ProxySettings, extra_roots: &[CertificateDer<'static>]) -> Result<Self> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        for certificate in extra_roots {
            roots.add(certificate.clone()).map_err(|error| HostError::TlsSetup { reason: error.to_string() })?;
        }
        // An explicit provider, so that another crate enabling a second rustls backend
        // cannot make the process-wide default ambiguous.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| HostError::TlsSetup { reason: error.to_string() })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // HTTP/2 where the server offers it (one connection carries concurrent requests).
        // The configuration, and with it rustls's in-memory session cache, lives as long as
        // the pool: a new connection to a known server resumes its TLS session.
        // The proxy speaks HTTP/1.1 (`CONNECT`, or requests in absolute form): no `h2` to it.
        let mut proxy_config = config.clone();
        proxy_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let proxies = Arc::new(proxies);
        let connector = Connector {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            proxy_tls: tokio_rustls::TlsConnector::from(Arc::new(proxy_config)),
            proxies: proxies.clone(),
            slots: Arc::new(Mutex::new(HashMap::new())),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self { client: Arc::new(client), proxies })
    }

    /// Direct connections trusting only the webpki roots, built once per process: every
    /// instance on [`crate::sandbox::http_policy::Route::Live`] shares its pool.
    pub fn direct() -> Result<&'static Self, Error> {
        static DIRECT: OnceLock<Option<LiveHttp>> = OnceLock::new();
        DIRECT
            .get_or_init(|| Self::new(None, &[]).ok())
            .as_ref()
            .ok_or_else(|| Error::InternalError(Some("the TLS client could not be set up".into())))
    }

    /// The proxy a request to an https target on `host` goes through, if any.
    pub fn proxy_for(&self, host: &str) -> Option<&ProxyUrl> {
        self.proxies.for_target(host, true)
    }

    /// Sends one request, on a pooled connection or a new one, and returns its response as
    /// soon as the head has arrived.
    ///
    /// wasi-http's request options apply as in Wasmtime's own client: `connect-timeout`
    /// bounds opening a new connection (TCP, tunnel, TLS), `first-byte-timeout` the wait for
    /// the response head once a connection is there, `between-bytes-timeout` every wait for
    /// the next piece of the body.
    pub async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, ConnectionFuture), Error> {
        let target = Target::of(request.uri())?;
        let connect_timeout = options.and_then(|options| options.connect_timeout).unwrap_or(DEFAULT_TIMEOUT);
        let first_byte_timeout = options.and_then(|options| options.first_byte_timeout).unwrap_or(DEFAULT_TIMEOUT);
        let between_bytes_timeout =
            options.and_then(|options| options.between_bytes_timeout).unwrap_or(DEFAULT_TIMEOUT);

        // A plain-HTTP request to a proxy carries the credentials (the pooled client writes
        // it in absolute form); any other request line carries only the path.
        if let (Some(proxy), false) = (self.proxies.for_target(&target.host, false), target.tls) {
            if let Some(authorization) = &proxy.authorization {
                let value = http::HeaderValue::from_str(authorization)
                    .map_err(|_| Error::InternalError(Some("proxy credentials are not a header value".into())))?;
                request.headers_mut().insert(http::header::PROXY_AUTHORIZATION, value);
            }
        }

        let captured = capture_connection(&mut request);
        let attempt = Arc::new(Attempt::new(connect_timeout, captured));
        let pending = ATTEMPT.scope(attempt.clone(), self.client.request(request));
        let response = wait_for_head(pending, &attempt, first_byte_timeout)
            .await?
            .map_err(|error| client_error(&error, &attempt))?;
        let connection_done: ConnectionFuture = Box::new(async { Ok(()) });
        let response = response.map(|body| StallGuard::new(body.map_err(response_error), between_bytes_timeout));
        Ok((response.map(BodyExt::boxed_unsync), connection_done))
    }
}

tokio::task_local! {
    /// The request whose future is being polled, for the connector to read its connect
    /// timeout from and report to.
    static ATTEMPT: Arc<Attempt>;
}

/// One request's view of the connection it may have to open: the connector reads the
/// connect timeout, and notes when the connection was ready or why it failed.
struct Attempt {
    connect_timeout: Duration,
    /// Set by the pooled client once the request has a connection, pooled or new.
    captured: CaptureConnection,
    state: Mutex<AttemptState>,
}

#[derive(Default)]
struct AttemptState {
    /// The latest moment the connection being opened for this request may be ready.
    connecting_until: Option<Instant>,
    /// When the connection opened for this request was ready.
    connected_at: Option<Instant>,
    /// Why opening it failed, as the component will see it.
    failure: Option<Error>,
}

impl Attempt {
    fn new(connect_timeout: Duration, captured: CaptureConnection) -> Self {
        Self { connect_timeout, captured, state: Mutex::new(AttemptState::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AttemptState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When the wait for the response head ends, if a connection was opened for it: the
    /// first-byte timeout counts from the moment it was ready (or, while it is still being
    /// opened, from the latest moment it may be).
    fn head_deadline(&self, first_byte_timeout: Duration) -> Option<Instant> {
        let state = self.state();
        state.connected_at.or(state.connecting_until).map(|from| from + first_byte_timeout)
    }
}

/// Waits for the pooled client's answer: `Err(connection-read-timeout)` once the first-byte
/// timeout has passed since a connection was there for the request.
async fn wait_for_head<T>(
    pending: impl Future<Output = T>,
    attempt: &Attempt,
    first_byte_timeout: Duration,
) -> Result<T, Error> {
    tokio::pin!(pending);
    let mut deadline = Instant::now() + first_byte_timeout;
    loop {
        match tokio::time::timeout_at(deadline, &mut pending).await {
            Ok(answer) => return Ok(answer),
            Err(_) => match attempt.head_deadline(first_byte_timeout) {
                // A connection was being opened: its set-up has a timeout of its own.
                Some(later) if later > deadline => deadline = later,
                _ => return Err(Error::ConnectionReadTimeout),
            },
        }
    }
}

/// The wasi-http error for a failure of the pooled client.
fn client_error(error: &hyper_util::client::legacy::Error, attempt: &Attempt) -> Error {
    if let Some(failure) = attempt.state().failure.take() {
        return failure;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            return if hyper_error.is_timeout() {
                Error::HttpResponseTimeout
            } else if hyper_error.is_incomplete_message() || hyper_error.is_canceled() || hyper_error.is_closed() {
                Error::HttpResponseIncomplete
            } else {
                Error::HttpProtocolError
            };
        }
        source = cause.source();
    }
    if error.is_connect() {
        Error::ConnectionTerminated
    } else {
        Error::HttpProtocolError
    }
}

/// Opens the pool's connections: TCP, through the proxy if any, then TLS for `https`.
#[derive(Clone)]
struct Connector {
    tls: tokio_rustls::TlsConnector,
    /// TLS to an `https://` proxy itself.
    proxy_tls: tokio_rustls::TlsConnector,
    proxies: Arc<ProxySettings>,
    /// The connections each destination may still open ([`MAX_CONNECTIONS_PER_HOST`]).
    slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// A new connection could not be opened; the request that asked for it holds the reason
/// (its [`Attempt`]).
#[derive(Debug)]
struct ConnectFailed;

impl fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection could not be opened")
    }
}

impl std::error::Error for ConnectFailed {}

impl tower_service::Service<http::Uri> for Connector {
    type Response = PooledStream;
    type Error = ConnectFailed;
    type Future = Pin<Box<dyn Future<Output = Result<PooledStream, ConnectFailed>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectFailed>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        // Called while the request that needs the connection is polled.
        let attempt = ATTEMPT.try_with(Arc::clone).ok();
        // A request that already had a connection is being sent again (its pooled connection
        // closed before it went out): it waits for nothing.
        let first_try = attempt.as_ref().filter(|attempt| attempt.captured.connection_metadata().is_none());
        let captured = first_try.map(|attempt| attempt.captured.clone());
        let connector = self.clone();
        Box::pin(async move {
            let target = Target::of(&uri);
            let slots = target.as_ref().ok().map(|target| connector.slots(target));
            if let (Some(mut captured), Some(slots)) = (captured, &slots) {
                if slots.available_permits() < MAX_CONNECTIONS_PER_HOST {
                    // Every open connection is in use, or one is on its way back to the pool.
                    let came_back = tokio::time::timeout(REUSE_GRACE, async move {
                        captured.wait_for_connection_metadata().await.is_some()
                    });
                    if came_back.await.is_ok() {
                        // The request went out on a pooled connection (or was dropped):
                        // nothing to open.
                        return Err(ConnectFailed);
                    }
                }
            }
            let timeout = attempt.as_ref().map_or(DEFAULT_TIMEOUT, |attempt| attempt.connect_timeout);
            if let Some(attempt) = &attempt {
                attempt.state().connecting_until = Some(Instant::now() + timeout);
            }
            let opened = match (target, slots) {
                (Ok(target), Some(slots)) => tokio::time::timeout(timeout, connector.open(&target, slots))
                    .await
                    .unwrap_or(Err(Error::ConnectionTimeout)),
                (Err(error), _) => Err(error),
                (Ok(_), None) => Err(Error::HttpRequestUriInvalid),
            };
            match (opened, attempt) {
                (Ok(stream), Some(attempt)) => {
                    attempt.state().connected_at = Some(Instant::now());
                    Ok(stream)
                }
                (Ok(stream), None) => Ok(stream),
                (Err(error), Some(attempt)) => {
                    attempt.state().failure = Some(error);
                    Err(ConnectFailed)
                }
                (Err(_), None) => Err(ConnectFailed),
            }
        })
    }
}

impl Connector {
    /// The connection slots of the target's destination.
    fn slots(&self, target: &Target) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = format!("{}://{}", if target.tls { "https" } else { "http" }, target.authority());
        slots.entry(key).or_insert_with(|| Arc::new(Semaphore::new(MAX_CONNECTIONS_PER_HOST))).clone()
    }

    /// Opens a connection to the target, once one of the destination's connection slots is free.
    async fn open(&self, target: &Target, slots: Arc<Semaphore>) -> Result<PooledStream, Error> {
        let slot = slots.acquire_owned().await.map_err(|_| Error::ConnectionLimitReached)?;
        let proxy = self.proxies.for_target(&target.host, target.tls);
        let stream: Box<dyn Stream> = match proxy {
            None => Box::new(connect_tcp(&target.host, target.port).await?),
            Some(proxy) => {
                let tcp = connect_tcp(&proxy.host, proxy.port).await?;
                let mut stream: Box<dyn Stream> = if proxy.tls {
                    Box::new(self.proxy_tls.connect(server_name(&proxy.host)?, tcp).await.map_err(tls_error)?)
                } else {
                    Box::new(tcp)
                };
                if target.tls {
                    open_tunnel(&mut stream, proxy, &target.authority()).await?;
                }
                stream
            }
        };
        if !target.tls {
            // Plain HTTP through a proxy: the request goes to the proxy in absolute form.
            let proxied = proxy.is_some();
            return Ok(PooledStream { io: TokioIo::new(stream), h2: false, proxied, _slot: slot });
        }
        let server_name = server_name(&target.host)?;
        let stream = self.tls.connect(server_name, stream).await.map_err(tls_error)?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(PooledStream { io: TokioIo::new(Box::new(stream)), h2, proxied: false, _slot: slot })
    }
}

/// One connection of the pool: TCP or TLS, with what the pooled client must know of it.
struct PooledStream {
    io: TokioIo<Box<dyn Stream>>,
    /// Whether TLS negotiated HTTP/2 (ALPN `h2`).
    h2: bool,
    /// Whether the connection goes to an HTTP proxy that takes requests in absolute form.
    proxied: bool,
    /// The destination's connection slot, given back when the connection closes.
    _slot: OwnedSemaphorePermit,
}

impl Connection for PooledStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().proxy(self.proxied);
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for PooledStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for PooledStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

/// A response body that fails with `connection-read-timeout` when no frame arrives for
/// `timeout` (wasi-http's `between-bytes-timeout`): a server that stops sending half-way
/// cannot hold a call past the deadline the component gave the request.
struct StallGuard<B> {
    body: B,
    timeout: Duration,
    stall: Pin<Box<tokio::time::Sleep>>,
}

impl<B> StallGuard<B> {
    fn new(body: B, timeout: Duration) -> Self {
        // A zero timeout would fire before any byte could arrive: a nanosecond is as strict.
        let timeout = timeout.max(Duration::from_nanos(1));
        Self { body, timeout, stall: Box::pin(tokio::time::sleep(timeout)) }
    }
}

impl<B: Body<Data = Bytes, Error = Error> + Unpin> Body for StallGuard<B> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + self.timeout;
                self.stall.as_mut().reset(deadline);
                Poll::Ready(frame)
            }
            Poll::Pending => match self.stall.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A byte stream hyper can speak HTTP over: plain TCP or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Where a request goes, from its URI.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// The host as written in the URI (IPv6 addresses keep their brackets).
    host: String,
    port: u16,
    tls: bool,
}

impl Target {
    fn of(uri: &http::Uri) -> Result<Self, Error> {
        let host = uri.host().filter(|host| !host.is_empty()).ok_or(Error::HttpRequestUriInvalid)?;
        let tls = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            Some(scheme) if *scheme == Scheme::HTTP => false,
            _ => return Err(Error::HttpRequestUriInvalid),
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self { host: host.to_string(), port, tls })
    }

    /// `host:port`, as a `CONNECT` request names it.
    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The host without the brackets of an IPv6 literal, as name resolution wants it.
fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[').and_then(|host| host.strip_suffix(']')).unwrap_or(host)
}

/// The name the server's certificate must carry: an IP address or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let host = unbracketed(host);
    if let Ok(address) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(address.into()));
    }
    ServerName::try_from(host.to_string())
        .map_err(|_| Error::DnsError { rcode: Some("invalid dns name".into()), info_code: None })
}

/// Resolves `host` and connects to the first address that answers, with `TCP_NODELAY` set:
/// a TLS handshake or a request head written in small segments must not wait for the peer's
/// delayed ACK (Nagle's algorithm), which would add about 40 ms to each on Linux. Every
/// socket the host opens comes from here, to the target and to a proxy alike.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, Error> {
    let addresses = tokio::net::lookup_host((unbracketed(host), port))
        .await
        .map_err(|error| Error::DnsError { rcode: Some(error.to_string()), info_code: None })?;
    let mut last_error = Error::DestinationNotFound;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(Error::Connect)?;
                return Ok(stream);
            }
            Err(error) => last_error = connect_error(error),
        }
    }
    Err(last_error)
}

/// The wasi-http error for a failed TCP connect.
fn connect_error(error: std::io::Error) -> Error {
    match error.kind() {
        ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        ErrorKind::TimedOut => Error::ConnectionTimeout,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable | ErrorKind::AddrNotAvailable => {
            Error::DestinationUnavailable
        }
        _ => Error::Connect(error),
    }
}

/// The wasi-http error for a failed TLS handshake: a rejected certificate, an alert from
/// the server, or another protocol failure.
fn tls_error(error: std::io::Error) -> Error {
    let Some(tls) = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        return match error.kind() {
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                Error::ConnectionTerminated
            }
            _ => Error::TlsProtocolError,
        };
    };
    match tls {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => Error::TlsCertificateError,
        rustls::Error::AlertReceived(alert) => {
            Error::TlsAlertReceived { alert_id: Some(u8::from(*alert)), alert_message: Some(format!("{alert:?}")) }
        }
        _ => Error::TlsProtocolError,
    }
}

/// The wasi-http error for a failure after the connection was set up.
fn response_error(error: hyper::Error) -> Error {
    if error.is_timeout() {
        Error::HttpResponseTimeout
    } else if error.is_incomplete_message() {
        Error::HttpResponseIncomplete
    } else {
        Error::Hyper(error)
    }
}

/// Asks the proxy for a tunnel to `authority` and reads its answer; the stream then
/// carries the target's bytes.
async fn open_tunnel(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    proxy: &ProxyUrl,
    authority: &str,
) -> Result<(), Error> {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(authorization) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(connect_error)?;

    // Byte by byte, so that nothing after the head (the start of the tunnel) is consumed.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_TUNNEL_RESPONSE_HEAD {
            return Err(Error::HttpResponseHeaderSectionSize(Some(MAX_TUNNEL_RESPONSE_HEAD as u32)));
        }
        match stream.read_u8().await {
            Ok(byte) => head.push(byte),
            Err(_) => return Err(Error::ConnectionTerminated),
        }
    }
    let status_line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().trim().to_string();
    match tunnel_status(&status_line) {
        Some(200..=299) => Ok(()),
        Some(status) => Err(Error::InternalError(Some(format!(
            "the proxy {proxy} refused the tunnel to {authority}: {}",
            status_line.split_once(' ').map_or(status.to_string(), |(_, rest)| rest.to_string())
        )))),
        None => Err(Error::HttpProtocolError),
    }
}

/// The status code of a response's status line (`HTTP/1.1 200 Connection established`).
fn tunnel_status(status_line: &str) -> Option<u16> {
    let mut parts = status_line.split_whitespace();
    parts.next().filter(|version| version.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_become_a_basic_header_and_are_never_shown() {
        let proxy: ProxyUrl = "http://alice:p%40ss%3Aword@proxy.corp.example:3128".parse().unwrap();
        assert_eq!(proxy.authority(), "proxy.corp.example:3128");
        assert_eq!(proxy.authorization.as_deref(), Some("Basic YWxpY2U6cEBzczp3b3Jk")); // alice:p@ss:word
        assert_eq!(proxy.to_string(), "http://proxy.corp.example:3128");
        let debug = format!("{proxy:?}");
        assert!(!debug.contains("YWxp") && !debug.contains("p%40ss") && !debug.contains("alice"), "{debug}");
    }

    #[test]
    fn proxy_urls_without_port_or_credentials_use_the_defaults() {
        let proxy: ProxyUrl = "http://proxy.corp.example/".parse().unwrap();
        assert_eq!(proxy.authority(), "proxy.corp.example:8080");
        assert!(!proxy.has_credentials());
    }

    #[test]
    fn https_proxies_default_to_port_443_and_say_so() {
        let proxy: ProxyUrl = "https://u:secret@proxy.corp.example".parse().unwrap();
        assert!(proxy.is_tls());
        assert_eq!(proxy.to_string(), "https://proxy.corp.example:443");
    }

    #[test]
    fn bad_proxy_urls_are_refused_without_echoing_them() {
        for text in ["proxy.corp.example:3128", "socks5://u:secret@proxy:443", "http://u:secret@proxy:1/path", "::"] {
            let error = text.parse::<ProxyUrl>().unwrap_err().to_string();
            assert!(!error.contains("secret"), "{error}");
        }
    }

    #[test]
    fn targets_take_the_scheme_default_port_and_keep_ipv6_brackets() {
        let target = Target::of(&"https://graph.microsoft.com/v1.0/me".parse().unwrap()).unwrap();
        assert_eq!(target.authority(), "graph.microsoft.com:443");
        assert!(target.tls);
        let target = Target::of(&"http://[::1]:9000/x".parse().unwrap()).unwrap();
        assert_eq!(target.authority(), "[::1]:9000");
        assert_eq!(server_name(&target.host).unwrap(), ServerName::from(std::net::Ipv6Addr::LOCALHOST));
        assert!(Target::of(&"/relative".parse().unwrap()).is_err());
    }

    #[test]
    fn tunnel_status_lines_are_read() {
        assert_eq!(tunnel_status("HTTP/1.1 200 Connection established"), Some(200));
        assert_eq!(tunnel_status("HTTP/1.0 407 Proxy Authentication Required"), Some(407));
        assert_eq!(tunnel_status("SSH-2.0-OpenSSH"), None);
    }

    #[test]
    fn rejected_certificates_map_to_the_certificate_error_code() {
        let rejected = std::io::Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(tls_error(rejected), Error::TlsCertificateError));
        let alert = std::io::Error::new(
            ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert!(matches!(tls_error(alert), Error::TlsAlertReceived { alert_id: Some(40), .. }));
        assert!(matches!(connect_error(ErrorKind::ConnectionRefused.into()), Error::ConnectionRefused));
    }

    #[tokio::test]
    async fn every_socket_the_host_opens_has_nodelay_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        for host in ["127.0.0.1", "localhost"] {
            let stream = connect_tcp(host, port).await.unwrap();
            assert!(stream.nodelay().unwrap(), "{host}");
        }
    }

    #[test]
    fn ca_files_without_certificates_are_refused() {
        let path = std::env::temp_dir().join(format!("connector-host-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = load_ca_certificates(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(error.contains("no `BEGIN CERTIFICATE`"), "{error}");
    }
}
