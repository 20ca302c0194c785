// Imported first by the worker, before preview2-shim: the component's stdout and stderr
// (which the shim writes with `process.stdout.write` and `process.stderr.write`) and anything
// its I/O thread prints go to the main thread as messages instead of the process's output.
// Reading the worker's own stdio streams from the main thread would do the same, but a
// stream being read keeps the process alive until the worker ends, and an idle connection
// should not.

import { parentPort } from 'node:worker_threads';

for (const stream of /** @type {const} */ (['stdout', 'stderr'])) {
  process[stream].write = (chunk, encoding, callback) => {
    const done = typeof encoding === 'function' ? encoding : callback;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk);
    parentPort?.postMessage({ type: 'output', stream, bytes });
    if (typeof done === 'function') queueMicrotask(done);
    return true;
  };
}
