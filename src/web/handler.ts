import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Application } from './application.js';
import { type Arguments, cleanArgument, decodePathArgument, parseUrlEncoded } from './arguments.js';
import {
  currentUserOf,
  isAuthenticated,
  requireUser,
  resolveCurrentUser,
  setCurrentUser,
} from './auth.js';
import {
  charsetOf,
  decodeUtf8,
  hasRequestBody,
  mustCloseForUnreadBody,
  parseJsonBody,
  readBody,
} from './body.js';
import { CompressedStream, compressBody } from './compression.js';
import {
  type ClearCookieOptions,
  type CookieOptions,
  type Cookies,
  isCookieName,
  parseCookieHeader,
  serializeCookie,
  serializeExpiredCookie,
} from './cookies.js';
import { Finish, HttpError, PROBLEM_CONTENT_TYPE, problemFor, RequestAborted } from './errors.js';
import { applyAutoEtag } from './etag.js';
import { EventStream, type EventStreamOptions } from './event-stream.js';
import type { Logger } from './log.js';
import { type Files, isMultipart, parseMultipart } from './multipart.js';
import type { CompiledRoute } from './routing.js';
import {
  type GetSignedCookieOptions,
  readSignedCookie,
  type SignedCookieOptions,
  writeSignedCookie,
} from './signed-cookies.js';
import { streamBody } from './streaming-body.js';
import { isThenable } from './thenable.js';
import { checkXsrf, issueXsrfToken, needsXsrfCheck, xsrfFormHtml } from './xsrf.js';

/** What a route points at: the handler class and the options given to its `initialize`. */
export interface RouteTarget {
  readonly handler: HandlerClass<unknown>;
  readonly options: unknown;
}

/** A handler class: what a route table lists. */
export type HandlerClass<O = undefined> = new (
  application: Application,
  request: IncomingMessage,
  response: ServerResponse,
  route: CompiledRoute<RouteTarget> | null,
) => RequestHandler<O>;

/** A value `write` accepts: text, bytes, or anything else, which is sent as JSON. */
export type Chunk = string | Uint8Array | object | number | boolean | null;

type Verb = 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete' | 'options';
type VerbFunction = (this: RequestHandler<unknown>, ...args: string[]) => unknown;

/** The HTTP methods a handler can implement, each by the method of the same name in lower case. */
export const HANDLER_METHODS: readonly string[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
];

/** Per-class facts, worked out once per handler class. */
interface HandlerInfo {
  /** Method → name of the verb function that answers it (HEAD falls back to `get`). */
  readonly verbs: ReadonlyMap<string, Verb>;
  /** The `Allow` header value. */
  readonly allow: string;
  /** Whether the class overrides `onConnectionClose`, which needs a `close` listener. */
  readonly watchesClose: boolean;
  /** Whether the class overrides `onShutdown`, which needs the request tracked while it runs. */
  readonly watchesShutdown: boolean;
  /** Whether the class sets `static streamRequestBody = true`. */
  readonly streamsBody: boolean;
  /** False when the class sets `static readsBody = false` (the body is left to someone else). */
  readonly readsBody: boolean;
}

const handlerInfo = new WeakMap<object, HandlerInfo>();
const kHandler = Symbol('handler');
const SHUTDOWN_VERB_RAN = 1;
const SHUTDOWN_DRAINING = 2;
const SHUTDOWN_DELIVERED = 4;
const EMPTY_ARGS: readonly string[] = Object.freeze([]);
const HEADER_INJECTION = /[\r\n\0]/;

type BodyState = 'none' | 'unread' | 'streaming' | 'read';

function onResponseClose(this: ServerResponse): void {
  (this as ServerResponse & { [kHandler]: RequestHandler<unknown> })[kHandler].connectionClosed();
}

/**
 * Base class for request handlers, after Tornado's `RequestHandler`: subclass it and define one
 * method per HTTP verb you answer (`get`, `post`, `put`, `patch`, `delete`, `head`, `options`),
 * each receiving the route's captured path arguments, decoded, as strings.
 *
 * A new instance handles each request, in this order:
 *
 * 1. `constructor` (do not override; field initialisers of subclasses run here) →
 *    {@link setDefaultHeaders} → {@link initialize} with the route's options.
 * 2. Method check: a verb the class does not define gets 405 with `Allow` (HEAD falls back to
 *    `get` with the body left out; OPTIONS is answered with `Allow` unless `options` is defined).
 * 3. For a verb wrapped with `authenticated`, the current user is resolved (none: refused). The
 *    request body is read (bounded by `maxBodyBytes`; a multipart form is parsed), unless the class
 *    streams it (`static streamRequestBody = true`: to {@link dataReceived}, after `prepare`).
 *    With the `xsrfCookies` setting, {@link checkXsrfCookie} runs (not for GET, HEAD, OPTIONS).
 * 4. {@link prepare}: may be async, may finish the request, may throw.
 * 5. The verb method: may be async. When it returns (or its promise resolves) without having
 *    called {@link finish}, the response is finished for it.
 * 6. {@link onFinish} once the response has been handed to the connection; or
 *    {@link onConnectionClose} if the client went away first; {@link onShutdown} if the server
 *    starts draining while the verb method has the request unfinished.
 *
 * Anything thrown (or rejected) along the way becomes an error response through
 * {@link sendError}: an {@link HttpError} with its status, anything else a logged 500.
 */
export class RequestHandler<O = undefined, U = unknown> {
  /** The application this request belongs to. */
  readonly application: Application;
  /** The raw request. Its body has already been read when the verb method runs. */
  readonly request: IncomingMessage;
  /** The raw response. Prefer the handler's output methods, which keep the bookkeeping right. */
  readonly response: ServerResponse;
  /** The matched route, or `null` for the application's default (not found) handler. */
  readonly route: CompiledRoute<RouteTarget> | null;
  /** The request method. */
  readonly method: string;
  /** The request path as sent (percent-encoded, no query string). */
  readonly path: string;
  /** The raw query string, without the `?`. */
  readonly queryString: string;
  /** Decoded path arguments, in order; set before `prepare` runs. */
  pathArgs: readonly string[];
  /** The request id (see the application's `requestId` setting), or `''`. */
  readonly requestId: string;
  /** `performance.now()` when the handler was created. */
  readonly startTime: number;
  /** The error that ended the request, if one did (for observers and `onFinish`). */
  error: unknown;
  /** Body bytes handed to the connection so far (none for HEAD and 204/304 responses). */
  bytesWritten: number;
  private finished: boolean;
  private aborted: boolean;
  private chunks: (string | Uint8Array)[];
  private bodyState: BodyState;
  private rawBody: Buffer | null;
  private queryArgs: Arguments | null;
  private bodyArgs: Arguments | null;
  private jsonValue: unknown;
  private controller: AbortController | null;
  private childLog: Logger | null;
  private closeWatched: boolean;
  /** 0: nothing; bits: 1 the verb method has run, 2 the server is draining, 4 onShutdown ran. */
  private shutdownState: number;
  private encoder: CompressedStream | null;
  private cookieJar: Cookies | null;
  private uploads: Files | null;
  private bodyLimit: number;
  private xsrfValue: string | null;

  /** Created by the application for each request; override {@link initialize}, not this. */
  constructor(
    application: Application,
    request: IncomingMessage,
    response: ServerResponse,
    route: CompiledRoute<RouteTarget> | null,
  ) {
    this.application = application;
    this.request = request;
    this.response = response;
    this.route = route;
    this.method = request.method ?? 'GET';
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    this.queryString = q < 0 ? '' : url.slice(q + 1);
    this.pathArgs = EMPTY_ARGS;
    const makeId = application.settings.requestId;
    this.requestId = makeId === undefined ? '' : makeId(request);
    this.startTime = performance.now();
    this.error = undefined;
    this.bytesWritten = 0;
    this.finished = false;
    this.aborted = false;
    this.chunks = [];
    this.bodyState = 'none';
    this.rawBody = null;
    this.queryArgs = null;
    this.bodyArgs = null;
    this.jsonValue = undefined;
    this.controller = null;
    this.childLog = null;
    this.closeWatched = false;
    this.shutdownState = 0;
    this.encoder = null;
    this.cookieJar = null;
    this.uploads = null;
    this.bodyLimit = -1;
    this.xsrfValue = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Hooks to override

  /**
   * Receives the route's options. Runs synchronously once the handler is constructed (so field
   * initialisers have already run), before anything is read from the request: store the options
   * on `this`; do no I/O here. Throwing here is a 500.
   */
  initialize(_options: O): void {}

  /**
   * Sets the headers every response of this handler starts with; runs before `initialize` and again
   * whenever the response is cleared (before an error page, say). Call `this.setHeader` here. The
   * defaults (`Content-Type: text/html; charset=utf-8`, `X-Content-Type-Options: nosniff` and the
   * request id) are already set when it runs.
   */
  setDefaultHeaders(): void {}

  /**
   * Runs before the verb method, after the body has been read (before, when the class streams
   * it). May be async. May finish the request (then the verb method is not called), or throw an
   * {@link HttpError} to refuse it.
   */
  prepare(): void | Promise<void> {}

  /**
   * Runs once the response has been handed to the connection (after {@link finish}). Use it for
   * clean-up and bookkeeping; it cannot change the response. Errors thrown here are logged.
   */
  onFinish(): void {}

  /**
   * Runs if the client closes the connection before the response is finished (a long poll whose
   * client left, say). {@link signal} fires at the same moment. Errors thrown here are logged.
   */
  onConnectionClose(): void {}

  /**
   * Runs once if the server starts draining (shutting down) while the verb method has the request
   * unfinished, or, for a request that arrives while it is already draining, as soon as the verb
   * method has returned without finishing: a long poll answers now (a 204, say) so that its
   * client reconnects elsewhere. {@link signal} fires at the same moment. Cheaper than the signal
   * for a request held open (no `AbortController`), and costs nothing when not overridden.
   * Errors thrown here are logged.
   */
  onShutdown(): void {}

  /**
   * Writes the body of an error response; override to render errors your way. The default writes
   * RFC 9457 problem details as `application/problem+json`, with internal detail only in debug
   * mode. Runs after the response was cleared and the status set; must finish the response (it
   * is finished for it otherwise).
   */
  writeError(status: number, error: unknown): void {
    this.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
    this.finish(JSON.stringify(problemFor(status, error, this.application.settings.debug)));
  }

  // Verb methods, defined by subclasses.
  get?(...args: string[]): unknown;
  head?(...args: string[]): unknown;
  post?(...args: string[]): unknown;
  put?(...args: string[]): unknown;
  patch?(...args: string[]): unknown;
  delete?(...args: string[]): unknown;
  options?(...args: string[]): unknown;

  // ---------------------------------------------------------------------------------------------
  // Input

  /** Named path parameters (from `{name}` templates or named groups), decoded. */
  get pathParams(): Record<string, string> {
    const params: Record<string, string> = Object.create(null);
    const names = this.route?.paramNames ?? [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      if (name) params[name] = this.pathArgs[i] ?? '';
    }
    return params;
  }

  /** Query arguments: every value of each name. Bad percent-encoding is a 400. */
  get queryArguments(): Arguments {
    this.queryArgs ??= parseUrlEncoded(this.queryString, this.application.settings.maxParams);
    return this.queryArgs;
  }

  /** Arguments from an `application/x-www-form-urlencoded` body (empty for other bodies). */
  get bodyArguments(): Arguments {
    if (this.bodyArgs === null) {
      const type = this.request.headers['content-type'] ?? '';
      const isForm = type.toLowerCase().startsWith('application/x-www-form-urlencoded');
      if (isForm && this.rawBody !== null && this.rawBody.length > 0) {
        const charset = charsetOf(type);
        if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
          throw new HttpError(415, `unsupported charset ${charset}; forms must be UTF-8`);
        }
        const text = decodeUtf8(this.rawBody);
        this.bodyArgs = parseUrlEncoded(text, this.application.settings.maxParams);
      } else {
        this.bodyArgs = Object.create(null) as Arguments;
      }
    }
    return this.bodyArgs;
  }

  /**
   * The last value of an argument from the query or a form body (Tornado's `get_argument`).
   * Control characters become spaces and, unless `strip` is false, the ends are trimmed.
   * Missing and no default given: a 400.
   */
  getArgument(name: string, defaultValue?: string, strip = true): string {
    return lastOr(name, this.getArguments(name, strip), defaultValue);
  }

  /** Every value of an argument from the query and a form body, query values first. */
  getArguments(name: string, strip = true): string[] {
    return [...this.getQueryArguments(name, strip), ...this.getBodyArguments(name, strip)];
  }

  /** The last value of a query argument; missing and no default given: a 400. */
  getQueryArgument(name: string, defaultValue?: string, strip = true): string {
    return lastOr(name, this.getQueryArguments(name, strip), defaultValue);
  }

  /** Every value of a query argument. */
  getQueryArguments(name: string, strip = true): string[] {
    return (this.queryArguments[name] ?? []).map((v) => cleanArgument(v, strip));
  }

  /** The last value of a form body argument; missing and no default given: a 400. */
  getBodyArgument(name: string, defaultValue?: string, strip = true): string {
    return lastOr(name, this.getBodyArguments(name, strip), defaultValue);
  }

  /** Every value of a form body argument. */
  getBodyArguments(name: string, strip = true): string[] {
    return (this.bodyArguments[name] ?? []).map((v) => cleanArgument(v, strip));
  }

  /** The raw request body (empty when the request had none). */
  get body(): Buffer {
    return this.rawBody ?? Buffer.alloc(0);
  }

  /**
   * The body parsed as JSON. Another content type is a 415; a malformed body, invalid UTF-8 or
   * keys that could poison prototypes (`__proto__`, `constructor.prototype`) are a 400.
   */
  async json<T = unknown>(): Promise<T> {
    if (this.jsonValue === undefined) {
      this.jsonValue = parseJsonBody(this.body, this.request.headers['content-type']);
    }
    return this.jsonValue as T;
  }

  /**
   * The client's address: the socket's peer, or with the application's `trustProxy` setting the
   * `X-Real-IP` header, else the last address of `X-Forwarded-For`.
   */
  get remoteIp(): string {
    if (this.application.settings.trustProxy) {
      const real = this.request.headers['x-real-ip'];
      if (typeof real === 'string' && real.trim() !== '') return real.trim();
      const forwarded = this.request.headers['x-forwarded-for'];
      if (typeof forwarded === 'string') {
        const last = forwarded.split(',').pop()?.trim();
        if (last) return last;
      }
    }
    return this.request.socket.remoteAddress ?? '';
  }

  /**
   * `http` or `https`: from the connection, or with `trustProxy` from `X-Forwarded-Proto` (or
   * `X-Scheme`) when it names one of the two.
   */
  get protocol(): 'http' | 'https' {
    if (this.application.settings.trustProxy) {
      const header = this.request.headers['x-forwarded-proto'] ?? this.request.headers['x-scheme'];
      const value = (typeof header === 'string' ? header.split(',').pop() : '')?.trim();
      if (value === 'http' || value === 'https') return value;
    }
    return (this.request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  }

  /**
   * Fires when the client disconnects or the server starts draining, with a
   * {@link RequestAborted} reason saying which. Pass it to anything that waits (long polls,
   * streams, outgoing fetches) so that work stops when nobody is listening any more.
   */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.aborted || this.response.destroyed) {
        this.controller.abort(new RequestAborted('disconnect'));
      } else if (this.application.draining) {
        this.controller.abort(new RequestAborted('shutdown'));
      } else {
        this.watchClose();
        this.application.trackAbortable(this);
      }
    }
    return this.controller.signal;
  }

  /** A logger for this request: the application's, carrying the request id when it has one. */
  get log(): Logger {
    if (this.childLog === null) {
      const base = this.application.logger;
      this.childLog =
        this.requestId !== '' && base.child ? base.child({ reqId: this.requestId }) : base;
    }
    return this.childLog;
  }

  /** Builds a URL path for a named route (see {@link Application.reverseUrl}). */
  reverseUrl(name: string, ...args: (string | number)[]): string {
    return this.application.reverseUrl(name, ...args);
  }

  /** A versioned URL of a static file (see {@link Application.staticUrl}). */
  staticUrl(path: string): string {
    return this.application.staticUrl(path);
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /** The response status. */
  get status(): number {
    return this.response.statusCode;
  }

  /** Whether {@link finish} has been called (or the request ended otherwise). */
  get isFinished(): boolean {
    return this.finished;
  }

  /** Whether the client went away before the response was finished. */
  get isAborted(): boolean {
    return this.aborted;
  }

  /** Sets the response status, and optionally its reason phrase. */
  setStatus(status: number, reason?: string): this {
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw new RangeError(`bad HTTP status ${status}`);
    }
    this.response.statusCode = status;
    if (reason !== undefined) {
      checkHeaderValue('reason', reason);
      this.response.statusMessage = reason;
    }
    return this;
  }

  /** Sets a response header, replacing any value it had. CR, LF or NUL in either part throws. */
  setHeader(name: string, value: string | number): this {
    const text = String(value);
    checkHeaderValue(name, text);
    this.response.setHeader(name, text);
    return this;
  }

  /** Adds a value to a response header that may repeat (such as `Set-Cookie`). */
  addHeader(name: string, value: string | number): this {
    const text = String(value);
    checkHeaderValue(name, text);
    this.response.appendHeader(name, text);
    return this;
  }

  /** Removes a response header. */
  clearHeader(name: string): this {
    this.response.removeHeader(name);
    return this;
  }

  /**
   * Buffers a chunk of the body. Strings and bytes are sent as they are; any other value is sent
   * as JSON and sets `Content-Type: application/json; charset=utf-8`. Nothing goes out until
   * {@link flush} or {@link finish}.
   */
  write(chunk: Chunk): this {
    if (this.finished) throw new Error('write() after finish()');
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) {
      this.chunks.push(chunk);
    } else {
      const json = JSON.stringify(chunk);
      if (json === undefined) throw new TypeError('write() was given a value JSON cannot encode');
      if (!this.response.headersSent) {
        this.response.setHeader('Content-Type', 'application/json; charset=utf-8');
      }
      this.chunks.push(json);
    }
    return this;
  }

  /**
   * Sends the headers (the first time) and whatever has been written so far. The promise resolves
   * when the connection can take more (back-pressure), and rejects with {@link RequestAborted} if
   * the client leaves first. The response then has no `Content-Length` (chunked encoding).
   */
  flush(): Promise<void> {
    if (this.finished) return Promise.reject(new Error('flush() after finish()'));
    const res = this.response;
    if (this.aborted || res.destroyed) {
      return Promise.reject(new RequestAborted('disconnect'));
    }
    if (!res.headersSent) {
      this.prepareHeaders();
      const compress = this.application.settings.compress;
      if (compress !== null) this.encoder = CompressedStream.start(this, compress);
    }
    const body = this.takeBody();
    if (this.encoder !== null) return this.encoder.write(body);
    if (body.length === 0) {
      res.flushHeaders();
      return Promise.resolve();
    }
    if (this.send(body, false)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        if (res.destroyed && !res.writableFinished) reject(new RequestAborted('disconnect'));
        else resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  /**
   * Ends the response, optionally writing a last chunk first. A response that was never flushed
   * goes out in one piece with a `Content-Length`. Calling it twice throws.
   */
  finish(chunk?: Chunk): void {
    if (this.finished) throw new Error('finish() called twice');
    if (chunk !== undefined) this.write(chunk);
    this.finished = true;
    const res = this.response;
    if (this.aborted || res.destroyed) return;
    if (res.headersSent) {
      if (this.encoder !== null) this.encoder.end(this.takeBody());
      else this.send(this.takeBody(), true);
    } else {
      this.prepareHeaders();
      let body = this.takeBody();
      const app = this.application;
      if (app.transformsOutput) {
        if (app.settings.etag) body = applyAutoEtag(this, body);
        if (app.settings.compress !== null) body = compressBody(this, body, app.settings.compress);
      }
      const status = res.statusCode;
      if (status === 204 || status === 304 || status < 200) {
        res.end();
      } else if (this.method === 'HEAD') {
        if (!res.hasHeader('content-length')) {
          res.setHeader('Content-Length', Buffer.byteLength(body));
        }
        res.end();
      } else {
        this.send(body, true);
      }
    }
    try {
      this.onFinish();
    } catch (error) {
      this.logException(error);
    }
  }

  /**
   * Redirects to `url` (302 unless told otherwise) and finishes the response.
   */
  redirect(url: string, status = 302): void {
    if (status < 300 || status > 399) throw new RangeError(`bad redirect status ${status}`);
    this.setHeader('Location', url); // first: a URL with CR or LF throws before anything changes
    this.setStatus(status);
    this.finish();
  }

  /**
   * Answers with an error: clears what was written and the headers set so far (the defaults are
   * set again), adds the headers of an {@link HttpError}, and calls {@link writeError}. If the
   * headers were already sent, the connection is closed instead, so the client can tell the
   * response is incomplete.
   */
  sendError(status = 500, error?: unknown): void {
    const res = this.response;
    if (this.finished && !res.headersSent) return;
    if (res.headersSent) {
      if (!this.finished) {
        this.finished = true;
        // For logs and metrics: the client saw the first status cut short, a server error.
        res.statusCode = status;
        this.error ??= error;
        res.destroy();
      }
      return;
    }
    this.clear();
    this.setStatus(status);
    if (error instanceof HttpError && error.headers !== undefined) {
      for (const [name, value] of Object.entries(error.headers)) this.setHeader(name, value);
    }
    try {
      this.writeError(status, error);
    } catch (writeFailure) {
      this.logException(writeFailure);
      this.chunks = []; // a half-written error page is not sent
    }
    if (!this.finished) {
      if (res.headersSent) {
        this.finished = true;
        res.destroy();
      } else {
        this.finish();
      }
    }
  }

  /** Resets status, headers and buffered output to what a fresh handler starts with. */
  clear(): void {
    const res = this.response;
    if (res.headersSent) throw new Error('clear() after the headers were sent');
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.statusCode = 200;
    res.statusMessage = '';
    this.chunks = [];
    this.applyDefaultHeaders();
  }

  /**
   * Logs an unexpected error with the request's method, path and id. Override to report errors
   * elsewhere as well.
   */
  logException(error: unknown): void {
    this.log.error(
      { err: error, method: this.method, url: this.path },
      'uncaught error in handler',
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Cookies, XSRF, users, streams (each concept lives in its own module; these delegate)

  /** The request's cookies, parsed leniently on first use (see `parseCookieHeader`). */
  get cookies(): Cookies {
    this.cookieJar ??= parseCookieHeader(this.request.headers.cookie);
    return this.cookieJar;
  }

  /** The value of a request cookie, as sent (not decoded), or `defaultValue`. */
  getCookie(name: string): string | undefined;
  getCookie(name: string, defaultValue: string): string;
  getCookie(name: string, defaultValue?: string): string | undefined {
    return this.cookies[name] ?? defaultValue;
  }

  /**
   * Adds a `Set-Cookie` header (`path` defaults to `/`). A name or value that is not safe in a
   * cookie (CR, LF, `;`, `,`, whitespace, quotes, non-ASCII…) or bad attributes throw a `TypeError`.
   */
  setCookie(name: string, value: string, options?: CookieOptions): this {
    return this.addHeader('Set-Cookie', serializeCookie(name, value, options));
  }

  /** Deletes a cookie; `path` and `domain` (and `secure`…) must match those it was set with. */
  clearCookie(name: string, options?: ClearCookieOptions): this {
    return this.addHeader('Set-Cookie', serializeExpiredCookie(name, options));
  }

  /** Deletes every cookie the request carried (those set with these `path` and `domain`). */
  clearAllCookies(options?: ClearCookieOptions): this {
    for (const name of Object.keys(this.cookies)) {
      if (isCookieName(name)) this.clearCookie(name, options); // others could not be set either
    }
    return this;
  }

  /**
   * Signs `value` (HMAC-SHA256 with the `cookieSecret` setting, bound to `name`) and sets it as a
   * cookie, expiring in `expiresDays` (default 30). The value is readable, not forgeable.
   */
  setSignedCookie(name: string, value: string, options?: SignedCookieOptions): this {
    writeSignedCookie(this, name, value, options);
    return this;
  }

  /**
   * The value of a cookie set with {@link setSignedCookie}, or `undefined` when it is missing,
   * tampered with, signed for another name or with a retired key, or older than `maxAgeDays`
   * (default 31). Without the `cookieSecret` setting, both throw.
   */
  getSignedCookie(name: string, options?: GetSignedCookieOptions): string | undefined {
    return readSignedCookie(this, name, options);
  }

  /**
   * The XSRF token to send back in a form field `_xsrf` or an `X-XSRFToken` header: masked
   * differently for each request; sets the `_xsrf` cookie when the request had none.
   */
  get xsrfToken(): string {
    this.xsrfValue ??= issueXsrfToken(this);
    return this.xsrfValue;
  }

  /** `<input type="hidden" name="_xsrf" value="…">` for an HTML form. */
  xsrfFormHtml(): string {
    return xsrfFormHtml(this.xsrfToken);
  }

  /**
   * Refuses (403) a request whose `_xsrf` form field or `X-XSRFToken`/`X-CSRFToken` header does
   * not match its `_xsrf` cookie. Runs before `prepare` when the `xsrfCookies` setting is on
   * (override with an empty body to exempt a handler); call it yourself to opt one in.
   */
  checkXsrfCookie(): void {
    checkXsrf(this);
  }

  /**
   * Returns the user making the request, or `undefined`/`null` for none; may be async. Override it
   * (it runs at most once per request); read the result through {@link currentUser}.
   */
  getCurrentUser(): U | null | undefined | Promise<U | null | undefined> {
    return undefined;
  }

  /**
   * The current user. Resolved before `prepare` for verbs wrapped with `authenticated`, after
   * `await this.resolveCurrentUser()`, or on first read when {@link getCurrentUser} is
   * synchronous; reading it before an async `getCurrentUser` was resolved throws. Assignable.
   */
  get currentUser(): U | undefined {
    return currentUserOf(this) as U | undefined;
  }

  set currentUser(user: U | undefined) {
    setCurrentUser(this, user);
  }

  /** Resolves {@link currentUser} (calling {@link getCurrentUser} once per request). */
  resolveCurrentUser(): Promise<U | undefined> {
    return resolveCurrentUser(this) as Promise<U | undefined>;
  }

  /** Starts a server-sent events response (`text/event-stream`); see {@link EventStream}. */
  eventStream(options?: EventStreamOptions): EventStream {
    return new EventStream(this, options);
  }

  /**
   * Receives the request body piece by piece when the class sets `static streamRequestBody =
   * true`, after `prepare` and before the verb method. May be async: the request is paused until
   * its promise settles.
   */
  dataReceived(_chunk: Buffer): void | Promise<void> {
    throw new Error(`${this.constructor.name} streams its body but does not define dataReceived`);
  }

  /**
   * Sets this request's body limit (413 beyond it): in `initialize`, or in `prepare` when the
   * class streams its body. Default: `static maxBodyBytes`, else the `maxBodyBytes` setting.
   */
  setMaxBodyBytes(bytes: number): this {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`maxBodyBytes must be a non-negative integer, got ${bytes}`);
    }
    const state = this.bodyState;
    const streams = handlerInfoOf(this).streamsBody;
    if (state === 'read' || state === 'streaming' || (state === 'unread' && !streams)) {
      throw new Error('setMaxBodyBytes() after the body was read');
    }
    this.bodyLimit = bytes;
    return this;
  }

  /** Files of a `multipart/form-data` body by field name (empty for other bodies). */
  get files(): Files {
    this.uploads ??= Object.create(null) as Files;
    return this.uploads;
  }

  // ---------------------------------------------------------------------------------------------
  // Machinery (used by Application; not part of the handler-writing API)

  /** @internal Runs the request through the lifecycle. */
  execute(options: O, rawArgs: readonly string[]): void {
    const info = handlerInfoOf(this);
    if (info.watchesClose) this.watchClose();
    if (info.watchesShutdown) {
      if (this.application.draining) {
        this.shutdownState = SHUTDOWN_DRAINING;
      } else {
        this.application.trackAbortable(this);
        this.watchClose(); // to untrack it
      }
    }
    this.start(options, rawArgs, info);
    if (!this.application.observed || this.closeWatched) return;
    // Observers hear of a request once its response is complete. Most responses are finished and
    // wholly handed to the kernel before the listener returns: tell the observers now, without a
    // `close` listener per request. Otherwise (an async handler, a body still buffered, a
    // pipelined response waiting its turn), when the response closes.
    const res = this.response;
    if (this.finished && res.writableEnded && res.writableLength === 0) this.notifyFinished();
    else this.watchClose();
  }

  private start(options: O, rawArgs: readonly string[], info: HandlerInfo): void {
    try {
      this.applyDefaultHeaders();
      this.initialize(options);
      if (rawArgs.length > 0) this.pathArgs = rawArgs.map(decodePathArgument);
      const verb = info.verbs.get(this.method);
      if (verb === undefined) {
        this.answerWithoutVerb();
        return;
      }
      if (isAuthenticated(this[verb])) {
        requireUser(this).then(
          (allowed) => {
            if (allowed) this.receiveBody(verb, info);
          },
          (error: unknown) => this.handleError(error),
        );
        return;
      }
      this.receiveBody(verb, info);
    } catch (error) {
      this.handleError(error);
    }
  }

  private receiveBody(verb: Verb, info: HandlerInfo): void {
    try {
      const req = this.request;
      if (info.readsBody && hasRequestBody(req)) {
        this.bodyState = 'unread';
        if (info.streamsBody) {
          this.runPrepare(verb); // the body is streamed once prepare has had its say on the limit
          return;
        }
        const limit = this.admitBody();
        readBody(req, limit).then(
          (body) => this.bodyRead(verb, body),
          (error: unknown) => this.handleError(error),
        );
        return;
      }
      this.runPrepare(verb);
    } catch (error) {
      this.handleError(error);
    }
  }

  private bodyRead(verb: Verb, body: Buffer): void {
    this.rawBody = body;
    this.bodyState = 'read';
    if (!isMultipart(this.request.headers['content-type'])) {
      this.runPrepare(verb);
      return;
    }
    parseMultipart(body, this.request.headers, this.application.settings.multipart).then(
      (form) => {
        this.bodyArgs = form.fields;
        this.uploads = form.files;
        this.runPrepare(verb);
      },
      (error: unknown) => this.handleError(error),
    );
  }

  /** The body limit in force; sends `100 Continue` when the client waits for it and fits. */
  private admitBody(): number {
    const klass = this.constructor as { maxBodyBytes?: number };
    const limit =
      this.bodyLimit >= 0
        ? this.bodyLimit
        : (klass.maxBodyBytes ?? this.application.settings.maxBodyBytes);
    const req = this.request;
    const length = req.headers['content-length'];
    if (
      req.headers.expect?.toLowerCase() === '100-continue' &&
      !(length !== undefined && Number(length) > limit)
    ) {
      this.response.writeContinue();
    }
    return limit;
  }

  /**
   * @internal The response now belongs to code outside this handler (`FallbackHandler`): it is
   * marked finished, so the lifecycle sends nothing more and `write`/`flush`/`finish` throw.
   */
  handOver(): void {
    this.finished = true;
  }

  /** @internal The server is draining: aborts the request's signal, calls {@link onShutdown}. */
  abortForShutdown(): void {
    this.controller?.abort(new RequestAborted('shutdown'));
    this.shutdownState |= SHUTDOWN_DRAINING;
    this.deliverShutdown();
  }

  /** Calls onShutdown once the verb method has run and the server drains, if still unfinished. */
  private deliverShutdown(): void {
    const state = this.shutdownState;
    if (state !== (SHUTDOWN_VERB_RAN | SHUTDOWN_DRAINING) || this.finished) return;
    if (!handlerInfoOf(this).watchesShutdown) return;
    this.shutdownState = state | SHUTDOWN_DELIVERED;
    try {
      this.onShutdown();
    } catch (error) {
      this.logException(error);
    }
  }

  /** @internal Called once when the response closes, finished or not. */
  connectionClosed(): void {
    if (this.controller !== null || handlerInfoOf(this).watchesShutdown) {
      this.application.untrackAbortable(this);
    }
    // A reset connection counts too: node:http calls a response finished (`writableFinished`,
    // `finish`) once its socket has dropped the bytes it could not deliver.
    const res = this.response;
    if ((!res.writableFinished || this.request.socket.errored !== null) && !this.aborted) {
      // Cut off by the server after an error (the headers were out): not the client leaving.
      if (this.error === undefined) this.aborted = true;
      this.controller?.abort(new RequestAborted('disconnect'));
      try {
        this.onConnectionClose();
      } catch (error) {
        this.logException(error);
      }
    }
    this.notifyFinished();
  }

  private notifyFinished(): void {
    const observers = this.application.finishObservers;
    if (observers !== null) {
      this.application.notify(
        observers,
        this as RequestHandler<unknown>,
        'request observer failed',
      );
    }
  }

  private watchClose(): void {
    if (this.closeWatched) return;
    this.closeWatched = true;
    const res = this.response as ServerResponse & { [kHandler]: unknown };
    res[kHandler] = this;
    // Each fires at most once per response: `on` spares `once`'s wrapper.
    res.on('close', onResponseClose);
  }

  private answerWithoutVerb(): void {
    const info = handlerInfoOf(this);
    if (this.method === 'OPTIONS') {
      this.setStatus(204);
      this.setHeader('Allow', info.allow);
      this.finish();
      return;
    }
    throw new HttpError(405, `${this.method} is not allowed here`, {
      headers: { Allow: info.allow },
    });
  }

  private runPrepare(verb: Verb): void {
    try {
      if (this.application.settings.xsrfCookies && needsXsrfCheck(this.method)) {
        this.checkXsrfCookie();
      }
      const prepared = this.prepare();
      if (isThenable(prepared)) {
        prepared.then(
          () => this.afterPrepare(verb),
          (error: unknown) => this.handleError(error),
        );
        return;
      }
      this.afterPrepare(verb);
    } catch (error) {
      this.handleError(error);
    }
  }

  /** Runs the verb; for a class that streams its body, once the body has gone to `dataReceived`. */
  private afterPrepare(verb: Verb): void {
    if (this.bodyState !== 'unread' || this.finished) {
      this.runVerb(verb);
      return;
    }
    const limit = this.admitBody();
    this.bodyState = 'streaming';
    streamBody(this.request, limit, (chunk) => this.dataReceived(chunk)).then(
      () => {
        this.bodyState = 'read';
        this.runVerb(verb);
      },
      (error: unknown) => this.handleError(error),
    );
  }

  private runVerb(verb: Verb): void {
    if (this.finished) return;
    try {
      const fn = this[verb] as VerbFunction;
      const args = this.pathArgs;
      this.shutdownState |= SHUTDOWN_VERB_RAN;
      const result =
        args.length === 0
          ? fn.call(this as RequestHandler<unknown>)
          : fn.apply(this as RequestHandler<unknown>, args as string[]);
      if (this.shutdownState === (SHUTDOWN_VERB_RAN | SHUTDOWN_DRAINING)) this.deliverShutdown();
      if (isThenable(result)) {
        result.then(
          () => this.autoFinish(),
          (error: unknown) => this.handleError(error),
        );
        return;
      }
      this.autoFinish();
    } catch (error) {
      this.handleError(error);
    }
  }

  private autoFinish(): void {
    if (this.finished) return;
    try {
      this.finish();
    } catch (error) {
      this.handleError(error);
    }
  }

  private handleError(error: unknown): void {
    try {
      if (error instanceof Finish) {
        if (!this.finished) this.finish();
        return;
      }
      const aborted = abortCause(error);
      // A response destroyed before it was complete: the client left, nobody to answer. (Once
      // complete, Node marks it destroyed too; an error then is a bug to log, below.)
      const cutOff = this.response.destroyed && !this.response.writableFinished;
      // Once finished, any abort (the server draining included) leaves nothing to answer.
      if (
        aborted === 'disconnect' ||
        this.aborted ||
        cutOff ||
        (aborted !== null && this.finished)
      ) {
        this.finished = true;
        return;
      }
      this.error = error;
      if (this.finished || this.response.headersSent) {
        this.logException(error);
        this.sendError(500, error); // headers are out: this closes the connection
        return;
      }
      if (aborted === 'shutdown') {
        this.sendError(503, new HttpError(503, 'the server is shutting down'));
        return;
      }
      if (error instanceof HttpError) {
        this.sendError(error.status, error);
        return;
      }
      this.logException(error);
      this.sendError(500, error);
    } catch (failure) {
      // Last resort: never let an error escape into the event loop.
      this.application.logger.error({ err: failure }, 'error while handling an error');
      if (!this.response.headersSent && !this.response.destroyed) {
        this.response.statusCode = 500;
        this.response.end();
      } else {
        this.response.destroy();
      }
      this.finished = true;
    }
  }

  private applyDefaultHeaders(): void {
    const res = this.response;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (this.requestId !== '') res.setHeader('X-Request-Id', this.requestId);
    this.setDefaultHeaders();
  }

  /**
   * Last-minute header decisions, made once just before the headers go out: a body that was
   * refused (over the limit, say) is never read to keep the connection alive, so the connection
   * closes; a body nobody asked for is discarded by node:http only while it is small.
   */
  private prepareHeaders(): void {
    const state = this.bodyState;
    const unread = (state === 'unread' || state === 'streaming') && !this.request.complete;
    if (unread || (this.bodyState === 'none' && mustCloseForUnreadBody(this.request))) {
      this.response.shouldKeepAlive = false;
    }
  }

  private takeBody(): string | Buffer {
    const chunks = this.chunks;
    if (chunks.length === 0) return '';
    this.chunks = [];
    if (chunks.length === 1) {
      const only = chunks[0] as string | Uint8Array;
      return typeof only === 'string'
        ? only
        : Buffer.from(only.buffer, only.byteOffset, only.length);
    }
    return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
  }

  /** Hands body bytes to the connection, counting them. */
  private send(body: string | Buffer, last: boolean): boolean {
    if (body.length > 0 && this.method !== 'HEAD') {
      this.bytesWritten += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    }
    if (last) {
      this.response.end(body);
      return true;
    }
    return this.response.write(body);
  }
}

function lastOr(name: string, values: string[], defaultValue: string | undefined): string {
  const last = values[values.length - 1];
  if (last !== undefined) return last;
  if (defaultValue !== undefined) return defaultValue;
  throw new HttpError(400, `missing argument ${name}`);
}

function checkHeaderValue(name: string, value: string): void {
  if (HEADER_INJECTION.test(name) || HEADER_INJECTION.test(value)) {
    throw new TypeError(`header ${JSON.stringify(name)} contains CR, LF or NUL`);
  }
}

function abortCause(error: unknown): 'disconnect' | 'shutdown' | null {
  let current: unknown = error;
  // An AbortError from an API given `signal` carries the signal's reason as its cause.
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    if (current instanceof RequestAborted) return current.kind;
    current = current.cause;
  }
  return null;
}

/** Works out (once per class) which verbs a handler class answers. */
export function handlerInfoOf(handler: RequestHandler<unknown>): HandlerInfo {
  const klass = handler.constructor;
  let info = handlerInfo.get(klass);
  if (info === undefined) {
    const verbs = new Map<string, Verb>();
    for (const method of HANDLER_METHODS) {
      const name = method.toLowerCase() as Verb;
      if (typeof handler[name] === 'function') verbs.set(method, name);
    }
    if (!verbs.has('HEAD') && verbs.has('GET')) verbs.set('HEAD', 'get');
    const allowed = new Set(verbs.keys());
    allowed.add('OPTIONS');
    const proto = Object.getPrototypeOf(handler) as RequestHandler<unknown>;
    info = {
      verbs,
      allow: HANDLER_METHODS.filter((m) => allowed.has(m)).join(', '),
      watchesClose: proto.onConnectionClose !== RequestHandler.prototype.onConnectionClose,
      watchesShutdown: proto.onShutdown !== RequestHandler.prototype.onShutdown,
      streamsBody: (klass as { streamRequestBody?: unknown }).streamRequestBody === true,
      readsBody: (klass as { readsBody?: unknown }).readsBody !== false,
    };
    handlerInfo.set(klass, info);
  }
  return info;
}
