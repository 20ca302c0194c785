//! The connector's lifecycle: `connect` once, then `invoke` any number of times.

use crate::catalog;
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::client::GraphClient;
use crate::graph::config::ConnectionConfig;
use crate::graph::secrets::SecretSet;
use crate::graph::transport::Transport;
use crate::json::input::Input;
use crate::json::output::Output;
use serde_json::Value;
use std::borrow::Cow;

/// How one invocation runs (the WIT's `invoke-options`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvokeOptions {
    /// The invocation's deadline in milliseconds (at least 1); `None` takes the connection's
    /// `timeoutMs`, or the deprecated `timeoutMs` member of the input.
    pub timeout_ms: Option<u64>,
    /// Run the action's reads but send none of its writes: the output is the plan of the
    /// writes it would send (see [`GraphClient::dry_run_plan`]). Read-only
    /// actions ignore it.
    pub dry_run: bool,
}

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
        let described = self.connect_json(config, transport)?;
        // The description is JSON that `describe_json` wrote.
        Ok(serde_json::from_str(&described).unwrap_or(Value::Null))
    }

    /// [`Connector::connect`], returning the settings in effect as JSON text (what the
    /// component's `describe` hands to the host).
    pub fn connect_json(&mut self, config: &str, transport: Box<dyn Transport>) -> Result<String> {
        let config = ConnectionConfig::parse(config)?;
        let described = config.describe_json();
        self.client = Some(GraphClient::new(config, transport));
        Ok(described)
    }

    /// Runs one action with its JSON input and returns its output as a JSON tree, without
    /// the connection's secrets.
    pub fn invoke(&mut self, action_id: &str, input: &str) -> Result<Value> {
        self.invoke_with(action_id, input, &InvokeOptions::default())
    }

    /// [`Connector::invoke`] with per-call options.
    pub fn invoke_with(&mut self, action_id: &str, input: &str, options: &InvokeOptions) -> Result<Value> {
        let mut output = self.run(action_id, input, options)?.into_value()?;
        if let Some(client) = &self.client {
            client.secrets().redact_value(&mut output);
        }
        Ok(output)
    }

    /// Runs one action with its JSON input and returns its output as JSON text, as the
    /// component hands it to the host (list items are never built as a tree), without the
    /// connection's secrets: a server may echo a token or a password into any field.
    pub fn invoke_json(&mut self, action_id: &str, input: &str) -> Result<String> {
        self.invoke_json_with(action_id, input, &InvokeOptions::default())
    }

    /// [`Connector::invoke_json`] with per-call options.
    pub fn invoke_json_with(&mut self, action_id: &str, input: &str, options: &InvokeOptions) -> Result<String> {
        let output = self.run(action_id, input, options)?.into_json();
        let Some(client) = &self.client else { return Ok(output) };
        let secrets = client.secrets();
        let redacted = match secrets.redact(&output) {
            // A server may also have written a secret with JSON escapes (`\/`, `\u0065`):
            // the strings that hold one are read and redacted as what they stand for.
            Cow::Borrowed(_) => return Ok(secrets.redact_escaped_strings(&output).unwrap_or(output)),
            Cow::Owned(redacted) => redacted,
        };
        // A stretch replaced in the text could in theory span JSON syntax (a raw secret holding
        // a quote); the tree, redacted member by member, is then what leaves.
        if serde_json::from_str::<serde::de::IgnoredAny>(&redacted).is_ok() {
            return Ok(secrets.redact_escaped_strings(&redacted).unwrap_or(redacted));
        }
        let mut tree: Value = serde_json::from_str(&output)
            .map_err(|error| ConnectorError::new(ErrorCode::Internal, format!("output is not JSON: {error}")))?;
        secrets.redact_value(&mut tree);
        Ok(tree.to_string())
    }

    /// Runs one action; its error, whatever built it, leaves without the connection's secrets.
    fn run(&mut self, action_id: &str, input: &str, options: &InvokeOptions) -> Result<Output> {
        let action = catalog::find(action_id)
            .ok_or_else(|| ConnectorError::new(ErrorCode::UnknownAction, format!("no action `{action_id}`")))?;
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| ConnectorError::new(ErrorCode::NotConnected, "call connect before invoke"))?;
        Self::run_action(client, action, input, options).map_err(|error| redact_error(client.secrets(), error))
    }

    /// Reads the input, starts the invocation's time budget and runs the action (as a plan of
    /// its writes, in a dry run of an action that writes).
    fn run_action(
        client: &mut GraphClient,
        action: &catalog::Action,
        input: &str,
        options: &InvokeOptions,
    ) -> Result<Output> {
        if options.timeout_ms == Some(0) {
            return Err(ConnectorError::invalid_input("`timeout-ms` must be at least 1"));
        }
        if input.len() > MAX_INPUT_BYTES {
            return Err(ConnectorError::invalid_input(format!(
                "the input is {} bytes, more than the {MAX_INPUT_BYTES} one invocation accepts: split the work into \
                 several calls",
                input.len()
            )));
        }
        let mut input: Value = if input.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(input)
                .map_err(|e| ConnectorError::invalid_input(format!("input is not valid JSON: {e}")))?
        };
        let from_input = take_timeout_ms(&mut input)?;
        let timeout_ms = options.timeout_ms.or(from_input).unwrap_or(client.config().timeout_ms);
        let input = Input::new(&input)?;
        client.start_invocation(timeout_ms);
        if !options.dry_run || action.read_only {
            return action.run.run(client, &input);
        }
        client.start_dry_run();
        let outcome = action.run.run(client, &input);
        let plan = client.dry_run_plan();
        outcome.map(|_| Output::from(plan))
    }
}

/// The error with the connection's secrets removed from every text in it.
fn redact_error(secrets: &SecretSet, mut error: ConnectorError) -> ConnectorError {
    let redact = |text: &mut String| {
        if let Cow::Owned(redacted) = secrets.redact(text) {
            *text = redacted;
        }
    };
    redact(&mut error.message);
    error.graph_code.as_mut().map(redact);
    error.request_id.as_mut().map(redact);
    error
}

/// Removes the per-call `timeoutMs` member from an input object, so that no handler passes
/// it on to Graph, and returns its value (at least 1 ms).
fn take_timeout_ms(input: &mut Value) -> Result<Option<u64>> {
    let Value::Object(object) = input else {
        return Ok(None);
    };
    let Some(value) = object.remove(TIMEOUT_MEMBER) else {
        return Ok(None);
    };
    let holder = Value::Object([(TIMEOUT_MEMBER.to_string(), value)].into_iter().collect());
    match Input::new(&holder)?.optional_u64(TIMEOUT_MEMBER)? {
        Some(0) => Err(ConnectorError::invalid_input(format!("`{TIMEOUT_MEMBER}` must be at least 1"))),
        timeout => Ok(timeout),
    }
}

/// The largest action input accepted, in bytes. An input is parsed into a tree several times
/// its size, inside an instance whose memory the host caps: a workbook range or a bulk list of
/// ids is far smaller.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// The input member that overrides the connection's `timeoutMs` for one invocation.
pub const TIMEOUT_MEMBER: &str = "timeoutMs";
