import './async-context.js';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Application } from './application.js';
import { createServer, STATUS_CODES } from './node-http.js';
import { FastResponse, fastWriteHead } from './response.js';
import { upgradeResponse } from './websocket/upgrade.js';

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

/**
 * While draining, how long a socket must stay quiet (no response in progress, nothing received)
 * before it is closed. A client that just got a keep-alive response may be sending its next
 * request right now; closing the socket under it resets that request.
 */
const QUIET_BEFORE_CLOSE_MS = 100;
const REAP_INTERVAL_MS = 50;

/**
 * How long a connection closed on a request whose body was not read (refused with a 413, say)
 * stays open, reading nothing more, before it is destroyed. Destroying it at once, with the body
 * still arriving, resets it (RST), and a client still sending loses the response it had not yet
 * read: it sees EPIPE or ECONNRESET instead of the 413 (RFC 9112 §9.6, "lingering close").
 */
const LINGER_MS = 1_000;
/**
 * Most sockets lingering at once in this process: past it (a flood of bad requests), sockets are
 * destroyed at once as before, so lingering never costs more than this many descriptors.
 */
const MAX_LINGERING = 256;
let lingering = 0;
/** The last request received on a socket (set by the request listener). */
const kRequest = Symbol('request');
/** Set on a socket that {@link linger} is closing. */
const kLingering = Symbol('lingering');

type TrackedSocket = Socket & { [kRequest]?: IncomingMessage; [kLingering]?: true };

/**
 * Half-closes `socket` (our FIN follows what was written), stops reading from it, and destroys it
 * after {@link LINGER_MS}, giving the client time to read the response before the reset.
 */
function linger(socket: Socket): void {
  if (lingering >= MAX_LINGERING) {
    if (socket.writable) socket.end();
    Object.getPrototypeOf(socket).destroySoon.call(socket);
    return;
  }
  const handle = (socket as Socket & { _handle?: { reading?: boolean; readStop?(): number } })
    ._handle;
  if (handle?.readStop !== undefined) {
    handle.reading = false;
    handle.readStop();
  }
  if (socket.writable) socket.end();
  (socket as TrackedSocket)[kLingering] = true;
  lingering++;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => {
    lingering--;
    clearTimeout(timer);
  });
}

/**
 * node:http calls `destroySoon` once a `Connection: close` response is complete: that destroys
 * the socket as soon as the response is flushed. When the request's body was left unread, linger
 * instead.
 */
function lingeringDestroySoon(this: TrackedSocket): void {
  const req = this[kRequest];
  if (req === undefined || req.complete || this.destroyed) {
    Object.getPrototypeOf(this).destroySoon.call(this);
  } else {
    linger(this);
  }
}

interface QuietState {
  bytesRead: number;
  since: number;
  checks: number;
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

function clientErrorResponse(code: string | undefined, requestId: string): string {
  const [status, title] = (code !== undefined && CLIENT_ERRORS[code]) || [400, 'Bad Request'];
  return rawProblem(status, title, requestId);
}

/** A complete `Connection: close` problem+json response, for answers written to the raw socket. */
function rawProblem(status: number, title: string, requestId: string, extra = ''): string {
  const body = JSON.stringify({ type: 'about:blank', title, status });
  const id = /^[A-Za-z0-9._-]{1,128}$/.test(requestId) ? `X-Request-Id: ${requestId}\r\n` : '';
  return (
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
    `X-Content-Type-Options: nosniff\r\n${id}${extra}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * Why an HTTP/1.1 request's `Host` is unacceptable (RFC 9112 §3.2: missing or repeated is a 400),
 * or `null`. node:http's own check answers without problem details and lets a repeated one through.
 */
function hostProblem(req: IncomingMessage): string | null {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) return null;
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  if (count === 1) return null;
  return count === 0 ? 'the Host header is missing' : 'the Host header is repeated';
}

/**
 * A node:http server with production timeouts, connection tracking and a graceful
 * {@link close}: stop accepting, let in-flight requests finish with `Connection: close`, close
 * idle keep-alive sockets (each one once it has been quiet for a moment), and destroy what is left
 * at a deadline.
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
  /** Sockets handed over by an `upgrade`: WebSockets close themselves when the server drains. */
  private readonly upgraded = new WeakSet<Duplex>();
  private readonly application: Application | null;
  private isDraining = false;
  private keepAliveOff = false;
  private closing: Promise<CloseResult> | null = null;

  constructor(app: Application | RequestListener, options: ServerOptions = {}) {
    this.application = app instanceof Application ? app : null;
    const appListener = app instanceof Application ? app.listener : app;
    const listener: RequestListener = (req, res) => {
      (req.socket as TrackedSocket)[kRequest] = req;
      const problem = hostProblem(req);
      if (problem === null) appListener(req, res);
      else this.refuse(req, res, 400, problem);
    };
    const requestTimeout = options.requestTimeoutMs ?? 300_000;
    let headersTimeout = options.headersTimeoutMs ?? 20_000;
    if (requestTimeout > 0 && headersTimeout > requestTimeout) headersTimeout = requestTimeout;
    const owner = this;
    // Every response written once keep-alive is off (draining, or shutdown announced) says
    // `Connection: close`, so the socket is closed right after it instead of lingering idle (the
    // check costs one property read).
    class DrainAwareResponse extends FastResponse {}
    DrainAwareResponse.prototype.writeHead = function writeHead(
      this: FastResponse,
      status: number,
      reason?: unknown,
      headers?: unknown,
    ) {
      if (owner.keepAliveOff) this.shouldKeepAlive = false;
      return fastWriteHead.call(this, status, reason, headers);
    } as unknown as FastResponse['writeHead'];
    this.server = createServer(
      {
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
        headersTimeout,
        requestTimeout,
        connectionsCheckingInterval: options.connectionsCheckingIntervalMs ?? 1_000,
        maxHeaderSize: options.maxHeaderSize ?? 16_384,
        // Checked by the listener above, which answers with problem details.
        requireHostHeader: false,
        ServerResponse: DrainAwareResponse as unknown as typeof ServerResponse,
      },
      listener,
    );
    // A socket leaves the set as it emits `close`, seen by its `emit` (one shared function, set
    // on the socket as `destroySoon` is) rather than by a `close` listener: node:http keeps two
    // there while a response is in progress, and a third grows the socket's listener array
    // from 2 to 19 slots (144 B per held connection; `once` would add a closure on top).
    const sockets = this.sockets;
    function trackingEmit(this: Socket, event: string | symbol): boolean {
      if (event === 'close') sockets.delete(this);
      // biome-ignore lint/complexity/noArguments: every argument passed on, no array per event
      return Reflect.apply(Object.getPrototypeOf(this).emit, this, arguments);
    }
    this.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.destroySoon = lingeringDestroySoon;
      socket.emit = trackingEmit as Socket['emit'];
    });
    if (this.application !== null) {
      // Let the handler decide on `Expect: 100-continue`: it sends 100 Continue only when it is
      // about to read a body it accepts, and answers 413 at once to a Content-Length over its
      // limit (node:http would invite the whole body first).
      this.server.on('checkContinue', (req, res) => this.server.emit('request', req, res));
      // Upgrades (WebSockets) are routed through the application too: see its upgradeListener.
      const upgrade = this.application.upgradeListener;
      this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        this.upgraded.add(socket);
        const problem = hostProblem(req);
        if (problem === null) upgrade(req, socket, head);
        else this.refuse(req, upgradeResponse(req, socket, head), 400, problem);
      });
    }
    // An `Expect` other than 100-continue: 417 (node:http's own answer has no problem details).
    this.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      this.refuse(req, res, 417, `unsupported Expect: ${req.headers.expect ?? ''}`);
    });
    // CONNECT (proxy tunnels) is not served; node:http would drop the connection without a word.
    this.server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const id = this.application?.settings.requestId?.(req) ?? '';
      const allow = 'Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n';
      if (socket.writable) socket.end(rawProblem(405, 'Method Not Allowed', id, allow));
      socket.destroySoon();
    });
    this.server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
      // node:http parses what follows an answered request whose body it did not read as a new
      // request: on a lingering socket that is the rest of the refused body, already answered.
      // Destroying the socket for it would reset the connection lingering is there to keep.
      if ((socket as TrackedSocket)[kLingering] === true) return;
      if (error.code === 'ECONNRESET') {
        socket.destroy(); // the client is gone
        return;
      }
      const current = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
      if (socket.writable && !current?.headersSent) {
        // No request could be parsed, so a request id is made from an empty one.
        const makeId = this.application?.settings.requestId;
        const id = makeId ? makeId({ headers: {} } as IncomingMessage) : '';
        socket.write(clientErrorResponse(error.code, id));
        // The client may still be sending (a head over the limit, say): let it read the answer.
        linger(socket);
        return;
      }
      socket.destroySoon();
    });
  }

  /**
   * Answers a request the application never sees (a bad `Host`, an unsupported `Expect`) with
   * problem details and closes the connection: whatever follows on it cannot be trusted.
   */
  private refuse(req: IncomingMessage, res: ServerResponse, status: number, detail: string): void {
    const id = this.application?.settings.requestId?.(req) ?? '';
    const title = STATUS_CODES[status] ?? 'Error';
    const body = JSON.stringify({ type: 'about:blank', title, status, detail });
    res.shouldKeepAlive = false;
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/problem+json');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (/^[A-Za-z0-9._-]{1,128}$/.test(id)) res.setHeader('X-Request-Id', id);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
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

  /**
   * From now on every response says `Connection: close`, so clients holding keep-alive connections
   * reconnect (and, behind a Kubernetes Service, land on other pods) while this server still serves.
   * Called when shutdown is announced, before the listener closes; {@link close} implies it.
   */
  stopKeepAlive(): void {
    this.keepAliveOff = true;
  }

  /** Whether {@link close} has begun. */
  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * Graceful close, idempotent (a second call returns the first call's promise):
   *
   * 1. the listener closes, so new connections are refused rather than accepted and reset;
   * 2. the application's request signals fire with reason `shutdown` (long polls answer now), and
   *    every WebSocket is closed with 1001 (its socket counts as busy until the handshake ends);
   * 3. responses from now on carry `Connection: close`, so a busy socket closes after its
   *    response; an idle keep-alive socket is closed once it has stayed quiet for a moment (100 ms:
   *    closing it at once would reset a request the client may be sending on it right now);
   * 4. once every connection is closed the promise resolves; at `timeoutMs`, the remaining
   *    sockets are destroyed and it resolves with `forced: true`.
   */
  close(timeoutMs = 10_000): Promise<CloseResult> {
    this.closing ??= new Promise<CloseResult>((resolve) => {
      this.isDraining = true;
      this.keepAliveOff = true;
      let forced = false;
      const quiet = new WeakMap<Socket, QuietState>();
      const reaper = setInterval(() => this.closeQuietSockets(quiet), REAP_INTERVAL_MS);
      const deadline = setTimeout(() => {
        forced = this.sockets.size > 0;
        this.server.closeAllConnections();
        for (const socket of this.sockets) socket.destroy();
      }, timeoutMs);
      // node:http's close() (Node >= 19) also destroys every idle keep-alive socket at once,
      // racing a client that is sending its next request on one (a reset: nodejs/node#47130).
      // Close the listener alone; the reaper closes idle sockets once they have been quiet.
      const server = this.server as Server & { closeIdleConnections(): void };
      server.closeIdleConnections = () => {};
      try {
        server.close(() => {
          clearInterval(reaper);
          clearTimeout(deadline);
          // The server's close comes before the last sockets' `close` events, which end their
          // requests for the observers (the log line and metrics of a request cut off at the
          // deadline): resolve once those have been emitted.
          const open = [...this.sockets].map(
            (socket) => new Promise<void>((done) => socket.once('close', () => done())),
          );
          void Promise.all(open).then(() => resolve({ forced }));
        });
      } finally {
        Reflect.deleteProperty(server, 'closeIdleConnections');
      }
      this.application?.beginDraining();
      this.closeQuietSockets(quiet);
    });
    return this.closing;
  }

  /**
   * Closes the sockets with no response in progress that have received nothing for
   * {@link QUIET_BEFORE_CLOSE_MS} and over at least two checks (so that at least one turn of the
   * event loop could have read a request waiting in the kernel). A socket that receives a request
   * instead gets a response with `Connection: close` and is closed right after it.
   */
  private closeQuietSockets(quiet: WeakMap<Socket, QuietState>): void {
    const now = performance.now();
    for (const socket of this.sockets) {
      if (this.upgraded.has(socket)) continue; // closed by its handler (1001), or at the deadline
      const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      const state = quiet.get(socket);
      const busy = (current !== null && current !== undefined) || socket.writableLength > 0;
      if (busy || state === undefined || state.bytesRead !== socket.bytesRead) {
        quiet.set(socket, { bytesRead: socket.bytesRead, since: now, checks: 0 });
      } else if (++state.checks >= 2 && now - state.since >= QUIET_BEFORE_CLOSE_MS) {
        socket.destroy();
      }
    }
  }
}
