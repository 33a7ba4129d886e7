// fastify with the same routes; FASTIFY_LOGGER=1 turns its pino logger on (its default: two lines
// per request), the like-for-like peer of the full service.
import Fastify from 'fastify';
import { ROUTES } from '../routes.mjs';

const logger = process.env.FASTIFY_LOGGER === '1';
const app = Fastify({ logger, keepAliveTimeout: 65_000 });
app.post('/echo', async (req) => req.body);
for (const [, , path] of ROUTES) {
  if (path === '/')
    app.get('/', async (_req, reply) =>
      reply.type('text/plain; charset=utf-8').send('Hello, world\n'),
    );
  else if (path === '/api/items/:id')
    app.get(path, async (req) => ({ id: req.params.id, name: 'item' }));
  else app.get(path, async () => 'other');
}
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.stderr.write('ready\n');
