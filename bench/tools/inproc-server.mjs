// One contender of bench/tools/inproc-ab.mjs (which starts it; not meant to be run by hand):
// imports a bench server script (bench/servers/*.mjs, unchanged: PORT=0, the listening server is
// caught as it calls `listen`), opens CONNS in-memory connections to it (no sockets, no kernel:
// node:http parses and writes exactly as on a socket) and keeps one request in flight on each,
// the next sent once the previous answer's head came back.
//
//   node bench/tools/inproc-server.mjs SERVER_SCRIPT SCENARIO   (fd 3: a pipe for the results)
//
// Signals from the driver: SIGWINCH starts the measured window (CPU time, requests, and with
// ALLOC=1 the bytes allocated on the JS heap, from v8's GC profiler), SIGUSR2 ends it, writes
// one JSON line to fd 3 and exits. Every answer must be a 200; the first one is kept whole so the
// driver can show what each contender sends (INPROC_SHOW=1).
import { writeSync } from 'node:fs';
import net from 'node:net';
import { resolve } from 'node:path';
import { Duplex } from 'node:stream';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { SCENARIOS } from '../http.mjs';
import { SAMPLE } from '../servers/schema-body.mjs';

const [script, scenarioName] = process.argv.slice(2);
const CONNS = Number(process.env.CONNS ?? 32);
const out = (line) => writeSync(3, `${JSON.stringify(line)}\n`);

const requests = { hello: null, json: null, post: null, schema: null };
for (const s of SCENARIOS) {
  const key = { hello: 'hello', 'json-param': 'json', 'post-echo-1k': 'post' }[s.name];
  if (key !== undefined) requests[key] = s;
}
requests.schema = { method: 'POST', path: '/people', body: JSON.stringify(SAMPLE) };
const scenario = requests[scenarioName];
if (!scenario) throw new Error(`unknown scenario ${scenarioName} (hello, json, post, schema)`);
const head = `${scenario.method} ${scenario.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
const raw = Buffer.from(
  scenario.body === undefined
    ? `${head}\r\n`
    : `${head}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(scenario.body)}\r\n\r\n${scenario.body}`,
);

// The server: whichever listens first (the service's application port comes before its admin's).
let server = null;
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  server ??= this;
  return listen.apply(this, args);
};
process.env.PORT = '0';
await import(resolve(script));
for (let i = 0; i < 200 && !server?.listening; i++) await new Promise((r) => setTimeout(r, 10));
if (!server) throw new Error(`${script} did not listen`);

let done = 0;
// Bytes and answers are counted on the first connection only, to keep the harness's work small.
let bytes = 0;
let answers = 0;
let firstAnswer = '';
let shown = 0; // 0: before the first answer on connection 0, 1: inside it, 2: past it
const H = 'H'.charCodeAt(0);

/** An in-memory connection: what the server writes is checked (status 200) and dropped. */
class Connection extends Duplex {
  constructor(counted) {
    super({ decodeStrings: false });
    this.counted = counted;
    this.remoteAddress = '127.0.0.1';
    this.remotePort = 40000;
    this.readyState = 'open';
  }
  _read() {}
  _write(chunk, encoding, callback) {
    this.take(chunk, encoding);
    callback();
  }
  _writev(chunks, callback) {
    for (const c of chunks) this.take(c.chunk, c.encoding);
    callback();
  }
  take(chunk, encoding) {
    const isText = typeof chunk === 'string';
    // A response starts with "HTTP/1.1 200" (status digits at 9..11); a body chunk may start
    // with an H too (a chunked "Hello, world").
    const isHead = isText
      ? chunk.charCodeAt(0) === H && chunk.startsWith('HTTP/1.1 ')
      : chunk[0] === H && chunk.length >= 12 && chunk.latin1Slice(0, 9) === 'HTTP/1.1 ';
    if (this.counted) {
      bytes += isText ? Buffer.byteLength(chunk, encoding) : chunk.length;
      if (isHead) answers++;
      if (isHead && shown < 2) shown++;
      if (shown === 1) firstAnswer += isText ? chunk : chunk.toString('latin1');
    }
    if (!isHead) return;
    const ok = isText
      ? chunk.startsWith('HTTP/1.1 200')
      : chunk[9] === 0x32 && chunk[10] === 0x30 && chunk[11] === 0x30;
    if (!ok) {
      process.stderr.write(`${script}: not a 200:\n${String(chunk).slice(0, 500)}\n`);
      process.exit(1);
    }
    done++;
    setImmediate(() => this.push(raw));
  }
  setTimeout() {
    return this;
  }
  setNoDelay() {
    return this;
  }
  setKeepAlive() {
    return this;
  }
  ref() {
    return this;
  }
  unref() {
    return this;
  }
}

const connections = [];
for (let i = 0; i < CONNS; i++) {
  const c = new Connection(i === 0);
  server.emit('connection', c);
  connections.push(c);
}
for (const c of connections) c.push(raw);

let cpu0 = process.cpuUsage();
let done0 = 0;
let bytes0 = 0;
let answers0 = 0;
let profiler = null;
let used0 = 0;
process.on('SIGWINCH', () => {
  if (process.env.ALLOC === '1') {
    profiler = new GCProfiler();
    profiler.start();
  }
  used0 = getHeapStatistics().used_heap_size;
  cpu0 = process.cpuUsage();
  done0 = done;
  bytes0 = bytes;
  answers0 = answers;
});
process.on('SIGUSR2', () => {
  const cpu = process.cpuUsage(cpu0);
  const n = done - done0;
  let allocated = null;
  if (profiler !== null) {
    const gcs = profiler.stop()?.statistics ?? [];
    const freed = gcs.reduce(
      (sum, g) =>
        sum + g.beforeGC.heapStatistics.usedHeapSize - g.afterGC.heapStatistics.usedHeapSize,
      0,
    );
    allocated = (freed + getHeapStatistics().used_heap_size - used0) / n;
  }
  out({
    cpuUs: (cpu.user + cpu.system) / n,
    requests: n,
    allocBytes: allocated,
    bytesPerAnswer: answers > answers0 ? (bytes - bytes0) / (answers - answers0) : null,
    firstAnswer: process.env.INPROC_SHOW === '1' ? firstAnswer : undefined,
  });
  process.exit(0);
});
out({ ready: true });
