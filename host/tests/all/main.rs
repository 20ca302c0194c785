//! The host seen from outside: the repository's fixtures replay, live calls reach a real
//! HTTP server through wasi-http, the sandbox refuses other hosts, the harness catches
//! broken fixtures, and the CLI prints what it promises.

mod cli;
mod harness_catches_broken_fixtures;
mod live_http;
mod replaying_fixtures;
mod sandbox;
mod support;
