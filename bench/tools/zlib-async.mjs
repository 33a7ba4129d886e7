// Sync vs async (thread pool) zlib per body size: the figures behind compression.ts's
// DEFAULT_ASYNC_THRESHOLD. `node bench/tools/zlib-async.mjs` (no server; an idle machine is best).
// Per size and coding: the sync call (all of it blocks the event loop), one async call at a time
// (its latency, and how much of it still runs on the loop), and 16 async calls at once.
import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, constants, gzip, gzipSync } from 'node:zlib';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);
const BROTLI = { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } };
const CODINGS = [
  ['gzip', (b) => gzipSync(b, { level: 6 }), (b) => gzipAsync(b, { level: 6 })],
  ['br', (b) => brotliCompressSync(b, BROTLI), (b) => brotliAsync(b, BROTLI)],
];

/** `size` bytes of chat-like JSON. */
function body(size) {
  let text = '[';
  for (let i = 0; text.length < size; i++) {
    const message = { id: i, text: `message ${i} ${'x'.repeat(i % 50)}`, at: new Date(1e12 + i) };
    text += `${JSON.stringify(message)},`;
  }
  return Buffer.from(text.slice(0, size));
}

const microseconds = (start, n) => Number(process.hrtime.bigint() - start) / 1e3 / n;

for (const size of [1024, 4096, 16384, 32768, 65536, 262144]) {
  const input = body(size);
  const n = Math.max(50, Math.round(4e6 / size));
  for (const [name, sync, async] of CODINGS) {
    for (let i = 0; i < 20; i++) sync(input);
    let start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sync(input);
    const syncUs = microseconds(start, n);
    let onLoop = 0n;
    start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const called = process.hrtime.bigint();
      const pending = async(input);
      onLoop += process.hrtime.bigint() - called;
      await pending;
    }
    const asyncUs = microseconds(start, n);
    start = process.hrtime.bigint();
    for (let i = 0; i < n; i += 16)
      await Promise.all(Array.from({ length: 16 }, () => async(input)));
    const concurrentUs = microseconds(start, n);
    console.log(
      `${name} ${size} B: sync ${syncUs.toFixed(1)} µs, async ${asyncUs.toFixed(1)} µs ` +
        `(${(Number(onLoop) / 1e3 / n).toFixed(1)} µs on the loop), 16 at once ${concurrentUs.toFixed(1)} µs each`,
    );
  }
}
