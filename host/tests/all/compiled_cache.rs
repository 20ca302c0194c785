//! The compiled-component cache: a miss compiles and stores, a hit loads what was
//! stored, and an unusable artefact is recompiled and replaced.

use connector_host::sandbox::cache::{CompiledCache, ComponentSource};
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::http_policy::{OutboundHttp, Route};
use connector_host::sandbox::runtime::RuntimeOptions;
use connector_host::{AllowedHosts, Limits, Runtime};
use std::path::{Path, PathBuf};

/// A cache folder of its own for each test, emptied first.
fn cache_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("connector-host-cache-test-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start(dir: &Path) -> Runtime {
    let options = RuntimeOptions { cache: Some(CompiledCache::new(dir)), ..RuntimeOptions::default() };
    connector_host::embedded::runtime_with_options(Limits::default(), &options).expect("the runtime starts")
}

/// The only artefact in the cache folder.
fn artefact(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "exactly one artefact, no temporary file left: {files:?}");
    files.into_iter().next().unwrap()
}

/// Lists the actions on a fresh instance: the loaded code really runs.
fn action_count(runtime: &Runtime) -> usize {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let outbound = OutboundHttp::new(AllowedHosts::none(), Route::Live);
        let mut instance = runtime.instantiate(outbound, TimeSource::Virtual).await.unwrap();
        instance.list_actions().await.unwrap().len()
    })
}

#[test]
fn a_miss_compiles_and_stores_then_a_hit_loads_the_same_component() {
    let dir = cache_dir("miss-then-hit");
    let first = start(&dir);
    assert_eq!(first.component_source(), &ComponentSource::CompiledIntoCache);
    let stored = artefact(&dir);
    assert_eq!(stored.extension().and_then(|extension| extension.to_str()), Some("cwasm"));

    let second = start(&dir);
    assert_eq!(second.component_source(), &ComponentSource::LoadedFromCache);
    assert!(action_count(&second) > 0);
    assert_eq!(action_count(&second), action_count(&first));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupted_artefact_is_recompiled_and_replaced() {
    let dir = cache_dir("corrupted");
    drop(start(&dir));
    let stored = artefact(&dir);
    let length = std::fs::metadata(&stored).unwrap().len() as usize;
    std::fs::write(&stored, vec![0x5a; length]).unwrap();

    let recompiled = start(&dir);
    assert!(
        matches!(recompiled.component_source(), ComponentSource::RecompiledIntoCache { .. }),
        "{:?}",
        recompiled.component_source()
    );
    assert!(action_count(&recompiled) > 0);
    assert_eq!(artefact(&dir), stored, "the fresh artefact took the unusable one's place");
    assert_eq!(start(&dir).component_source(), &ComponentSource::LoadedFromCache);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_cache_still_starts_by_compiling() {
    let dir = cache_dir("unwritable");
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::write(&dir, b"a file where the cache folder should be").unwrap();
    let runtime = start(&dir);
    assert!(
        matches!(runtime.component_source(), ComponentSource::CompiledNotCached { .. }),
        "{:?}",
        runtime.component_source()
    );
    assert!(action_count(&runtime) > 0);
    let _ = std::fs::remove_file(&dir);
}
