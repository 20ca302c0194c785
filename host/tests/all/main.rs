//! The host seen from outside: the repository's fixtures replay, live calls reach a real
//! HTTP server through wasi-http, the sandbox refuses other hosts, the harness catches
//! broken fixtures, and the CLI prints what it promises.

mod catalog_docs_are_current;
mod catalog_matches_the_contract;
mod chaos_replay;
mod cli;
mod compiled_cache;
mod connection_isolation;
mod connection_pool;
mod contract;
mod foreign_hosts;
mod harness_catches_broken_fixtures;
mod hostile_component;
mod invoke_repeat;
mod live_http;
mod mcp;
mod pooled_instances;
mod private_ca_and_proxy;
mod record;
mod replay_reports;
mod replaying_fixtures;
mod sandbox;
mod secrets_stay_in_the_sandbox;
mod serve;
mod support;
mod wasi_http_answers;
