// HTTP throughput, side by side: each server alone on CPU 0, wrk on CPU 1, contenders interleaved
// round by round (A B C … A B C …), medians of req/s and p99 latency, ratios against bare
// node:http in the same run. A run with any error, non-2xx answer or wrong body is refused.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JSON_PATH } from './routes.mjs';

const here = new URL('.', import.meta.url).pathname;
const root = join(here, '..');

/** Debian's python3, which has python3-tornado (a python3 earlier on PATH may not). */
export const TORNADO_PYTHON = process.env.BENCH_TORNADO_PYTHON ?? '/usr/bin/python3';

export const CONTENDERS = [
  { name: 'node-http', script: 'bench/servers/node-http.mjs' },
  { name: 'bare-prod', script: 'bench/servers/bare-prod.mjs' },
  { name: 'framework', script: 'bench/servers/framework.mjs' },
  { name: 'service', script: 'bench/servers/service.mjs', env: { LOG_LEVEL: 'info' } },
  {
    name: 'service-main',
    script: 'dist/main.js',
    env: { WORKERS: '1', LOG_LEVEL: 'info' },
    only: ['hello'],
  },
  { name: 'fastify', script: 'bench/servers/fastify.mjs', env: { FASTIFY_LOGGER: '0' } },
  { name: 'fastify-logger', script: 'bench/servers/fastify.mjs', env: { FASTIFY_LOGGER: '1' } },
  // The seed: Tornado 6.2 (Debian python3-tornado, under Debian's own python3).
  { name: 'tornado', command: [TORNADO_PYTHON, 'bench/servers/tornado_seed.py'] },
  // Optional: only run when named in BENCH_CONTENDERS.
  {
    name: 'framework-etag',
    script: 'bench/servers/framework.mjs',
    env: { FRAMEWORK_ETAG: '1' },
    optional: true,
  },
  {
    name: 'framework-compress',
    script: 'bench/servers/framework.mjs',
    env: { FRAMEWORK_COMPRESS: '1' },
    optional: true,
  },
];

/** The contenders to run: BENCH_CONTENDERS (comma list; node-http always runs) or every non-optional one. */
function selectedContenders() {
  const wanted = process.env.BENCH_CONTENDERS;
  if (!wanted) return CONTENDERS.filter((c) => !c.optional);
  const names = new Set(['node-http', ...wanted.split(',').map((n) => n.trim())]);
  return CONTENDERS.filter((c) => names.has(c.name));
}

const ECHO_BODY = JSON.stringify({
  text: 'x'.repeat(900),
  list: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  nested: { a: true, b: null, c: 'see' },
});

export const SCENARIOS = [
  { name: 'hello', method: 'GET', path: '/', check: (s, b) => s === 200 && b === 'Hello, world\n' },
  {
    name: 'json-param',
    method: 'GET',
    path: JSON_PATH,
    check: (s, b) => s === 200 && JSON.parse(b).id === '12345',
  },
  {
    name: 'post-echo-1k',
    method: 'POST',
    path: '/echo',
    body: ECHO_BODY,
    check: (s, b) => s === 200 && b === ECHO_BODY,
  },
];

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}

export async function startServer(contender, cpu = '0') {
  const port = await freePort();
  const argv = contender.command ?? [process.execPath, contender.script];
  const child = spawn('taskset', ['-c', cpu, ...argv], {
    cwd: root,
    env: { ...process.env, ...contender.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${contender.name}: ${error.message}\n${stderr}`);
  }
  return {
    port,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

export function wrkScript(dir, scenario) {
  const path = join(dir, `${scenario.name}.lua`);
  const lines = [`wrk.method = "${scenario.method}"`];
  if (scenario.body !== undefined) {
    lines.push(`wrk.body = ${JSON.stringify(scenario.body)}`);
    lines.push('wrk.headers["Content-Type"] = "application/json"');
  }
  // BENCH_ACCEPT_ENCODING: send this Accept-Encoding with every request (compression scenarios).
  if (process.env.BENCH_ACCEPT_ENCODING) {
    lines.push(
      `wrk.headers["Accept-Encoding"] = ${JSON.stringify(process.env.BENCH_ACCEPT_ENCODING)}`,
    );
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function parseWrk(text) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(text);
  const factor = { us: 0.001, ms: 1, s: 1000 };
  const p99ms = p99 ? Number(p99[1]) * factor[p99[2]] : Number.NaN;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = errors ? errors.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  return { rps, p99ms, non2xx, socketErrors, requests };
}

async function checkOnce(port, scenario) {
  const res = await fetch(`http://127.0.0.1:${port}${scenario.path}`, {
    method: scenario.method,
    body: scenario.body,
    headers: scenario.body ? { 'content-type': 'application/json' } : {},
  });
  const body = await res.text();
  if (!scenario.check(res.status, body)) {
    throw new Error(`wrong answer for ${scenario.name}: ${res.status} ${body.slice(0, 200)}`);
  }
}

export function wrk(port, scenario, script, seconds, connections) {
  const out = spawnSync(
    'taskset',
    [
      '-c',
      '1',
      'wrk',
      '-t1',
      `-c${connections}`,
      `-d${seconds}s`,
      '--latency',
      '-s',
      script,
      `http://127.0.0.1:${port}${scenario.path}`,
    ],
    { encoding: 'utf8', timeout: (seconds + 30) * 1000 },
  );
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  return parseWrk(out.stdout);
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux; NaN elsewhere). CPU
 * time per request is far steadier than req/s on a machine shared with other work.
 */
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return Number.NaN;
  }
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `min–max` of `values`, each with `digits` decimals: the spread beside a median. */
export function spread(values, digits) {
  return `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}

/** A process's resident memory in KiB, from /proc. */
export function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/** How many file descriptors a process has open, from /proc. */
export function openFds(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Runs every scenario for every contender; returns rows of medians. */
export async function runHttp({ rounds, seconds, warmup, connections, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const rows = [];
  for (const scenario of SCENARIOS) {
    const script = wrkScript(dir, scenario);
    const contenders = selectedContenders().filter(
      (c) => !c.only || c.only.includes(scenario.name),
    );
    const samples = new Map(contenders.map((c) => [c.name, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const contender of contenders) {
        const server = await startServer(contender);
        try {
          await checkOnce(server.port, scenario);
          wrk(server.port, scenario, script, warmup, connections);
          const cpuBefore = cpuSeconds(server.child.pid);
          const result = wrk(server.port, scenario, script, seconds, connections);
          result.cpuUsPerReq = ((cpuSeconds(server.child.pid) - cpuBefore) * 1e6) / result.requests;
          await checkOnce(server.port, scenario);
          if (result.non2xx > 0 || result.socketErrors > 0 || !(result.rps > 0)) {
            throw new Error(`${contender.name}/${scenario.name}: ${JSON.stringify(result)}`);
          }
          samples.get(contender.name).push(result);
          log(
            `  ${scenario.name} round ${round} ${contender.name}: ${Math.round(result.rps)} req/s, p99 ${result.p99ms.toFixed(2)} ms, ${result.cpuUsPerReq.toFixed(1)} µs CPU/req`,
          );
        } finally {
          await server.stop();
        }
      }
    }
    const base = median(samples.get('node-http').map((r) => r.rps));
    for (const contender of contenders) {
      const list = samples.get(contender.name);
      const rps = median(list.map((r) => r.rps));
      rows.push({
        scenario: scenario.name,
        contender: contender.name,
        rps: Math.round(rps),
        p99ms: Number(median(list.map((r) => r.p99ms)).toFixed(2)),
        cpuUsPerReq: Number(median(list.map((r) => r.cpuUsPerReq)).toFixed(1)),
        ratio: Number((rps / base).toFixed(3)),
        rounds: list.length,
        requests: list.reduce((n, r) => n + r.requests, 0),
      });
    }
  }
  return rows;
}
