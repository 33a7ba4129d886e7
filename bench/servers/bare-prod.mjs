// Bare node:http with the production features written by hand, as lean as one would: a validated
// or generated request id echoed back, one pino access line per request, and a histogram
// observation with method/route/status labels. What the full service must at least match.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import pino from 'pino';
import client from 'prom-client';

const logger = pino({ base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
const registry = new client.Registry();
const histogram = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'duration',
  labelNames: ['method', 'route', 'status_code'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
const prefix = randomBytes(6).toString('base64url');
let counter = 0;
const VALID = /^[A-Za-z0-9._-]{1,128}$/;

function done(req, res, start, route, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'x-request-id': req.id });
  res.end(body);
  const ms = performance.now() - start;
  logger.info(
    {
      reqId: req.id,
      method: req.method,
      url: req.url,
      route,
      statusCode: status,
      responseTime: ms,
    },
    'request completed',
  );
  histogram.observe({ method: req.method, route, status_code: String(status) }, ms / 1000);
}

const server = createServer((req, res) => {
  const start = performance.now();
  const incoming = req.headers['x-request-id'];
  req.id =
    typeof incoming === 'string' && VALID.test(incoming)
      ? incoming
      : `${prefix}-${(++counter).toString(36)}`;
  if (req.method === 'POST') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      done(req, res, start, '/echo', 200, 'application/json; charset=utf-8', JSON.stringify(body));
    });
    return;
  }
  if (req.url.startsWith('/api/items/')) {
    const body = JSON.stringify({ id: req.url.slice(11), name: 'item' });
    done(req, res, start, '/api/items/{id}', 200, 'application/json; charset=utf-8', body);
    return;
  }
  done(req, res, start, '/', 200, 'text/plain; charset=utf-8', 'Hello, world\n');
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stderr.write('ready\n'));
