//! The sandbox refuses hosts outside the allowlist before any network.

use crate::support::{runtime, LocalServer};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::sandbox::runtime::ErrorCode;
use connector_host::{AllowedHosts, ConnectorError, HostError, Instance, Limits};
use serde_json::Value;
use std::time::Duration;

/// Runs `users.get` against the local server with only `allowed` reachable; time is
/// virtual, so the connector's retries of the refused request cost nothing.
fn get_user_allowing(server: &LocalServer, allowed: AllowedHosts) -> Result<String, ConnectorError> {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    tokio
        .block_on(async {
            let mut instance =
                runtime().instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Virtual).await?;
            instance.connect(&server.connection()).await?.expect("the connection is accepted");
            instance.invoke("users.get", r#"{"userId":"abc"}"#).await
        })
        .expect("the host runs the call")
}

#[test]
fn a_host_outside_the_allowlist_is_refused_with_a_transport_error() {
    let server = LocalServer::start();
    let error = get_user_allowing(&server, AllowedHosts::none()).expect_err("the request is refused");
    assert_eq!(error.code, ErrorCode::Transport, "{error}");
    assert!(server.requests().is_empty(), "no request reached the server");
}

#[test]
fn the_cli_reports_a_typed_error_as_json_on_stderr_with_exit_status_1() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["invoke", "--config", r#"{"auth":"carrierPigeon"}"#, "--action", "users.get"])
        .args(["--input", r#"{"userId":"abc"}"#])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "a typed error exits with 1");
    let error: Value = serde_json::from_slice(&output.stderr).expect("the typed error is JSON on stderr");
    assert_eq!(error["code"], "invalid-config", "{error}");
    assert!(output.stdout.is_empty());
}

#[test]
fn the_allowlist_port_must_match_when_given() {
    let server = LocalServer::start();
    let other_port = format!("127.0.0.1:{}", server.port.wrapping_add(1));
    let error = get_user_allowing(&server, AllowedHosts::from_patterns([other_port.parse().unwrap()]))
        .expect_err("the request is refused");
    assert_eq!(error.code, ErrorCode::Transport, "{error}");
    assert!(server.requests().is_empty());
}

/// Binds a loopback port that accepts connections and never answers.
fn silent_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    (port, handle)
}

#[test]
fn a_call_past_its_deadline_is_stopped_and_the_instance_dropped() {
    let (port, _server) = silent_server();
    let limits = Limits { invocation_deadline: Duration::from_millis(300), ..Limits::default() };
    let runtime = runtime().with_limits(limits);
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{port}").parse().unwrap()]);
    let config = format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{port}/v1.0"}}"#);
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let mut instance: Instance =
            runtime.instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Real).await.unwrap();
        instance.connect(&config).await.unwrap().unwrap();
        let started = std::time::Instant::now();
        let error =
            instance.invoke("users.get", r#"{"userId":"abc"}"#).await.expect_err("the silent server never answers");
        assert!(matches!(error, HostError::DeadlineExceeded { .. }), "{error}");
        assert!(error.to_string().starts_with("deadline exceeded"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(instance.has_failed());
        let again = instance.invoke("users.get", "{}").await.expect_err("the instance is dropped");
        assert!(matches!(again, HostError::InstanceFailed), "{again}");
    });
}

#[test]
fn memory_growth_past_the_cap_is_a_memory_limit_error() {
    let limits = Limits { memory_bytes: 8 * 1024 * 1024, ..Limits::default() };
    let runtime = runtime().with_limits(limits);
    let huge_input = format!(r#"{{"userId":"{}"}}"#, "a".repeat(16 * 1024 * 1024));
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    tokio.block_on(async {
        let mut instance = runtime
            .instantiate(OutboundHttp::new(AllowedHosts::none(), Route::Live), TimeSource::Virtual)
            .await
            .unwrap();
        let connected = instance.connect(r#"{"auth":"accessToken","accessToken":"t"}"#).await.unwrap();
        assert!(connected.is_ok(), "{connected:?}");
        let error =
            instance.invoke("users.get", &huge_input).await.expect_err("copying 16 MiB into an 8 MiB instance fails");
        assert!(matches!(error, HostError::MemoryLimit { limit_bytes: 8388608, .. }), "{error}");
        assert!(instance.has_failed());
    });
}

#[test]
fn a_cap_below_the_memory_the_component_starts_with_fails_instantiation_naming_both() {
    let limits = Limits { memory_bytes: 1024 * 1024, ..Limits::default() };
    let runtime = runtime().with_limits(limits);
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let error = tokio
        .block_on(runtime.instantiate(OutboundHttp::new(AllowedHosts::none(), Route::Live), TimeSource::Virtual))
        .err()
        .expect("a 1 MiB cap is below the component's initial memory");
    let HostError::Instantiate { reason } = &error else { panic!("not an instantiation error: {error}") };
    assert!(reason.contains("2097152 bytes of memory") && reason.contains("cap of 1048576 bytes"), "{reason}");

    // The pooling allocator's slots are as large as the cap: it refuses the component at once.
    let options = connector_host::sandbox::runtime::RuntimeOptions {
        allocation: connector_host::sandbox::runtime::InstanceAllocation::Pooling { max_instances: 1 },
        ..Default::default()
    };
    let error = connector_host::embedded::runtime_with_options(limits, &options)
        .err()
        .expect("a 1 MiB cap is below the component's initial memory");
    let HostError::Compile { reason } = &error else { panic!("not a compile error: {error}") };
    assert!(reason.contains("minimum byte size of 2097152"), "{reason}");
}

/// An interceptor that answers requests whose path ends in `/answered-here` with a canned
/// 404 and passes every other one on to the network, recording the paths it saw.
struct AnswerOrPassOn {
    seen: std::sync::Mutex<Vec<String>>,
}

impl connector_host::sandbox::http_policy::Interceptor for AnswerOrPassOn {
    fn intercept(
        &self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _body_cap: usize,
    ) -> connector_host::sandbox::http_policy::Interception {
        use connector_host::sandbox::http_policy::Interception;
        use http_body_util::BodyExt;
        let path = request.uri().path().to_string();
        self.seen.lock().unwrap().push(path.clone());
        if !path.ends_with("/answered-here") {
            return Interception::PassOn(Box::new(request));
        }
        Interception::Answer(Box::new(async move {
            let body = r#"{"error":{"code":"Request_ResourceNotFound","message":"answered by the interceptor"}}"#;
            let response = http::Response::builder()
                .status(404)
                .header("content-type", "application/json")
                .body(
                    http_body_util::Full::new(bytes::Bytes::from(body)).map_err(|never| match never {}).boxed_unsync(),
                )
                .unwrap();
            let io: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, io))
        }))
    }
}

#[test]
fn an_interceptor_answers_a_request_itself_or_passes_it_on_to_the_network() {
    let server = LocalServer::start();
    let interceptor = std::sync::Arc::new(AnswerOrPassOn { seen: std::sync::Mutex::new(Vec::new()) });
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{}", server.port).parse().unwrap()]);
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (passed_on, answered) = tokio
        .block_on(async {
            let outbound = OutboundHttp::new(allowed, Route::Intercept(interceptor.clone()));
            let mut instance = runtime().instantiate(outbound, TimeSource::Real).await?;
            instance.connect(&server.connection()).await?.expect("the connection is accepted");
            let passed_on = instance.invoke("users.get", r#"{"userId":"abc"}"#).await?;
            let answered = instance.invoke("users.get", r#"{"userId":"answered-here"}"#).await?;
            Ok::<_, HostError>((passed_on, answered))
        })
        .unwrap();
    let user: Value = serde_json::from_str(&passed_on.expect("passed on to the local server")).unwrap();
    assert_eq!(user["displayName"], "Adele Vance");
    let error = answered.expect_err("the interceptor's 404");
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::NotFound, "answered by the interceptor"));
    assert_eq!(server.requests().len(), 1, "only the request passed on reached the network");
    assert_eq!(*interceptor.seen.lock().unwrap(), ["/v1.0/users/abc", "/v1.0/users/answered-here"]);
}

fn shown(allowed: &AllowedHosts) -> Vec<String> {
    allowed.patterns().iter().map(ToString::to_string).collect()
}

#[test]
fn the_graph_component_declares_the_login_and_graph_hosts_of_every_cloud() {
    assert_eq!(
        shown(runtime().declared_hosts()),
        [
            "login.microsoftonline.com",
            "graph.microsoft.com",
            "login.microsoftonline.us",
            "graph.microsoft.us",
            "dod-graph.microsoft.us",
            "login.chinacloudapi.cn",
            "microsoftgraph.chinacloudapi.cn",
        ]
    );
}

/// What an instance may reach after opening a connection with `config`, given `extra` hosts.
fn reachable_after_open(config: &str, extra: AllowedHosts) -> Vec<String> {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let mut instance =
            runtime().instantiate(OutboundHttp::new(extra, Route::Live), TimeSource::Virtual).await.unwrap();
        instance.connect(config).await.unwrap().expect("the connection is accepted");
        shown(&instance.allowed_hosts())
    })
}

#[test]
fn a_connection_reaches_the_declared_hosts_its_description_names_and_nothing_else() {
    let secret = r#"{"auth":"clientCredentials","tenantId":"contoso.onmicrosoft.com","clientId":"c","clientSecret":"s"#;
    assert_eq!(
        reachable_after_open(&format!("{secret}\"}}"), AllowedHosts::none()),
        ["login.microsoftonline.com", "graph.microsoft.com"]
    );
    assert_eq!(
        reachable_after_open(&format!("{secret}\",\"cloud\":\"china\"}}"), AllowedHosts::none()),
        ["login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn"]
    );
    // Settings that point Graph elsewhere: the host reaches the declared login host only,
    // and the other host only when its operator allows it.
    let elsewhere = format!("{secret}\",\"graphBaseUrl\":\"https://graph.evil.example/v1.0\"}}");
    assert_eq!(reachable_after_open(&elsewhere, AllowedHosts::none()), ["login.microsoftonline.com"]);
    assert_eq!(
        reachable_after_open(&elsewhere, AllowedHosts::from_patterns(["graph.evil.example".parse().unwrap()])),
        ["login.microsoftonline.com", "graph.evil.example"]
    );
}

#[test]
fn requests_an_interceptor_passes_on_go_through_the_instances_proxy() {
    // The local server plays a plain-http proxy: it records the absolute URL it is sent.
    let proxy = LocalServer::start();
    let proxy_url: connector_host::http::live_http::ProxyUrl =
        format!("http://127.0.0.1:{}", proxy.port).parse().unwrap();
    let live = connector_host::http::live_http::LiveHttp::new(Some(proxy_url), &[]).unwrap();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{unused}").parse().unwrap()]);
    let connection =
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{unused}/v1.0"}}"#);
    let interceptor = std::sync::Arc::new(AnswerOrPassOn { seen: std::sync::Mutex::new(Vec::new()) });
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio
        .block_on(async {
            let outbound = OutboundHttp::new(allowed, Route::Intercept(interceptor.clone())).passing_on_to(live);
            let mut instance = runtime().instantiate(outbound, TimeSource::Real).await?;
            instance.connect(&connection).await?.expect("the connection is accepted");
            instance.invoke("users.get", r#"{"userId":"abc"}"#).await
        })
        .unwrap()
        .expect_err("the proxy answers 404 to an absolute URL");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, format!("http://127.0.0.1:{unused}/v1.0/users/abc"));
}
