//! The connector's lifecycle: `connect` once, then `invoke` any number of times.

use crate::catalog;
use crate::client::GraphClient;
use crate::config::ConnectionConfig;
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::input::Input;
use crate::transport::Transport;
use serde_json::Value;

/// One connection's state: its settings, its token cache and its transport.
#[derive(Default)]
pub struct Connector {
    client: Option<GraphClient>,
}

impl Connector {
    /// A connector that is not connected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the settings and keeps them. No request is made: the first token is
    /// acquired by the first invocation. Returns the settings in effect, without secrets.
    pub fn connect(&mut self, config: &str, transport: Box<dyn Transport>) -> Result<Value> {
        let config = ConnectionConfig::parse(config)?;
        let described = config.describe();
        self.client = Some(GraphClient::new(config, transport));
        Ok(described)
    }

    /// Runs one action with its JSON input.
    pub fn invoke(&mut self, action_id: &str, input: &str) -> Result<Value> {
        let action = catalog::find(action_id)
            .ok_or_else(|| ConnectorError::new(ErrorCode::UnknownAction, format!("no action `{action_id}`")))?;
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| ConnectorError::new(ErrorCode::NotConnected, "call connect before invoke"))?;
        let input: Value = if input.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(input)
                .map_err(|e| ConnectorError::invalid_input(format!("input is not valid JSON: {e}")))?
        };
        let input = Input::new(&input)?;
        let timeout_ms = client.config().timeout_ms;
        client.start_invocation(timeout_ms);
        (action.run)(client, &input)
    }
}
