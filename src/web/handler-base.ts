import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Arguments, cleanArgument, parseUrlEncoded } from './arguments.js';
import { parseFormBody, parseJsonBody } from './body.js';
import { type Cookies, parseCookieHeader } from './cookies.js';
import { HttpError, withCode } from './errors.js';
import type { HandlerHost } from './handler-host.js';
import { handlerInfoOf } from './handler-info.js';
import {
  ABORTED,
  BODY_BITS,
  BODY_SHIFT,
  BODY_STATES,
  type BodyState,
  extrasOf,
  FINISHED,
  type HandlerExtras,
  kAborted,
  kBodyState,
  kChunks,
  kExtras,
  kFinished,
  kFlags,
  kInput,
  kRawBody,
  NO_CHUNKS,
} from './handler-state.js';
import { type Logger, requestLogger } from './log.js';
import type { Files } from './multipart.js';
import { clientIp, requestProtocol } from './request-info.js';
import type { CompiledRoute } from './routing.js';
import type { ValidatedInput } from './schema/validate.js';
import { type GetSignedCookieOptions, readSignedCookie } from './signed-cookies.js';
import { newTraceFields, TraceContext } from './trace-context.js';

const EMPTY_ARGS: readonly string[] = Object.freeze([]);

/**
 * What every handler is made of: the request's fields, the lifecycle's state (under symbols, see
 * `handler-state.ts`), and the methods that read the request (arguments, body, cookies, client
 * address). `RequestHandler` extends it with the hooks and the output methods; subclass that.
 */
export abstract class HandlerBase {
  /** The application this request belongs to. */
  readonly application: HandlerHost;
  /** The raw request. Its body has already been read when the verb method runs. */
  readonly request: IncomingMessage;
  /** The raw response. Prefer the handler's output methods, which keep the bookkeeping right. */
  readonly response: ServerResponse;
  /** The matched route, or `null` for the application's default (not found) handler. */
  readonly route: CompiledRoute<unknown> | null;
  /** Decoded path arguments, in order; set before `prepare` runs. */
  pathArgs: readonly string[];
  /** The request id (see the application's `requestId` setting), or `''`. */
  readonly requestId: string;
  /** `performance.now()` when the handler was created. */
  readonly startTime: number;
  /** Body bytes handed to the connection so far (none for HEAD and 204/304 responses). */
  bytesWritten: number;
  /**
   * The `WWW-Authenticate` challenge of this handler's 401s (`override authChallenge = 'Basic
   * realm="admin"'`); when unset, the `authChallenge` setting's.
   */
  declare readonly authChallenge?: string | undefined;
  /** @internal */ [kChunks]: (string | Uint8Array)[];
  /** @internal */ [kRawBody]: Buffer | null;
  /** @internal */ [kExtras]: HandlerExtras | null;
  /** @internal */ [kFlags]: number;
  /** @internal */ [kInput]: ValidatedInput | null;
  /**
   * The trace context once made; before that, a new trace's log fields when the access line
   * asked for them first (a string: no context object for a request nobody asks about).
   */
  #trace: TraceContext | string | null;

  /** Created by the application for each request; override `initialize`, not this. */
  constructor(
    application: HandlerHost,
    request: IncomingMessage,
    response: ServerResponse,
    route: CompiledRoute<unknown> | null,
  ) {
    this.application = application;
    this.request = request;
    this.response = response;
    this.route = route;
    this.pathArgs = EMPTY_ARGS;
    const makeId = application.settings.requestId;
    this.requestId = makeId === undefined ? '' : makeId(request);
    this.startTime = performance.now();
    this.bytesWritten = 0;
    this[kChunks] = NO_CHUNKS;
    this[kRawBody] = null;
    this[kExtras] = null;
    this[kFlags] = 0;
    this[kInput] = null;
    this.#trace = null;
  }

  // What few requests need or a flag bit says is not a slot of every handler (a held request
  // keeps its handler): the fields below are read through accessors.

  /** The request method. */
  get method(): string {
    return this.request.method ?? 'GET';
  }

  /** The request path as sent (percent-encoded, no query string; cut when asked for). */
  get path(): string {
    const url = this.request.url ?? '/';
    const q = url.indexOf('?');
    return q < 0 ? url : url.slice(0, q);
  }

  /** The error that ended the request, if one did (for observers and `onFinish`). */
  get error(): unknown {
    return this[kExtras]?.error;
  }

  set error(error: unknown) {
    extrasOf(this).error = error;
  }

  /** @internal */ get [kFinished](): boolean {
    return (this[kFlags] & FINISHED) !== 0;
  }

  /** @internal */ set [kFinished](on: boolean) {
    this[kFlags] = on ? this[kFlags] | FINISHED : this[kFlags] & ~FINISHED;
  }

  /** @internal */ get [kAborted](): boolean {
    return (this[kFlags] & ABORTED) !== 0;
  }

  /** @internal */ set [kAborted](on: boolean) {
    this[kFlags] = on ? this[kFlags] | ABORTED : this[kFlags] & ~ABORTED;
  }

  /** @internal */ get [kBodyState](): BodyState {
    return BODY_STATES[(this[kFlags] & BODY_BITS) >> BODY_SHIFT] as BodyState;
  }

  /** @internal */ set [kBodyState](state: BodyState) {
    this[kFlags] = (this[kFlags] & ~BODY_BITS) | (BODY_STATES.indexOf(state) << BODY_SHIFT);
  }

  /** The raw query string, without the `?` (cut when asked for: a held request keeps no copy). */
  get queryString(): string {
    const url = this.request.url ?? '';
    const q = url.indexOf('?');
    return q < 0 ? '' : url.slice(q + 1);
  }

  /** The response status. */
  get status(): number {
    return this.response.statusCode;
  }

  /** Whether `finish` has been called (or the request ended otherwise). */
  get isFinished(): boolean {
    return this[kFinished];
  }

  /** Whether the client went away before the response was finished. */
  get isAborted(): boolean {
    return this[kAborted];
  }

  /**
   * @internal The response now belongs to code outside this handler (`FallbackHandler`): it is
   * marked finished, so the lifecycle sends nothing more and `write`/`flush`/`finish` throw.
   */
  handOver(): void {
    this[kFinished] = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Input: arguments, body, cookies, the client

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
    const extras = extrasOf(this);
    extras.queryArgs ??= parseUrlEncoded(this.queryString, this.application.settings.maxParams);
    return extras.queryArgs;
  }

  /** Arguments from an `application/x-www-form-urlencoded` body (empty for other bodies). */
  get bodyArguments(): Arguments {
    const extras = extrasOf(this);
    extras.bodyArgs ??= parseFormBody(
      this.request.headers['content-type'],
      this[kRawBody],
      this.application.settings.maxParams,
    );
    return extras.bodyArgs;
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
    return this[kRawBody] ?? Buffer.alloc(0);
  }

  /**
   * The body parsed as JSON. Another content type is a 415; a malformed body, invalid UTF-8 or
   * keys that could poison prototypes (`__proto__`, `constructor.prototype`) are a 400.
   */
  json<T = unknown>(): Promise<T> {
    // Not an async function: one settled promise, and a throw becomes its rejection.
    const extras = extrasOf(this);
    if (extras.jsonValue === undefined) {
      try {
        extras.jsonValue = parseJsonBody(this.body, this.request.headers['content-type']);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return Promise.resolve(extras.jsonValue as T);
  }

  /** Files of a `multipart/form-data` body by field name (empty for other bodies). */
  get files(): Files {
    const extras = extrasOf(this);
    extras.uploads ??= Object.create(null) as Files;
    return extras.uploads;
  }

  /**
   * Sets this request's body limit (413 beyond it): in `initialize`, or in `prepare` when the
   * class streams its body. Default: `static maxBodyBytes`, else the `maxBodyBytes` setting.
   * Later, it throws (`ERR_BODY_ALREADY_READ`).
   */
  setMaxBodyBytes(bytes: number): this {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw withCode(
        new RangeError(`maxBodyBytes must be a non-negative integer, got ${bytes}`),
        'ERR_BODY_LIMIT',
      );
    }
    const state = this[kBodyState];
    const streams = handlerInfoOf(this).streamsBody;
    if (state === 'read' || state === 'streaming' || (state === 'unread' && !streams)) {
      throw withCode(new Error('setMaxBodyBytes() after the body was read'), 'ERR_BODY_LIMIT');
    }
    extrasOf(this).bodyLimit = bytes;
    return this;
  }

  /** The request's cookies, parsed leniently on first use (see `parseCookieHeader`). */
  get cookies(): Cookies {
    const extras = extrasOf(this);
    extras.cookies ??= parseCookieHeader(this.request.headers.cookie);
    return extras.cookies;
  }

  /** The value of a request cookie, as sent (not decoded), or `defaultValue`. */
  getCookie(name: string): string | undefined;
  getCookie(name: string, defaultValue: string): string;
  getCookie(name: string, defaultValue?: string): string | undefined {
    return this.cookies[name] ?? defaultValue;
  }

  /**
   * The value of a cookie set with `setSignedCookie`, or `undefined` when it is missing,
   * tampered with, signed for another name or with a retired key, or older than `maxAgeDays`
   * (default 31). Without the `cookieSecret` setting, both throw.
   */
  getSignedCookie(name: string, options?: GetSignedCookieOptions): string | undefined {
    return readSignedCookie(this, this.application.settings.cookieKeys, name, options);
  }

  /**
   * The client's address: the socket's peer, or with the application's `trustProxy` setting the
   * `X-Real-IP` header, else the last address of `X-Forwarded-For`.
   */
  get remoteIp(): string {
    return clientIp(this.request, this.application.settings.trustProxy);
  }

  /**
   * `http` or `https`: from the connection, or with `trustProxy` from `X-Forwarded-Proto` (or
   * `X-Scheme`) when it names one of the two.
   */
  get protocol(): 'http' | 'https' {
    return requestProtocol(this.request, this.application.settings.trustProxy);
  }

  /**
   * The request's W3C trace context: the caller's trace from a valid `traceparent` header, else a
   * new one; `spanId` is this server span's own id. Made on first use.
   */
  get traceContext(): TraceContext {
    const trace = this.#trace;
    if (trace !== null && typeof trace !== 'string') return trace;
    const made = TraceContext.fromHeaders(this.request.headers, trace ?? undefined);
    this.#trace = made;
    return made;
  }

  /**
   * @internal The trace context's fields for a log line written by hand (the access line):
   * `,"trace_id":"…","span_id":"…","trace_flags":"…"`. Without a `traceparent` and before
   * anything asked for {@link traceContext}, a new trace's fields and nothing else: no context
   * object (one is made from the same ids if asked for later).
   */
  traceLogFields(): string {
    const trace = this.#trace;
    if (typeof trace === 'string') return trace;
    if (trace !== null) return trace.logFields;
    if (this.request.headers.traceparent !== undefined) return this.traceContext.logFields;
    const fields = newTraceFields();
    this.#trace = fields;
    return fields;
  }

  /**
   * The `traceparent` header value for an outgoing call, so the callee continues this trace:
   * `fetch(url, { headers: { traceparent: this.traceparent() } })`, or spread
   * `this.traceContext.headers()` to pass `tracestate` on too.
   */
  traceparent(): string {
    return this.traceContext.traceparent();
  }

  /**
   * A logger for this request: the application's, carrying the request id when it has one and
   * the trace context (`trace_id`, `span_id`, `trace_flags`).
   */
  get log(): Logger {
    const extras = extrasOf(this);
    extras.log ??= requestLogger(this.application.logger, this);
    return extras.log;
  }

  /** Builds a URL path for a named route (see `Application.reverseUrl`). */
  reverseUrl(name: string, ...args: (string | number)[]): string {
    return this.application.reverseUrl(name, ...args);
  }

  /** A versioned URL of a static file (see `Application.staticUrl`). */
  staticUrl(path: string): string {
    return this.application.staticUrl(path);
  }
}

function lastOr(name: string, values: string[], defaultValue: string | undefined): string {
  const last = values[values.length - 1];
  if (last !== undefined) return last;
  if (defaultValue !== undefined) return defaultValue;
  throw new HttpError(400, `missing argument ${name}`, { code: 'ERR_MISSING_ARGUMENT' });
}
