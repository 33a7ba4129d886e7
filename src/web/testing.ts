import type { RequestListener } from 'node:http';
import type { Application } from './application.js';
import { HttpServer, type ServerOptions } from './server.js';

/** A server started by {@link serve} for a test, with a `fetch` bound to it. */
export interface TestServer {
  /** The running server. */
  readonly server: HttpServer;
  /** The bound port on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** `fetch` with a path relative to {@link origin}. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Closes the server; in-flight requests get `timeoutMs` (default 1 000) before being cut. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Starts an application on a free loopback port for a test (Tornado's `AsyncHTTPTestCase`).
 *
 * @example
 * const srv = await serve(new Application([['/', MainHandler]]));
 * const res = await srv.fetch('/');
 * await srv.close();
 */
export async function serve(
  app: Application | RequestListener,
  options: ServerOptions = {},
): Promise<TestServer> {
  const server = new HttpServer(app, options);
  const { port } = await server.listen(0, '127.0.0.1');
  const origin = `http://127.0.0.1:${port}`;
  return {
    server,
    port,
    origin,
    fetch: (path, init) => fetch(origin + path, init),
    close: async (timeoutMs = 1_000) => {
      await server.close(timeoutMs);
    },
  };
}
