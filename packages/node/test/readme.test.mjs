// The README's five-line program, run as written against a fake Graph.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { inspect, promisify } from 'node:util';
import { openConnector } from '@graph-connector/node';
import { startFakeGraph } from './support/fake-graph.mjs';

test("the README's program lists the actions and gets a user", async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const program = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(program, 'the README has a js block');
  assert.equal(program.trimEnd().split('\n').length, 5, program);

  const fake = await startFakeGraph();
  try {
    fake.issueToken('token-readme');
    const user = { id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd', displayName: 'Adele Vance', mail: 'AdeleV@contoso.com' };
    fake.answer('GET', '/v1.0/users/AdeleV@contoso.com', { body: user });
    // Inside the package, so that its import of the package resolves as an installed one would.
    const directory = new URL('./generated/', import.meta.url);
    await mkdir(directory, { recursive: true });
    const file = new URL('readme-program.mjs', directory);
    await writeFile(file, program);
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [file.pathname, fake.host], {
      env: { ...process.env, GRAPH_CONNECTION: JSON.stringify(fake.clientCredentials()) },
    });
    assert.equal(stderr, '');

    const catalog = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
    const ids = (await catalog.listActions()).map((action) => action.id);
    await catalog.close();
    assert.equal(stdout, `${ids.join(' ')}\n${inspect(user)}\n`);
    assert.ok(ids.includes('users.get'));
    assert.deepEqual(
      fake.graphRequests().map((seen) => [seen.method, seen.target, seen.headers.authorization]),
      [['GET', '/v1.0/users/AdeleV@contoso.com', 'Bearer token-readme']],
    );
  } finally {
    await fake.close();
  }
});
