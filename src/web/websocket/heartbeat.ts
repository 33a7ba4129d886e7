import type { WebSocket } from 'ws';
import { OPEN } from './send.js';

/**
 * The heartbeats with one interval and the one timer that pings them all: a timer per connection
 * (its `Timeout`, its closure) would be kept by every connection held open.
 */
interface Beat {
  readonly members: Set<Heartbeat>;
  readonly timer: NodeJS.Timeout;
}

const beats = new Map<number, Beat>();

/**
 * Pings a WebSocket peer at a fixed interval and drops the connection (code 1006) when it has
 * left the pings unanswered for longer than the timeout: a peer gone without a close frame (a
 * laptop lid shut, a NAT entry expired) is otherwise only noticed by the next write. Connections
 * with the same interval share one timer (the first ping of a new one comes within an interval).
 */
export class Heartbeat {
  /** `performance.now()` of the last pong (or of the start), in whole milliseconds. */
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
    const heartbeat = new Heartbeat(ws, intervalMs, timeout, onSilent);
    let beat = beats.get(intervalMs);
    if (beat === undefined) {
      const members = new Set<Heartbeat>();
      const timer = setInterval(() => {
        const now = Math.floor(performance.now());
        for (const member of members) member.#beat(now);
      }, intervalMs);
      timer.unref();
      beat = { members, timer };
      beats.set(intervalMs, beat);
    }
    beat.members.add(heartbeat);
    return heartbeat;
  }

  private constructor(
    readonly ws: WebSocket,
    readonly intervalMs: number,
    readonly timeoutMs: number,
    readonly onSilent: (timeoutMs: number) => void,
  ) {
    this.#lastPong = Math.floor(performance.now());
  }

  /** A pong arrived: the peer is alive. */
  pong(): void {
    this.#lastPong = Math.floor(performance.now());
  }

  /** Stops pinging (the connection closed). */
  stop(): void {
    const beat = beats.get(this.intervalMs);
    if (beat === undefined || !beat.members.delete(this)) return;
    if (beat.members.size === 0) {
      clearInterval(beat.timer);
      beats.delete(this.intervalMs);
    }
  }

  #beat(now: number): void {
    const ws = this.ws;
    if (ws.readyState !== OPEN) return;
    if (now - this.#lastPong > this.timeoutMs) {
      this.onSilent(this.timeoutMs);
      ws.terminate();
      return;
    }
    ws.ping();
  }
}
