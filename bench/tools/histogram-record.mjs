// The request histogram's cost per recorded request, with and without an exemplar: the figure
// behind "storing an exemplar is a few field writes". `node bench/tools/histogram-record.mjs
// [ROUNDS] [OTHER_DIST]` (no server; run it with Node 24): interleaved rounds, each variant in a
// process of its own, of 2 M `record()` calls over 4 series and latencies spread over the
// buckets, on a fresh histogram: `none` (no trace id: every unsampled request), `sampled` (every call keeps its
// bucket's exemplar: trace id, value and the time the service already read for the duration), and with OTHER_DIST (another build's
// dist/ folder) that build's `record()` without a trace id. Prints ns per call: medians and all
// rounds.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const rounds = Number(process.argv[2] ?? 7);
const other = process.argv[3];
const CALLS = 2_000_000;
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const load = async (dist) =>
  (await import(pathToFileURL(path.resolve(dist, 'service/request-histogram.js')).href))
    .RequestHistogram;
const Mine = await load(new URL('../../dist', import.meta.url).pathname);
const Other = other === undefined || other === '-' ? undefined : await load(other);
const ROUTES = ['/', '/items/{id}', '/chat/messages', '/static/{path*}'];
// Latencies mostly under 1 ms, some further out, as a hello-world service sees them.
const SECONDS = Array.from(
  { length: 1024 },
  (_, i) => (i % 16 === 0 ? 0.02 : 0.0003) * (1 + (i % 7) / 10),
);
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function run(Histogram, traceId) {
  const h = new Histogram('http_request_duration_seconds', 'help', BUCKETS);
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) {
    // `now`: the service passes the performance.now() it read for the duration.
    h.record(ROUTES[i & 3], 'GET', 200, SECONDS[i & 1023], traceId, i);
  }
  return Number(process.hrtime.bigint() - start) / CALLS;
}

const VARIANTS = {
  none: () => run(Mine, undefined),
  sampled: () => run(Mine, TRACE),
  other: () => run(Other, undefined),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.argv[4] !== undefined) {
  // A child: one variant, warmed up, then measured; each variant in a process of its own, so
  // that no variant's types shape the JIT's code for another.
  const fn = VARIANTS[process.argv[4]];
  fn();
  fn();
  process.stdout.write(String(median([fn(), fn(), fn()])));
} else {
  const names = ['none', 'sampled', ...(Other === undefined ? [] : ['other'])];
  const results = new Map(names.map((name) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const name of names) {
      const child = spawnSync(
        process.execPath,
        [fileURLToPath(import.meta.url), String(rounds), other ?? '-', name],
        { encoding: 'utf8' },
      );
      results.get(name).push(Number(child.stdout));
    }
  }
  console.log(`node ${process.version}, ${rounds} rounds, median of 3 × ${CALLS} calls each`);
  for (const [name, xs] of results) {
    const label = name === 'other' ? `${other}, none` : name;
    console.log(
      `${label}: ${median(xs).toFixed(1)} ns/call  [${xs.map((x) => x.toFixed(1)).join(' ')}]`,
    );
  }
}
