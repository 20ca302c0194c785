//! Live HTTP: the pooled client allowed requests go out through, the proxies it uses (from
//! `--proxy` or the environment), and the host's own
//! `wasi:http/outgoing-handler`, which hands answers that are there at once to the component
//! without a task switch.

pub mod live_http;
pub(crate) mod outgoing_handler;
pub mod proxy_env;
