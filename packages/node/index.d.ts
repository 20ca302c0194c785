// Types of the package's API (src/index.js). The component's own error codes and
// descriptors are those of the contract, `connector:plugin@0.2.0` (wit/connector.wit).

/** What kind of failure a call ended in; branch on this, never on the message. */
export type ErrorCode =
  | 'invalid-config'
  | 'invalid-input'
  | 'unknown-action'
  | 'not-connected'
  | 'auth-failed'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'throttled'
  | 'upstream'
  | 'transport'
  | 'internal';

/** The fields of a `ConnectorError`, as `toJSON()` returns them. */
export interface ConnectorErrorFields {
  code: ErrorCode;
  message: string;
  /** The HTTP status the service answered with, when there was one. */
  status?: number;
  /** The service's own error code (a Graph error code, or `AADSTSnnnn` for token errors). */
  graphCode?: string;
  /** The service's request id, for support tickets. */
  requestId?: string;
  /** How long the service asked the caller to wait before retrying, in milliseconds. */
  retryAfterMs?: number;
}

/** A failed call: the component's typed error, or the package's own (a closed connection, a stopped worker). */
export class ConnectorError extends Error implements ConnectorErrorFields {
  constructor(fields: ConnectorErrorFields);
  readonly name: 'ConnectorError';
  code: ErrorCode;
  status?: number;
  graphCode?: string;
  requestId?: string;
  retryAfterMs?: number;
  toJSON(): ConnectorErrorFields;
}

/** One action of the catalog. */
export interface ActionDescriptor {
  /** Stable identifier, e.g. `users.get`. */
  id: string;
  title: string;
  description: string;
  /** The group the action belongs to, e.g. `users`. */
  category: string;
  /** JSON Schema of the input object. */
  inputSchema: Record<string, unknown>;
  /** JSON Schema of the output object. */
  outputSchema: Record<string, unknown>;
  /** The least-privileged Graph permissions the action requires. */
  permissions: string[];
  /** True when the action only reads. */
  readOnly: boolean;
}

/** The settings of `openConnector`. */
export interface OpenOptions {
  /** The connection settings (`../shared/ACTIONS.md`): an object, or its JSON text. */
  config: Record<string, unknown> | string;
  /**
   * Destinations allowed besides the connection's own login and Graph hosts (those its
   * description names that the component declares), as `host` (any port) or `host:port`;
   * every other request is refused before any network. Settings that point elsewhere (a
   * `graphBaseUrl` of a test server) need their host here.
   */
  allowHosts?: string[];
  /** Each call's deadline in milliseconds unless the call names one (default: the settings' `timeoutMs`, else 120000). */
  timeoutMs?: number;
  /**
   * The most linear memory the component may use, in bytes (default 64 MiB, as the
   * reference host): past it, its allocations fail and the call ends as an `upstream` error.
   */
  maxMemoryBytes?: number;
  /**
   * The most requests one call may send, refused ones included (default 500, as the
   * reference host): past it, the call ends as an `upstream` error.
   */
  maxRequestsPerCall?: number;
  /**
   * Another component of the same world (`connector:plugin@0.2.0`) instead of the Graph
   * connector the package ships: the path or file URL of its JavaScript as
   * `jco transpile --instantiation async` writes it (its core modules beside it).
   */
  component?: string | URL;
  /** Receives what the component writes to stdout and stderr; nothing is printed. */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
}

/** The options of one invocation. */
export interface InvokeOptions {
  /** This call's deadline in milliseconds (at least 1). */
  timeoutMs?: number;
  /** Run the reads, send no write; the output is `{ dryRun: true, plan: [...] }`. */
  dryRun?: boolean;
}

/** One step of a dry run's plan: a write the action would send. */
export interface PlannedWrite {
  method: string;
  url: string;
  body?: unknown;
}

/** One open connection, in a worker thread of its own. */
export class Connector {
  private constructor();
  /** Runs one action; rejects with a `ConnectorError`. */
  invoke<Output extends Record<string, unknown> = Record<string, unknown>>(
    action: string,
    input?: Record<string, unknown>,
    options?: InvokeOptions,
  ): Promise<Output>;
  /** The catalog, schemas parsed. */
  listActions(): Promise<ActionDescriptor[]>;
  /**
   * The settings in effect without secrets, as the component describes them; the Graph
   * connector's include `hosts`, the destinations the connection reaches.
   */
  describe(): Record<string, unknown> & { hosts?: string[] };
  /**
   * The destinations the connection may reach: the hosts its description names that the
   * component declares (its `connector-hosts` custom section), then `allowHosts`.
   */
  allowedHosts(): string[];
  /** The last part of what the component wrote to stdout and stderr. */
  capturedOutput(): { stdout: string; stderr: string };
  /** Stops the worker; the secrets and tokens go with it. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens a connection: validates `config` (no request is made) and starts its worker. */
export function openConnector(options: OpenOptions): Promise<Connector>;
