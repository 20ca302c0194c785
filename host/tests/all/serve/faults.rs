//! Hostile or broken clients each get their documented answer, and the service keeps
//! serving the others: a client that disconnects mid-call, a 50 MB body, a slowloris client,
//! malformed JSON, an unknown action.

use super::api::wait_for_metric;
use super::{log_lines_with, named, raw_exchange, ApiClient, FakeGraph, TestServer};
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

/// A call another client makes after a fault: it must succeed.
async fn another_client_is_served(server: &TestServer) {
    let api = ApiClient::new(server.addr);
    let reply = api.invoke("users.get", &json!({"connection": "f", "input": {"userId": "abc"}})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["output"]["id"], "abc");
}

async fn server(graph: &FakeGraph) -> TestServer {
    TestServer::start(graph, |options| {
        options.connections = vec![named("f", &graph.settings(20))];
        options.header_read_timeout = Duration::from_millis(500);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_call_does_not_cut_the_call_short() {
    let graph = FakeGraph::start();
    let server = server(&graph).await;
    let api = ApiClient::new(server.addr);
    let body = json!({"connection": "f", "input": {"userId": "slow-3"}}).to_string();
    let request = format!(
        "POST /v1/actions/users.get/invoke HTTP/1.1\r\nhost: x\r\nx-request-id: gone-away-1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    wait_for_metric(&api, "connector_calls_in_flight", 1.0).await;
    drop(stream);
    another_client_is_served(&server).await;
    // The call ran to its end in its own task, and its instance went back to the pool.
    wait_for_metric(&api, r#"connector_invocations_total{action="users.get",outcome="ok"}"#, 2.0).await;
    let lines = log_lines_with("gone-away-1");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "ok");
    let metrics = wait_for_metric(&api, "connector_instances_in_use", 0.0).await;
    assert!(super::metric(&metrics, "connector_instances_idle").is_some_and(|idle| idle >= 1.0), "{metrics}");
    assert!(graph.requests().iter().any(|request| request.target == "/v1.0/users/slow-3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_50_mb_is_refused_with_413_declared_or_not() {
    let graph = FakeGraph::start();
    let server = server(&graph).await;
    const FIFTY_MB: usize = 50 * 1024 * 1024;
    for chunked in [false, true] {
        let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let framing =
            if chunked { "transfer-encoding: chunked".to_string() } else { format!("content-length: {FIFTY_MB}") };
        write!(stream, "POST /v1/actions/users.get/invoke HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{framing}\r\n\r\n").unwrap();
        let mut writer = stream.try_clone().unwrap();
        // The body goes out from another thread until the service stops reading it.
        let sender = std::thread::spawn(move || {
            let piece = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < FIFTY_MB {
                let written = if chunked {
                    write!(writer, "{:x}\r\n", piece.len())
                        .and_then(|()| writer.write_all(&piece))
                        .and_then(|()| writer.write_all(b"\r\n"))
                } else {
                    writer.write_all(&piece)
                };
                if written.is_err() {
                    break;
                }
                sent += piece.len();
            }
        });
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(read) = stream.read(&mut buffer) {
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
            if answer.windows(4).any(|window| window == b"\r\n\r\n") && answer.ends_with(b"}}") {
                break;
            }
        }
        drop(stream);
        let _ = sender.join();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "chunked {chunked}: {answer}");
        assert!(answer.contains(r#""code":"payload-too-large""#), "{answer}");
        assert!(answer.contains("larger than the 5242880 bytes the service reads"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("x-request-id: r-"), "{answer}");
        another_client_is_served(&server).await;
    }
    assert!(graph.requests().iter().all(|request| request.method == "POST" || request.target == "/v1.0/users/abc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off_at_the_header_read_timeout() {
    let graph = FakeGraph::start();
    let server = server(&graph).await;
    let addr = server.addr;
    // Sends a request head one byte at a time, a byte every 100 ms, for at most 60 s.
    let slow = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").unwrap();
        let mut reader = stream.try_clone().unwrap();
        reader.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        for _ in 0..600 {
            let mut byte = [0u8; 1];
            match reader.read(&mut byte) {
                Ok(0) => return "closed",
                Ok(_) => return "answered",
                Err(error)
                    if error.kind() == std::io::ErrorKind::WouldBlock
                        || error.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return "closed",
            }
            if stream.write_all(b"x").is_err() {
                return "closed";
            }
        }
        "still open"
    });
    another_client_is_served(&server).await;
    let outcome = tokio::task::spawn_blocking(move || slow.join().unwrap()).await.unwrap();
    // hyper answers a head that did not arrive in time with nothing and closes the connection.
    assert_eq!(outcome, "closed");
    another_client_is_served(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_an_unknown_action_get_their_typed_errors() {
    let graph = FakeGraph::start();
    let server = server(&graph).await;
    let answer = raw_exchange(
        server.addr,
        b"POST /v1/actions/users.get/invoke HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 27\r\n\r\n{\"connection\": \"f\", \"input\"",
    );
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(
        answer.ends_with(r#"{"error":{"code":"invalid-request","graphCode":null,"message":"the invocation is not valid JSON (line 1, column 27)","requestId":null,"retryAfterMs":null,"status":null}}"#),
        "{answer}"
    );
    another_client_is_served(&server).await;
    let api = ApiClient::new(server.addr);
    let unknown = api.invoke("nothing.here", &json!({"connection": "f"})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "unknown-action");
    another_client_is_served(&server).await;
    let connection_garbage = raw_exchange(server.addr, b"NOT HTTP AT ALL\r\n\r\n");
    assert!(!connection_garbage.starts_with("HTTP/1.1 2"), "{connection_garbage}");
    another_client_is_served(&server).await;
}
