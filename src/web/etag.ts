import type { IncomingMessage, ServerResponse } from 'node:http';
import { nodeCrypto } from './builtins.js';

/** What the automatic ETag reads and changes: the request's method and headers, the response. */
export interface EtagExchange {
  readonly method: string;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
}

/**
 * The weak ETag of a body: `W/"<SHA-1 of the bytes, base64url>"`.
 *
 * Weak, because the same tag then validates every content coding of the body (gzip, brotli,
 * identity): `If-None-Match` uses the weak comparison anyway, and only `Range` requests (which
 * dynamic handlers do not answer) need strong tags. SHA-1 through the one-shot `crypto.hash` costs
 * about 0.3 µs for a small body and ~2 GB/s beyond: cheaper than any hash written in JavaScript,
 * and 160 bits make an accidental collision (a wrong 304) out of the question.
 */
export function bodyEtag(body: string | Uint8Array): string {
  return `W/"${nodeCrypto().hash('sha1', body, 'base64url')}"`;
}

/**
 * Whether an `If-None-Match` header matches `etag`, with the weak comparison of RFC 9110 §8.8.3.2
 * (`W/"x"` matches `"x"`): `*` matches any current representation; otherwise any tag of the
 * comma-separated list may match.
 */
export function etagMatches(header: string, etag: string): boolean {
  const wanted = opaqueTag(etag);
  const length = header.length;
  let i = 0;
  while (i < length) {
    let c = header.charCodeAt(i);
    if (c === 32 || c === 9 || c === 44) {
      i++;
      continue;
    }
    if (c === 42) return true; // '*'
    if (c === 87 && header.charCodeAt(i + 1) === 47) {
      i += 2; // 'W/'
      c = header.charCodeAt(i);
    }
    let end: number;
    if (c === 34) {
      end = header.indexOf('"', i + 1);
      if (end < 0) return false;
      end++;
    } else {
      // Not a quoted tag (a sloppy client): compare the bare token.
      end = header.indexOf(',', i);
      if (end < 0) end = length;
    }
    if (header.slice(i, end).trim() === wanted) return true;
    i = end;
  }
  return false;
}

/**
 * Whether two entity tags are equal under the strong comparison (`If-Range`): both strong and
 * character for character the same.
 */
export function strongEtagEquals(a: string, b: string): boolean {
  return a === b && !a.startsWith('W/');
}

function opaqueTag(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

const NOT_MODIFIED_DROPS = ['content-type', 'content-length', 'content-encoding', 'content-range'];

/**
 * Turns the response into a bodiless 304: the status, minus the representation headers a 304 must
 * not describe (RFC 9110 §15.4.5). `ETag`, `Cache-Control`, `Vary`, `Last-Modified` stay.
 */
export function markNotModified(response: ServerResponse): void {
  response.statusCode = 304;
  for (const name of NOT_MODIFIED_DROPS) response.removeHeader(name);
}

const EMPTY = Buffer.alloc(0);

/**
 * The application's automatic ETag (`etag` setting), applied by `finish` to a GET or HEAD 200
 * answered in one piece: sets `ETag` from the body (unless the handler set one, which is then
 * used as it is) and, when the request's `If-None-Match` matches, turns the response into a 304
 * and returns an empty body.
 */
export function applyAutoEtag(handler: EtagExchange, body: string | Buffer): string | Buffer {
  const res = handler.response;
  if (res.statusCode !== 200) return body;
  const method = handler.method;
  if (method !== 'GET' && method !== 'HEAD') return body;
  let etag = res.getHeader('etag');
  if (typeof etag !== 'string') {
    etag = bodyEtag(body);
    res.setHeader('ETag', etag);
  }
  const ifNoneMatch = handler.request.headers['if-none-match'];
  if (ifNoneMatch === undefined || !etagMatches(ifNoneMatch, etag)) return body;
  markNotModified(res);
  return EMPTY;
}
