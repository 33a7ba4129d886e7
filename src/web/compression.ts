import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrotliCompress, Gzip } from 'node:zlib';
import Negotiator from 'negotiator';
import { nodeZlib } from './builtins.js';
import { RequestAborted } from './errors.js';

/**
 * What compression reads and changes: the request's method and `Accept-Encoding`, the response,
 * and the count of body bytes handed to the connection (compressed bytes, once compressing).
 */
export interface CompressionExchange {
  readonly method: string;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  bytesWritten: number;
}

/** The `compress` application setting, when given as an object. */
export interface CompressionOptions {
  /** Bodies smaller than this many bytes are sent as they are. Default 1024. */
  readonly threshold?: number;
  /** gzip level, 1 (fastest) to 9 (smallest). Default 6. */
  readonly level?: number;
  /**
   * brotli quality, 0 to 11. Default 4: about gzip -6's speed with smaller output (brotli's own
   * default, 11, is meant for compressing once ahead of time and is far too slow per request).
   */
  readonly brotliQuality?: number;
  /**
   * Bodies of at least this many bytes are compressed on libuv's thread pool (zlib's async API)
   * instead of on the event loop. Default 64 KiB (see {@link DEFAULT_ASYNC_THRESHOLD}).
   */
  readonly asyncThreshold?: number;
}

/** Compression options with every default filled in. */
export interface ResolvedCompression {
  readonly threshold: number;
  readonly level: number;
  readonly brotliQuality: number;
  readonly asyncThreshold: number;
}

/**
 * Where compressing a one-piece body moves off the event loop. Measured with
 * `bench/tools/zlib-async.mjs` on a shared 2-core machine (Node 20, gzip -6, JSON; two runs): up to
 * 16 KiB the sync call is faster (gzip 47–160 µs) than the async round trip (100–430 µs latency,
 * of which 33–77 µs still on the loop to set up the stream); at 64 KiB they cost about the same
 * (gzip sync 270–525 µs blocking vs async 340–510 µs, 65–235 µs of it on the loop); at 256 KiB
 * sync blocks the loop 3.1–5.2 ms, async 0.35–0.47 ms (and answers sooner: 1.4–1.8 ms).
 */
export const DEFAULT_ASYNC_THRESHOLD = 64 * 1024;

/** A content coding this module produces. */
export type ContentCoding = 'br' | 'gzip';

/** What a request's `Accept-Encoding` allows. */
export interface EncodingChoice {
  /** The coding to use, or `null` for none (identity). */
  readonly coding: ContentCoding | null;
  /** The client refused identity (`identity;q=0`): compress even below the threshold. */
  readonly identityRefused: boolean;
}

/** Validates the `compress` setting and fills in defaults; `null` when compression is off. */
export function resolveCompression(
  setting: boolean | CompressionOptions | undefined,
): ResolvedCompression | null {
  if (setting === undefined || setting === false) return null;
  const options = setting === true ? {} : setting;
  const resolved = {
    threshold: options.threshold ?? 1024,
    level: options.level ?? 6,
    brotliQuality: options.brotliQuality ?? 4,
    asyncThreshold: options.asyncThreshold ?? DEFAULT_ASYNC_THRESHOLD,
  };
  check('compress.threshold', resolved.threshold, 0, Number.MAX_SAFE_INTEGER);
  check('compress.level', resolved.level, 1, 9);
  check('compress.brotliQuality', resolved.brotliQuality, 0, 11);
  check('compress.asyncThreshold', resolved.asyncThreshold, 0, Number.MAX_SAFE_INTEGER);
  return Object.freeze(resolved);
}

function check(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

const COMPRESSIBLE =
  /^\s*(?:text\/|application\/(?:json|javascript|ecmascript|x-javascript|xml|wasm|[\w.-]+\+(?:json|xml))|image\/(?:svg\+xml|x-icon|vnd\.microsoft\.icon|bmp))/i;

/** Whether a `Content-Type` is worth compressing (text, JSON, JavaScript, XML, SVG, wasm…). */
export function isCompressible(contentType: string): boolean {
  return COMPRESSIBLE.test(contentType);
}

const NO_CODING: EncodingChoice = Object.freeze({ coding: null, identityRefused: false });
const choices = new Map<string, EncodingChoice>();
const MAX_CACHED_CHOICES = 100;

/**
 * Picks a content coding from an `Accept-Encoding` header (RFC 9110 §12.5.3) with `negotiator`:
 * each coding weighs its own `q`, else that of `*`; identity, when not listed, weighs as much as
 * the least-weighted coding listed, so `gzip;q=0.5` still means "gzip, please". The heaviest of
 * br and gzip (`x-gzip` counts as gzip) wins if it weighs at least as much as identity; ties go to
 * br. No header means identity.
 */
export function negotiateEncoding(header: string | undefined): EncodingChoice {
  if (header === undefined || header === '') return NO_CODING;
  let choice = choices.get(header);
  if (choice === undefined) {
    choice = parseAcceptEncoding(header);
    // Clients send a handful of distinct headers; a bounded memo makes this a map lookup. Measured
    // (Node 24, shared 2-core machine, 3 rounds): a hit costs 20–90 ns either way; a miss costs
    // 3.3–6.8 µs with negotiator vs 2.3–3.3 µs with the hand-written parser it replaced, and the
    // HTTP bench (hello, `Accept-Encoding: gzip, deflate, br`) showed no difference beyond noise.
    if (choices.size >= MAX_CACHED_CHOICES) choices.clear();
    choices.set(header, choice);
  }
  return choice;
}

/** The codings offered, in the server's order of preference for equal weights. */
const OFFERED = ['br', 'gzip', 'x-gzip', 'identity'] as const;
/** `*;q=0` refuses identity unless identity is listed (RFC 9110); `negotiator` misses this. */
const STAR_REFUSED = /(?:^|,)\s*\*\s*;\s*q\s*=\s*0(?:\.0{0,3})?\s*(?:,|$)/i;

/** `negotiator`'s `encodings` with the `preferred` option (1.x; its types describe 0.6). */
type RankEncodings = (
  available: readonly string[],
  options: { readonly preferred: readonly string[] },
) => string[];

function parseAcceptEncoding(header: string): EncodingChoice {
  const negotiator = new Negotiator({ headers: { 'accept-encoding': header } });
  const ranked = (negotiator.encodings as RankEncodings)(OFFERED, { preferred: OFFERED });
  const first = ranked[0];
  const coding: ContentCoding | null =
    first === 'br' ? 'br' : first === 'gzip' || first === 'x-gzip' ? 'gzip' : null;
  const identityRefused =
    !ranked.includes('identity') || (STAR_REFUSED.test(header) && !/identity/i.test(header));
  return Object.freeze({ coding, identityRefused });
}

/** Adds `Accept-Encoding` to the response's `Vary` header (unless it is there, or `*`). */
export function varyOnAcceptEncoding(response: ServerResponse): void {
  const current = response.getHeader('vary');
  if (current === undefined) {
    response.setHeader('Vary', 'Accept-Encoding');
    return;
  }
  const text = Array.isArray(current) ? current.join(', ') : String(current);
  if (/(?:^|,)\s*(?:\*|accept-encoding)\s*(?:,|$)/i.test(text)) return;
  response.setHeader('Vary', text.trim() === '' ? 'Accept-Encoding' : `${text}, Accept-Encoding`);
}

/**
 * Whether the response may be compressed at all: a status with a full body (not 1xx, 204, 206 or
 * 304: a `Content-Range` counts bytes of the uncompressed file), no `Content-Encoding` yet, and a
 * compressible type.
 */
function eligible(response: ServerResponse): boolean {
  const status = response.statusCode;
  if (status < 200 || status === 204 || status === 206 || status === 304) return false;
  if (response.hasHeader('content-encoding')) return false;
  const type = response.getHeader('content-type');
  return typeof type === 'string' && isCompressible(type);
}

/**
 * Marks the response as compressed: `Content-Encoding`, the compressed `Content-Length` (none for
 * a stream, which is then chunked), a weak `ETag`.
 */
function markCompressed(
  response: ServerResponse,
  coding: ContentCoding,
  length: number | undefined,
): void {
  response.setHeader('Content-Encoding', coding);
  // Set, not removed, for one piece: once removed, node:http stops adding a length of its own.
  if (length === undefined) response.removeHeader('content-length');
  else response.setHeader('Content-Length', length);
  // A strong tag names exact bytes; the compressed bytes differ, the content does not (as nginx).
  const etag = response.getHeader('etag');
  if (typeof etag === 'string' && etag.startsWith('"')) response.setHeader('ETag', `W/${etag}`);
}

/**
 * The application's compression of a body sent in one piece (called by `finish`): returns the
 * body to send, compressed when the type, size, status and the client's `Accept-Encoding` allow.
 * `Vary: Accept-Encoding` is added whenever the answer depends on it. HEAD is never compressed:
 * its headers describe the identity body (with its `Content-Length`), plus that `Vary`. A body of
 * `asyncThreshold` bytes or more is compressed on the thread pool: the result is then a promise,
 * and the compressed headers are set when it resolves.
 */
export function compressBody(
  handler: CompressionExchange,
  body: string | Buffer,
  options: ResolvedCompression,
): string | Buffer | Promise<Buffer> {
  const res = handler.response;
  let size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  // A HEAD handler may only have set the length of the body GET would send.
  if (size === 0 && handler.method === 'HEAD') size = Number(res.getHeader('content-length')) || 0;
  if (size === 0) return body;
  const choice = negotiateEncoding(handler.request.headers['accept-encoding']);
  // Small answers (most API answers) leave here, before any header is looked at.
  if (size < options.threshold && !choice.identityRefused) return body;
  if (!eligible(res)) return body;
  varyOnAcceptEncoding(res);
  if (choice.coding === null || handler.method === 'HEAD') return body;
  if (size >= options.asyncThreshold) return compressLater(res, choice.coding, body, options, size);
  const zlib = nodeZlib();
  const compressed =
    choice.coding === 'br'
      ? zlib.brotliCompressSync(body, brotliParams(options, size))
      : zlib.gzipSync(body, { level: options.level });
  markCompressed(res, choice.coding, compressed.length);
  return compressed;
}

async function compressLater(
  response: ServerResponse,
  coding: ContentCoding,
  body: string | Buffer,
  options: ResolvedCompression,
  size: number,
): Promise<Buffer> {
  const zlib = nodeZlib();
  const compressed = await new Promise<Buffer>((resolve, reject) => {
    const done = (error: Error | null, result: Buffer): void => {
      if (error === null) resolve(result);
      else reject(error);
    };
    if (coding === 'br') zlib.brotliCompress(body, brotliParams(options, size), done);
    else zlib.gzip(body, { level: options.level }, done);
  });
  markCompressed(response, coding, compressed.length);
  return compressed;
}

function brotliParams(options: ResolvedCompression, size?: number) {
  const { constants } = nodeZlib();
  const params: Record<number, number> = {
    [constants.BROTLI_PARAM_QUALITY]: options.brotliQuality,
  };
  if (size !== undefined) params[constants.BROTLI_PARAM_SIZE_HINT] = size;
  return { params };
}

/**
 * A streamed (flushed) response going through a zlib compressor. Every `write` flushes the
 * compressor (`Z_SYNC_FLUSH` / brotli's flush operation), so each `flush()` of the handler reaches
 * the client at once, which server-sent events and progress streams depend on.
 */
export class CompressedStream {
  private readonly response: ServerResponse;
  private readonly compressor: Gzip | BrotliCompress;
  private readonly flushKind: number;

  /**
   * Starts compressing the response of `handler` if it qualifies (called by the first `flush`,
   * before the headers go out), setting its headers; `null` when it is sent as it is. The size
   * threshold applies when the handler set a `Content-Length`; a stream of unknown length is
   * compressed.
   */
  static start(
    handler: CompressionExchange,
    options: ResolvedCompression,
  ): CompressedStream | null {
    const res = handler.response;
    if (!eligible(res)) return null;
    const choice = negotiateEncoding(handler.request.headers['accept-encoding']);
    const length = res.getHeader('content-length');
    if (length !== undefined && Number(length) < options.threshold && !choice.identityRefused) {
      return null;
    }
    varyOnAcceptEncoding(res);
    if (choice.coding === null || handler.method === 'HEAD') return null;
    markCompressed(res, choice.coding, undefined);
    return new CompressedStream(handler, choice.coding, options);
  }

  private constructor(
    handler: CompressionExchange,
    coding: ContentCoding,
    options: ResolvedCompression,
  ) {
    const res = handler.response;
    this.response = res;
    const zlib = nodeZlib();
    const { constants } = zlib;
    if (coding === 'br') {
      this.compressor = zlib.createBrotliCompress(brotliParams(options));
      this.flushKind = constants.BROTLI_OPERATION_FLUSH;
    } else {
      this.compressor = zlib.createGzip({ level: options.level });
      this.flushKind = constants.Z_SYNC_FLUSH;
    }
    this.compressor.on('data', (chunk: Buffer) => {
      handler.bytesWritten += chunk.length;
      res.write(chunk);
    });
    this.compressor.on('end', () => res.end());
    this.compressor.on('error', (error) => res.destroy(error));
    res.once('close', () => this.compressor.destroy());
  }

  /**
   * Compresses `body` and flushes it to the connection. Resolves when the connection can take
   * more; rejects with {@link RequestAborted} if the client leaves first.
   */
  write(body: string | Buffer): Promise<void> {
    const res = this.response;
    if (body.length === 0) {
      res.flushHeaders();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        if (res.destroyed && !res.writableFinished) reject(new RequestAborted('disconnect'));
        else resolve();
      };
      this.compressor.write(body);
      this.compressor.flush(this.flushKind, () => {
        if (res.destroyed || !res.writableNeedDrain) {
          settle();
          return;
        }
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          settle();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    });
  }

  /** Compresses the last piece and ends the response once the compressor has drained. */
  end(body: string | Buffer): void {
    this.compressor.end(body);
  }
}
