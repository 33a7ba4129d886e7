// C10K: hold N concurrent waiting long polls (raw sockets from loopback), report the server's RSS
// growth per held poll, then post one message and time from writing the POST until every poll has
// its whole answer at the client. The full service (dist/main.js, WORKERS=1) against a bare
// node:http long-poll server and the seed (Tornado), same run, same client:
// bench/longpoll-client.mjs in its own process on CPU 1 (the servers run on CPU 0), the POST
// written on a connection opened beforehand. Contenders interleaved round by round; medians.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, openFds, rssKiB, spread, startServer, TORNADO_PYTHON } from './http.mjs';

const root = join(new URL('.', import.meta.url).pathname, '..');

/** The node process's pid under `taskset` (taskset execs, so it is the same pid). */
function serverPid(server) {
  return server.child.pid;
}

/**
 * The poll client (bench/longpoll-client.mjs) in its own process, pinned with taskset to `cpu`,
 * the CPU the server does not run on: it neither competes with the server for its CPU nor is
 * slowed by it. `ask(message)` sends one request and resolves with the answer.
 */
function startClient(cpu = '1') {
  const child = spawn('taskset', ['-c', cpu, process.execPath, 'bench/longpoll-client.mjs'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let pending = null;
  child.on('message', (msg) => {
    const p = pending;
    pending = null;
    if (p === null) return;
    if (msg.op === 'error') p.reject(new Error(msg.message));
    else p.resolve(msg);
  });
  child.on('exit', (code) => pending?.reject(new Error(`poll client exited (${code})`)));
  return {
    ask: (message) =>
      new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send(message);
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/**
 * Every contender, `rounds` interleaved rounds of `count` held polls each (a fresh server and
 * client per round); rows of medians, with the spread (min–max) of the memory and broadcast.
 */
export async function runLongPoll({ count = 10_000, rounds = 1, log = console.log } = {}) {
  const samples = new Map();
  for (let round = 1; round <= rounds; round++) {
    for (const row of await longPollRound(count, log)) {
      if (!samples.has(row.contender)) samples.set(row.contender, []);
      samples.get(row.contender).push(row);
    }
  }
  return [...samples].map(([contender, list]) => {
    const pick = (key) => list.map((r) => r[key]);
    const row = {
      contender,
      held: count,
      answered: Math.min(...pick('answered')),
      rounds: list.length,
      rssBeforeMiB: Number(median(pick('rssBeforeMiB')).toFixed(1)),
      rssHeldMiB: Number(median(pick('rssHeldMiB')).toFixed(1)),
      perPollKiB: Number(median(pick('perPollKiB')).toFixed(2)),
      perPollKiBSpread: spread(pick('perPollKiB'), 2),
      broadcastMs: Number(median(pick('broadcastMs')).toFixed(1)),
      broadcastMsSpread: spread(pick('broadcastMs'), 1),
    };
    if (list[0].serverMs) row.serverMs = list.map((r) => r.serverMs);
    return row;
  });
}

async function longPollRound(count, log) {
  const contenders = [
    {
      name: 'service',
      script: 'dist/main.js',
      env: { WORKERS: '1', LOG_LEVEL: 'info' },
      path: '/chat/messages?after=0',
    },
    { name: 'node-http', script: 'bench/servers/longpoll-bare.mjs', path: '/poll' },
    {
      name: 'tornado',
      command: [TORNADO_PYTHON, 'bench/servers/tornado_seed.py'],
      path: '/chat/messages?after=0&timeout=300',
    },
  ];
  // BENCH_SERVER_TIMING=1: the servers also stamp the POST's arrival and their last end() (see
  // bench/tools/server-timing.cjs), to tell the server's share of the broadcast from the client's.
  const timingDir = process.env.BENCH_SERVER_TIMING ? mkdtempSync(join(tmpdir(), 'lp-')) : null;
  const results = [];
  for (const base of contenders) {
    const contender =
      timingDir === null || base.command !== undefined // not a Node server: no timestamps
        ? base
        : {
            ...base,
            env: {
              ...base.env,
              NODE_OPTIONS: '-r ./bench/tools/server-timing.cjs',
              SERVER_TIMING_DIR: timingDir,
            },
          };
    const server = await startServer(contender);
    const client = startClient();
    try {
      const pid = serverPid(server);
      // Settle after start-up.
      await new Promise((r) => setTimeout(r, 500));
      const before = rssKiB(pid);
      const fdsBefore = openFds(pid);
      await client.ask({ op: 'open', port: server.port, path: contender.path, count });
      // A client's connect completes in the kernel's accept queue: wait until the server has
      // accepted every connection (a slow acceptor, such as Tornado, lags far behind).
      for (let i = 0; i < 600 && openFds(pid) - fdsBefore < count; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 1500));
      const held = rssKiB(pid);
      const status = await client.ask({ op: 'status' });
      if (status.failure !== null) throw new Error(status.failure);
      if (status.answered !== 0) throw new Error(`${status.answered} polls answered early`);
      const { answered, broadcastMs, postAt, lastAt } = await client.ask({
        op: 'post',
        port: server.port,
        timeoutMs: 30_000,
      });
      const row = {
        contender: contender.name,
        held: count,
        answered,
        rssBeforeMiB: Number((before / 1024).toFixed(1)),
        rssHeldMiB: Number((held / 1024).toFixed(1)),
        perPollKiB: Number(((held - before) / count).toFixed(2)),
        broadcastMs: Number(broadcastMs.toFixed(1)),
      };
      if (timingDir !== null && contender.command === undefined) {
        const file = join(timingDir, `server-timing-${pid}.json`);
        for (let i = 0; i < 40 && !existsSync(file); i++)
          await new Promise((r) => setTimeout(r, 100));
        const t = JSON.parse(readFileSync(file, 'utf8'));
        row.serverMs = {
          postArrived: Number((t.postAt - postAt).toFixed(1)),
          firstEnd: Number((t.firstEndAt - postAt).toFixed(1)),
          lastEnd: Number((t.lastEndAt - postAt).toFixed(1)),
          clientAfterLastEnd: Number((lastAt - t.lastEndAt).toFixed(1)),
        };
      }
      log(`  long polls ${contender.name}: ${JSON.stringify(row)}`);
      results.push(row);
    } finally {
      await client.stop();
      await server.stop();
    }
  }
  return results;
}

export async function runStartup({ rounds = 5 } = {}) {
  const times = [];
  let idleRss = 0;
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    const server = await startServer({
      name: 'service-main',
      script: 'dist/main.js',
      env: { WORKERS: '1' },
    });
    try {
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${server.port}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      times.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 1000));
      idleRss = Math.max(idleRss, rssKiB(server.child.pid));
    } finally {
      await server.stop();
    }
  }
  times.sort((a, b) => a - b);
  return {
    startupToReadyMs: Number(times[Math.floor(times.length / 2)].toFixed(1)),
    idleRssMiB: Number((idleRss / 1024).toFixed(1)),
  };
}
