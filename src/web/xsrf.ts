import type { IncomingHttpHeaders } from 'node:http';
import { nodeCrypto } from './builtins.js';
import type { CookieJar, CookieOptions } from './cookies.js';
import { HttpError } from './errors.js';

/** The cookie (and form field) that carries the XSRF token. */
export const XSRF_COOKIE = '_xsrf';

/** Methods that must not change state, so they are never checked. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const TOKEN_BYTES = 16;
const MASKED = /^2\|([0-9a-f]{32})\|([0-9a-f]{32})\|(\d{1,12})$/;

/** The secret part of an XSRF token and when it was made (seconds since the epoch). */
interface RawToken {
  readonly token: Buffer;
  readonly timestamp: number;
}

/** What {@link checkXsrf} reads: the request's method, headers, form body and cookies. */
export interface XsrfRequest extends CookieJar {
  readonly method: string;
  readonly request: { readonly headers: IncomingHttpHeaders };
  /** Every value of a form body argument (urlencoded or multipart). */
  getBodyArguments(name: string): string[];
}

/** Whether a request with this method is checked when the `xsrfCookies` setting is on. */
export function needsXsrfCheck(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/**
 * Masks a token with a fresh random pad: `2|mask|token XOR mask|timestamp` (hex), Tornado's
 * version 2 format. Every page gets a different string for the same token, so the token cannot
 * be recovered by compression side channels on responses that reflect it (BREACH).
 */
function mask(raw: RawToken): string {
  const pad = nodeCrypto().randomBytes(TOKEN_BYTES);
  const masked = Buffer.alloc(TOKEN_BYTES);
  for (let i = 0; i < TOKEN_BYTES; i++) masked[i] = (raw.token[i] as number) ^ (pad[i] as number);
  return `2|${pad.toString('hex')}|${masked.toString('hex')}|${raw.timestamp}`;
}

/** Recovers the token from a masked value, or `undefined` when the value is malformed. */
function unmask(value: string | undefined): RawToken | undefined {
  if (value === undefined) return undefined;
  const match = MASKED.exec(value);
  if (match === null) return undefined;
  const pad = Buffer.from(match[1] as string, 'hex');
  const token = Buffer.from(match[2] as string, 'hex');
  for (let i = 0; i < TOKEN_BYTES; i++) token[i] = (token[i] as number) ^ (pad[i] as number);
  return { token, timestamp: Number(match[3]) };
}

/**
 * The masked XSRF token for this request. The token comes from the request's `_xsrf` cookie;
 * when there is no valid one, a new token is made and the cookie is set (with the application's
 * `xsrfCookieOptions`; not `HttpOnly`, since scripts read it to send the `X-XSRFToken` header).
 */
export function issueXsrfToken(jar: CookieJar, cookieOptions: Readonly<CookieOptions>): string {
  const existing = unmask(jar.getCookie(XSRF_COOKIE));
  if (existing !== undefined) return mask(existing);
  const fresh = {
    token: nodeCrypto().randomBytes(TOKEN_BYTES),
    timestamp: Math.floor(Date.now() / 1000),
  };
  const value = mask(fresh);
  jar.setCookie(XSRF_COOKIE, value, { path: '/', ...cookieOptions });
  return value;
}

/**
 * Checks that the request carries the same XSRF token as its `_xsrf` cookie, in the `_xsrf`
 * field of a form body (urlencoded or multipart) or in an `X-XSRFToken` / `X-CSRFToken` header.
 * Throws a 403 {@link HttpError} otherwise. Tokens in the query string are not accepted: URLs
 * end up in logs and `Referer` headers.
 */
export function checkXsrf(handler: XsrfRequest): void {
  const headers = handler.request.headers;
  const header = headers['x-xsrftoken'] ?? headers['x-csrftoken'];
  const submitted =
    handler.getBodyArguments(XSRF_COOKIE).at(-1) ??
    (typeof header === 'string' ? header.trim() : undefined);
  if (submitted === undefined || submitted === '') {
    throw new HttpError(403, `'${XSRF_COOKIE}' argument missing from ${handler.method}`);
  }
  const given = unmask(submitted);
  if (given === undefined) throw new HttpError(403, `'${XSRF_COOKIE}' argument has invalid format`);
  const expected = unmask(handler.getCookie(XSRF_COOKIE));
  if (expected === undefined)
    throw new HttpError(403, `'${XSRF_COOKIE}' cookie missing or invalid`);
  if (!nodeCrypto().timingSafeEqual(given.token, expected.token)) {
    throw new HttpError(403, `XSRF cookie does not match ${handler.method} argument`);
  }
}

/** A hidden form field carrying the token, for HTML forms posted back to this application. */
export function xsrfFormHtml(token: string): string {
  // The token is hex, digits and `|`: nothing in it needs HTML escaping.
  return `<input type="hidden" name="${XSRF_COOKIE}" value="${token}">`;
}
