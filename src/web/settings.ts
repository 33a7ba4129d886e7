import type { IncomingMessage } from 'node:http';
import {
  type CompressionOptions,
  type ResolvedCompression,
  resolveCompression,
} from './compression.js';
import { type CookieOptions, serializeCookie } from './cookies.js';
import { type CorsOptions, type ResolvedCors, resolveCors } from './cors.js';
import { type MultipartLimits, resolveMultipartLimits } from './multipart.js';
import { type CookieSecret, type SigningKeys, signingKeys } from './signed-cookies.js';
import { XSRF_COOKIE } from './xsrf.js';

/**
 * The settings handlers read (every one optional); `ApplicationSettings` adds the application's
 * own (logger, default handler).
 */
export interface HandlerSettings {
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
  /**
   * Makes the request id of each request, sent as `X-Request-Id` and given to `handler.log`.
   * Called synchronously as each handler is created. Default: none.
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
  /**
   * The `WWW-Authenticate` challenge every 401 carries (RFC 9110 §11.6.1 requires one) unless the
   * error or the handler's `authChallenge` gives its own. Default `Bearer` (`Basic` would make
   * browsers show a password dialog).
   */
  authChallenge?: string;
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
  /** The directory whose files `Application.staticUrl` builds versioned URLs for. */
  staticPath?: string;
  /** The URL prefix `Application.staticUrl` puts before a file's path. Default `/static/`. */
  staticUrlPrefix?: string;
  /** Cross-origin requests from browsers (CORS): allowed origins and the rest. Default: off. */
  cors?: CorsOptions;
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
  readonly authChallenge: string;
  readonly multipart: Readonly<Required<MultipartLimits>>;
  /** Compression options, or `null` when compression is off. */
  readonly compress: ResolvedCompression | null;
  readonly etag: boolean;
  readonly staticPath: string | undefined;
  readonly staticUrlPrefix: string;
  /** CORS, or `null` when off. */
  readonly cors: ResolvedCors | null;
}

/**
 * Validates the settings and fills in the defaults. Bad values throw (`RangeError`, `TypeError`)
 * here, when the application is built, rather than on the first request.
 */
export function resolveSettings(settings: HandlerSettings): ResolvedSettings {
  const maxBodyBytes = settings.maxBodyBytes ?? 1024 * 1024;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new RangeError(`maxBodyBytes must be a non-negative integer, got ${maxBodyBytes}`);
  }
  const resolved: ResolvedSettings = Object.freeze({
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
    authChallenge: checkChallenge(settings.authChallenge ?? 'Bearer'),
    multipart: resolveMultipartLimits(settings.multipart),
    compress: resolveCompression(settings.compress),
    etag: settings.etag ?? false,
    staticPath: settings.staticPath,
    staticUrlPrefix: settings.staticUrlPrefix ?? '/static/',
    cors: resolveCors(settings.cors),
  });
  serializeCookie(XSRF_COOKIE, '', resolved.xsrfCookieOptions); // bad options fail here
  return resolved;
}

function checkChallenge(challenge: string): string {
  // A scheme token first (RFC 9110 §11.1), no line breaks: the value goes into a header.
  if (typeof challenge !== 'string' || !/^[!#$%&'*+.^_`|~\w-]+(?: [^\r\n\0]*)?$/.test(challenge)) {
    throw new TypeError(
      `authChallenge must be a scheme like 'Bearer', got ${JSON.stringify(challenge)}`,
    );
  }
  return challenge;
}
