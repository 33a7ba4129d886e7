// fastify answering the POST of bench/schema.mjs with the same TypeBox schemas (its Ajv
// validator and fast-json-stringify serializer), logger off. FASTIFY_STRIP=1 sets its Ajv's
// `removeAdditional: 'all'`: unknown body properties stripped, as the framework does by default
// (fastify's default, `removeAdditional: true`, strips only where a schema says
// `additionalProperties: false`, which TypeBox's objects do not).
import Fastify from 'fastify';
import { Answer, answerOf, Body } from './schema-body.mjs';

const app = Fastify({
  logger: false,
  keepAliveTimeout: 65_000,
  ...(process.env.FASTIFY_STRIP === '1' && { ajv: { customOptions: { removeAdditional: 'all' } } }),
});
app.post('/people', { schema: { body: Body, response: { 200: Answer } } }, async (req) =>
  answerOf(req.body),
);
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.stderr.write('ready\n');
