// C10K: hold N concurrent waiting long polls (raw sockets from loopback), report the server's RSS
// growth per held poll, then post one message and time until every poll has its answer. The full
// service (dist/main.js, WORKERS=1) against a bare node:http long-poll server, same run.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { startServer } from './http.mjs';

function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
}

/** The node process's pid under `taskset` (taskset execs, so it is the same pid). */
function serverPid(server) {
  return server.child.pid;
}

async function openPolls(port, count, path) {
  const sockets = [];
  let answered = 0;
  let resolveAll;
  const allAnswered = new Promise((r) => {
    resolveAll = r;
  });
  const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  for (let i = 0; i < count; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 500); j++) {
      batch.push(
        new Promise((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            socket.write(request);
            resolve();
          });
          let seen = false;
          socket.on('data', (chunk) => {
            if (!seen && chunk.toString('latin1').startsWith('HTTP/1.1 200')) {
              seen = true;
              if (++answered === count) resolveAll(performance.now());
            }
          });
          socket.on('error', reject);
          sockets.push(socket);
        }),
      );
    }
    await Promise.all(batch);
  }
  return { sockets, allAnswered, answered: () => answered };
}

async function post(port) {
  const res = await fetch(`http://127.0.0.1:${port}/chat/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'hello, everyone' }),
  });
  if (res.status !== 201) throw new Error(`post answered ${res.status}`);
}

async function waitFor(check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runLongPoll({ count = 10_000, log = console.log } = {}) {
  const contenders = [
    {
      name: 'service',
      script: 'dist/main.js',
      env: { WORKERS: '1', LOG_LEVEL: 'info' },
      path: '/chat/messages?after=0',
    },
    { name: 'node-http', script: 'bench/servers/longpoll-bare.mjs', path: '/poll' },
  ];
  const results = [];
  for (const contender of contenders) {
    const server = await startServer(contender);
    try {
      const pid = serverPid(server);
      // Settle after start-up.
      await new Promise((r) => setTimeout(r, 500));
      const before = rssKiB(pid);
      const polls = await openPolls(server.port, count, contender.path);
      await new Promise((r) => setTimeout(r, 1500));
      const held = rssKiB(pid);
      if (polls.answered() !== 0) throw new Error(`${polls.answered()} polls answered early`);
      const start = performance.now();
      await post(server.port);
      const end = await Promise.race([
        polls.allAnswered,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`only ${polls.answered()} answered`)), 30_000),
        ),
      ]);
      await waitFor(() => polls.answered() === count, 1000);
      for (const s of polls.sockets) s.destroy();
      const row = {
        contender: contender.name,
        held: count,
        answered: polls.answered(),
        rssBeforeMiB: Number((before / 1024).toFixed(1)),
        rssHeldMiB: Number((held / 1024).toFixed(1)),
        perPollKiB: Number(((held - before) / count).toFixed(2)),
        broadcastMs: Number((end - start).toFixed(1)),
      };
      log(`  long polls ${contender.name}: ${JSON.stringify(row)}`);
      results.push(row);
    } finally {
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
