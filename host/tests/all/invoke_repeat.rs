//! `connector-host invoke --repeat N --warmup W` times N calls of one instance after W
//! untimed ones, and ends its output with one JSON line of figures.

use crate::support::KeepAliveServer;
use serde_json::Value;

#[test]
fn repeat_makes_warmup_plus_n_calls_on_one_connection_and_ends_with_the_json_figures() {
    let server = KeepAliveServer::start();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["invoke", "--config", &server.connection_with_token("http", "t"), "--action", "users.get"])
        .args(["--input", r#"{"userId":"abc"}"#, "--repeat", "5", "--warmup", "2", "--allow-host"])
        .arg(format!("127.0.0.1:{}", server.port))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stderr, "", "no progress bar when stderr is not a terminal");

    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap_or_else(|_| panic!("{stdout}"));
    let members: Vec<&str> = last.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected =
        vec!["peer", "op", "n", "warmup", "loop_s", "mean_us", "median_us", "p90_us", "p99_us", "min_us"];
    expected.sort_unstable();
    assert_eq!(members, expected, "{last}");
    assert_eq!(
        (&last["peer"], &last["op"], &last["n"], &last["warmup"]),
        (&"ours".into(), &"users.get".into(), &5.into(), &2.into())
    );
    let figure = |name: &str| last[name].as_f64().unwrap_or_else(|| panic!("{name} is not a number: {last}"));
    assert!(figure("min_us") > 0.0, "{last}");
    assert!(figure("min_us") <= figure("median_us") && figure("median_us") <= figure("p90_us"), "{last}");
    assert!(figure("p90_us") <= figure("p99_us") && figure("min_us") <= figure("mean_us"), "{last}");
    assert!(figure("mean_us") <= figure("p99_us"), "{last}");
    // The loop holds the five timed calls and nothing else of note.
    assert!(figure("loop_s") * 1e6 >= 5.0 * figure("mean_us"), "{last}");
    assert!(stdout.contains("median"), "{stdout}");

    let seen = server.requests();
    assert_eq!(seen.len(), 7, "two warm-up and five timed calls: {seen:?}");
    assert!(seen.iter().all(|request| request.target == "/v1.0/users/abc"), "{seen:?}");
    assert_eq!(server.accepted_connections(), 1);
}

#[test]
fn warmup_needs_repeat() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["invoke", "--config", "{}", "--action", "users.get", "--warmup", "3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--repeat"));
}
