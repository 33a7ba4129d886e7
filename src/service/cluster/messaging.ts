/**
 * The primary's side of the messaging between processes: workers' requests answered by handlers
 * registered per topic, and topics broadcast to every worker.
 */
import type { Worker } from 'node:cluster';
import type { PrimaryMessage } from './messages.js';

/**
 * Answers a worker's request on one topic. Runs in the primary each time a worker calls
 * `WorkerChannel.request(topic, payload)`; may be async. Its value (anything structured-clone
 * can carry) is the worker's answer; a throw or rejection rejects the worker's request with the
 * error's message. The worker waits 2 s by default, so answer quickly.
 */
export type PrimaryHandler = (payload: unknown, worker: Worker) => unknown;

/** Sends a protocol message to `worker` if its channel is open; a failed send is left to its exit. */
export function sendTo(worker: Worker, message: PrimaryMessage): void {
  if (worker.isConnected()) worker.send(message, undefined, () => {});
}

/** Request handlers by topic, and broadcasts to the workers alive. */
export class PrimaryMessaging {
  private readonly handlers = new Map<string, PrimaryHandler>();

  /** @param workers the workers alive now (asked at each broadcast). */
  constructor(private readonly workers: () => Iterable<Worker>) {}

  /** Registers the handler of worker requests on `topic` (a later one replaces it). */
  handle(topic: string, handler: PrimaryHandler): void {
    this.handlers.set(topic, handler);
  }

  /** Sends `payload` on `topic` to every connected worker; workers' subscribers run on arrival. */
  broadcast(topic: string, payload: unknown): void {
    for (const worker of this.workers()) {
      if (worker.isConnected()) sendTo(worker, { t: 'tornode:broadcast', topic, payload });
    }
  }

  /** Runs the handler of a worker's request and sends its outcome back as the reply. */
  async answer(worker: Worker, id: number, topic: string, payload: unknown): Promise<void> {
    const handler = this.handlers.get(topic);
    try {
      if (handler === undefined) throw new Error(`no primary handler for ${topic}`);
      const value = await handler(payload, worker);
      sendTo(worker, { t: 'tornode:reply', id, ok: true, value });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      sendTo(worker, { t: 'tornode:reply', id, ok: false, error: text });
    }
  }
}
