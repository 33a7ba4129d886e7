import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestAborted, withCode } from './errors.js';

/** What an {@link EventStream} drives: a handler's request, response, signal and output methods. */
export interface EventStreamTarget {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly signal: AbortSignal;
  readonly isFinished: boolean;
  setHeader(name: string, value: string): unknown;
  write(chunk: string): unknown;
  flush(): Promise<void>;
  finish(): void;
}

/** One server-sent event. */
export interface ServerSentEvent {
  /** The event type (`event:`); the client's `message` when omitted. No CR or LF. */
  event?: string;
  /** The payload: a string (several lines become several `data:` lines) or a value sent as JSON. */
  data: unknown;
  /** The event id (`id:`), echoed by a reconnecting client as `Last-Event-ID`. No CR, LF or NUL. */
  id?: string;
  /** How long the client waits before reconnecting, in milliseconds (`retry:`). */
  retry?: number;
}

/** Options of a handler's `eventStream()`. */
export interface EventStreamOptions {
  /** Send a comment line this often so proxies do not close an idle stream; `0`: never. Default 15 000. */
  heartbeatMs?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;
const BAD_FIELD = /[\r\n]/;
const BAD_ID = /[\r\n\0]/;

/**
 * A `text/event-stream` response (server-sent events), made by `this.eventStream()`. The headers
 * go out at once. Heartbeat comments keep idle streams open; they stop when the stream closes,
 * the client leaves or the server drains (the stream is then closed cleanly, and clients
 * reconnect elsewhere). When the verb method returns, the response is finished as usual.
 */
export class EventStream {
  /** The client's `Last-Event-ID` header: the id of the last event it saw before reconnecting. */
  readonly lastEventId: string | undefined;
  private readonly handler: EventStreamTarget;
  private readonly signal: AbortSignal;
  private timer: NodeJS.Timeout | null;
  private ended: boolean;

  /** @internal Use `this.eventStream()` in a handler. */
  constructor(handler: EventStreamTarget, options: EventStreamOptions = {}) {
    const heartbeatMs = options.heartbeatMs ?? 15_000;
    if (!Number.isFinite(heartbeatMs) || heartbeatMs < 0) {
      throw new RangeError(`heartbeatMs must be a non-negative number, got ${heartbeatMs}`);
    }
    const header = handler.request.headers['last-event-id'];
    this.lastEventId = typeof header === 'string' ? header : undefined;
    this.handler = handler;
    this.signal = handler.signal;
    this.timer = null;
    this.ended = false;
    handler.setHeader('Content-Type', 'text/event-stream');
    handler.setHeader('Cache-Control', 'no-cache');
    handler.setHeader('X-Accel-Buffering', 'no'); // nginx would otherwise buffer the stream
    if (this.signal.aborted) {
      this.onAbort();
      return;
    }
    handler.flush().catch(() => {}); // headers only: never waits; a client gone is seen below
    handler.response.once('close', this.stop);
    this.signal.addEventListener('abort', this.onAbort, { once: true });
    if (heartbeatMs > 0) {
      this.timer = setInterval(this.heartbeat, heartbeatMs);
      this.timer.unref();
    }
  }

  /** Whether the stream has ended (closed, finished, client gone or server draining). */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * Sends an event. Resolves when the connection can take more (back-pressure: await it in a
   * loop); rejects with `RequestAborted` once the client has left or the server drains, and with
   * an `Error` after {@link close}. A CR or LF in `event` or `id` (or NUL in `id`) throws a
   * `TypeError`.
   */
  send(message: ServerSentEvent): Promise<void> {
    let frame = '';
    if (message.id !== undefined) {
      if (BAD_ID.test(message.id)) {
        throw withCode(new TypeError('event id contains CR, LF or NUL'), 'ERR_INVALID_EVENT');
      }
      frame += `id: ${message.id}\n`;
    }
    if (message.event !== undefined) {
      if (BAD_FIELD.test(message.event)) {
        throw withCode(new TypeError('event type contains CR or LF'), 'ERR_INVALID_EVENT');
      }
      frame += `event: ${message.event}\n`;
    }
    if (message.retry !== undefined) {
      if (!Number.isSafeInteger(message.retry) || message.retry < 0) {
        throw withCode(
          new RangeError(`retry must be a non-negative integer, got ${message.retry}`),
          'ERR_INVALID_EVENT',
        );
      }
      frame += `retry: ${message.retry}\n`;
    }
    const data = typeof message.data === 'string' ? message.data : JSON.stringify(message.data);
    if (data === undefined) {
      throw withCode(
        new TypeError('event data cannot be encoded as JSON'),
        'ERR_NOT_JSON_ENCODABLE',
      );
    }
    for (const line of data.split(LINE_BREAK)) frame += `data: ${line}\n`;
    return this.out(`${frame}\n`);
  }

  /** Sends a comment (ignored by clients; every line prefixed with `:`). Resolves like {@link send}. */
  comment(text = ''): Promise<void> {
    let frame = '';
    for (const line of text.split(LINE_BREAK)) frame += line === '' ? ':\n' : `: ${line}\n`;
    return this.out(frame);
  }

  /** Ends the stream and finishes the response. Calling it again does nothing. */
  close(): void {
    if (this.ended) return;
    this.stop();
    if (!this.handler.isFinished) this.handler.finish();
  }

  private out(frame: string): Promise<void> {
    if (this.ended) {
      const reason: unknown = this.signal.reason;
      return Promise.reject(
        reason instanceof RequestAborted
          ? reason
          : withCode(new Error('the event stream is closed'), 'ERR_EVENT_STREAM_CLOSED'),
      );
    }
    this.handler.write(frame);
    return this.handler.flush();
  }

  private readonly heartbeat = (): void => {
    // Behind a slow reader, data already waits: a heartbeat would only add to the backlog.
    if (this.ended || this.handler.response.writableNeedDrain) return;
    this.comment().catch(() => {});
  };

  private readonly stop = (): void => {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.signal.removeEventListener('abort', this.onAbort);
    this.handler.response.off('close', this.stop);
  };

  private readonly onAbort = (): void => {
    const wasOpen = !this.ended;
    this.stop();
    const reason: unknown = this.signal.reason;
    // Draining: end the stream cleanly so the server can close; the client reconnects elsewhere.
    if (wasOpen && reason instanceof RequestAborted && reason.kind === 'shutdown') {
      if (!this.handler.isFinished && !this.handler.response.destroyed) this.handler.finish();
    }
  };
}
