import type { FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { nodeFsPromises } from './builtins.js';
import { contentTypeFor } from './content-types.js';
import { HttpError } from './errors.js';
import { etagMatches, markNotModified, strongEtagEquals } from './etag.js';
import { contentHash, versionOf } from './file-versions.js';
import { RequestHandler } from './handler.js';

/** Options of {@link StaticFileHandler}. */
export interface StaticFileOptions {
  /** The directory served. Files outside it (through `..` or symbolic links) are never served. */
  readonly root: string;
  /**
   * The file served for a directory (`/static/docs/` → `docs/index.html`); `null` refuses
   * directories (403). Default `'index.html'`.
   */
  readonly defaultFilename?: string | null;
  /**
   * `max-age` in seconds for URLs without the file's current `?v=` version. Default 0, sent as
   * `Cache-Control: no-cache`: browsers keep the file but revalidate it (a 304) on every use.
   */
  readonly maxAge?: number;
}

/** `Cache-Control` of URLs carrying the file's current version: they never change. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** Files up to this size are read at once and sent in one piece; larger ones are streamed. */
const ONE_PIECE_BYTES = 64 * 1024;
const CHUNK_BYTES = 64 * 1024;

const roots = new Map<string, Promise<string>>();

/** The real path of a root directory, resolved once per process. */
function realRoot(root: string): Promise<string> {
  let real = roots.get(root);
  if (real === undefined) {
    real = nodeFsPromises().realpath(resolve(root));
    real.catch(() => roots.delete(root));
    roots.set(root, real);
  }
  return real;
}

function forbidden(detail: string): HttpError {
  return new HttpError(403, detail);
}

/**
 * Refuses a requested path (decoded) that could name something outside the root, whatever the
 * encoding it arrived in: `..` and `.` segments, empty segments, backslashes, NUL, absolute paths,
 * and (checked on the raw URL) an encoded slash.
 */
function checkRequestedPath(decoded: string, rawPath: string): void {
  if (/%2f/i.test(rawPath)) throw forbidden('encoded slashes are not allowed in static paths');
  if (decoded.includes('\\') || decoded.includes('\0')) {
    throw forbidden('backslashes and NUL are not allowed in static paths');
  }
  if (decoded.startsWith('/')) throw forbidden('absolute paths are not allowed');
  const segments = decoded.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '..' || segment === '.' || (segment === '' && i < segments.length - 1)) {
      throw forbidden('relative or empty path segments are not allowed');
    }
  }
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function realPathIn(root: string, path: string): Promise<string> {
  let real: string;
  try {
    real = await nodeFsPromises().realpath(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new HttpError(404, 'no such file');
    throw error;
  }
  // A symbolic link inside the root may point anywhere: judge where it lands.
  if (!inside(root, real)) throw forbidden('the path leads outside the static root');
  return real;
}

/** A parsed `Range` header: one satisfiable range, or why it is ignored or refused. */
type RangeResult = 'ignore' | 'unsatisfiable' | { readonly start: number; readonly end: number };

/**
 * Parses a `Range` header against a file of `size` bytes. Only one `bytes` range is honoured;
 * several ranges, other units and malformed headers are ignored (the whole file is sent, which
 * RFC 9110 allows); a range starting past the end is unsatisfiable.
 */
export function parseRange(header: string, size: number): RangeResult {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (match === null) return 'ignore';
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return 'ignore';
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Number.MAX_SAFE_INTEGER : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return 'ignore';
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Serves files from a directory, after Tornado's `StaticFileHandler`. Route it with a rest-of-path
 * parameter:
 *
 * @example
 * url('/static/{path*}', StaticFileHandler, { root: 'public' })
 *
 * - Files are streamed with back-pressure (up to 64 KiB in one piece, larger files in 64 KiB
 *   chunks through `flush`), with `Content-Type` from the extension, `Content-Length`,
 *   `Last-Modified`, a strong `ETag` (SHA-256 of the content, remembered per file until its size,
 *   modification time or inode change) and `Accept-Ranges: bytes`.
 * - `If-None-Match` (which wins when both are present) or `If-Modified-Since` → 304.
 * - A single `Range` → 206 with `Content-Range` (`If-Range` honoured); one starting past the end →
 *   416 with `Content-Range: bytes *∕size`; several ranges → the whole file (200).
 * - `?v=` equal to the file's current version (see `staticUrl`) → cached for a year as immutable;
 *   otherwise `Cache-Control: no-cache` (or `maxAge`).
 * - Anything that could name a file outside the root is refused with 403: `..` or `.` segments,
 *   empty segments, backslashes, NUL, absolute paths, `%2F`, and symbolic links whose target lies
 *   outside the root. A missing file is a 404; a directory serves `defaultFilename` (a path
 *   without the trailing slash is redirected to it first) or is a 403.
 * - GET and HEAD only (other methods: 405). HEAD sends the headers of GET and reads no file data.
 */
export class StaticFileHandler extends RequestHandler<StaticFileOptions> {
  private root = '';
  private defaultFilename: string | null = 'index.html';
  private maxAge = 0;

  override initialize(options: StaticFileOptions): void {
    if (typeof options?.root !== 'string' || options.root === '') {
      throw new TypeError('StaticFileHandler needs a root directory');
    }
    this.root = options.root;
    this.defaultFilename =
      options.defaultFilename === undefined ? 'index.html' : options.defaultFilename;
    this.maxAge = options.maxAge ?? 0;
  }

  override get(path = ''): Promise<void> {
    return this.serve(path, true);
  }

  override head(path = ''): Promise<void> {
    return this.serve(path, false);
  }

  private async serve(requested: string, includeBody: boolean): Promise<void> {
    checkRequestedPath(requested, this.path);
    const root = await realRoot(this.root);
    let real = await realPathIn(root, join(root, requested));
    let stats = await nodeFsPromises().stat(real);
    if (stats.isDirectory()) {
      if (this.defaultFilename === null) throw forbidden('directory listing is not allowed');
      if (requested !== '' && !requested.endsWith('/')) {
        const query = this.queryString === '' ? '' : `?${this.queryString}`;
        this.redirect(`${this.path}/${query}`, 301);
        return;
      }
      real = await realPathIn(root, join(real, this.defaultFilename));
      stats = await nodeFsPromises().stat(real);
    }
    if (!stats.isFile()) throw forbidden('not a regular file');
    const file = await nodeFsPromises().open(real, 'r');
    try {
      await this.sendFile(real, file, includeBody);
    } finally {
      await file.close();
    }
  }

  private async sendFile(real: string, file: FileHandle, includeBody: boolean): Promise<void> {
    // Headers describe the file actually opened, even if the path was replaced meanwhile.
    const stats = await file.stat();
    if (!stats.isFile()) throw forbidden('not a regular file');
    const digest = await contentHash(real, stats);
    const etag = `"${digest}"`;
    const lastModified = new Date(Math.floor(stats.mtimeMs / 1000) * 1000);
    this.setHeader('Content-Type', contentTypeFor(real));
    this.setHeader('ETag', etag);
    this.setHeader('Last-Modified', lastModified.toUTCString());
    this.setHeader('Accept-Ranges', 'bytes');
    this.setHeader('Cache-Control', this.cacheControl(digest));
    if (this.notModified(etag, lastModified)) {
      markNotModified(this.response);
      this.finish();
      return;
    }
    const size = stats.size;
    let start = 0;
    let length = size;
    const range = this.method === 'GET' ? this.rangeOf(etag, lastModified, size) : 'ignore';
    if (range === 'unsatisfiable') {
      throw new HttpError(416, `the file has ${size} bytes`, {
        headers: { 'Content-Range': `bytes */${size}` },
      });
    }
    if (range !== 'ignore') {
      start = range.start;
      length = range.end - range.start + 1;
      this.setStatus(206);
      this.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    }
    this.setHeader('Content-Length', length);
    if (!includeBody) return;
    await this.streamFile(file, start, length);
  }

  private cacheControl(digest: string): string {
    const v = this.getQueryArgument('v', '');
    if (v !== '' && v === versionOf(digest)) return IMMUTABLE_CACHE_CONTROL;
    return this.maxAge > 0 ? `public, max-age=${this.maxAge}` : 'no-cache';
  }

  private notModified(etag: string, lastModified: Date): boolean {
    const headers = this.request.headers;
    const ifNoneMatch = headers['if-none-match'];
    if (ifNoneMatch !== undefined) return etagMatches(ifNoneMatch, etag);
    const since = headers['if-modified-since'];
    if (since === undefined) return false;
    const time = Date.parse(since);
    return !Number.isNaN(time) && lastModified.getTime() <= time;
  }

  private rangeOf(etag: string, lastModified: Date, size: number): RangeResult {
    const header = this.request.headers.range;
    if (header === undefined) return 'ignore';
    const ifRange = this.request.headers['if-range'];
    if (typeof ifRange === 'string') {
      const trimmed = ifRange.trim();
      const current =
        trimmed.startsWith('"') || trimmed.startsWith('W/')
          ? strongEtagEquals(trimmed, etag)
          : Date.parse(trimmed) === lastModified.getTime();
      if (!current) return 'ignore';
    }
    return parseRange(header, size);
  }

  private async streamFile(file: FileHandle, start: number, length: number): Promise<void> {
    const end = start + length;
    let position = start;
    while (position < end) {
      const want = Math.min(length <= ONE_PIECE_BYTES ? length : CHUNK_BYTES, end - position);
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await file.read(buffer, 0, want, position);
      if (bytesRead === 0) throw new Error('the file shrank while it was being sent');
      position += bytesRead;
      this.write(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
      if (position < end) await this.flush();
    }
    this.finish();
  }
}
