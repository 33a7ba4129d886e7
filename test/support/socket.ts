/**
 * Clients that see how the server answers and how a connection ends: a keep-alive raw TCP client
 * ({@link RawClient}), one request on its own connection through node:http ({@link send}), and a
 * bare connect attempt ({@link tryConnect}). Everything goes to 127.0.0.1 only.
 */
import { type Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { type RawResponse, takeResponse } from './http.js';
import { deferred, within } from './wait.js';

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

  /** Connects to 127.0.0.1:`port` (bounded: 5 s). Rejects with the connection error. */
  static connect(port: number): Promise<RawClient> {
    const connected = new Promise<RawClient>((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new RawClient(socket));
      });
    });
    return within(connected, 5_000, `connecting to ${port}`);
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

  /** Writes raw bytes without waiting. */
  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Writes bytes; resolves once they are handed to the OS. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Sends a GET (keep-alive unless the headers say otherwise). */
  get(path: string, extraHeaders = ''): void {
    this.send(`GET ${path} HTTP/1.1\r\nHost: test\r\n${extraHeaders}\r\n`);
  }

  /** Sends a keep-alive request without a body; resolves once it is written. */
  request(path: string, method = 'GET'): Promise<void> {
    return this.write(`${method} ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
  }

  /** Waits (bounded) until `condition` holds, re-checking on every socket event. */
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

  /** Waits (bounded) for one complete response to `method` and consumes it from the buffer. */
  async readResponse(ms = 5_000, method = 'GET'): Promise<RawResponse> {
    let taken: ReturnType<typeof takeResponse> = null;
    await this.until(
      () => {
        taken = takeResponse(this.buffer, { method, ended: this.ended || this.closed });
        return taken !== null || this.closed;
      },
      ms,
      'a complete response',
    );
    const result = taken as ReturnType<typeof takeResponse>;
    if (result === null) {
      throw new Error(
        `connection closed before a complete response (${this.error?.code ?? 'EOF'}): ` +
          JSON.stringify(this.buffer.toString('latin1').slice(0, 300)),
      );
    }
    this.buffer = result.rest;
    return result.response;
  }

  /** Waits (bounded) for the connection to close. */
  waitClosed(ms = 5_000): Promise<void> {
    return within(this.whenClosed, ms, 'the connection to close');
  }

  /** Destroys the socket. */
  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Tries to connect (bounded: 5 s): `'connected'` or the error code (`ECONNREFUSED`...). */
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

/** A complete response read by {@link send}. */
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
  /** Give up after this long (default 5 s). */
  readonly timeoutMs?: number;
  /** The agent (default none: a connection of its own, closed after the answer). */
  readonly agent?: Agent | false;
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
 * One request through node:http (any method, any header bytes) to 127.0.0.1, read to the end.
 * Rejects with the socket error, on a truncated response, or after `timeoutMs`.
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
        agent: options.agent ?? false,
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
    req.once('socket', (socket) => {
      // A kept-alive socket an agent hands over again is connected already (and would pile up a
      // listener per request that never fires).
      if (!socket.connecting) connected = true;
      else
        socket.once('connect', () => {
          connected = true;
        });
    });
    req.setTimeout(options.timeoutMs ?? 5_000, () => {
      req.destroy(new Error(`${options.method ?? 'GET'} ${path}: no answer in time`));
    });
    req.once('error', fail);
    req.end(options.body);
  });
}

/** A loopback port that was free a moment ago (for a program that cannot be told port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}
