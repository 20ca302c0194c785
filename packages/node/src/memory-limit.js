// A memory cap for a core module: its own linear memories get a declared maximum, so a
// `memory.grow` past the cap fails inside the instance (Rust's allocator then aborts, and the
// call ends as a trap) instead of taking the process's memory. V8 has no per-instance limit
// to set from outside, and a worker's `resourceLimits` count the JavaScript heap only, not
// WebAssembly memory; the declared maximum is the one limit it enforces for each memory.

const WASM_PAGE_BYTES = 65536;
const MEMORY_SECTION = 5;

/** Reads an unsigned LEB128 number at `offset`; returns it and the offset after it. */
function readUnsigned(bytes, offset) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (offset >= bytes.length) {
      throw new RangeError('the module ends inside a number');
    }
    const byte = bytes[offset++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) {
      return { value, offset };
    }
    if (shift > 35) {
      throw new RangeError('a number of the module is longer than 32 bits');
    }
  }
}

/** Encodes an unsigned LEB128 number. */
function unsigned(value) {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

/**
 * Returns `module` (a core WebAssembly binary) with every memory it defines limited to
 * `maxBytes` (rounded down to whole pages): a memory without a maximum gets this one, a
 * memory with a larger maximum gets it lowered. Imported memories are left as they are:
 * they belong to the module that defines them. 32-bit, unshared memories only, which is what
 * a `wasm32-wasip2` component has; any other kind is refused rather than left uncapped.
 * @param {Uint8Array} module
 * @param {number} maxBytes
 * @returns {Uint8Array}
 */
export function withMemoryLimit(module, maxBytes) {
  const maxPages = Math.floor(maxBytes / WASM_PAGE_BYTES);
  const header = 8;
  if (module.length < header || module[0] !== 0 || module[1] !== 0x61 || module[2] !== 0x73 || module[3] !== 0x6d) {
    throw new RangeError('not a core WebAssembly module');
  }
  const parts = [module.subarray(0, header)];
  let offset = header;
  while (offset < module.length) {
    const id = module[offset];
    const size = readUnsigned(module, offset + 1);
    const end = size.offset + size.value;
    if (end > module.length) {
      throw new RangeError('a section of the module runs past its end');
    }
    if (id !== MEMORY_SECTION) {
      parts.push(module.subarray(offset, end));
    } else {
      const count = readUnsigned(module, size.offset);
      const content = [...unsigned(count.value)];
      let at = count.offset;
      for (let index = 0; index < count.value; index++) {
        const flags = module[at];
        if (flags !== 0 && flags !== 1) {
          throw new RangeError(`memory ${index} is shared or 64-bit (limits flags ${flags}); it cannot be capped`);
        }
        const minimum = readUnsigned(module, at + 1);
        at = minimum.offset;
        let maximum = maxPages;
        if (flags === 1) {
          const declared = readUnsigned(module, at);
          at = declared.offset;
          maximum = Math.min(declared.value, maxPages);
        }
        // A minimum above the cap makes the module fail to instantiate, which is the cap
        // working: the memory it starts with is already too large.
        content.push(1, ...unsigned(minimum.value), ...unsigned(Math.max(maximum, 0)));
      }
      if (at !== end) {
        throw new RangeError('the memory section has bytes after its memories');
      }
      parts.push(Uint8Array.of(MEMORY_SECTION, ...unsigned(content.length), ...content));
    }
    offset = end;
  }
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
