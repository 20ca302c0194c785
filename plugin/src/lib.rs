//! Graph Connector: Microsoft Graph (Entra ID / Microsoft 365) actions as a
//! WebAssembly component.
//!
//! The Graph logic is plain Rust behind a [`transport::Transport`] seam: the
//! component sends through `wasi:http/outgoing-handler`, and native unit tests
//! drive the same code with a scripted transport.

#![deny(missing_docs)]

pub mod actions;
pub mod assertion;
pub mod auth;
pub mod byte_scan;
pub mod catalog;
pub mod client;
pub mod config;
pub mod connector;
pub mod entity;
pub mod error;
pub mod input;
pub mod listing;
pub mod odata;
pub mod output;
pub mod raw_json;
pub mod retry;
pub mod schema;
pub mod secrets;
pub mod transport;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod wasi_transport;

pub use connector::Connector;
pub use error::{ConnectorError, ErrorCode};
