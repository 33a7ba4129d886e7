/**
 * Raw HTTP/1.1 for tests where framing matters (HEAD bodies, chunked encoding, connection closes,
 * requests whose body is never sent): the one response parser of the tests, request builders, and
 * one-shot exchanges over `node:net`. A keep-alive client is `RawClient` (`socket.ts`).
 */
import { connect } from 'node:net';

/** What came back on one connection. */
export interface Exchange {
  /** Every byte the server sent. */
  readonly data: Buffer;
  /** The server ended or reset the connection (rather than the timeout or `until` stopping us). */
  readonly closedByServer: boolean;
  /** The timeout passed before the server closed the connection. */
  readonly timedOut: boolean;
  /** A socket error seen on the way (ECONNRESET when the server destroys the socket, say). */
  readonly error: Error | undefined;
}

/** Options of {@link exchange}. */
export interface ExchangeOptions {
  /** Give up (and destroy the socket) after this long. Default 5 000 ms. */
  timeoutMs?: number;
  /** Stop as soon as this returns true for the bytes received so far (keep-alive responses). */
  until?: (data: Buffer) => boolean;
}

/**
 * Connects to 127.0.0.1:`port`, writes `request` (pieces are written in order), and collects what
 * the server sends until it closes the connection, `until` is satisfied, or the timeout passes.
 * The socket is never half-closed by us: the server decides when the exchange ends.
 */
export function exchange(
  port: number,
  request: string | Buffer | readonly (string | Buffer)[],
  options: ExchangeOptions = {},
): Promise<Exchange> {
  const { timeoutMs = 5_000, until } = options;
  const pieces = Array.isArray(request) ? request : [request];
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let closedByServer = false;
    let timedOut = false;
    let stopped = false;
    let error: Error | undefined;
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, timeoutMs);
    socket.on('connect', () => {
      for (const piece of pieces) socket.write(piece);
    });
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (until !== undefined && !stopped && until(Buffer.concat(received))) {
        stopped = true;
        socket.destroy();
      }
    });
    socket.on('end', () => {
      if (!stopped && !timedOut) closedByServer = true;
    });
    socket.on('error', (err) => {
      error = err;
      if (!stopped && !timedOut) closedByServer = true;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(received), closedByServer, timedOut, error });
    });
  });
}

/** A parsed response. */
export interface RawResponse {
  readonly httpVersion: string;
  readonly status: number;
  readonly reason: string;
  /** Header names in lower case; repeated headers in order. */
  readonly headerList: readonly (readonly [string, string])[];
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** Every byte after the blank line that ends the head (whatever its framing). */
  readonly afterHead: Buffer;
  /** The body: de-chunked when chunked, else `Content-Length` bytes (or everything, without one). */
  readonly body: Buffer;
  /** Whether the response used `Transfer-Encoding: chunked`. */
  readonly chunked: boolean;
  /** The body is complete: the last chunk was seen, or `Content-Length` bytes arrived. */
  readonly complete: boolean;
  /** Bytes after this response (a second response, or garbage). */
  readonly rest: Buffer;
  /** The value of a header (repeated values joined with `, `), or `undefined`. */
  header(name: string): string | undefined;
  /** The body as UTF-8 text. */
  text(): string;
}

/** Options of {@link parseResponse}. */
export interface ParseOptions {
  /** The request was HEAD (or the status forbids a body): nothing after the head is body. */
  bodiless?: boolean;
}

/** Options of {@link takeResponse}. */
export interface TakeOptions {
  /** The request's method (`HEAD`: no body follows the head). */
  readonly method?: string;
  /** The server ended the stream: a body without framing ends here. */
  readonly ended?: boolean;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Parses the first HTTP/1.1 response in `data`. Throws when not even the head is there. */
export function parseResponse(data: Buffer, options: ParseOptions = {}): RawResponse {
  const headEnd = data.indexOf(CRLFCRLF);
  if (headEnd < 0) {
    throw new Error(`no complete response head in ${JSON.stringify(data.toString('latin1'))}`);
  }
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (statusLine === null) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headerList: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
    headerList.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of headerList) {
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const header = (name: string): string | undefined => headers[name.toLowerCase()];
  const status = Number(statusLine[2]);
  const afterHead = data.subarray(headEnd + 4);
  const chunked = /\bchunked\b/i.test(header('transfer-encoding') ?? '');
  const bodiless = options.bodiless === true || status === 204 || status === 304 || status < 200;
  let body: Buffer;
  let complete: boolean;
  let rest: Buffer;
  if (bodiless) {
    body = Buffer.alloc(0);
    complete = true;
    rest = afterHead;
  } else if (chunked) {
    ({ body, complete, rest } = decodeChunked(afterHead));
  } else {
    const length = header('content-length');
    if (length === undefined) {
      body = afterHead;
      complete = false;
      rest = Buffer.alloc(0);
    } else {
      const n = Number(length);
      body = afterHead.subarray(0, n);
      complete = afterHead.length >= n;
      rest = afterHead.subarray(n);
    }
  }
  return {
    httpVersion: statusLine[1] as string,
    status,
    reason: statusLine[3] ?? '',
    headerList,
    afterHead,
    body,
    chunked,
    complete,
    rest,
    header,
    headers,
    text: () => body.toString('utf8'),
  };
}

/** Decodes a chunked body as far as it goes. */
export function decodeChunked(data: Buffer): { body: Buffer; complete: boolean; rest: Buffer } {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', pos);
    if (lineEnd < 0) break;
    const size = Number.parseInt(data.subarray(pos, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) break;
    const start = lineEnd + 2;
    if (size === 0) {
      // Last chunk; no trailers expected, so a blank line ends the body.
      const end = data.indexOf('\r\n', start);
      if (end !== start) break;
      return { body: Buffer.concat(parts), complete: true, rest: data.subarray(end + 2) };
    }
    if (data.length < start + size + 2) {
      parts.push(data.subarray(start, Math.min(data.length, start + size)));
      break;
    }
    parts.push(data.subarray(start, start + size));
    pos = start + size + 2;
  }
  return { body: Buffer.concat(parts), complete: false, rest: Buffer.alloc(0) };
}

/**
 * The first response in `data` once it is all there, and the bytes after it; `null` while more
 * bytes are needed (a body without framing is complete only when the server `ended`).
 */
export function takeResponse(
  data: Buffer,
  options: TakeOptions = {},
): { response: RawResponse; rest: Buffer } | null {
  if (data.indexOf(CRLFCRLF) < 0) return null;
  const response = parseResponse(data, { bodiless: options.method === 'HEAD' });
  const unframed = !response.chunked && response.header('content-length') === undefined;
  if (!response.complete && !(unframed && options.ended === true)) return null;
  return { response, rest: response.rest };
}

/** Whether `data` holds at least one complete response (for {@link ExchangeOptions.until}). */
export function hasCompleteResponse(data: Buffer, options: ParseOptions = {}): boolean {
  if (data.indexOf(CRLFCRLF) < 0) return false;
  return parseResponse(data, options).complete;
}

/** Builds the bytes of a request. `Host` is added unless given; a body gets a `Content-Length` unless framing headers are given. */
export function buildRequest(
  method: string,
  path: string,
  headers: Readonly<Record<string, string | number>> = {},
  body?: string | Buffer,
): Buffer {
  const names = Object.keys(headers).map((n) => n.toLowerCase());
  const lines = [`${method} ${path} HTTP/1.1`];
  if (!names.includes('host')) lines.push('Host: localhost');
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (
    body !== undefined &&
    !names.includes('content-length') &&
    !names.includes('transfer-encoding')
  ) {
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body === undefined ? head : Buffer.concat([head, Buffer.from(body)]);
}

/** One chunk of a chunked request body. */
export function chunk(data: string | Buffer): Buffer {
  const bytes = Buffer.from(data);
  return Buffer.concat([
    Buffer.from(`${bytes.length.toString(16)}\r\n`),
    bytes,
    Buffer.from('\r\n'),
  ]);
}

/** The last chunk of a chunked request body. */
export const LAST_CHUNK = '0\r\n\r\n';

/** Sends one request (usually with `Connection: close`) and parses the response. */
export async function rawRequest(
  port: number,
  request: string | Buffer | readonly (string | Buffer)[],
  options: ExchangeOptions & ParseOptions = {},
): Promise<Exchange & { response: RawResponse }> {
  const result = await exchange(port, request, options);
  return { ...result, response: parseResponse(result.data, options) };
}

/**
 * One request without a body to `server` on its own connection (`Connection: close`, plus
 * `headers`), parsed; a HEAD response is read as bodiless.
 */
export async function rawOnce(
  server: { readonly port: number },
  path: string,
  headers: Readonly<Record<string, string>> = {},
  method = 'GET',
): Promise<RawResponse> {
  const { response } = await rawRequest(
    server.port,
    buildRequest(method, path, { Connection: 'close', ...headers }),
    { bodiless: method === 'HEAD' },
  );
  return response;
}
