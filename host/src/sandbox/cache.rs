//! The on-disk cache of compiled components: compiling the Graph component takes
//! seconds, loading the machine code Wasmtime produced for it takes well under a
//! millisecond.
//!
//! An artefact is named by a SHA-256 over the component's bytes and the engine's
//! [`Engine::precompile_compatibility_hash`] (the Wasmtime version, the target and every
//! compiler and memory setting that shapes the machine code), so another component,
//! another Wasmtime or other engine settings never find it. It is written to a temporary
//! file and renamed into place, so a reader never sees a half-written artefact. Any
//! failure to load it falls back to compiling, and the fresh artefact replaces the
//! unusable one; any failure to write it only costs the next start-up a compilation.

use crate::error::{HostError, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The extension of cached artefacts (Wasmtime's own name for precompiled code).
const ARTEFACT_EXTENSION: &str = "cwasm";

/// The folder under the user's cache directory that holds this host's artefacts.
const CACHE_FOLDER: &str = "connector-host";

/// Where compiled components are kept between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCache {
    dir: PathBuf,
}

/// How a runtime obtained its compiled component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// Compiled now; no cache was configured.
    Compiled,
    /// Loaded from an artefact this host wrote earlier.
    LoadedFromCache,
    /// Compiled now and written to the cache, which had no artefact for it.
    CompiledIntoCache,
    /// Compiled now because the cached artefact could not be loaded; the fresh one
    /// replaced it.
    RecompiledIntoCache {
        /// Why the cached artefact was refused.
        reason: String,
    },
    /// Compiled now, but writing the artefact failed; the next start-up compiles again.
    CompiledNotCached {
        /// Why writing failed.
        reason: String,
    },
}

impl CompiledCache {
    /// A cache in `dir` (created when the first artefact is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The user's cache: `$XDG_CACHE_HOME/connector-host`, else `$HOME/.cache/connector-host`;
    /// `None` when neither variable is set.
    pub fn user_default() -> Option<Self> {
        let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
        let base = non_empty("XDG_CACHE_HOME").or_else(|| non_empty("HOME").map(|home| home.join(".cache")))?;
        Some(Self::new(base.join(CACHE_FOLDER)))
    }

    /// The folder of the artefacts.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file the artefact of `component` compiled by `engine` is kept in. `sha256` is the
    /// component's hex SHA-256 when the caller already knows it (a component built into the
    /// binary, hashed at build time); otherwise the component is hashed here.
    pub fn artefact_path(&self, engine: &Engine, component: &[u8], sha256: Option<&str>) -> PathBuf {
        let sha256 = sha256.map_or_else(|| component_sha256(component), str::to_string);
        self.dir.join(format!("{}.{ARTEFACT_EXTENSION}", artefact_key(engine, &sha256)))
    }

    /// Loads the cached artefact of `component`, or compiles it and stores the result
    /// (`sha256` as for [`Self::artefact_path`]).
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        component: &[u8],
        sha256: Option<&str>,
    ) -> Result<(Component, ComponentSource)> {
        let path = self.artefact_path(engine, component, sha256);
        let refused = match load_artefact(engine, &path) {
            Ok(Some(compiled)) => return Ok((compiled, ComponentSource::LoadedFromCache)),
            Ok(None) => None,
            Err(error) => Some(format!("{error:#}")),
        };
        let compiled = compile(engine, component)?;
        let source = match (store_artefact(&compiled, &path), refused) {
            (Err(error), _) => ComponentSource::CompiledNotCached { reason: error.to_string() },
            (Ok(()), None) => ComponentSource::CompiledIntoCache,
            (Ok(()), Some(reason)) => ComponentSource::RecompiledIntoCache { reason },
        };
        Ok((compiled, source))
    }
}

/// Compiles a component without any cache.
pub fn compile(engine: &Engine, component: &[u8]) -> Result<Component> {
    Component::new(engine, component).map_err(|error| HostError::Compile { reason: format!("{error:#}") })
}

/// Hex SHA-256 over the component's own (hex) SHA-256 and the engine's compatibility hash.
fn artefact_key(engine: &Engine, component_sha256: &str) -> String {
    let mut digest = DigestHasher(Sha256::new());
    digest.0.update(component_sha256.as_bytes());
    engine.precompile_compatibility_hash().hash(&mut digest);
    hex(&digest.0.finalize())
}

/// Hex SHA-256 of a component.
pub fn component_sha256(component: &[u8]) -> String {
    hex(&Sha256::digest(component))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Feeds what a [`Hash`] implementation writes into a SHA-256, so the key is the same
/// in every process (std's hashers are seeded per process or unspecified across releases).
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Unused: the key is read from the digest itself.
    fn finish(&self) -> u64 {
        0
    }
}

/// The artefact at `path`: `None` when there is none, an error when it cannot be used.
fn load_artefact(engine: &Engine, path: &Path) -> wasmtime::Result<Option<Component>> {
    if !path.is_file() {
        return Ok(None);
    }
    // SAFETY: `deserialize_file` trusts the file to hold machine code Wasmtime produced.
    // The only files read here are ones this host wrote itself (`store_artefact`), in its
    // own cache folder, under a name derived from the component's bytes and the engine's
    // settings, renamed into place only once complete. Wasmtime checks the header (its
    // version and the engine settings the code was compiled for) and refuses a mismatch
    // or a file that is not its format; that error makes the caller recompile.
    let compiled = unsafe { Component::deserialize_file(engine, path) }?;
    Ok(Some(compiled))
}

/// Writes the artefact to a temporary file beside `path`, then renames it into place.
fn store_artefact(compiled: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = compiled.serialize().map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Unique per process and per write, so concurrent writers never share a file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}-{}.tmp", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)));
    let temporary = PathBuf::from(temporary);
    let written = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble of a component binary and nothing else.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    #[test]
    fn a_known_digest_names_the_same_artefact_as_hashing_does() {
        let cache = CompiledCache::new(Path::new("/nonexistent"));
        let engine = Engine::default();
        let digest = component_sha256(EMPTY_COMPONENT);
        assert_eq!(digest.len(), 64);
        assert_eq!(
            cache.artefact_path(&engine, EMPTY_COMPONENT, Some(&digest)),
            cache.artefact_path(&engine, EMPTY_COMPONENT, None)
        );
    }

    #[test]
    fn the_key_depends_on_the_component_and_the_engine_settings() {
        let engine = Engine::default();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other_engine = Engine::new(&config).unwrap();
        let empty = component_sha256(EMPTY_COMPONENT);
        let key = artefact_key(&engine, &empty);
        assert_eq!(key, artefact_key(&Engine::default(), &empty));
        assert_eq!(key.len(), 64);
        assert_ne!(key, artefact_key(&engine, &component_sha256(b"\0asm\x0d\x00\x01\x00\x00")));
        assert_ne!(key, artefact_key(&other_engine, &empty));
    }

    #[test]
    fn the_user_cache_lives_in_its_own_folder() {
        if let Some(cache) = CompiledCache::user_default() {
            assert!(cache.dir().ends_with(CACHE_FOLDER));
        }
    }
}
