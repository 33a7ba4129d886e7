/**
 * WebSocket clients for the tests: a `ws` client that queues what it receives, and raw-socket
 * helpers (handshake and frames written by hand) for tests that must control exactly which bytes
 * arrive together.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { RawClient } from './socket.js';
import { deferred, within } from './wait.js';

/** How a connection ended, as the client saw it. */
export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** A `ws` client whose messages, close and handshake response a test can await (bounded). */
export class TestSocket {
  readonly ws: WebSocket;
  /** Resolves with the 101 response once the handshake succeeded. */
  readonly upgraded: Promise<IncomingMessage>;
  /** Resolves when open; rejects with the refusal's status (`unexpected-response`) or an error. */
  readonly opened: Promise<void>;
  /** Resolves when the connection is closed. */
  readonly closed: Promise<Closed>;
  /** The HTTP status of a refused handshake, and its body. */
  refusal: { status: number; body: string } | undefined;
  private readonly inbox: (string | Buffer)[] = [];
  private wake: (() => void) | null = null;

  constructor(
    url: string,
    protocols: string[] = [],
    options: ConstructorParameters<typeof WebSocket>[2] = {},
  ) {
    this.ws = new WebSocket(url, protocols, options);
    const upgraded = deferred<IncomingMessage>();
    const opened = deferred();
    const closed = deferred<Closed>();
    this.upgraded = upgraded.promise;
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.opened.catch(() => {});
    this.upgraded.catch(() => {});
    this.ws.on('upgrade', (res) => upgraded.resolve(res));
    this.ws.on('open', () => opened.resolve());
    this.ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        this.refusal = { status: res.statusCode ?? 0, body };
        const error = new Error(`refused with ${res.statusCode}`);
        opened.reject(error);
        upgraded.reject(error);
        closed.resolve({ code: 1006, reason: '' });
      });
    });
    this.ws.on('error', (error) => {
      opened.reject(error);
      upgraded.reject(error);
    });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.inbox.push(isBinary ? data : data.toString('utf8'));
      this.wake?.();
    });
    this.ws.on('close', (code: number, reason: Buffer) => {
      closed.resolve({ code, reason: reason.toString('utf8') });
      this.wake?.();
    });
  }

  /** Opens a connection and waits (bounded) for it to be open. */
  static async open(
    url: string,
    protocols: string[] = [],
    options: ConstructorParameters<typeof WebSocket>[2] = {},
  ): Promise<TestSocket> {
    const socket = new TestSocket(url, protocols, options);
    await within(socket.opened, 5_000, `opening ${url}`);
    return socket;
  }

  /** The next message received (bounded wait). */
  async next(ms = 5_000): Promise<string | Buffer> {
    const deadline = performance.now() + ms;
    while (this.inbox.length === 0) {
      if (this.ws.readyState === WebSocket.CLOSED)
        throw new Error('closed while waiting for a message');
      const { promise, resolve } = deferred();
      this.wake = resolve;
      await within(promise, Math.max(1, deadline - performance.now()), 'the next message');
      this.wake = null;
    }
    return this.inbox.shift() as string | Buffer;
  }

  /** The next message, parsed as JSON. */
  async nextJson<T = unknown>(ms = 5_000): Promise<T> {
    const message = await this.next(ms);
    if (typeof message !== 'string') throw new Error('expected a text message');
    return JSON.parse(message) as T;
  }

  /** Messages received and not taken yet. */
  get pending(): number {
    return this.inbox.length;
  }

  /** Waits (bounded) for the close. */
  waitClosed(ms = 5_000): Promise<Closed> {
    return within(this.closed, ms, 'the connection to close');
  }
}

/** A client frame (masked, as RFC 6455 requires of clients). */
export function clientFrame(opcode: number, payload: string | Buffer = ''): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = randomBytes(4);
  let header: Buffer;
  if (data.length < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | data.length]);
  } else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = (data[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([header, mask, masked]);
}

export const TEXT = 0x1;
export const CLOSE = 0x8;

/** A close frame's payload. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** One frame the server sent (servers do not mask). */
export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Takes one complete server frame off the front of `buf`, or `null` when more bytes are needed. */
export function takeFrame(buf: Buffer): { frame: ServerFrame; rest: Buffer } | null {
  if (buf.length < 2) return null;
  const opcode = (buf[0] as number) & 0x0f;
  let length = (buf[1] as number) & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) return null;
    length = buf.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) return null;
    length = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  if (buf.length < offset + length) return null;
  return {
    frame: { opcode, payload: buf.subarray(offset, offset + length) },
    rest: buf.subarray(offset + length),
  };
}

/** The upgrade request for `path`, as bytes. */
export function upgradeRequest(path: string, extraHeaders = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
    `${extraHeaders}\r\n`
  );
}

/** A raw client speaking WebSocket by hand. */
export class RawSocketClient {
  private constructor(readonly raw: RawClient) {}

  static async connect(port: number): Promise<RawSocketClient> {
    return new RawSocketClient(await RawClient.connect(port));
  }

  /**
   * Sends the upgrade request followed, in the same write, by `frames`, and waits for the 101.
   * Returns the status of the answer.
   */
  async handshake(path: string, frames: Buffer[] = []): Promise<number> {
    this.raw.send(Buffer.concat([Buffer.from(upgradeRequest(path)), ...frames]));
    const response = await this.raw.readResponse();
    return response.status;
  }

  /** Writes frames in one write. */
  send(...frames: Buffer[]): void {
    this.raw.send(Buffer.concat(frames));
  }

  /** The next frame from the server (bounded wait). */
  async nextFrame(ms = 5_000): Promise<ServerFrame> {
    let taken: ReturnType<typeof takeFrame> = null;
    await this.raw.until(
      () => {
        taken = takeFrame(this.raw.buffer);
        return taken !== null || this.raw.closed;
      },
      ms,
      'a frame from the server',
    );
    const result = taken as ReturnType<typeof takeFrame>;
    if (result === null) throw new Error('the connection closed before a frame arrived');
    this.raw.buffer = result.rest;
    return result.frame;
  }
}
