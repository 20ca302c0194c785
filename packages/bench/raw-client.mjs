// The floor for Node: the same `GET /v1.0/users/{id}` the connector sends, made with Node's
// own `http.request` on one kept-alive connection, the answer read and parsed as JSON. What
// the package adds on top of this is the cost of the package, the shim and the component.
//
//   node raw-client.mjs --base http://127.0.0.1:PORT --token TOKEN --user-id ID [--calls 200] [--warmup 20] [--fresh-connections]
//
// --fresh-connections opens a connection per request instead, as preview2-shim's and
// wasmtime-py's wasi-http do: the floor of a host that does not keep connections open.
//
// Prints one JSON line in the shape of `connector-host invoke --repeat`'s.

import http from 'node:http';
import { parseArgs } from 'node:util';
import { summary } from './summary.mjs';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    token: { type: 'string' },
    'user-id': { type: 'string' },
    calls: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    'fresh-connections': { type: 'boolean', default: false },
  },
});
const calls = Number(values.calls);
const warmup = Number(values.warmup);
if (!values.base || !values.token || !values['user-id'] || !Number.isSafeInteger(calls) || calls < 1 || !Number.isSafeInteger(warmup) || warmup < 0) {
  console.error('usage: node raw-client.mjs --base URL --token TOKEN --user-id ID [--calls N >= 1] [--warmup W >= 0]');
  process.exit(2);
}

const userId = values['user-id'];
const url = new URL(`/v1.0/users/${encodeURIComponent(userId)}`, values.base);
const fresh = values['fresh-connections'];
// One socket, kept open between requests, as the reference host's pool keeps its own; or,
// with --fresh-connections, none kept (`Connection: close` on each request).
const agent = new http.Agent({ keepAlive: !fresh, maxSockets: 1 });
const headers = { authorization: `Bearer ${values.token}`, accept: 'application/json', ...(fresh ? { connection: 'close' } : {}) };

function getUser() {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { agent, headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${url.pathname}: status ${response.statusCode}`));
          return;
        }
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

const durations = [];
let loopStart = process.hrtime.bigint();
for (let call = 0; call < warmup + calls; call++) {
  if (call === warmup) loopStart = process.hrtime.bigint();
  const start = process.hrtime.bigint();
  const user = await getUser();
  const elapsed = Number(process.hrtime.bigint() - start) / 1000;
  if (user.id !== userId) throw new Error(`unexpected user: ${JSON.stringify(user).slice(0, 200)}`);
  if (call >= warmup) durations.push(elapsed);
}
const loopSeconds = Number(process.hrtime.bigint() - loopStart) / 1e9;
agent.destroy();
console.log(JSON.stringify({ peer: fresh ? 'node-raw-fresh' : 'node-raw', op: 'users.get', n: calls, warmup, loop_s: Number(loopSeconds.toFixed(3)), ...summary(durations) }));
