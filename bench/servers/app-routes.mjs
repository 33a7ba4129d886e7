// The bench's route table for this framework: the scenarios' three handlers among ~100 routes.
import { RequestHandler, url } from '../../dist/index.js';
import { ROUTES } from '../routes.mjs';

export class HelloHandler extends RequestHandler {
  get() {
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.finish('Hello, world\n');
  }
}

export class ItemHandler extends RequestHandler {
  get(id) {
    this.finish({ id, name: 'item' });
  }
}

export class EchoHandler extends RequestHandler {
  async post() {
    this.finish(await this.json());
  }
}

class OtherHandler extends RequestHandler {
  get() {
    this.finish('other');
  }
}

export function benchRoutes() {
  const table = [url('/echo', EchoHandler)];
  for (const [, pattern] of ROUTES) {
    if (pattern === '/') table.push(url('/', HelloHandler));
    else if (pattern === '/api/items/{id}') table.push(url(pattern, ItemHandler));
    else table.push(url(pattern, OtherHandler));
  }
  return table;
}
