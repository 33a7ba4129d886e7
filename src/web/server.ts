import { createServer, type RequestListener, type Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Application } from './application.js';

/** Timeouts and limits of the node:http server. */
export interface ServerOptions {
  /**
   * Idle keep-alive timeout. Longer than common load balancers' idle timeouts (AWS ALB: 60 s), so
   * the balancer never reuses a socket the server just closed. Default 65 000.
   */
  keepAliveTimeoutMs?: number;
  /** Time allowed to receive a request's headers (slow-header attacks). Default 20 000. */
  headersTimeoutMs?: number;
  /**
   * Time allowed to receive a whole request, body included; 0 turns it off (for very long
   * uploads). Default 300 000 (Node's).
   */
  requestTimeoutMs?: number;
  /** How often the two timeouts above are checked. Default 1 000 (Node's is 30 000). */
  connectionsCheckingIntervalMs?: number;
  /** Largest request head in bytes; more is a 431. Default 16 384. */
  maxHeaderSize?: number;
}

/** The outcome of {@link HttpServer.close}. */
export interface CloseResult {
  /** Some connections were still busy at the deadline and were destroyed. */
  readonly forced: boolean;
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
  HPE_HEADERS_TIMEOUT: [408, 'Request Timeout'],
};

function clientErrorResponse(code: string | undefined): string {
  const [status, title] = (code !== undefined && CLIENT_ERRORS[code]) || [400, 'Bad Request'];
  const body = JSON.stringify({ type: 'about:blank', title, status });
  return (
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * A node:http server with production timeouts, connection tracking and a graceful
 * {@link close}: stop accepting, let in-flight requests finish with `Connection: close`, close
 * idle keep-alive sockets (each one as it becomes idle), and destroy what is left at a deadline.
 *
 * @example
 * const server = new HttpServer(app);
 * await server.listen(8080);
 * // later
 * const { forced } = await server.close(10_000);
 */
export class HttpServer {
  /** The underlying node:http server (attach `upgrade` listeners here). */
  readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly application: Application | null;
  private isDraining = false;
  private closing: Promise<CloseResult> | null = null;

  constructor(app: Application | RequestListener, options: ServerOptions = {}) {
    this.application = app instanceof Application ? app : null;
    const listener = app instanceof Application ? app.listener : app;
    const requestTimeout = options.requestTimeoutMs ?? 300_000;
    let headersTimeout = options.headersTimeoutMs ?? 20_000;
    if (requestTimeout > 0 && headersTimeout > requestTimeout) headersTimeout = requestTimeout;
    const owner = this;
    const baseWriteHead = ServerResponse.prototype.writeHead;
    // Every response written once draining has begun says `Connection: close`, so the socket is
    // closed right after it instead of lingering idle (the check costs one property read).
    class DrainAwareResponse extends ServerResponse {}
    DrainAwareResponse.prototype.writeHead = function writeHead(
      this: ServerResponse,
      ...args: Parameters<typeof baseWriteHead>
    ) {
      if (owner.isDraining) this.shouldKeepAlive = false;
      return baseWriteHead.apply(this, args);
    } as typeof baseWriteHead;
    this.server = createServer(
      {
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
        headersTimeout,
        requestTimeout,
        connectionsCheckingInterval: options.connectionsCheckingIntervalMs ?? 1_000,
        maxHeaderSize: options.maxHeaderSize ?? 16_384,
        ServerResponse: DrainAwareResponse as typeof ServerResponse,
      },
      listener,
    );
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
      const current = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
      if (error.code !== 'ECONNRESET' && socket.writable && !current?.headersSent) {
        socket.end(clientErrorResponse(error.code));
      }
      socket.destroySoon();
    });
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(port: number, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      const onListening = (): void => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      };
      if (host === undefined) this.server.listen(port, onListening);
      else this.server.listen(port, host, onListening);
    });
  }

  /** Open connections (including idle keep-alive ones). */
  get connections(): number {
    return this.sockets.size;
  }

  /** Whether {@link close} has begun. */
  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * Graceful close, idempotent (a second call returns the first call's promise):
   *
   * 1. the listener closes, so new connections are refused rather than accepted and reset;
   * 2. the application's request signals fire with reason `shutdown` (long polls answer now);
   * 3. responses from now on carry `Connection: close`; idle keep-alive sockets are closed now,
   *    and every other one as soon as it is idle (never one whose next request has begun);
   * 4. once every connection is closed the promise resolves; at `timeoutMs`, the remaining
   *    sockets are destroyed and it resolves with `forced: true`.
   */
  close(timeoutMs = 10_000): Promise<CloseResult> {
    this.closing ??= new Promise<CloseResult>((resolve) => {
      this.isDraining = true;
      let forced = false;
      const reaper = setInterval(() => this.server.closeIdleConnections(), 50);
      const deadline = setTimeout(() => {
        forced = this.sockets.size > 0;
        this.server.closeAllConnections();
        for (const socket of this.sockets) socket.destroy();
      }, timeoutMs);
      this.server.close(() => {
        clearInterval(reaper);
        clearTimeout(deadline);
        resolve({ forced });
      });
      this.server.closeIdleConnections();
      this.application?.beginDraining();
    });
    return this.closing;
  }
}
