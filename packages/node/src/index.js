// The package's API: open a connection of the Graph connector component, invoke its actions,
// close it. Each connection runs in a worker thread of its own (src/worker.js), so its
// synchronous WASI calls never block the caller's event loop, and two connections run in
// parallel; here, on the caller's thread, every call is a promise.

import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { declaredHosts, HostPattern } from './allowlist.js';
import { withMemoryLimit } from './memory-limit.js';

const workerScript = new URL('./worker.js', import.meta.url);

/**
 * The deadline of an invocation when neither the call, nor `openConnector`, nor the
 * connection's `timeoutMs` setting names one: the component's own default (the contract's
 * `invoke-options.timeout-ms`).
 */
const DEFAULT_DEADLINE_MS = 120_000;

/**
 * How long past an invocation's deadline the package waits for the component to answer
 * before it stops the worker. The component ends its own calls at the deadline; this
 * margin only covers handing the answer back, so the worker is stopped only when the
 * component no longer keeps its deadline (a spin, a wait the shim does not bound).
 */
const DEADLINE_GRACE_MS = 2_000;

/**
 * The most linear memory one instance may use unless `openConnector` says otherwise: the
 * reference host's default (`Limits::DEFAULT_MEMORY_BYTES` in host/src/sandbox/runtime.rs).
 */
const DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024;

/**
 * The most requests one call may send (refused ones count too) unless `openConnector` says
 * otherwise: the reference host's default (`Limits::requests_per_invocation`).
 */
const DEFAULT_REQUESTS_PER_CALL = 500;

/** How much of the component's stdout and stderr a connection keeps, per stream. */
const CAPTURED_OUTPUT_BYTES = 64 * 1024;

/** A failed call: the component's typed `connector-error`, or the package's own. */
export class ConnectorError extends Error {
  /**
   * @param {{code: string, message: string, status?: number, graphCode?: string,
   *          requestId?: string, retryAfterMs?: number}} fields
   */
  constructor({ code, message, status, graphCode, requestId, retryAfterMs }) {
    super(message);
    this.name = 'ConnectorError';
    this.code = code;
    if (status !== undefined) this.status = status;
    if (graphCode !== undefined) this.graphCode = graphCode;
    if (requestId !== undefined) this.requestId = requestId;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }

  toJSON() {
    const { code, message, status, graphCode, requestId, retryAfterMs } = this;
    return { code, message, status, graphCode, requestId, retryAfterMs };
  }
}

/** The Graph connector shipped in the package, transpiled by build.sh. */
const packagedComponent = new URL('../generated/graph_connector.js', import.meta.url);

/** Compiled core modules, per transpiled component and memory cap. */
const compiledModules = new Map();

/**
 * A transpiled component's core modules (`NAME.core*.wasm` beside `NAME.js`), with their
 * memories capped at `maxMemoryBytes`, compiled once per process (off the event loop) and
 * handed to every worker (a `WebAssembly.Module` crosses to a worker without being compiled
 * again); and the hosts the component declares in them.
 * @param {URL} component
 * @param {number} maxMemoryBytes
 */
function coreModules(component, maxMemoryBytes) {
  const key = `${maxMemoryBytes} ${component.href}`;
  if (!compiledModules.has(key)) {
    const compiling = (async () => {
      const directory = new URL('.', component);
      const stem = component.pathname.split('/').pop().replace(/\.js$/, '');
      let names;
      try {
        names = (await readdir(directory)).filter((name) => name.startsWith(`${stem}.core`) && name.endsWith('.wasm'));
      } catch {
        names = [];
      }
      if (names.length === 0) {
        const hint = component.href === packagedComponent.href ? ': run packages/build.sh node' : '';
        throw new ConnectorError({
          code: 'invalid-config',
          message: `no transpiled component at ${fileURLToPath(component)} (its core modules are missing)${hint}`,
        });
      }
      const entries = await Promise.all(
        names.map(async (name) => {
          const capped = withMemoryLimit(await readFile(new URL(name, directory)), maxMemoryBytes);
          try {
            return [name, await WebAssembly.compile(capped)];
          } catch (error) {
            if (/maximum memory size/.test(error.message)) {
              throw new ConnectorError({
                code: 'invalid-config',
                message: `\`maxMemoryBytes\` (${maxMemoryBytes}) is below what the component needs to start: ${error.message}`,
              });
            }
            throw new ConnectorError({ code: 'internal', message: `${name} does not compile: ${error.message}` });
          }
        }),
      );
      return { modules: Object.fromEntries(entries), declared: declaredHosts(entries.map(([, module]) => module)) };
    })();
    compiledModules.set(key, compiling);
    compiling.catch(() => compiledModules.delete(key));
  }
  return compiledModules.get(key);
}

/** The `component` option as a file URL of the transpiled component's JavaScript. */
function componentUrl(component) {
  if (component === undefined) {
    return packagedComponent;
  }
  if (component instanceof URL) {
    return component;
  }
  if (typeof component === 'string' && component !== '') {
    return component.startsWith('file:') ? new URL(component) : pathToFileURL(component);
  }
  throw new ConnectorError({
    code: 'invalid-config',
    message: '`component` must be the path or file URL of a component transpiled with `jco transpile --instantiation async`',
  });
}

/**
 * The connection settings as the JSON text the component reads.
 * @returns {string}
 */
function configText(config) {
  if (typeof config === 'string') {
    return config;
  }
  if (config !== null && typeof config === 'object' && !Array.isArray(config)) {
    return JSON.stringify(config);
  }
  throw new ConnectorError({
    code: 'invalid-config',
    message: '`config` must be the connection settings: an object, or its JSON text',
  });
}

/** A deadline in milliseconds: a whole number of at least 1, or undefined. */
function deadline(value, field, code) {
  if (value === undefined) {
    return undefined;
  }
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConnectorError({ code, message: `\`${field}\` must be a whole number of milliseconds, at least 1` });
  }
  return value;
}

/** `timeoutMs` of the settings when it is a whole number (the component checks it further). */
function settingsDeadline(text) {
  try {
    const value = JSON.parse(text)?.timeoutMs;
    const number = typeof value === 'string' ? Number(value.trim()) : value;
    return Number.isSafeInteger(number) && number >= 1 ? number : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps the last `CAPTURED_OUTPUT_BYTES` of a stream. */
class OutputTail {
  #chunks = [];
  #bytes = 0;

  push(chunk) {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes > CAPTURED_OUTPUT_BYTES && this.#chunks.length > 1) {
      this.#bytes -= this.#chunks.shift().length;
    }
  }

  text() {
    const whole = Buffer.concat(this.#chunks);
    return whole.subarray(Math.max(0, whole.length - CAPTURED_OUTPUT_BYTES)).toString('utf8');
  }
}

/**
 * Opens a connection: starts its worker, instantiates the component there and opens the
 * `connection` resource with `config` (no request is made yet).
 *
 * @param {import('../index.js').OpenOptions} options
 * @returns {Promise<Connector>}
 */
export async function openConnector(options) {
  if (options === null || typeof options !== 'object') {
    throw new ConnectorError({ code: 'invalid-config', message: 'openConnector takes an options object: { config, allowHosts?, timeoutMs? }' });
  }
  const {
    config,
    allowHosts = [],
    timeoutMs,
    maxMemoryBytes = DEFAULT_MEMORY_BYTES,
    maxRequestsPerCall = DEFAULT_REQUESTS_PER_CALL,
    onOutput,
    component,
  } = options;
  const text = configText(config);
  const componentModule = componentUrl(component);
  if (!Array.isArray(allowHosts)) {
    throw new ConnectorError({ code: 'invalid-config', message: '`allowHosts` must be an array of host names, such as ["127.0.0.1:8080"]' });
  }
  const extraHosts = allowHosts.map((host, index) => {
    try {
      return HostPattern.parse(host, `\`allowHosts[${index}]\``).toString();
    } catch (error) {
      throw new ConnectorError({ code: 'invalid-config', message: error.message });
    }
  });
  if (!Number.isSafeInteger(maxMemoryBytes) || maxMemoryBytes < 65536) {
    throw new ConnectorError({ code: 'invalid-config', message: '`maxMemoryBytes` must be a whole number of bytes, at least 65536 (one page)' });
  }
  if (!Number.isSafeInteger(maxRequestsPerCall) || maxRequestsPerCall < 1) {
    throw new ConnectorError({ code: 'invalid-config', message: '`maxRequestsPerCall` must be a whole number, at least 1' });
  }
  if (onOutput !== undefined && typeof onOutput !== 'function') {
    throw new ConnectorError({ code: 'invalid-config', message: '`onOutput` must be a function (stream, text)' });
  }
  const connector = new Connector({
    config: text,
    component: componentModule,
    maxMemoryBytes,
    maxRequestsPerCall,
    allowHosts: extraHosts,
    timeoutMs: deadline(timeoutMs, 'timeoutMs', 'invalid-config') ?? settingsDeadline(text),
    onOutput,
  });
  await connector.start();
  return connector;
}

/** One open connection of the component, in a worker thread of its own. */
export class Connector {
  #config;
  #component;
  #maxMemoryBytes;
  #maxRequestsPerCall;
  #allowHosts;
  #timeoutMs;
  #onOutput;
  /** @type {Worker | undefined} */
  #worker;
  /** @type {Promise<void> | undefined} */
  #starting;
  #description;
  /** @type {string[]} */
  #allowed = [];
  #actions;
  #closed = false;
  #nextId = 1;
  /** Calls waiting for the worker, in order; the first one is the one it runs. */
  #queue = [];
  #running;
  #output = { stdout: new OutputTail(), stderr: new OutputTail() };

  /** @internal use openConnector */
  constructor({ config, component, maxMemoryBytes, maxRequestsPerCall, allowHosts, timeoutMs, onOutput }) {
    this.#config = config;
    this.#component = component;
    this.#maxMemoryBytes = maxMemoryBytes;
    this.#maxRequestsPerCall = maxRequestsPerCall;
    this.#allowHosts = allowHosts;
    this.#timeoutMs = timeoutMs;
    this.#onOutput = onOutput;
  }

  /** @internal */
  start() {
    this.#starting ??= this.#spawn().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #spawn() {
    const { modules, declared } = await coreModules(this.#component, this.#maxMemoryBytes);
    const worker = new Worker(workerScript, {
      workerData: {
        component: this.#component.href,
        modules,
        declared,
        config: this.#config,
        allowHosts: this.#allowHosts,
        maxRequestsPerCall: this.#maxRequestsPerCall,
      },
      // The component sees no environment (its imports say so too); the shim and its I/O
      // thread inside the worker read none of the embedding process's either.
      env: {},
      argv: [],
      execArgv: [],
      stdin: false,
      // Output goes to the main thread as messages (capture-output.js); these streams, never
      // read, only keep whatever might bypass that from the process's output.
      stdout: true,
      stderr: true,
    });
    worker.on('message', (message) => {
      if (message.type === 'output') {
        const chunk = Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength);
        this.#output[message.stream].push(chunk);
        // The start of what a call writes to stderr, to tell why it stopped (see #stopped).
        if (message.stream === 'stderr' && this.#running && (this.#running.stderr?.length ?? 0) < 4096) {
          this.#running.stderr = (this.#running.stderr ?? '') + chunk.toString('utf8');
        }
        this.#onOutput?.(message.stream, chunk.toString('utf8'));
      }
    });
    const opened = await new Promise((resolve) => {
      const onMessage = (message) => {
        if (message.type === 'ready' || message.type === 'open-failed') {
          worker.off('error', onError);
          worker.off('exit', onExit);
          worker.off('message', onMessage);
          resolve(message);
        }
      };
      const onError = (error) => resolve({ type: 'open-failed', trap: String(error?.stack ?? error) });
      const onExit = (code) => resolve({ type: 'open-failed', trap: `the worker exited with code ${code}` });
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    if (opened.type !== 'ready') {
      await worker.terminate();
      if (opened.error) {
        throw new ConnectorError(opened.error);
      }
      throw new ConnectorError({ code: 'internal', message: `the component could not be started: ${opened.trap}` });
    }
    this.#description = opened.description;
    this.#allowed = opened.allowed;
    this.#worker = worker;
    // An idle connection does not keep the process alive (a caller that forgets `close`
    // still exits); a call in flight does (see #pump).
    worker.unref();
    worker.on('message', (message) => this.#settle(message));
    worker.on('error', (error) => this.#retire(`the worker failed: ${error?.message ?? error}`));
    worker.on('exit', (code) => this.#retire(`the worker exited with code ${code}`));
  }

  /**
   * The settings in effect, without secrets, as the component describes them, including
   * `hosts`, the destinations the connection may reach besides `allowHosts`.
   * @returns {Record<string, unknown>}
   */
  describe() {
    return structuredClone(this.#description);
  }

  /**
   * The destinations the connection may reach: the hosts its description names that the
   * component declares, then `allowHosts`.
   * @returns {string[]}
   */
  allowedHosts() {
    return [...this.#allowed];
  }

  /**
   * Runs one action.
   * @param {string} action
   * @param {Record<string, unknown>} [input]
   * @param {{timeoutMs?: number, dryRun?: boolean}} [options]
   * @returns {Promise<Record<string, unknown>>}
   */
  async invoke(action, input = {}, options = {}) {
    if (typeof action !== 'string' || action === '') {
      throw new ConnectorError({ code: 'invalid-input', message: '`action` must be an action id such as "users.get"' });
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw new ConnectorError({ code: 'invalid-input', message: '`input` must be an object' });
    }
    if (options === null || typeof options !== 'object') {
      throw new ConnectorError({ code: 'invalid-input', message: '`options` must be an object: { timeoutMs?, dryRun? }' });
    }
    const { timeoutMs, dryRun = false } = options;
    if (typeof dryRun !== 'boolean') {
      throw new ConnectorError({ code: 'invalid-input', message: '`dryRun` must be true or false' });
    }
    const callDeadline = deadline(timeoutMs, 'timeoutMs', 'invalid-input') ?? this.#timeoutMs;
    let inputText;
    try {
      inputText = JSON.stringify(input);
    } catch (error) {
      throw new ConnectorError({ code: 'invalid-input', message: `\`input\` cannot be written as JSON: ${error.message}` });
    }
    const output = await this.#call(
      { op: 'invoke', action, input: inputText, timeoutMs: callDeadline, dryRun },
      callDeadline ?? DEFAULT_DEADLINE_MS,
    );
    try {
      return JSON.parse(output);
    } catch (error) {
      throw new ConnectorError({
        code: 'internal',
        message: `\`${action}\` returned text that is not JSON (${error.message}): ${output.slice(0, 200)}`,
      });
    }
  }

  /**
   * The catalog: every action with its JSON Schemas (parsed), permissions and whether it
   * only reads.
   * @returns {Promise<import('../index.js').ActionDescriptor[]>}
   */
  async listActions() {
    this.#actions ??= this.#call({ op: 'list-actions' }, DEFAULT_DEADLINE_MS).then(
      (actions) => actions.map(({ inputSchema, outputSchema, ...rest }) => ({
        ...rest,
        inputSchema: JSON.parse(inputSchema),
        outputSchema: JSON.parse(outputSchema),
      })),
      (error) => {
        this.#actions = undefined;
        throw error;
      },
    );
    return structuredClone(await this.#actions);
  }

  /**
   * What the component wrote to its stdout and stderr (the last part of each), which the
   * package keeps instead of printing.
   */
  capturedOutput() {
    return { stdout: this.#output.stdout.text(), stderr: this.#output.stderr.text() };
  }

  /** Stops the worker; the connection's secrets and tokens go with it. Calls still waiting fail. */
  async close() {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    const waiting = this.#queue.splice(0);
    for (const call of waiting) {
      clearTimeout(call.timer);
      call.reject(new ConnectorError({ code: 'not-connected', message: 'the connection was closed' }));
    }
    this.#running = undefined;
    const worker = this.#worker;
    this.#worker = undefined;
    await this.#starting?.catch(() => {});
    await (worker ?? this.#worker)?.terminate();
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }

  /** Queues one request to the worker; resolves with its value. */
  #call(request, deadlineMs) {
    if (this.#closed) {
      return Promise.reject(new ConnectorError({ code: 'not-connected', message: 'the connection was closed' }));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ request: { ...request, id: this.#nextId++ }, deadlineMs, resolve, reject });
      this.#pump();
    });
  }

  /** Hands the first waiting call to the worker, starting a fresh worker when needed. */
  #pump() {
    if (this.#running || this.#closed) {
      return;
    }
    if (this.#queue.length === 0) {
      this.#worker?.unref();
      return;
    }
    if (!this.#worker) {
      this.start().then(
        () => this.#pump(),
        (error) => {
          for (const call of this.#queue.splice(0)) call.reject(error);
        },
      );
      return;
    }
    const call = this.#queue[0];
    this.#running = call;
    call.timer = setTimeout(() => {
      this.#retire(
        `the call passed its deadline of ${call.deadlineMs} ms and the component did not end it: the package stopped the component`,
        'transport',
      );
    }, call.deadlineMs + DEADLINE_GRACE_MS);
    this.#worker.ref();
    this.#worker.postMessage(call.request);
  }

  #settle(message) {
    const call = this.#running;
    if (message.type !== 'done' || !call || call.request.id !== message.id) {
      return;
    }
    clearTimeout(call.timer);
    this.#queue.shift();
    this.#running = undefined;
    if ('value' in message) {
      call.resolve(message.value);
    } else if (message.error) {
      call.reject(new ConnectorError(message.error));
    } else {
      call.reject(this.#stopped(call, message));
      // A stopped call leaves the instance in no state to go on: the next call gets a new one.
      this.#replaceWorker();
    }
    this.#pump();
  }

  /**
   * The error of a call that ended without the component's answer: stopped at a limit of the
   * sandbox (reported as the reference host does: `upstream`, saying which limit), or a trap.
   */
  #stopped({ request, stderr = '' }, { limit, trap }) {
    const call = request.op === 'invoke' ? `\`${request.action}\`` : `\`${request.op}\``;
    if (limit === 'requests') {
      return new ConnectorError({
        code: 'upstream',
        message: `${call} sent more than the ${this.#maxRequestsPerCall} requests the sandbox allows in one call; ask for less (\`maxItems\`)`,
      });
    }
    // V8 does not say that a memory.grow failed; the component's allocator does: Rust's
    // prints this line and aborts (a trap) when the memory cannot grow, which below 4 GiB
    // means the cap.
    if (/^memory allocation of \d+ bytes failed$/m.test(stderr)) {
      return new ConnectorError({
        code: 'upstream',
        message: `${call} needed more than the ${this.#maxMemoryBytes} bytes of memory the sandbox allows; ask for less (\`maxItems\`, \`select\`, a smaller input)`,
      });
    }
    return new ConnectorError({ code: 'internal', message: `${call} trapped: ${trap}` });
  }

  /**
   * The worker is gone or no longer keeps its deadline: fail the call it was running, start
   * afresh for the calls behind it.
   */
  #retire(reason, code = 'internal') {
    const call = this.#running;
    if (call) {
      clearTimeout(call.timer);
      this.#queue.shift();
      this.#running = undefined;
      call.reject(new ConnectorError({ code, message: reason }));
    }
    this.#replaceWorker();
    this.#pump();
  }

  #replaceWorker() {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) {
      worker.removeAllListeners('exit');
      worker.removeAllListeners('error');
      worker.removeAllListeners('message');
      worker.terminate().catch(() => {});
    }
  }
}
