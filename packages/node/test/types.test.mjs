// index.d.ts against the code: a TypeScript caller (test/types/consumer.ts) compiles, and the
// imports src/sandbox.js hands the component fit the transpiled component's ImportObject,
// whose keys build.sh makes match what the generated JavaScript reads.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { promisify } from 'node:util';

test('the types compile against the code (tsc --noEmit)', async () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.json'], {
    cwd: new URL('..', import.meta.url),
  }).catch((failed) => failed);
  assert.equal(result.code ?? 0, 0, `${result.stdout}${result.stderr}`);
});
