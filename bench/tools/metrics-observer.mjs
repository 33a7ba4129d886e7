// What the metrics observer costs a request: `requestStarted` + `requestFinished` of
// ServiceMetrics, the path every request takes, per call pair. `node
// bench/tools/metrics-observer.mjs [ROUNDS] [OTHER_DIST]` (no server; run it with Node 24):
// interleaved rounds, each variant in a process of its own, 3 M requests of a handler-shaped
// object: `none` (no traceparent), `sampled` (a traceparent with flags 01: the bucket's exemplar
// is kept), and with OTHER_DIST (another build's dist/ folder) that build without traceparent.
// Prints ns per request: medians and all rounds.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const rounds = Number(process.argv[2] ?? 7);
const other = process.argv[3] ?? '-';
const variant = process.argv[4];
const REQUESTS = 3_000_000;
const TRACE = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', sampled: true };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (variant !== undefined) {
  const dist = variant === 'other' ? other : fileURLToPath(new URL('../../dist', import.meta.url));
  const { ServiceMetrics } = await import(
    pathToFileURL(path.resolve(dist, 'service/metrics.js')).href
  );
  const metrics = new ServiceMetrics();
  const headers = { host: '127.0.0.1', 'user-agent': 'wrk' };
  if (variant === 'sampled') headers.traceparent = `00-${TRACE.traceId}-00f067aa0ba902b7-01`;
  const handler = {
    method: 'GET',
    route: { pattern: '/' },
    isAborted: false,
    status: 200,
    startTime: performance.now(),
    request: { headers },
    traceContext: TRACE,
  };
  const run = () => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) {
      metrics.requestStarted(handler);
      metrics.requestFinished(handler);
    }
    return Number(process.hrtime.bigint() - start) / REQUESTS;
  };
  run();
  run();
  process.stdout.write(String(median([run(), run(), run()])));
} else {
  const names = ['none', 'sampled', ...(other === '-' ? [] : ['other'])];
  const results = new Map(names.map((name) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const name of names) {
      const args = [fileURLToPath(import.meta.url), String(rounds), other, name];
      const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
      results.get(name).push(Number(child.stdout));
    }
  }
  console.log(`node ${process.version}, ${rounds} rounds, median of 3 × ${REQUESTS} requests each`);
  for (const [name, xs] of results) {
    const label = name === 'other' ? `${other}, none` : name;
    const all = xs.map((x) => x.toFixed(1)).join(' ');
    console.log(`${label}: ${median(xs).toFixed(1)} ns/request  [${all}]`);
  }
}
