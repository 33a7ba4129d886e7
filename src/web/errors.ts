import { STATUS_CODES } from 'node:http';

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
  constructor(message = 'the WebSocket is closed', options?: ErrorOptions) {
    super(message, options);
  }
}
