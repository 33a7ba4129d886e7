// A bare node:http long-poll server for comparison: holds every GET in an array; a POST answers
// them all, serialising per response (the naive way).
import { createServer } from 'node:http';

let waiting = [];
let nextId = 1;
const server = createServer((req, res) => {
  if (req.method === 'POST') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const message = {
        id: nextId++,
        text: JSON.parse(Buffer.concat(chunks)).text,
        at: new Date().toISOString(),
      };
      const held = waiting;
      waiting = [];
      for (const r of held) {
        r.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        r.end(JSON.stringify({ messages: [message] }));
      }
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(message));
    });
    return;
  }
  waiting.push(res);
  res.on('close', () => {
    const i = waiting.indexOf(res);
    if (i >= 0) waiting.splice(i, 1);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
