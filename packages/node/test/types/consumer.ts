// A TypeScript caller of the package: compiles only if index.d.ts offers what the README
// shows, with the types the runtime returns (checked by test/types.test.mjs).
import { openConnector, ConnectorError, type ActionDescriptor, type ErrorCode } from '@graph-connector/node';

export async function example(graphBaseUrl: string): Promise<string> {
  const connector = await openConnector({
    config: { auth: 'accessToken', accessToken: 't', graphBaseUrl },
    allowHosts: ['127.0.0.1:8080'],
    timeoutMs: 5_000,
    onOutput: (stream: 'stdout' | 'stderr', text: string) => void [stream, text],
  });
  const actions: ActionDescriptor[] = await connector.listActions();
  const schema: Record<string, unknown> = actions[0].inputSchema;
  const hosts: string[] = connector.describe().hosts ?? [];
  try {
    const user = await connector.invoke<{ id: string }>('users.get', { userId: 'abc' }, { timeoutMs: 1_000, dryRun: false });
    return `${user.id} ${Object.keys(schema).length} ${hosts.length}`;
  } catch (error) {
    if (error instanceof ConnectorError) {
      const code: ErrorCode = error.code;
      const wait: number | undefined = error.retryAfterMs;
      const status: number | undefined = error.status;
      return `${code} ${wait ?? ''} ${status ?? ''} ${error.graphCode ?? ''} ${error.requestId ?? ''}`;
    }
    throw error;
  } finally {
    await connector.close();
  }
}
