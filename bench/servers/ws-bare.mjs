// A bare `ws` chat server for comparison with the service's /chat/socket: every WebSocket gets
// each message posted with POST /chat/messages, serialised once and sent to every client (the
// broadcast of the `ws` README). No heartbeat, no logs, no origin check.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

let nextId = 1;
const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(404);
    res.end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const message = {
      id: nextId++,
      text: JSON.parse(Buffer.concat(chunks)).text,
      at: new Date().toISOString(),
    };
    const json = JSON.stringify(message);
    for (const client of wss.clients) client.send(json);
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(json);
  });
});
const wss = new WebSocketServer({ server, path: '/chat/socket', perMessageDeflate: false });
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
