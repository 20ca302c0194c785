import { openConnector } from '@graph-connector/node';
import { startFakeGraph } from './test/support/fake-graph.mjs';
const fake = await startFakeGraph();
fake.answer('GET', '/v1.0/users/slow', { body: { id: 'slow' }, delayMs: 300 });
const c = await openConnector({ config: { auth: 'accessToken', accessToken: 't', graphBaseUrl: `${fake.base}/v1.0` } });
console.log(await c.invoke('users.get', { userId: 'slow' }).catch((e) => e.code));
await fake.close();
setTimeout(() => console.log(process._getActiveHandles().map((h) => h.constructor.name), process._getActiveRequests().length), 500).unref();
