/**
 * Applications under test on real sockets: {@link serveRoutes} builds an `Application` with a
 * capturing logger, serves it with the public `serve()` (`src/web/testing.ts`) on a free loopback
 * port, and closes it when the test that called it finishes, passed or failed.
 */
import type { RequestListener } from 'node:http';
import { onTestFinished } from 'vitest';
import {
  Application,
  type ApplicationSettings,
  type RouteEntry,
  type ServerOptions,
  serve,
  type TestServer,
} from '../../src/web/index.js';
import { type CapturingLogger, captureLogger, type LogEntry } from './loggers.js';

/** An application served for one test. */
export interface Served {
  /** The running server (`port`, `origin`, `fetch`). */
  readonly srv: TestServer;
  /** The application it serves. */
  readonly app: Application;
  /** The application's logger, which records every call. */
  readonly logger: CapturingLogger;
  /** What the logger recorded so far ({@link CapturingLogger.entries}). */
  readonly logs: LogEntry[];
  /** `ws://127.0.0.1:PORT` + `path`. */
  url(path: string): string;
}

/** Options of {@link serveRoutes} beyond the application's settings. */
export interface ServeOptions {
  /** Options of the `HttpServer`. */
  readonly server?: ServerOptions;
  /** How long requests still in flight at the end of the test get before being cut (1 s). */
  readonly closeTimeoutMs?: number;
}

/**
 * Serves `app` (an `Application` or a plain request listener) on a free loopback port until the
 * end of the calling test. Must be called inside a test.
 */
export async function serveForTest(
  app: Application | RequestListener,
  options: ServeOptions = {},
): Promise<TestServer> {
  const srv = await serve(app, options.server);
  onTestFinished(() => srv.close(options.closeTimeoutMs ?? 1_000));
  return srv;
}

/**
 * Serves `routes` (with `settings`; the logger is a {@link captureLogger} unless `settings` gives
 * one) until the end of the calling test. Must be called inside a test.
 */
export async function serveRoutes(
  routes: readonly RouteEntry[],
  settings: ApplicationSettings = {},
  options: ServeOptions = {},
): Promise<Served> {
  const logger = captureLogger();
  const app = new Application(routes, { logger, ...settings });
  const srv = await serveForTest(app, options);
  return {
    srv,
    app,
    logger,
    logs: logger.entries,
    url: (path) => `ws://127.0.0.1:${srv.port}${path}`,
  };
}

/** {@link serveRoutes} for a test that needs only the server. */
export async function serveApp(
  routes: readonly RouteEntry[],
  settings: ApplicationSettings = {},
): Promise<TestServer> {
  return (await serveRoutes(routes, settings)).srv;
}
