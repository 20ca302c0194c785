//! `cargo bench -p connector-host --bench live`: live calls against a Graph look-alike on
//! 127.0.0.1, side by side in one run.
//!
//! Local servers (hyper, keep-alive; plain HTTP, and TLS with the TEST-ONLY CA offering
//! HTTP/1.1 or h2) serve `GET /v1.0/users/{id}` (one user of about 1 KB) and `GET /v1.0/users`
//! (one page of 100 users, about 58 KB, without a next link). Four clients call them, each
//! with a server and a [`LiveHttp`] of its own (so each one's connection count shows):
//!
//! - the floor: the host's pooled client and `serde_json` parsing the body into a tree, no
//!   connector;
//! - the same Graph logic compiled natively, its [`Transport`] sending through the pooled client;
//! - the component on the host's live route, one warm instance;
//! - for `users.get`, the component with a fresh instance per call (pooling allocator): the
//!   pool outlives the instances; and the warm instance's call right after another instance's
//!   instantiate, connect and drop (only the call timed): what the work around a fresh
//!   instance's call costs the call itself, in caches and branch predictors.
//!
//! For each: the first call (which opens the connection, with its TLS handshake) and untimed
//! warm-up calls, then timed calls in turns of a block of calls per client, and the min,
//! median, p90 and p99 of the timed calls and how many connections its server accepted.
//!
//! Options (after `--`): `--quick` (few calls, for a smoke run), `--calls N` and `--warmup W`
//! (plain HTTP; TLS runs use a third of each, as the issue's TLS figures did), `--block B`
//! (the calls of one client's turn, 50), `--op ACTION`, `--transport plain|tls|h2` and
//! `--client native|warm|fresh|after-fresh` (each
//! repeatable: only those; the floor always runs), `--token jwt|short` (every client sends a
//! JWT-sized access token, or the 11-byte one of the earlier rounds), and `--peers` (also
//! other Graph clients, each a subprocess against the same server: `peers.rs`; build them
//! and run with `host/benches/peers/run.sh`).

#[path = "live/peers.rs"]
mod peers;

use bytes::Bytes;
use connector_host::http::live_http::{load_ca_certificates, LiveHttp};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{AllowedHosts, OutboundHttp, Route};
use connector_host::sandbox::runtime::{InstanceAllocation, RuntimeOptions};
use connector_host::{Instance, Limits, Runtime, EMBEDDED_COMPONENT};
use graph_connector::graph::transport::{HttpRequest, HttpResponse, Transport, TransportError, TransportErrorKind};
use http_body_util::{BodyExt as _, Full};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wasmtime_wasi_http::{RequestOptions, WasiBody};

/// The user `users.get` reads.
const USER_ID: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
/// The access token of the rounds before 6 Dec 2026 12:00 (`--token short`).
const SHORT_TOKEN: &str = "bench-token";

/// The access token every client sends: shaped as Entra ID's app-only tokens are, a JWT of
/// 1,862 bytes (a signed set of claims and an RS256 signature), because the connector
/// looks for every secret of a connection in each output and spells it the ways a server
/// might echo it; an 11-byte token hid what that costs. Always the same bytes.
fn jwt_token() -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let header = json!({"typ": "JWT", "alg": "RS256", "x5t": "bench-key", "kid": "bench-key"});
    let roles: Vec<String> =
        ["User.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "AuditLog.Read.All", "Sites.Read.All"]
            .iter()
            .map(|role| role.to_string())
            .collect();
    let mut claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
        "iat": 1_796_000_000u64, "nbf": 1_796_000_000u64, "exp": 1_796_003_599u64,
        "app_displayname": "Graph Connector live benchmark",
        "appid": "2f6b3c1e-5d4a-4b8c-9e7f-0a1b2c3d4e5f",
        "appidacr": "1",
        "idp": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
        "idtyp": "app",
        "oid": "6e5d4c3b-2a19-4807-b6f5-e4d3c2b1a098",
        "roles": roles,
        "sub": "6e5d4c3b-2a19-4807-b6f5-e4d3c2b1a098",
        "tenant_region_scope": "EU",
        "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "ver": "1.0",
        "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
    });
    // Entra ID's opaque claims (aio, rh, uti, xms_*) make up the rest of a real token's size.
    for (claim, length) in [("aio", 180), ("rh", 56), ("uti", 22), ("xms_ftd", 48), ("xms_idrel", 8), ("xms_tcdt", 10)]
    {
        let value: String = (0..length).map(|n| char::from(b'A' + ((n * 7 + claim.len()) % 26) as u8)).collect();
        claims[claim] = json!(value);
    }
    let signature: Vec<u8> = (0..256u32).map(|n| (n * 37 + 11) as u8).collect();
    let mut token = String::new();
    for (index, part) in
        [header.to_string().into_bytes(), claims.to_string().into_bytes(), signature].iter().enumerate()
    {
        if index > 0 {
            token.push('.');
        }
        token.push_str(&Base64UrlUnpadded::encode_string(part));
    }
    token
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let value_of =
        |name: &str| arguments.windows(2).find(|pair| pair[0] == name).and_then(|pair| pair[1].parse::<usize>().ok());
    let quick = arguments.iter().any(|argument| argument == "--quick");
    let calls = value_of("--calls").unwrap_or(if quick { 30 } else { 1000 });
    let warmup = value_of("--warmup").unwrap_or(if quick { 5 } else { 50 });
    let block = value_of("--block").unwrap_or(50).max(1);
    // `--op`, `--transport` and `--client` run a part only, for a profiler attached to the run.
    let chosen = |name: &str| -> Vec<&str> {
        arguments.windows(2).filter(|pair| pair[0] == name).map(|pair| pair[1].as_str()).collect()
    };
    let (ops, transports, clients) = (chosen("--op"), chosen("--transport"), chosen("--client"));
    let runs = |client: &str| clients.is_empty() || clients.contains(&client);
    let peers = arguments.iter().any(|argument| argument == "--peers").then(peers::discover);
    let token: &'static str = match chosen("--token").first() {
        Some(&"short") => SHORT_TOKEN,
        Some(&"jwt") | None => Box::leak(jwt_token().into_boxed_str()),
        Some(other) => panic!("--token takes short or jwt, not {other}"),
    };

    let user = user_body();
    let page = page_body();
    println!(
        "live benchmark: users.get ({} B user) and users.list (one page of 100 users, {} B) on 127.0.0.1, \
         with a {} B access token",
        user.len(),
        page.len(),
        token.len()
    );
    for missing in peers.iter().flat_map(|peers| &peers.missing) {
        println!("not run: {missing}");
    }
    // Every client runs on one current-thread runtime, the one `connector-host` runs a single
    // instance on: the calls, the pooled connections' tasks and the I/O driver share one
    // thread, so no call waits for another thread to wake up. (The native side's transport
    // blocks on it from inside a call, so it lives as long as the process.)
    let tokio: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime"),
    ));
    let ca = load_ca_certificates(&test_data("TEST-ONLY-ca.pem")).expect("the TEST-ONLY CA loads");
    // CONNECTOR_BENCH_COMPONENT=FILE measures another build of the component (an unstripped
    // one, for a profiler with CONNECTOR_HOST_PERFMAP=1) instead of the embedded one.
    let other = std::env::var_os("CONNECTOR_BENCH_COMPONENT")
        .map(|path| std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", PathBuf::from(path).display())));
    let component = other.as_deref().unwrap_or(EMBEDDED_COMPONENT);
    // Leaked, as the runtime is: the clients' calls live as long as the process.
    let warm: &'static Runtime =
        Box::leak(Box::new(Runtime::new(component, Limits::default()).expect("the component compiles")));
    let pooled: &'static Runtime = Box::leak(Box::new(
        Runtime::with_options(
            component,
            Limits::default(),
            &RuntimeOptions { allocation: InstanceAllocation::pooling(), ..RuntimeOptions::default() },
        )
        .expect("the component compiles for the pooling allocator"),
    ));

    for (name, scheme, alpn) in
        [("plain", "http", None), ("tls", "https", Some("http/1.1")), ("h2", "https", Some("h2"))]
    {
        if !transports.is_empty() && !transports.contains(&name) {
            continue;
        }
        let (calls, warmup) = if alpn.is_some() { (calls.div_ceil(3), warmup.div_ceil(3)) } else { (calls, warmup) };
        let transport = match alpn {
            None => "plain HTTP/1.1".to_string(),
            Some("h2") => "TLS, server offers h2 then http/1.1".to_string(),
            Some(protocol) => format!("TLS, server offers {protocol}"),
        };
        for (action, input, path) in [
            ("users.get", json!({"userId": USER_ID}).to_string(), format!("/users/{USER_ID}")),
            ("users.list", json!({"maxItems": 0}).to_string(), "/users".to_string()),
        ] {
            if !ops.is_empty() && !ops.contains(&action) {
                continue;
            }
            println!(
                "\n{action} over {transport}: {calls} timed calls after {warmup} warm-up calls, \
                 the clients taking turns of {block} calls, in µs"
            );
            println!(
                "{:<44} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6}",
                "client", "first", "min", "median", "p90", "p99", "×floor", "conns"
            );
            // Each client has a server and a pooled client of its own, so that its connections
            // can be counted while the clients take turns.
            let contender = |label: &'static str, make: &dyn Fn(LiveHttp, String) -> Box<dyn FnMut() + 'static>| {
                let server = Server::start(user.clone(), page.clone(), alpn);
                let base = format!("{scheme}://127.0.0.1:{}/v1.0", server.port);
                let live = LiveHttp::new(None, &ca).expect("the live client builds");
                Contender { label, call: make(live, base), server, first: Duration::ZERO, timed: Vec::new(), row: true }
            };
            let mut contenders = vec![contender("raw client + serde_json (floor)", &|live, base| {
                let url = format!("{base}{path}");
                Box::new(move || raw_call(tokio, &live, &url, token))
            })];
            if runs("native") {
                contenders.push(contender("native Graph logic, same client", &|live, base| {
                    let mut connector = native_connector(tokio, live, &base, token);
                    let input = input.clone();
                    Box::new(move || {
                        let output = connector.invoke_json(action, &input).expect("the native call succeeds");
                        std::hint::black_box(output);
                    })
                }));
            }
            if runs("warm") {
                contenders.push(contender("component, warm instance", &|live, base| {
                    let mut instance = tokio.block_on(connected_instance(warm, live, &base, token));
                    let input = input.clone();
                    Box::new(move || {
                        std::hint::black_box(component_call(tokio, &mut instance, action, &input));
                    })
                }));
            }
            // The warm instance's call right after another instance's fresh cycle: only the
            // call is timed, and shown under the fresh instance's phases, not as a row.
            let after_fresh = Rc::new(RefCell::new(Vec::new()));
            if action == "users.get" && runs("after-fresh") {
                let mut other = contender("component, warm instance, after another's fresh cycle", &|live, base| {
                    let mut instance = tokio.block_on(connected_instance(warm, live.clone(), &base, token));
                    let input = input.clone();
                    let allowed = allowed_hosts(&base);
                    let settings = connection_settings(&base, token);
                    let after_fresh = after_fresh.clone();
                    Box::new(move || {
                        let mut fresh = tokio.block_on(instantiate(pooled, live.clone(), allowed.clone()));
                        tokio.block_on(open(&mut fresh, &settings));
                        drop(fresh);
                        let started = Instant::now();
                        std::hint::black_box(component_call(tokio, &mut instance, action, &input));
                        after_fresh.borrow_mut().push(started.elapsed());
                    })
                });
                other.row = false;
                contenders.push(other);
            }
            // Each fresh instance's phases, to say where its time goes.
            let phases = Rc::new(RefCell::new(Vec::new()));
            if action == "users.get" && runs("fresh") {
                contenders.push(contender("component, fresh pooled instance per call", &|live, base| {
                    let input = input.clone();
                    let phases = phases.clone();
                    // What a host has before any call: the hosts it allows and the caller's
                    // settings, as text. Each instance gets its own copy of the first.
                    let allowed = allowed_hosts(&base);
                    let settings = connection_settings(&base, token);
                    Box::new(move || {
                        let started = Instant::now();
                        let mut instance = tokio.block_on(instantiate(pooled, live.clone(), allowed.clone()));
                        let instantiated = Instant::now();
                        tokio.block_on(open(&mut instance, &settings));
                        let connected = Instant::now();
                        std::hint::black_box(component_call(tokio, &mut instance, action, &input));
                        let called = Instant::now();
                        drop(instance);
                        let dropped = Instant::now();
                        phases.borrow_mut().push([
                            instantiated - started,
                            connected - instantiated,
                            called - connected,
                            dropped - called,
                        ]);
                    })
                }));
            }
            // The clients take turns, a block of calls each: this machine's speed changes from
            // one second to the next, and clients timed one after the other compared its spells
            // as much as the clients; turns of a single call would leave every call's caches to
            // the other clients.
            for contender in &mut contenders {
                let started = Instant::now();
                (contender.call)();
                contender.first = started.elapsed();
                (0..warmup).for_each(|_| (contender.call)());
            }
            let mut done = 0;
            while done < calls {
                let turn = block.min(calls - done);
                for contender in &mut contenders {
                    for _ in 0..turn {
                        let started = Instant::now();
                        (contender.call)();
                        contender.timed.push(started.elapsed());
                    }
                }
                done += turn;
            }
            let figures: Vec<Figures> = contenders
                .iter_mut()
                .map(|contender| {
                    let mut timed = std::mem::take(&mut contender.timed);
                    timed.sort();
                    Figures {
                        label: contender.label.to_string(),
                        first: contender.first,
                        timed,
                        connections: contender.server.accepted(),
                    }
                })
                .collect();
            let floor_median = figures[0].median();
            for (figure, contender) in figures.iter().zip(&contenders) {
                if contender.row {
                    figure.print(floor_median);
                }
            }
            let phases = phases.borrow();
            if !phases.is_empty() {
                // The first call and the warm-up calls are not timed.
                let phases = &phases[phases.len().saturating_sub(calls)..];
                let median = |index: usize| {
                    let mut durations: Vec<Duration> = phases.iter().map(|phase| phase[index]).collect();
                    durations.sort();
                    micros(durations[durations.len() / 2])
                };
                println!(
                    "{:<44} instantiate {:.1}, connect {:.1}, users.get {:.1}, drop {:.1} (medians)",
                    "  its phases",
                    median(0),
                    median(1),
                    median(2),
                    median(3)
                );
            }
            let mut after_fresh = after_fresh.borrow_mut();
            if !after_fresh.is_empty() {
                let start = after_fresh.len().saturating_sub(calls);
                let timed = &mut after_fresh[start..];
                timed.sort();
                println!(
                    "{:<44} {:.1} (median; min {:.1}): the warm instance's call right after another instance's \
                     instantiate, connect and drop",
                    "  a warm call after a fresh cycle",
                    micros(timed[timed.len() / 2]),
                    micros(timed[0])
                );
            }
            // The peers are processes of their own: each runs alone, against the floor's server.
            let server = &contenders[0].server;
            let base = format!("{scheme}://127.0.0.1:{}/v1.0", server.port);
            let ca = test_data("TEST-ONLY-ca.pem");
            let call = peers::Call { base: &base, op: action, user_id: USER_ID, token, ca: &ca, calls, warmup };
            for peer in peers.iter().flat_map(|peers| &peers.available) {
                peer.run_and_print(&call, floor_median, || server.accepted());
            }
        }
    }
}

/// One client of the rounds: its call, the server only it talks to, and its times.
struct Contender {
    /// Whether its figures are a row of the table (a client whose closure times more than
    /// the call it reports keeps its own times).
    row: bool,
    label: &'static str,
    call: Box<dyn FnMut()>,
    server: Server,
    first: Duration,
    timed: Vec<Duration>,
}

/// One client's figures.
struct Figures {
    label: String,
    first: Duration,
    /// The timed calls, sorted.
    timed: Vec<Duration>,
    connections: usize,
}

impl Figures {
    fn percentile(&self, fraction: f64) -> f64 {
        let rank = (fraction * self.timed.len() as f64).ceil() as usize;
        micros(self.timed[rank.clamp(1, self.timed.len()) - 1])
    }

    fn median(&self) -> f64 {
        let n = self.timed.len();
        if n % 2 == 1 {
            micros(self.timed[n / 2])
        } else {
            (micros(self.timed[n / 2 - 1]) + micros(self.timed[n / 2])) / 2.0
        }
    }

    fn print(&self, floor_median: f64) {
        println!(
            "{:<44} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.2} {:>6}",
            self.label,
            micros(self.first),
            micros(self.timed[0]),
            self.median(),
            self.percentile(0.90),
            self.percentile(0.99),
            self.median() / floor_median,
            self.connections
        );
    }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The floor: one GET through the pooled client, the body read whole and parsed.
fn raw_call(tokio: &tokio::runtime::Runtime, live: &LiveHttp, url: &str, token: &str) {
    let request = http::Request::get(url)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json")
        .body(empty_body())
        .expect("a valid request");
    let body = tokio.block_on(async {
        let (response, _) = live.send(request, None).await.expect("the server answers");
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.expect("the body arrives").to_bytes()
    });
    let parsed: Value = serde_json::from_slice(&body).expect("the body is JSON");
    std::hint::black_box(parsed);
}

fn empty_body() -> WasiBody {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync()
}

/// An instance on the live route through `live`, connected to the server of `base` with `token`.
async fn connected_instance(runtime: &Runtime, live: LiveHttp, base: &str, token: &str) -> Instance {
    let mut instance = instantiate(runtime, live, allowed_hosts(base)).await;
    open(&mut instance, &connection_settings(base, token)).await;
    instance
}

/// An instance on the live route through `live`, allowed to reach `allowed`.
async fn instantiate(runtime: &Runtime, live: LiveHttp, allowed: AllowedHosts) -> Instance {
    let outbound = OutboundHttp::new(allowed, Route::LiveWith(live));
    runtime.instantiate(outbound, TimeSource::Real).await.expect("instantiates")
}

/// The hosts an instance may reach: the server of `base`.
fn allowed_hosts(base: &str) -> AllowedHosts {
    let port = base.rsplit(':').next().and_then(|rest| rest.split('/').next()).expect("a port");
    AllowedHosts::from_patterns([format!("127.0.0.1:{port}").parse().expect("a host pattern")])
}

/// Opens the instance's connection with these settings.
async fn open(instance: &mut Instance, settings: &str) {
    instance.connect(settings).await.expect("connect runs").expect("the connection is accepted");
}

/// The connection settings of every client: the token, and the server of `base` as Graph.
fn connection_settings(base: &str, token: &str) -> String {
    json!({"auth": "accessToken", "accessToken": token, "graphBaseUrl": base}).to_string()
}

fn component_call(tokio: &tokio::runtime::Runtime, instance: &mut Instance, action: &str, input: &str) -> String {
    tokio
        .block_on(instance.invoke(action, input))
        .expect("the instance runs the call")
        .unwrap_or_else(|error| panic!("{action} failed: {error:?}"))
}

/// The Graph logic compiled natively, sending through `live`.
fn native_connector(
    tokio: &'static tokio::runtime::Runtime,
    live: LiveHttp,
    base: &str,
    token: &str,
) -> graph_connector::Connector {
    let mut connector = graph_connector::Connector::new();
    let transport = LiveTransport { tokio, live, started: Instant::now() };
    connector.connect(&connection_settings(base, token), Box::new(transport)).expect("the native connector connects");
    connector
}

/// The native side of the seam over the host's pooled client: the request as the
/// component's wasi-http transport hands it over (its timeout as the request options).
struct LiveTransport {
    /// The runtime itself, not a handle: a handle's `block_on` does not drive the I/O of a
    /// current-thread runtime.
    tokio: &'static tokio::runtime::Runtime,
    live: LiveHttp,
    started: Instant,
}

impl Transport for LiveTransport {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let failed =
            |error: &dyn std::fmt::Display| TransportError::new(TransportErrorKind::NotDelivered, error.to_string());
        let timeout = request.timeout_ms().map(Duration::from_millis);
        let options =
            RequestOptions { connect_timeout: timeout, first_byte_timeout: timeout, between_bytes_timeout: timeout };
        let mut builder = http::Request::builder().method(request.method().clone()).uri(request.uri());
        for (name, value) in request.headers() {
            builder = builder.header(name.as_str(), value.as_slice());
        }
        let body = Full::new(Bytes::from(request.into_body())).map_err(|never| match never {}).boxed_unsync();
        let request = builder.body(body).map_err(|error| failed(&error))?;
        let live = &self.live;
        let (status, headers, body) = self.tokio.block_on(async {
            let (response, _) = live.send(request, Some(options)).await.map_err(|error| failed(&error))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|error| failed(&error))?.to_bytes();
            let headers = parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                })
                .collect();
            Ok::<_, TransportError>((parts.status.as_u16(), headers, body))
        })?;
        Ok(HttpResponse::new(status, headers, body.to_vec()))
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn wall_clock_secs(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs())
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|index| index as u8).collect()
    }
}

/// A user as Graph returns it by default, with an `aboutMe` that brings the whole to about
/// `size` bytes.
fn user(index: usize, size: usize) -> Value {
    let mut user = json!({
        "businessPhones": [format!("+1 425 555 {:04}", index % 10_000)],
        "displayName": format!("Bench User {index}"),
        "givenName": "Bench",
        "jobTitle": "Benchmark Subject",
        "mail": format!("bench.user{index}@contoso.onmicrosoft.com"),
        "mobilePhone": null,
        "officeLocation": format!("{}/{}", 10 + index % 30, 1000 + index % 997),
        "preferredLanguage": "en-US",
        "surname": format!("User {index}"),
        "userPrincipalName": format!("bench.user{index}@contoso.onmicrosoft.com"),
        "id": if index == 0 { USER_ID.to_string() } else { format!("00000000-0000-4000-8000-{index:012}") },
    });
    let padding = size.saturating_sub(user.to_string().len() + r#","aboutMe":"""#.len());
    user["aboutMe"] = Value::String("x".repeat(padding));
    user
}

/// `GET /users/{id}`: one user of 1 KB with its `@odata.context`.
fn user_body() -> Bytes {
    let mut body = user(0, 1024 - 90);
    body["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    Bytes::from(body.to_string())
}

/// `GET /users`: one page of 100 users, 58 KB, without a next link.
fn page_body() -> Bytes {
    let users: Vec<Value> = (0..100).map(|index| user(index, 578)).collect();
    Bytes::from(
        json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": users}).to_string(),
    )
}

/// A TEST-ONLY file of `host/tests/data`.
fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(name)
}

/// The Graph look-alike: keep-alive HTTP/1.1 (or h2 when TLS negotiates it) on its own thread
/// and tokio runtime, counting the connections it accepts.
struct Server {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    /// Plain HTTP without `alpn`; otherwise TLS with the TEST-ONLY certificate, offering the
    /// protocol named; `h2` comes with `http/1.1` after it, as Graph offers them, so that a
    /// client asking only for HTTP/1.1 (Python's httpx, by default) still connects, while one
    /// that offers `h2` gets it.
    fn start(user: Bytes, page: Bytes, alpn: Option<&str>) -> Self {
        let acceptor = alpn.map(|protocol| {
            let certificate = CertificateDer::from_pem_file(test_data("TEST-ONLY-server.pem")).expect("certificate");
            let key = PrivateKeyDer::from_pem_file(test_data("TEST-ONLY-server-key.pem")).expect("key");
            let mut config =
                rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .expect("TLS versions")
                    .with_no_client_auth()
                    .with_single_cert(vec![certificate], key)
                    .expect("the TEST-ONLY certificate");
            config.alpn_protocols = vec![protocol.as_bytes().to_vec()];
            if protocol == "h2" {
                config.alpn_protocols.push(b"http/1.1".to_vec());
            }
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("an address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
            tokio.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                while let Ok((stream, _)) = listener.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_nodelay(true);
                    let (user, page, acceptor) = (user.clone(), page.clone(), acceptor.clone());
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                                let path = request.uri().path();
                                let body = if path == format!("/v1.0/users/{USER_ID}") {
                                    Some(user.clone())
                                } else if path == "/v1.0/users" {
                                    Some(page.clone())
                                } else {
                                    None
                                };
                                let response = http::Response::builder()
                                    .status(if body.is_some() { 200 } else { 404 })
                                    .header("content-type", "application/json")
                                    .body(Full::new(body.unwrap_or_default()))
                                    .expect("a response");
                                async move { Ok::<_, std::convert::Infallible>(response) }
                            });
                        match acceptor {
                            None => serve(stream, false, service).await,
                            Some(acceptor) => {
                                let Ok(stream) = acceptor.accept(stream).await else { return };
                                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                                serve(stream, h2, service).await
                            }
                        }
                    });
                }
            });
        });
        Self { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Serves one connection, HTTP/1.1 with keep-alive or HTTP/2.
async fn serve<S, F>(stream: S, h2: bool, service: F)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<Full<Bytes>>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    F::Future: Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let _ = if h2 {
        hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new().serve_connection(io, service).await
    };
}
