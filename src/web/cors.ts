import type { IncomingMessage, ServerResponse } from 'node:http';

/** Which origins may call the API from a browser. */
export type CorsOrigin = '*' | string | readonly string[] | RegExp | ((origin: string) => boolean);

/** The `cors` application setting: cross-origin requests from browsers (off by default). */
export interface CorsOptions {
  /**
   * Allowed origins: `'*'` (any, without credentials), one origin (`https://app.example`), a
   * list, a pattern matched against the whole `Origin` value, or a function.
   */
  readonly origin: CorsOrigin;
  /** Methods a preflight allows. Default GET, HEAD, PUT, PATCH, POST, DELETE. */
  readonly methods?: readonly string[];
  /** Request headers a preflight allows. Default: those the preflight asks for. */
  readonly allowedHeaders?: readonly string[];
  /** Response headers the page may read beyond the simple ones. Default none. */
  readonly exposedHeaders?: readonly string[];
  /** Allow cookies and `Authorization` (`Access-Control-Allow-Credentials`). Default `false`. */
  readonly credentials?: boolean;
  /** How long (seconds) a browser may cache a preflight's answer. Default: not sent. */
  readonly maxAge?: number;
}

/** {@link CorsOptions} checked, with defaults, ready for each request. */
export interface ResolvedCors {
  readonly allows: (origin: string) => boolean;
  readonly any: boolean;
  readonly methods: string;
  readonly methodSet: ReadonlySet<string>;
  readonly allowedHeaders: string | null;
  readonly allowedHeaderSet: ReadonlySet<string> | null;
  readonly exposedHeaders: string | null;
  readonly credentials: boolean;
  readonly maxAge: string | null;
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'];

function matcher(origin: CorsOrigin): (origin: string) => boolean {
  if (typeof origin === 'function') return origin;
  if (origin instanceof RegExp) {
    const anchored = new RegExp(`^(?:${origin.source})$`, origin.flags.replace(/[gy]/g, ''));
    return (value) => anchored.test(value);
  }
  if (origin === '*') return () => true;
  const allowed = new Set(typeof origin === 'string' ? [origin] : origin);
  return (value) => allowed.has(value);
}

/** Checks the setting when the application is built; `null`: CORS is off. */
export function resolveCors(options: CorsOptions | undefined): ResolvedCors | null {
  if (options === undefined) return null;
  const any = options.origin === '*';
  const credentials = options.credentials ?? false;
  if (any && credentials) {
    throw new RangeError("cors: origin '*' cannot be combined with credentials; list the origins");
  }
  const maxAge = options.maxAge;
  if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || maxAge < 0)) {
    throw new RangeError(`cors: maxAge must be a non-negative integer, got ${maxAge}`);
  }
  const methods = (options.methods ?? DEFAULT_METHODS).map((m) => m.toUpperCase());
  const headers = options.allowedHeaders?.map((h) => h.toLowerCase()) ?? null;
  return {
    allows: matcher(options.origin),
    any,
    methods: methods.join(', '),
    methodSet: new Set(methods),
    allowedHeaders: headers === null ? null : headers.join(', '),
    allowedHeaderSet: headers === null ? null : new Set(headers),
    exposedHeaders: options.exposedHeaders?.length ? options.exposedHeaders.join(', ') : null,
    credentials,
    maxAge: maxAge === undefined ? null : String(maxAge),
  };
}

function addVary(res: ServerResponse, name: string): void {
  const current = res.getHeader('Vary');
  const text = Array.isArray(current) ? current.join(', ') : String(current ?? '');
  if (text.trim() === '') res.setHeader('Vary', name);
  else if (
    !text
      .toLowerCase()
      .split(/\s*,\s*/)
      .includes(name.toLowerCase())
  ) {
    res.setHeader('Vary', `${text}, ${name}`);
  }
}

/** Sets the origin headers an allowed origin gets; a disallowed one gets none. */
function allowOrigin(req: IncomingMessage, res: ServerResponse, cors: ResolvedCors): boolean {
  const origin = req.headers.origin;
  if (!cors.any) addVary(res, 'Origin');
  if (origin === undefined || !cors.allows(origin)) return false;
  res.setHeader('Access-Control-Allow-Origin', cors.any ? '*' : origin);
  if (cors.credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
  return true;
}

/** The CORS headers of an ordinary (not preflight) response; runs with the default headers. */
export function applyCors(req: IncomingMessage, res: ServerResponse, cors: ResolvedCors): void {
  if (req.headers.origin === undefined) return;
  if (allowOrigin(req, res, cors) && cors.exposedHeaders !== null) {
    res.setHeader('Access-Control-Expose-Headers', cors.exposedHeaders);
  }
}

/** Whether `req` is a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`). */
export function isPreflight(req: IncomingMessage): boolean {
  return (
    req.method === 'OPTIONS' &&
    req.headers.origin !== undefined &&
    req.headers['access-control-request-method'] !== undefined
  );
}

/**
 * Answers a preflight (204), before any handler code runs: the allow headers when the origin, the
 * method and the headers asked for are allowed; none of them otherwise (the browser then refuses).
 */
export function answerPreflight(
  req: IncomingMessage,
  res: ServerResponse,
  cors: ResolvedCors,
): void {
  res.statusCode = 204;
  res.setHeader('X-Content-Type-Options', 'nosniff');
  addVary(res, 'Access-Control-Request-Method');
  addVary(res, 'Access-Control-Request-Headers');
  const method = String(req.headers['access-control-request-method']).toUpperCase();
  const asked = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const headersOk =
    cors.allowedHeaderSet === null || asked.every((h) => cors.allowedHeaderSet?.has(h));
  if (cors.methodSet.has(method) && headersOk && allowOrigin(req, res, cors)) {
    res.setHeader('Access-Control-Allow-Methods', cors.methods);
    const headers = cors.allowedHeaders ?? asked.join(', ');
    if (headers !== '') res.setHeader('Access-Control-Allow-Headers', headers);
    if (cors.maxAge !== null) res.setHeader('Access-Control-Max-Age', cors.maxAge);
  } else if (!cors.any) {
    addVary(res, 'Origin');
  }
  res.setHeader('Content-Length', '0');
  res.end();
}
