//! Live calls go through Wasmtime's real wasi-http client.

use crate::support::{runtime, LocalServer};
use connector_host::clock::TimeSource;
use connector_host::http_policy::{OutboundHttp, Route};
use connector_host::AllowedHosts;
use serde_json::Value;

#[test]
fn an_invoke_reaches_a_local_server_with_the_exact_request() {
    let server = LocalServer::start();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{}", server.port).parse().unwrap()]);
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let output = tokio
        .block_on(async {
            let outbound = OutboundHttp::new(allowed, Route::Live);
            let mut instance = runtime().instantiate(outbound, TimeSource::Real).await?;
            instance.connect(&server.connection()).await?.expect("the connection is accepted");
            instance.invoke("users.get", r#"{"userId":"abc"}"#).await
        })
        .expect("the host runs the call")
        .expect("users.get succeeds");

    let output: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(output["id"], "abc");
    assert_eq!(output["displayName"], "Adele Vance");
    assert_eq!(output["mail"], "AdeleV@contoso.com");

    let seen = server.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/v1.0/users/abc");
    assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
}

#[test]
fn the_cli_invoke_prints_the_output_of_a_live_call() {
    let server = LocalServer::start();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["invoke", "--config", &server.connection(), "--action", "users.get"])
        .args(["--input", r#"{"userId":"abc"}"#, "--allow-host"])
        .arg(format!("127.0.0.1:{}", server.port))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["displayName"], "Adele Vance");
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer t"));
}
