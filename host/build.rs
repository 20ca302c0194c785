//! Builds the Graph connector component so the host binary can embed it, and the test
//! components the sandbox tests load (`tests/hostile-component`, `tests/mistyped-component`).
//!
//! Both are built by one nested `cargo build` into their own target directory
//! (`<workspace>/target/component`), so it never contends for the outer build's lock,
//! keeps its own `wasm32-wasip2` artefacts between builds, and compiles the bindings
//! crates the two components share once.

use sha2::{Digest, Sha256};
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

/// The Graph connector's package, and its component file.
const GRAPH_COMPONENT: (&str, &str) = ("graph-connector", "graph_connector.wasm");

/// The hostile test component's package, and its component file (tests find it through
/// the `HOSTILE_COMPONENT_WASM` variable).
const HOSTILE_COMPONENT: (&str, &str) = ("hostile-component", "hostile_component.wasm");

/// The component whose exports have the world's names and other types (tests find it
/// through the `MISTYPED_COMPONENT_WASM` variable).
const MISTYPED_COMPONENT: (&str, &str) = ("mistyped-component", "mistyped_component.wasm");

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the host crate lives inside the workspace").to_path_buf();
    for watched in [
        "plugin/src",
        "plugin/Cargo.toml",
        "plugin/build.rs",
        "host/tests/hostile-component/src",
        "host/tests/hostile-component/Cargo.toml",
        "host/tests/mistyped-component/src",
        "host/tests/mistyped-component/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    // A prebuilt component (CI artefact, or while the plugin does not compile) can be
    // named instead of building one.
    println!("cargo:rerun-if-env-changed={PREBUILT_VARIABLE}");
    let prebuilt = env::var_os(PREBUILT_VARIABLE).map(PathBuf::from);
    let target_dir = workspace.join("target").join("component");
    let mut components = vec![HOSTILE_COMPONENT, MISTYPED_COMPONENT];
    if prebuilt.is_none() {
        components.insert(0, GRAPH_COMPONENT);
    }
    ensure_wasm_target(&workspace);
    let mut built = build_components(&workspace, &target_dir, &components).into_iter();
    let wasm = match prebuilt {
        Some(prebuilt) => {
            println!("cargo:rerun-if-changed={}", prebuilt.display());
            prebuilt
        }
        None => built.next().unwrap_or_else(|| fail("the nested build named no Graph component")),
    };
    let hostile = built.next().unwrap_or_else(|| fail("the nested build named no hostile component"));
    let mistyped = built.next().unwrap_or_else(|| fail("the nested build named no mistyped component"));
    println!("cargo:rustc-env=GRAPH_CONNECTOR_WASM={}", wasm.display());
    // The compiled-component cache names artefacts by the component's SHA-256: hashing the
    // embedded component here spares every start-up of the host the hashing.
    let bytes = std::fs::read(&wasm).unwrap_or_else(|error| fail(&format!("reading {}: {error}", wasm.display())));
    let digest: String = Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
    println!("cargo:rustc-env=GRAPH_CONNECTOR_WASM_SHA256={digest}");
    println!("cargo:rustc-env=HOSTILE_COMPONENT_WASM={}", hostile.display());
    println!("cargo:rustc-env=MISTYPED_COMPONENT_WASM={}", mistyped.display());
}

/// The target the components are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Makes sure the active toolchain can build for [`WASM_TARGET`]. rustup installs the targets
/// of `rust-toolchain.toml` only with the toolchain itself: a machine that already had the
/// pinned toolchain lacks them, and the nested build would fail late with "can't find crate
/// for `core`". Here the target is added through rustup, or, without rustup, the build stops
/// at once with the command to run.
fn ensure_wasm_target(workspace: &Path) {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().ok().filter(|out| out.status.success());
    let installed = |sysroot: &std::process::Output| {
        let root = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
        root.join("lib").join("rustlib").join(WASM_TARGET).join("lib").is_dir()
    };
    if sysroot.as_ref().is_some_and(installed) {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut rustup = Command::new("rustup");
    rustup.current_dir(workspace).args(["target", "add"]);
    if let Some(toolchain) = &toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    rustup.arg(WASM_TARGET);
    let command = match &toolchain {
        Some(toolchain) => format!("rustup target add --toolchain {toolchain} {WASM_TARGET}"),
        None => format!("rustup target add {WASM_TARGET}"),
    };
    println!("cargo:warning=the {WASM_TARGET} target is missing from the active toolchain: running `{command}`");
    match rustup.output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => fail(&format!(
            "the {WASM_TARGET} target is missing and `{command}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )),
        Err(_) => fail(&format!(
            "the components are built for {WASM_TARGET}, which the active Rust toolchain ({rustc}) lacks, and rustup \
             is not on PATH to add it: install the target's standard library for this toolchain (with rustup: `{command}`)"
        )),
    }
}

/// Runs the nested build of `components` (package, file) and returns the paths of the
/// component files it produced, in the same order.
fn build_components(workspace: &Path, target_dir: &Path, components: &[(&str, &str)]) -> Vec<PathBuf> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command.current_dir(workspace).arg("build");
    for (package, _) in components {
        command.args(["-p", package]);
    }
    command.args(["--target", WASM_TARGET, "--profile", "component", "--target-dir"]).arg(target_dir);
    for variable in LEAKING_VARIABLES {
        command.env_remove(variable);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(error) => fail(&format!("could not run cargo to build the component: {error}")),
    };
    if !output.status.success() {
        fail(&format!(
            "building the components failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    components
        .iter()
        .map(|(_, file)| {
            let wasm = target_dir.join(WASM_TARGET).join("component").join(file);
            if !wasm.is_file() {
                fail(&format!("the nested build succeeded but {} is missing", wasm.display()));
            }
            wasm
        })
        .collect()
}

/// Stops the build with a message (cargo shows a failed build script's stderr), without
/// a panic's backtrace in the way.
fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
