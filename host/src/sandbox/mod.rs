//! The sandbox: the engine and linker, instances and their limits (memory, time, requests),
//! compiled components cached on disk, virtual clocks, and the policy every outgoing request
//! of a component meets.

mod bindings;
pub mod cache;
pub mod clock;
mod exports;
pub mod http_policy;
pub mod runtime;
