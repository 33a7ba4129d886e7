import { mustCloseForUnreadBody } from './body.js';
import { CompressedStream, compressBody } from './compression.js';
import { applyCors } from './cors.js';
import { HttpError, RequestAborted, withCode } from './errors.js';
import { applyAutoEtag } from './etag.js';
import {
  type Chunk,
  extrasOf,
  type HandlerCore,
  kAborted,
  kBodyState,
  kChunks,
  kExtras,
  kFinished,
  NO_CHUNKS,
} from './handler-state.js';
import { contentLengthOf, validateHeaderValue } from './node-http.js';
import { putDefaultHeaders, putHeader } from './response.js';

// The output plumbing behind a handler's `write`, `flush`, `finish`, `sendError` and `clear`:
// buffering, the one-piece fast path, streaming with back-pressure, compression and ETags.

const HEADER_INJECTION = /[\r\n\0]/;

/** Throws a `TypeError` when a header name or value could split the response (CR, LF, NUL). */
export function checkHeaderValue(name: string, value: string): void {
  if (HEADER_INJECTION.test(name) || HEADER_INJECTION.test(value)) {
    throw withCode(
      new TypeError(`header ${JSON.stringify(name)} contains CR, LF or NUL`),
      'ERR_HEADER_INJECTION',
    );
  }
}

/**
 * Shared by every response (see `putDefaultHeaders`): never changed. Not frozen: frozen elements
 * would take `slice` and the header lookups off V8's fast paths.
 */
const DEFAULT_HEADERS: readonly string[] = [
  'Content-Type',
  'text/html; charset=utf-8',
  'X-Content-Type-Options',
  'nosniff',
];

/** Sets the headers every response starts with, then calls the handler's `setDefaultHeaders`. */
export function applyDefaultHeaders(h: HandlerCore): void {
  const res = h.response;
  const id = h.requestId;
  // The `requestId` setting may be the user's own function: its id is checked as setHeader would
  // (and a bad one throws with the defaults set, as when it was set after them).
  if (id !== '') {
    try {
      validateHeaderValue('X-Request-Id', id);
    } catch (error) {
      putDefaultHeaders(res, DEFAULT_HEADERS);
      throw error;
    }
  }
  putDefaultHeaders(res, DEFAULT_HEADERS, id);
  const cors = h.application.settings.cors;
  if (cors !== null) applyCors(h.request, res, cors);
  h.setDefaultHeaders();
}

/**
 * Last-minute header decisions, made once just before the headers go out: a body that was
 * refused (over the limit, say) is never read to keep the connection alive, so the connection
 * closes; a body nobody asked for is discarded by node:http only while it is small.
 */
function prepareHeaders(h: HandlerCore): void {
  const state = h[kBodyState];
  const unread = (state === 'unread' || state === 'streaming') && !h.request.complete;
  if (unread || (state === 'none' && mustCloseForUnreadBody(h.request))) {
    h.response.shouldKeepAlive = false;
  }
}

function takeBody(h: HandlerCore): string | Buffer {
  const chunks = h[kChunks];
  if (chunks.length === 0) return '';
  h[kChunks] = NO_CHUNKS;
  if (chunks.length === 1) {
    const only = chunks[0] as string | Uint8Array;
    return typeof only === 'string' ? only : Buffer.from(only.buffer, only.byteOffset, only.length);
  }
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
}

/** Hands body bytes to the connection, counting them. */
function send(h: HandlerCore, body: string | Buffer, last: boolean): boolean {
  const res = h.response;
  const counted = body.length > 0 && h.method !== 'HEAD';
  if (!last) {
    if (counted) h.bytesWritten += byteLengthOf(body);
    return res.write(body);
  }
  // node:http measures a text body ended with the headers for their Content-Length: measuring it
  // here as well would walk the text twice.
  const measuredByNode = counted && typeof body === 'string' && !res.headersSent;
  if (counted && !measuredByNode) h.bytesWritten += byteLengthOf(body);
  res.end(body);
  if (measuredByNode) h.bytesWritten += contentLengthOf(res, body as string);
  return true;
}

function byteLengthOf(body: string | Buffer): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length;
}

/** `write`: buffers a chunk; a value that is not text or bytes is sent as JSON. */
export function writeChunk(h: HandlerCore, chunk: Chunk): void {
  if (h[kFinished]) throw withCode(new Error('write() after finish()'), 'ERR_RESPONSE_FINISHED');
  if (typeof chunk === 'string' || chunk instanceof Uint8Array) {
    pushChunk(h, chunk);
  } else {
    const json = JSON.stringify(chunk);
    if (json === undefined) {
      throw withCode(
        new TypeError('write() was given a value JSON cannot encode'),
        'ERR_NOT_JSON_ENCODABLE',
      );
    }
    if (!h.response.headersSent) {
      putHeader(h.response, 'Content-Type', 'application/json; charset=utf-8');
    }
    pushChunk(h, json);
  }
}

/** Appends to the buffered body; the first chunk gets an array of its own (see NO_CHUNKS). */
function pushChunk(h: HandlerCore, chunk: string | Uint8Array): void {
  const chunks = h[kChunks];
  if (chunks.length === 0) h[kChunks] = [chunk];
  else chunks.push(chunk);
}

/** `flush`: sends the headers (the first time) and what was written; resolves on drain. */
export function flushOutput(h: HandlerCore): Promise<void> {
  if (h[kFinished])
    return Promise.reject(withCode(new Error('flush() after finish()'), 'ERR_RESPONSE_FINISHED'));
  const res = h.response;
  if (h[kAborted] || res.destroyed) {
    return Promise.reject(new RequestAborted('disconnect'));
  }
  if (!res.headersSent) {
    prepareHeaders(h);
    const compress = h.application.settings.compress;
    if (compress !== null) extrasOf(h).encoder = CompressedStream.start(h, compress);
  }
  const body = takeBody(h);
  const encoder = h[kExtras]?.encoder ?? null;
  if (encoder !== null) return encoder.write(body);
  if (body.length === 0) {
    res.flushHeaders();
    return Promise.resolve();
  }
  if (send(h, body, false)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      if (res.destroyed && !res.writableFinished) reject(new RequestAborted('disconnect'));
      else resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** `finish`: ends the response (in one piece with a `Content-Length` when never flushed). */
export function finishOutput(h: HandlerCore, chunk: Chunk | undefined): void {
  if (h[kFinished]) throw withCode(new Error('finish() called twice'), 'ERR_RESPONSE_FINISHED');
  if (chunk !== undefined) h.write(chunk);
  h[kFinished] = true;
  const res = h.response;
  if (h[kAborted] || res.destroyed) return;
  if (res.headersSent) {
    const encoder = h[kExtras]?.encoder ?? null;
    if (encoder !== null) encoder.end(takeBody(h));
    else send(h, takeBody(h), true);
  } else {
    prepareHeaders(h);
    let body: string | Buffer | Promise<Buffer> = takeBody(h);
    const app = h.application;
    if (app.transformsOutput) {
      if (app.settings.etag) body = applyAutoEtag(h, body);
      if (app.settings.compress !== null) body = compressBody(h, body, app.settings.compress);
    }
    if (body instanceof Promise) {
      sendWhenCompressed(h, body);
      return;
    }
    endInOnePiece(h, body);
  }
  callOnFinish(h);
}

function endInOnePiece(h: HandlerCore, body: string | Buffer): void {
  const res = h.response;
  const status = res.statusCode;
  if (status === 204 || status === 304 || status < 200) {
    res.end();
  } else if (h.method === 'HEAD') {
    if (!res.hasHeader('content-length')) {
      res.setHeader('Content-Length', Buffer.byteLength(body));
    }
    res.end();
  } else {
    send(h, body, true);
  }
}

/** A large body compressed on the thread pool: sent (and `onFinish` called) once it is ready. */
function sendWhenCompressed(h: HandlerCore, pending: Promise<Buffer>): void {
  pending.then(
    (body) => {
      if (h.response.destroyed) return; // the client left meanwhile
      send(h, body, true);
      callOnFinish(h);
    },
    (error: unknown) => {
      h.logException(error);
      h.response.destroy();
    },
  );
}

function callOnFinish(h: HandlerCore): void {
  try {
    h.onFinish();
  } catch (error) {
    h.logException(error);
  }
}

/**
 * `sendError`: a fresh response rendered by `writeError` (keeping only the `Set-Cookie` headers set
 * before), or a cut connection if too late.
 */
export function sendErrorResponse(h: HandlerCore, status: number, error: unknown): void {
  const res = h.response;
  if (h[kFinished] && !res.headersSent) return;
  if (res.headersSent) {
    if (!h[kFinished]) {
      h[kFinished] = true;
      // For logs and metrics: the client saw the first status cut short, a server error.
      res.statusCode = status;
      h.error ??= error;
      res.destroy();
    }
    return;
  }
  // Cookies survive the error page (as in Tornado): a logout or a fresh `_xsrf` cookie still lands.
  const cookies = res.getHeader('set-cookie');
  h.clear();
  if (cookies !== undefined) res.setHeader('Set-Cookie', cookies);
  h.setStatus(status);
  if (error instanceof HttpError && error.headers !== undefined) {
    for (const [name, value] of Object.entries(error.headers)) h.setHeader(name, value);
  }
  if (status === 401 && !res.hasHeader('www-authenticate')) {
    res.setHeader('WWW-Authenticate', h.authChallenge ?? h.application.settings.authChallenge);
  }
  try {
    h.writeError(status, error);
  } catch (writeFailure) {
    h.logException(writeFailure);
    h[kChunks] = NO_CHUNKS; // a half-written error page is not sent
  }
  if (!h[kFinished]) {
    if (res.headersSent) {
      h[kFinished] = true;
      res.destroy();
    } else {
      h.finish();
    }
  }
}

/** `clear`: status, headers and buffered output back to what a fresh handler starts with. */
export function clearResponse(h: HandlerCore): void {
  const res = h.response;
  if (res.headersSent) {
    throw withCode(new Error('clear() after the headers were sent'), 'ERR_HEADERS_SENT');
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = 200;
  res.statusMessage = '';
  h[kChunks] = NO_CHUNKS;
  applyDefaultHeaders(h);
}
