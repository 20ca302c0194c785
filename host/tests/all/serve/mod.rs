//! `connector-host serve` seen from outside: the real service on 127.0.0.1, a local fake
//! Graph and token endpoint behind it, and an HTTP client in front.

mod api;
mod faults;
mod load;
mod mcp;
mod process;

use crate::support::{read_chunked, read_exactly, read_head, runtime, SeenRequest};
use bytes::Bytes;
use connector_host::sandbox::http_policy::Route;
use connector_host::serve::service::{CoreOptions, Settings};
use connector_host::serve::{ServeOptions, Server};
use connector_host::{AllowedHosts, HostPattern};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The fake Graph's tenant, for every connection of these tests.
pub const TENANT: &str = "contoso.onmicrosoft.com";

/// The client id of test connection `n`.
pub fn client_id(n: usize) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

/// The client secret the fake token endpoint accepts for a client id.
pub fn secret_of(client_id: &str) -> String {
    format!("s3cret-of-{client_id}")
}

/// The access token the fake token endpoint issues for a client id.
pub fn token_of(client_id: &str) -> String {
    format!("tok3n-of-{client_id}")
}

/// A Graph and token endpoint look-alike on 127.0.0.1, with one thread per connection and
/// keep-alive. `GET /v1.0/users/{id}` answers by id:
/// - `missing`: 404 `Request_ResourceNotFound`; `forbidden`: 403; `conflict`: 409;
///   `broken`: 500; `throttled`: 429 with `Retry-After: 1`;
/// - `slow-*`: the user, after [`FakeGraph::SLOW`];
/// - any other id: the user `{"id": id, "displayName": "User <id>"}`.
///
/// With `throttle_every` = n, every n-th users request (counted from 1) is answered 429
/// instead. Every answer carries `request-id: graph-<n>` (n counts all requests from 1).
/// The token endpoint (`POST /{tenant}/oauth2/v2.0/token`) issues [`token_of`] a client id
/// when the form's secret is [`secret_of`] it, and answers 401 `invalid_client` otherwise.
pub struct FakeGraph {
    pub port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// The fake's shared state.
struct Behaviour {
    counter: AtomicUsize,
    users_counter: AtomicUsize,
    throttle_every: Option<usize>,
}

impl FakeGraph {
    /// How long `slow-*` users take.
    pub const SLOW: Duration = Duration::from_millis(1500);

    pub fn start() -> Self {
        Self::start_with(None)
    }

    pub fn start_with(throttle_every: Option<usize>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let behaviour =
            Arc::new(Behaviour { counter: AtomicUsize::new(0), users_counter: AtomicUsize::new(0), throttle_every });
        let recorder = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (recorder, behaviour) = (recorder.clone(), behaviour.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    while answer_one(&mut reader, &recorder, &behaviour).is_some() {}
                });
            }
        });
        Self { port, seen }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// Client-credentials settings of test connection `n`, with the right secret.
    pub fn settings(&self, n: usize) -> Value {
        let client = client_id(n);
        let secret = secret_of(&client);
        self.settings_with_secret(n, &secret)
    }

    /// The same with a given secret.
    pub fn settings_with_secret(&self, n: usize, secret: &str) -> Value {
        serde_json::json!({
            "auth": "clientCredentials",
            "tenantId": TENANT,
            "clientId": client_id(n),
            "clientSecret": secret,
            "loginBaseUrl": format!("http://127.0.0.1:{}", self.port),
            "graphBaseUrl": format!("http://127.0.0.1:{}/v1.0", self.port),
        })
    }
}

fn answer_one(
    reader: &mut BufReader<std::net::TcpStream>,
    seen: &Mutex<Vec<SeenRequest>>,
    behaviour: &Behaviour,
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
    let number = behaviour.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let request_id = format!("graph-{number}");
    let request = SeenRequest { method: method.clone(), target: target.clone(), headers, body: body.clone() };
    seen.lock().unwrap().push(request);

    let graph_error = |code: &str, message: &str| {
        serde_json::json!({"error": {"code": code, "message": message,
                                      "innerError": {"request-id": request_id, "date": "2026-12-06T06:00:00"}}})
        .to_string()
    };
    let mut extra = String::new();
    let (status, body_out) = if method == "POST" && target == format!("/{TENANT}/oauth2/v2.0/token") {
        let form = String::from_utf8_lossy(&body).to_string();
        let field = |name: &str| {
            form.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}="))).map(|value| value.to_string())
        };
        let client = field("client_id").unwrap_or_default();
        if field("client_secret").is_some_and(|secret| secret == secret_of(&client)) {
            (
                "200 OK",
                serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token_of(&client)})
                    .to_string(),
            )
        } else {
            (
                "401 Unauthorized",
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#
                    .to_string(),
            )
        }
    } else if let Some(user) = target.strip_prefix("/v1.0/users/").filter(|_| method == "GET") {
        let user = user.split('?').next().unwrap_or_default().to_string();
        let nth = behaviour.users_counter.fetch_add(1, Ordering::SeqCst) + 1;
        if behaviour.throttle_every.is_some_and(|every| nth.is_multiple_of(every)) || user == "throttled" {
            extra.push_str("retry-after: 1\r\n");
            ("429 Too Many Requests", graph_error("TooManyRequests", "Too many requests."))
        } else {
            match user.as_str() {
                "missing" => {
                    ("404 Not Found", graph_error("Request_ResourceNotFound", "Resource 'missing' does not exist."))
                }
                "forbidden" => {
                    ("403 Forbidden", graph_error("Authorization_RequestDenied", "Insufficient privileges."))
                }
                "conflict" => ("409 Conflict", graph_error("Request_Conflict", "Conflict.")),
                "broken" => ("500 Internal Server Error", graph_error("InternalServerError", "Something broke.")),
                _ => {
                    if user.starts_with("slow-") {
                        std::thread::sleep(FakeGraph::SLOW);
                    }
                    ("200 OK", serde_json::json!({"id": user, "displayName": format!("User {user}")}).to_string())
                }
            }
        }
    } else {
        ("404 Not Found", graph_error("Request_ResourceNotFound", "Resource not found."))
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nrequest-id: {request_id}\r\n{extra}content-length: {}\r\n\r\n{body_out}",
        body_out.len()
    );
    let stream = reader.get_mut();
    stream.write_all(response.as_bytes()).ok()?;
    stream.flush().ok()
}

/// Every log line the services of this test binary wrote (JSON lines), captured once for the
/// whole binary; tests find their own by request or connection ids.
pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log lines (parsed) whose fields include `needle` as a value.
pub fn log_lines_with(needle: &str) -> Vec<Value> {
    logs()
        .lines()
        .filter(|line| line.contains(needle))
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("a log line that is not JSON ({error}): {line}"))
        })
        .collect()
}

/// A service running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts the service on 127.0.0.1:0 in front of `graph` (its port allowed), with
    /// `configure` adjusting the options.
    pub async fn start(graph: &FakeGraph, configure: impl FnOnce(&mut ServeOptions)) -> Self {
        Self::start_on(runtime().clone(), graph, configure).await
    }

    /// The same with another runtime (other limits).
    pub async fn start_on(
        runtime: connector_host::Runtime,
        graph: &FakeGraph,
        configure: impl FnOnce(&mut ServeOptions),
    ) -> Self {
        log_buffer();
        let mut options = ServeOptions::new("127.0.0.1:0".parse().unwrap());
        options.core = CoreOptions {
            allowed_hosts: AllowedHosts::from_patterns([HostPattern::new("127.0.0.1", Some(graph.port))]),
            route: Route::Live,
            ..CoreOptions::default()
        };
        configure(&mut options);
        let server = Server::start(runtime, options).await.expect("the service starts");
        let addr = server.local_addr();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stop.await;
        }));
        Self { addr, shutdown: Some(shutdown), task: Some(task) }
    }

    /// Begins shutdown, as SIGTERM does, and returns the task that ends when the service has.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        let _ = self.shutdown.take().map(|shutdown| shutdown.send(()));
        self.task.take().expect("the service is running")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.take().map(|shutdown| shutdown.send(()));
    }
}

/// Named connection settings for `--connections`.
pub fn named(name: &str, settings: &Value) -> (String, Settings) {
    (name.to_string(), Settings::new(settings.to_string()))
}

/// An answer of the service.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The whole answer as text (head and body), to search for secrets.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n", self.status);
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())));
        }
        text.push_str(&self.body);
        text
    }
}

/// A client of the service.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    key: Option<String>,
}

impl ApiClient {
    pub fn new(addr: SocketAddr) -> Self {
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Self { base: format!("http://{addr}"), client, key: None }
    }

    /// The same client, sending this API key.
    pub fn with_key(&self, key: &str) -> Self {
        Self { key: Some(key.to_string()), ..self.clone() }
    }

    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Reply {
        let mut request = http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default()))).unwrap();
        let response = self.client.request(request).await.expect("the service answers");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the body arrives").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, &[], Some(body.to_string())).await
    }

    /// `POST /v1/actions/{action}/invoke` with an envelope.
    pub async fn invoke(&self, action: &str, envelope: &Value) -> Reply {
        self.post(&format!("/v1/actions/{action}/invoke"), envelope).await
    }
}

/// A metric's value in Prometheus text, by its full name with labels as written, e.g.
/// `connector_invocations_total{action="users.get",outcome="ok"}`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Sends raw bytes to the service and reads until it closes the connection (or `limit`
/// bytes arrived).
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
