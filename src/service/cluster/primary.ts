import type { Worker } from 'node:cluster';
import type { MetricsFormat } from '../metrics-openmetrics.js';
import { DRAINED_TOPIC, METRICS_TOPIC, requestedFormat, type WorkerMessage } from './messages.js';
import { type PrimaryHandler, PrimaryMessaging } from './messaging.js';
import { MetricsCollection } from './metrics-collection.js';
import { Supervisor, type SupervisorOptions } from './supervision.js';

export type { PrimaryHandler } from './messaging.js';
export { STABLE_AFTER_MS } from './supervision.js';

/** Options of {@link Primary}. */
export type PrimaryOptions = SupervisorOptions;

/**
 * The cluster primary: forks the workers and keeps them running.
 *
 * - A worker that dies is replaced after an exponential back-off (100 ms doubling to 10 s, reset
 *   once a worker has stayed ready for 10 s). If workers keep dying before they ever become ready
 *   (5 times within 30 s by default), the primary gives up and exits 1, so the orchestrator's
 *   restart policy takes over instead of a restart storm.
 * - SIGTERM/SIGINT: every worker is told to shut down (readiness fails on all of them at once);
 *   the primary exits 0 when all exited cleanly, 1 if any failed or had to be killed at the
 *   deadline. A second signal changes nothing. Workers also handle signals sent to the whole
 *   process group (tini, dumb-init, Ctrl-C) the same way.
 * - SIGHUP: rolling restart, one worker at a time: the new worker is ready before the old one
 *   starts draining.
 * - Workers ask the primary for cluster-wide metrics and app-specific topics (see
 *   {@link handle}); the primary can {@link broadcast} to all of them.
 *
 * The parts live in their own modules: supervision (`supervision.ts`), messaging
 * (`messaging.ts`) and metric collection (`metrics-collection.ts`); this class wires them.
 */
export class Primary {
  private readonly supervisor: Supervisor;
  private readonly messaging: PrimaryMessaging;
  private readonly metrics = new MetricsCollection();

  constructor(options: PrimaryOptions) {
    this.supervisor = new Supervisor(options, {
      message: (worker, message) => this.onMessage(worker, message),
      exit: (worker) => this.metrics.retire(worker.id),
      restartFailed: () => this.metrics.restartFailed(),
    });
    this.messaging = new PrimaryMessaging(() => this.supervisor.workers());
    this.handle(METRICS_TOPIC, (payload) => this.clusterMetrics(requestedFormat(payload)));
    // Answered in order after the worker's final metrics: see `attachToPrimary`.
    this.handle(DRAINED_TOPIC, () => true);
  }

  /**
   * Registers the handler of worker requests on `topic` (see {@link PrimaryHandler}: it may be
   * async). Register before {@link start}, so that no worker asks before it exists.
   */
  handle(topic: string, handler: PrimaryHandler): void {
    this.messaging.handle(topic, handler);
  }

  /** Sends `payload` on `topic` to every connected worker. */
  broadcast(topic: string, payload: unknown): void {
    this.messaging.broadcast(topic, payload);
  }

  /** Forks the workers and installs the signal handlers. */
  start(): void {
    this.supervisor.start();
  }

  /** Workers alive now. */
  get size(): number {
    return this.supervisor.size;
  }

  /**
   * Tells every worker to shut down, then exits when all are gone (or kills them at the deadline).
   * `exitCode` other than 0 makes the primary exit with it whatever the workers do.
   */
  shutdown(reason: string, exitCode = 0): void {
    this.supervisor.shutdown(reason, exitCode);
  }

  /** Replaces the workers one at a time; each new one is ready before its predecessor drains. */
  rollingRestart(): Promise<void> {
    return this.supervisor.rollingRestart();
  }

  private onMessage(worker: Worker, message: WorkerMessage): void {
    switch (message.t) {
      case 'tornode:metrics':
        this.metrics.received(worker.id, message.id, message.metrics);
        return;
      case 'tornode:final':
        this.metrics.final(worker.id, message.metrics);
        return;
      case 'tornode:request':
        void this.messaging.answer(worker, message.id, message.topic, message.payload);
        return;
      default:
        return;
    }
  }

  /**
   * Collects every live worker's metrics (each within the deadline) and renders the sum in
   * `format`.
   */
  private clusterMetrics(format: MetricsFormat): Promise<string> {
    const live = [...this.supervisor.attachedWorkers()].filter((worker) => worker.isConnected());
    return this.metrics.collect(live, this.supervisor.size, format);
  }
}
