// Heap per held long poll, by constructor: starts `script` (PORT, WORKERS=1, on CPU 0) with
// --heapsnapshot-signal, takes a snapshot, opens N polls on `path` (raw sockets), takes another,
// and prints the difference per poll: self bytes and object count by constructor (or node type).
//   node bench/tools/heap-per-poll.mjs dist/main.js '/chat/messages?after=0' [2000]
//   node bench/tools/heap-per-poll.mjs bench/servers/longpoll-bare.mjs /poll [2000]
// A path written ws:/path holds WebSockets instead (the `ws` client):
//   node bench/tools/heap-per-poll.mjs dist/main.js ws:/chat/socket [2000]
// HEAP_KEEP=1 keeps the snapshots (their directory is printed) for a closer look: which objects
// hold the new ones, with bench/tools/heap-retainers.mjs.
// Snapshots go to a temporary directory, removed at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

const [script, path, n = '2000'] = process.argv.slice(2);
if (script === undefined || path === undefined) {
  process.stderr.write('usage: heap-per-poll.mjs <server script> <poll path> [polls]\n');
  process.exit(2);
}
const count = Number(n);
const root = join(new URL('.', import.meta.url).pathname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'heap-per-poll-'));
const port = await new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const p = srv.address().port;
    srv.close(() => resolve(p));
  });
});
const child = spawn(
  'taskset',
  ['-c', '0', process.execPath, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`, script],
  {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKERS: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const connect = () =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => resolve(null));
  });

async function snapshot() {
  const files = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
  const before = files().length;
  child.kill('SIGUSR2');
  let last = -1;
  for (let i = 0; i < 240; i++) {
    await sleep(500);
    const now = files();
    const sizes = now.map((f) => statSync(join(dir, f)).size);
    const size = sizes.reduce((a, b) => a + b, 0);
    if (now.length > before && sizes.every((s) => s > 0) && size === last) return;
    last = size;
  }
  throw new Error('no heap snapshot');
}

function bySelfSize(file) {
  const s = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const sums = new Map();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]];
    const name =
      type === 'object'
        ? s.strings[s.nodes[i + iName]]
        : type === 'closure'
          ? 'closure'
          : `(${type})`;
    const e = sums.get(name) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + iSize];
    sums.set(name, e);
    total += s.nodes[i + iSize];
  }
  return { sums, total };
}

try {
  let up = null;
  for (let i = 0; i < 100 && up === null; i++) {
    up = await connect();
    if (up === null) await sleep(100);
  }
  if (up === null) throw new Error('the server did not start');
  up.destroy();
  await sleep(1000);
  await snapshot();
  const sockets = [];
  for (let i = 0; i < count; i++) {
    if (path.startsWith('ws:')) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path.slice(3)}`, {
        perMessageDeflate: false,
      });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      sockets.push({ destroy: () => ws.terminate() });
      continue;
    }
    const s = await connect();
    if (s === null) throw new Error('connect failed');
    s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    sockets.push(s);
  }
  await sleep(1000);
  await snapshot();
  for (const s of sockets) s.destroy();
  const [first, second] = readdirSync(dir)
    .filter((f) => f.endsWith('.heapsnapshot'))
    .sort()
    .map(bySelfSize);
  console.log(
    `${script}: heap per held poll ${((second.total - first.total) / count).toFixed(0)} B`,
  );
  const rows = [...second.sums].map(([name, e]) => {
    const old = first.sums.get(name) ?? { count: 0, bytes: 0 };
    return { name, bytes: (e.bytes - old.bytes) / count, count: (e.count - old.count) / count };
  });
  rows.sort((a, b) => b.bytes - a.bytes);
  // On a loaded machine the server may not have taken every connection when the second snapshot
  // is taken: the figure is then too low.
  const taken = rows.find((r) => r.name === 'Socket')?.count ?? 0;
  if (taken < 0.99) {
    console.log(`warning: ${taken.toFixed(2)} new sockets per poll, not 1: run it again`);
  }
  for (const r of rows.slice(0, 30)) {
    if (r.bytes < 8) break;
    console.log(
      `${r.bytes.toFixed(0).padStart(6)} B ${r.count.toFixed(2).padStart(6)} × ${r.name}`,
    );
  }
} finally {
  child.kill('SIGKILL');
  if (process.env.HEAP_KEEP) process.stderr.write(`snapshots kept in ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
