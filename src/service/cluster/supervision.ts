/**
 * The primary's supervision of its workers: forking, replacing the dead ones with a back-off,
 * the crash-loop guard, signals, graceful shutdown and the rolling restart.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { SHUTDOWN_MARGIN_MS } from '../deadline.js';
import { flushLogs } from '../logging.js';
import { isProtocolMessage, type PrimaryMessage, type WorkerMessage } from './messages.js';
import { sendTo } from './messaging.js';

/** Options of the primary's supervision (`PrimaryOptions`). */
export interface SupervisorOptions {
  readonly logger: Logger;
  readonly workers: number;
  /** Extra `execArgv` for workers (the heap limit). */
  readonly workerExecArgv?: readonly string[];
  /** A worker's shutdown deadline (`shutdownDeadlines().serviceMs`); the primary adds a margin. */
  readonly workerShutdownMs: number;
  /**
   * Crash-loop guard: this many start-up failures (deaths, or start-ups past
   * {@link startupTimeoutMs}) since a worker last became ready make it give up (default 5).
   */
  readonly maxStartupCrashes?: number;
  /** A worker not ready this long after its fork is killed, as a start-up failure (30 s). */
  readonly startupTimeoutMs?: number;
  /** Ends the process; default `process.exit`. Called once logs are flushed. */
  readonly exit?: (code: number) => void;
}

/** What the rest of the primary hears from supervision; both run synchronously. */
export interface SupervisorEvents {
  /** A protocol message from a worker, other than `ready` (which supervision handles). */
  readonly message: (worker: Worker, message: WorkerMessage) => void;
  /** A worker exited and was forgotten, before it is replaced (if it is). */
  readonly exit: (worker: Worker) => void;
  /** A rolling restart stopped because a new worker failed to start. */
  readonly restartFailed: () => void;
}

interface WorkerState {
  readonly worker: Worker;
  ready: boolean;
  /** Draining on purpose (rolling restart or shutdown): its exit is expected. */
  leaving: boolean;
  /** Its control listener is attached: control messages are sent, not queued. */
  attached: boolean;
  /** Control messages waiting for the worker to attach (sent earlier, they would be dropped). */
  readonly queue: PrimaryMessage[];
  /** Forked by a rolling restart to replace this worker id. */
  readonly replacing: number | undefined;
  stableTimer: NodeJS.Timeout | undefined;
  startupTimer: NodeJS.Timeout | undefined;
}

/** After this long ready, a worker counts as healthy and the back-off resets. */
export const STABLE_AFTER_MS = 10_000;
const MAX_BACKOFF_MS = 10_000;
/** Default time a worker gets from its fork to ready. */
export const STARTUP_TIMEOUT_MS = 30_000;

/** Forks the workers and keeps them running; see `Primary` for the behaviour. */
export class Supervisor {
  private readonly states = new Map<number, WorkerState>();
  /** Start-up failures since a worker last became ready. */
  private startupFailures = 0;
  private consecutiveCrashes = 0;
  private shuttingDown = false;
  private shutdownReason = '';
  private rolling = false;
  /** The worker a rolling restart is replacing right now. */
  private replacingId: number | undefined;
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

  /** The workers alive now whose control listener is attached (they can answer a collect). */
  *attachedWorkers(): IterableIterator<Worker> {
    for (const { worker, attached } of this.states.values()) if (attached) yield worker;
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

  private fork(replacing?: number): WorkerState {
    const worker = cluster.fork();
    const state: WorkerState = {
      worker,
      ready: false,
      leaving: false,
      attached: false,
      queue: [],
      replacing,
      stableTimer: undefined,
      startupTimer: undefined,
    };
    this.states.set(worker.id, state);
    worker.on('message', (message: unknown) => {
      if (!isProtocolMessage(message)) return;
      const protocol = message as WorkerMessage;
      if (protocol.t === 'tornode:ready') this.onReady(state, protocol.port);
      else if (protocol.t === 'tornode:attached') this.onAttached(state);
      else this.events.message(worker, protocol);
    });
    // A failed send (the worker is gone) is handled by its exit event.
    worker.on('error', () => {});
    const timeoutMs = this.options.startupTimeoutMs ?? STARTUP_TIMEOUT_MS;
    state.startupTimer = setTimeout(() => {
      if (state.ready) return;
      this.options.logger.error(
        { workerId: worker.id, workerPid: worker.process.pid, startupTimeoutMs: timeoutMs },
        'worker not ready within the start-up deadline; killing it',
      );
      worker.process.kill('SIGKILL');
    }, timeoutMs);
    return state;
  }

  private onAttached(state: WorkerState): void {
    state.attached = true;
    for (const message of state.queue.splice(0)) sendTo(state.worker, message);
  }

  private onReady(state: WorkerState, port: number): void {
    state.ready = true;
    clearTimeout(state.startupTimer);
    this.startupFailures = 0;
    const { logger } = this.options;
    logger.info({ workerId: state.worker.id, workerPid: state.worker.process.pid }, 'worker ready');
    if (this.shuttingDown) {
      // In case the worker began its start-up in a way that missed the first word.
      sendTo(state.worker, { t: 'tornode:shutdown', reason: this.shutdownReason });
      return;
    }
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
    if (state.attached) sendTo(state.worker, message);
    else state.queue.push(message);
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const state = this.states.get(worker.id);
    if (state === undefined) return;
    this.states.delete(worker.id);
    clearTimeout(state.stableTimer);
    clearTimeout(state.startupTimer);
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
    if (state.replacing !== undefined && !state.ready) {
      // The rolling restart sees it fail and stops; the worker it was to replace keeps serving.
      this.options.logger.error(details, 'new worker died during start-up; not respawned');
      return;
    }
    if (worker.id === this.replacingId) {
      this.options.logger.error(details, 'worker died while its replacement starts');
      return; // its replacement takes its place (or, if that fails, the rolling restart forks one)
    }
    this.options.logger.error(details, 'worker died');
    if (!state.ready && this.crashLooping()) return;
    this.respawn();
  }

  /** Forks a replacement for a dead worker after the back-off. */
  private respawn(): void {
    const delay = Math.min(100 * 2 ** this.consecutiveCrashes, MAX_BACKOFF_MS);
    this.consecutiveCrashes++;
    this.options.logger.info({ delayMs: delay }, 'replacing the worker');
    setTimeout(() => {
      if (!this.shuttingDown) this.fork();
    }, delay);
  }

  /** Counts a start-up failure; at the limit, gives up: shuts down with exit code 1. */
  private crashLooping(): boolean {
    this.startupFailures++;
    if (this.startupFailures < (this.options.maxStartupCrashes ?? 5)) return false;
    this.options.logger.fatal(
      { failures: this.startupFailures },
      'workers keep failing at start-up (none ready since); giving up',
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
    this.shutdownReason = reason;
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

  /**
   * Replaces the workers one at a time; each new one is ready before its predecessor drains. A new
   * worker that dies or misses the start-up deadline stops the restart (logged, counted): it is not
   * respawned, the old one keeps serving, and the next SIGHUP starts afresh.
   */
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
        this.replacingId = old.worker.id;
        const fresh = this.fork(old.worker.id);
        if (!(await this.whenReady(fresh))) {
          this.restartFailed(fresh, old);
          return;
        }
        this.replacingId = undefined;
        if (!this.states.has(old.worker.id)) continue; // died meanwhile: the new one took its place
        const gone = new Promise<void>((resolve) => old.worker.once('exit', () => resolve()));
        this.tell(old, { t: 'tornode:retire' });
        await gone;
      }
      this.options.logger.info('rolling restart complete');
    } finally {
      this.rolling = false;
      this.replacingId = undefined;
    }
  }

  private restartFailed(fresh: WorkerState, old: WorkerState): void {
    fresh.leaving = true;
    if (this.states.has(fresh.worker.id)) fresh.worker.process.kill('SIGKILL');
    this.options.logger.error(
      { workerId: fresh.worker.id, replacing: old.worker.id },
      'rolling restart failed: the new worker did not become ready; the old one keeps serving',
    );
    this.events.restartFailed();
    // The old worker died while its replacement started: fork an ordinary replacement instead.
    if (!this.states.has(old.worker.id) && !this.shuttingDown) this.respawn();
  }

  /** Resolves true once `state`'s worker is ready, false if it exits first (see the deadline). */
  private whenReady(state: WorkerState): Promise<boolean> {
    return new Promise((resolve) => {
      if (state.ready) {
        resolve(true);
        return;
      }
      const onMessage = (message: unknown): void => {
        if (isProtocolMessage(message) && message.t === 'tornode:ready') done(true);
      };
      const onExit = (): void => done(false);
      const done = (value: boolean): void => {
        state.worker.off('message', onMessage);
        state.worker.off('exit', onExit);
        resolve(value);
      };
      state.worker.on('message', onMessage);
      state.worker.once('exit', onExit);
    });
  }
}
