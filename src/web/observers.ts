import type { RequestHandler } from './handler.js';
import type { WebSocketHandler } from './websocket/handler.js';

/**
 * Code outside the web layer (logs, metrics) watching requests; each callback is optional. Every
 * callback runs synchronously, on the request's own path: keep it cheap, and do not return a
 * promise (nobody awaits it). One that throws is logged and stops neither the others nor the
 * request.
 */
export interface RequestObserver {
  /**
   * A handler was created for a request (its route and request id are known), before
   * `initialize` and `prepare`.
   */
  requestStarted?(handler: RequestHandler<unknown>): void;
  /**
   * The response is complete (handed wholly to the kernel: right after `finish()` for most
   * responses, else when the response closes), or the connection closed or was reset before it
   * was (`handler.isAborted`). `handler.status`, `handler.route`, `handler.error` and
   * `handler.startTime` tell the rest.
   */
  requestFinished?(handler: RequestHandler<unknown>): void;
  /**
   * A WebSocket handshake succeeded (its request has just finished with status 101), before `open`.
   */
  websocketOpened?(handler: WebSocketHandler<unknown>): void;
  /** A WebSocket connection closed (`handler.closeCode`), after the handler's `onClose`. */
  websocketClosed?(handler: WebSocketHandler<unknown>): void;
}
