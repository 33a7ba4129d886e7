import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import { ServerResponse, validateHeaderName, validateHeaderValue } from './node-http.js';

// node:http keeps the headers set with `setHeader` in a dictionary-mode object of `[name, value]`
// pairs, one lower-casing and two checks per call, and walks it again when the head is written.
// Handlers set a few headers and read none back: this response keeps them in one flat
// `[name, value, …]` array instead and hands it to `writeHead` in one go (node:http's fast path,
// which checks each header once as it writes it). Any other use of the header API (reading a
// header back excepted) first moves the array into node:http's own store, so everything else
// behaves exactly as on a plain `ServerResponse`.
// The headers every response starts with are not copied when the request starts: the pending
// array is then the caller's shared array of defaults (never changed), followed by the request
// id, and is copied only when a header changes or the head is written. A request held open (a
// long poll) that has set no header of its own keeps no header array at all.

const kPending = Symbol('pendingHeaders');
const kShared = Symbol('sharedDefaults');

type HeaderValue = number | string | readonly string[];

/**
 * The pending "array" of a response whose headers are in node:http's store (moved there for a
 * header operation other than setting one): a marker, never written to, rather than a flag of
 * its own on every response.
 */
const IN_STORE: HeaderValue[] = [];

/** `writeHead` as node:http takes it at run time (the typings' overloads, loosened). */
type WriteHead = (
  this: ServerResponse,
  status: number,
  reason?: unknown,
  headers?: unknown,
) => unknown;
const baseWriteHead = ServerResponse.prototype.writeHead as unknown as WriteHead;
const baseRawHeaderNames = (
  ServerResponse.prototype as unknown as { getRawHeaderNames(this: ServerResponse): string[] }
).getRawHeaderNames;

/** The index of `name` (already lower-cased as `lower`) in a flat header array, or -1. */
function indexOf(pending: HeaderValue[], name: string, lower: string): number {
  for (let i = 0; i < pending.length; i += 2) {
    const n = pending[i] as string;
    if (n === name || (n.length === lower.length && n.toLowerCase() === lower)) return i;
  }
  return -1;
}

/** `ServerResponse` as node:http constructs it: with its options (left out of the typings). */
const BaseResponse = ServerResponse as unknown as new (
  req: IncomingMessage,
  options?: object,
) => ServerResponse;

/**
 * A `ServerResponse` whose headers, while only set through {@link putHeader}, are written with a
 * single `writeHead(status, [name, value, …])`. Reading headers back works as usual.
 */
export class FastResponse extends BaseResponse {
  /**
   * Headers set through `putHeader`, not yet in node:http's store; {@link IN_STORE} once the
   * store is in use.
   */
  declare [kPending]: HeaderValue[] | null;
  /**
   * Not `null`: the pending array is a shared array of defaults, to be copied before any change,
   * and this is the value of the `X-Request-Id` that follows them (`''`: none).
   */
  declare [kShared]: string | null;

  // Assigned here rather than as class fields, which V8 defines through an extra initialiser call.
  constructor(req: IncomingMessage, options?: object) {
    super(req, options);
    this[kPending] = null;
    this[kShared] = null;
  }

  /**
   * @internal Moves the pending headers into node:http's store, for every other header operation.
   * (Once the head is out, the array stays: it is what was sent, and node:http refuses changes.)
   */
  useStore(): void {
    if (this[kPending] === IN_STORE || this.headersSent) return;
    const pending = ownPending(this);
    this[kPending] = IN_STORE;
    if (pending === null) return;
    for (let i = 0; i < pending.length; i += 2) {
      super.setHeader(pending[i] as string, pending[i + 1] as HeaderValue);
    }
  }

  override setHeader(name: string, value: HeaderValue): this {
    this.useStore();
    return super.setHeader(name, value);
  }

  override appendHeader(name: string, value: string | readonly string[]): this {
    this.useStore();
    return super.appendHeader(name, value);
  }

  override setHeaders(headers: Headers | Map<string, HeaderValue>): this {
    this.useStore();
    return super.setHeaders(headers);
  }

  override removeHeader(name: string): void {
    this.useStore();
    super.removeHeader(name);
  }

  override getHeader(name: string): OutgoingHttpHeader | undefined {
    const pending = ownPending(this);
    if (pending === null || pending === IN_STORE) return super.getHeader(name);
    if (typeof name !== 'string') return super.getHeader(name); // node:http's type error
    const i = indexOf(pending, name, name.toLowerCase());
    return i < 0 ? undefined : (pending[i + 1] as OutgoingHttpHeader);
  }

  override hasHeader(name: string): boolean {
    const pending = ownPending(this);
    if (pending === null || pending === IN_STORE) return super.hasHeader(name);
    if (typeof name !== 'string') return super.hasHeader(name);
    return indexOf(pending, name, name.toLowerCase()) >= 0;
  }

  override getHeaderNames(): string[] {
    const pending = ownPending(this);
    if (pending === null || pending === IN_STORE) return super.getHeaderNames();
    const names: string[] = [];
    for (let i = 0; i < pending.length; i += 2) names.push((pending[i] as string).toLowerCase());
    return names;
  }

  /** node:http's `getRawHeaderNames` (missing from its typings). */
  getRawHeaderNames(): string[] {
    const pending = ownPending(this);
    if (pending === null || pending === IN_STORE) return baseRawHeaderNames.call(this);
    const names: string[] = [];
    for (let i = 0; i < pending.length; i += 2) names.push(pending[i] as string);
    return names;
  }

  override getHeaders(): OutgoingHttpHeaders {
    const pending = ownPending(this);
    if (pending === null || pending === IN_STORE) return super.getHeaders();
    const headers: OutgoingHttpHeaders = Object.create(null);
    for (let i = 0; i < pending.length; i += 2) {
      headers[(pending[i] as string).toLowerCase()] = pending[i + 1] as OutgoingHttpHeader;
    }
    return headers;
  }
}

/**
 * `writeHead` for {@link FastResponse} (and the class `HttpServer` derives from it): node:http's
 * implicit `writeHead(status)` hands over the pending array as it is; any other call moves it into
 * node:http's store first.
 */
export const fastWriteHead = function writeHead(
  this: FastResponse,
  status: number,
  reason?: unknown,
  headers?: unknown,
) {
  const pending = ownPending(this);
  if (pending !== null && pending !== IN_STORE && reason === undefined && headers === undefined) {
    return baseWriteHead.call(this, status, pending);
  }
  this.useStore();
  return baseWriteHead.call(this, status, reason, headers);
};
FastResponse.prototype.writeHead = fastWriteHead as unknown as FastResponse['writeHead'];

/**
 * Sets a header checked already (or a constant of the framework's): on a {@link FastResponse} that
 * still collects its headers, into the pending array (replacing a header of the same name in its
 * place, as `setHeader` does); otherwise with `setHeader`.
 */
export function putHeader(res: ServerResponse, name: string, value: string): void {
  if (!(res instanceof FastResponse) || res[kPending] === IN_STORE || res.headersSent) {
    res.setHeader(name, value);
    return;
  }
  const pending = ownPending(res);
  if (pending === null) {
    res[kPending] = [name, value];
    return;
  }
  const i = indexOf(pending, name, name.toLowerCase());
  if (i < 0) {
    pending.push(name, value);
  } else {
    pending[i] = name;
    pending[i + 1] = value;
  }
}

// What node:http's `validateHeaderName` and `validateHeaderValue` check, as one regular expression
// each (node:http's own functions are wrapped to trim their errors' stacks, and each is a call):
// a name is an HTTP token, a value holds no control character but HTAB.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Whether node:http takes this header as it is (when not, its validators say why). */
export function isValidHeader(name: string, value: string): boolean {
  return typeof name === 'string' && TOKEN.test(name) && !INVALID_VALUE.test(value);
}

/** {@link putHeader} for a header from user code: checked as `setHeader` checks it. */
export function putCheckedHeader(res: ServerResponse, name: string, value: string): void {
  if (!isValidHeader(name, value)) {
    validateHeaderName(name); // node:http's own error, as `setHeader` would throw
    validateHeaderValue(name, value);
  }
  putHeader(res, name, value);
}

/**
 * The pending array of `res`, its own: a shared array of defaults is copied first (with the
 * request id that follows it).
 */
function ownPending(res: FastResponse): HeaderValue[] | null {
  const id = res[kShared];
  if (id === null) return res[kPending];
  res[kShared] = null;
  const pending = (res[kPending] as HeaderValue[]).slice();
  if (id !== '') pending.push(REQUEST_ID, id);
  res[kPending] = pending;
  return pending;
}

const REQUEST_ID = 'X-Request-Id';

/**
 * Starts a response's headers with `defaults` (a flat `[name, value, …]` array, which must not
 * change afterwards: it is shared, not copied, until a header of this response changes) and then
 * `X-Request-Id: requestId` unless `requestId` is `''` (checked already), when no header has
 * been set yet; otherwise sets each of them.
 */
export function putDefaultHeaders(
  res: ServerResponse,
  defaults: readonly string[],
  requestId = '',
): void {
  if (res instanceof FastResponse && res[kPending] === null) {
    res[kPending] = defaults as string[];
    res[kShared] = requestId;
    return;
  }
  for (let i = 0; i < defaults.length; i += 2) {
    putHeader(res, defaults[i] as string, defaults[i + 1] as string);
  }
  if (requestId !== '') putHeader(res, REQUEST_ID, requestId);
}
