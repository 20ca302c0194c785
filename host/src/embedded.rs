//! The Graph connector component built into this crate (by `build.rs`): what the CLI runs
//! when no `--component` is given, and what the tests and benchmarks load. The sandbox
//! never refers to it; it runs whatever component bytes it is handed.

use crate::error::Result;
use crate::sandbox::runtime::{Limits, Runtime, RuntimeOptions};

/// The Graph connector component, built by `build.rs` and embedded in the binary.
pub static EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("GRAPH_CONNECTOR_WASM"));

/// The hex SHA-256 of [`EMBEDDED_COMPONENT`], computed when the host was built, so that
/// finding its compiled artefact in a cache costs no hashing at start-up.
pub static EMBEDDED_COMPONENT_SHA256: &str = env!("GRAPH_CONNECTOR_WASM_SHA256");

/// Compiles the embedded component, without a cache.
pub fn runtime(limits: Limits) -> Result<Runtime> {
    runtime_with_options(limits, &RuntimeOptions::default())
}

/// Compiles (or loads from `options.cache`) the embedded component.
pub fn runtime_with_options(limits: Limits, options: &RuntimeOptions) -> Result<Runtime> {
    let options = RuntimeOptions { component_sha256: Some(EMBEDDED_COMPONENT_SHA256), ..options.clone() };
    Runtime::with_options(EMBEDDED_COMPONENT, limits, &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::cache::component_sha256;

    #[test]
    fn the_build_time_digest_is_the_components_sha256() {
        assert_eq!(EMBEDDED_COMPONENT_SHA256, component_sha256(EMBEDDED_COMPONENT));
    }
}
