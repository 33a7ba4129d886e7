import type { WebSocket } from 'ws';
import { OPEN } from './send.js';

/**
 * Pings a WebSocket peer at a fixed interval and drops the connection (code 1006) when it has
 * left the pings unanswered for longer than the timeout: a peer gone without a close frame (a
 * laptop lid shut, a NAT entry expired) is otherwise only noticed by the next write.
 */
export class Heartbeat {
  readonly #timer: NodeJS.Timeout;
  #lastPong: number;

  /**
   * Starts pinging when `intervalMs` > 0; `null` otherwise. A `timeoutMs` of 0 means three
   * intervals, and at least 30 s (Tornado's default). `onSilent` runs before the connection is
   * dropped (to log it).
   */
  static start(
    ws: WebSocket,
    intervalMs: number,
    timeoutMs: number,
    onSilent: (timeoutMs: number) => void,
  ): Heartbeat | null {
    if (!(intervalMs > 0)) return null;
    const timeout = timeoutMs > 0 ? timeoutMs : Math.max(3 * intervalMs, 30_000);
    return new Heartbeat(ws, intervalMs, timeout, onSilent);
  }

  private constructor(
    ws: WebSocket,
    intervalMs: number,
    timeoutMs: number,
    onSilent: (timeoutMs: number) => void,
  ) {
    this.#lastPong = performance.now();
    this.#timer = setInterval(() => {
      if (ws.readyState !== OPEN) return;
      if (performance.now() - this.#lastPong > timeoutMs) {
        onSilent(timeoutMs);
        ws.terminate();
        return;
      }
      ws.ping();
    }, intervalMs);
    this.#timer.unref();
  }

  /** A pong arrived: the peer is alive. */
  pong(): void {
    this.#lastPong = performance.now();
  }

  /** Stops pinging (the connection closed). */
  stop(): void {
    clearInterval(this.#timer);
  }
}
