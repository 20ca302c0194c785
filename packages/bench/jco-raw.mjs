// The component transpiled by jco and nothing else (no worker, no allowlist, no limits):
// `connections.Connection.open(config).invoke(...)` on the main thread, with the stock
// preview2-shim doing the HTTP synchronously. Beside the Node package, it shows what the
// package's worker and sandbox add, and what the shim costs by itself.
//
//   node jco-raw.mjs --module DIR/graph_connector.js --config conn.json --user-id ID [--calls 200] [--warmup 20]
//
// The module is `jco transpile graph_connector.wasm` output (default mode), in a directory
// whose package.json says "type": "module" and that resolves @bytecodealliance/preview2-shim.
// Prints one JSON line in the shape of `connector-host invoke --repeat`'s.

import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { summary } from './summary.mjs';

const { values } = parseArgs({
  options: {
    module: { type: 'string' },
    config: { type: 'string' },
    'user-id': { type: 'string' },
    calls: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
  },
});
const calls = Number(values.calls);
const warmup = Number(values.warmup);
if (!values.module || !values.config || !values['user-id'] || !Number.isSafeInteger(calls) || calls < 1 || !Number.isSafeInteger(warmup) || warmup < 0) {
  console.error('usage: node jco-raw.mjs --module FILE --config FILE --user-id ID [--calls N >= 1] [--warmup W >= 0]');
  process.exit(2);
}

const { connections } = await import(pathToFileURL(values.module).href);
const userId = values['user-id'];
const input = JSON.stringify({ userId });
const connection = connections.Connection.open(await readFile(values.config, 'utf8'));
const durations = [];
let loopStart = process.hrtime.bigint();
for (let call = 0; call < warmup + calls; call++) {
  if (call === warmup) loopStart = process.hrtime.bigint();
  const start = process.hrtime.bigint();
  const output = JSON.parse(connection.invoke('users.get', input, {}));
  const elapsed = Number(process.hrtime.bigint() - start) / 1000;
  if (output.id !== userId) throw new Error(`unexpected output: ${JSON.stringify(output).slice(0, 200)}`);
  if (call >= warmup) durations.push(elapsed);
}
const loopSeconds = Number(process.hrtime.bigint() - loopStart) / 1e9;
console.log(JSON.stringify({ peer: 'node-jco-raw', op: 'users.get', n: calls, warmup, loop_s: Number(loopSeconds.toFixed(3)), ...summary(durations) }));
// The shim keeps its HTTP worker alive; the measurement is done.
process.exit(0);
