// Server-side timestamps for the long-poll broadcast, preloaded into a server with
// `node -r ./bench/tools/server-timing.cjs`: when the first POST arrives, and when each response's
// end() returned after it (the bytes handed to the kernel). Two seconds after the POST it writes
// { postAt, firstEndAt, lastEndAt, ends } (performance.timeOrigin + performance.now(), ms since
// the epoch, comparable across processes) to $SERVER_TIMING_DIR/server-timing-<pid>.json.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const now = () => performance.timeOrigin + performance.now();
let postAt = 0;
let firstEndAt = 0;
let lastEndAt = 0;
let ends = 0;

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function timedEmit(event, req, ...rest) {
  if (event === 'request' && req.method === 'POST' && postAt === 0) {
    postAt = now();
    setTimeout(() => {
      const dir = process.env.SERVER_TIMING_DIR ?? os.tmpdir();
      const file = path.join(dir, `server-timing-${process.pid}.json`);
      fs.writeFileSync(file, JSON.stringify({ postAt, firstEndAt, lastEndAt, ends }));
    }, 2000).unref();
  }
  return emit.call(this, event, req, ...rest);
};

const end = http.ServerResponse.prototype.end;
http.ServerResponse.prototype.end = function timedEnd(...args) {
  const result = end.apply(this, args);
  if (postAt !== 0) {
    lastEndAt = now();
    if (ends++ === 0) firstEndAt = lastEndAt;
  }
  return result;
};
