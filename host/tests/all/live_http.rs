//! Live calls go through Wasmtime's real wasi-http client.

use crate::support::{runtime, LocalServer};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
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

/// Serves one `users.get` whose answer arrives in pieces, with a pause after each, framed by
/// `Content-Length` or, when `chunked`, by chunked transfer coding.
fn serve_in_pieces(listener: std::net::TcpListener, body: String, chunked: bool) {
    use std::io::{BufRead, BufReader, Write};
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
        line.clear();
    }
    let stream = reader.get_mut();
    let framing =
        if chunked { "transfer-encoding: chunked".to_string() } else { format!("content-length: {}", body.len()) };
    write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n")
        .unwrap();
    let pieces: Vec<&[u8]> = body.as_bytes().chunks(body.len().div_ceil(4)).collect();
    for piece in pieces {
        if chunked {
            write!(stream, "{:x}\r\n", piece.len()).unwrap();
            stream.write_all(piece).unwrap();
            stream.write_all(b"\r\n").unwrap();
        } else {
            stream.write_all(piece).unwrap();
        }
        stream.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").unwrap();
    }
    stream.flush().unwrap();
}

#[test]
fn an_answer_that_arrives_in_pieces_is_read_whole() {
    // About 300 KB, sent in four pieces 30 ms apart: the component reads what is there, waits
    // for the rest, and grows its buffer, with and without a declared length.
    let about = "x".repeat(300_000);
    let body = serde_json::json!({"id": "abc", "displayName": "Adele Vance", "aboutMe": about}).to_string();
    for chunked in [false, true] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = body.clone();
        let server = std::thread::spawn(move || serve_in_pieces(listener, served, chunked));
        let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{port}").parse().unwrap()]);
        let connection =
            format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{port}/v1.0"}}"#);
        let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let output = tokio
            .block_on(async {
                let mut instance =
                    runtime().instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Real).await?;
                instance.connect(&connection).await?.expect("the connection is accepted");
                instance.invoke("users.get", r#"{"userId":"abc"}"#).await
            })
            .expect("the host runs the call")
            .unwrap_or_else(|error| panic!("users.get failed (chunked: {chunked}): {error:?}"));
        server.join().unwrap();
        let output: Value = serde_json::from_str(&output).unwrap();
        assert_eq!(output["aboutMe"].as_str().map(str::len), Some(300_000), "chunked: {chunked}");
        assert_eq!(output["displayName"], "Adele Vance");
    }
}

/// A server on loopback that reads each request and then sends `head` (perhaps nothing) and
/// stalls, holding the connection for a minute; returns its port.
fn stalling_server(head: &'static str) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let _ = reader.get_mut().write_all(head.as_bytes());
                let _ = reader.get_mut().flush();
                std::thread::sleep(std::time::Duration::from_secs(60));
            });
        }
    });
    port
}

/// `users.get` of `abc` on a fresh live instance, with the connection's `timeoutMs`.
fn get_with_timeout(port: u16, timeout_ms: u64) -> Result<String, connector_host::ConnectorError> {
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{port}").parse().unwrap()]);
    let connection = format!(
        r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{port}/v1.0","timeoutMs":{timeout_ms}}}"#
    );
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio
        .block_on(async {
            let mut instance = runtime().instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Real).await?;
            instance.connect(&connection).await?.expect("the connection is accepted");
            instance.invoke("users.get", r#"{"userId":"abc"}"#).await
        })
        .expect("the connector ends the call itself, before the host's own limit")
}

#[test]
fn a_server_that_never_answers_is_cut_at_the_connectors_deadline_as_a_typed_error() {
    let port = stalling_server("");
    let error = get_with_timeout(port, 1_000).unwrap_err();
    assert_eq!(error.code, connector_host::sandbox::runtime::ErrorCode::Transport, "{error:?}");
    assert!(error
        .message
        .starts_with(&format!("GET http://127.0.0.1:{port}/v1.0/users/abc: the invocation's deadline")));
    assert!(error.message.contains("1000 ms"), "{}", error.message);
}

#[test]
fn an_answer_that_stalls_half_way_is_cut_at_the_connectors_deadline() {
    // The head and ten of the thousand declared bytes, then nothing.
    let port = stalling_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"id\":\"ab",
    );
    let error = get_with_timeout(port, 1_000).unwrap_err();
    assert_eq!(error.code, connector_host::sandbox::runtime::ErrorCode::Transport, "{error:?}");
    assert!(error.message.contains("the invocation's deadline"), "{}", error.message);
}

#[test]
fn the_cli_timeout_bounds_a_live_call_and_a_cut_call_is_a_typed_error() {
    let port = stalling_server("");
    let connection =
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{port}/v1.0"}}"#);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["invoke", "--config", &connection, "--action", "users.get", "--timeout-ms", "1000"])
        .args(["--input", r#"{"userId":"abc"}"#, "--allow-host"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a typed error, not a host failure: {stderr}");
    let error: Value = serde_json::from_str(&stderr).unwrap_or_else(|_| panic!("not a typed error: {stderr}"));
    assert_eq!(error["code"], "transport");
    assert!(error["message"].as_str().unwrap().contains("/v1.0/users/abc: the invocation's deadline"), "{error}");
}

#[test]
fn request_options_given_up_by_the_component_leave_the_host_table() {
    // Each request of the component carries wasi-http request options: the host must take
    // them out of its resource table, so the instance holds as much after ten calls as after one.
    let server = LocalServer::start();
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{}", server.port).parse().unwrap()]);
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (after_one, after_ten) = tokio
        .block_on(async {
            let mut instance = runtime().instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Real).await?;
            instance.connect(&server.connection()).await?.expect("the connection is accepted");
            instance.invoke("users.get", r#"{"userId":"abc"}"#).await?.expect("users.get succeeds");
            let after_one = instance.resource_count();
            for _ in 0..9 {
                instance.invoke("users.get", r#"{"userId":"abc"}"#).await?.expect("users.get succeeds");
            }
            Ok::<_, connector_host::HostError>((after_one, instance.resource_count()))
        })
        .unwrap();
    assert_eq!(server.requests().len(), 10);
    assert_eq!(after_one, after_ten, "the instance's resource table grew with every request");
}

#[test]
fn a_list_without_end_returns_what_fits_with_its_next_link_instead_of_outgrowing_the_sandbox() {
    use std::io::{BufRead, BufReader, Write};
    // A hostile Graph: pages of 4 MB, each pointing at a next one, forever.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pages_served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = pages_served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let page: usize = request_line
                .split("skiptoken=")
                .nth(1)
                .and_then(|rest| rest.split(' ').next()?.parse().ok())
                .unwrap_or(0);
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let items: Vec<Value> = (0..4)
                .map(|i| serde_json::json!({"id": format!("{page}-{i}"), "aboutMe": "x".repeat(1_000_000)}))
                .collect();
            let next = format!("http://127.0.0.1:{port}/v1.0/users?$skiptoken={}", page + 1);
            let body = serde_json::json!({"value": items, "@odata.nextLink": next}).to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let stream = reader.get_mut();
            let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes()));
        }
    });
    let allowed = AllowedHosts::from_patterns([format!("127.0.0.1:{port}").parse().unwrap()]);
    let connection =
        format!(r#"{{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:{port}/v1.0"}}"#);
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let output = tokio
        .block_on(async {
            let mut instance = runtime().instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Real).await?;
            instance.connect(&connection).await?.expect("the connection is accepted");
            instance.invoke("users.list", r#"{"maxItems":0}"#).await
        })
        .expect("the call stays inside the sandbox's memory")
        .expect("users.list returns what it gathered");
    let output: Value = serde_json::from_str(&output).unwrap();
    let served = pages_served.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..10).contains(&served), "{served} pages read");
    assert_eq!(output["value"].as_array().unwrap().len(), served * 4);
    assert_eq!(output["nextLink"], format!("http://127.0.0.1:{port}/v1.0/users?$skiptoken={served}"));
}
