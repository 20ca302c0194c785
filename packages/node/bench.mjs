// Per-call cost of the package: warm `users.get` calls on one connection, timed from the
// caller's side (the promise), so the figure includes the hop to the connection's worker and
// back. Prints a summary and, last, one JSON line in the shape of `connector-host invoke
// --repeat`'s (the same median and percentiles, ../bench/summary.mjs).
//
//   node bench.mjs [N] [WARMUP]        (default 200 timed calls after 20 warm-up calls)
//
// against a fake Graph of its own (test/support/fake-graph.mjs), or against one already
// running, as packages/bench-hosts.sh runs it so that every host talks to the same server:
//
//   node bench.mjs [N] [WARMUP] --config conn.json --allow-host 127.0.0.1:PORT [--user-id ID]

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { openConnector } from '@graph-connector/node';
import { summary } from '../bench/summary.mjs';

const usage = 'usage: node bench.mjs [N >= 1] [WARMUP >= 0] [--config FILE --allow-host HOST[:PORT]... [--user-id ID]]';
let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'allow-host': { type: 'string', multiple: true, default: [] },
      'user-id': { type: 'string', default: 'abc' },
    },
  });
} catch (error) {
  console.error(`${error.message}\n${usage}`);
  process.exit(2);
}
const { values, positionals } = parsed;
const n = Number(positionals[0] ?? 200);
const warmup = Number(positionals[1] ?? 20);
if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(warmup) || warmup < 0 || positionals.length > 2) {
  console.error(usage);
  process.exit(2);
}
const userId = values['user-id'];

// The connection's settings and allowed hosts, and what to stop at the end.
let config;
let allowHosts;
let fake;
if (values.config !== undefined) {
  config = JSON.parse(await readFile(values.config, 'utf8'));
  allowHosts = values['allow-host'];
} else {
  const { startFakeGraph } = await import('./test/support/fake-graph.mjs');
  fake = await startFakeGraph();
  fake.issueToken('token-bench');
  fake.answer('GET', `/v1.0/users/${encodeURIComponent(userId)}`, {
    body: { id: userId, displayName: 'Adele Vance', mail: 'AdeleV@contoso.com', userPrincipalName: 'AdeleV@contoso.com' },
  });
  config = fake.clientCredentials();
  allowHosts = [fake.host, ...values['allow-host']];
}

const connector = await openConnector({ config, allowHosts });
const input = { userId };
try {
  const durations = [];
  let loopStart = process.hrtime.bigint();
  for (let call = 0; call < warmup + n; call++) {
    if (call === warmup) loopStart = process.hrtime.bigint();
    const start = process.hrtime.bigint();
    const output = await connector.invoke('users.get', input);
    const elapsed = Number(process.hrtime.bigint() - start) / 1000;
    if (output?.id !== userId) throw new Error(`unexpected output: ${JSON.stringify(output).slice(0, 200)}`);
    if (call >= warmup) durations.push(elapsed);
  }
  const loopSeconds = Number(process.hrtime.bigint() - loopStart) / 1e9;
  const figures = { peer: 'node-package', op: 'users.get', n, warmup, loop_s: Number(loopSeconds.toFixed(3)), ...summary(durations) };
  console.log(`users.get: ${n} calls after ${warmup} warm-up, one connection, in ${figures.loop_s} s (Node ${process.version})`);
  console.log(
    `min ${figures.min_us} µs  median ${figures.median_us} µs  p90 ${figures.p90_us} µs  p99 ${figures.p99_us} µs  mean ${figures.mean_us} µs`,
  );
  console.log(JSON.stringify(figures));
} finally {
  await connector.close();
  await fake?.close();
}
