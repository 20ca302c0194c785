// The package against a fake Graph and token endpoint on 127.0.0.1: the exact requests the
// component sends through it, and what the caller gets back.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ConnectorError, openConnector } from '@graph-connector/node';
import { declaredHosts } from '../src/allowlist.js';
import { startFakeGraph } from './support/fake-graph.mjs';

const TOKEN_PATH = '/contoso.onmicrosoft.com/oauth2/v2.0/token';

/** The headers a request carried besides the transport's own (`host`, `connection`). */
function sentHeaders(request) {
  const { host, connection, ...rest } = request.headers;
  return rest;
}

describe('a connection to a fake Graph', () => {
  let fake;
  before(async () => {
    fake = await startFakeGraph();
  });
  after(() => fake.close());

  test('users.get sends one token request and one GET, and returns the user', async () => {
    fake.requests.length = 0;
    fake.issueToken('token-get');
    const user = { id: 'abc', displayName: 'Adele Vance', mail: 'AdeleV@contoso.com' };
    fake.answer('GET', '/v1.0/users/abc?$select=id,displayName,mail', { body: user });
    const connector = await openConnector({ config: fake.clientCredentials('secret-get'), allowHosts: [fake.host] });
    try {
      const output = await connector.invoke('users.get', { userId: 'abc', select: 'id,displayName,mail' });
      assert.deepEqual(output, user);
    } finally {
      await connector.close();
    }
    assert.equal(fake.requests.length, 2);
    const [token, get] = fake.requests;
    assert.equal(token.method, 'POST');
    assert.equal(token.target, TOKEN_PATH);
    assert.equal(token.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(token.headers.accept, 'application/json');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(token.body)), {
      client_id: '11111111-2222-3333-4444-555555555555',
      client_secret: 'secret-get',
      grant_type: 'client_credentials',
      scope: 'https://graph.microsoft.com/.default',
    });
    assert.equal(get.method, 'GET');
    assert.equal(get.target, '/v1.0/users/abc?$select=id,displayName,mail');
    assert.deepEqual(sentHeaders(get), { authorization: 'Bearer token-get', accept: 'application/json' });
    assert.equal(get.body, '');
  });

  test('users.list follows @odata.nextLink and returns every page in one list', async () => {
    fake.requests.length = 0;
    fake.issueToken('token-list');
    fake.answer('GET', '/v1.0/users?$top=2', {
      body: { value: [{ id: '1' }, { id: '2' }], '@odata.nextLink': `${fake.base}/v1.0/users?$top=2&$skiptoken=page2` },
    });
    fake.answer('GET', '/v1.0/users?$top=2&$skiptoken=page2', { body: { value: [{ id: '3' }] } });
    const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
    try {
      assert.deepEqual(await connector.invoke('users.list', { top: 2 }), { value: [{ id: '1' }, { id: '2' }, { id: '3' }] });
    } finally {
      await connector.close();
    }
    assert.deepEqual(
      fake.graphRequests().map((seen) => [seen.method, seen.target, seen.headers.authorization]),
      [
        ['GET', '/v1.0/users?$top=2', 'Bearer token-list'],
        ['GET', '/v1.0/users?$top=2&$skiptoken=page2', 'Bearer token-list'],
      ],
    );
  });

  test("a Graph error is a ConnectorError with Graph's code, status and request id", async () => {
    fake.issueToken('token-error');
    fake.answer('GET', '/v1.0/users/missing', {
      status: 404,
      headers: { 'request-id': 'rid-404' },
      body: { error: { code: 'Request_ResourceNotFound', message: "Resource 'missing' does not exist." } },
    });
    const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
    try {
      const error = await connector.invoke('users.get', { userId: 'missing' }).then(
        () => assert.fail('users.get of a missing user succeeded'),
        (thrown) => thrown,
      );
      assert.ok(error instanceof ConnectorError);
      assert.ok(error instanceof Error);
      assert.equal(error.name, 'ConnectorError');
      assert.deepEqual(JSON.parse(JSON.stringify(error)), {
        code: 'not-found',
        message: "Resource 'missing' does not exist.",
        status: 404,
        graphCode: 'Request_ResourceNotFound',
        requestId: 'rid-404',
      });
      assert.equal(error.retryAfterMs, undefined);
    } finally {
      await connector.close();
    }
  });

  test('bad input is a typed error naming the field, before any request', async () => {
    fake.requests.length = 0;
    const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
    try {
      await assert.rejects(connector.invoke('users.get', {}), { name: 'ConnectorError', code: 'invalid-input', message: '`userId` is required' });
      await assert.rejects(connector.invoke('users.get', 'abc'), { code: 'invalid-input', message: '`input` must be an object' });
      await assert.rejects(connector.invoke('users.get', { userId: 'abc' }, { timeoutMs: 0 }), {
        code: 'invalid-input',
        message: '`timeoutMs` must be a whole number of milliseconds, at least 1',
      });
      await assert.rejects(connector.invoke('users.frobnicate', {}), { code: 'unknown-action' });
    } finally {
      await connector.close();
    }
    await assert.rejects(openConnector({ config: { auth: 'clientCredentials' } }), { code: 'invalid-config' });
    await assert.rejects(openConnector({ config: fake.clientCredentials(), allowHosts: ['https://example.com/'] }), {
      code: 'invalid-config',
      message: '`allowHosts[0]` must be a host name, not a URL (got "https://example.com/")',
    });
    await assert.rejects(openConnector({ config: fake.clientCredentials(), allowHosts: ['graph.example', 'graph.example:http'] }), {
      code: 'invalid-config',
      message: '`allowHosts[1]`: the port of "graph.example:http" must be a number from 0 to 65535',
    });
    await assert.rejects(openConnector({ config: 42 }), {
      code: 'invalid-config',
      message: '`config` must be the connection settings: an object, or its JSON text',
    });
    assert.deepEqual(fake.requests, []);
  });

  test('a 429 with Retry-After is waited out and retried; the retry is answered', async () => {
    fake.requests.length = 0;
    fake.issueToken('token-throttle');
    let answered = 0;
    fake.route((seen) => {
      if (seen.target !== '/v1.0/users/busy') return undefined;
      answered += 1;
      return answered === 1
        ? { status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'TooManyRequests', message: 'slow down' } } }
        : { body: { id: 'busy', displayName: 'Busy Bee' } };
    });
    const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
    try {
      assert.deepEqual(await connector.invoke('users.get', { userId: 'busy' }), { id: 'busy', displayName: 'Busy Bee' });
    } finally {
      await connector.close();
    }
    assert.deepEqual(
      fake.graphRequests().map((seen) => [seen.method, seen.target, seen.headers.authorization]),
      [
        ['GET', '/v1.0/users/busy', 'Bearer token-throttle'],
        ['GET', '/v1.0/users/busy', 'Bearer token-throttle'],
      ],
    );
  });

  test('throttling that outlasts the retries is `throttled` with a numeric retryAfterMs', async () => {
    fake.issueToken('token-throttled');
    fake.answer('GET', '/v1.0/users/always-busy', {
      status: 429,
      headers: { 'retry-after': '7' },
      body: { error: { code: 'TooManyRequests', message: 'slow down' } },
    });
    const connector = await openConnector({ config: { ...fake.clientCredentials(), maxRetries: 0 }, allowHosts: [fake.host] });
    try {
      const error = await connector.invoke('users.get', { userId: 'always-busy' }).then(
        () => assert.fail('a throttled users.get succeeded'),
        (thrown) => thrown,
      );
      assert.equal(error.code, 'throttled');
      assert.equal(error.status, 429);
      assert.equal(error.retryAfterMs, 7000);
      assert.equal(typeof error.retryAfterMs, 'number');
      assert.equal(JSON.parse(JSON.stringify(error)).retryAfterMs, 7000);
    } finally {
      await connector.close();
    }
  });

  test('a dry run returns the plan of the writes and sends none of them', async () => {
    fake.requests.length = 0;
    const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
    const user = {
      displayName: 'Nestor Wilke',
      userPrincipalName: 'NestorW@contoso.com',
      mailNickname: 'NestorW',
      accountEnabled: true,
      passwordProfile: { password: 'Initial-Passw0rd!' },
    };
    try {
      const plan = await connector.invoke('users.create', user, { dryRun: true });
      assert.deepEqual(plan, {
        dryRun: true,
        plan: [
          {
            method: 'POST',
            url: `${fake.base}/v1.0/users`,
            body: { ...user, passwordProfile: { password: '[hidden]' } },
            returns: { id: '{write-1.id}' },
          },
        ],
      });
    } finally {
      await connector.close();
    }
    assert.deepEqual(fake.requests, []);
  });

  test('two connections with different tokens run in parallel, each request with its own token', async () => {
    fake.requests.length = 0;
    // Two tenants on the same fake: each connection's token endpoint is its tenant's.
    for (const tenant of ['tenant-a.example', 'tenant-b.example']) {
      fake.answer('POST', `/${tenant}/oauth2/v2.0/token`, {
        body: { token_type: 'Bearer', expires_in: 3600, access_token: `token-of-${tenant}` },
      });
    }
    // Each answer waits, so the two calls overlap only if they really run side by side.
    fake.route((seen) => {
      const match = /^\/v1\.0\/users\/(user-[ab]-\d)$/.exec(seen.target);
      return match ? { body: { id: match[1] }, delayMs: 100 } : undefined;
    });
    const open = (tenant) => openConnector({ config: { ...fake.clientCredentials(), tenantId: tenant }, allowHosts: [fake.host] });
    const [a, b] = await Promise.all([open('tenant-a.example'), open('tenant-b.example')]);
    try {
      const calls = [];
      for (const n of [1, 2, 3]) {
        calls.push(a.invoke('users.get', { userId: `user-a-${n}` }), b.invoke('users.get', { userId: `user-b-${n}` }));
      }
      const outputs = await Promise.all(calls);
      assert.deepEqual(outputs, [1, 2, 3].flatMap((n) => [{ id: `user-a-${n}` }, { id: `user-b-${n}` }]));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    const graph = fake.graphRequests();
    assert.equal(graph.length, 6);
    for (const seen of graph) {
      const tenant = seen.target.includes('user-a-') ? 'tenant-a.example' : 'tenant-b.example';
      assert.equal(seen.headers.authorization, `Bearer token-of-${tenant}`, seen.target);
    }
    assert.deepEqual(
      fake.requests.filter((seen) => seen.method === 'POST').map((seen) => seen.target).sort(),
      ['/tenant-a.example/oauth2/v2.0/token', '/tenant-b.example/oauth2/v2.0/token'],
    );
    // Side by side: the second connection's first request arrived before the first
    // connection's last one, although each connection runs its calls one after another.
    const order = graph.map((seen) => seen.target.slice('/v1.0/users/'.length));
    assert.ok(order.indexOf('user-b-1') < order.indexOf('user-a-3'), order.join(' '));
  });

  test("a call's timeoutMs reaches the component, which ends a request still unanswered at it", async () => {
    fake.answer('GET', '/v1.0/users/unanswered', { body: { id: 'unanswered' }, delayMs: 10_000 });
    const connector = await openConnector({ config: { auth: 'accessToken', accessToken: 't', graphBaseUrl: `${fake.base}/v1.0` }, allowHosts: [fake.host] });
    try {
      await assert.rejects(connector.invoke('users.get', { userId: 'unanswered' }, { timeoutMs: 1000 }), {
        code: 'transport',
        message: /^GET http:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\/unanswered: the invocation's deadline \(`timeoutMs`, 1000 ms\) passed while waiting for its answer/,
      });
    } finally {
      await connector.close();
    }
  });

  test("a connection to the global cloud may reach the cloud's login and Graph hosts the component declares", async () => {
    // What the packaged component declares, read as the package reads it.
    const directory = new URL('../generated/', import.meta.url);
    const names = (await readdir(directory)).filter((name) => name.endsWith('.wasm'));
    const modules = await Promise.all(names.map(async (name) => new WebAssembly.Module(await readFile(new URL(name, directory)))));
    const declared = declaredHosts(modules);
    const connector = await openConnector({
      config: { auth: 'clientCredentials', tenantId: 'contoso.onmicrosoft.com', clientId: 'c', clientSecret: 's' },
    });
    try {
      assert.deepEqual(connector.describe().hosts, ['login.microsoftonline.com', 'graph.microsoft.com']);
      assert.deepEqual(
        connector.allowedHosts(),
        ['login.microsoftonline.com', 'graph.microsoft.com'].filter((host) => declared.includes(host)),
      );
    } finally {
      await connector.close();
    }
  });

  test('settings that point at a host the component does not declare reach nothing unless allowed', async () => {
    fake.requests.length = 0;
    const connector = await openConnector({ config: fake.clientCredentials() });
    try {
      assert.deepEqual(connector.describe().hosts, [fake.host]);
      assert.deepEqual(connector.allowedHosts(), []);
      await assert.rejects(connector.invoke('users.get', { userId: 'abc' }), {
        code: 'transport',
        message: 'token endpoint unreachable: HTTP-request-denied',
      });
    } finally {
      await connector.close();
    }
    assert.deepEqual(fake.requests, []);
  });

  test('closing a connection fails the call in flight and the calls waiting, as not-connected', async () => {
    fake.answer('GET', '/v1.0/users/stalled', { body: { id: 'stalled' }, delayMs: 2000 });
    const connector = await openConnector({ config: { auth: 'accessToken', accessToken: 't', graphBaseUrl: `${fake.base}/v1.0` }, allowHosts: [fake.host] });
    const inFlight = connector.invoke('users.get', { userId: 'stalled' });
    const waiting = connector.invoke('users.get', { userId: 'stalled' });
    for (let waited = 0; !fake.requests.some((seen) => seen.target === '/v1.0/users/stalled') && waited < 5000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const closed = { code: 'not-connected', message: 'the connection was closed' };
    const outcomes = Promise.all([assert.rejects(inFlight, closed), assert.rejects(waiting, closed)]);
    await connector.close();
    await outcomes;
  });

  test('a connection left open does not keep the process alive', async () => {
    fake.answer('GET', '/v1.0/users/forgotten', { body: { id: 'forgotten' } });
    const script = `
      import { openConnector } from '@graph-connector/node';
      const connector = await openConnector({ config: process.argv[1], allowHosts: [process.argv[2]] });
      console.log(JSON.stringify(await connector.invoke('users.get', { userId: 'forgotten' })));
    `;
    const config = JSON.stringify({ auth: 'accessToken', accessToken: 't', graphBaseUrl: `${fake.base}/v1.0` });
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, config, fake.host], {
      cwd: new URL('..', import.meta.url),
      timeout: 30_000,
    });
    assert.equal(stdout, '{"id":"forgotten"}\n');
  });

  test('listActions returns the catalog with parsed schemas; describe names the hosts', async () => {
    const connector = await openConnector({ config: fake.clientCredentials(), allowHosts: [fake.host] });
    try {
      const actions = await connector.listActions();
      const get = actions.find((action) => action.id === 'users.get');
      assert.equal(get.readOnly, true);
      assert.equal(get.category, 'users');
      assert.deepEqual(get.inputSchema.required, ['userId']);
      assert.ok(actions.some((action) => action.id === 'users.create' && action.readOnly === false));
      assert.deepEqual(connector.describe().hosts, [fake.host]);
      // The component declares no loopback host: only allowHosts lets the connection reach it.
      assert.deepEqual(connector.allowedHosts(), [fake.host]);
    } finally {
      await connector.close();
    }
    await assert.rejects(connector.invoke('users.get', { userId: 'abc' }), { code: 'not-connected' });
  });
});
