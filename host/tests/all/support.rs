//! Shared helpers: one compiled runtime per test binary, paths, and a hand-written
//! HTTP/1.1 server on loopback that records what it receives.

use connector_host::{Limits, Runtime};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// The embedded component, compiled once for all tests of this binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| connector_host::embedded::runtime(Limits::default()).expect("the embedded component compiles"))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The deliberately broken fixtures of the harness self-tests.
pub fn bad_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("bad-fixtures").join(name)
}

/// A request as the local server saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    #[allow(dead_code)]
    pub body: Vec<u8>,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(candidate, _)| candidate.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// A Graph look-alike on 127.0.0.1 that knows one user, `abc`.
pub struct LocalServer {
    pub port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// The user the local server returns for `GET /v1.0/users/abc`.
pub const USER_ABC: &str = r#"{"@odata.context":"http://127.0.0.1/v1.0/$metadata#users/$entity","id":"abc","displayName":"Adele Vance","mail":"AdeleV@contoso.com"}"#;

impl LocalServer {
    pub fn start() -> Self {
        Self::start_wrapped(Some)
    }

    /// A server that speaks through `wrap(connection)` (for example TLS), or drops the
    /// connection when `wrap` gives nothing.
    pub fn start_wrapped<S: Read + Write>(wrap: impl Fn(TcpStream) -> Option<S> + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(stream) = wrap(stream) {
                    serve(stream, &recorder);
                }
            }
        });
        Self { port, seen }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// Connection settings pointing the connector at this server.
    pub fn connection(&self) -> String {
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{}/v1.0"}}"#, self.port)
    }
}

/// Answers one request, recording it before the answer goes out so that a test reading the
/// record after its call returned always finds it.
fn serve(stream: impl Read + Write, seen: &Mutex<Vec<SeenRequest>>) -> Option<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let (method, target, headers, length) = read_head(&line, &mut reader)?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;

    let found = method == "GET" && target == "/v1.0/users/abc";
    seen.lock().unwrap().push(SeenRequest { method, target, headers, body });
    let (status, body_out) = if found {
        ("200 OK", USER_ABC.to_string())
    } else {
        (
            "404 Not Found",
            r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource not found."}}"#.to_string(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nrequest-id: local-1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body_out}",
        body_out.len()
    );
    let stream = reader.get_mut();
    stream.write_all(response.as_bytes()).ok()?;
    stream.flush().ok()
}

/// A Graph look-alike on 127.0.0.1 that keeps connections open (HTTP/1.1 keep-alive), as
/// real servers do, and counts the connections it accepts. It knows user `abc`
/// (`GET /v1.0/users/abc`) and a token endpoint (`POST` to any path ending in `/token`,
/// answering `access_token` `issued-<n>` for its n-th token, from 1).
pub struct KeepAliveServer {
    pub port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl KeepAliveServer {
    pub fn start() -> Self {
        Self::start_wrapped(Some, usize::MAX)
    }

    /// A server that speaks through `wrap(connection)` (for example TLS) and closes each
    /// connection after `requests_per_connection` answers, without announcing it.
    pub fn start_wrapped<S: Read + Write + Send + 'static>(
        wrap: impl Fn(TcpStream) -> Option<S> + Send + Sync + 'static,
        requests_per_connection: usize,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (recorder, counter) = (seen.clone(), accepted.clone());
        let wrap = Arc::new(wrap);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (recorder, wrap) = (recorder.clone(), wrap.clone());
                std::thread::spawn(move || {
                    let Some(stream) = wrap(stream) else { return };
                    let mut reader = BufReader::new(stream);
                    for _ in 0..requests_per_connection {
                        if serve_kept_alive(&mut reader, &recorder).is_none() {
                            break;
                        }
                    }
                });
            }
        });
        Self { port, seen, accepted }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// How many TCP connections the server has accepted so far.
    pub fn accepted_connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connection settings with an access token, pointing the connector at this server.
    pub fn connection_with_token(&self, scheme: &str, token: &str) -> String {
        format!(
            r#"{{"auth":"accessToken","accessToken":"{token}","graphBaseUrl":"{scheme}://127.0.0.1:{}/v1.0"}}"#,
            self.port
        )
    }
}

/// Reads one request from a kept-alive connection and answers it; `None` once the client
/// has closed the connection (or sent something that is not HTTP).
fn serve_kept_alive(reader: &mut BufReader<impl Read + Write>, seen: &Mutex<Vec<SeenRequest>>) -> Option<()> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let (method, target, headers, length) = read_head(&line, reader)?;
    let chunked = headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked"));
    let body = if chunked { read_chunked(reader)? } else { read_exactly(reader, length)? };

    let (status, body_out) = {
        let mut seen = seen.lock().unwrap();
        let answer = if method == "GET" && target == "/v1.0/users/abc" {
            ("200 OK", USER_ABC.to_string())
        } else if method == "POST" && target.ends_with("/token") {
            let issued = seen.iter().filter(|request| request.target.ends_with("/token")).count() + 1;
            ("200 OK", format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"issued-{issued}"}}"#))
        } else {
            (
                "404 Not Found",
                r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource not found."}}"#.to_string(),
            )
        };
        seen.push(SeenRequest { method, target, headers, body });
        answer
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nrequest-id: local-1\r\ncontent-length: {}\r\n\r\n{body_out}",
        body_out.len()
    );
    let stream = reader.get_mut();
    stream.write_all(response.as_bytes()).ok()?;
    stream.flush().ok()
}

/// Reads `length` bytes of a request body.
pub fn read_exactly(reader: &mut impl Read, length: usize) -> Option<Vec<u8>> {
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// Reads a request body in chunked transfer coding (and its trailers, ignored).
pub fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            break;
        }
        body.extend(read_exactly(reader, size)?);
        read_exactly(reader, 2)?; // CRLF after the chunk
    }
    loop {
        let mut trailer = String::new();
        reader.read_line(&mut trailer).ok()?;
        if trailer.trim_end().is_empty() {
            return Some(body);
        }
    }
}

/// A TEST-ONLY file of `host/tests/data`.
pub fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(name)
}

/// A TLS server configuration with the certificate for 127.0.0.1 that the TEST-ONLY private CA
/// signed.
pub fn test_server_tls_config() -> Arc<tokio_rustls::rustls::ServerConfig> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificate = CertificateDer::from_pem_file(test_data("TEST-ONLY-server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(test_data("TEST-ONLY-server-key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    Arc::new(config)
}

/// The rest of a request head after its request `line`: method, target, headers and the
/// declared `Content-Length` (0 when absent).
#[allow(clippy::type_complexity)]
pub fn read_head(line: &str, reader: &mut impl BufRead) -> Option<(String, String, Vec<(String, String)>, usize)> {
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    Some((method, target, headers, length))
}

/// A Graph look-alike on 127.0.0.1 whose answers a test writes: `answer(request)` gives the
/// status and JSON body of each request, which is recorded first. Connections are kept
/// alive, as real servers do.
pub struct RoutedServer {
    pub port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl RoutedServer {
    pub fn start(answer: impl Fn(&SeenRequest) -> (u16, String) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (recorder, answer) = (recorder.clone(), answer.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    while serve_routed(&mut reader, &recorder, answer.as_ref()).is_some() {}
                });
            }
        });
        Self { port, seen }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// Connection settings with the access token `t`, pointing the connector at this server.
    pub fn connection(&self) -> String {
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{}/v1.0"}}"#, self.port)
    }
}

/// Reads one request and answers it with `answer`; `None` once the client has closed the
/// connection.
fn serve_routed(
    reader: &mut BufReader<TcpStream>,
    seen: &Mutex<Vec<SeenRequest>>,
    answer: &(dyn Fn(&SeenRequest) -> (u16, String) + Send + Sync),
) -> Option<()> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let (method, target, headers, length) = read_head(&line, reader)?;
    let chunked = headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked"));
    let body = if chunked { read_chunked(reader)? } else { read_exactly(reader, length)? };
    let request = SeenRequest { method, target, headers, body };
    seen.lock().unwrap().push(request.clone());
    let (status, body_out) = answer(&request);
    let response = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\nrequest-id: routed-1\r\ncontent-length: {}\r\n\r\n{body_out}",
        if status < 400 { "OK" } else { "Error" },
        body_out.len()
    );
    let stream = reader.get_mut();
    stream.write_all(response.as_bytes()).ok()?;
    stream.flush().ok()
}
