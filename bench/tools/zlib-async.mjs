// Sync vs async (thread pool) zlib per body size: the figures behind compression.ts's
// DEFAULT_ASYNC_THRESHOLD. `node bench/tools/zlib-async.mjs` (no server; run it on an idle machine).

import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, constants, gzip, gzipSync } from 'node:zlib';

const gz = promisify(gzip),
  bz = promisify(brotliCompress);
const msg = (i) => ({
  id: i,
  text: 'hello chat message number ' + i + ' ' + 'x'.repeat(i % 50),
  at: new Date(1e12 + i).toISOString(),
});
function body(size) {
  let s = '[';
  let i = 0;
  while (s.length < size) s += JSON.stringify(msg(i++)) + ',';
  return Buffer.from(s.slice(0, size));
}
const br = { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } };
for (const size of [1024, 4096, 16384, 32768, 65536, 262144]) {
  const b = body(size);
  const n = Math.max(50, Math.round(4e6 / size));
  for (const [name, sync, async_] of [
    ['gzip', (x) => gzipSync(x, { level: 6 }), (x) => gz(x, { level: 6 })],
    ['br', (x) => brotliCompressSync(x, br), (x) => bz(x, br)],
  ]) {
    for (let i = 0; i < 20; i++) sync(b);
    let t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sync(b);
    const syncUs = Number(process.hrtime.bigint() - t) / 1e3 / n;
    // async, 1 at a time: latency; and event-loop time (time spent in the calling turn)
    let loopNs = 0n;
    t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const s = process.hrtime.bigint();
      const p = async_(b);
      loopNs += process.hrtime.bigint() - s;
      await p;
    }
    const asyncUs = Number(process.hrtime.bigint() - t) / 1e3 / n;
    // async, 16 concurrent: throughput
    t = process.hrtime.bigint();
    for (let i = 0; i < n; i += 16) await Promise.all(Array.from({ length: 16 }, () => async_(b)));
    const conc = Number(process.hrtime.bigint() - t) / 1e3 / n;
    console.log(
      `${name} ${size}B: sync ${syncUs.toFixed(1)}us/call (loop blocked), async latency ${asyncUs.toFixed(1)}us (loop ${(Number(loopNs) / 1e3 / n).toFixed(1)}us), async x16 ${conc.toFixed(1)}us/call`,
    );
  }
}
