import { isProtocolMessage, type PrimaryMessage, type WorkerMessage } from './messages.js';

type Subscriber = (payload: unknown) => void;

/** Default time the primary gets to answer a worker's request. */
export const REQUEST_TIMEOUT_MS = 2000;

/**
 * A request the primary did not answer in time: its outcome is unknown (the primary may still
 * have acted on it), unlike a request it answered with an error.
 */
export class RequestTimeoutError extends Error {
  constructor(topic: string, timeoutMs: number) {
    super(`the primary did not answer ${topic} within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/**
 * A worker's side of the IPC channel: requests to the primary (answered by handlers registered
 * there) and topics the primary broadcasts to every worker.
 */
export class WorkerChannel {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private readonly subscribers = new Map<string, Subscriber[]>();
  private readonly controlHandlers: ((message: PrimaryMessage) => void)[] = [];

  constructor(private readonly proc: NodeJS.Process = process) {
    proc.on('message', (message: unknown) => {
      if (isProtocolMessage(message)) this.dispatch(message as PrimaryMessage);
    });
    proc.on('disconnect', () => {
      for (const [id, request] of this.pending) {
        clearTimeout(request.timer);
        request.reject(new Error('the primary is gone'));
        this.pending.delete(id);
      }
    });
  }

  /** Whether the IPC channel to the primary is open. */
  get connected(): boolean {
    return this.proc.connected === true;
  }

  /** Sends a protocol message to the primary; resolves once it was handed to the channel. */
  send(message: WorkerMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.connected || this.proc.send === undefined) {
        reject(new Error('no IPC channel to the primary'));
        return;
      }
      this.proc.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
    });
  }

  /**
   * Asks the primary's handler for `topic` (see `PrimaryHandler`); resolves with its value, rejects
   * with its error's message, after `timeoutMs` (default {@link REQUEST_TIMEOUT_MS}), or at once
   * when the channel is closed.
   */
  request(topic: string, payload: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(topic, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ t: 'tornode:request', id, topic, payload }).catch((error: Error) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error);
      });
    });
  }

  /**
   * Calls `fn` with every payload the primary broadcasts on `topic`, synchronously as each
   * message arrives, in the order the primary sent them (a broadcast sent before a reply arrives
   * before it). `fn` should not be async: nothing awaits it, and a throw is an uncaught exception.
   */
  subscribe(topic: string, fn: Subscriber): void {
    const list = this.subscribers.get(topic) ?? [];
    list.push(fn);
    this.subscribers.set(topic, list);
  }

  /**
   * Receives the control messages (shutdown, retire, collect), synchronously as each arrives;
   * `attachToPrimary` is the one user.
   */
  onControl(fn: (message: PrimaryMessage) => void): void {
    this.controlHandlers.push(fn);
  }

  private dispatch(message: PrimaryMessage): void {
    if (message.t === 'tornode:reply') {
      const request = this.pending.get(message.id);
      if (request === undefined) return;
      this.pending.delete(message.id);
      clearTimeout(request.timer);
      if (message.ok) request.resolve(message.value);
      else request.reject(new Error(message.error ?? 'request failed'));
      return;
    }
    if (message.t === 'tornode:broadcast') {
      for (const fn of this.subscribers.get(message.topic) ?? []) fn(message.payload);
      return;
    }
    for (const fn of this.controlHandlers) fn(message);
  }
}
