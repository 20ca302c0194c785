//! The live route keeps its connections: calls of one instance, calls of several instances
//! and token requests share them, a shared connection carries each request's own
//! credentials, and a connection the server closed while it was idle is not used again.

use crate::support::{runtime, test_data, test_server_tls_config, KeepAliveServer, USER_ABC};
use connector_host::http::live_http::{load_ca_certificates, LiveHttp};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::{AllowedHosts, Instance};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn allowed(server: &KeepAliveServer) -> AllowedHosts {
    AllowedHosts::from_patterns([format!("127.0.0.1:{}", server.port).parse().unwrap()])
}

/// A connected instance on `route`.
async fn connected(route: Route, allowed: AllowedHosts, connection: &str) -> Instance {
    let mut instance = runtime().instantiate(OutboundHttp::new(allowed, route), TimeSource::Real).await.unwrap();
    instance.connect(connection).await.unwrap().expect("the connection is accepted");
    instance
}

/// `users.get` of `abc`, which must succeed with the server's user.
async fn get_abc(instance: &mut Instance) {
    let output = instance.invoke("users.get", r#"{"userId":"abc"}"#).await.unwrap().expect("users.get succeeds");
    let output: Value = serde_json::from_str(&output).unwrap();
    let expected: Value = serde_json::from_str(USER_ABC).unwrap();
    assert_eq!(output["displayName"], expected["displayName"]);
    assert_eq!(output["id"], "abc");
}

/// The keep-alive server behind TLS, with a certificate for 127.0.0.1 signed by the
/// TEST-ONLY private CA.
fn start_https_keep_alive_server() -> KeepAliveServer {
    let config = test_server_tls_config();
    KeepAliveServer::start_wrapped(
        move |stream| {
            let connection = rustls::ServerConnection::new(config.clone()).ok()?;
            Some(rustls::StreamOwned::new(connection, stream))
        },
        usize::MAX,
    )
}

#[test]
fn sequential_calls_of_one_instance_use_one_connection() {
    let server = KeepAliveServer::start();
    tokio().block_on(async {
        let mut instance = connected(Route::Live, allowed(&server), &server.connection_with_token("http", "t")).await;
        for _ in 0..10 {
            get_abc(&mut instance).await;
        }
    });
    let seen = server.requests();
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert!(seen.iter().all(|request| request.method == "GET" && request.target == "/v1.0/users/abc"), "{seen:?}");
    assert!(seen.iter().all(|request| request.header("authorization") == Some("Bearer t")), "{seen:?}");
    assert_eq!(server.accepted_connections(), 1);
}

#[test]
fn instances_sharing_a_connection_each_send_their_own_token() {
    let server = KeepAliveServer::start();
    let live = LiveHttp::new(None, &[]).unwrap();
    tokio().block_on(async {
        let route = || Route::LiveWith(live.clone());
        let mut tenant_a = connected(route(), allowed(&server), &server.connection_with_token("http", "token-a")).await;
        let mut tenant_b = connected(route(), allowed(&server), &server.connection_with_token("http", "token-b")).await;
        for _ in 0..3 {
            get_abc(&mut tenant_a).await;
            get_abc(&mut tenant_b).await;
        }
    });
    let tokens: Vec<_> =
        server.requests().iter().map(|request| request.header("authorization").map(String::from)).collect();
    let expected: Vec<_> =
        ["Bearer token-a", "Bearer token-b"].repeat(3).into_iter().map(|token| Some(token.to_string())).collect();
    assert_eq!(tokens, expected);
    assert_eq!(server.accepted_connections(), 1, "both instances used the one pooled connection");
}

#[test]
fn over_tls_later_calls_open_no_new_connection() {
    let server = start_https_keep_alive_server();
    let ca = load_ca_certificates(&test_data("TEST-ONLY-ca.pem")).unwrap();
    let live = LiveHttp::new(None, &ca).unwrap();
    tokio().block_on(async {
        let connection = server.connection_with_token("https", "t");
        let mut instance = connected(Route::LiveWith(live.clone()), allowed(&server), &connection).await;
        get_abc(&mut instance).await;
        assert_eq!(server.accepted_connections(), 1);
        for _ in 0..4 {
            get_abc(&mut instance).await;
        }
        // A fresh instance of the same host process finds the connection too.
        let mut fresh = connected(Route::LiveWith(live.clone()), allowed(&server), &connection).await;
        get_abc(&mut fresh).await;
    });
    let seen = server.requests();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(seen.iter().all(|request| request.target == "/v1.0/users/abc"), "{seen:?}");
    assert_eq!(server.accepted_connections(), 1);
}

#[test]
fn token_requests_use_the_pooled_connection_to_the_login_host() {
    let server = KeepAliveServer::start();
    let connection = format!(
        r#"{{"auth":"clientCredentials","tenantId":"contoso.onmicrosoft.com","clientId":"c","clientSecret":"s",
            "tokenUrl":"http://127.0.0.1:{port}/contoso.onmicrosoft.com/oauth2/v2.0/token",
            "graphBaseUrl":"http://127.0.0.1:{port}/v1.0"}}"#,
        port = server.port
    );
    tokio().block_on(async {
        let mut instance = connected(Route::Live, allowed(&server), &connection).await;
        for _ in 0..3 {
            get_abc(&mut instance).await;
        }
    });
    let seen = server.requests();
    let lines: Vec<_> = seen.iter().map(|request| format!("{} {}", request.method, request.target)).collect();
    let mut expected = vec!["POST /contoso.onmicrosoft.com/oauth2/v2.0/token".to_string()];
    expected.extend(std::iter::repeat_n("GET /v1.0/users/abc".to_string(), 3));
    assert_eq!(lines, expected);
    let form = String::from_utf8_lossy(&seen[0].body);
    assert!(form.contains("grant_type=client_credentials") && form.contains("client_id=c"), "{form}");
    assert!(seen[1..].iter().all(|request| request.header("authorization") == Some("Bearer issued-1")), "{seen:?}");
    assert_eq!(server.accepted_connections(), 1, "the token request and the calls shared one connection: {seen:?}");
}

#[test]
fn a_connection_the_server_closed_while_idle_is_not_used_again() {
    // Each connection serves one answer and is then closed by the server, unannounced.
    let server = KeepAliveServer::start_wrapped(Some, 1);
    tokio().block_on(async {
        let mut instance = connected(Route::Live, allowed(&server), &server.connection_with_token("http", "t")).await;
        for _ in 0..3 {
            get_abc(&mut instance).await;
            // The connection is idle in the pool when the server closes it.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    assert_eq!(server.requests().len(), 3, "{:?}", server.requests());
    assert_eq!(server.accepted_connections(), 3);
}

#[test]
fn a_new_connection_to_a_known_server_resumes_its_tls_session() {
    // Each connection serves one answer and is then closed, so every call opens a new one;
    // the server records how each handshake went.
    let config = test_server_tls_config();
    let handshakes = Arc::new(Mutex::new(Vec::new()));
    let recorder = handshakes.clone();
    let server = KeepAliveServer::start_wrapped(
        move |mut stream| {
            let mut connection = rustls::ServerConnection::new(config.clone()).ok()?;
            while connection.is_handshaking() {
                connection.complete_io(&mut stream).ok()?;
            }
            recorder.lock().unwrap().push(connection.handshake_kind());
            Some(rustls::StreamOwned::new(connection, stream))
        },
        1,
    );
    let ca = load_ca_certificates(&test_data("TEST-ONLY-ca.pem")).unwrap();
    let live = LiveHttp::new(None, &ca).unwrap();
    tokio().block_on(async {
        let connection = server.connection_with_token("https", "t");
        let mut instance = connected(Route::LiveWith(live), allowed(&server), &connection).await;
        for _ in 0..3 {
            get_abc(&mut instance).await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    use rustls::HandshakeKind::{Full, Resumed};
    assert_eq!(*handshakes.lock().unwrap(), [Some(Full), Some(Resumed), Some(Resumed)]);
    assert_eq!(server.accepted_connections(), 3);
}

/// What the HTTP/2 server records of each request: its version and `Authorization`.
type SeenVersions = Arc<Mutex<Vec<(http::Version, Option<String>)>>>;

/// A server on 127.0.0.1 that speaks only HTTP/2 over TLS (ALPN `h2`, certificate of the
/// TEST-ONLY CA) and answers `users.get` of `abc`; returns its port, the connections it
/// accepted and, for every request, its HTTP version and `Authorization`.
fn start_h2_server() -> (u16, Arc<AtomicUsize>, SeenVersions) {
    let certificate = CertificateDer::from_pem_file(test_data("TEST-ONLY-server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(test_data("TEST-ONLY-server-key.pem")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, seen) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let (counter, recorder) = (accepted.clone(), seen.clone());
    std::thread::spawn(move || {
        tokio().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let (acceptor, recorder) = (acceptor.clone(), recorder.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let authorization = request
                            .headers()
                            .get("authorization")
                            .and_then(|value| value.to_str().ok())
                            .map(String::from);
                        recorder.lock().unwrap().push((request.version(), authorization));
                        let status = if request.uri().path() == "/v1.0/users/abc" { 200 } else { 404 };
                        let response = http::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(http_body_util::Full::new(bytes::Bytes::from_static(USER_ABC.as_bytes())))
                            .unwrap();
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (port, accepted, seen)
}

#[test]
fn a_server_that_offers_h2_gets_every_call_over_one_http2_connection() {
    let (port, accepted, seen) = start_h2_server();
    let ca = load_ca_certificates(&test_data("TEST-ONLY-ca.pem")).unwrap();
    let live = LiveHttp::new(None, &ca).unwrap();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{port}").parse().unwrap()]);
    let connection = |token: &str| {
        format!(r#"{{"auth":"accessToken","accessToken":"{token}","graphBaseUrl":"https://127.0.0.1:{port}/v1.0"}}"#)
    };
    tokio().block_on(async {
        let mut tenant_a = connected(Route::LiveWith(live.clone()), allowed.clone(), &connection("token-a")).await;
        let mut tenant_b = connected(Route::LiveWith(live.clone()), allowed.clone(), &connection("token-b")).await;
        for _ in 0..2 {
            get_abc(&mut tenant_a).await;
            get_abc(&mut tenant_b).await;
        }
    });
    let expected: Vec<_> = ["Bearer token-a", "Bearer token-b"]
        .repeat(2)
        .into_iter()
        .map(|token| (http::Version::HTTP_2, Some(token.to_string())))
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
