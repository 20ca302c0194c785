//! Builds the Graph connector component so the host binary can embed it.
//!
//! The component is built by a nested `cargo build` into its own target directory
//! (`<workspace>/target/component`), so it never contends for the outer build's lock and
//! keeps its own `wasm32-wasip2` artefacts between builds.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variables of the outer build that would leak into the nested one and
/// change how the component is compiled (flags meant for the host target, clippy's
/// wrapper, a redirected target directory).
const LEAKING_VARIABLES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// Names a prebuilt component to embed instead of building the plugin.
const PREBUILT_VARIABLE: &str = "GRAPH_CONNECTOR_PREBUILT_WASM";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the host crate lives inside the workspace").to_path_buf();
    for watched in ["plugin/src", "plugin/Cargo.toml", "wit", "Cargo.toml", "Cargo.lock", "rust-toolchain.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    // A prebuilt component (CI artefact, or while the plugin does not compile) can be
    // named instead of building one.
    println!("cargo:rerun-if-env-changed={PREBUILT_VARIABLE}");
    let wasm = match env::var_os(PREBUILT_VARIABLE) {
        Some(prebuilt) => {
            let prebuilt = PathBuf::from(prebuilt);
            println!("cargo:rerun-if-changed={}", prebuilt.display());
            prebuilt
        }
        None => build_component(&workspace, &workspace.join("target").join("component")),
    };
    println!("cargo:rustc-env=GRAPH_CONNECTOR_WASM={}", wasm.display());
}

/// Runs the nested build and returns the path of the component it produced.
fn build_component(workspace: &Path, target_dir: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "-p", "graph-connector", "--target", "wasm32-wasip2"])
        .args(["--profile", "component", "--target-dir"])
        .arg(target_dir);
    for variable in LEAKING_VARIABLES {
        command.env_remove(variable);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(error) => fail(&format!("could not run cargo to build the component: {error}")),
    };
    if !output.status.success() {
        fail(&format!(
            "building the graph-connector component failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let wasm = target_dir.join("wasm32-wasip2").join("component").join("graph_connector.wasm");
    if !wasm.is_file() {
        fail(&format!("the nested build succeeded but {} is missing", wasm.display()));
    }
    wasm
}

/// Stops the build with a message (cargo shows a failed build script's stderr), without
/// a panic's backtrace in the way.
fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
