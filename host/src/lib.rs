//! Wasmtime reference host for connector components.
//!
//! The host knows Wasmtime and nothing of Microsoft Graph: it loads a component of the
//! `connector` world (`wit/connector.wit`), runs it in a sandbox that grants nothing but
//! outgoing HTTP to allowed hosts, and either forwards those requests to the network (live)
//! or answers them from a fixture file (replay).
//!
//! - [`runtime`]: the engine, the linker, pre-instantiation and per-instance limits.
//! - [`http_policy`]: what happens to each outgoing request (allowlist, replay, live).
//! - [`fixture`], [`matcher`], [`replay`], [`report`]: the fixture format, how requests and
//!   results are compared with it, how a fixture runs, and how the outcome is printed.

#![deny(missing_docs)]

mod bindings;
pub mod clock;
pub mod error;
pub mod fixture;
pub mod http_policy;
pub mod matcher;
pub mod replay;
pub mod report;
pub mod runtime;

pub use error::{HostError, Result};
pub use http_policy::{AllowedHosts, HostPattern};
pub use runtime::{ActionDescriptor, ConnectorError, Instance, Limits, Runtime, EMBEDDED_COMPONENT};
