//! Embeds the contract's documentation in the component: the `package-docs` custom
//! section that wit-component writes for WIT packages, here for the component's own world.
//!
//! A tool that decodes a component (`wasm-tools component wit`, `jco wit`) rebuilds its
//! world as `root:component/root` and reads the docs of that world's items from a
//! `package-docs` section anywhere in the binary (the linker keeps it in the core module).
//! The section is the metadata wit-parser extracts from `wit/` for the `connector` world
//! (the world's docs and its functions' docs), filed under the name `root`. Docs inside the
//! `types` and `connections` interfaces cannot be attached by such a tool (it places those
//! interfaces in a package of their own), so they stay in `wit/connector.wit`.
//!
//! Only builds for `wasm32` write the section; native builds (unit tests) get an empty file.
//! Builds for `wasm32` also set the component's initial memory ([`INITIAL_MEMORY_BYTES`]).

use std::env;
use std::path::PathBuf;

/// The world whose docs are embedded.
const WORLD: &str = "connector";

/// The name decoders give a component's world.
const DECODED_WORLD: &str = "root";

/// The component's initial linear memory: 2 MiB, of which Rust's stack takes the first
/// 1 MiB and the static data about 120 KiB. At the linker's default (the stack and data
/// rounded up to whole pages) the heap started at the very end of the initial memory, so
/// every fresh instance grew its memory during its first call; under a pooling allocator
/// that growth costs an `mprotect` to open the pages, and another (with a TLB flush on
/// every core) when the slot is reused and closed to the initial size again. Untouched
/// pages cost nothing, so a heap head-room that covers a connect and a call is free.
const INITIAL_MEMORY_BYTES: usize = 2 * 1024 * 1024;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let wit = manifest_dir.join("..").join("wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("package-docs.bin");
    let wasm = env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    if wasm {
        println!("cargo:rustc-link-arg-cdylib=--initial-memory={INITIAL_MEMORY_BYTES}");
    }
    let section = if wasm {
        package_docs(&wit).unwrap_or_else(|error| fail(&format!("embedding the docs of {}: {error:#}", wit.display())))
    } else {
        Vec::new()
    };
    std::fs::write(&out, section).unwrap_or_else(|error| fail(&format!("writing {}: {error}", out.display())));
}

/// The `package-docs` section's content: wit-parser's version byte, then the JSON of the
/// package metadata holding only the world, renamed as decoders name it.
fn package_docs(wit: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _files) = resolve.push_dir(wit)?;
    let encoded = wit_parser::PackageMetadata::extract(&resolve, package).encode()?;
    let (version, json) = encoded.split_first().ok_or_else(|| anyhow::anyhow!("empty package metadata"))?;
    let metadata: serde_json::Value = serde_json::from_slice(json)?;
    let mut world = metadata["worlds"][WORLD].clone();
    let Some(members) = world.as_object_mut() else { anyhow::bail!("the world `{WORLD}` has no docs") };
    // Docs of `import`/`export` statements of named interfaces are a recent addition to the
    // format that older decoders (which refuse unknown members) would fail on.
    members.remove("interface_import_docs");
    members.remove("interface_export_docs");
    let root = serde_json::json!({ "worlds": { DECODED_WORLD: world } });
    let mut section = vec![*version];
    section.extend(serde_json::to_vec(&root)?);
    Ok(section)
}

/// Stops the build with a message.
fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
