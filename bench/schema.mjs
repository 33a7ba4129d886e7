// Declared schemas, side by side (`npm run build && node bench/schema.mjs`): a JSON POST with a
// ~10-field validated body and a serialized answer, on this framework with schemas, the same
// route without schema, and fastify with the same schemas (as it comes, and stripping unknown
// body properties as the framework does); each server alone on CPU 0, wrk on CPU 1, contenders
// interleaved round by round, medians with min–max, and the ratio to fastify round by round. Then start-up to ready of
// the example service (its schemas and OpenAPI document built). Knobs: BENCH_ROUNDS (5),
// BENCH_SECONDS (5), BENCH_WARMUP (2), BENCH_CONNECTIONS (64).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, median, startServer, wrk, wrkScript } from './http.mjs';
import { runStartup } from './longpoll.mjs';
import { answerOf, SAMPLE } from './servers/schema-body.mjs';

const env = process.env;
const rounds = Number(env.BENCH_ROUNDS ?? 5);
const seconds = Number(env.BENCH_SECONDS ?? 5);
const warmup = Number(env.BENCH_WARMUP ?? 2);
const connections = Number(env.BENCH_CONNECTIONS ?? 64);
const body = JSON.stringify(SAMPLE);
const expected = JSON.stringify(answerOf(SAMPLE));

const contenders = [
  { name: 'framework-schema', script: 'bench/servers/schema-framework.mjs', env: { SCHEMA: '1' } },
  {
    name: 'framework-no-schema',
    script: 'bench/servers/schema-framework.mjs',
    env: { SCHEMA: '0' },
  },
  { name: 'fastify-schema', script: 'bench/servers/schema-fastify.mjs' },
  // The same work as the framework's default (unknown body properties stripped): shown, not the
  // target's baseline, which is fastify as it comes.
  {
    name: 'fastify-schema-strip',
    script: 'bench/servers/schema-fastify.mjs',
    env: { FASTIFY_STRIP: '1' },
  },
];
const scenario = { name: 'post-validated', method: 'POST', path: '/people', body };
const script = wrkScript(mkdtempSync(join(tmpdir(), 'bench-schema-')), scenario);

async function check(port) {
  const res = await fetch(`http://127.0.0.1:${port}/people`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  if (res.status !== 200 || JSON.stringify(JSON.parse(text)) !== expected) {
    throw new Error(`wrong answer: ${res.status} ${text.slice(0, 200)}`);
  }
  const bad = await fetch(`http://127.0.0.1:${port}/people`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...SAMPLE, age: -1 }),
  });
  await bad.arrayBuffer();
  return bad.status;
}

const samples = new Map(contenders.map((c) => [c.name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const contender of contenders) {
    const server = await startServer(contender);
    try {
      const refused = await check(server.port);
      wrk(server.port, scenario, script, warmup, connections);
      const cpuBefore = cpuSeconds(server.child.pid);
      const result = wrk(server.port, scenario, script, seconds, connections);
      result.cpuUs = ((cpuSeconds(server.child.pid) - cpuBefore) * 1e6) / result.requests;
      if (result.non2xx > 0 || result.socketErrors > 0) {
        throw new Error(`${contender.name}: ${JSON.stringify(result)}`);
      }
      samples.get(contender.name).push(result);
      process.stderr.write(
        `round ${round} ${contender.name}: ${Math.round(result.rps)} req/s, p99 ${result.p99ms.toFixed(2)} ms, ${result.cpuUs.toFixed(1)} µs CPU/req (bad body: ${refused})\n`,
      );
    } finally {
      await server.stop();
    }
  }
}

const base = median(samples.get('fastify-schema').map((r) => r.rps));
const plain = median(samples.get('framework-no-schema').map((r) => r.rps));
/** Median and min–max of the ratio to fastify-schema taken round by round (the rounds ran side by side). */
function perRound(name) {
  const theirs = samples.get('fastify-schema');
  const ratios = samples.get(name).map((r, i) => r.rps / theirs[i].rps);
  return `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}
console.log(
  '| contender | req/s median (min–max) | p99 ms | µs CPU/req | × fastify | × fastify per round | × no schema |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const { name } of contenders) {
  const list = samples.get(name);
  const rps = list.map((r) => r.rps);
  console.log(
    `| ${name} | ${Math.round(median(rps))} (${Math.round(Math.min(...rps))}–${Math.round(Math.max(...rps))}) | ${median(list.map((r) => r.p99ms)).toFixed(2)} | ${median(list.map((r) => r.cpuUs)).toFixed(1)} | ${(median(rps) / base).toFixed(2)} | ${perRound(name)} | ${(median(rps) / plain).toFixed(2)} |`,
  );
}
const startup = await runStartup({ rounds });
console.log(
  `\nexample service (dist/main.js, WORKERS=1) start-up to ready: ${startup.startupToReadyMs} ms median of ${rounds}`,
);
