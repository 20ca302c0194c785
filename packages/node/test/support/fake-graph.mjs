// A fake Microsoft Graph and token endpoint on 127.0.0.1 for the package's tests: records
// every request it sees (method, path with query, headers, body) and answers with what the
// test's routes say.

import http from 'node:http';

/**
 * @typedef {{method: string, target: string, headers: Record<string, string | string[]>, body: string}} SeenRequest
 * @typedef {(request: SeenRequest) => {status?: number, headers?: Record<string, string>, body?: unknown, delayMs?: number} | undefined} Route
 */

/** Starts a fake on an ephemeral port of 127.0.0.1. */
export async function startFakeGraph() {
  /** @type {SeenRequest[]} */
  const requests = [];
  /** @type {Route[]} */
  const routes = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const seen = { method: req.method, target: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(seen);
      // The route added last wins, so a test can override what an earlier one set up.
      const answer = routes.toReversed().map((route) => route(seen)).find((found) => found !== undefined) ?? {
        status: 404,
        body: { error: { code: 'Request_ResourceNotFound', message: `the fake has no route for ${req.method} ${req.url}` } },
      };
      const send = () => {
        const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
        res.end(body);
      };
      // Unref'd: an answer still pending when a test ends does not hold its process.
      if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
      else send();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    base,
    /** The fake's destination, for `allowHosts`: the component declares no loopback host. */
    host: `127.0.0.1:${port}`,
    requests,
    /** Adds a route; of the routes that answer a request, the one added last wins. */
    route(route) {
      routes.push(route);
    },
    /** Answers `method path` (the path with its query) with `answer`. */
    answer(method, target, answer) {
      routes.push((seen) => (seen.method === method && seen.target === target ? answer : undefined));
    },
    /** The requests to Graph (under /v1.0), without the token requests. */
    graphRequests() {
      return requests.filter((seen) => seen.target.startsWith('/v1.0/'));
    },
    /** Settings of an app-only connection whose login and Graph hosts are this fake. */
    clientCredentials(clientSecret = 'fake-secret') {
      return {
        auth: 'clientCredentials',
        tenantId: 'contoso.onmicrosoft.com',
        clientId: '11111111-2222-3333-4444-555555555555',
        clientSecret,
        loginBaseUrl: base,
        graphBaseUrl: `${base}/v1.0`,
      };
    },
    /** Answers the token endpoint with `token`, valid for an hour. */
    issueToken(token) {
      this.answer('POST', '/contoso.onmicrosoft.com/oauth2/v2.0/token', {
        body: { token_type: 'Bearer', expires_in: 3600, access_token: token },
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
