// 10,000 WebSockets held in one server process: the server's RSS growth per socket, then one
// message posted over HTTP and the time from writing the POST until every socket has it. The full
// service (dist/main.js, WORKERS=1, /chat/socket) against a bare `ws` server
// (bench/servers/ws-bare.mjs). The server runs on CPU 0; the sockets are held by two client
// processes (bench/websockets-client.mjs, half each) on CPU 1, within the per-process fd limit.
// Contenders are interleaved round by round; medians (and the spread) over the rounds.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { median, openFds, rssKiB, spread, startServer } from './http.mjs';

const root = join(new URL('.', import.meta.url).pathname, '..');
const CLIENTS = 2;

const CONTENDERS = [
  {
    name: 'service',
    script: 'dist/main.js',
    env: { WORKERS: '1', LOG_LEVEL: 'info' },
    path: '/chat/socket',
  },
  { name: 'ws-bare', script: 'bench/servers/ws-bare.mjs', path: '/chat/socket' },
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One client process; `next(op)` resolves with its next message of that op. */
function startClient() {
  const child = spawn('taskset', ['-c', '1', process.execPath, 'bench/websockets-client.mjs'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters = new Map();
  let failure = null;
  child.on('message', (msg) => {
    if (msg.op === 'error') {
      failure ??= new Error(msg.message);
      for (const w of waiters.values()) w.reject(failure);
      waiters.clear();
      return;
    }
    const w = waiters.get(msg.op);
    waiters.delete(msg.op);
    w?.resolve(msg);
  });
  child.on('exit', (code) => {
    for (const w of waiters.values()) w.reject(new Error(`client exited (${code})`));
  });
  return {
    next: (op) =>
      failure !== null
        ? Promise.reject(failure)
        : new Promise((resolve, reject) => waiters.set(op, { resolve, reject })),
    send: (msg) => child.send(msg),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Writes a POST on a connection opened beforehand; resolves with when it was written (epoch ms). */
async function post(port) {
  const socket = await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
  const body = JSON.stringify({ text: 'hello, everyone' });
  const status = new Promise((resolve) => {
    socket.once('data', (d) => resolve(d.toString('latin1', 0, 12)));
  });
  const at = performance.timeOrigin + performance.now();
  socket.write(
    `POST /chat/messages HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return { at, status, socket };
}

/** `promise`, or a rejection after `ms` (the timer cleared either way). */
async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function once(contender, count) {
  const server = await startServer(contender);
  const clients = Array.from({ length: CLIENTS }, startClient);
  try {
    const pid = server.child.pid;
    await sleep(500);
    const before = rssKiB(pid);
    const fdsBefore = openFds(pid);
    const share = Math.ceil(count / CLIENTS);
    const opened = clients.map((c) => c.next('opened'));
    clients.forEach((c, i) => {
      c.send({
        op: 'open',
        port: server.port,
        path: contender.path,
        count: Math.min(share, count - i * share),
      });
    });
    await within(Promise.all(opened), 120_000, 'opening the sockets');
    await sleep(1500);
    const held = rssKiB(pid);
    const fdsHeld = openFds(pid);
    const armed = clients.map((c) => c.next('armed'));
    for (const c of clients) c.send({ op: 'arm' });
    await Promise.all(armed);
    const received = clients.map((c) => c.next('received'));
    const { at, status, socket } = await post(server.port);
    const lasts = await within(Promise.all(received), 30_000, 'the broadcast');
    const answer = await within(status, 5_000, 'the POST');
    socket.destroy();
    if (answer !== 'HTTP/1.1 201') throw new Error(`${contender.name}: POST answered ${answer}`);
    return {
      rssBeforeMiB: before / 1024,
      rssHeldMiB: held / 1024,
      perSocketKiB: (held - before) / count,
      fdsPerSocket: (fdsHeld - fdsBefore) / count,
      broadcastMs: Math.max(...lasts.map((m) => m.lastAt)) - at,
    };
  } finally {
    for (const c of clients) {
      c.send({ op: 'close' });
      await c.stop();
    }
    await server.stop();
  }
}

/** Every contender, `rounds` interleaved rounds of `count` sockets; rows of medians. */
export async function runWebSockets({ count = 10_000, rounds = 3, log = console.log } = {}) {
  const samples = new Map(CONTENDERS.map((c) => [c.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const contender of CONTENDERS) {
      const r = await once(contender, count);
      samples.get(contender.name).push(r);
      log(
        `  websockets round ${round} ${contender.name}: ${r.perSocketKiB.toFixed(2)} KiB/socket, broadcast ${r.broadcastMs.toFixed(1)} ms`,
      );
    }
  }
  return CONTENDERS.map(({ name }) => {
    const list = samples.get(name);
    const pick = (key) => list.map((r) => r[key]);
    return {
      contender: name,
      sockets: count,
      rounds: list.length,
      rssBeforeMiB: Number(median(pick('rssBeforeMiB')).toFixed(1)),
      rssHeldMiB: Number(median(pick('rssHeldMiB')).toFixed(1)),
      perSocketKiB: Number(median(pick('perSocketKiB')).toFixed(2)),
      perSocketKiBSpread: spread(pick('perSocketKiB'), 2),
      fdsPerSocket: Number(median(pick('fdsPerSocket')).toFixed(2)),
      broadcastMs: Number(median(pick('broadcastMs')).toFixed(1)),
      broadcastMsSpread: spread(pick('broadcastMs'), 1),
    };
  });
}

// `node bench/websockets.mjs [count] [rounds]`: this benchmark alone, rows as JSON.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [count = '10000', rounds = '3'] = process.argv.slice(2);
  const rows = await runWebSockets({ count: Number(count), rounds: Number(rounds) });
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
}
