import type { WebSocket } from 'ws';
import { HttpError, RequestAborted, WebSocketClosedError, withCode } from '../errors.js';
import { type Chunk, RequestHandler } from '../handler.js';
import { isThenable } from '../thenable.js';
import { Heartbeat } from './heartbeat.js';
import { OPEN, sendMessage } from './send.js';
import {
  acceptWebSocket,
  checkHandshake,
  chooseSubprotocol,
  closeCodeFor,
  DEFAULT_MAX_MESSAGE_SIZE,
  sameOrigin,
} from './upgrade.js';

export { DEFAULT_MAX_MESSAGE_SIZE } from './upgrade.js';

/**
 * Base class for WebSocket handlers (on the `ws` package), after Tornado's `WebSocketHandler`.
 * Route it like any handler; a new instance serves each connection, as long as it lives:
 *
 * 1. the request goes through the usual steps: `setDefaultHeaders`, {@link initialize} (route
 *    options), {@link prepare} (may be async, may refuse with an `HttpError`). Path, query
 *    arguments, headers and cookies are all there; headers set now (cookies) go out with the 101.
 * 2. The handshake: a request that is not a WebSocket upgrade is a 400; a cross-origin one
 *    ({@link checkOrigin}) a 403; during a server drain a 503. {@link selectSubprotocol} picks a
 *    subprotocol. The upgrade request is then finished for observers and logs with status 101.
 * 3. {@link open} with the path arguments (may be async: messages wait until it settles), then
 *    {@link onMessage} for each message, one at a time: when it returns a promise, the next message
 *    is delivered only once that settles (the socket is paused meanwhile).
 * 4. {@link onClose} once, when the connection is closed by either side, after `open` and any
 *    message in progress have settled.
 *
 * An error thrown by `open` or `onMessage` is logged and closes the connection with 1011. Messages
 * larger than {@link maxMessageSize} close it with 1009. When the server drains, every connection is
 * closed with 1001 (going away) and the drain waits for the close handshakes.
 *
 * @example
 * class EchoHandler extends WebSocketHandler {
 *   override onMessage(message: string | Buffer): Promise<void> {
 *     return this.writeMessage(message);
 *   }
 * }
 * const app = new Application([['/echo', EchoHandler]]);
 */
export class WebSocketHandler<O = undefined, U = unknown> extends RequestHandler<O, U> {
  /** Largest message accepted, in bytes; a larger one closes the connection with 1009. */
  maxMessageSize: number = DEFAULT_MAX_MESSAGE_SIZE;
  /** Send a ping this often (0: never). A peer that does not answer in time is dropped. */
  pingIntervalMs = 0;
  /**
   * With {@link pingIntervalMs}: how long the peer may leave pings unanswered before the
   * connection is dropped (code 1006). 0: three intervals, and at least 30 s (Tornado's default).
   */
  pingTimeoutMs = 0;
  /** The subprotocol {@link selectSubprotocol} chose, if any. */
  selectedSubprotocol: string | undefined = undefined;
  /** The close code, once closed (1005 when the peer sent none, 1006 for a dropped connection). */
  closeCode: number | undefined = undefined;
  /** The close reason, once closed. */
  closeReason: string | undefined = undefined;

  #ws: WebSocket | null = null;
  #upgraded = false;
  #handshakeLost = false;
  #wsController: AbortController | null = null;
  readonly #queue: (string | Buffer)[] = [];
  #busy = false;
  #failed = false;
  #closeSeen = false;
  #closeDone = false;
  #heartbeat: Heartbeat | null = null;
  /** The code `ws` closed with after a protocol error (the peer's answer is not read then). */
  #errorCode: number | undefined = undefined;

  // ---------------------------------------------------------------------------------------------
  // Hooks to override

  /**
   * The connection is open (after the 101 went out), with the route's path arguments. May be
   * async: messages are held until it settles. Throwing (or rejecting) logs the error and closes
   * the connection with 1011.
   */
  open(..._args: string[]): void | Promise<void> {}

  /**
   * A message arrived: a string for a text message, a `Buffer` for a binary one. May be async: the
   * next message is delivered only after the promise settles (the socket is paused meanwhile).
   * Throwing (or rejecting) logs the error and closes the connection with 1011.
   */
  onMessage(_message: string | Buffer): void | Promise<void> {}

  /**
   * The connection is closed (by either side, or dropped). Runs once, after `open` and the message
   * in progress have settled. `code` is 1005 when the peer sent no code, 1006 when the connection
   * dropped without a close handshake. Runs synchronously; a promise it returns is not awaited.
   * Errors thrown here are logged.
   */
  onClose(_code: number, _reason: string): void {}

  /**
   * A ping arrived (it is answered with a pong automatically). Runs synchronously; errors thrown
   * here are logged.
   */
  onPing(_data: Buffer): void {}

  /** A pong arrived (the answer to {@link ping}). Runs synchronously; errors are logged. */
  onPong(_data: Buffer): void {}

  /**
   * Whether to accept a connection from a page at `origin` (the `Origin` header). The default
   * accepts only the same host and port as the request's `Host` header; a refusal is a 403 before
   * the upgrade. Requests without an `Origin` (clients that are not browsers) are not checked.
   * Override to allow other origins, e.g. `return new URL(origin).hostname.endsWith('.example.com')`.
   * Runs synchronously during the handshake (after `prepare`); must not be async.
   */
  checkOrigin(origin: string): boolean {
    return sameOrigin(origin, this.request.headers.host);
  }

  /**
   * Picks one of the subprotocols the client offered (`Sec-WebSocket-Protocol`, in its order;
   * empty when it offered none), or `undefined` for none. Returning one that was not offered is an
   * error (500, `ERR_SUBPROTOCOL_NOT_OFFERED`). Runs synchronously during the handshake, after
   * {@link checkOrigin}; must not be async (pick from the offer; do any lookup in `prepare`).
   */
  selectSubprotocol(_protocols: readonly string[]): string | undefined {
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /**
   * Sends a message: a string as text, bytes as binary, any other value as JSON text. `binary`
   * overrides the frame type. The promise resolves once the message was handed to the connection
   * and rejects with {@link WebSocketClosedError} if the connection is closed; a rejection nobody
   * awaits is not an unhandled rejection, so broadcasting without awaiting is safe.
   */
  writeMessage(data: string | Uint8Array | ArrayBuffer | object, binary?: boolean): Promise<void> {
    return sendMessage(this.#ws, data, binary);
  }

  /** Sends a ping; {@link onPong} gets the answer. Throws {@link WebSocketClosedError} if closed. */
  ping(data: string | Uint8Array = ''): void {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== OPEN) throw new WebSocketClosedError();
    ws.ping(data);
  }

  /**
   * Starts the closing handshake (default code 1000). Does nothing if the connection is already
   * closing or closed. A peer that does not answer within 5 s is disconnected.
   */
  close(code = 1000, reason = ''): void {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== OPEN) return;
    ws.close(code, reason);
    // A socket paused for a slow onMessage must still read the peer's answering close frame.
    if (ws.isPaused) ws.resume();
  }

  /** Whether the connection is open (the handshake is done and no close has begun). */
  get isOpen(): boolean {
    return this.#ws !== null && this.#ws.readyState === OPEN;
  }

  /** Bytes queued for sending that the connection has not taken yet (a slow reader's backlog). */
  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /**
   * Fires when the connection closes (before or after the upgrade), or with reason `shutdown` when
   * the server starts draining.
   */
  override get signal(): AbortSignal {
    let controller = this.#wsController;
    if (controller === null) {
      controller = new AbortController();
      this.#wsController = controller;
      const socket = this.request.socket;
      if (this.#closeSeen || socket.destroyed) {
        controller.abort(new RequestAborted('disconnect'));
      } else if (this.application.draining) {
        controller.abort(new RequestAborted('shutdown'));
      } else {
        this.application.trackAbortable(this);
        socket.once('close', () => {
          this.application.untrackAbortable(this);
          this.#wsController?.abort(new RequestAborted('disconnect'));
        });
      }
    }
    return controller.signal;
  }

  /** After the upgrade, the HTTP response is over: use {@link writeMessage}. */
  override write(chunk: Chunk): this {
    if (this.#upgraded) {
      throw withCode(
        new Error('write() on a WebSocket: use writeMessage()'),
        'ERR_WEBSOCKET_UPGRADED',
      );
    }
    return super.write(chunk);
  }

  /** After the upgrade, the HTTP response is over: use {@link writeMessage}. */
  override flush(): Promise<void> {
    if (this.#upgraded) {
      return Promise.reject(
        withCode(new Error('flush() on a WebSocket'), 'ERR_WEBSOCKET_UPGRADED'),
      );
    }
    return super.flush();
  }

  /** Ends the HTTP response of a refused handshake; after the upgrade it does nothing. */
  override finish(chunk?: Chunk): void {
    if (this.#upgraded) return;
    super.finish(chunk);
  }

  override get isFinished(): boolean {
    return this.#upgraded || super.isFinished;
  }

  override get isAborted(): boolean {
    return this.#handshakeLost || super.isAborted;
  }

  // ---------------------------------------------------------------------------------------------
  // The handshake

  /** The handshake (Tornado's `WebSocketHandler.get`); not to be overridden. */
  override get(): void {
    const req = this.request;
    const head = checkHandshake(req, this.method, this.application.draining);
    const origin = req.headers.origin ?? req.headers['sec-websocket-origin'];
    if (typeof origin === 'string' && !this.checkOrigin(origin)) {
      throw new HttpError(403, 'cross-origin WebSocket refused');
    }
    this.selectedSubprotocol = chooseSubprotocol(req, (offered) => this.selectSubprotocol(offered));
    const socket = req.socket;
    if (socket.destroyed) return; // the client left during prepare(): nothing to answer
    this.#upgraded = true;
    this.response.detachSocket(socket);
    const ws = acceptWebSocket(this, req, head, this.maxMessageSize);
    if (ws === null) {
      // `ws` refused after all (the client half-closed meanwhile) and closed the socket.
      this.#handshakeLost = true;
      socket.destroy();
      this.#notifyRequestFinished();
      return;
    }
    this.response.statusCode = 101;
    this.#notifyRequestFinished();
    this.#attach(ws);
  }

  // ---------------------------------------------------------------------------------------------
  // Machinery

  /** @internal The server is draining: close with 1001 (going away). */
  override abortForShutdown(): void {
    this.#wsController?.abort(new RequestAborted('shutdown'));
    this.close(1001, 'server shutting down');
  }

  #attach(ws: WebSocket): void {
    this.#ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.#enqueue(isBinary ? data : data.toString('utf8'));
    });
    ws.on('ping', (data: Buffer) => this.#runHook(() => this.onPing(data)));
    ws.on('pong', (data: Buffer) => {
      this.#heartbeat?.pong();
      this.#runHook(() => this.onPong(data));
    });
    ws.on('error', (error: Error & { code?: string }) => {
      // Protocol errors (a message over the size limit, bad UTF-8...): `ws` closes the connection
      // with the matching code and stops reading, so that code is the one onClose reports.
      this.#errorCode ??= closeCodeFor(error.code);
      this.log.debug({ err: error, url: this.path }, 'websocket protocol error');
    });
    ws.on('close', (code: number, reason: Buffer) => this.#closed(code, reason.toString('utf8')));
    this.application.trackAbortable(this);
    const observers = this.application.websocketOpenObservers;
    if (observers !== null) this.application.notify(observers, this, 'websocket observer failed');
    this.#heartbeat = Heartbeat.start(ws, this.pingIntervalMs, this.pingTimeoutMs, (timeoutMs) =>
      this.log.debug({ url: this.path, timeoutMs }, 'websocket peer stopped answering'),
    );
    this.#busy = true;
    let opened: unknown;
    try {
      opened = this.open(...this.pathArgs);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (isThenable(opened)) {
      this.#pause();
      opened.then(
        () => this.#drain(),
        (error: unknown) => this.#fail(error),
      );
    } else {
      this.#drain();
    }
  }

  #enqueue(message: string | Buffer): void {
    if (this.#failed) return;
    this.#queue.push(message);
    if (!this.#busy) this.#drain();
  }

  /** Delivers queued messages one at a time, pausing the socket while a promise is pending. */
  #drain(): void {
    this.#busy = true;
    while (this.#queue.length > 0 && !this.#failed) {
      const message = this.#queue.shift() as string | Buffer;
      let result: unknown;
      try {
        result = this.onMessage(message);
      } catch (error) {
        this.#fail(error);
        return;
      }
      if (isThenable(result)) {
        this.#pause();
        result.then(
          () => this.#drain(),
          (error: unknown) => this.#fail(error),
        );
        return;
      }
    }
    this.#busy = false;
    const ws = this.#ws;
    if (ws?.isPaused) ws.resume();
    if (this.#closeSeen) this.#finishClose();
  }

  /**
   * Stops reading while a handler's promise is pending (back-pressure to the peer). Not once a
   * close has begun: the peer's answering close frame must still be read.
   */
  #pause(): void {
    const ws = this.#ws;
    if (ws !== null && ws.readyState === OPEN) ws.pause();
  }

  /** `open` or `onMessage` failed: log, drop what is queued, close with 1011. */
  #fail(error: unknown): void {
    this.logException(error);
    this.#failed = true;
    this.#busy = false;
    this.#queue.length = 0;
    this.close(1011, 'internal error');
    if (this.#closeSeen) this.#finishClose();
  }

  #closed(code: number, reason: string): void {
    this.closeCode = code === 1006 && this.#errorCode !== undefined ? this.#errorCode : code;
    this.closeReason = reason;
    this.#closeSeen = true;
    this.#heartbeat?.stop();
    this.#heartbeat = null;
    this.application.untrackAbortable(this);
    this.#wsController?.abort(new RequestAborted('disconnect'));
    if (!this.#busy) this.#finishClose();
  }

  #finishClose(): void {
    if (this.#closeDone) return;
    this.#closeDone = true;
    this.#runHook(() => this.onClose(this.closeCode ?? 1006, this.closeReason ?? ''));
    const observers = this.application.websocketCloseObservers;
    if (observers !== null) this.application.notify(observers, this, 'websocket observer failed');
  }

  #runHook(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.logException(error);
    }
  }

  /** The upgrade request is over (101, or lost): tell the request observers, as for any request. */
  #notifyRequestFinished(): void {
    const observers = this.application.finishObservers;
    if (observers !== null) this.application.notify(observers, this, 'request observer failed');
  }
}
