// A WebSocket client of bench/websockets.mjs, in its own process (pinned by the parent to the CPU
// the server does not use): holds its share of the sockets and reports when every one of them has
// received the broadcast. Driven over IPC:
//   { op: 'open', port, path, count } → { op: 'opened' }     (opens `count` sockets, 500 at a time)
//   { op: 'arm' }                     → { op: 'armed' }      (counts messages from now on)
//   after 'arm', once each socket has a message → { op: 'received', lastAt } (ms since the epoch)
//   { op: 'close' }                   → closes every socket and exits
// A socket closed by the server, or an error, is reported as { op: 'error', message }.
import WebSocket from 'ws';

const sockets = [];
let waiting = -1; // sockets still waiting for the broadcast, -1 before 'arm'
let got = new Uint8Array(0);

function fail(message) {
  process.send({ op: 'error', message });
}

function open(port, path, count) {
  got = new Uint8Array(count);
  const url = `ws://127.0.0.1:${port}${path}`;
  const one = (i) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('open', resolve);
      ws.on('error', reject);
      ws.on('close', (code) => {
        if (waiting !== -2) fail(`socket ${i} closed by the server (${code})`);
      });
      ws.on('message', () => {
        if (waiting <= 0 || got[i] === 1) return;
        got[i] = 1;
        waiting--;
        if (waiting === 0)
          process.send({ op: 'received', lastAt: performance.timeOrigin + performance.now() });
      });
      sockets.push(ws);
    });
  return (async () => {
    for (let i = 0; i < count; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(count, i + 500); j++) batch.push(one(j));
      await Promise.all(batch);
    }
  })();
}

process.on('message', async (msg) => {
  try {
    if (msg.op === 'open') {
      await open(msg.port, msg.path, msg.count);
      process.send({ op: 'opened' });
    } else if (msg.op === 'arm') {
      got.fill(0);
      waiting = sockets.length;
      process.send({ op: 'armed' });
    } else if (msg.op === 'close') {
      waiting = -2;
      for (const ws of sockets) ws.terminate();
      process.disconnect();
    }
  } catch (error) {
    fail(error.message);
  }
});
