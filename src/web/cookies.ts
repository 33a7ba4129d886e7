import { withCode } from './errors.js';

/** The `SameSite` attribute of a cookie. */
export type SameSite = 'Strict' | 'Lax' | 'None';

/** Attributes of a cookie set with `setCookie`. */
export interface CookieOptions {
  /** `Path`; default `/`. */
  path?: string;
  /** `Domain`; default: none (the cookie goes back to this host only). */
  domain?: string;
  /** `Expires`; default: none (a session cookie, unless `maxAge` is given). */
  expires?: Date;
  /** `Max-Age` in whole seconds (`0` or less: delete now); wins over `expires` in browsers. */
  maxAge?: number;
  /** `HttpOnly`: hidden from scripts in the page. */
  httpOnly?: boolean;
  /** `Secure`: sent over HTTPS only. */
  secure?: boolean;
  /** `SameSite`; `None` requires `secure`. */
  sameSite?: SameSite;
}

/** Attributes that say which cookie `clearCookie` deletes: they must match the ones it was set with. */
export type ClearCookieOptions = Omit<CookieOptions, 'expires' | 'maxAge'>;

// RFC 6265 §4.1.1: a name is an RFC 7230 token; a value is cookie-octets (no CTLs, whitespace,
// DQUOTE, comma, semicolon or backslash), optionally in double quotes.
const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
const PATH = /^[\x20-\x3A\x3C-\x7E]*$/;
const DOMAIN =
  /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT';

function invalidCookie(message: string): TypeError {
  return withCode(new TypeError(message), 'ERR_INVALID_COOKIE');
}

/** Whether `name` can be a cookie name (an RFC 7230 token), so it can be set or cleared. */
export function isCookieName(name: string): boolean {
  return NAME.test(name);
}

/** Parsed request cookies: name → value, with no prototype. */
export type Cookies = Readonly<Record<string, string>>;

/**
 * What the cookie add-ons (signing, XSRF) read and write: a request's cookies and a response's
 * `Set-Cookie` headers. A `RequestHandler` is one.
 */
export interface CookieJar {
  /** The value of a request cookie, as sent, or `undefined`. */
  getCookie(name: string): string | undefined;
  /** Adds a `Set-Cookie` header. */
  setCookie(name: string, value: string, options?: CookieOptions): unknown;
}

/**
 * Parses a `Cookie` request header leniently: a pair without `=`, with an empty name, or otherwise
 * malformed is skipped, never an error; surrounding double quotes are removed from a value. When
 * a name repeats, the first value wins (browsers send the cookie with the most specific path
 * first). Values are returned as sent, not percent-decoded.
 */
export function parseCookieHeader(header: string | undefined): Cookies {
  const cookies: Record<string, string> = Object.create(null);
  if (header === undefined || header === '') return cookies;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq > start && eq < end) {
      const name = header.slice(start, eq).trim();
      if (name !== '' && !(name in cookies)) {
        let value = header.slice(eq + 1, end).trim();
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
          value = value.slice(1, -1);
        }
        cookies[name] = value;
      }
    }
    start = end + 1;
  }
  return cookies;
}

/**
 * Builds a `Set-Cookie` header value. Throws a `TypeError` for a name that is not a token, a
 * value that is not made of cookie-octets (CR, LF, `;`, `,`, spaces, quotes, backslashes and
 * non-ASCII are refused: encode such text first, e.g. with `encodeURIComponent`), a bad path or
 * domain, `SameSite=None` without `Secure`, or a `__Secure-`/`__Host-` cookie whose attributes
 * browsers would reject.
 */
export function serializeCookie(name: string, value: string, options: CookieOptions = {}): string {
  if (!NAME.test(name)) throw invalidCookie(`invalid cookie name ${JSON.stringify(name)}`);
  if (!VALUE.test(value)) {
    throw invalidCookie(`invalid value for cookie ${name}: ${JSON.stringify(value)}`);
  }
  const path = options.path ?? '/';
  if (!PATH.test(path)) throw invalidCookie(`invalid cookie path ${JSON.stringify(path)}`);
  let header = `${name}=${value}; Path=${path}`;
  const { domain, expires, maxAge, sameSite } = options;
  if (domain !== undefined) {
    if (!DOMAIN.test(domain))
      throw invalidCookie(`invalid cookie domain ${JSON.stringify(domain)}`);
    header += `; Domain=${domain}`;
  }
  if (expires !== undefined) {
    if (!(expires instanceof Date) || Number.isNaN(expires.getTime())) {
      throw invalidCookie(`invalid expiry date for cookie ${name}`);
    }
    header += `; Expires=${expires.toUTCString()}`;
  }
  if (maxAge !== undefined) {
    if (!Number.isSafeInteger(maxAge)) {
      throw invalidCookie(`cookie maxAge must be an integer number of seconds, got ${maxAge}`);
    }
    header += `; Max-Age=${maxAge}`;
  }
  if (options.httpOnly === true) header += '; HttpOnly';
  if (options.secure === true) header += '; Secure';
  if (sameSite !== undefined) {
    if (sameSite !== 'Strict' && sameSite !== 'Lax' && sameSite !== 'None') {
      throw invalidCookie(`invalid SameSite ${JSON.stringify(sameSite)}`);
    }
    if (sameSite === 'None' && options.secure !== true) {
      throw invalidCookie(`cookie ${name}: SameSite=None requires secure: true`);
    }
    header += `; SameSite=${sameSite}`;
  }
  if (name.startsWith('__Secure-') || name.startsWith('__Host-')) {
    if (options.secure !== true) throw invalidCookie(`cookie ${name} requires secure: true`);
    if (name.startsWith('__Host-') && (domain !== undefined || path !== '/')) {
      throw invalidCookie(`cookie ${name} must have path '/' and no domain`);
    }
  }
  return header;
}

/** A `Set-Cookie` header value that deletes the cookie `name` (an empty value, expired). */
export function serializeExpiredCookie(name: string, options: ClearCookieOptions = {}): string {
  return `${serializeCookie(name, '', options)}; Expires=${EPOCH}; Max-Age=0`;
}
