// The caller's event loop keeps turning while the component waits for Graph: the instance
// runs in a worker thread, and only the worker blocks on the shim's synchronous HTTP.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openConnector } from '@graph-connector/node';
import { startFakeGraphProcess } from './support/fake-graph-process.mjs';

test('a timer keeps firing while an invocation waits for a slow answer', async () => {
  const answerDelayMs = 1000;
  const tickMs = 20;
  // In another process: were the call to block this thread, the fake would still answer, the
  // call would end, and the count below would show it.
  const fake = await startFakeGraphProcess({
    token: 'token-slow',
    answers: [['GET', '/v1.0/users/slow', { body: { id: 'slow' }, delayMs: answerDelayMs }]],
  });
  const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
  }, tickMs);
  try {
    assert.deepEqual(await connector.invoke('users.get', { userId: 'slow' }), { id: 'slow' });
  } finally {
    clearInterval(timer);
    await connector.close();
    fake.close();
  }
  // A blocked loop would let the timer fire about once in the whole wait; a free one about
  // answerDelayMs / tickMs times. Half of that leaves room for a busy machine.
  assert.ok(ticks >= answerDelayMs / tickMs / 2, `the timer fired ${ticks} times during a ${answerDelayMs} ms answer`);
});
