//! The machinery the actions use to talk to Graph: nothing here knows an action.

pub mod assertion;
pub mod auth;
pub mod byte_scan;
pub mod client;
pub mod config;
pub mod odata;
pub mod retry;
pub mod secrets;
pub mod transport;
