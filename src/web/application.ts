import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { hasRequestBody } from './body.js';
import {
  type CompressionOptions,
  type ResolvedCompression,
  resolveCompression,
} from './compression.js';
import { type CookieOptions, serializeCookie } from './cookies.js';
import { HttpError } from './errors.js';
import { makeStaticUrl } from './file-versions.js';
import { type HandlerClass, RequestHandler, type RouteTarget } from './handler.js';
import { type Logger, stderrLogger } from './log.js';
import { type MultipartLimits, resolveMultipartLimits } from './multipart.js';
import { type RouteMatch, Router } from './routing.js';
import { type CookieSecret, type SigningKeys, signingKeys } from './signed-cookies.js';
import {
  acceptsUpgrade,
  isWebSocketUpgrade,
  UpgradeRefusedHandler,
  upgradeResponse,
  type WebSocketHandler,
} from './websocket.js';
import { XSRF_COOKIE } from './xsrf.js';

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
   * The response is complete (handed wholly to the kernel: right after `finish()` for most
   * responses, else when the response closes), or the connection closed or was reset before it
   * was (`handler.isAborted`). `handler.status`, `handler.route`, `handler.error` and
   * `handler.startTime` tell the rest.
   */
  requestFinished?(handler: RequestHandler<unknown>): void;
  /**
   * A WebSocket handshake succeeded (its request has just finished with status 101), before `open`.
   */
  websocketOpened?(handler: WebSocketHandler<unknown>): void;
  /** A WebSocket connection closed (`handler.closeCode`), after the handler's `onClose`. */
  websocketClosed?(handler: WebSocketHandler<unknown>): void;
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
  /**
   * The secret that signs cookies (`setSignedCookie`): a long random string, or secrets by key
   * version (`{ 1: old, 2: new }`) to rotate keys. Default: none (signed cookies throw).
   */
  cookieSecret?: CookieSecret;
  /** With secrets by version: the version new signatures use. */
  cookieKeyVersion?: number;
  /** Check an XSRF token on every request but GET, HEAD and OPTIONS. Default `false`. */
  xsrfCookies?: boolean;
  /** Attributes of the `_xsrf` cookie (`secure`, `sameSite`, …); `path` is `/` unless given. */
  xsrfCookieOptions?: CookieOptions;
  /** Where `@authenticated` GET and HEAD requests without a user go (with `?next=`). */
  loginUrl?: string;
  /** Limits on `multipart/form-data` bodies (parts, fields, files, sizes). */
  multipart?: MultipartLimits;
  /**
   * Compress responses with gzip or brotli, as the client's `Accept-Encoding` allows: `true`, or
   * options (`threshold`, default 1024 bytes; gzip `level`; `brotliQuality`). Default `false`.
   */
  compress?: boolean | CompressionOptions;
  /**
   * Give GET and HEAD 200 responses sent in one piece a weak `ETag` computed from the body, and
   * answer 304 when `If-None-Match` matches. Default `false`.
   */
  etag?: boolean;
  /** The directory whose files {@link Application.staticUrl} builds versioned URLs for. */
  staticPath?: string;
  /** The URL prefix {@link Application.staticUrl} puts before a file's path. Default `/static/`. */
  staticUrlPrefix?: string;
}

/** Settings with every default filled in. */
export interface ResolvedSettings {
  readonly debug: boolean;
  readonly maxBodyBytes: number;
  readonly maxParams: number;
  readonly trustProxy: boolean;
  readonly requestId: ((request: IncomingMessage) => string) | undefined;
  readonly cookieKeys: SigningKeys | undefined;
  readonly xsrfCookies: boolean;
  readonly xsrfCookieOptions: Readonly<CookieOptions>;
  readonly loginUrl: string | undefined;
  readonly multipart: Readonly<Required<MultipartLimits>>;
  /** Compression options, or `null` when compression is off. */
  readonly compress: ResolvedCompression | null;
  readonly etag: boolean;
  readonly staticPath: string | undefined;
  readonly staticUrlPrefix: string;
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
  /** @internal */
  websocketOpenObservers: ((handler: WebSocketHandler<unknown>) => void)[] | null = null;
  /** @internal */
  websocketCloseObservers: ((handler: WebSocketHandler<unknown>) => void)[] | null = null;
  /** @internal Whether `finish` and `flush` must run the ETag or compression step (one check). */
  readonly transformsOutput: boolean;
  private readonly staticUrls = new Map<string, string>();
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
      cookieKeys:
        settings.cookieSecret === undefined
          ? undefined
          : signingKeys(settings.cookieSecret, settings.cookieKeyVersion),
      xsrfCookies: settings.xsrfCookies ?? false,
      xsrfCookieOptions: Object.freeze({ ...settings.xsrfCookieOptions }),
      loginUrl: settings.loginUrl,
      multipart: resolveMultipartLimits(settings.multipart),
      compress: resolveCompression(settings.compress),
      etag: settings.etag ?? false,
      staticPath: settings.staticPath,
      staticUrlPrefix: settings.staticUrlPrefix ?? '/static/',
    });
    this.transformsOutput = this.settings.etag || this.settings.compress !== null;
    serializeCookie(XSRF_COOKIE, '', this.settings.xsrfCookieOptions); // bad options fail here
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
      if (root === undefined) throw new Error('staticUrl() needs the staticPath setting');
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
    const takesUpgrade = match !== null && acceptsUpgrade(target.handler);
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
    handler.execute(target.options, match === null ? NO_ARGS : match.args);
  }

  /**
   * @internal Calls each observer with `subject`; one that throws is logged and does not stop the
   * others or the request.
   */
  notify<S>(observers: readonly ((subject: S) => void)[], subject: S, what: string): void {
    for (let i = 0; i < observers.length; i++) {
      try {
        (observers[i] as (subject: S) => void)(subject);
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
  trackAbortable(handler: RequestHandler<unknown>): void {
    this.abortable.add(handler);
  }

  /** @internal */
  untrackAbortable(handler: RequestHandler<unknown>): void {
    this.abortable.delete(handler);
  }
}
