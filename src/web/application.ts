import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { HttpError } from './errors.js';
import { type HandlerClass, RequestHandler, type RouteTarget } from './handler.js';
import { type Logger, stderrLogger } from './log.js';
import { Router } from './routing.js';

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

/** Code outside the web layer (logs, metrics) watching requests; each callback is optional. */
export interface RequestObserver {
  /** A handler was created for a request (its route and request id are known), before `prepare`. */
  requestStarted?(handler: RequestHandler<unknown>): void;
  /**
   * The response is complete, or the connection closed before it was (`handler.isAborted`).
   * `handler.status`, `handler.route`, `handler.error` and `handler.startTime` tell the rest.
   */
  requestFinished?(handler: RequestHandler<unknown>): void;
}

/** Application settings; every one is optional. */
export interface ApplicationSettings {
  /** Show error messages and stacks in error responses. Never in production. Default `false`. */
  debug?: boolean;
  /** Largest request body a handler gets, in bytes; more is a 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Most `name=value` pairs parsed from a query string or form; more is a 400. Default 1000. */
  maxParams?: number;
  /**
   * Trust `X-Forwarded-For`, `X-Real-IP` and `X-Forwarded-Proto` (Tornado's `xheaders`). Only
   * behind a proxy that sets them. Default `false`.
   */
  trustProxy?: boolean;
  /** Handler for paths no route matches. Default: 404 problem details for every method. */
  defaultHandler?: HandlerClass<unknown>;
  /** Options given to the default handler's `initialize`. */
  defaultHandlerOptions?: unknown;
  /** Where handlers log. Default: warnings and errors as JSON on stderr. */
  logger?: Logger;
  /**
   * Makes the request id of each request, sent as `X-Request-Id` and given to `handler.log`.
   * Default: none.
   */
  requestId?: (request: IncomingMessage) => string;
}

/** Settings with every default filled in. */
export interface ResolvedSettings {
  readonly debug: boolean;
  readonly maxBodyBytes: number;
  readonly maxParams: number;
  readonly trustProxy: boolean;
  readonly requestId: ((request: IncomingMessage) => string) | undefined;
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
export class Application {
  readonly settings: ResolvedSettings;
  readonly logger: Logger;
  /** @internal */
  observed = false;
  /** @internal */
  startObservers: ((handler: RequestHandler<unknown>) => void)[] | null = null;
  /** @internal */
  finishObservers: ((handler: RequestHandler<unknown>) => void)[] | null = null;
  private readonly router = new Router<RouteTarget>();
  private readonly defaultTarget: RouteTarget;
  private readonly abortable = new Set<RequestHandler<unknown>>();
  private isDraining = false;

  constructor(routes: readonly RouteEntry[] = [], settings: ApplicationSettings = {}) {
    const maxBodyBytes = settings.maxBodyBytes ?? 1024 * 1024;
    if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
      throw new RangeError(`maxBodyBytes must be a non-negative integer, got ${maxBodyBytes}`);
    }
    this.settings = Object.freeze({
      debug: settings.debug ?? false,
      maxBodyBytes,
      maxParams: settings.maxParams ?? 1000,
      trustProxy: settings.trustProxy ?? false,
      requestId: settings.requestId,
    });
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
    this.router.add(spec.pattern, { handler: spec.handler, options: spec.options }, spec.name);
    return this;
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
    this.observed = this.finishObservers !== null;
    return this;
  }

  /** The path of the named route with `args` filled in, percent-encoded. */
  reverseUrl(name: string, ...args: (string | number)[]): string {
    return this.router.reverse(name, ...args);
  }

  /** The node:http request listener. */
  readonly listener: RequestListener = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const match = path.charCodeAt(0) === 47 ? this.router.match(path) : null;
    const target = match === null ? this.defaultTarget : match.route.target;
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
    if (observers !== null) {
      for (let i = 0; i < observers.length; i++) {
        try {
          (observers[i] as (h: RequestHandler<unknown>) => void)(handler);
        } catch (error) {
          this.logger.error({ err: error }, 'request observer failed');
        }
      }
    }
    handler.execute(target.options, match === null ? NO_ARGS : match.args);
  };

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
  trackAbortable(handler: RequestHandler<unknown>): void {
    this.abortable.add(handler);
  }

  /** @internal */
  untrackAbortable(handler: RequestHandler<unknown>): void {
    this.abortable.delete(handler);
  }
}
