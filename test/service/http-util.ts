/**
 * HTTP clients for the black-box service tests: one request on its own connection (node:http,
 * no agent), a raw keep-alive socket that sees exactly what the server sends and how the
 * connection ends, a connect attempt, and a bounded poll.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { within } from './child.js';

/** A complete response. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Options of {@link send}. */
export interface SendOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs?: number;
}

/**
 * An error from {@link send}, with the socket error's code (ECONNREFUSED, ECONNRESET…) and
 * whether the TCP connection had been established.
 */
export interface SendError extends Error {
  readonly code?: string;
  connected?: boolean;
}

/**
 * One request on a connection of its own (`Connection: close`), to 127.0.0.1 only. Rejects with
 * the socket error, on a truncated response, or after `timeoutMs`.
 */
export function send(port: number, path: string, options: SendOptions = {}): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.once('error', fail);
        res.once('end', () => {
          if (!res.complete) fail(new Error(`truncated response ${res.statusCode}`));
          else resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    let connected = false;
    const fail = (error: SendError): void => {
      error.connected = connected;
      reject(error);
    };
    req.once('socket', (socket) =>
      socket.once('connect', () => {
        connected = true;
      }),
    );
    req.setTimeout(options.timeoutMs ?? 5_000, () => {
      req.destroy(new Error(`${options.method ?? 'GET'} ${path}: no answer in time`));
    });
    req.once('error', fail);
    req.end(options.body);
  });
}

/** Tries to connect: `'connected'` or the error code (ECONNREFUSED…). */
export function tryConnect(port: number): Promise<string> {
  const attempt = new Promise<string>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('error', (error: Error & { code?: string }) =>
      resolve(error.code ?? error.message),
    );
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
  });
  return within(attempt, 5_000, `connecting to ${port}`);
}

/** A parsed response off a raw socket. */
export interface RawAnswer {
  readonly status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Parses one response at the start of `data`; `null` while incomplete. */
export function parseOne(data: Buffer, method: string): { answer: RawAnswer; rest: Buffer } | null {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (statusLine === null) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const status = Number(statusLine[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const start = headEnd + 4;
  if (method === 'HEAD' || status === 204 || status === 304) {
    return { answer: { status, headers, body: '' }, rest: data.subarray(start) };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let pos = start;
    for (;;) {
      const lineEnd = data.indexOf('\r\n', pos);
      if (lineEnd < 0) return null;
      const size = Number.parseInt(data.subarray(pos, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) {
        if (data.length < lineEnd + 4) return null;
        const body = Buffer.concat(parts).toString('utf8');
        return { answer: { status, headers, body }, rest: data.subarray(lineEnd + 4) };
      }
      if (data.length < lineEnd + 2 + size + 2) return null;
      parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (data.length < start + length) return null;
  const body = data.subarray(start, start + length).toString('utf8');
  return { answer: { status, headers, body }, rest: data.subarray(start + length) };
}

/**
 * A raw TCP connection: records every byte, whether the server ended it (FIN) and any socket error
 * (a reset), so a test can tell a clean close from a reset.
 */
export class RawSocket {
  private data: Buffer = Buffer.alloc(0);
  /** Bytes received in total. */
  received = 0;
  ended = false;
  closed = false;
  error: (Error & { code?: string }) | null = null;
  readonly whenClosed: Promise<void>;
  private waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    this.whenClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.received += chunk.length;
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
      this.notify();
    });
  }

  static connect(port: number): Promise<RawSocket> {
    const connected = new Promise<RawSocket>((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new RawSocket(socket));
      });
    });
    return within(connected, 5_000, `connecting to ${port}`);
  }

  /** Writes bytes; resolves once they are handed to the OS. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Sends a keep-alive GET (or HEAD). */
  request(path: string, method = 'GET'): Promise<void> {
    return this.write(`${method} ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
  }

  /** Bytes received and not yet consumed. */
  get pending(): Buffer {
    return this.data;
  }

  /** Waits (bounded) for one complete response and consumes it. */
  async readResponse(timeoutMs = 5_000, method = 'GET'): Promise<RawAnswer> {
    let parsed: ReturnType<typeof parseOne> = null;
    await this.until(
      () => {
        parsed = parseOne(this.data, method);
        return parsed !== null || this.closed;
      },
      timeoutMs,
      'a complete response',
    );
    const result = parsed as ReturnType<typeof parseOne>;
    if (result === null) {
      throw new Error(
        `closed (${this.error?.code ?? 'FIN'}) before a complete response: ` +
          JSON.stringify(this.data.toString('latin1').slice(0, 300)),
      );
    }
    this.data = result.rest;
    return result.answer;
  }

  /** Waits (bounded) for the connection to close. */
  waitClosed(timeoutMs = 5_000): Promise<void> {
    return within(this.whenClosed, timeoutMs, 'the connection to close');
  }

  /** Waits until `condition` holds, re-checked on every socket event. */
  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    let check: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      check = () => {
        if (condition()) resolve();
      };
      this.waiters.add(check);
    });
    return within(done, timeoutMs, what).finally(() => this.waiters.delete(check));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * Re-runs `probe` every `intervalMs` until it returns a value other than `undefined`; rejects after
 * `timeoutMs` with `what`.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 5_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `http_requests_in_flight` from the service's `/metrics` (application requests only). */
export async function inFlight(port: number): Promise<number> {
  const metrics = await send(port, '/metrics');
  const match = /^http_requests_in_flight(?:\{[^}]*\})? (\S+)$/m.exec(metrics.body);
  if (match === null) throw new Error('no http_requests_in_flight in /metrics');
  return Number(match[1]);
}

/** Waits (bounded poll) until at least `n` application requests are being handled. */
export function waitInFlight(port: number, n: number, timeoutMs = 5_000): Promise<number> {
  return pollUntil(
    async () => {
      const value = await inFlight(port);
      return value >= n ? value : undefined;
    },
    `${n} requests in flight`,
    timeoutMs,
  );
}
