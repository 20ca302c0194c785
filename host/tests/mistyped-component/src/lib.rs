//! A component that exports every function of the `connector` world by its name, each with
//! a type other than the world's: the host finds its exports, and must refuse to call them
//! (`sandbox/exports.rs` checks the types on a runtime's first instance).
//!
//! Built for `wasm32-wasip2` only; on other targets the crate is empty.

#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        inline: r#"
            package connector:plugin@0.2.0;

            interface connections {
                resource connection {
                    open: static func(config: string) -> result<connection, string>;
                    describe: func() -> u32;
                    invoke: func(action: string, input: string) -> result<string, string>;
                }
            }

            world mistyped {
                export connections;
                export list-actions: func() -> list<string>;
                export call: func(config: string, action: string, input: string) -> result<string, string>;
            }
        "#,
        world: "mistyped",
    });
}

use bindings::exports::connector::plugin::connections;

struct Component;

/// A connection that holds nothing.
struct Connection;

impl connections::Guest for Component {
    type Connection = Connection;
}

impl connections::GuestConnection for Connection {
    fn open(_config: String) -> Result<connections::Connection, String> {
        Ok(connections::Connection::new(Connection))
    }

    fn describe(&self) -> u32 {
        0
    }

    fn invoke(&self, _action: String, _input: String) -> Result<String, String> {
        Err("not the world's invoke".to_string())
    }
}

impl bindings::Guest for Component {
    fn list_actions() -> Vec<String> {
        Vec::new()
    }

    fn call(_config: String, _action: String, _input: String) -> Result<String, String> {
        Err("not the world's call".to_string())
    }
}

bindings::export!(Component with_types_in bindings);
