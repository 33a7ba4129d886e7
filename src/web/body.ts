import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import secureJson from 'secure-json-parse';
import { type Arguments, parseUrlEncoded } from './arguments.js';
import { HttpError, RequestAborted } from './errors.js';
import { markConsumed } from './node-http.js';
import { refusal, tooLarge } from './streaming-body.js';

const EMPTY = Buffer.alloc(0);

/** Below this many unread bytes, Node may discard an unread body and keep the connection alive. */
const DISCARDABLE_BODY_BYTES = 64 * 1024;

/** Whether the request announces a body (a non-zero `Content-Length` or any `Transfer-Encoding`). */
export function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Whether a response sent without reading the body should close the connection, so that Node does
 * not read (and discard) a large or unbounded body just to keep the connection alive.
 */
export function mustCloseForUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  if (length !== undefined) return !(Number(length) <= DISCARDABLE_BODY_BYTES);
  return req.headers['transfer-encoding'] !== undefined;
}

/** Called once by {@link readBody}: with the body, or with the error that ended the reading. */
export type BodyDone = (error: Error | null, body: Buffer) => void;

/**
 * Reads a whole request body into memory, up to `maxBytes`, and calls `done` once with it.
 *
 * A `Content-Length` over the limit is refused before a byte is read; a chunked body is cut off as
 * soon as it passes the limit (the stream is paused, so the rest is not read): both end with a
 * 413 {@link HttpError}. A client that disconnects mid-body ends with `RequestAborted`.
 * A `Content-Encoding` other than `identity` is a 415. (`done` is called at once for a body
 * refused before a byte is read.)
 */
export function readBody(req: IncomingMessage, maxBytes: number, done: BodyDone): void {
  const refused = refusal(req, maxBytes);
  if (refused !== null) {
    if (refused instanceof Error) done(refused, EMPTY);
    else done(null, refused);
    return;
  }
  // Most bodies come in the same read from the socket as their head: node:http pushes them, and
  // their end, into the request's buffer once the 'request' listener returns. A tick later such a
  // body is taken whole with one `read()`, without the stream's flowing mode ('data' and 'end'
  // listeners, a tick to resume, another to end); one still arriving is read as it comes.
  process.nextTick(takeBody, req, maxBytes, done);
}

function takeBody(req: IncomingMessage, maxBytes: number, done: BodyDone): void {
  if (!req.complete || req.destroyed || req.readableFlowing !== null) {
    readArriving(req, maxBytes, done);
    return;
  }
  const body = (req.read() as Buffer | null) ?? EMPTY;
  markConsumed(req);
  if (body.length > maxBytes) done(tooLarge(maxBytes), EMPTY);
  else done(null, body);
}

/** {@link readBody} of a body still arriving (or of a request gone meanwhile). */
function readArriving(req: IncomingMessage, maxBytes: number, done: BodyDone): void {
  // The same checks and outcomes as streamBody (which streaming handlers use), without a callback
  // per chunk, a promise or a microtask between the last chunk and the handler.
  const refused = refusal(req, maxBytes);
  if (refused !== null) {
    if (refused instanceof Error) done(refused, EMPTY);
    else done(null, refused);
    return;
  }
  let first: Buffer | null = null;
  let chunks: Buffer[] | null = null;
  let size = 0;
  const finish = (error: Error | null, body: Buffer): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onAbort);
    if (error !== null) req.pause();
    done(error, body);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > maxBytes) {
      finish(tooLarge(maxBytes), EMPTY);
      return;
    }
    if (first === null) {
      first = chunk;
    } else {
      chunks ??= [first];
      chunks.push(chunk);
    }
  };
  const onEnd = (): void => {
    finish(null, chunks !== null ? Buffer.concat(chunks, size) : (first ?? EMPTY));
  };
  const onAbort = (): void => finish(new RequestAborted('disconnect'), EMPTY);
  req.on('data', onData);
  req.on('end', onEnd);
  // No 'error' listener: a request errs only by being destroyed, and 'close' follows (node:http
  // emits the error only to listeners it has, so none is needed to keep the process up).
  req.on('close', onAbort);
}

/**
 * Decodes UTF-8 strictly: invalid byte sequences are a 400. A leading BOM is dropped. (`toString`
 * turns an invalid sequence into U+FFFD, so the bytes are checked with `isUtf8` only when the text
 * has one: most bodies are then read once, and an ASCII one is not searched at all, V8 knowing
 * that a one-byte string cannot hold U+FFFD. Both cost less than a fatal `TextDecoder`.)
 */
export function decodeUtf8(body: Buffer): string {
  const text = body.toString('utf8');
  if (text.includes('\uFFFD') && !isUtf8(body))
    throw new HttpError(400, 'request body is not valid UTF-8', { code: 'ERR_INVALID_UTF8' });
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Whether a `Content-Type` is JSON (`application/json` or any `+json` type), ignoring parameters. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  if (contentType === 'application/json') return true; // most JSON bodies say just that
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** The `charset` parameter of a `Content-Type`, lower-cased, or `undefined`. */
export function charsetOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !contentType.includes(';')) return undefined;
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  return match?.[1]?.toLowerCase();
}

/**
 * Deepest nesting of arrays and objects accepted in a JSON body. `JSON.parse` copes with any depth,
 * but what handlers then do with the value is usually recursive: `JSON.stringify` (so `write`)
 * overflows the stack at about 4,000 levels, `structuredClone` at about 3,000.
 */
export const MAX_JSON_DEPTH = 1000;

/** Whether the JSON text in `body` nests arrays and objects deeper than `limit` (strings skipped). */
function nestedDeeperThan(body: Buffer, limit: number): boolean {
  // Each level takes at least two bytes: a shorter body cannot be too deep.
  if (body.length <= 2 * limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      // A backslash escapes the next byte; a quote ends the string.
      if (byte === 0x5c) i++;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > limit) return true;
    } else if (byte === 0x5d || byte === 0x7d) {
      depth--;
    }
  }
  return false;
}

const PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * Whether JSON text could hold a `__proto__` or `constructor` key. A key is written in the text
 * literally or with `\\u` escapes, so text with neither cannot, and `JSON.parse` alone is safe:
 * three `indexOf` cost less than secure-json-parse's two regular expressions over the whole text
 * (~50 ns against ~150–300 ns for a 1 KiB body), which still checks any text that might.
 */
function mayPoisonPrototypes(text: string): boolean {
  return (
    text.indexOf('\\u') !== -1 ||
    text.indexOf('__proto__') !== -1 ||
    text.indexOf('constructor') !== -1
  );
}

/**
 * Parses a JSON request body. Another content type is a 415, an empty or malformed body (invalid
 * UTF-8 included) is a 400, and so is a body carrying `__proto__` or `constructor.prototype` keys,
 * which could poison prototypes once merged into other objects, or one nested deeper than
 * {@link MAX_JSON_DEPTH} levels.
 */
export function parseJsonBody(body: Buffer, contentType: string | undefined): unknown {
  if (!isJsonContentType(contentType)) {
    throw new HttpError(415, 'expected a JSON body (Content-Type: application/json)', {
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
    });
  }
  const charset = charsetOf(contentType);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new HttpError(415, `unsupported charset ${charset}; JSON must be UTF-8`, {
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
    });
  }
  if (body.length === 0) throw new HttpError(400, 'empty JSON body', { code: 'ERR_INVALID_JSON' });
  const text = decodeUtf8(body);
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) {
    throw new HttpError(400, `JSON body nested deeper than ${MAX_JSON_DEPTH} levels`, {
      code: 'ERR_INVALID_JSON',
    });
  }
  try {
    return mayPoisonPrototypes(text)
      ? secureJson.parse(text, null, PARSE_OPTIONS)
      : JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : 'malformed JSON';
    if (message.includes('prototype')) {
      throw new HttpError(400, 'JSON body contains a forbidden key (__proto__ or constructor)', {
        code: 'ERR_INVALID_JSON',
      });
    }
    throw new HttpError(400, `malformed JSON body: ${message}`, { code: 'ERR_INVALID_JSON' });
  }
}

/** The arguments of an `application/x-www-form-urlencoded` body (none for other bodies). */
export function parseFormBody(
  contentType: string | undefined,
  raw: Buffer | null,
  maxParams: number,
): Arguments {
  const type = contentType ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded') || !raw?.length) {
    return Object.create(null) as Arguments;
  }
  const charset = charsetOf(type);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new HttpError(415, `unsupported charset ${charset}; forms must be UTF-8`, {
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
    });
  }
  return parseUrlEncoded(decodeUtf8(raw), maxParams);
}
