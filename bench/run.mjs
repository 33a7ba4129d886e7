// `npm run bench`: every benchmark of bench/, then a table on stdout and bench/results.md and
// bench/results.json with the machine, Node version, date and command.
// Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP (2), BENCH_CONNECTIONS (64),
// BENCH_POLLS (10000: held long polls, and WebSockets), BENCH_ONLY (comma list of:
// http,router,longpoll,websockets,startup; long polls and WebSockets run BENCH_ROUNDS rounds too),
// BENCH_CONTENDERS (comma list of HTTP contenders, node-http always included; optional ones such as
// framework-etag and framework-compress run only when named), BENCH_ACCEPT_ENCODING (a header).
// `node bench/run.mjs --report` measures nothing: it rewrites results.md from results.json.
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { runHttp } from './http.mjs';
import { runLongPoll, runStartup } from './longpoll.mjs';
import { podEstimate } from './pod-estimate.mjs';
import { runRouter } from './router.mjs';
import { targetsTable } from './targets.mjs';
import { runWebSockets } from './websockets.mjs';

const env = process.env;
const only = new Set((env.BENCH_ONLY ?? 'http,router,longpoll,websockets,startup').split(','));
const options = {
  rounds: Number(env.BENCH_ROUNDS ?? 3),
  seconds: Number(env.BENCH_SECONDS ?? 5),
  warmup: Number(env.BENCH_WARMUP ?? 2),
  connections: Number(env.BENCH_CONNECTIONS ?? 64),
  log: (line) => process.stderr.write(`${line}\n`),
};
const polls = Number(env.BENCH_POLLS ?? 10_000);
const command = `${Object.entries(env)
  .filter(([k]) => k.startsWith('BENCH_'))
  .map(([k, v]) => `${k}=${v} `)
  .join('')}npm run bench`;

const dir = new URL('.', import.meta.url).pathname;
const reportOnly = process.argv.includes('--report');

const results = reportOnly
  ? JSON.parse(readFileSync(`${dir}results.json`, 'utf8'))
  : {
      date: new Date().toISOString(),
      command,
      node: process.version,
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cpus: os.availableParallelism(),
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        kernel: os.release(),
        wrk: execSync('wrk -v 2>&1 || true', { encoding: 'utf8' }).split('\n')[0],
        fdLimit: openFilesLimit(),
      },
      options: { ...options, log: undefined, polls },
    };

/** This process's limit of open descriptors (the soft one), from /proc; null where unknown. */
function openFilesLimit() {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line ? Number(line[1]) : null;
  } catch {
    return null;
  }
}

/**
 * What the kernel keeps per TCP connection on this machine, for bench/analysis.md's estimate of
 * many connections: slab object sizes (bytes) of a socket's parts, from /proc/slabinfo (root only;
 * `null` otherwise), and the TCP buffer limits (min, default, max bytes) from /proc/sys.
 */
function kernelPerSocket() {
  const read = (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  };
  const slab = read('/proc/slabinfo');
  const size = (name) => {
    const line = slab?.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? null : Number(line.trim().split(/\s+/)[3]);
  };
  const triple = (path) => read(path)?.trim().split(/\s+/).map(Number) ?? null;
  return {
    slabBytes: {
      TCP: size('TCP'),
      sock_inode_cache: size('sock_inode_cache'),
      filp: size('filp'),
      dentry: size('dentry'),
      eventpoll_epi: size('eventpoll_epi'),
    },
    tcpRmem: triple('/proc/sys/net/ipv4/tcp_rmem'),
    tcpWmem: triple('/proc/sys/net/ipv4/tcp_wmem'),
  };
}

if (!reportOnly) {
  results.kernel = kernelPerSocket();
  await measure();
}

async function measure() {
  if (only.has('router')) {
    process.stderr.write('router lookup …\n');
    results.router = runRouter();
  }
  if (only.has('startup')) {
    process.stderr.write('start-up …\n');
    results.startup = await runStartup();
  }
  if (only.has('longpoll')) {
    process.stderr.write(`${polls} long polls …\n`);
    results.longPoll = await runLongPoll({
      count: polls,
      rounds: options.rounds,
      log: options.log,
    });
  }
  if (only.has('websockets')) {
    process.stderr.write(`${polls} WebSockets …\n`);
    results.websockets = await runWebSockets({
      count: polls,
      rounds: options.rounds,
      log: options.log,
    });
  }
  if (only.has('http')) {
    process.stderr.write('HTTP throughput …\n');
    results.http = await runHttp(options);
  }
}

const md = [];
md.push('# Benchmark results', '');
md.push(`- date: ${results.date}`);
md.push(`- command: \`${results.command}\``);
md.push(
  `- Node ${results.node}; ${results.machine.cpus} × ${results.machine.cpu}; ${results.machine.memoryGiB} GiB; Linux ${results.machine.kernel}; ${results.machine.wrk}`,
);
md.push(
  `- method: each server alone on CPU 0 (taskset), wrk (1 thread, ${results.options.connections} connections) on CPU 1; ${results.options.warmup} s warm-up then ${results.options.seconds} s measured, ${results.options.rounds} interleaved rounds; medians; every run checked for zero socket errors, zero non-2xx and the right body before and after.`,
);
md.push('');
if (results.http) {
  md.push(
    '## HTTP throughput',
    '',
    '| scenario | contender | req/s | p99 ms | × node-http | server CPU µs/req |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  );
  for (const r of results.http)
    md.push(
      `| ${r.scenario} | ${r.contender} | ${r.rps} | ${r.p99ms} | ${r.ratio} | ${r.cpuUsPerReq} |`,
    );
  md.push('');
}
if (results.router) {
  const r = results.router;
  md.push(
    '## Router lookup',
    '',
    `${r.routes} routes, ${r.lookups} paths: this router ${r.oursNs.toFixed(1)} ns per lookup, find-my-way ${r.findMyWayNs.toFixed(1)} ns (${(r.findMyWayNs / r.oursNs).toFixed(2)} × faster).`,
    '',
  );
}
if (results.longPoll) {
  md.push(
    '## Long polls',
    '',
    'Each server alone on CPU 0 holding the polls of one client process on CPU 1; RSS growth per held poll, then one POST and the time until every poll has its whole answer. Medians of the rounds (spread min–max).',
    '',
    '| contender | held | answered | rounds | RSS before MiB | RSS held MiB | KiB per poll | broadcast ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of results.longPoll)
    md.push(
      `| ${r.contender} | ${r.held} | ${r.answered} | ${r.rounds ?? 1} | ${r.rssBeforeMiB} | ${r.rssHeldMiB} | ${r.perPollKiB}${r.perPollKiBSpread ? ` (${r.perPollKiBSpread})` : ''} | ${r.broadcastMs}${r.broadcastMsSpread ? ` (${r.broadcastMsSpread})` : ''} |`,
    );
  md.push('');
}
if (results.websockets) {
  md.push(
    '## WebSockets',
    '',
    'One server process on CPU 0 (the service: `dist/main.js`, WORKERS=1, `/chat/socket`; bare: `ws` alone) holding the sockets of two client processes on CPU 1; RSS growth and descriptors per socket, then one POST and the time until every socket has the message. Medians of the rounds (spread min–max).',
    '',
    '| contender | sockets | rounds | RSS before MiB | RSS held MiB | KiB per socket | fds per socket | broadcast ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of results.websockets)
    md.push(
      `| ${r.contender} | ${r.sockets} | ${r.rounds} | ${r.rssBeforeMiB} | ${r.rssHeldMiB} | ${r.perSocketKiB} (${r.perSocketKiBSpread}) | ${r.fdsPerSocket} | ${r.broadcastMs} (${r.broadcastMsSpread}) |`,
    );
  md.push('');
}
if (results.startup) {
  md.push(
    '## Start-up',
    '',
    `\`node dist/main.js\` (WORKERS=1) to \`/readyz\` 200: ${results.startup.startupToReadyMs} ms (median); idle RSS ${results.startup.idleRssMiB} MiB.`,
    '',
  );
}
if (results.kernel?.slabBytes.TCP) {
  const k = results.kernel;
  const parts = Object.entries(k.slabBytes).filter(([, bytes]) => bytes !== null);
  md.push(
    '## Kernel, per TCP socket',
    '',
    `Slab objects (/proc/slabinfo): ${parts.map(([name, bytes]) => `${name} ${bytes} B`).join(', ')}: ${parts.reduce((n, [, b]) => n + b, 0)} B per socket, before any buffered data; tcp_rmem ${k.tcpRmem?.join('/')} and tcp_wmem ${k.tcpWmem?.join('/')} (min/default/max bytes, taken only while data waits).`,
    '',
  );
}
md.push(...podEstimate(results));
md.push(...targetsTable(results));
if (!reportOnly) writeFileSync(`${dir}results.json`, `${JSON.stringify(results, null, 2)}\n`);
// bench/redis-chat.mjs writes its own section between markers: kept as it is.
const previous = existsSync(`${dir}results.md`) ? readFileSync(`${dir}results.md`, 'utf8') : '';
const redis = /<!-- redis-chat:start -->[\s\S]*<!-- redis-chat:end -->/.exec(previous);
if (redis) md.push(redis[0], '');
md.push(
  'Where the time goes, what changed between runs and how the figures were found: [analysis.md](analysis.md).',
);
writeFileSync(`${dir}results.md`, `${md.join('\n')}\n`);
process.stdout.write(`${md.join('\n')}\n`);
