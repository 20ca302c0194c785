//! No connection secret leaves the component: every fixture runs, and nothing the
//! component hands back (connect's info or error, each step's output or error, a host
//! failure, its stderr) may contain the connection's client secret, password, refresh or
//! access token, private key (whole or any line of it), a token the token endpoint
//! returned, or the client assertion it sent, in any spelling a server's echo shows
//! (raw, form-encoded, JSON-escaped).
//!
//! Only connection secrets count: a value that is the purpose of an action (the
//! temporary password a password reset returns) is output, not a leak.

use crate::support::{runtime, workspace};
use connector_host::replay::fixture::Fixture;
use connector_host::replay::matcher::ActualRequest;
use connector_host::replay::{collect_fixture_files, paused_runtime, ReplaySession};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::OutboundHttp;
use connector_host::{AllowedHosts, HostPattern};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Secrets shorter than this are not looked for: such strings turn up in any text by
/// chance (one fixture's access token is `t`); the fixtures' secrets are long, obviously
/// fake strings such as `fixture-client-secret`.
const MIN_SECRET_LENGTH: usize = 8;

/// The connection members that hold secrets.
const CONNECTION_SECRET_MEMBERS: &[&str] =
    &["clientSecret", "password", "refreshToken", "accessToken", "privateKeyPem"];

/// The members of token-endpoint responses that hold tokens.
const TOKEN_RESPONSE_MEMBERS: &[&str] = &["access_token", "refresh_token"];

/// The form member of a token request that carries the signed client assertion.
const CLIENT_ASSERTION_MEMBER: &str = "client_assertion";

/// One thing the component handed back, and where it came from.
struct Place {
    name: String,
    text: String,
}

impl Place {
    fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self { name: name.into(), text: text.into() }
    }
}

/// The secrets a fixture gives the component or lets the token endpoint return.
fn fixture_secrets(fixture: &Fixture) -> Vec<String> {
    let mut secrets = Vec::new();
    for member in CONNECTION_SECRET_MEMBERS {
        if let Some(Value::String(secret)) = fixture.connection.get(member) {
            secrets.push(secret.clone());
            // A key is also a leak line by line (a PEM cut into pieces by a message).
            secrets.extend(secret.lines().map(str::trim).filter(|line| !line.starts_with("-----")).map(String::from));
        }
    }
    for step in fixture.steps() {
        for exchange in &step.exchanges {
            if let Some(body) = exchange.response.body() {
                collect_token_members(body, &mut secrets);
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

fn collect_token_members(value: &Value, secrets: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                match member {
                    Value::String(token) if TOKEN_RESPONSE_MEMBERS.contains(&name.as_str()) => {
                        secrets.push(token.clone())
                    }
                    other => collect_token_members(other, secrets),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_token_members(item, secrets)),
        _ => {}
    }
}

/// The client assertions the component sent (whole, and their signatures).
fn sent_assertions(requests: &[ActualRequest]) -> Vec<String> {
    let mut secrets = Vec::new();
    for request in requests {
        let body = String::from_utf8_lossy(&request.body);
        for pair in body.split('&') {
            let Some((name, value)) = pair.split_once('=') else { continue };
            if name != CLIENT_ASSERTION_MEMBER {
                continue;
            }
            let value = percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned();
            if let Some((_, signature)) = value.rsplit_once('.') {
                secrets.push(signature.to_string());
            }
            secrets.push(value);
        }
    }
    secrets
}

/// The spellings a secret takes when a server echoes it: raw, form-encoded (upper- and
/// lower-case hex, `%20` or `+` for a space) and JSON-escaped.
fn spellings(secret: &str) -> Vec<String> {
    let mut upper = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            upper.push(char::from(byte));
        } else {
            upper.push_str(&format!("%{byte:02X}"));
        }
    }
    let mut lower = String::new();
    let mut hex_left: u8 = 0;
    for c in upper.chars() {
        lower.push(if hex_left > 0 { c.to_ascii_lowercase() } else { c });
        hex_left = if c == '%' { 2 } else { hex_left.saturating_sub(1) };
    }
    let quoted = serde_json::to_string(secret).unwrap();
    let mut all = vec![
        secret.to_string(),
        upper.replace("%20", "+"),
        lower.replace("%20", "+"),
        upper,
        lower,
        quoted[1..quoted.len() - 1].to_string(),
    ];
    all.sort();
    all.dedup();
    all
}

/// Every place that contains a secret in any spelling, as readable findings (secrets abbreviated).
fn find_leaks(secrets: &[String], places: &[Place]) -> Vec<String> {
    let mut leaks = Vec::new();
    for secret in secrets.iter().filter(|secret| secret.chars().count() >= MIN_SECRET_LENGTH) {
        let spellings = spellings(secret);
        let leaked = |place: &&Place| spellings.iter().any(|spelling| place.text.contains(spelling.as_str()));
        for place in places.iter().filter(leaked) {
            let shown: String = secret.chars().take(12).collect();
            leaks.push(format!("{} contains the secret `{shown}…`", place.name));
        }
    }
    leaks.sort();
    leaks.dedup();
    leaks
}

/// Runs a fixture the way replay does and gathers everything the component handed back,
/// with every request it sent.
fn observe(fixture: &Fixture) -> (Vec<Place>, Vec<ActualRequest>) {
    let session = Arc::new(Mutex::new(ReplaySession::new(fixture)));
    let mut allowed = AllowedHosts::none();
    for host in fixture.exchange_hosts() {
        if let Ok(pattern) = host.parse::<HostPattern>() {
            allowed.allow(pattern);
        }
    }
    let outbound = OutboundHttp::new(allowed, connector_host::replay::route(session.clone()));
    let places = paused_runtime().unwrap().block_on(async {
        let mut places = Vec::new();
        let mut instance = runtime().instantiate(outbound, TimeSource::Virtual).await.unwrap();
        session.lock().unwrap().begin_connect();
        let connected = instance.connect(&fixture.connection.to_string()).await;
        let _ = session.lock().unwrap().end_phase(false);
        let connected = match connected {
            Ok(Ok(info)) => {
                places.push(Place::new("connect's info", info));
                true
            }
            Ok(Err(error)) => {
                places.push(Place::new("connect's error", error.to_json().to_string()));
                false
            }
            Err(failure) => {
                places.push(Place::new("connect's host failure", failure.to_string()));
                false
            }
        };
        if connected {
            for (index, step) in fixture.steps().iter().enumerate() {
                session.lock().unwrap().begin_step(index, &step.action);
                let name = format!("step {} ({})", index + 1, step.action);
                match instance.invoke(&step.action, &step.input.to_string()).await {
                    Ok(Ok(output)) => places.push(Place::new(format!("{name} output"), output)),
                    Ok(Err(error)) => places.push(Place::new(format!("{name} error"), error.to_json().to_string())),
                    Err(failure) => places.push(Place::new(format!("{name} host failure"), failure.to_string())),
                }
                let _ = session.lock().unwrap().end_phase(true);
            }
        }
        places.push(Place::new("the component's stderr", instance.stderr()));
        places
    });
    let requests = session.lock().unwrap().received_requests().to_vec();
    (places, requests)
}

/// What scanning one fixture found.
struct Scan {
    leaks: Vec<String>,
    secrets_looked_for: usize,
    assertions_sent: usize,
}

/// Runs a fixture and looks for its secrets and the assertions it sent in everything
/// the component handed back.
fn scan(fixture: &Fixture) -> Scan {
    let (places, requests) = observe(fixture);
    let mut secrets = fixture_secrets(fixture);
    let assertions = sent_assertions(&requests);
    let assertions_sent = assertions.len();
    secrets.extend(assertions);
    let secrets_looked_for = secrets.iter().filter(|secret| secret.chars().count() >= MIN_SECRET_LENGTH).count();
    Scan { leaks: find_leaks(&secrets, &places), secrets_looked_for, assertions_sent }
}

#[test]
fn no_fixture_lets_a_connection_secret_out() {
    let files = collect_fixture_files(&[workspace().join("fixtures")]);
    assert!(files.len() > 50, "expected the repository's fixtures, found {}", files.len());
    let mut leaks = Vec::new();
    let mut secrets_looked_for = 0;
    let mut assertions_seen = 0;
    for file in files {
        let path = file.unwrap_or_else(|(path, error)| panic!("{}: {error}", path.display()));
        let fixture = Fixture::load(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let scan = scan(&fixture);
        assertions_seen += scan.assertions_sent;
        secrets_looked_for += scan.secrets_looked_for;
        leaks.extend(scan.leaks.into_iter().map(|leak| format!("{}: {leak}", path.display())));
    }
    assert!(leaks.is_empty(), "secrets left the sandbox:\n{}", leaks.join("\n"));
    // The scan really looked: connection secrets, token responses and signed assertions.
    assert!(secrets_looked_for > 100, "only {secrets_looked_for} secrets were looked for");
    assert!(assertions_seen > 0, "no fixture made the component sign a client assertion");
}

#[test]
fn a_secret_echoed_into_an_output_is_redacted_and_the_scanner_would_catch_it() {
    // The service echoes the connection's access token back; the connector redacts it.
    let fixture = Fixture::parse(
        r#"{
          "name": "planted leak",
          "connection": {"auth": "accessToken", "accessToken": "planted-access-token"},
          "steps": [{
            "action": "users.get",
            "input": {"userId": "abc"},
            "exchanges": [{
              "request": {"method": "GET", "url": "https://graph.microsoft.com/v1.0/users/abc"},
              "response": {"status": 200, "body": {"id": "abc", "displayName": "planted-access-token"}}
            }],
            "expect": {"output": {"id": "abc"}}
          }]
        }"#,
    )
    .unwrap();
    let (places, _) = observe(&fixture);
    let output = places.iter().find(|place| place.name == "step 1 (users.get) output").expect("the step's output");
    assert!(output.text.contains(r#""displayName":"[redacted]""#), "{}", output.text);
    let scan = scan(&fixture);
    assert_eq!(scan.secrets_looked_for, 1);
    assert!(scan.leaks.is_empty(), "{:?}", scan.leaks);
    // Had it been passed on, the scan would have found it.
    let leaked = [Place::new("step 1 (users.get) output", r#"{"id":"abc","displayName":"planted-access-token"}"#)];
    assert_eq!(
        find_leaks(&["planted-access-token".to_string()], &leaked),
        ["step 1 (users.get) output contains the secret `planted-acce…`"]
    );
}

#[test]
fn the_scanner_finds_key_lines_token_responses_and_assertions() {
    let fixture = Fixture::parse(
        r#"{
          "name": "secrets everywhere",
          "connection": {"auth": "certificate", "clientSecret": "s",
                         "privateKeyPem": "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0B\nAQEF\n-----END PRIVATE KEY-----\n"},
          "steps": [{
            "action": "users.get",
            "input": {},
            "exchanges": [{
              "request": {"method": "POST", "url": "https://login.microsoftonline.com/t/oauth2/v2.0/token"},
              "response": {"status": 200, "body": {"token_type": "Bearer", "access_token": "issued-access-token",
                                                   "nested": [{"refresh_token": "issued-refresh-token"}]}}
            }],
            "expect": {"output": {}}
          }]
        }"#,
    )
    .unwrap();
    let mut secrets = fixture_secrets(&fixture);
    let sent = ActualRequest {
        body: b"grant_type=client_credentials&client_assertion=eyJh.eyJp.c2lnbmF0dXJl-part&x=1".to_vec(),
        ..ActualRequest::default()
    };
    secrets.extend(sent_assertions(&[sent]));
    let places = [
        Place::new("error", r#"{"message":"bad key line MIIEvAIBADANBgkqhkiG9w0B"}"#),
        Place::new("output", r#"{"token":"issued-refresh-token"}"#),
        Place::new("stderr", "signed c2lnbmF0dXJl-part"),
        Place::new("clean", "the secret `s` and the key line AQEF are too short to look for"),
    ];
    assert_eq!(
        find_leaks(&secrets, &places),
        [
            "error contains the secret `MIIEvAIBADAN…`",
            "output contains the secret `issued-refre…`",
            "stderr contains the secret `c2lnbmF0dXJl…`",
        ]
    );
    assert!(secrets.contains(&"issued-access-token".to_string()));
}

#[test]
fn the_scanner_finds_form_encoded_and_json_escaped_spellings() {
    let secrets = ["p+ss/w=rd&1 \"x\"".to_string()];
    let places = [
        Place::new("form", "password=p%2Bss%2Fw%3Drd%261%20%22x%22&x=1"),
        Place::new("form, lower-case hex", "password=p%2bss%2fw%3drd%261%20%22x%22"),
        Place::new("form, plus for space", "password=p%2Bss%2Fw%3Drd%261+%22x%22"),
        Place::new("json", r#"{"message":"got p+ss/w=rd&1 \"x\""}"#),
        Place::new("clean", "password=[redacted]"),
    ];
    assert_eq!(
        find_leaks(&secrets, &places),
        [
            "form contains the secret `p+ss/w=rd&1 …`",
            "form, lower-case hex contains the secret `p+ss/w=rd&1 …`",
            "form, plus for space contains the secret `p+ss/w=rd&1 …`",
            "json contains the secret `p+ss/w=rd&1 …`",
        ]
    );
}

/// The Temporary Access Passes Graph returned in a fixture, with the number of the step whose
/// output alone may carry each.
fn temporary_access_passes(fixture: &Fixture) -> Vec<(usize, String)> {
    let mut passes = Vec::new();
    for (index, step) in fixture.steps().iter().enumerate() {
        for exchange in &step.exchanges {
            if let Some(Value::String(pass)) = exchange.response.body().and_then(|body| body.get("temporaryAccessPass"))
            {
                passes.push((index + 1, pass.clone()));
            }
        }
    }
    passes
}

#[test]
fn a_temporary_access_pass_is_in_its_actions_output_and_nowhere_else() {
    let mut passes_seen = 0;
    let mut leaks = Vec::new();
    for file in collect_fixture_files(&[workspace().join("fixtures")]) {
        let path = file.unwrap_or_else(|(path, error)| panic!("{}: {error}", path.display()));
        let fixture = Fixture::load(&path).unwrap();
        let passes = temporary_access_passes(&fixture);
        if passes.is_empty() {
            continue;
        }
        let (places, _) = observe(&fixture);
        for (step, pass) in passes {
            passes_seen += 1;
            let own_output = format!("step {step} (users.create-temporary-access-pass) output");
            let elsewhere: Vec<&Place> = places.iter().filter(|place| place.name != own_output).collect();
            let found: Vec<Place> =
                elsewhere.iter().map(|place| Place::new(place.name.clone(), place.text.clone())).collect();
            leaks.extend(
                find_leaks(std::slice::from_ref(&pass), &found)
                    .into_iter()
                    .map(|leak| format!("{}: {leak}", path.display())),
            );
        }
    }
    assert!(passes_seen > 0, "no fixture creates a Temporary Access Pass");
    assert!(leaks.is_empty(), "a Temporary Access Pass left its own output:\n{}", leaks.join("\n"));
}
