//! Wasmtime reference host for connector components.
//!
//! The host knows Wasmtime and nothing of Microsoft Graph: it loads a component of the
//! `connector` world (`wit/connector.wit`), runs it in a sandbox that grants nothing but
//! outgoing HTTP to allowed hosts, and either forwards those requests to the network (live)
//! or answers them from a fixture file (replay).
//!
//! # Module map
//! - [`sandbox`]: the engine, the linker, pre-instantiation, instances and their limits,
//!   compiled components cached on disk, virtual clocks, and the outgoing-HTTP policy (the
//!   allowlist, the live route, and one interceptor seam in front of the network).
//! - [`http`]: the live route's pooled client (direct or through a proxy, extra trusted CAs)
//!   and the host's own `wasi:http/outgoing-handler`.
//! - [`replay`]: fixtures (format, matcher, session), chaos faults injected in front of
//!   replayed answers, and the report; the session plugs into the sandbox's seam
//!   ([`replay::route`]), which never imports it.
//! - [`mcp`]: the actions as Model Context Protocol tools (rmcp), over stdio or streamable
//!   HTTP, driven by a backend that runs them (one instance, or `serve`'s pool).
//! - [`serve`]: `connector-host serve`, the connector as an HTTP service (routes, connection
//!   registry and instance pools, admission, rate limits, metrics, OpenAPI); it calls the
//!   sandbox, which never imports it.
//! - [`record`]: live runs kept as fixtures: an interceptor that sends each request on and
//!   keeps the exchange, secrets replaced by placeholders, tenant data by consistent fakes.
//! - [`embedded`]: the Graph component built into the binaries, the CLI's default; the sandbox
//!   never refers to it.
//! - [`cli`]: what the `connector-host` binary renders beyond the above (the catalog as
//!   Markdown); the binary itself is `src/cli/main.rs`, one function per subcommand.
//! - [`error`]: the host's typed errors.

#![deny(missing_docs)]

pub mod cli;
pub mod embedded;
pub mod error;
pub mod http;
pub mod mcp;
pub mod record;
pub mod replay;
pub mod sandbox;
pub mod serve;

pub use embedded::EMBEDDED_COMPONENT;
pub use error::{HostError, Result};
pub use sandbox::http_policy::{AllowedHosts, HostPattern};
pub use sandbox::runtime::{ActionDescriptor, ConnectorError, Instance, Limits, Runtime};
