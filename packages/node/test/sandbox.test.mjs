// What the package keeps the component from: hosts outside its allowlist, the process's
// environment, the process's output, memory past its cap, time past its deadline.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { cli, http } from '@bytecodealliance/preview2-shim';
import { openConnector } from '@graph-connector/node';
import { AllowedHosts, connectionAllowlist, declaredHosts, HostPattern } from '../src/allowlist.js';
import { withMemoryLimit } from '../src/memory-limit.js';
import { sandboxImports } from '../src/sandbox.js';
import { hostileComponent, needsHostileComponent } from './support/components.mjs';
import { startFakeGraph } from './support/fake-graph.mjs';

const run = promisify(execFile);

/** A policy that allows nothing. */
const denyingPolicy = { permits: () => false, admitRequest: () => true };

describe('the allowlist', () => {
  const allowed = (...patterns) => new AllowedHosts(patterns.map((pattern, i) => HostPattern.parse(pattern, `p${i}`)));

  test('a port restricts only when given; hosts compare without case; no port means the scheme default', () => {
    const hosts = allowed('127.0.0.1:8080', 'Graph.Example', 'login.example:443', '[::1]:9000');
    assert.equal(hosts.permits('http', '127.0.0.1:8080'), true);
    assert.equal(hosts.permits('http', '127.0.0.1:8081'), false);
    assert.equal(hosts.permits('http', '127.0.0.1'), false);
    assert.equal(hosts.permits('https', 'graph.example:8443'), true);
    assert.equal(hosts.permits('https', 'GRAPH.EXAMPLE'), true);
    assert.equal(hosts.permits('https', 'login.example'), true);
    assert.equal(hosts.permits('http', 'login.example'), false);
    assert.equal(hosts.permits('http', '[::1]:9000'), true);
    assert.equal(hosts.permits('https', 'graph.example.evil.example'), false);
    assert.equal(hosts.permits('https', undefined), false);
    assert.equal(hosts.permits('https', 'graph.example:99999'), false);
  });

  test('a pattern that is not a host is refused, naming the field', () => {
    assert.throws(() => HostPattern.parse('https://graph.example/', 'allowHosts[2]'), {
      message: 'allowHosts[2] must be a host name, not a URL (got "https://graph.example/")',
    });
    assert.throws(() => HostPattern.parse('graph.example:http', 'allowHosts[0]'), /allowHosts\[0\]: the port/);
    assert.throws(() => HostPattern.parse(':80', 'allowHosts[0]'), /allowHosts\[0\] has an empty host/);
    assert.throws(() => HostPattern.parse(42, 'allowHosts[1]'), /allowHosts\[1\] must be a string/);
  });

  /** A core module holding only custom sections: (name, text) pairs. */
  function customSections(...sections) {
    const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    for (const [name, text] of sections) {
      const content = [name.length, ...Buffer.from(name), ...Buffer.from(text)];
      assert.ok(content.length < 128 && name.length < 128, 'one-byte lengths only');
      bytes.push(0x00, content.length, ...content);
    }
    return new WebAssembly.Module(Uint8Array.from(bytes));
  }

  test('a component declares its hosts in a connector-hosts custom section; lines that are not hosts are ignored', () => {
    const modules = [
      customSections(['package-docs', 'not hosts'], ['connector-hosts', 'login.example\nGraph.Example:8443\n\nnot a host/\n']),
      customSections(['connector-hosts', 'login.example\nother.example\n']),
    ];
    assert.deepEqual(declaredHosts(modules), ['login.example', 'graph.example:8443', 'other.example']);
    assert.deepEqual(declaredHosts([customSections(['package-docs', 'x'])]), []);
  });

  test('a connection may reach the hosts it names that the component declares, and allowHosts', () => {
    const reach = (described, declared, extra) =>
      connectionAllowlist({ described, declared, extra }).patterns.map(String);
    const declared = ['login.example', 'graph.example:8443'];
    assert.deepEqual(reach(['login.example', 'graph.example:8443'], declared, []), ['login.example', 'graph.example:8443']);
    // A port the declaration does not cover, a host it does not name, a pattern wider than
    // the declared one: refused.
    assert.deepEqual(reach(['login.example:444', 'graph.example', 'evil.example', 42, 'not a host/'], declared, []), [
      'login.example:444',
    ]);
    assert.deepEqual(reach(['evil.example'], declared, ['127.0.0.1:8080']), ['127.0.0.1:8080']);
    assert.deepEqual(reach(undefined, declared, []), []);
  });

  describe("the outgoing handler the component gets", () => {
    let fake;
    before(async () => {
      fake = await startFakeGraph();
    });
    after(() => fake.close());

    /** Sends `GET http://{authority}{path}` through the sandbox's handler, as the component would. */
    function send(imports, authority, path) {
      const { OutgoingRequest, Fields, OutgoingBody } = imports['wasi:http/types'];
      const request = new OutgoingRequest(new Fields());
      request.setScheme({ tag: 'HTTP' });
      request.setAuthority(authority);
      request.setPathWithQuery(path);
      const body = request.body();
      const future = imports['wasi:http/outgoing-handler'].handle(request, undefined);
      OutgoingBody.finish(body, undefined);
      return future;
    }

    test('passes a request to an allowed host on, and refuses any other with HTTP-request-denied', async () => {
      const hosts = allowed(`127.0.0.1:${fake.port}`);
      const imports = sandboxImports({ permits: (scheme, authority) => hosts.permits(scheme, authority), admitRequest: () => true });
      const other = `127.0.0.1:${fake.port === 65535 ? 65534 : fake.port + 1}`;
      assert.throws(() => send(imports, other, '/refused'), (thrown) => {
        assert.deepEqual(thrown, { tag: 'HTTP-request-denied' });
        return true;
      });
      assert.ok(send(imports, `127.0.0.1:${fake.port}`, '/allowed') instanceof http.types.FutureIncomingResponse);
      for (let waited = 0; fake.requests.length === 0 && waited < 5000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.deepEqual(fake.requests.map((seen) => `${seen.method} ${seen.target}`), ['GET /allowed']);
    });
  });

  test('a component that reaches for a host outside its allowlist is refused, and reports a transport error', async (t) => {
    if (!needsHostileComponent(t)) return;
    const connector = await openConnector({ config: {}, component: hostileComponent });
    try {
      await assert.rejects(connector.invoke('call-disallowed-host', {}), {
        name: 'ConnectorError',
        code: 'transport',
        message: 'GET https://example.com/ failed: ErrorCode::HttpRequestDenied',
      });
      // The same instance goes on working.
      assert.deepEqual(await connector.invoke('ok', { n: 1 }), { ok: true, input: { n: 1 } });
    } finally {
      await connector.close();
    }
  });
});

describe('the environment', () => {
  test('the component is given no environment variables and no arguments', () => {
    const environment = sandboxImports(denyingPolicy)['wasi:cli/environment'];
    assert.deepEqual(environment.getEnvironment(), []);
    assert.deepEqual(environment.getArguments(), []);
    assert.equal(environment.initialCwd(), undefined);
    // The control: the shim's own interface, which the package replaces, hands over the
    // process's variables (as they were when it loaded) and its arguments.
    const shimView = cli.environment.getEnvironment();
    assert.ok(shimView.length > 0 && shimView.length === Object.keys(process.env).length);
    assert.ok(shimView.every(([name, value]) => process.env[name] === value));
  });

  test('exit ends the call, not the process', () => {
    const exit = sandboxImports(denyingPolicy)['wasi:cli/exit'];
    assert.throws(() => exit.exit({ tag: 'err', val: undefined }), { message: 'the component called exit (err)' });
  });
});

describe('limits', () => {
  // (module (type (func (param i32) (result i32))) (func (type 0) local.get 0 memory.grow)
  //   (memory 1 [max]) (export "grow" (func 0)) (export "memory" (memory 0)))
  function growModule(memoryLimits) {
    return Uint8Array.of(
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,
      0x03, 0x02, 0x01, 0x00,
      0x05, memoryLimits.length + 1, 0x01, ...memoryLimits,
      0x07, 0x11, 0x02, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x00, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
      0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b,
    );
  }
  const grow = (bytes) => new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.grow;

  test('a memory without a maximum gets the cap; one with a larger maximum gets it lowered', () => {
    const uncapped = grow(growModule([0x00, 0x01]));
    assert.equal(uncapped(8), 1, 'the module as written grows freely');
    for (const limits of [[0x00, 0x01], [0x01, 0x01, 0x64]]) {
      const capped = grow(withMemoryLimit(growModule(limits), 2 * 65536 + 100));
      assert.equal(capped(1), 1, 'growing to the cap succeeds');
      assert.equal(capped(1), -1, 'growing past the cap fails');
    }
    const smaller = grow(withMemoryLimit(growModule([0x01, 0x01, 0x01]), 8 * 65536));
    assert.equal(smaller(1), -1, 'a smaller declared maximum stays');
  });

  test('a cap below the memory the component starts with is refused when the connection opens', async () => {
    await assert.rejects(openConnector({ config: { auth: 'accessToken', accessToken: 't' }, maxMemoryBytes: 65536 }), {
      name: 'ConnectorError',
      code: 'invalid-config',
      message: /^`maxMemoryBytes` \(65536\) is below what the component needs to start: .*maximum memory size \(1 pages\) is less than initial/,
    });
  });

  test('a shared or 64-bit memory is refused rather than left uncapped', () => {
    assert.throws(() => withMemoryLimit(growModule([0x03, 0x01, 0x02]), 65536), /memory 0 is shared or 64-bit/);
    assert.throws(() => withMemoryLimit(Uint8Array.of(1, 2, 3), 65536), /not a core WebAssembly module/);
  });

  test('a component that allocates without end is stopped at the memory cap; its output is captured, not printed', async (t) => {
    if (!needsHostileComponent(t)) return;
    // In a process of its own, so that anything the component printed would show in that
    // process's stdout or stderr.
    const script = `
      import { openConnector } from '@graph-connector/node';
      const seen = [];
      const connector = await openConnector({
        config: {}, component: ${JSON.stringify(hostileComponent.href)}, maxMemoryBytes: 32 * 1024 * 1024,
        onOutput: (stream, text) => seen.push(stream),
      });
      const error = await connector.invoke('grow-memory', {}).catch((thrown) => thrown);
      const after = await connector.invoke('ok', { n: 2 });
      const captured = connector.capturedOutput();
      await connector.close();
      process.stdout.write(JSON.stringify({ error, after, captured, streams: [...new Set(seen)] }));
    `;
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url),
    });
    const report = JSON.parse(stdout);
    assert.deepEqual(report.error, {
      code: 'upstream',
      message: '`grow-memory` needed more than the 33554432 bytes of memory the sandbox allows; ask for less (`maxItems`, `select`, a smaller input)',
    });
    assert.deepEqual(report.after, { ok: true, input: { n: 2 } });
    assert.equal(
      report.captured.stderr,
      'memory allocation of 1048576 bytes failed\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n',
    );
    assert.equal(report.captured.stdout, '');
    assert.deepEqual(report.streams, ['stderr']);
    assert.equal(stderr, '');
  });

  test('a call that sends more requests than its cap is stopped, refused ones counted', async (t) => {
    if (!needsHostileComponent(t)) return;
    const connector = await openConnector({ config: {}, component: hostileComponent, maxRequestsPerCall: 20 });
    try {
      await assert.rejects(connector.invoke('request-flood', {}), {
        code: 'upstream',
        message: '`request-flood` sent more than the 20 requests the sandbox allows in one call; ask for less (`maxItems`)',
      });
      // The count starts again with each call.
      await assert.rejects(connector.invoke('call-disallowed-host', {}), { code: 'transport' });
    } finally {
      await connector.close();
    }
  });

  test('output that is not JSON is an internal error quoting it', async (t) => {
    if (!needsHostileComponent(t)) return;
    const connector = await openConnector({ config: {}, component: hostileComponent });
    try {
      await assert.rejects(connector.invoke('invalid-json', {}), {
        code: 'internal',
        message: /^`invalid-json` returned text that is not JSON \(.*\): this is not JSON \{$/,
      });
    } finally {
      await connector.close();
    }
  });

  test('a component that spins past its deadline is stopped, and the connection goes on with a new instance', async (t) => {
    if (!needsHostileComponent(t)) return;
    const connector = await openConnector({ config: {}, component: hostileComponent });
    try {
      await assert.rejects(connector.invoke('loop-forever', {}, { timeoutMs: 50 }), {
        code: 'transport',
        message: 'the call passed its deadline of 50 ms and the component did not end it: the package stopped the component',
      });
      assert.deepEqual(await connector.invoke('ok', { n: 3 }), { ok: true, input: { n: 3 } });
    } finally {
      await connector.close();
    }
  });
});
