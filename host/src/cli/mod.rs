//! What the `connector-host` binary (`src/cli/main.rs`) renders beyond the sandbox and the
//! replay harness.

pub mod catalog_docs;
