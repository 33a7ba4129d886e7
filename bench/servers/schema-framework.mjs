// This framework answering the POST of bench/schema.mjs: SCHEMA=1 declares the body and the
// answer (Ajv + fast-json-stringify, compiled at start), SCHEMA=0 the same route by hand
// (`json()`, no checks, `JSON.stringify`).
import {
  ApiHandler,
  Application,
  HttpServer,
  RequestHandler,
  route,
  url,
} from '../../dist/index.js';
import { Answer, answerOf, Body } from './schema-body.mjs';

const Post = route({ body: Body, responses: { 200: Answer } });

class WithSchema extends ApiHandler {
  static schema = { post: Post };
  post() {
    this.reply(Post, 200, answerOf(this.input(Post).body));
  }
}

class WithoutSchema extends RequestHandler {
  async post() {
    this.finish(answerOf(await this.json()));
  }
}

const handler = process.env.SCHEMA === '0' ? WithoutSchema : WithSchema;
const server = new HttpServer(new Application([url('/people', handler)]));
await server.listen(Number(process.env.PORT), '127.0.0.1');
process.stdout.write('ready\n');
