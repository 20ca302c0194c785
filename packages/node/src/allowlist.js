// The destinations a connection may reach, with the reference host's rules
// (host/src/sandbox/http_policy.rs): a pattern is `host` (any port) or `host:port`,
// hosts compare case-insensitively, and a request without an explicit port is on its
// scheme's default port. A connection may reach the hosts its description names that the
// component declares (its `connector-hosts` custom section), plus what the caller allows:
// settings that point elsewhere reach nothing the caller did not allow.

/** One allowed destination: a lower-case host and, optionally, the only port allowed on it. */
export class HostPattern {
  /**
   * Parses `HOST` or `HOST:PORT` (IPv6 hosts in brackets: `[::1]:8080`).
   * @param {string} text
   * @param {string} field the option's name, for the error message
   */
  static parse(text, field) {
    if (typeof text !== 'string') {
      throw new TypeError(`${field} must be a string such as "graph.example" or "127.0.0.1:8080"`);
    }
    const pattern = text.trim();
    if (pattern.includes('/')) {
      throw new TypeError(`${field} must be a host name, not a URL (got ${JSON.stringify(text)})`);
    }
    const { host, port } = splitHostPort(pattern, field);
    if (host === '') {
      throw new TypeError(`${field} has an empty host (got ${JSON.stringify(text)})`);
    }
    return new HostPattern(host, port);
  }

  /**
   * @param {string} host
   * @param {number | undefined} port
   */
  constructor(host, port) {
    this.host = host.toLowerCase();
    this.port = port;
  }

  /**
   * Parses `text` as a pattern, or gives undefined when it is not one.
   * @param {string} text
   */
  static tryParse(text) {
    try {
      return HostPattern.parse(text, 'host');
    } catch {
      return undefined;
    }
  }

  /** Whether a request to `host` on `port` fits this pattern. */
  permits(host, port) {
    return this.host === host.toLowerCase() && (this.port === undefined || this.port === port);
  }

  toString() {
    return this.port === undefined ? this.host : `${this.host}:${this.port}`;
  }
}

/**
 * Splits `host[:port]`; a port must be a decimal number from 0 to 65535.
 * @param {string} authority
 * @param {string} field
 * @returns {{host: string, port: number | undefined}}
 */
export function splitHostPort(authority, field) {
  let host;
  let portText;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) {
      throw new TypeError(`${field}: ${JSON.stringify(authority)} opens [ without closing it`);
    }
    host = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) {
        throw new TypeError(`${field}: ${JSON.stringify(authority)} has text after ]`);
      }
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
  }
  if (portText === undefined) {
    return { host, port: undefined };
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port <= 65535)) {
    throw new TypeError(`${field}: the port of ${JSON.stringify(authority)} must be a number from 0 to 65535`);
  }
  return { host, port };
}

/** The destinations one connection may send requests to. */
export class AllowedHosts {
  /** @param {HostPattern[]} patterns */
  constructor(patterns) {
    this.patterns = patterns;
  }

  /**
   * Whether every destination `pattern` names is allowed here: the same host, on a port
   * this list allows (a pattern without a port stands for every port).
   * @param {HostPattern} pattern
   */
  covers(pattern) {
    return this.patterns.some((allowed) =>
      pattern.port === undefined
        ? allowed.host === pattern.host && allowed.port === undefined
        : allowed.permits(pattern.host, pattern.port),
    );
  }

  /**
   * Whether a request with this scheme (`http` or `https`) and authority (`host[:port]`)
   * may leave the sandbox. A request without an authority goes nowhere allowed.
   * @param {string} scheme
   * @param {string | undefined} authority
   */
  permits(scheme, authority) {
    if (!authority) {
      return false;
    }
    let destination;
    try {
      destination = splitHostPort(authority, 'authority');
    } catch {
      return false;
    }
    const port = destination.port ?? (scheme === 'http' ? 80 : 443);
    return this.patterns.some((pattern) => pattern.permits(destination.host, port));
  }
}

/** The custom section in which a component declares the hosts its connections may reach. */
export const DECLARED_HOSTS_SECTION = 'connector-hosts';

/**
 * The hosts a component declares in its `connector-hosts` custom section (one `host` or
 * `host:port` per line; in any of its core modules), as pattern texts. A component without
 * the section declares nothing; lines that are not a host pattern are ignored, never widened
 * into something else.
 * @param {WebAssembly.Module[]} modules
 * @returns {string[]}
 */
export function declaredHosts(modules) {
  const declared = [];
  for (const module of modules) {
    for (const section of WebAssembly.Module.customSections(module, DECLARED_HOSTS_SECTION)) {
      for (const line of new TextDecoder().decode(section).split('\n')) {
        const pattern = line.trim() === '' ? undefined : HostPattern.tryParse(line);
        if (pattern && !declared.includes(pattern.toString())) {
          declared.push(pattern.toString());
        }
      }
    }
  }
  return declared;
}

/**
 * What one connection may reach: the hosts its description names (`describe().hosts`) that
 * the component declares, then the caller's `allowHosts`.
 * @param {{described: unknown, declared: string[], extra: string[]}} hosts
 * @returns {AllowedHosts}
 */
export function connectionAllowlist({ described, declared, extra }) {
  const declaredHosts = new AllowedHosts(declared.map((text) => HostPattern.parse(text, 'declared host')));
  const named = (Array.isArray(described) ? described : [])
    .map((text) => (typeof text === 'string' ? HostPattern.tryParse(text) : undefined))
    .filter((pattern) => pattern !== undefined && declaredHosts.covers(pattern));
  return new AllowedHosts([...named, ...extra.map((text) => HostPattern.parse(text, 'allowHosts'))]);
}
