import type { Logger } from 'pino';
import type { HttpServer } from '../web/index.js';
import { shutdownDeadlines } from './deadline.js';
import type { Health } from './health.js';
import { flushLogs } from './logging.js';

/**
 * Something to do at shutdown (close a pool, flush a queue), registered with
 * {@link Lifecycle.addShutdownHook}. It runs once, in the `hooks` state: after every server has
 * closed (its connections finished, or were destroyed at the deadline), one hook at a time, the
 * last registered first. It
 * may be async. A throw, a rejection or outlasting its timeout is logged and makes the exit code
 * 1; the next hook then runs (a hook that timed out is no longer awaited). It is called with the
 * milliseconds it has (its own timeout or what is left of the shutdown deadline, whichever is
 * shorter): a hook that can give up early (abandon a flush, drop a queue) should end within them.
 */
export type ShutdownHook = (timeLeftMs: number) => unknown;

/**
 * Where the shutdown sequence is; it only moves forward:
 * - `running`: serving, no shutdown asked for;
 * - `delaying`: readiness fails (unless a rolling restart), traffic still served for the delay;
 * - `draining`: listeners closed, in-flight requests finishing within the timeout;
 * - `hooks`: shutdown hooks running;
 * - `exiting`: logs flushed, the process exits.
 */
export type LifecycleState = 'running' | 'delaying' | 'draining' | 'hooks' | 'exiting';

/** Options of {@link Lifecycle}. */
export interface LifecycleOptions {
  readonly logger: Logger;
  readonly health: Health;
  readonly servers: readonly HttpServer[];
  /** After the signal: how long to keep serving while readiness fails. */
  readonly shutdownDelayMs: number;
  /** After the delay: the most time in-flight requests get before their sockets are destroyed. */
  readonly shutdownTimeoutMs: number;
  /** Ends the process; default `process.exit`. Called once logs are flushed. */
  readonly exit?: (code: number) => void;
}

interface RegisteredHook {
  readonly name: string;
  readonly fn: ShutdownHook;
  readonly timeoutMs: number;
}

/** Default time a shutdown hook gets. */
export const DEFAULT_HOOK_TIMEOUT_MS = 5000;

/** Beyond the deadline, time for the last log lines before the overdue exit. */
const OVERDUE_GRACE_MS = 250;

/**
 * The graceful shutdown state machine, one sequence with one deadline:
 *
 * 1. `delaying`: readiness fails at once; traffic is still served for `shutdownDelayMs`, while
 *    load balancers take the pod out of rotation (keep-alive stays on, except for a worker retired
 *    by a rolling restart, whose responses say `Connection: close` so its clients move now).
 * 2. `draining`: every server closes gracefully (listener closed, `Connection: close`, idle
 *    sockets closed, long polls released), with `shutdownTimeoutMs` before sockets are destroyed.
 * 3. `hooks`: shutdown hooks run in reverse order of registration, each with its own timeout,
 *    cut short by the deadline.
 * 4. `exiting`: logs are flushed, then the process exits: 0 if everything ended cleanly, 1 if
 *    sockets had to be destroyed, a hook failed, the shutdown was caused by a crash or a crash
 *    happened during it.
 *
 * The whole sequence shares one deadline, `shutdownDelayMs + shutdownTimeoutMs` after it began
 * (see `deadline.ts`): draining gets the timeout less a reserve for the hooks, the hooks get what
 * is left, and a process still there at the deadline logs it and exits 1.
 *
 * A second signal during shutdown is logged and otherwise ignored.
 */
export class Lifecycle {
  private readonly hooks: RegisteredHook[] = [];
  private current: LifecycleState = 'running';
  private sequence: Promise<number> | null = null;
  private installed = false;
  /** An uncaught exception or unhandled rejection happened (maybe during the sequence). */
  private crashed = false;

  constructor(private readonly options: LifecycleOptions) {}

  /** Where the sequence is. */
  get state(): LifecycleState {
    return this.current;
  }

  /**
   * Registers a shutdown hook (see {@link ShutdownHook}: when it runs, may be async), with its
   * own timeout (default {@link DEFAULT_HOOK_TIMEOUT_MS}, 5 s), cut short by what is left of the
   * shutdown deadline. Hooks run last-registered first,
   * so register a resource's hook right after opening it. A hook added once the sequence reached
   * `hooks` does not run.
   */
  addShutdownHook(name: string, fn: ShutdownHook, timeoutMs = DEFAULT_HOOK_TIMEOUT_MS): void {
    this.hooks.push({ name, fn, timeoutMs });
  }

  /**
   * Handles SIGTERM and SIGINT (graceful shutdown, exit 0), and `uncaughtException` and
   * `unhandledRejection` (a fatal log line, then the same shutdown with exit code 1).
   * `Service.start` calls it first; calling it again does nothing.
   */
  install(): void {
    if (this.installed) return;
    this.installed = true;
    const onSignal = (signal: NodeJS.Signals): void => {
      void this.shutdown(signal, 0);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('uncaughtException', (error) => {
      this.options.logger.fatal({ err: error }, 'uncaught exception; shutting down');
      this.crashed = true;
      void this.shutdown('uncaughtException', 1);
    });
    process.on('unhandledRejection', (reason) => {
      this.options.logger.fatal({ err: reason }, 'unhandled promise rejection; shutting down');
      this.crashed = true;
      void this.shutdown('unhandledRejection', 1);
    });
  }

  /**
   * Runs the shutdown sequence once; later calls get the same promise, which resolves with the exit
   * code just before the process exits. `keepReady` leaves readiness alone (a cluster worker
   * replaced in a rolling restart: the pod stays ready).
   */
  shutdown(reason: string, exitCode = 0, options: { keepReady?: boolean } = {}): Promise<number> {
    if (this.sequence !== null) {
      this.options.logger.warn({ reason, state: this.current }, 'already shutting down');
      return this.sequence;
    }
    this.sequence = this.run(reason, exitCode, options.keepReady === true);
    return this.sequence;
  }

  private async run(reason: string, requestedCode: number, keepReady: boolean): Promise<number> {
    const { logger, health, servers, shutdownDelayMs, shutdownTimeoutMs } = this.options;
    const exit = this.options.exit ?? ((code: number) => process.exit(code));
    let exitCode = requestedCode;
    const deadlines = shutdownDeadlines({ shutdownDelayMs, shutdownTimeoutMs });
    const deadlineAt = performance.now() + deadlines.serviceMs;
    const overdue = setTimeout(() => {
      logger.fatal({ deadlineMs: deadlines.serviceMs }, 'shutdown deadline exceeded; exiting');
      void flushLogs(logger).then(() => exit(1));
    }, deadlines.serviceMs + OVERDUE_GRACE_MS);
    this.current = 'delaying';
    // A worker retired by a rolling restart leaves a pod that stays ready.
    if (!keepReady) health.beginShutdown();
    // A worker retired by a rolling restart sheds its keep-alive clients now: its siblings keep
    // serving the shared listener. On a real shutdown keep-alive stays on until the listener has
    // closed (`close` turns it off): clients told to reconnect during the delay would queue in the
    // listener's backlog and be reset, not refused, when it closes.
    if (keepReady) for (const server of servers) server.stopKeepAlive();
    logger.info(
      { reason, shutdownDelayMs, shutdownTimeoutMs },
      keepReady
        ? 'shutdown started (readiness unchanged); still serving during the delay'
        : 'shutdown started: readiness fails; still serving during the delay',
    );
    if (shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, shutdownDelayMs));

    this.current = 'draining';
    logger.info({ connections: servers.reduce((n, s) => n + s.connections, 0) }, 'draining');
    const drainMs = this.hooks.length > 0 ? deadlines.drainMs : shutdownTimeoutMs;
    const results = await Promise.all(servers.map((s) => s.close(drainMs)));
    if (results.some((r) => r.forced)) {
      logger.error(
        { shutdownTimeoutMs, drainMs },
        'shutdown deadline passed; destroyed remaining sockets',
      );
      exitCode = 1;
    }

    this.current = 'hooks';
    for (const hook of [...this.hooks].reverse()) {
      const leftMs = Math.max(0, Math.floor(deadlineAt - performance.now()));
      if (!(await runHook(hook, leftMs, logger))) exitCode = 1;
    }

    this.current = 'exiting';
    // A crash during the sequence: the process is not trusted to have finished its work.
    if (this.crashed) exitCode = Math.max(exitCode, 1);
    logger.info({ exitCode }, 'shutdown complete');
    await flushLogs(logger);
    clearTimeout(overdue);
    exit(exitCode);
    return exitCode;
  }
}

async function runHook(hook: RegisteredHook, leftMs: number, logger: Logger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = Math.min(hook.timeoutMs, leftMs);
  const why = timeoutMs < hook.timeoutMs ? ' (the shutdown deadline)' : '';
  try {
    await Promise.race([
      Promise.resolve(timeoutMs).then(hook.fn),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs} ms${why}`)),
          timeoutMs,
        );
      }),
    ]);
    return true;
  } catch (error) {
    logger.error({ err: error, hook: hook.name }, 'shutdown hook failed');
    return false;
  } finally {
    clearTimeout(timer);
  }
}
