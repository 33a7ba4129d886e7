import type { IncomingMessage, ServerResponse } from 'node:http';
import { currentUserOf, resolveCurrentUser, setCurrentUser } from './auth.js';
import {
  type ClearCookieOptions,
  type CookieOptions,
  isCookieName,
  serializeCookie,
  serializeExpiredCookie,
} from './cookies.js';
import { PROBLEM_CONTENT_TYPE, problemFor, RequestAborted, withCode } from './errors.js';
import { EventStream, type EventStreamOptions } from './event-stream.js';
import { HandlerBase } from './handler-base.js';
import { abortForShutdown, signalOf } from './handler-close.js';
import type { HandlerHost } from './handler-host.js';
import {
  checkHeaderValue,
  clearResponse,
  finishOutput,
  flushOutput,
  sendErrorResponse,
  writeChunk,
} from './handler-output.js';
import { endHold, startHold } from './handler-run.js';
import { type Chunk, extrasOf, type HandlerCore } from './handler-state.js';
import { isValidHeader, putCheckedHeader, putHeader } from './response.js';
import type { CompiledRoute } from './routing.js';
import { type SignedCookieOptions, writeSignedCookie } from './signed-cookies.js';
import { checkXsrf, issueXsrfToken, xsrfFormHtml } from './xsrf.js';

export { HANDLER_METHODS } from './handler-info.js';
export type { Chunk } from './handler-state.js';

/** What a route points at: the handler class and the options given to its `initialize`. */
export interface RouteTarget {
  readonly handler: HandlerClass<unknown>;
  readonly options: unknown;
}

/** A handler class: what a route table lists. */
export type HandlerClass<O = undefined> = new (
  application: HandlerHost,
  request: IncomingMessage,
  response: ServerResponse,
  route: CompiledRoute<RouteTarget> | null,
) => RequestHandler<O>;

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
 *
 * Only the hooks that say so may be async; the others run synchronously and a promise they return
 * is not awaited. The fields and input methods come from `HandlerBase` (`handler-base.ts`); the
 * lifecycle runner is in `handler-run.ts`, the output plumbing in `handler-output.ts`.
 */
export class RequestHandler<O = undefined, U = unknown> extends HandlerBase implements HandlerCore {
  /** The matched route, or `null` for the application's default (not found) handler. */
  declare readonly route: CompiledRoute<RouteTarget> | null;

  // ---------------------------------------------------------------------------------------------
  // Hooks to override

  /**
   * Receives the route's options. Runs synchronously once the handler is constructed (so field
   * initialisers have already run), before anything is read from the request: store the options
   * on `this`; do no I/O here. Must not be async. Throwing here is a 500 (an `HttpError`: its
   * status).
   */
  initialize(_options: O): void {}

  /**
   * Sets the headers every response of this handler starts with; runs synchronously before
   * `initialize` and again whenever the response is cleared (before an error page, say). Call
   * `this.setHeader` here. The defaults (`Content-Type: text/html; charset=utf-8`,
   * `X-Content-Type-Options: nosniff` and the request id) are already set when it runs.
   */
  setDefaultHeaders(): void {}

  /**
   * Runs before the verb method, after the body has been read (before, when the class streams
   * it). May be async: the verb method waits for it. May finish the request (then the verb method
   * is not called), or throw an {@link HttpError} to refuse it.
   */
  prepare(): void | Promise<void> {}

  /**
   * Runs synchronously once the response has been handed to the connection (inside
   * {@link finish}). Use it for clean-up and bookkeeping; it cannot change the response. A promise
   * it returns is not awaited. Errors thrown here are logged.
   */
  onFinish(): void {}

  /**
   * Runs synchronously, once, if the client closes the connection before the response is finished
   * (a long poll whose client left, say). {@link signal} fires at the same moment. Errors thrown
   * here are logged. Costs nothing when not overridden.
   */
  onConnectionClose(): void {}

  /**
   * Runs synchronously, once, if the server starts draining (shutting down) while the verb method
   * has the request unfinished, or, for a request that arrives while it is already draining, as
   * soon as the verb method has returned without finishing: a long poll answers now (a 204, say)
   * so that its client reconnects elsewhere. {@link signal} fires at the same moment. Cheaper than
   * the signal for a request held open (no `AbortController`), and costs nothing when not
   * overridden. Errors thrown here are logged.
   */
  onShutdown(): void {}

  /**
   * Writes the body of an error response; override to render errors your way. The default writes
   * RFC 9457 problem details as `application/problem+json`, with internal detail only in debug
   * mode. Runs synchronously from {@link sendError}, after the response was cleared and the status
   * set; must finish the response (it is finished for it otherwise). Errors thrown here are logged
   * and the error response goes out empty.
   */
  writeError(status: number, error: unknown): void {
    this.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
    this.finish(JSON.stringify(problemFor(status, error, this.application.settings.debug)));
  }

  /**
   * Logs an unexpected error with the request's method, path and id. Runs synchronously for every
   * error that becomes a 500 and for errors thrown by the hooks that cannot answer any more
   * (`onFinish`, `onConnectionClose`, `onShutdown`). Override to report errors elsewhere as well;
   * it must not throw.
   */
  logException(error: unknown): void {
    this.log.error(
      { err: error, method: this.method, url: this.path },
      'uncaught error in handler',
    );
  }

  /**
   * Returns the user making the request, or `undefined`/`null` for none. May be async. Override it
   * (it runs at most once per request, when the user is first needed); read the result through
   * {@link currentUser}.
   */
  getCurrentUser(): U | null | undefined | Promise<U | null | undefined> {
    return undefined;
  }

  /**
   * Receives the request body piece by piece when the class sets `static streamRequestBody =
   * true`, after `prepare` and before the verb method. May be async: the request is paused until
   * its promise settles.
   */
  dataReceived(_chunk: Buffer): void | Promise<void> {
    throw withCode(
      new Error(`${this.constructor.name} streams its body but does not define dataReceived`),
      'ERR_NO_DATA_RECEIVED',
    );
  }

  // Verb methods, defined by subclasses; each may be async (see the class's lifecycle).
  get?(...args: string[]): unknown;
  head?(...args: string[]): unknown;
  post?(...args: string[]): unknown;
  put?(...args: string[]): unknown;
  patch?(...args: string[]): unknown;
  delete?(...args: string[]): unknown;
  options?(...args: string[]): unknown;

  // ---------------------------------------------------------------------------------------------
  // Output

  /** Sets the response status, and optionally its reason phrase. */
  setStatus(status: number, reason?: string): this {
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw withCode(new RangeError(`bad HTTP status ${status}`), 'ERR_INVALID_STATUS');
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
    if (isValidHeader(name, text)) {
      putHeader(this.response, name, text);
    } else {
      checkHeaderValue(name, text); // CR, LF or NUL: this error before node:http's own
      putCheckedHeader(this.response, name, text);
    }
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
    writeChunk(this, chunk);
    return this;
  }

  /**
   * Sends the headers (the first time) and whatever has been written so far. The promise resolves
   * when the connection can take more (back-pressure), and rejects with {@link RequestAborted} if
   * the client leaves first. The response then has no `Content-Length` (chunked encoding).
   */
  flush(): Promise<void> {
    return flushOutput(this);
  }

  /**
   * Ends the response, optionally writing a last chunk first. A response that was never flushed
   * goes out in one piece with a `Content-Length`. Calling it twice throws.
   */
  finish(chunk?: Chunk): void {
    finishOutput(this, chunk);
  }

  /** Redirects to `url` (302 unless told otherwise) and finishes the response. */
  redirect(url: string, status = 302): void {
    if (status < 300 || status > 399) {
      throw withCode(new RangeError(`bad redirect status ${status}`), 'ERR_INVALID_STATUS');
    }
    this.setHeader('Location', url); // first: a URL with CR or LF throws before anything changes
    this.setStatus(status);
    this.finish();
  }

  /**
   * Answers with an error: clears what was written and the headers set so far (the defaults are
   * set again), adds the headers of an {@link HttpError}, and calls {@link writeError}. If the
   * headers were already sent, the connection is closed instead, so the client can tell the
   * response is incomplete. Called by the lifecycle for anything thrown; call it yourself to
   * answer with an error without throwing. Synchronous.
   */
  sendError(status = 500, error?: unknown): void {
    sendErrorResponse(this, status, error);
  }

  /** Resets status, headers and buffered output to what a fresh handler starts with. */
  clear(): void {
    clearResponse(this);
  }

  /**
   * Fires when the client disconnects or the server starts draining, with a
   * {@link RequestAborted} reason saying which. Pass it to anything that waits (long polls,
   * streams, outgoing fetches) so that work stops when nobody is listening any more.
   */
  get signal(): AbortSignal {
    return signalOf(this);
  }

  /**
   * Keeps the request open once the verb method returns: it is not finished for it. A long poll
   * holds its request so, without a promise, until {@link releaseRequest} (or `finish`).
   */
  holdRequest(): void {
    startHold(this);
  }

  /** Ends {@link holdRequest}: finishes, or with `error` answers as if the verb had thrown it. */
  releaseRequest(error?: unknown): void {
    endHold(this, error);
  }

  // ---------------------------------------------------------------------------------------------
  // Cookies, XSRF, users, streams (each concept lives in its own module; these delegate)

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
    writeSignedCookie(this, this.application.settings.cookieKeys, name, value, options);
    return this;
  }

  /**
   * The XSRF token to send back in a form field `_xsrf` or an `X-XSRFToken` header: masked
   * differently for each request; sets the `_xsrf` cookie when the request had none.
   */
  get xsrfToken(): string {
    const extras = extrasOf(this);
    extras.xsrfToken ??= issueXsrfToken(this, this.application.settings.xsrfCookieOptions);
    return extras.xsrfToken;
  }

  /** `<input type="hidden" name="_xsrf" value="…">` for an HTML form. */
  xsrfFormHtml(): string {
    return xsrfFormHtml(this.xsrfToken);
  }

  /**
   * Refuses (403) a request whose `_xsrf` form field or `X-XSRFToken`/`X-CSRFToken` header does
   * not match its `_xsrf` cookie. Runs synchronously before `prepare` when the `xsrfCookies`
   * setting is on (override with an empty body to exempt a handler); call it yourself to opt one
   * in.
   */
  checkXsrfCookie(): void {
    checkXsrf(this);
  }

  /**
   * The current user. Resolved before `prepare` for verbs wrapped with `authenticated`, after
   * `await this.resolveCurrentUser()`, or on first read when {@link getCurrentUser} is
   * synchronous; reading it before an async `getCurrentUser` was resolved throws
   * (`ERR_USER_NOT_RESOLVED`). Assignable.
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

  // ---------------------------------------------------------------------------------------------
  // Machinery (used by the framework; not part of the handler-writing API)

  /** @internal The server is draining: aborts the request's signal, calls {@link onShutdown}. */
  abortForShutdown(): void {
    abortForShutdown(this);
  }
}
