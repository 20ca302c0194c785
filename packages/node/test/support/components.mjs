// Where the tests find the components build.sh transpiled.

import { existsSync } from 'node:fs';

/** The hostile test component (host/tests/hostile-component), transpiled by build.sh. */
export const hostileComponent = new URL('../generated/hostile/hostile_component.js', import.meta.url);

/**
 * Skips a test when the hostile component was not transpiled (build.sh without
 * HOSTILE_COMPONENT_WASM), except under CI, where its absence fails the test.
 * @param {import('node:test').TestContext} t
 */
export function needsHostileComponent(t) {
  if (existsSync(hostileComponent)) {
    return true;
  }
  if (process.env.CI) {
    throw new Error(`${hostileComponent.pathname} is missing: run packages/build.sh node`);
  }
  t.skip('the hostile component is not transpiled (run packages/build.sh node)');
  return false;
}
