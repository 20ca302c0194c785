//! Graph Connector: Microsoft Graph (Entra ID / Microsoft 365) actions as a
//! WebAssembly component.
//!
//! The Graph logic is plain Rust behind a [`graph::transport::Transport`] seam: the
//! component sends through `wasi:http/outgoing-handler`, and native unit tests
//! drive the same code with a scripted transport.
//!
//! # Module map
//! - [`connector`]: a connection's lifecycle: open it from its settings, invoke actions
//!   (with per-call options: deadline, dry run).
//! - [`catalog`]: the one table from action id to descriptor (schemas, permissions) and handler.
//! - [`actions`]: one module per Graph area, plus the shapes handlers share (bulk outcomes,
//!   list queries, id lists).
//! - [`graph`]: the machinery the actions use: the HTTP client (requests, paging, errors),
//!   the retry policy, tokens and client assertions, connection settings, OData and URL
//!   building, the secret set, and the transport seam.
//! - [`json`]: JSON read without building trees (pass-through of Graph's objects and pages),
//!   action input and output, and JSON Schema builders.
//! - `component` (wasm only): the WIT glue and the wasi-http transport.
//! - [`error`]: the typed errors every call returns.
//!
//! Arrows: `actions` use `graph` and `json`; neither of those knows the actions.

#![deny(missing_docs)]

pub mod actions;
pub mod catalog;
pub mod connector;
pub mod error;
pub mod graph;
pub mod json;

#[cfg(target_arch = "wasm32")]
mod component;

pub use connector::{Connector, InvokeOptions};
pub use error::{ConnectorError, ErrorCode};
