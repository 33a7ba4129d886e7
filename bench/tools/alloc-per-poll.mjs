// Bytes allocated per held long poll, garbage included, by the function that allocated them (V8's
// sampling heap profiler, every ALLOC_INTERVAL = 256 bytes on average, counting collected objects
// too). heap-per-poll.mjs says what a held poll keeps; this says what holding it cost, which sets
// how often the young generation is collected while polls arrive and so how far V8 grows it.
// Starts `script` (bench/http.mjs's startServer: PORT, on CPU 0; WORKERS=1), opens 1,000 polls to warm up, then samples while
// `N` more arrive in batches of 500 connections (as bench/longpoll-client.mjs opens them):
//   node bench/tools/alloc-per-poll.mjs dist/main.js '/chat/messages?after=0' [4000]
//   node bench/tools/alloc-per-poll.mjs bench/servers/longpoll-bare.mjs /poll [4000]
// TOP (30) rows; STACKS=1 also prints the heaviest call paths (four frames).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../http.mjs';

const [script, path, n = '4000'] = process.argv.slice(2);
if (script === undefined || path === undefined) {
  process.stderr.write('usage: alloc-per-poll.mjs <server script> <poll path> [polls]\n');
  process.exit(2);
}
const count = Number(n);
const root = join(new URL('.', import.meta.url).pathname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'alloc-per-poll-'));
const out = join(dir, 'profile.json');
const server = await startServer({
  name: script,
  command: [process.execPath, '-r', join(root, 'bench/tools/alloc-preload.cjs'), script],
  env: { WORKERS: '1', ALLOC_OUT: out },
});
const { child, port } = server;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sockets = [];

/** Opens `k` polls, 500 connections at a time, each writing its request once connected. */
async function open(k) {
  for (let i = 0; i < k; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(k, i + 500); j++) {
      batch.push(
        new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => {
            s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
            resolve();
          });
          s.on('error', reject);
          sockets.push(s);
        }),
      );
    }
    await Promise.all(batch);
  }
}

function frameName(f) {
  return `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
}

try {
  await sleep(1000);
  await open(1000);
  await sleep(1000);
  child.kill('SIGUSR2');
  await sleep(300);
  await open(count);
  await sleep(1500);
  child.kill('SIGUSR2');
  let profile = null;
  for (let i = 0; i < 40 && profile === null; i++) {
    await sleep(250);
    try {
      profile = JSON.parse(readFileSync(out, 'utf8'));
    } catch {}
  }
  if (profile === null) throw new Error('no allocation profile');
  const self = new Map();
  const paths = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const here = [...stack, frameName(node.callFrame)];
    if (node.selfSize > 0) {
      total += node.selfSize;
      const name = here[here.length - 1];
      self.set(name, (self.get(name) ?? 0) + node.selfSize);
      const key = here.slice(-4).reverse().join(' < ');
      paths.set(key, (paths.get(key) ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, here);
  };
  walk(profile.head, []);
  console.log(`${script}: allocated per held poll ${(total / count).toFixed(0)} B`);
  const rows = (map, top) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .filter(([, bytes]) => bytes / count >= 8)
      .map(([name, bytes]) => `${(bytes / count).toFixed(0).padStart(6)} B  ${name}`);
  for (const row of rows(self, Number(process.env.TOP ?? 30))) console.log(row);
  if (process.env.STACKS) {
    console.log('heaviest call paths:');
    for (const row of rows(paths, 30)) console.log(row);
  }
} finally {
  for (const s of sockets) s.destroy();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
