// The chat with Redis (REDIS_URL) against the chat in the process, on loopback only:
//
// 1. Latency of one message from POST to a waiting long poll: through Redis across two instances
//    (posted to A, polled on B), and in one instance without Redis. p50/p99 over N messages, each
//    posted once the poll has been waiting for a few milliseconds; one poll and one post at a time.
// 2. Memory of held polls: one instance (WORKERS=1) with and without Redis, idle RSS, then RSS
//    with P polls held (raw sockets), KiB per held poll.
//
// Writes the "Redis chat" section of bench/results.md (between its markers) and prints it.
//   npm run build && node bench/redis-chat.mjs [messages=1000] [polls=5000]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { rssKiB } from './http.mjs';

const root = join(new URL('.', import.meta.url).pathname, '..');
const messages = Number(process.argv[2] ?? 1000);
const polls = Number(process.argv[3] ?? 5000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process and resolves once a line of its output matches `ready`. */
function startProcess(command, args, env, ready) {
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} not ready:\n${output}`)), 20_000);
    const onData = (chunk) => {
      output += chunk;
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited ${code}:\n${output}`)));
  });
}

async function startService(redisUrl) {
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKERS: '1' };
  env.LOG_LEVEL = 'warn';
  delete env.REDIS_URL;
  if (redisUrl !== undefined) env.REDIS_URL = redisUrl;
  const child = await startProcess(process.execPath, ['dist/main.js'], env, /listening on port/);
  return { child, port };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function request(port, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent,
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (chunk) => {
          data += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode, body: data, at: performance.now() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** Post on `postPort`, poll on `pollPort`: ms from writing the POST to the poll's whole answer. */
async function latency(postPort, pollPort) {
  const first = JSON.parse((await request(postPort, '/chat/messages', '{"text":"start"}')).body);
  let last = first.id;
  const samples = [];
  for (let i = 0; i < messages; i++) {
    const poll = request(pollPort, `/chat/messages?after=${last}&timeout=10`);
    await sleep(3); // the poll is waiting on the server before the post leaves
    const sent = performance.now();
    const posted = request(postPort, '/chat/messages', JSON.stringify({ text: `m${i}` }));
    const answer = await poll;
    const [message] = JSON.parse(answer.body).messages;
    if (answer.status !== 200 || message.text !== `m${i}`) throw new Error(`bad answer ${i}`);
    samples.push(answer.at - sent);
    last = message.id;
    await posted;
  }
  samples.sort((a, b) => a - b);
  const round = (ms) => Math.round(ms * 100) / 100;
  return { p50: round(quantile(samples, 0.5)), p99: round(quantile(samples, 0.99)) };
}

/** Idle RSS, then RSS with `polls` held polls (raw sockets), of one instance. */
async function memory(redisUrl) {
  const { child, port } = await startService(redisUrl);
  const seed = JSON.parse((await request(port, '/chat/messages', '{"text":"seed"}')).body);
  await sleep(1000);
  const idle = rssKiB(child.pid);
  const sockets = [];
  for (let i = 0; i < polls; i++) {
    const socket = await new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    socket.write(
      `GET /chat/messages?after=${seed.id}&timeout=25 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    sockets.push(socket);
  }
  await sleep(1000);
  const held = rssKiB(child.pid);
  const answered = new Promise((resolve) => {
    let left = polls;
    for (const socket of sockets) socket.once('data', () => --left === 0 && resolve());
  });
  const sent = performance.now();
  await request(port, '/chat/messages', '{"text":"wake"}');
  await answered;
  const broadcast = performance.now() - sent;
  for (const socket of sockets) socket.destroy();
  child.kill('SIGKILL');
  const mib = (kib) => Math.round((kib / 1024) * 10) / 10;
  return {
    idleMiB: mib(idle),
    heldMiB: mib(held),
    kibPerPoll: Math.round(((held - idle) / polls) * 100) / 100,
    broadcastMs: Math.round(broadcast * 10) / 10,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
const redisPort = await freePort();
const redis = await startProcess(
  'redis-server',
  ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes'].concat([
    '--dir',
    dir,
  ]),
  process.env,
  /Ready to accept connections/,
).catch((error) => {
  rmSync(dir, { recursive: true, force: true });
  throw error;
});
const children = [redis];
try {
  const url = `redis://127.0.0.1:${redisPort}`;
  const a = await startService(url);
  const b = await startService(url);
  children.push(a.child, b.child);
  const across = await latency(a.port, b.port);
  const alone = await startService(undefined);
  children.push(alone.child);
  const inProcess = await latency(alone.port, alone.port);
  for (const child of children.splice(1)) child.kill('SIGKILL');
  // Like for like: both start from a one-message history.
  execFileSync('redis-cli', ['-p', String(redisPort), 'FLUSHALL']);
  const off = await memory(undefined);
  const on = await memory(url);

  const redisVersion = execFileSync('redis-server', ['--version']).toString().split(' ')[2];
  const section = [
    '<!-- redis-chat:start -->',
    '## Redis chat',
    '',
    `- date: ${new Date().toISOString()}`,
    `- command: \`npm run build && node bench/redis-chat.mjs ${messages} ${polls}\``,
    `- Node ${process.version}; Redis ${redisVersion.replace('v=', '')} (appendonly); ${cpus().length} × ${cpus()[0]?.model.trim()}; ${Math.round(totalmem() / 2 ** 30)} GiB; everything on loopback, nothing pinned (the machine was shared)`,
    `- latency: ${messages} messages one at a time, each posted 3 ms after its poll was sent; from writing the POST to the poll's whole answer at the client`,
    `- memory: one instance (WORKERS=1), ${polls} polls held on raw sockets; RSS from /proc`,
    '',
    '| message latency, post → poll | p50 ms | p99 ms |',
    '| --- | ---: | ---: |',
    `| with Redis, posted to instance A, polled on instance B | ${across.p50} | ${across.p99} |`,
    `| without Redis, one instance | ${inProcess.p50} | ${inProcess.p99} |`,
    '',
    '| held polls | idle RSS MiB | RSS held MiB | KiB per poll | broadcast ms |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| without Redis | ${off.idleMiB} | ${off.heldMiB} | ${off.kibPerPoll} | ${off.broadcastMs} |`,
    `| with Redis | ${on.idleMiB} | ${on.heldMiB} | ${on.kibPerPoll} | ${on.broadcastMs} |`,
    '<!-- redis-chat:end -->',
  ].join('\n');
  const file = join(root, 'bench', 'results.md');
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('<!-- redis-chat:start -->');
  const end = text.indexOf('<!-- redis-chat:end -->');
  const updated =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + '<!-- redis-chat:end -->'.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, updated);
  console.log(section);
} finally {
  for (const child of children) child.kill('SIGKILL');
  agent.destroy();
  rmSync(dir, { recursive: true, force: true });
}
