// Router lookup, in process: this framework's Router against find-my-way on the same ~100 routes
// and the same paths, interleaved rounds, median ns per lookup. Each lookup's result is checked
// once up front, so a router that matches nothing cannot look fast.
import FindMyWay from 'find-my-way';
import { Router } from '../dist/index.js';
import { LOOKUPS, ROUTES } from './routes.mjs';

function buildOurs() {
  const router = new Router();
  for (const [, pattern] of ROUTES) router.add(pattern, pattern);
  return (path) => router.match(path);
}

function buildFmw() {
  const router = FindMyWay();
  for (const [, , path] of ROUTES) router.on('GET', path, () => {});
  return (path) => router.find('GET', path);
}

function time(lookup, iterations) {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    for (let j = 0; j < LOOKUPS.length; j++) {
      if (lookup(LOOKUPS[j]) !== null) sink++;
    }
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (sink !== iterations * LOOKUPS.length) throw new Error('a lookup missed');
  return ns / (iterations * LOOKUPS.length);
}

export function runRouter({ rounds = 7, iterations = 200_000 } = {}) {
  const ours = buildOurs();
  const fmw = buildFmw();
  for (const path of LOOKUPS) {
    if (ours(path) === null) throw new Error(`our router misses ${path}`);
    if (fmw(path) === null) throw new Error(`find-my-way misses ${path}`);
  }
  time(ours, 50_000);
  time(fmw, 50_000);
  const a = [];
  const b = [];
  for (let r = 0; r < rounds; r++) {
    a.push(time(ours, iterations));
    b.push(time(fmw, iterations));
  }
  const med = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
  return { routes: ROUTES.length, lookups: LOOKUPS.length, oursNs: med(a), findMyWayNs: med(b) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(runRouter());
}
