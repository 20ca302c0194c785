//! Live calls through corporate networks: a server whose certificate comes from a private
//! CA is trusted only with `--ca-cert`, and `--proxy` sends every request through an HTTP
//! proxy (a `CONNECT` tunnel for https, the absolute URL for plain http) while the
//! allowlist still judges the target, not the proxy.

use crate::support::{runtime, test_data, test_server_tls_config, LocalServer, SeenRequest};
use connector_host::http::live_http::{load_ca_certificates, LiveHttp, ProxyUrl};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::AllowedHosts;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};
use tokio_rustls::rustls;

/// The local Graph look-alike behind TLS, with a certificate for 127.0.0.1 signed by the
/// TEST-ONLY private CA.
fn start_https_server() -> LocalServer {
    let config = test_server_tls_config();
    LocalServer::start_wrapped(move |stream| {
        let connection = rustls::ServerConnection::new(config.clone()).ok()?;
        Some(rustls::StreamOwned::new(connection, stream))
    })
}

fn https_connection(server: &LocalServer) -> String {
    format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"https://127.0.0.1:{}/v1.0"}}"#, server.port)
}

/// Runs `connector-host invoke users.get` for user `abc` with extra arguments.
fn invoke_cli(connection: &str, allowed: &str, extra: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["invoke", "--config", connection, "--action", "users.get", "--input", r#"{"userId":"abc"}"#])
        .args(["--allow-host", allowed])
        .args(extra)
        .output()
        .unwrap()
}

fn describe(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A hand-written HTTP proxy on loopback: it records the head of every request and
/// tunnels `CONNECT` requests to their target.
struct ConnectProxy {
    port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl ConnectProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let recorder = recorder.clone();
                std::thread::spawn(move || tunnel(client, &recorder));
            }
        });
        Self { port, seen }
    }

    fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

fn tunnel(client: TcpStream, recorder: &Mutex<Vec<SeenRequest>>) -> Option<()> {
    let mut from_client = BufReader::new(client.try_clone().ok()?);
    let mut line = String::new();
    from_client.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        from_client.read_line(&mut header).ok()?;
        match header.trim_end().split_once(':') {
            Some((name, value)) => headers.push((name.trim().to_string(), value.trim().to_string())),
            None => break,
        }
    }
    recorder.lock().unwrap().push(SeenRequest {
        method: method.clone(),
        target: target.clone(),
        headers,
        body: Vec::new(),
    });
    let mut to_client = client;
    if method != "CONNECT" {
        to_client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n").ok()?;
        return None;
    }
    let upstream = TcpStream::connect(&target).ok()?;
    to_client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").ok()?;
    let mut to_upstream = upstream.try_clone().ok()?;
    std::thread::spawn(move || std::io::copy(&mut from_client, &mut to_upstream));
    let mut from_upstream = upstream;
    std::io::copy(&mut from_upstream, &mut to_client).ok()?;
    Some(())
}

#[test]
fn a_server_signed_by_a_private_ca_is_trusted_with_ca_cert() {
    let server = start_https_server();
    let ca = test_data("TEST-ONLY-ca.pem");
    let output = invoke_cli(
        &https_connection(&server),
        &format!("127.0.0.1:{}", server.port),
        &["--ca-cert", ca.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["displayName"], "Adele Vance");
    let seen = server.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/v1.0/users/abc");
    assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
}

#[test]
fn without_ca_cert_the_private_certificate_is_a_transport_error() {
    let server = start_https_server();
    let output = invoke_cli(&https_connection(&server), &format!("127.0.0.1:{}", server.port), &[]);
    assert!(!output.status.success(), "{}", describe(&output));
    let error: Value = serde_json::from_slice(&output.stderr).unwrap_or_else(|_| panic!("{}", describe(&output)));
    assert_eq!(error["code"], "transport", "{error}");
    let message = error["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(message.contains("certificate"), "{error}");
    assert!(server.requests().is_empty(), "no request may pass an untrusted TLS handshake");
}

#[test]
fn https_goes_through_the_proxy_tunnel_with_its_credentials() {
    let server = start_https_server();
    let proxy = ConnectProxy::start();
    let ca = test_data("TEST-ONLY-ca.pem");
    let proxy_url = format!("http://proxy-user:proxy%20secret@127.0.0.1:{}", proxy.port);
    let output = invoke_cli(
        &https_connection(&server),
        &format!("127.0.0.1:{}", server.port),
        &["--ca-cert", ca.to_str().unwrap(), "--proxy", &proxy_url],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!describe(&output).contains("secret"), "the proxy password leaked:\n{}", describe(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["id"], "abc");

    let tunnels = proxy.requests();
    assert_eq!(tunnels.len(), 1, "{tunnels:?}");
    assert_eq!(tunnels[0].method, "CONNECT");
    assert_eq!(tunnels[0].target, format!("127.0.0.1:{}", server.port));
    // "proxy-user:proxy secret", base64.
    assert_eq!(tunnels[0].header("proxy-authorization"), Some("Basic cHJveHktdXNlcjpwcm94eSBzZWNyZXQ="));
    let seen = server.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/v1.0/users/abc");
    assert_eq!(seen[0].header("proxy-authorization"), None, "the credentials are for the proxy only");
}

/// Runs `users.get` for `abc` on a fresh instance whose live route is `live`.
fn invoke_live(live: LiveHttp, allowed: AllowedHosts, connection: &str) -> Value {
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let result = tokio
        .block_on(async {
            let outbound = OutboundHttp::new(allowed, Route::LiveWith(live));
            let mut instance = runtime().instantiate(outbound, TimeSource::Real).await?;
            instance.connect(connection).await?.expect("the connection is accepted");
            instance.invoke("users.get", r#"{"userId":"abc"}"#).await
        })
        .expect("the host runs the call");
    match result {
        Ok(output) => serde_json::from_str(&output).unwrap(),
        Err(error) => error.to_json(),
    }
}

#[test]
fn plain_http_goes_to_the_proxy_as_an_absolute_url() {
    // The local server plays the proxy: it records the request line it is sent.
    let proxy = LocalServer::start();
    let proxy_url: ProxyUrl = format!("http://u:p@127.0.0.1:{}", proxy.port).parse().unwrap();
    let live = LiveHttp::new(Some(proxy_url), &[]).unwrap();
    let unused_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{unused_port}").parse().unwrap()]);
    let connection =
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{unused_port}/v1.0"}}"#);

    invoke_live(live, allowed, &connection);

    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, format!("http://127.0.0.1:{unused_port}/v1.0/users/abc"));
    assert_eq!(seen[0].header("proxy-authorization"), Some("Basic dTpw")); // "u:p"
    assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
}

#[test]
fn the_allowlist_judges_the_target_not_the_proxy() {
    let server = start_https_server();
    let proxy = ConnectProxy::start();
    let proxy_url: ProxyUrl = format!("http://127.0.0.1:{}", proxy.port).parse().unwrap();
    let ca = load_ca_certificates(&test_data("TEST-ONLY-ca.pem")).unwrap();
    let live = LiveHttp::new(Some(proxy_url), &ca).unwrap();
    // Only the proxy's address is allowed, not the server's.
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{}", proxy.port).parse().unwrap()]);

    let error = invoke_live(live, allowed, &https_connection(&server));

    assert_eq!(error["code"], "transport", "{error}");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    assert!(server.requests().is_empty());
}

#[test]
fn a_proxy_that_refuses_the_tunnel_is_asked_once_and_named_in_a_typed_error() {
    for refusal in ["407 Proxy Authentication Required", "403 Forbidden"] {
        // A proxy that refuses every CONNECT with `refusal`, counting them.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tunnels = Arc::new(Mutex::new(0usize));
        let counted = tunnels.clone();
        let answer = format!("HTTP/1.1 {refusal}\r\ncontent-length: 0\r\n\r\n");
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                *counted.lock().unwrap() += 1;
                let mut client = client;
                let _ = client.write_all(answer.as_bytes());
            }
        });
        let proxy_url: ProxyUrl = format!("http://127.0.0.1:{port}").parse().unwrap();
        let live = LiveHttp::new(Some(proxy_url), &[]).unwrap();
        let allowed = AllowedHosts::from_patterns(["127.0.0.1:9".parse().unwrap()]);
        let connection = r#"{"auth":"accessToken","accessToken":"t","graphBaseUrl":"https://127.0.0.1:9/v1.0"}"#;

        let error = invoke_live(live, allowed, connection);

        assert_eq!(error["code"], "transport", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(refusal) && message.contains("not retried"), "{message}");
        assert_eq!(*tunnels.lock().unwrap(), 1, "a refused tunnel is not asked for again ({refusal})");
    }
}

/// The proxy variables a test run may have inherited, cleared for the tests that set them.
const PROXY_VARIABLES: &[&str] =
    &["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"];

/// Runs `connector-host invoke users.get` for user `abc` with these proxy variables only.
fn invoke_cli_with_env(connection: &str, allowed: &str, extra: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"));
    command
        .args(["invoke", "--config", connection, "--action", "users.get", "--input", r#"{"userId":"abc"}"#])
        .args(["--allow-host", allowed])
        .args(extra);
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// A port nothing listens on: a proxy there refuses every connection.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn without_proxy_the_environment_names_the_proxy_as_curl_reads_it() {
    let server = start_https_server();
    let ca = test_data("TEST-ONLY-ca.pem");
    let ca_arg = ["--ca-cert", ca.to_str().unwrap()];
    let allowed = format!("127.0.0.1:{}", server.port);
    let dead = format!("http://127.0.0.1:{}", dead_port());

    // HTTPS_PROXY, in upper case, for an https target.
    let proxy = ConnectProxy::start();
    let env = [("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port)), ("HTTP_PROXY", dead.clone())];
    let output = invoke_cli_with_env(&https_connection(&server), &allowed, &ca_arg, &env);
    assert!(output.status.success(), "{}", describe(&output));
    let tunnels = proxy.requests();
    assert_eq!(tunnels.len(), 1, "{tunnels:?}");
    assert_eq!((tunnels[0].method.as_str(), tunnels[0].target.clone()), ("CONNECT", allowed.clone()));

    // The lower-case variable wins over the upper-case one, as in curl; no scheme means http.
    let proxy = ConnectProxy::start();
    let env = [("https_proxy", format!("127.0.0.1:{}", proxy.port)), ("HTTPS_PROXY", dead.clone())];
    let output = invoke_cli_with_env(&https_connection(&server), &allowed, &ca_arg, &env);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(proxy.requests().len(), 1);

    // NO_PROXY exempts the target: the request goes direct, the dead proxy is never asked.
    for no_proxy in ["no_proxy", "NO_PROXY"] {
        let env = [("HTTPS_PROXY", dead.clone()), (no_proxy, "example.com, 127.0.0.0/8".to_string())];
        let output = invoke_cli_with_env(&https_connection(&server), &allowed, &ca_arg, &env);
        assert!(output.status.success(), "{no_proxy}: {}", describe(&output));
    }

    // --proxy overrides the environment.
    let proxy = ConnectProxy::start();
    let flag = format!("http://127.0.0.1:{}", proxy.port);
    let env = [("HTTPS_PROXY", dead.clone())];
    let output =
        invoke_cli_with_env(&https_connection(&server), &allowed, &[ca_arg[0], ca_arg[1], "--proxy", &flag], &env);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(proxy.requests().len(), 1);

    // And a dead proxy from the environment is a typed transport error, not a direct call.
    let before = server.requests().len();
    // (`maxRetries` 0: a refused connection is otherwise retried with backoff.)
    let connection = https_connection(&server).replace(r#""auth""#, r#""maxRetries":0,"auth""#);
    let output = invoke_cli_with_env(&connection, &allowed, &ca_arg, &[("HTTPS_PROXY", dead)]);
    assert!(!output.status.success(), "{}", describe(&output));
    let error: Value = serde_json::from_slice(&output.stderr).unwrap_or_else(|_| panic!("{}", describe(&output)));
    assert_eq!(error["code"], "transport", "{error}");
    assert_eq!(server.requests().len(), before, "nothing went around the proxy");
}

#[test]
fn a_bad_proxy_variable_is_named_without_its_credentials() {
    let output = invoke_cli_with_env(
        r#"{"auth":"accessToken","accessToken":"t"}"#,
        "127.0.0.1:9",
        &[],
        &[("HTTPS_PROXY", "socks5://user:hunter2@127.0.0.1:1080".to_string())],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("https_proxy") && !stderr.contains("hunter2"), "{stderr}");
}

/// The local server behind TLS plays an `https://` proxy: it records the request line.
fn start_tls_proxy() -> LocalServer {
    start_https_server()
}

#[test]
fn an_https_proxy_is_spoken_to_over_tls() {
    let ca = load_ca_certificates(&test_data("TEST-ONLY-ca.pem")).unwrap();
    let unused_port = dead_port();

    // A plain-http target: the absolute URL, with the proxy's credentials, inside TLS.
    let proxy = start_tls_proxy();
    let proxy_url: ProxyUrl = format!("https://u:p@127.0.0.1:{}", proxy.port).parse().unwrap();
    let live = LiveHttp::new(Some(proxy_url), &ca).unwrap();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{unused_port}").parse().unwrap()]);
    let connection =
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{unused_port}/v1.0"}}"#);
    invoke_live(live, allowed.clone(), &connection);
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, format!("http://127.0.0.1:{unused_port}/v1.0/users/abc"));
    assert_eq!(seen[0].header("proxy-authorization"), Some("Basic dTpw")); // "u:p"

    // An https target: the CONNECT goes inside TLS to the proxy (this one refuses it).
    let proxy = start_tls_proxy();
    let proxy_url: ProxyUrl = format!("https://127.0.0.1:{}", proxy.port).parse().unwrap();
    let live = LiveHttp::new(Some(proxy_url), &ca).unwrap();
    let connection =
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"https://127.0.0.1:{unused_port}/v1.0"}}"#);
    let error = invoke_live(live, allowed, &connection);
    assert_eq!(error["code"], "transport", "{error}");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].method.as_str(), seen[0].target.clone()), ("CONNECT", format!("127.0.0.1:{unused_port}")));

    // Without the proxy's CA, the TLS handshake with the proxy fails: nothing is sent.
    let proxy = start_tls_proxy();
    let proxy_url: ProxyUrl = format!("https://127.0.0.1:{}", proxy.port).parse().unwrap();
    let live = LiveHttp::new(Some(proxy_url), &[]).unwrap();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{unused_port}").parse().unwrap()]);
    let error = invoke_live(live, allowed, &connection);
    assert_eq!(error["code"], "transport", "{error}");
    assert!(proxy.requests().is_empty());
}
