// The worker thread that runs one connection's component instance. preview2-shim does
// wasi-io and wasi-http synchronously (it blocks its caller on a helper thread), so the
// instance lives here and the main thread only exchanges messages with it: an invocation
// that waits for Graph, or for a Retry-After, blocks this thread and never the caller's
// event loop.
//
// The instance gets the imports of `sandboxImports`: no environment, no arguments, no
// terminal, an `exit` that ends the call instead of the process, and an outgoing handler
// that refuses every destination outside the connection's allowlist. Its stdout and
// stderr go to the main thread as messages (capture-output.js), never to the embedding
// process's output.

import './capture-output.js';
import { parentPort, workerData } from 'node:worker_threads';
import { AllowedHosts, connectionAllowlist } from './allowlist.js';
import { RequestCapReached, sandboxImports } from './sandbox.js';

/**
 * A `connector-error` as the main thread rebuilds it: plain data (structured-cloneable),
 * absent options left out, `retryAfterMs` a number rather than a BigInt.
 */
function plainError(payload) {
  const error = { code: payload.code, message: payload.message };
  if (payload.status !== undefined) error.status = payload.status;
  if (payload.graphCode !== undefined) error.graphCode = payload.graphCode;
  if (payload.requestId !== undefined) error.requestId = payload.requestId;
  if (payload.retryAfterMs !== undefined) error.retryAfterMs = Number(payload.retryAfterMs);
  return error;
}

/**
 * Runs `operation`; a typed error of the component becomes `{error}`, a call the request cap
 * stopped `{limit: 'requests'}`, anything else `{trap}`.
 */
function settle(operation) {
  try {
    return { value: operation() };
  } catch (thrown) {
    if (thrown && typeof thrown === 'object' && 'payload' in thrown && thrown.payload?.code !== undefined) {
      return { error: plainError(thrown.payload) };
    }
    if (thrown instanceof RequestCapReached) {
      return { limit: 'requests' };
    }
    return { trap: String(thrown?.message ?? thrown) };
  }
}

/** The connection's description, an object (`{}` when the component's is not one). */
function describe(connection) {
  try {
    const description = JSON.parse(connection.describe());
    return description !== null && typeof description === 'object' && !Array.isArray(description) ? description : {};
  } catch {
    return {};
  }
}

async function main() {
  const { component: componentModule, modules, declared, config, allowHosts, maxRequestsPerCall } = workerData;
  /** @type {typeof import('../generated/graph_connector.js')} */
  const { instantiate } = await import(componentModule);
  let allowed = new AllowedHosts([]);
  let requestsThisCall = 0;
  const component = await instantiate(
    (name) => modules[name],
    sandboxImports({
      // Read at each request, so the connection's own hosts (known once it is open) count.
      permits: (scheme, authority) => allowed.permits(scheme, authority),
      admitRequest: () => ++requestsThisCall <= maxRequestsPerCall,
    }),
  );
  const opened = settle(() => component.connections.Connection.open(config));
  if (!('value' in opened)) {
    parentPort.postMessage({ type: 'open-failed', ...opened });
    return;
  }
  const connection = opened.value;
  // The connection's own destinations, as the component describes them (`hosts`), where
  // the component declares them; a description without them allows only `allowHosts`.
  const description = describe(connection);
  allowed = connectionAllowlist({ described: description.hosts, declared, extra: allowHosts });
  parentPort.postMessage({ type: 'ready', description, allowed: allowed.patterns.map(String) });

  parentPort.on('message', (request) => {
    requestsThisCall = 0;
    let outcome;
    if (request.op === 'invoke') {
      const options = {
        timeoutMs: request.timeoutMs === undefined ? undefined : BigInt(request.timeoutMs),
        dryRun: request.dryRun,
      };
      outcome = settle(() => connection.invoke(request.action, request.input, options));
    } else if (request.op === 'list-actions') {
      outcome = settle(() => component.listActions());
    } else {
      outcome = { trap: `unknown operation ${request.op}` };
    }
    // After the call's output messages (one port keeps their order), so the caller has all
    // of its stderr when it reads the outcome.
    parentPort.postMessage({ type: 'done', id: request.id, ...outcome });
  });
}

main().catch((error) => {
  parentPort.postMessage({ type: 'open-failed', trap: String(error?.stack ?? error) });
});
