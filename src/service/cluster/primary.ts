import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { flushLogs } from '../logging.js';
import {
  DRAINED_TOPIC,
  isProtocolMessage,
  type MetricsSnapshot,
  type PrimaryMessage,
  type WorkerMessage,
} from './messages.js';
import { COLLECT_TIMEOUT_MS, MetricsAggregator } from './metrics-aggregator.js';

/** Answers a worker's request on one topic; may be async. */
export type PrimaryHandler = (payload: unknown, worker: Worker) => unknown;

/** Options of {@link Primary}. */
export interface PrimaryOptions {
  readonly logger: Logger;
  readonly workers: number;
  /** Extra `execArgv` for workers (the heap limit). */
  readonly workerExecArgv?: readonly string[];
  /** Time a worker's own shutdown may take (its delay + timeout); the primary adds a margin. */
  readonly workerShutdownMs: number;
  /** Crash-loop guard: this many start-up crashes within {@link crashWindowMs} make it give up. */
  readonly maxStartupCrashes?: number;
  readonly crashWindowMs?: number;
  /** Ends the process; default `process.exit`. */
  readonly exit?: (code: number) => void;
}

interface WorkerState {
  readonly worker: Worker;
  ready: boolean;
  /** Draining on purpose (rolling restart or shutdown): its exit is expected. */
  leaving: boolean;
  finalMetrics: MetricsSnapshot | undefined;
  stableTimer: NodeJS.Timeout | undefined;
}

/** After this long ready, a worker counts as healthy and the back-off resets. */
export const STABLE_AFTER_MS = 10_000;
const MAX_BACKOFF_MS = 10_000;
const SHUTDOWN_MARGIN_MS = 2_000;
const READY_TIMEOUT_MS = 30_000;

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
 */
export class Primary {
  private readonly states = new Map<number, WorkerState>();
  private readonly handlers = new Map<string, PrimaryHandler>();
  private readonly metrics = new MetricsAggregator();
  private readonly startupCrashes: number[] = [];
  private consecutiveCrashes = 0;
  private shuttingDown = false;
  private rolling = false;
  private collectId = 1;
  private readonly collections = new Map<number, (snapshot: MetricsSnapshot, id: number) => void>();
  private exitCode = 0;
  /** Whether the `listening` line was logged (once every first worker was ready). */
  private announced = false;

  constructor(private readonly options: PrimaryOptions) {
    this.handle('metrics', () => this.clusterMetrics());
    this.handle(DRAINED_TOPIC, () => true);
  }

  /** Registers the handler of worker requests on `topic`. */
  handle(topic: string, handler: PrimaryHandler): void {
    this.handlers.set(topic, handler);
  }

  /** Sends `payload` on `topic` to every connected worker. */
  broadcast(topic: string, payload: unknown): void {
    for (const { worker } of this.states.values()) {
      if (worker.isConnected()) this.sendTo(worker, { t: 'tornode:broadcast', topic, payload });
    }
  }

  /** Forks the workers and installs the signal handlers. */
  start(): void {
    const execArgv = [...process.execArgv, ...(this.options.workerExecArgv ?? [])];
    cluster.setupPrimary({ execArgv });
    process.on('SIGTERM', () => this.shutdown('SIGTERM'));
    process.on('SIGINT', () => this.shutdown('SIGINT'));
    process.on('SIGHUP', () => void this.rollingRestart());
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    for (let i = 0; i < this.options.workers; i++) this.fork();
  }

  /** Workers alive now. */
  get size(): number {
    return this.states.size;
  }

  private fork(): WorkerState {
    const worker = cluster.fork();
    const state: WorkerState = {
      worker,
      ready: false,
      leaving: false,
      finalMetrics: undefined,
      stableTimer: undefined,
    };
    this.states.set(worker.id, state);
    worker.on('message', (message: unknown) => {
      if (isProtocolMessage(message)) this.onMessage(state, message as WorkerMessage);
    });
    // A failed send (the worker is gone) is handled by its exit event.
    worker.on('error', () => {});
    return state;
  }

  private onMessage(state: WorkerState, message: WorkerMessage): void {
    switch (message.t) {
      case 'tornode:ready':
        this.onReady(state, message.port);
        return;
      case 'tornode:metrics':
        this.collections.get(message.id)?.(message.metrics, state.worker.id);
        return;
      case 'tornode:final':
        state.finalMetrics = message.metrics;
        return;
      case 'tornode:request':
        void this.answer(state.worker, message.id, message.topic, message.payload);
        return;
    }
  }

  private onReady(state: WorkerState, port: number): void {
    state.ready = true;
    const { logger } = this.options;
    logger.info({ workerId: state.worker.id, workerPid: state.worker.process.pid }, 'worker ready');
    if (!this.announced && [...this.states.values()].every((s) => s.ready)) {
      this.announced = true;
      logger.info({ port, workers: this.states.size }, `listening on port ${port}`);
      void flushLogs(logger);
    }
    state.stableTimer = setTimeout(() => {
      this.consecutiveCrashes = 0;
    }, STABLE_AFTER_MS);
    state.stableTimer.unref();
  }

  private async answer(worker: Worker, id: number, topic: string, payload: unknown): Promise<void> {
    const handler = this.handlers.get(topic);
    try {
      if (handler === undefined) throw new Error(`no primary handler for ${topic}`);
      const value = await handler(payload, worker);
      this.sendTo(worker, { t: 'tornode:reply', id, ok: true, value });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      this.sendTo(worker, { t: 'tornode:reply', id, ok: false, error: text });
    }
  }

  private sendTo(worker: Worker, message: PrimaryMessage): void {
    if (worker.isConnected()) worker.send(message, undefined, () => {});
  }

  private tell(state: WorkerState, message: PrimaryMessage): void {
    state.leaving = true;
    this.sendTo(state.worker, message);
  }

  /** Collects every live worker's metrics (each within the deadline) and renders the sum. */
  private async clusterMetrics(): Promise<string> {
    const targets = [...this.states.values()].filter((s) => s.worker.isConnected());
    const id = this.collectId++;
    const snapshots: MetricsSnapshot[] = [];
    await new Promise<void>((resolve) => {
      let remaining = targets.length;
      const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
      const self = this;
      function finish(): void {
        clearTimeout(timer);
        self.collections.delete(id);
        self.metrics.recordFailures(remaining);
        remaining = 0;
        resolve();
      }
      if (remaining === 0) {
        finish();
        return;
      }
      this.collections.set(id, (snapshot, workerId) => {
        snapshots.push(snapshot);
        this.metrics.remember(workerId, snapshot);
        if (--remaining === 0) finish();
      });
      for (const state of targets) this.sendTo(state.worker, { t: 'tornode:collect', id });
    });
    return this.metrics.render(snapshots, this.states.size);
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const state = this.states.get(worker.id);
    if (state === undefined) return;
    this.states.delete(worker.id);
    clearTimeout(state.stableTimer);
    this.metrics.retire(worker.id, state.finalMetrics);
    const clean = code === 0 && signal === null;
    const details = { workerId: worker.id, workerPid: worker.process.pid, code, signal };
    if (this.shuttingDown) {
      if (!clean) this.exitCode = 1;
      this.options.logger.info(details, 'worker exited');
      if (this.states.size === 0) this.finish();
      return;
    }
    if (state.leaving) {
      this.options.logger.info(details, 'worker retired');
      return;
    }
    this.options.logger.error(details, 'worker died');
    if (!state.ready) {
      const now = Date.now();
      const window = this.options.crashWindowMs ?? 30_000;
      this.startupCrashes.push(now);
      while ((this.startupCrashes[0] ?? now) < now - window) this.startupCrashes.shift();
      if (this.startupCrashes.length >= (this.options.maxStartupCrashes ?? 5)) {
        this.options.logger.fatal(
          { crashes: this.startupCrashes.length, windowMs: window },
          'workers keep crashing at start-up; giving up',
        );
        this.exitCode = 1;
        this.shutdown('crash loop');
        return;
      }
    }
    const delay = Math.min(100 * 2 ** this.consecutiveCrashes, MAX_BACKOFF_MS);
    this.consecutiveCrashes++;
    this.options.logger.info({ delayMs: delay }, 'replacing the worker');
    setTimeout(() => {
      if (!this.shuttingDown) this.fork();
    }, delay);
  }

  /** Tells every worker to shut down, then exits when all are gone (or kills them at the deadline). */
  shutdown(reason: string, exitCode = 0): void {
    if (exitCode !== 0) this.exitCode = exitCode;
    if (this.shuttingDown) {
      this.options.logger.warn({ reason }, 'already shutting down');
      return;
    }
    this.shuttingDown = true;
    this.options.logger.info({ reason, workers: this.states.size }, 'shutting down the workers');
    for (const state of this.states.values()) {
      this.tell(state, { t: 'tornode:shutdown', reason });
    }
    if (this.states.size === 0) {
      this.finish();
      return;
    }
    const deadline = setTimeout(() => {
      this.options.logger.error(
        { workers: this.states.size },
        'workers outlived the deadline; killing them',
      );
      this.exitCode = 1;
      for (const { worker } of this.states.values()) worker.process.kill('SIGKILL');
    }, this.options.workerShutdownMs + SHUTDOWN_MARGIN_MS);
    deadline.unref();
  }

  private finish(): void {
    this.options.logger.info({ exitCode: this.exitCode }, 'primary exiting');
    void flushLogs(this.options.logger).then(() =>
      (this.options.exit ?? process.exit)(this.exitCode),
    );
  }

  /** Replaces the workers one at a time; each new one is ready before its predecessor drains. */
  async rollingRestart(): Promise<void> {
    if (this.shuttingDown) return;
    if (this.rolling) {
      this.options.logger.warn('rolling restart already in progress');
      return;
    }
    this.rolling = true;
    this.options.logger.info({ workers: this.states.size }, 'rolling restart');
    try {
      for (const old of [...this.states.values()]) {
        if (this.shuttingDown) return;
        if (!this.states.has(old.worker.id)) continue;
        const fresh = this.fork();
        const ready = await this.whenReady(fresh);
        if (!ready) {
          this.options.logger.error(
            { workerId: fresh.worker.id },
            'new worker never became ready; rolling restart stopped',
          );
          return;
        }
        const gone = new Promise<void>((resolve) => old.worker.once('exit', () => resolve()));
        this.tell(old, { t: 'tornode:retire' });
        await gone;
      }
      this.options.logger.info('rolling restart complete');
    } finally {
      this.rolling = false;
    }
  }

  private whenReady(state: WorkerState): Promise<boolean> {
    return new Promise((resolve) => {
      if (state.ready) {
        resolve(true);
        return;
      }
      const timer = setTimeout(() => done(false), READY_TIMEOUT_MS);
      const onMessage = (message: unknown): void => {
        if (isProtocolMessage(message) && message.t === 'tornode:ready') done(true);
      };
      const onExit = (): void => done(false);
      const done = (value: boolean): void => {
        clearTimeout(timer);
        state.worker.off('message', onMessage);
        state.worker.off('exit', onExit);
        resolve(value);
      };
      state.worker.on('message', onMessage);
      state.worker.once('exit', onExit);
    });
  }
}
