// @ts-check
// The imports a connection's component instance gets: preview2-shim's clocks, randomness,
// streams and HTTP types, and our own versions of everything that reaches outside the
// instance: no environment, no arguments, no terminal, an `exit` that ends the call instead
// of the process, and an outgoing handler that refuses every destination outside the
// connection's allowlist before any network, as the reference host does
// (host/src/sandbox/http_policy.rs), and ends a call that sends more requests than its cap. There are no filesystem or socket imports to deny: the
// component's world has none.

import { cli, clocks, http, io, random } from '@bytecodealliance/preview2-shim';

/** @typedef {Parameters<typeof http.outgoingHandler.handle>[0]} ShimOutgoingRequest */
/** @typedef {Parameters<typeof http.outgoingHandler.handle>[1]} ShimRequestOptions */

/** Raised by the component's `wasi:cli/exit`: the call ends as a trap, the process lives on. */
export class ComponentExit extends Error {}

/**
 * Raised by the outgoing handler when a call sends more requests than its cap: the call ends
 * as a trap (a component that ignores refusals would otherwise send on until its deadline).
 */
export class RequestCapReached extends Error {}

/**
 * What the outgoing handler asks before a request leaves.
 * @typedef {object} OutgoingPolicy
 * @property {(scheme: string, authority: string | undefined) => boolean} permits whether
 *   the destination is on the allowlist
 * @property {() => boolean} admitRequest counts one request of the current call (refused
 *   ones too, as the reference host does); false once the call is past its cap
 */

/**
 * The imports the component is instantiated with, keyed as the generated JavaScript reads
 * them (without the `@0.2.12` version the generated `.d.ts` adds; build.sh fixes the
 * `.d.ts`). Everything that reaches outside the instance is either ours or refused.
 * @param {OutgoingPolicy} policy
 * @returns {import('../generated/graph_connector.js').ImportObject}
 */
export function sandboxImports(policy) {
  const noEnvironment = {
    getEnvironment: () => [],
    getArguments: () => [],
    initialCwd: () => undefined,
  };
  const exitEndsTheCall = {
    /** @param {import('../generated/interfaces/wasi-cli-exit.js').Result<void, void>} status */
    exit(status) {
      throw new ComponentExit(`the component called exit (${status?.tag ?? 'no status'})`);
    },
    /** @param {number} code */
    exitWithCode(code) {
      throw new ComponentExit(`the component called exit (${code})`);
    },
  };
  const outgoingHandler = {
    /** @type {typeof import('../generated/interfaces/wasi-http-outgoing-handler.js').handle} */
    handle(componentRequest, options) {
      // The generated types show only the methods the component calls; the object is the
      // shim's own `outgoing-request` (its `wasi:http/types` made it), with every accessor.
      const request = /** @type {ShimOutgoingRequest} */ (/** @type {unknown} */ (componentRequest));
      if (!policy.admitRequest()) {
        throw new RequestCapReached('the call sent more requests than the sandbox allows in one call');
      }
      const scheme = schemeName(request.scheme());
      const authority = request.authority();
      if (!policy.permits(scheme, authority)) {
        // The variant case the reference host answers with; jco lowers a thrown
        // non-Error value as the `err` of the handler's result.
        throw { tag: 'HTTP-request-denied' };
      }
      return /** @type {import('../generated/interfaces/wasi-http-types.js').FutureIncomingResponse} */ (
        http.outgoingHandler.handle(request, /** @type {ShimRequestOptions} */ (options))
      );
    },
  };
  return {
    'wasi:cli/environment': noEnvironment,
    'wasi:cli/exit': exitEndsTheCall,
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    // Not a terminal: the standard library then writes no escape sequences.
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:clocks/monotonic-clock': clocks.monotonicClock,
    'wasi:clocks/wall-clock': clocks.wallClock,
    'wasi:http/types': http.types,
    'wasi:http/outgoing-handler': outgoingHandler,
    'wasi:io/error': io.error,
    'wasi:io/poll': io.poll,
    'wasi:io/streams': io.streams,
    'wasi:random/random': random.random,
    'wasi:random/insecure-seed': random.insecureSeed,
  };
}

/** @param {import('../generated/interfaces/wasi-http-types.js').Scheme | undefined} scheme */
function schemeName(scheme) {
  if (scheme === undefined) {
    return 'https';
  }
  switch (scheme.tag) {
    case 'HTTPS':
      return 'https';
    case 'HTTP':
      return 'http';
    default:
      return scheme.val.toLowerCase();
  }
}
