import './async-context.js';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { hasRequestBody } from './body.js';
import { HttpError, withCode } from './errors.js';
import { makeStaticUrl } from './file-versions.js';
import { type HandlerClass, RequestHandler, type RouteTarget } from './handler.js';
import type { Abortable, HandlerHost, ObserverCallback } from './handler-host.js';
import { execute } from './handler-run.js';
import { type Logger, stderrLogger } from './log.js';
import type { RequestObserver } from './observers.js';
import { type CompiledRoute, type RouteMatch, Router } from './routing.js';
import { compiledSchemasOf } from './schema/compile.js';
import { type HandlerSettings, type ResolvedSettings, resolveSettings } from './settings.js';
import { WebSocketHandler } from './websocket/handler.js';
import { isWebSocketUpgrade, UpgradeRefusedHandler, upgradeResponse } from './websocket/upgrade.js';

const NO_ARGS: readonly string[] = [];

/** One entry of a route table, as built by {@link url} (or written as a tuple). */
export interface RouteSpec {
  readonly pattern: string | RegExp;
  readonly handler: HandlerClass<unknown>;
  readonly options: unknown;
  readonly name: string | undefined;
}

/** A route table entry: `url(...)`, or a `[pattern, Handler]` / `[pattern, Handler, options]` tuple. */
export type RouteEntry =
  | RouteSpec
  | readonly [string | RegExp, HandlerClass<undefined>]
  // biome-ignore lint/suspicious/noExplicitAny: a tuple cannot tie the options to the handler's type
  | readonly [string | RegExp, HandlerClass<any>, unknown];

/**
 * A route table entry (Tornado's `url`). `options` reaches the handler's `initialize`; `name`
 * makes the route reversible with {@link Application.reverseUrl}.
 *
 * @example
 * url('/users/{id}', UserHandler, { db }, 'user')
 */
export function url<O>(
  pattern: string | RegExp,
  handler: HandlerClass<O>,
  ...rest: undefined extends O ? [options?: O, name?: string] : [options: O, name?: string]
): RouteSpec {
  const [options, name] = rest;
  return { pattern, handler: handler as HandlerClass<unknown>, options, name };
}

/** Application settings; every one is optional. */
export interface ApplicationSettings extends HandlerSettings {
  /** Handler for paths no route matches. Default: 404 problem details for every method. */
  defaultHandler?: HandlerClass<unknown>;
  /** Options given to the default handler's `initialize`. */
  defaultHandlerOptions?: unknown;
  /** Where handlers log. Default: warnings and errors as JSON on stderr. */
  logger?: Logger;
}

/**
 * Answers 404 (as problem details) whatever the method, PROPFIND and the like included: it refuses
 * in `initialize`, before the method check (which would answer 405) and without reading a body.
 */
export class NotFoundHandler extends RequestHandler<unknown> {
  override initialize(_options: unknown): void {
    throw new HttpError(404, `no route for ${this.path}`);
  }
}

/**
 * A route table plus settings: the `(request, response)` listener that node:http calls.
 *
 * @example
 * const app = new Application([['/', MainHandler]]);
 * const server = new HttpServer(app);
 * await server.listen(8080);
 */
export class Application implements HandlerHost {
  readonly settings: ResolvedSettings;
  readonly logger: Logger;
  /** @internal */
  observed = false;
  /** @internal */
  startObservers: ((handler: RequestHandler<unknown>) => void)[] | null = null;
  /** @internal */
  finishObservers: ((handler: RequestHandler<unknown>) => void)[] | null = null;
  /** @internal */
  websocketOpenObservers: ((handler: WebSocketHandler<unknown>) => void)[] | null = null;
  /** @internal */
  websocketCloseObservers: ((handler: WebSocketHandler<unknown>) => void)[] | null = null;
  /** @internal Whether `finish` and `flush` must run the ETag or compression step (one check). */
  readonly transformsOutput: boolean;
  private readonly staticUrls = new Map<string, string>();
  private readonly router = new Router<RouteTarget>();
  private readonly defaultTarget: RouteTarget;
  private readonly abortable = new Set<Abortable>();
  private isDraining = false;

  constructor(routes: readonly RouteEntry[] = [], settings: ApplicationSettings = {}) {
    this.settings = resolveSettings(settings);
    this.transformsOutput = this.settings.etag || this.settings.compress !== null;
    this.logger = settings.logger ?? stderrLogger;
    this.defaultTarget = {
      handler: settings.defaultHandler ?? NotFoundHandler,
      options: settings.defaultHandlerOptions,
    };
    for (const entry of routes) this.addRoute(entry);
  }

  /** Appends a route (routes added later lose to earlier ones that also match). */
  addRoute(entry: RouteEntry): this {
    const spec: RouteSpec = Array.isArray(entry)
      ? { pattern: entry[0], handler: entry[1], options: entry[2], name: undefined }
      : (entry as RouteSpec);
    if (typeof spec.handler !== 'function' || !(spec.handler.prototype instanceof RequestHandler)) {
      throw new TypeError(`route ${String(spec.pattern)}: the handler must extend RequestHandler`);
    }
    compiledSchemasOf(spec.handler); // schemas compile now: mistakes surface before serving
    this.router.add(spec.pattern, { handler: spec.handler, options: spec.options }, spec.name);
    return this;
  }

  /** Every route, in table order (what the API document is built from). */
  get routes(): readonly CompiledRoute<RouteTarget>[] {
    return this.router.all;
  }

  /** Registers an observer of every request. Costs nothing while there is none. */
  addObserver(observer: RequestObserver): this {
    if (observer.requestStarted) {
      this.startObservers ??= [];
      this.startObservers.push(observer.requestStarted.bind(observer));
    }
    if (observer.requestFinished) {
      this.finishObservers ??= [];
      this.finishObservers.push(observer.requestFinished.bind(observer));
    }
    if (observer.websocketOpened) {
      this.websocketOpenObservers ??= [];
      this.websocketOpenObservers.push(observer.websocketOpened.bind(observer));
    }
    if (observer.websocketClosed) {
      this.websocketCloseObservers ??= [];
      this.websocketCloseObservers.push(observer.websocketClosed.bind(observer));
    }
    this.observed = this.finishObservers !== null;
    return this;
  }

  /** The path of the named route with `args` filled in, percent-encoded. */
  reverseUrl(name: string, ...args: (string | number)[]): string {
    return this.router.reverse(name, ...args);
  }

  /**
   * The URL of a file under the `staticPath` setting: `staticUrlPrefix` + the path + `?v=` + a
   * short hash of the file's content, so that it can be cached forever (`StaticFileHandler`
   * serves such URLs as immutable). The version of each path is worked out once (re-checked on
   * every call in `debug` mode); a file that cannot be read gets no `?v=`.
   *
   * @example
   * app.staticUrl('app.js') // '/static/app.js?v=Xb3kZ0aQ9f1c'
   */
  staticUrl(path: string): string {
    let result = this.staticUrls.get(path);
    if (result === undefined) {
      const root = this.settings.staticPath;
      if (root === undefined) {
        throw withCode(new Error('staticUrl() needs the staticPath setting'), 'ERR_NO_STATIC_PATH');
      }
      result = makeStaticUrl(root, this.settings.staticUrlPrefix, path);
      if (!this.settings.debug) this.staticUrls.set(path, result);
    }
    return result;
  }

  /** The node:http request listener. */
  readonly listener: RequestListener = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const match = path.charCodeAt(0) === 47 ? this.router.match(path) : null;
    this.start(req, res, path, match === null ? this.defaultTarget : match.route.target, match);
  };

  /**
   * The node:http `upgrade` listener ({@link HttpServer} installs it). The request is routed like
   * any other and answered on the raw socket, which is closed after the answer: a route whose
   * handler extends `WebSocketHandler` takes the connection over; an unmatched path gets the
   * default handler (404); a WebSocket upgrade to another route, or any upgrade with a body, a 400;
   * an upgrade to another protocol (h2c, say) is served as an ordinary request, without upgrading.
   */
  readonly upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const res = upgradeResponse(req, socket, head);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const match = path.charCodeAt(0) === 47 ? this.router.match(path) : null;
    let target = match === null ? this.defaultTarget : match.route.target;
    const takesUpgrade = match !== null && target.handler.prototype instanceof WebSocketHandler;
    if (hasRequestBody(req) || (match !== null && !takesUpgrade && isWebSocketUpgrade(req))) {
      target = { handler: UpgradeRefusedHandler, options: undefined };
    }
    this.start(req, res, path, target, match);
  };

  private start(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    target: RouteTarget,
    match: RouteMatch<RouteTarget> | null,
  ): void {
    // A pipelined request waits for the answers before it to be written (node:http then hands
    // its response the socket): building them all at once let a client that sends many requests
    // and reads none hold every answer in memory (README, "Slow readers").
    if (res.socket === null) {
      this.startOnSocket(req, res, path, target, match);
      return;
    }
    let handler: RequestHandler<unknown>;
    try {
      handler = new target.handler(this, req, res, match?.route ?? null);
    } catch (error) {
      this.logger.error(
        { err: error, method: req.method, url: path },
        'handler constructor failed',
      );
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'application/problem+json');
        res.end('{"type":"about:blank","title":"Internal Server Error","status":500}');
      }
      return;
    }
    const observers = this.startObservers;
    if (observers !== null) this.notify(observers, handler, 'request observer failed');
    execute(handler, target.options, match === null ? NO_ARGS : match.args);
  }

  // Its own function: a closure in start() would make every request allocate a context for its
  // five arguments, pipelined or not.
  private startOnSocket(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    target: RouteTarget,
    match: RouteMatch<RouteTarget> | null,
  ): void {
    res.once('socket', () => this.start(req, res, path, target, match));
  }

  /**
   * @internal Calls each observer with `subject`; one that throws is logged and does not stop the
   * others or the request.
   */
  notify(observers: readonly ObserverCallback[], subject: unknown, what: string): void {
    for (let i = 0; i < observers.length; i++) {
      try {
        (observers[i] as (subject: unknown) => void)(subject);
      } catch (error) {
        this.logger.error({ err: error }, what);
      }
    }
  }

  /** Whether {@link beginDraining} has been called. */
  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * Starts a graceful shutdown of the application: the signal of every request in flight (and of
   * any request that still arrives) fires with reason `shutdown`, so long polls and streams end.
   */
  beginDraining(): void {
    if (this.isDraining) return;
    this.isDraining = true;
    for (const handler of this.abortable) handler.abortForShutdown();
    this.abortable.clear();
  }

  /** @internal */
  trackAbortable(handler: Abortable): void {
    this.abortable.add(handler);
  }

  /** @internal */
  untrackAbortable(handler: Abortable): void {
    this.abortable.delete(handler);
  }
}
