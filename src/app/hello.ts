import { RequestHandler } from '../web/index.js';

/** `GET /`: a short greeting. */
export class MainHandler extends RequestHandler {
  override get(): void {
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.finish('Hello, world\n');
  }
}
