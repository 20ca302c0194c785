//! Contract 0.2 as the components build it: they import exactly what the world declares,
//! the world's docs are embedded where decoders find them, and the `connection` resource,
//! the stateless `call` and `dry-run` behave as the WIT says, through the host and its CLI.

use crate::support::{runtime, workspace, LocalServer, USER_ABC};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::sandbox::runtime::{ErrorCode, InvokeOptions};
use connector_host::{AllowedHosts, HostPattern, Instance, EMBEDDED_COMPONENT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use wit_parser::{Resolve, WorldItem, WorldKey};

/// The `connector` world as `wit/` declares it, with the resolve it lives in.
fn declared_world() -> (Resolve, wit_parser::WorldId) {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(workspace().join("wit")).expect("wit/ parses");
    let world = resolve.select_world(&[package], Some("connector")).expect("wit/ has the connector world");
    (resolve, world)
}

/// A component decoded as `wasm-tools component wit` and `jco wit` decode it.
fn decoded(component: &[u8]) -> (Resolve, wit_parser::WorldId) {
    match wit_component::decode(component).expect("the component decodes") {
        wit_parser::decoding::DecodedWasm::Component(resolve, world) => (resolve, world),
        wit_parser::decoding::DecodedWasm::WitPackage(..) => panic!("a component, not a WIT package"),
    }
}

/// The names of a world's imported interfaces (`wasi:http/types@0.2.12`, ...).
fn imported_interfaces(resolve: &Resolve, world: wit_parser::WorldId) -> BTreeSet<String> {
    resolve.worlds[world]
        .imports
        .iter()
        .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
        .map(|(key, _)| resolve.name_world_key(key))
        .collect()
}

/// The names of a world's exports (functions and interfaces).
fn exports(resolve: &Resolve, world: wit_parser::WorldId) -> BTreeSet<String> {
    resolve.worlds[world].exports.keys().map(|key| resolve.name_world_key(key)).collect()
}

#[test]
fn the_graph_component_imports_exactly_what_the_world_declares() {
    let (wit, world) = declared_world();
    let declared = imported_interfaces(&wit, world);
    for expected in ["wasi:http/outgoing-handler@0.2.12", "wasi:random/random@0.2.12", "wasi:cli/exit@0.2.12"] {
        assert!(declared.contains(expected), "{expected} is declared: {declared:?}");
    }
    assert!(!declared.iter().any(|name| name.starts_with("wasi:filesystem") || name.starts_with("wasi:sockets")));
    let (resolve, root) = decoded(EMBEDDED_COMPONENT);
    assert_eq!(imported_interfaces(&resolve, root), declared);
    assert_eq!(exports(&resolve, root), exports(&wit, world));
    // The hostile component uses neither clocks nor randomness: it imports less, never more.
    let (resolve, root) = decoded(&std::fs::read(env!("HOSTILE_COMPONENT_WASM")).unwrap());
    let imported = imported_interfaces(&resolve, root);
    assert!(imported.is_subset(&declared), "{:?}", imported.difference(&declared).collect::<Vec<_>>());
    assert_eq!(exports(&resolve, root), exports(&wit, world));
}

#[test]
fn the_worlds_docs_are_embedded_for_decoders() {
    let (resolve, root) = decoded(EMBEDDED_COMPONENT);
    let world = &resolve.worlds[root];
    let world_docs = world.docs.contents.as_deref().expect("the world's docs are embedded");
    assert!(world_docs.contains("`connection` resource"), "{world_docs}");
    let function_docs = |name: &str| match world.exports.get(&WorldKey::Name(name.to_string())) {
        Some(WorldItem::Function(function)) => function.docs.contents.clone().unwrap_or_default(),
        other => panic!("`{name}` is not an exported function: {other:?}"),
    };
    let call = function_docs("call");
    assert!(call.contains("one token request per call"), "{call}");
    assert!(call.contains("`dry-run`") && call.contains("`timeout-ms`"), "{call}");
    assert!(function_docs("list-actions").contains("JSON Schemas"));
}

#[test]
fn the_docs_section_is_wit_parsers_package_docs_format() {
    let mut sections = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(EMBEDDED_COMPONENT) {
        if let wasmparser::Payload::CustomSection(section) = payload.expect("the component parses") {
            if section.name() == "package-docs" {
                sections.push(section.data().to_vec());
            }
        }
    }
    assert_eq!(sections.len(), 1, "exactly one package-docs section (decoders refuse two)");
    let (version, json) = sections[0].split_first().unwrap();
    assert_eq!(*version, 1, "format version 1");
    let docs: Value = serde_json::from_slice(json).unwrap();
    assert!(docs["worlds"]["root"]["func_exports"]["call"]["docs"].as_str().is_some(), "{docs}");
}

/// An instance whose requests may reach the local server.
async fn local_instance(server: &LocalServer) -> Instance {
    let allowed =
        AllowedHosts::from_patterns(vec![format!("127.0.0.1:{}", server.port).parse::<HostPattern>().unwrap()]);
    runtime().instantiate(OutboundHttp::new(allowed, Route::Live), TimeSource::Real).await.unwrap()
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn call_opens_a_connection_for_one_action_and_keeps_nothing() {
    let server = LocalServer::start();
    let (output, later) = tokio().block_on(async {
        let mut instance = local_instance(&server).await;
        let options = InvokeOptions { timeout_ms: Some(10_000), dry_run: false };
        let output = instance.call(&server.connection(), "users.get", r#"{"userId":"abc"}"#, options).await;
        // `call` left no connection behind.
        let later = instance.invoke("users.get", r#"{"userId":"abc"}"#).await;
        (output.unwrap(), later.unwrap())
    });
    let output: Value = serde_json::from_str(&output.expect("users.get succeeds")).unwrap();
    let expected: Value = serde_json::from_str(USER_ABC).unwrap();
    assert_eq!(output["id"], expected["id"]);
    assert_eq!(output["displayName"], expected["displayName"]);
    assert_eq!(later.expect_err("no connection is open").code, ErrorCode::NotConnected);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("authorization"), Some("Bearer t"));
}

#[test]
fn connect_again_drops_the_first_connection_and_uses_the_second() {
    let server = LocalServer::start();
    let second = server.connection().replace(r#""accessToken":"t""#, r#""accessToken":"second""#);
    let (description, output) = tokio().block_on(async {
        let mut instance = local_instance(&server).await;
        instance.connect(&server.connection()).await.unwrap().expect("the first connection opens");
        let description = instance.connect(&second).await.unwrap().expect("the second connection opens");
        let output = instance.invoke("users.get", r#"{"userId":"abc"}"#).await.unwrap();
        (description, output)
    });
    assert!(!description.contains("second"), "the description holds no secret: {description}");
    let description: Value = serde_json::from_str(&description).unwrap();
    assert_eq!(description["auth"], "accessToken", "{description}");
    assert!(output.is_ok(), "{output:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("authorization"), Some("Bearer second"));
}

#[test]
fn a_dry_run_sends_no_write_and_returns_the_plan() {
    let server = LocalServer::start();
    let input = r#"{"userId":"abc","jsonBody":{"jobTitle":"Engineer"}}"#;
    let (planned, read) = tokio().block_on(async {
        let mut instance = local_instance(&server).await;
        instance.connect(&server.connection()).await.unwrap().unwrap();
        let dry_run = InvokeOptions { timeout_ms: None, dry_run: true };
        let planned = instance.invoke_with("users.update", input, dry_run).await.unwrap();
        // A read-only action ignores the flag and runs.
        let read = instance.invoke_with("users.get", r#"{"userId":"abc"}"#, dry_run).await.unwrap();
        (planned, read)
    });
    let planned: Value = serde_json::from_str(&planned.expect("the dry run succeeds")).unwrap();
    assert_eq!(planned["dryRun"], true, "{planned}");
    let plan = planned["plan"].as_array().expect("a plan");
    assert_eq!(plan.len(), 1, "{planned}");
    assert_eq!(plan[0]["method"], "PATCH");
    assert_eq!(plan[0]["url"], format!("http://127.0.0.1:{}/v1.0/users/abc", server.port));
    assert_eq!(plan[0]["body"], serde_json::json!({"jobTitle": "Engineer"}));
    let read: Value = serde_json::from_str(&read.expect("users.get runs")).unwrap();
    assert_eq!(read["id"], "abc");
    let methods: Vec<String> = server.requests().into_iter().map(|request| request.method).collect();
    assert_eq!(methods, ["GET"], "only the read-only action reached the server");
}

#[test]
fn the_cli_prints_the_plan_of_a_dry_run() {
    let server = LocalServer::start();
    let allow = format!("127.0.0.1:{}", server.port);
    let output = Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["invoke", "--no-cache", "--allow-host", &allow, "--config", &server.connection()])
        .args(["--action", "users.update", "--input", r#"{"userId":"abc","jsonBody":{"jobTitle":"Engineer"}}"#])
        .arg("--dry-run")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["plan"][0]["method"], "PATCH", "{printed}");
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[test]
fn one_instance_holds_several_connections_each_with_its_own_token() {
    let server = LocalServer::start();
    let config =
        |token: &str| server.connection().replace(r#""accessToken":"t""#, &format!(r#""accessToken":"{token}""#));
    let input = r#"{"userId":"abc"}"#;
    let options = InvokeOptions { timeout_ms: None, dry_run: false };
    let after_close = tokio().block_on(async {
        let mut instance = local_instance(&server).await;
        let (first, _) = instance.open(&config("first")).await.unwrap().unwrap();
        let (second, _) = instance.open(&config("second")).await.unwrap().unwrap();
        for connection in [&first, &second, &first] {
            instance.invoke_on(connection, "users.get", input, options).await.unwrap().expect("users.get succeeds");
        }
        instance.close(first).await.unwrap();
        instance.invoke_on(&second, "users.get", input, options).await.unwrap()
    });
    assert!(after_close.is_ok(), "closing one connection leaves the other open: {after_close:?}");
    let tokens: Vec<_> = server
        .requests()
        .iter()
        .map(|request| request.header("authorization").unwrap_or_default().to_string())
        .collect();
    assert_eq!(tokens, ["Bearer first", "Bearer second", "Bearer first", "Bearer second"]);
}
