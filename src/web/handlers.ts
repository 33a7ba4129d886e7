import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './errors.js';
import { RequestHandler } from './handler.js';

/** Options of {@link RedirectHandler}. */
export interface RedirectOptions {
  /**
   * Where to send the client. `{name}` is replaced by the path parameter of that name and `{0}`,
   * `{1}`… by positional arguments (Tornado's `str.format` style), each percent-encoded except
   * for `/` (so a `{path*}` capture keeps its segments).
   */
  readonly url: string;
  /** 301 instead of 302. Ignored when `status` is given. Default `false`. */
  readonly permanent?: boolean;
  /** The status, 300–399 (307 and 308 keep the method and body of the request). */
  readonly status?: number;
  /** Append the request's query string to the target. Default `true` (as Tornado). */
  readonly preserveQuery?: boolean;
}

const PLACEHOLDER = /\{([A-Za-z_$][\w$]*|\d+)\}/g;

function encodePlaceholder(value: string): string {
  return encodeURIComponent(value).replace(/%2F/g, '/');
}

/**
 * Redirects every request to a URL built from the route's parameters, after Tornado's
 * `RedirectHandler`. Answers GET, HEAD, POST, PUT, PATCH and DELETE.
 *
 * @example
 * url('/docs/{page}', RedirectHandler, { url: '/manual/{page}', permanent: true })
 */
export class RedirectHandler extends RequestHandler<RedirectOptions> {
  /** The body of a redirected request is never looked at. */
  static readonly readsBody = false;
  private target = '';
  private statusCode = 302;
  private preserveQuery = true;

  override initialize(options: RedirectOptions): void {
    if (typeof options?.url !== 'string') throw new TypeError('RedirectHandler needs a url');
    const status = options.status ?? (options.permanent ? 301 : 302);
    if (!Number.isInteger(status) || status < 300 || status > 399) {
      throw new RangeError(`RedirectHandler: bad redirect status ${status}`);
    }
    this.target = options.url;
    this.statusCode = status;
    this.preserveQuery = options.preserveQuery ?? true;
  }

  override get(...args: string[]): void {
    const params = this.pathParams;
    let location = this.target.replace(PLACEHOLDER, (whole, key: string) => {
      const value = /^\d+$/.test(key) ? args[Number(key)] : params[key];
      if (value === undefined) throw new Error(`RedirectHandler: no parameter for ${whole}`);
      return encodePlaceholder(value);
    });
    if (this.preserveQuery && this.queryString !== '') {
      location += (location.includes('?') ? '&' : '?') + this.queryString;
    }
    this.redirect(location, this.statusCode);
  }

  override post(...args: string[]): void {
    this.get(...args);
  }

  override put(...args: string[]): void {
    this.get(...args);
  }

  override patch(...args: string[]): void {
    this.get(...args);
  }

  override delete(...args: string[]): void {
    this.get(...args);
  }
}

/** Options of {@link ErrorHandler}. */
export interface ErrorHandlerOptions {
  /** The status every request gets, 400–599. */
  readonly status: number;
  /** The problem details' `detail`. */
  readonly detail?: string;
}

/**
 * Answers every request, whatever its method, with one error status (as problem details), after
 * Tornado's `ErrorHandler`: to retire a route with 410, say. The body is never read.
 *
 * @example
 * url('/old-api/{rest*}', ErrorHandler, { status: 410 })
 */
export class ErrorHandler extends RequestHandler<ErrorHandlerOptions> {
  override initialize(options: ErrorHandlerOptions): void {
    // Thrown before the method check, so PROPFIND and friends get the status too, not a 405.
    throw new HttpError(options.status, options.detail);
  }
}

/** A node:http request listener: `(request, response) => void`. */
export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void;

/** Options of {@link FallbackHandler}. */
export interface FallbackOptions {
  /** The listener the request is handed to: another framework's app, a proxy, … */
  readonly fallback: NodeListener;
}

/**
 * Hands the request to any node:http listener (another framework's app, say), after Tornado's
 * `FallbackHandler`. The handler runs `initialize` and `prepare` (override `prepare` to check
 * something first, then call `super.prepare()`), then gives the raw request and response away and
 * never touches them again: no default headers (other than `X-Request-Id`), no body reading (the
 * class sets `static readsBody = false`, so the listener gets the body unread), no `finish`.
 * The seven methods handlers know are handed over; any other method is a 405.
 *
 * @example
 * url('/legacy/{rest*}', FallbackHandler, { fallback: expressApp })
 */
export class FallbackHandler extends RequestHandler<FallbackOptions> {
  static readonly readsBody = false;
  private fallback: NodeListener | null = null;

  override initialize(options: FallbackOptions): void {
    if (typeof options?.fallback !== 'function') {
      throw new TypeError('FallbackHandler needs a fallback listener');
    }
    this.fallback = options.fallback;
  }

  override prepare(): void {
    const res = this.response;
    const requestId = res.getHeader('x-request-id');
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    if (requestId !== undefined) res.setHeader('X-Request-Id', requestId);
    this.handOver();
    const failed = (error: unknown): void => {
      // The listener's own failure: this handler can no longer render it, only end the response.
      this.logException(error);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      } else {
        res.destroy();
      }
    };
    try {
      const result: unknown = (this.fallback as NodeListener)(this.request, res);
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  override get(): void {}
  override head(): void {}
  override post(): void {}
  override put(): void {}
  override patch(): void {}
  override delete(): void {}
  override options(): void {}
}
