import { STATUS_CODES } from './node-http.js';

/**
 * The stable `code` of every error the web layer throws that a caller may catch and tell apart,
 * with what it means. Messages may be reworded; codes are kept. Errors that only bad settings or
 * bad route tables throw (when the application is built) have no code: they are not caught, they
 * are fixed.
 */
export const ERROR_CODES = {
  /** `RequestAborted`: the client went away, or the server is draining (`kind` says which). */
  ERR_REQUEST_ABORTED: 'the request was aborted',
  /** `WebSocketClosedError`: a message or ping to a WebSocket that is closed (or not open yet). */
  ERR_WEBSOCKET_CLOSED: 'the WebSocket is closed',
  /** `write()`/`flush()` on a `WebSocketHandler` after the upgrade: use `writeMessage()`. */
  ERR_WEBSOCKET_UPGRADED: 'the HTTP response is over: the connection is a WebSocket',
  /** `write()`, `flush()` or `finish()` after `finish()`. */
  ERR_RESPONSE_FINISHED: 'the response is already finished',
  /** `clear()` (or an error page) once the headers went out. */
  ERR_HEADERS_SENT: 'the headers were already sent',
  /** A header name or value, or a reason phrase, contains CR, LF or NUL (`TypeError`). */
  ERR_HEADER_INJECTION: 'CR, LF or NUL in a header',
  /** A status out of range for `setStatus` or `redirect` (`RangeError`). */
  ERR_INVALID_STATUS: 'invalid HTTP status',
  /** A value given to `write`, `writeMessage` or an event's `data` that JSON cannot encode. */
  ERR_NOT_JSON_ENCODABLE: 'JSON cannot encode the value',
  /** A cookie name, value or attribute that cannot be set (`TypeError`). */
  ERR_INVALID_COOKIE: 'the cookie cannot be set',
  /** Signed cookies used without the `cookieSecret` setting. */
  ERR_NO_COOKIE_SECRET: 'signed cookies need the cookieSecret setting',
  /** `currentUser` read before an async `getCurrentUser` was resolved. */
  ERR_USER_NOT_RESOLVED: 'await resolveCurrentUser() first',
  /** `setMaxBodyBytes()` after the body was read (or given a bad limit: `RangeError`). */
  ERR_BODY_LIMIT: 'the body limit cannot be set now, or to that',
  /** `HttpError` 413: the request body (or a multipart field or file) is larger than the limit. */
  ERR_BODY_TOO_LARGE: 'request body too large',
  /** `HttpError` 415: the body's type, charset or encoding is not the one expected. */
  ERR_UNSUPPORTED_MEDIA_TYPE: 'unsupported body type, charset or encoding',
  /** `HttpError` 400: the body is not valid JSON, or is nested too deep, or empty. */
  ERR_INVALID_JSON: 'invalid JSON body',
  /** `HttpError` 400: a text body (JSON, a form) is not valid UTF-8. */
  ERR_INVALID_UTF8: 'the body is not valid UTF-8',
  /** `HttpError` 400: a query string or form with bad percent-encoding or too many parameters. */
  ERR_INVALID_ARGUMENTS: 'malformed arguments',
  /** `HttpError` 400: a malformed `multipart/form-data` body, or one over a count limit. */
  ERR_INVALID_MULTIPART: 'malformed multipart body',
  /** `HttpError` 400: a required argument is missing (`getArgument` without a default). */
  ERR_MISSING_ARGUMENT: 'missing argument',
  /** A server-sent event with CR or LF in its type or id, or a bad `retry`. */
  ERR_INVALID_EVENT: 'the event cannot be sent as it is',
  /** `send()` or `comment()` on an event stream after `close()`. */
  ERR_EVENT_STREAM_CLOSED: 'the event stream is closed',
  /** `reverseUrl` for a name no route has. */
  ERR_UNKNOWN_ROUTE: 'no route has that name',
  /** `reverseUrl` with the wrong number of arguments, or for a pattern too complex to reverse. */
  ERR_ROUTE_NOT_REVERSIBLE: 'the route cannot be built from these arguments',
  /** `staticUrl` without the `staticPath` setting. */
  ERR_NO_STATIC_PATH: 'staticUrl needs the staticPath setting',
  /** A handler with `static streamRequestBody = true` and no `dataReceived`. */
  ERR_NO_DATA_RECEIVED: 'a streaming handler must define dataReceived',
  /** `selectSubprotocol` chose a subprotocol the client did not offer. */
  ERR_SUBPROTOCOL_NOT_OFFERED: 'the chosen subprotocol was not offered',
  /** `input()` or `reply()` was given a schema the running verb does not declare. */
  ERR_SCHEMA_MISMATCH: 'the schema given is not the one the verb declares',
} as const;

/** One of the {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error carrying one of the {@link ERROR_CODES} as `code`. */
export type CodedError<E extends Error = Error> = E & { readonly code: ErrorCode };

/** @internal Gives `error` its stable code and returns it, for `throw withCode(new Error(…), …)`. */
export function withCode<E extends Error>(error: E, code: ErrorCode): CodedError<E> {
  (error as E & { code: ErrorCode }).code = code;
  return error as CodedError<E>;
}

/** Options for {@link HttpError}. */
export interface HttpErrorOptions {
  /** Extra response headers, e.g. `Allow` for 405 or `Retry-After` for 503. */
  headers?: Readonly<Record<string, string>>;
  /** RFC 9457 `type` URI; `about:blank` when omitted. */
  type?: string;
  /** RFC 9457 `title`; the status's reason phrase when omitted. */
  title?: string;
  /** Extension members added to the problem details body (must be safe to show to clients). */
  extensions?: Readonly<Record<string, unknown>>;
  /** The underlying error, kept for logs; never sent to clients. */
  cause?: unknown;
  /** A stable code for callers that catch it (one of {@link ERROR_CODES}); never sent to clients. */
  code?: ErrorCode;
}

/**
 * Throw from a handler (or its `prepare`) to answer with an HTTP error status.
 *
 * `detail` is meant for the client and appears in the problem+json body; put anything internal in
 * `cause`, which only reaches the logs.
 *
 * @example
 * throw new HttpError(404, `no user ${id}`);
 */
export class HttpError extends Error {
  readonly status: number;
  readonly detail: string | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly type: string;
  readonly title: string;
  readonly extensions: Readonly<Record<string, unknown>> | undefined;
  /** A stable code for callers that catch it, when the web layer gave one (`ERR_BODY_TOO_LARGE`…). */
  readonly code: ErrorCode | undefined;

  constructor(status: number, detail?: string, options: HttpErrorOptions = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`HttpError status must be an integer in 400..599, got ${status}`);
    }
    const title = options.title ?? statusTitle(status);
    super(detail === undefined ? `${status} ${title}` : `${status} ${title}: ${detail}`, {
      cause: options.cause,
    });
    this.name = 'HttpError';
    this.status = status;
    this.detail = detail;
    this.headers = options.headers;
    this.type = options.type ?? 'about:blank';
    this.title = title;
    this.extensions = options.extensions;
    this.code = options.code;
  }
}

/**
 * Throw to end the request without an error, like Tornado's `Finish`: whatever was written so far is
 * sent (with `finish()` called if it has not been yet).
 */
export class Finish extends Error {
  constructor() {
    super('Finish');
    this.name = 'Finish';
  }
}

/** Why a request's `AbortSignal` fired. */
export type AbortCause = 'disconnect' | 'shutdown';

/**
 * The reason carried by a request's `AbortSignal`: the client went away (`disconnect`) or the
 * server began draining (`shutdown`).
 */
export class RequestAborted extends Error {
  readonly code = 'ERR_REQUEST_ABORTED';
  readonly kind: AbortCause;
  constructor(kind: AbortCause) {
    super(kind === 'disconnect' ? 'client disconnected' : 'server shutting down');
    this.name = 'RequestAborted';
    this.kind = kind;
  }
}

/** An RFC 9457 problem details object. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [extension: string]: unknown;
}

/** The media type of problem details bodies. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The reason phrase for a status code (`Unknown` for codes Node does not name). */
export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

/**
 * Builds the problem details for an error, showing internal detail only when `debug` is on.
 * Extension members never override the standard members.
 */
export function problemFor(status: number, error: unknown, debug: boolean): ProblemDetails {
  if (error instanceof HttpError) {
    const body: ProblemDetails = {
      ...error.extensions,
      type: error.type,
      title: error.title,
      status,
    };
    if (error.detail !== undefined) body.detail = error.detail;
    if (debug && error.cause instanceof Error) body.stack = error.cause.stack;
    return body;
  }
  const body: ProblemDetails = { type: 'about:blank', title: statusTitle(status), status };
  if (debug && error instanceof Error) {
    body.detail = error.message;
    body.stack = error.stack;
  }
  return body;
}

/** Raised (as a rejection) by `WebSocketHandler.writeMessage` once the connection is closed. */
export class WebSocketClosedError extends Error {
  override readonly name = 'WebSocketClosedError';
  readonly code = 'ERR_WEBSOCKET_CLOSED';
  constructor(message = 'the WebSocket is closed', options?: ErrorOptions) {
    super(message, options);
  }
}
