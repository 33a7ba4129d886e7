/**
 * The primary's supervision of its workers: forking, replacing the dead ones with a back-off,
 * the crash-loop guard, signals, graceful shutdown and the rolling restart.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { flushLogs } from '../logging.js';
import { isProtocolMessage, type PrimaryMessage, type WorkerMessage } from './messages.js';
import { sendTo } from './messaging.js';

/** Options of the primary's supervision (`PrimaryOptions`). */
export interface SupervisorOptions {
  readonly logger: Logger;
  readonly workers: number;
  /** Extra `execArgv` for workers (the heap limit). */
  readonly workerExecArgv?: readonly string[];
  /** Time a worker's own shutdown may take (its delay + timeout); the primary adds a margin. */
  readonly workerShutdownMs: number;
  /** Crash-loop guard: this many start-up crashes within {@link crashWindowMs} make it give up. */
  readonly maxStartupCrashes?: number;
  readonly crashWindowMs?: number;
  /** Ends the process; default `process.exit`. Called once logs are flushed. */
  readonly exit?: (code: number) => void;
}

/** What the rest of the primary hears from supervision; both run synchronously. */
export interface SupervisorEvents {
  /** A protocol message from a worker, other than `ready` (which supervision handles). */
  readonly message: (worker: Worker, message: WorkerMessage) => void;
  /** A worker exited and was forgotten, before it is replaced (if it is). */
  readonly exit: (worker: Worker) => void;
}

interface WorkerState {
  readonly worker: Worker;
  ready: boolean;
  /** Draining on purpose (rolling restart or shutdown): its exit is expected. */
  leaving: boolean;
  stableTimer: NodeJS.Timeout | undefined;
}

/** After this long ready, a worker counts as healthy and the back-off resets. */
export const STABLE_AFTER_MS = 10_000;
const MAX_BACKOFF_MS = 10_000;
/** Time the primary gives workers beyond their own shutdown before killing them. */
export const SHUTDOWN_MARGIN_MS = 2_000;
const READY_TIMEOUT_MS = 30_000;

/** Forks the workers and keeps them running; see `Primary` for the behaviour. */
export class Supervisor {
  private readonly states = new Map<number, WorkerState>();
  private readonly startupCrashes: number[] = [];
  private consecutiveCrashes = 0;
  private shuttingDown = false;
  private rolling = false;
  private exitCode = 0;
  /** Whether the `listening` line was logged (once every first worker was ready). */
  private announced = false;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly events: SupervisorEvents,
  ) {}

  /** Workers alive now. */
  get size(): number {
    return this.states.size;
  }

  /** The workers alive now. */
  *workers(): IterableIterator<Worker> {
    for (const { worker } of this.states.values()) yield worker;
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

  private fork(): WorkerState {
    const worker = cluster.fork();
    const state: WorkerState = { worker, ready: false, leaving: false, stableTimer: undefined };
    this.states.set(worker.id, state);
    worker.on('message', (message: unknown) => {
      if (!isProtocolMessage(message)) return;
      const protocol = message as WorkerMessage;
      if (protocol.t === 'tornode:ready') this.onReady(state, protocol.port);
      else this.events.message(worker, protocol);
    });
    // A failed send (the worker is gone) is handled by its exit event.
    worker.on('error', () => {});
    return state;
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

  private tell(state: WorkerState, message: PrimaryMessage): void {
    state.leaving = true;
    sendTo(state.worker, message);
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const state = this.states.get(worker.id);
    if (state === undefined) return;
    this.states.delete(worker.id);
    clearTimeout(state.stableTimer);
    this.events.exit(worker);
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
    if (!state.ready && this.crashLooping()) return;
    const delay = Math.min(100 * 2 ** this.consecutiveCrashes, MAX_BACKOFF_MS);
    this.consecutiveCrashes++;
    this.options.logger.info({ delayMs: delay }, 'replacing the worker');
    setTimeout(() => {
      if (!this.shuttingDown) this.fork();
    }, delay);
  }

  /** Counts a start-up crash; at the limit, gives up: shuts down with exit code 1. */
  private crashLooping(): boolean {
    const now = Date.now();
    const window = this.options.crashWindowMs ?? 30_000;
    this.startupCrashes.push(now);
    while ((this.startupCrashes[0] ?? now) < now - window) this.startupCrashes.shift();
    if (this.startupCrashes.length < (this.options.maxStartupCrashes ?? 5)) return false;
    this.options.logger.fatal(
      { crashes: this.startupCrashes.length, windowMs: window },
      'workers keep crashing at start-up; giving up',
    );
    this.exitCode = 1;
    this.shutdown('crash loop');
    return true;
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
