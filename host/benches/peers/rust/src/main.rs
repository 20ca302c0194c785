//! `peer`: one other Graph client, timed against the live benchmark's local Graph look-alike
//! (`host/benches/live.rs --peers`), one request after another on one reused client.
//!
//! `--client graph-rs-sdk|reqwest --base URL --op users.get|users.list --user-id ID --token T
//! --ca FILE --calls N --warmup W [--runtime multi-thread|current-thread]`. One untimed first
//! call (it opens the connection), W untimed warm-up calls, then N timed calls; the last stdout
//! line is one JSON object with the figures of the timed calls and the first call's time.
//!
//! Each call reads the whole body and parses it into a JSON tree, as a caller of each client
//! would: graph-rs-sdk's `send()` then `Response::json`, reqwest's `send()` then
//! `serde_json::from_slice` of the bytes.

use graph_rs_sdk::{GraphClient, GraphClientConfiguration};
use serde_json::Value;
use std::time::{Duration, Instant};

/// What one run is asked to do.
struct Options {
    client: String,
    base: String,
    op: String,
    user_id: String,
    token: String,
    ca: Option<String>,
    calls: usize,
    warmup: usize,
    /// tokio's multi-thread runtime (what `#[tokio::main]` gives), or its current-thread one
    /// (what `connector-host invoke` runs a single instance on).
    current_thread: bool,
}

fn main() {
    let options = match parse(std::env::args().skip(1).collect()) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("peer: {message}");
            std::process::exit(2);
        }
    };
    // graph-rs-sdk has no setting for root certificates: its native-tls (OpenSSL) connector
    // trusts the file OpenSSL's `SSL_CERT_FILE` names, read once when the first TLS client is
    // built. Setting it here, before any thread or client exists, trusts the TEST-ONLY CA.
    if let Some(ca) = &options.ca {
        std::env::set_var("SSL_CERT_FILE", ca);
    }
    let runtime = if options.current_thread {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    }
    .expect("a tokio runtime");
    if let Err(message) = runtime.block_on(run(&options)) {
        eprintln!("peer: {message}");
        std::process::exit(1);
    }
}

fn parse(arguments: Vec<String>) -> Result<Options, String> {
    let mut pairs = arguments.chunks(2);
    let mut options = Options {
        client: String::new(),
        base: String::new(),
        op: String::new(),
        user_id: String::new(),
        token: String::new(),
        ca: None,
        calls: 1000,
        warmup: 50,
        current_thread: false,
    };
    let count =
        |name: &str, value: &str| value.parse::<usize>().map_err(|_| format!("{name} takes a count, not {value:?}"));
    for pair in &mut pairs {
        let [name, value] = pair else { return Err(format!("{} needs a value", pair[0])) };
        match name.as_str() {
            "--client" => options.client = value.clone(),
            "--base" => options.base = value.trim_end_matches('/').to_string(),
            "--op" => options.op = value.clone(),
            "--user-id" => options.user_id = value.clone(),
            "--token" => options.token = value.clone(),
            "--ca" => options.ca = Some(value.clone()),
            "--calls" => options.calls = count(name, value)?,
            "--warmup" => options.warmup = count(name, value)?,
            "--runtime" => {
                options.current_thread = match value.as_str() {
                    "current-thread" => true,
                    "multi-thread" => false,
                    other => return Err(format!("--runtime must be current-thread or multi-thread, not {other:?}")),
                }
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if !["graph-rs-sdk", "reqwest"].contains(&options.client.as_str()) {
        return Err(format!("--client must be graph-rs-sdk or reqwest, not {:?}", options.client));
    }
    if !["users.get", "users.list"].contains(&options.op.as_str()) {
        return Err(format!("--op must be users.get or users.list, not {:?}", options.op));
    }
    if options.base.is_empty() {
        return Err("--base is required".to_string());
    }
    if options.op == "users.get" && options.user_id.is_empty() {
        return Err("--user-id is required for users.get".to_string());
    }
    if options.calls == 0 {
        return Err("--calls must be at least 1".to_string());
    }
    Ok(options)
}

/// One client, built once and reused for every call.
enum Client {
    GraphRsSdk(Box<GraphClient>),
    Reqwest { client: reqwest::Client, url: String, authorization: String },
}

impl Client {
    fn new(options: &Options) -> Result<Self, String> {
        match options.client.as_str() {
            "graph-rs-sdk" => {
                let configuration = GraphClientConfiguration::new().access_token(&options.token).https_only(false);
                let mut client = GraphClient::from(configuration);
                let base = graph_rs_sdk::http::Url::parse(&options.base).map_err(|error| format!("--base: {error}"))?;
                client.use_test_endpoint(&base);
                Ok(Self::GraphRsSdk(Box::new(client)))
            }
            _ => {
                let mut builder = reqwest::Client::builder();
                if let Some(ca) = &options.ca {
                    let pem = std::fs::read(ca).map_err(|error| format!("--ca {ca}: {error}"))?;
                    let certificate =
                        reqwest::Certificate::from_pem(&pem).map_err(|error| format!("--ca {ca}: {error}"))?;
                    builder = builder.add_root_certificate(certificate);
                }
                let client = builder.build().map_err(|error| format!("the reqwest client: {error}"))?;
                let url = match options.op.as_str() {
                    "users.get" => format!("{}/users/{}", options.base, options.user_id),
                    _ => format!("{}/users", options.base),
                };
                Ok(Self::Reqwest { client, url, authorization: format!("Bearer {}", options.token) })
            }
        }
    }

    /// One call: the request, the whole body, parsed; and the HTTP version it went over.
    async fn call(&self, op: &str, user_id: &str) -> Result<(Value, reqwest::Version), String> {
        let failed = |error: &dyn std::fmt::Display| format!("{op}: {error}");
        match self {
            Self::GraphRsSdk(client) => {
                let response = match op {
                    "users.get" => client.user(user_id).get_user().send().await,
                    _ => client.users().list_user().send().await,
                }
                .map_err(|error| failed(&error))?;
                if !response.status().is_success() {
                    return Err(failed(&response.status()));
                }
                let version = response.version();
                Ok((response.json::<Value>().await.map_err(|error| failed(&error))?, version))
            }
            Self::Reqwest { client, url, authorization } => {
                let response = client
                    .get(url)
                    .header(reqwest::header::AUTHORIZATION, authorization)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send()
                    .await
                    .map_err(|error| failed(&error))?;
                if !response.status().is_success() {
                    return Err(failed(&response.status()));
                }
                let version = response.version();
                let body = response.bytes().await.map_err(|error| failed(&error))?;
                Ok((serde_json::from_slice(&body).map_err(|error| failed(&error))?, version))
            }
        }
    }
}

async fn run(options: &Options) -> Result<(), String> {
    let client = Client::new(options)?;
    let (op, user_id) = (options.op.as_str(), options.user_id.as_str());
    let started = Instant::now();
    let (_, version) = std::hint::black_box(client.call(op, user_id).await?);
    let first = started.elapsed();
    // For the benchmark's table: which protocol the client settled on with this server.
    eprintln!("protocol: {version:?}");
    for _ in 0..options.warmup {
        std::hint::black_box(client.call(op, user_id).await?);
    }
    let mut timed = Vec::with_capacity(options.calls);
    let looped = Instant::now();
    for _ in 0..options.calls {
        let started = Instant::now();
        std::hint::black_box(client.call(op, user_id).await?);
        timed.push(started.elapsed());
    }
    let loop_s = looped.elapsed().as_secs_f64();
    timed.sort();
    let mean = timed.iter().sum::<Duration>().as_secs_f64() * 1e6 / timed.len() as f64;
    // Written by hand for the key order (serde_json's map would sort the keys); the
    // peer and op are one of the fixed names `parse` accepts.
    println!(
        "{{\"peer\": \"{}\", \"op\": \"{op}\", \"n\": {}, \"warmup\": {}, \"loop_s\": {loop_s}, \"mean_us\": {mean}, \
         \"median_us\": {}, \"p90_us\": {}, \"p99_us\": {}, \"min_us\": {}, \"first_us\": {}}}",
        options.client,
        options.calls,
        options.warmup,
        median(&timed),
        percentile(&timed, 0.90),
        percentile(&timed, 0.99),
        micros(timed[0]),
        micros(first),
    );
    Ok(())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The nearest-rank percentile of sorted durations, as the live benchmark computes it.
fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    micros(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn median(sorted: &[Duration]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        micros(sorted[n / 2])
    } else {
        (micros(sorted[n / 2 - 1]) + micros(sorted[n / 2])) / 2.0
    }
}
