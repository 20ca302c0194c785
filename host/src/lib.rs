//! Wasmtime reference host for connector components.
//!
//! The host knows Wasmtime and nothing of Microsoft Graph: it loads a component of the
//! `connector` world (`wit/connector.wit`), runs it in a sandbox that grants nothing but
//! outgoing HTTP to allowed hosts, and either forwards those requests to the network (live)
//! or answers them from a fixture file (replay).
//!
//! - [`runtime`]: the engine, the linker, pre-instantiation and per-instance limits.
//! - [`cache`]: compiled components kept on disk between runs.
//! - [`http_policy`]: what happens to each outgoing request (allowlist, replay, live).
//! - `outgoing_handler`: `wasi:http/outgoing-handler`, handing answers that are there at once
//!   to the component without a task switch.
//! - [`live_http`]: the live route's pooled client (direct or through a proxy, extra trusted CAs).
//! - [`chaos`]: faults injected in front of replayed responses (`replay --chaos`).
//! - [`fixture`], [`matcher`], [`replay`], [`report`]: the fixture format, how requests and
//!   results are compared with it, how a fixture runs, and how the outcome is printed.
//! - [`catalog_docs`]: the action catalog rendered as Markdown documentation.

#![deny(missing_docs)]

mod bindings;
pub mod cache;
pub mod catalog_docs;
pub mod chaos;
pub mod clock;
pub mod error;
pub mod fixture;
pub mod http_policy;
pub mod live_http;
pub mod matcher;
mod outgoing_handler;
pub mod replay;
pub mod report;
pub mod runtime;

pub use error::{HostError, Result};
pub use http_policy::{AllowedHosts, HostPattern};
pub use runtime::{ActionDescriptor, ConnectorError, Instance, Limits, Runtime, EMBEDDED_COMPONENT};
