// Per-call cost of the package: warm `users.get` calls on one connection against the local
// fake Graph (test/support/fake-graph.mjs), timed from the caller's side (the promise), so
// the figure includes the hop to the connection's worker and back. Prints a summary and,
// last, one JSON line in the shape of `connector-host invoke --repeat`'s.
//
//   node bench.mjs [N] [WARMUP]        (default 200 timed calls after 20 warm-up calls)

import { openConnector } from '@graph-connector/node';
import { startFakeGraph } from './test/support/fake-graph.mjs';

const n = Number(process.argv[2] ?? 200);
const warmup = Number(process.argv[3] ?? 20);
if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(warmup) || warmup < 0) {
  console.error('usage: node bench.mjs [N >= 1] [WARMUP >= 0]');
  process.exit(2);
}

const fake = await startFakeGraph();
fake.issueToken('token-bench');
fake.answer('GET', '/v1.0/users/abc', {
  body: { id: 'abc', displayName: 'Adele Vance', mail: 'AdeleV@contoso.com', userPrincipalName: 'AdeleV@contoso.com' },
});
const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
const input = { userId: 'abc' };
try {
  for (let i = 0; i < warmup; i++) {
    await connector.invoke('users.get', input);
  }
  const durations = [];
  const loopStart = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await connector.invoke('users.get', input);
    durations.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  const loopSeconds = Number(process.hrtime.bigint() - loopStart) / 1e9;
  durations.sort((a, b) => a - b);
  const at = (fraction) => durations[Math.min(durations.length - 1, Math.ceil(fraction * durations.length) - 1)];
  const round = (us) => Math.round(us);
  const figures = {
    peer: 'node-package',
    op: 'users.get',
    n,
    warmup,
    loop_s: Number(loopSeconds.toFixed(3)),
    mean_us: round(durations.reduce((total, us) => total + us, 0) / n),
    median_us: round(at(0.5)),
    p90_us: round(at(0.9)),
    p99_us: round(at(0.99)),
    min_us: round(durations[0]),
  };
  console.log(`users.get: ${n} calls after ${warmup} warm-up, one connection, in ${figures.loop_s} s (Node ${process.version})`);
  console.log(
    `min ${figures.min_us} µs  median ${figures.median_us} µs  p90 ${figures.p90_us} µs  p99 ${figures.p99_us} µs  mean ${figures.mean_us} µs`,
  );
  console.log(JSON.stringify(figures));
} finally {
  await connector.close();
  await fake.close();
}
