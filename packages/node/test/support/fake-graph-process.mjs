// Runs a fake Graph (fake-graph.mjs) in a process of its own, answering as `answers` says,
// so that a test can show the caller's thread is free: a fake on that thread would stop
// answering too if a call blocked it, and the test would hang instead of failing.
//
// Started with fork(); the parent sends `{answers: [[method, target, answer], ...], token}`,
// gets back `{base, host}`.

import { fork } from 'node:child_process';
import { startFakeGraph } from './fake-graph.mjs';

/**
 * Starts the fake in a child process.
 * @param {{token: string, answers: [string, string, object][]}} setup
 */
export async function startFakeGraphProcess(setup) {
  const child = fork(new URL(import.meta.url), ['child'], { stdio: 'inherit' });
  child.send(setup);
  const address = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`the fake Graph process exited with code ${code}`)));
  });
  return {
    ...address,
    /** App-only settings for this fake, as fake-graph.mjs's clientCredentials. */
    clientCredentials() {
      return {
        auth: 'clientCredentials',
        tenantId: 'contoso.onmicrosoft.com',
        clientId: '11111111-2222-3333-4444-555555555555',
        clientSecret: 'fake-secret',
        loginBaseUrl: address.base,
        graphBaseUrl: `${address.base}/v1.0`,
      };
    },
    close() {
      child.kill();
    },
  };
}

if (process.argv[2] === 'child') {
  process.once('message', async ({ token, answers }) => {
    const fake = await startFakeGraph();
    fake.issueToken(token);
    for (const [method, target, answer] of answers) {
      fake.answer(method, target, answer);
    }
    process.send({ base: fake.base, host: fake.host });
  });
}
