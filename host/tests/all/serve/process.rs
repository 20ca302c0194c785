//! The `serve` subcommand as an operator runs it: the refusal to listen beyond loopback
//! without API keys, and SIGTERM finishing the call in flight.

use super::{client_id, secret_of, token_of, ApiClient, FakeGraph};
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_connector-host"))
}

#[test]
fn serve_refuses_a_non_loopback_address_without_an_api_key_file() {
    let output = host().args(["serve", "--no-cache", "--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: refusing to listen on 0.0.0.0:0 without --api-key-file: only a loopback address may be served without API keys\n"
    );
}

#[test]
fn serve_refuses_an_api_key_file_with_a_short_key() {
    let dir = std::env::temp_dir().join(format!("serve-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys");
    std::fs::write(&keys, "# rotated monthly\nshort\n").unwrap();
    let output = host().args(["serve", "--no-cache", "--api-key-file"]).arg(&keys).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2 of the API key file") && stderr.contains("fewer than 16 characters"), "{stderr}");
    assert!(!stderr.contains("short\n"), "{stderr}");
}

#[test]
fn sigterm_stops_accepting_and_lets_the_call_in_flight_finish() {
    let graph = FakeGraph::start();
    let dir = std::env::temp_dir().join(format!("serve-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let connections = dir.join("connections.json");
    std::fs::write(&connections, json!({"tenant": graph.settings(30)}).to_string()).unwrap();
    let mut child = host()
        .args(["serve", "--listen", "127.0.0.1:0", "--cache-dir"])
        .arg(env!("CARGO_TARGET_TMPDIR"))
        .arg("--connections")
        .arg(&connections)
        .arg("--allow-host")
        .arg(format!("127.0.0.1:{}", graph.port))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("connector-host serve: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();

    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let reply = tokio.block_on(async {
        let api = ApiClient::new(address);
        let caller = api.clone();
        let slow = tokio::spawn(async move {
            caller
                .send(
                    "POST",
                    "/v1/actions/users.get/invoke",
                    &[("x-request-id", "in-flight-at-sigterm")],
                    Some(json!({"connection": "tenant", "input": {"userId": "slow-9"}}).to_string()),
                )
                .await
        });
        super::api::wait_for_metric(&api, "connector_calls_in_flight", 1.0).await;
        let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        slow.await.unwrap()
    });
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["output"]["id"], "slow-9");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(std::net::TcpStream::connect(address).is_err(), "nothing listens after the exit");

    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect();
    let call = lines.iter().find(|line| line["request_id"] == "in-flight-at-sigterm").expect("the call's log line");
    assert_eq!(call["outcome"], "ok");
    assert_eq!(call["action"], "users.get");
    assert!(lines.iter().any(|line| line["message"] == "shutting down"), "{stderr}");
    for secret in [secret_of(&client_id(30)), token_of(&client_id(30))] {
        assert!(!stderr.contains(&secret), "{stderr}");
    }
}
