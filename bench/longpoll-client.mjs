// The long-poll client of bench/longpoll.mjs, in its own process so that it can be pinned to the
// CPU the server does not use (taskset -c 1; the server runs on CPU 0). Driven over IPC:
//   { op: 'open', port, path, count } → { op: 'opened', answered }   (holds `count` polls)
//   { op: 'status' }                  → { op: 'status', answered }
//   { op: 'post', port, timeoutMs }   → { op: 'posted', answered, broadcastMs, postAt, lastAt }
//                                       | { op: 'error', message }
// A poll counts as answered only once its whole response is in: a 200 whose body is complete
// (Content-Length bytes, or a chunked body up to its last chunk). Bytes are counted per socket;
// only the head of each response is converted to a string, once.
import net from 'node:net';

const CRLF2 = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('\r\n0\r\n\r\n');

let sockets = [];
let answered = 0;
let count = 0;
let onAll = null;

function answeredOne() {
  answered++;
  if (answered === count && onAll !== null) onAll(performance.now());
}

/** Reads one HTTP response on `socket` and calls answeredOne() when it is complete. */
function readResponse(socket, fail) {
  let head = null; // bytes of the head while it is incomplete
  let remaining = -1; // body bytes still expected (Content-Length), -1 before the head
  let chunked = false;
  let tail = Buffer.alloc(0); // the last bytes of a chunked body, to spot its last chunk
  let done = false;
  socket.on('data', (chunk) => {
    if (done) return fail(new Error('bytes after a complete response'));
    let body = chunk;
    if (remaining < 0 && !chunked) {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf(CRLF2);
      if (end < 0) return;
      const text = head.toString('latin1', 0, end).toLowerCase();
      if (!text.startsWith('http/1.1 200 ')) return fail(new Error(`not a 200: ${text}`));
      const length = /\r\ncontent-length: *(\d+)/.exec(text);
      body = head.subarray(end + 4);
      head = null;
      if (length !== null) remaining = Number(length[1]);
      else if (/\r\ntransfer-encoding: *chunked/.test(text)) chunked = true;
      else return fail(new Error(`no length: ${text}`));
    }
    if (chunked) {
      // The last bytes seen, across pieces: the body is complete when they are the last chunk.
      tail = (body.length >= LAST_CHUNK.length ? body : Buffer.concat([tail, body])).subarray(
        -LAST_CHUNK.length,
      );
      if (tail.equals(LAST_CHUNK)) {
        done = true;
        answeredOne();
      }
      return;
    }
    remaining -= body.length;
    if (remaining < 0) return fail(new Error('more body bytes than Content-Length'));
    if (remaining === 0) {
      done = true;
      answeredOne();
    }
  });
}

async function open(port, path, n) {
  count = n;
  const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  let failure = null;
  const fail = (error) => {
    failure ??= error;
  };
  for (let i = 0; i < n; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 500); j++) {
      batch.push(
        new Promise((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            socket.write(request);
            resolve();
          });
          socket.on('error', reject);
          readResponse(socket, fail);
          sockets.push(socket);
        }),
      );
    }
    await Promise.all(batch);
  }
  return () => failure;
}

/** POSTs one message on a connection opened beforehand; the clock starts as the request is written. */
async function post(port, timeoutMs) {
  const body = JSON.stringify({ text: 'hello, everyone' });
  const socket = await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
  const all = new Promise((resolve) => {
    onAll = resolve;
  });
  const created = new Promise((resolve) => {
    socket.once('data', (d) => resolve(d.toString('latin1', 0, 12)));
  });
  const start = performance.now();
  socket.write(
    `POST /chat/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  let timer;
  const end = await Promise.race([
    all,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const status = await Promise.race([
    created,
    new Promise((r) => setTimeout(() => r('none'), 1000)),
  ]);
  socket.destroy();
  if (status !== 'HTTP/1.1 201') throw new Error(`post answered ${status}`);
  if (end === null) throw new Error(`only ${answered} of ${count} answered`);
  // Also as ms since the epoch, to compare with timestamps taken in the server.
  return {
    broadcastMs: end - start,
    postAt: performance.timeOrigin + start,
    lastAt: performance.timeOrigin + end,
  };
}

let failed = () => null;
process.on('message', async (msg) => {
  try {
    if (msg.op === 'open') {
      failed = await open(msg.port, msg.path, msg.count);
      process.send({ op: 'opened', answered });
    } else if (msg.op === 'status') {
      process.send({ op: 'status', answered, failure: failed()?.message ?? null });
    } else if (msg.op === 'post') {
      const timing = await post(msg.port, msg.timeoutMs);
      const failure = failed();
      if (failure !== null) throw failure;
      process.send({ op: 'posted', answered, ...timing });
    } else if (msg.op === 'close') {
      for (const s of sockets) s.destroy();
      sockets = [];
      process.disconnect();
    }
  } catch (error) {
    process.send({ op: 'error', message: error.message });
  }
});
