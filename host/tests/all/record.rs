//! `connector-host record`: a scenario run against a local fake Graph and token endpoint that
//! use real-looking secrets and tenant data becomes a fixture that holds none of them, in any
//! spelling, and that replays green (and passes the Graph schema check where it is available).

use crate::support::{runtime, workspace};
use base64ct::{Base64, Base64UrlUnpadded, Encoding as _};
use connector_host::replay::{replay_file, ReplayOptions};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

const TENANT_ID: &str = "b7e3c9a1-5d2f-4e8b-9a6c-3f1d2e4b5c6a";
const TENANT_DOMAIN: &str = "fabrikamresearch.onmicrosoft.com";
const CLIENT_ID: &str = "9d4f2a6b-1c3e-4f5a-8b7c-2e1d0f9a8b7c";
/// A client secret as Entra issues them, with characters every encoder treats differently.
const CLIENT_SECRET: &str = "Qx8Q~vR3.k_Zp9Wm+T2/yLd4=Hs%Ue7 Nc";
const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik1HTHFqOThWTkxvWGFGZnBKQ0JwZ0I0SmFLcyJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20iLCJ0aWQiOiJiN2UzYzlhMSJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5cXq9";
const INITIAL_PASSWORD: &str = "Winter#2026-Lynne!";
const MANAGER_ID: &str = "6e1f8d2c-4b3a-4c5d-9e8f-7a6b5c4d3e2f";
const NEW_USER_ID: &str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

/// A Graph and token endpoint look-alike on 127.0.0.1 with a tenant of its own. Like a
/// hostile server, it echoes the client secret in odd encodings from the token endpoint and
/// the bearer token in a body and a header from Graph.
struct FakeTenant {
    port: u16,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl FakeTenant {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorder = recorder.clone();
                std::thread::spawn(move || serve_connection(stream, port, &recorder));
            }
        });
        Self { port, seen }
    }

    fn connection(&self) -> Value {
        json!({
            "auth": "clientCredentials",
            "tenantId": TENANT_ID,
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "loginBaseUrl": format!("http://127.0.0.1:{}", self.port),
            "graphBaseUrl": format!("http://127.0.0.1:{}/v1.0", self.port),
        })
    }
}

fn serve_connection(stream: TcpStream, port: u16, seen: &Mutex<Vec<(String, String)>>) -> Option<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return Some(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).ok()?;
            match header.trim_end().split_once(':') {
                Some((name, value)) => headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string())),
                None => break,
            }
        }
        let length = headers.iter().find(|(name, _)| name == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        seen.lock().unwrap().push((method.clone(), target.clone()));
        // Through a proxy, a plain-http request names its whole URL: this server plays the
        // proxy for such requests and answers them itself.
        let target = match target.strip_prefix("http://") {
            Some(rest) => rest.find('/').map_or("/".to_string(), |slash| rest[slash..].to_string()),
            None => target,
        };
        let authorization = headers.iter().find(|(name, _)| name == "authorization").map(|(_, v)| v.clone());
        let (status, extra_headers, answer) = answer(port, &method, &target, authorization.as_deref(), &body);
        let mut response =
            format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", answer.len());
        for (name, value) in extra_headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        let stream = reader.get_mut();
        stream.write_all(response.as_bytes()).ok()?;
        stream.write_all(answer.as_bytes()).ok()?;
        stream.flush().ok()?;
    }
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    connector_host::replay::matcher::parse_form(&String::from_utf8_lossy(body))
        .into_iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value)
}

fn answer(
    port: u16,
    method: &str,
    target: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let base = format!("http://127.0.0.1:{port}/v1.0");
    if method == "POST" && target == format!("/{TENANT_ID}/oauth2/v2.0/token") {
        if form_value(body, "client_secret").as_deref() != Some(CLIENT_SECRET) {
            return (401, vec![], json!({"error": "invalid_client"}).to_string());
        }
        // The secret echoed in every spelling a careless server might use.
        let answer = json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": ACCESS_TOKEN,
            "trace": {
                "form_lower": url_encode(CLIENT_SECRET, true, false),
                "percent_upper": url_encode(CLIENT_SECRET, false, true),
                "basic": Base64::encode_string(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes()),
                "base64url": Base64UrlUnpadded::encode_string(CLIENT_SECRET.as_bytes()),
                "html": CLIENT_SECRET.replace('%', "&#37;").replace('+', "&#x2B;"),
            }
        });
        let escaped = answer.to_string().replace('~', "\\u007e").replace('/', "\\/");
        return (200, vec![], escaped);
    }
    if authorization != Some(&format!("Bearer {ACCESS_TOKEN}")) {
        return (401, vec![], json!({"error": {"code": "InvalidAuthenticationToken", "message": "no"}}).to_string());
    }
    let echo_headers = vec![
        ("request-id".to_string(), format!("7f3a-{ACCESS_TOKEN}")),
        ("x-ms-ags-diagnostic".to_string(), format!("{{\"tenant\":\"{TENANT_ID}\"}}")),
    ];
    let manager_path = format!("/v1.0/users/meganb@{TENANT_DOMAIN}");
    let decoded = connector_host::replay::matcher::percent_decode(target, false);
    match (method, decoded.as_str()) {
        ("GET", path) if path.starts_with(&manager_path) => (
            200,
            echo_headers,
            json!({
                "@odata.context": format!("{base}/$metadata#users/$entity"),
                "id": MANAGER_ID,
                "displayName": "Megan Bowen",
                "userPrincipalName": format!("MeganB@{}", TENANT_DOMAIN.to_uppercase()),
                "mail": format!("meganb@{TENANT_DOMAIN}"),
            })
            .to_string(),
        ),
        ("POST", "/v1.0/users") => {
            let sent: Value = serde_json::from_slice(body).unwrap();
            let mut headers = echo_headers;
            headers.push(("location".to_string(), format!("{base}/users/{NEW_USER_ID}")));
            (
                201,
                headers,
                json!({
                    "@odata.context": format!("{base}/$metadata#users/$entity"),
                    "id": NEW_USER_ID,
                    "displayName": sent["displayName"],
                    "userPrincipalName": sent["userPrincipalName"],
                    "mail": null,
                    "officeLocation": format!("seen with Bearer {ACCESS_TOKEN}"),
                })
                .to_string(),
            )
        }
        ("PUT", path) if path == format!("/v1.0/users/{NEW_USER_ID}/manager/$ref") => (204, echo_headers, String::new()),
        ("GET", path) if path.starts_with("/v1.0/users?") && !path.contains("$skiptoken") => (
            200,
            echo_headers,
            json!({
                "@odata.context": format!("{base}/$metadata#users"),
                "@odata.nextLink": format!("{base}/users?$top=2&$skiptoken=RFNwdAIAAQAAAB86"),
                "value": [
                    {"id": MANAGER_ID, "displayName": "Megan Bowen", "userPrincipalName": format!("meganb@{TENANT_DOMAIN}")},
                    {"id": NEW_USER_ID, "displayName": "Lynne Robbins", "userPrincipalName": format!("lynner@{TENANT_DOMAIN}")},
                ]
            })
            .to_string(),
        ),
        ("GET", path) if path.starts_with("/v1.0/users?") => (
            200,
            echo_headers,
            json!({
                "@odata.context": format!("{base}/$metadata#users"),
                "value": [
                    {"id": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "displayName": "Adele Vance",
                     "userPrincipalName": format!("adelev@{TENANT_DOMAIN}"), "employeeId": TENANT_ID.to_uppercase()},
                ]
            })
            .to_string(),
        ),
        _ => (404, echo_headers, json!({"error": {"code": "Request_ResourceNotFound", "message": target}}).to_string()),
    }
}

fn url_encode(text: &str, plus: bool, upper: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(byte as char),
            b' ' if plus => out.push('+'),
            _ if upper => out.push_str(&format!("%{byte:02X}")),
            _ => out.push_str(&format!("%{byte:02x}")),
        }
    }
    out
}

/// Every spelling of `secret` a recording must not hold.
fn spellings(secret: &str) -> Vec<String> {
    let json_escaped = serde_json::to_string(secret).unwrap().trim_matches('"').to_string();
    let mut spellings = vec![
        secret.to_string(),
        json_escaped.clone(),
        json_escaped.replace('/', "\\/").replace('~', "\\u007e"),
        url_encode(secret, true, true),
        url_encode(secret, true, false),
        url_encode(secret, false, true),
        url_encode(secret, false, false),
        secret.bytes().map(|byte| format!("%{byte:02X}")).collect(),
        Base64::encode_string(secret.as_bytes()),
        Base64UrlUnpadded::encode_string(secret.as_bytes()),
        Base64::encode_string(format!("{CLIENT_ID}:{secret}").as_bytes()),
    ];
    if let Some(signature) = secret.rsplit('.').next().filter(|_| secret.contains('.') && secret.len() > 40) {
        spellings.push(signature.to_string());
    }
    spellings
}

fn scenario_file(dir: &Path) -> PathBuf {
    let path = dir.join("onboarding-steps.json");
    let scenario = json!({
        "name": format!("onboarding in {TENANT_DOMAIN}"),
        "steps": [
            {"action": "users.get", "input": {"userId": format!("meganb@{TENANT_DOMAIN}")}},
            {"action": "users.create", "input": {
                "accountEnabled": true,
                "displayName": "Lynne Robbins",
                "mailNickname": "lrobbins",
                "userPrincipalName": format!("lynner@{TENANT_DOMAIN}"),
                "passwordProfile": {"password": INITIAL_PASSWORD, "forceChangePasswordNextSignIn": true},
                "manager": format!("meganb@{TENANT_DOMAIN}"),
            }},
            {"action": "users.list", "input": {"top": 2, "maxItems": 0}},
        ]
    });
    std::fs::write(&path, serde_json::to_string_pretty(&scenario).unwrap()).unwrap();
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("connector-host-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn record_cli(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .arg("record")
        .args(args)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .unwrap()
}

fn describe(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_recorded_scenario_holds_no_secret_or_tenant_data_and_replays_green() {
    let tenant = FakeTenant::start();
    let dir = temp_dir("scenario");
    let config = dir.join("connection.json");
    std::fs::write(&config, tenant.connection().to_string()).unwrap();
    let scenario = scenario_file(&dir);
    let out = dir.join("onboarding.recorded.json");
    let graph_rule = format!(r"http://127\.0\.0\.1:{}/v1\.0=https://graph.microsoft.com/v1.0", tenant.port);
    let login_rule = format!(r"http://127\.0\.0\.1:{}=https://login.microsoftonline.com", tenant.port);
    let allowed = format!("127.0.0.1:{}", tenant.port);
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--allow-host",
        &allowed,
        "--scrub",
        &graph_rule,
        "--scrub",
        &login_rule,
        "--scrub-email",
    ];
    let output = record_cli(&args);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("recorded 3 step(s), 7 exchange(s)"), "{}", describe(&output));
    assert!(stdout.contains("\nok onboarding in contoso.onmicrosoft.com"), "{}", describe(&output));
    assert!(stdout.ends_with("the fixture replays\n"), "{}", describe(&output));
    assert_eq!(
        tenant.seen.lock().unwrap().iter().map(|(method, _)| method.as_str()).collect::<Vec<_>>(),
        ["POST", "GET", "POST", "GET", "PUT", "GET", "GET"],
        "the scenario ran live against the fake tenant"
    );

    // Nothing of the tenant's secrets or identity, in any spelling, anywhere in the file.
    let text = std::fs::read_to_string(&out).unwrap();
    for secret in [CLIENT_SECRET, ACCESS_TOKEN, INITIAL_PASSWORD] {
        for spelling in spellings(secret) {
            assert!(!text.contains(&spelling), "{spelling:?} (of a secret) is in the recording:\n{text}");
        }
    }
    let lower = text.to_ascii_lowercase();
    for tenant_data in [TENANT_ID, "fabrikamresearch", "meganb", "lynner", "adelev", "127.0.0.1", "x-ms-ags-diagnostic"]
    {
        assert!(!lower.contains(tenant_data), "{tenant_data} is in the recording:\n{text}");
    }

    // The connection carries the placeholders the exchanges use, so it replays as is.
    let fixture: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        fixture["connection"],
        json!({
            "auth": "clientCredentials",
            "tenantId": "00000000-0000-0000-0000-000000000000",
            "clientId": CLIENT_ID,
            "clientSecret": "<client-secret>",
            "loginBaseUrl": "https://login.microsoftonline.com",
            "graphBaseUrl": "https://graph.microsoft.com/v1.0",
        })
    );
    let steps = fixture["steps"].as_array().unwrap();
    let token = &steps[0]["exchanges"][0];
    assert_eq!(
        token["request"]["url"],
        "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token"
    );
    assert_eq!(token["request"]["body"]["client_secret"], "<client-secret>");
    assert_eq!(token["response"]["body"]["access_token"], "<access-token>");
    assert!(token["response"]["body"]["trace"]["basic"].as_str().unwrap().contains("<client-secret>"));
    let lookup = &steps[0]["exchanges"][1]["request"];
    assert_eq!(lookup["url"], "https://graph.microsoft.com/v1.0/users/user1@contoso.onmicrosoft.com");
    assert_eq!(lookup["headers"]["authorization"], "Bearer <access-token>");
    assert_eq!(steps[0]["input"]["userId"], "user1@contoso.onmicrosoft.com");
    let create = &steps[1];
    assert_eq!(create["input"]["passwordProfile"]["password"], "<password>");
    assert_eq!(create["input"]["manager"], "user1@contoso.onmicrosoft.com");
    assert_eq!(create["exchanges"][0]["request"]["body"]["passwordProfile"]["password"], "<password>");
    assert_eq!(create["exchanges"][0]["response"]["headers"]["request-id"], "7f3a-<access-token>");
    assert_eq!(
        create["exchanges"][0]["response"]["headers"]["location"],
        format!("https://graph.microsoft.com/v1.0/users/{NEW_USER_ID}")
    );
    assert_eq!(
        create["exchanges"][1]["request"]["url"],
        "https://graph.microsoft.com/v1.0/users/user1@contoso.onmicrosoft.com?$select=id"
    );
    let list = &steps[2];
    assert_eq!(
        list["exchanges"][0]["response"]["body"]["@odata.nextLink"], list["exchanges"][1]["request"]["url"],
        "the next link and the request it led to were scrubbed alike"
    );
    assert_eq!(list["expect"]["output"]["value"][2]["employeeId"], "00000000-0000-0000-0000-000000000000");

    // It replays green through the library as well, and passes the Graph schema check.
    let outcome = replay_file(runtime(), &out, &ReplayOptions::default());
    assert!(outcome.passed(), "{:#?}", outcome.differences);
    let check = workspace().join("../shared/graph-schema/check.py");
    if check.exists() {
        let checked = std::process::Command::new("python3").arg(&check).arg("--strict").arg(&out).output().unwrap();
        assert!(checked.status.success(), "check.py --strict:\n{}", describe(&checked));
    } else if std::env::var_os("CI").is_some() {
        panic!("CI runs with ../shared/graph-schema/check.py beside the repository");
    }

    // A second run does not overwrite the file without --force.
    let again = record_cli(&args);
    assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists; pass --force to overwrite it"),
        "{}",
        describe(&again)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recording_goes_through_the_proxy_of_the_flag_or_the_environment() {
    // The tenant's URLs point at a port nothing listens on; only a proxy reaches the tenant.
    let tenant = FakeTenant::start();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = temp_dir("proxy");
    let mut connection = tenant.connection();
    connection["loginBaseUrl"] = json!(format!("http://127.0.0.1:{unused}"));
    connection["graphBaseUrl"] = json!(format!("http://127.0.0.1:{unused}/v1.0"));
    let config = dir.join("connection.json");
    std::fs::write(&config, connection.to_string()).unwrap();
    let allowed = format!("127.0.0.1:{unused}");
    let proxy = format!("http://127.0.0.1:{}", tenant.port);
    for (index, via_environment) in [false, true].into_iter().enumerate() {
        let out = dir.join(format!("get-{index}.json"));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"));
        command.args(["record", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        command.args(["--action", "users.get", "--input", &format!(r#"{{"userId":"meganb@{TENANT_DOMAIN}"}}"#)]);
        command.args(["--allow-host", &allowed]);
        for name in
            ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]
        {
            command.env_remove(name);
        }
        if via_environment {
            command.env("HTTP_PROXY", &proxy);
        } else {
            command.args(["--proxy", &proxy]);
        }
        let before = tenant.seen.lock().unwrap().len();
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        let seen: Vec<(String, String)> = tenant.seen.lock().unwrap()[before..].to_vec();
        assert_eq!(
            seen,
            [
                ("POST".to_string(), format!("http://127.0.0.1:{unused}/{TENANT_ID}/oauth2/v2.0/token")),
                ("GET".to_string(), format!("http://127.0.0.1:{unused}/v1.0/users/meganb@{TENANT_DOMAIN}")),
            ],
            "every request went to the proxy in absolute form"
        );
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(!text.contains(CLIENT_SECRET) && !text.contains(ACCESS_TOKEN) && !text.contains(TENANT_ID), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
