/**
 * Raw `node:net` helpers for behaviour tests: a client that sees exactly the bytes the server
 * sends, a parser for one HTTP/1.1 response at a time, and a capturing logger.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from '../../src/web/index.js';

/** Rejects with `label` if `promise` has not settled within `ms` (a failure guard, not a sleep). */
export function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve function, for events a test waits on. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One log line a {@link capturingLogger} recorded. */
export interface LogEntry {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly obj: object;
  readonly msg: string | undefined;
}

/** A logger that keeps every line in `entries` and prints nothing. */
export function capturingLogger(): Logger & { entries: LogEntry[]; errors(): LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj, msg });
    };
  return {
    entries,
    errors: () => entries.filter((e) => e.level === 'error' || e.level === 'warn'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
  };
}

/** A parsed HTTP/1.1 response. */
export interface RawResponse {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Whether the body came with chunked transfer coding. */
  readonly chunked: boolean;
}

/** Tries to parse one response at the start of `buf`; `null` when more bytes are needed. */
export function parseResponse(
  buf: Buffer,
  ended: boolean,
  method = 'GET',
): { response: RawResponse; rest: Buffer } | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!match) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
  const status = Number(match[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let pos = headEnd + 4;
  const noBody = method === 'HEAD' || status === 204 || status === 304 || status < 200;
  if (noBody) {
    return {
      response: { status, headers, body: Buffer.alloc(0), chunked: false },
      rest: buf.subarray(pos),
    };
  }
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd < 0) return null;
      const size = Number.parseInt(buf.subarray(pos, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) {
        // No trailers are expected: the terminating chunk is followed by an empty line.
        const end = buf.indexOf('\r\n\r\n', lineEnd);
        if (end < 0) return null;
        const response = { status, headers, body: Buffer.concat(parts), chunked: true };
        return { response, rest: buf.subarray(end + 4) };
      }
      if (buf.length < lineEnd + 2 + size + 2) return null;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
  }
  const length = headers['content-length'];
  if (length !== undefined) {
    const n = Number(length);
    if (buf.length < pos + n) return null;
    const response = { status, headers, body: buf.subarray(pos, pos + n), chunked: false };
    return { response, rest: buf.subarray(pos + n) };
  }
  if (!ended) return null;
  return {
    response: { status, headers, body: buf.subarray(pos), chunked: false },
    rest: Buffer.alloc(0),
  };
}

/**
 * A raw TCP client: buffers what the server sends, and records the end of the stream and any
 * socket error (a reset, say), so a test can assert on exactly how the connection ended.
 */
export class RawClient {
  readonly socket: Socket;
  private parts: Buffer[] = [];
  /** Total bytes received. */
  received = 0;
  /** The server ended its side (FIN). */
  ended = false;
  /** The socket closed. */
  closed = false;
  /** The socket error, if any (ECONNRESET...). */
  error: (Error & { code?: string }) | null = null;
  private readonly waiters = new Set<() => void>();
  /** Resolves when the socket closes (whatever the reason). */
  readonly whenClosed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    const closed = deferred();
    this.whenClosed = closed.promise;
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.parts.push(chunk);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (error) => {
      this.error = error;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      closed.resolve();
      this.notify();
    });
  }

  /** Bytes received and not yet consumed by {@link readResponse}. */
  get buffer(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0] as Buffer;
  }

  set buffer(value: Buffer) {
    this.parts = [value];
  }

  /** The last `n` bytes received, as latin1 text (cheap: nothing is concatenated but them). */
  tail(n: number): string {
    let text = '';
    for (let i = this.parts.length - 1; i >= 0 && text.length < n; i--) {
      const part = this.parts[i] as Buffer;
      text = part.subarray(-(n - text.length)).toString('latin1') + text;
    }
    return text;
  }

  /** Connects to 127.0.0.1:`port`. Rejects with the connection error (ECONNREFUSED...). */
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' });
      const onError = (error: Error): void => reject(error);
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(new RawClient(socket));
      });
    });
  }

  /** Writes raw bytes. */
  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a GET (keep-alive unless headers say otherwise). */
  get(path: string, extraHeaders = ''): void {
    this.send(`GET ${path} HTTP/1.1\r\nHost: test\r\n${extraHeaders}\r\n`);
  }

  /** Waits until `condition` holds, re-checking on every socket event. */
  async until(condition: () => boolean, ms: number, label: string): Promise<void> {
    if (condition()) return;
    const { promise, resolve } = deferred();
    const check = (): void => {
      if (condition()) resolve();
    };
    this.waiters.add(check);
    try {
      await within(promise, ms, label);
    } finally {
      this.waiters.delete(check);
    }
  }

  /** Waits for one complete response and consumes it from the buffer. */
  async readResponse(ms = 5_000, method = 'GET'): Promise<RawResponse> {
    let parsed: ReturnType<typeof parseResponse> = null;
    await this.until(
      () => {
        parsed = parseResponse(this.buffer, this.ended || this.closed, method);
        return parsed !== null || this.closed;
      },
      ms,
      'a complete response',
    );
    const result = parsed as ReturnType<typeof parseResponse>;
    if (result === null) {
      throw new Error(
        `connection closed before a complete response (${this.error?.code ?? 'EOF'}): ` +
          JSON.stringify(this.buffer.toString('latin1').slice(0, 200)),
      );
    }
    this.buffer = result.rest;
    return result.response;
  }

  /** Destroys the socket. */
  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }
}

/** Tries to connect; resolves with the error code (e.g. `ECONNREFUSED`) or `'connected'`. */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('error', (error: Error & { code?: string }) =>
      resolve(error.code ?? error.message),
    );
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
  });
}
