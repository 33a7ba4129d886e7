/**
 * Liveness, readiness and start-up state, with named readiness checks registered by user code.
 */

/**
 * A readiness check, registered with {@link Health.addReadinessCheck}. It runs on each `/readyz`
 * (and `/healthz`) probe once start-up has finished and until shutdown begins (before and after,
 * the probe fails without running any check); every check runs in parallel with the others, and
 * probes arriving while a run is in progress share it. It may be async. It passes when it
 * returns or resolves with anything but `false`; it fails when it throws, rejects, returns
 * `false`, or outlasts its timeout, at which point `signal` is aborted (pass it to the I/O so the
 * work stops) and its result is no longer awaited.
 */
export type ReadinessCheck = (signal: AbortSignal) => unknown;

/** Options of a readiness check. */
export interface CheckOptions {
  /**
   * Longest a run may take before it counts as failed (default
   * {@link DEFAULT_CHECK_TIMEOUT_MS}, 800 ms); keep it under the probe's `timeoutSeconds`.
   */
  readonly timeoutMs?: number;
  /**
   * `false`: the check is shown by `/readyz?verbose` but its failure does not make the service
   * unready. For a dependency shared by every instance (a broker, a cache): failing readiness on
   * every pod at once would take the whole Service out, routes that do not need it included.
   * Default `true`.
   */
  readonly critical?: boolean;
}

/** One check's outcome, as `?verbose` shows it. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string;
  /** Present (`false`) for a check registered with `critical: false`. */
  readonly critical?: false;
}

/** The readiness verdict. */
export interface Readiness {
  readonly ok: boolean;
  /** Why not ready when it is not for a reason other than a check (start-up, shutdown). */
  readonly reason?: string;
  readonly checks: readonly CheckResult[];
}

interface RegisteredCheck {
  readonly name: string;
  readonly fn: ReadinessCheck;
  readonly timeoutMs: number;
  readonly critical: boolean;
  /** The run in progress: concurrent probes share it instead of starting their own. */
  running: Promise<CheckResult> | null;
}

/** Default timeout of a readiness check: below Kubernetes' default probe timeout of 1 s. */
export const DEFAULT_CHECK_TIMEOUT_MS = 800;

/**
 * The service's health: `started` once start-up finished (for `/startupz`), `shuttingDown` from
 * the first shutdown signal (readiness fails from then on, liveness does not), and the readiness
 * checks. Both flags only ever turn on: `Service.start` sets `started` once it listens, and the
 * shutdown sequence ({@link Lifecycle}) sets `shuttingDown`.
 */
export class Health {
  private readonly checks: RegisteredCheck[] = [];
  private isStarted = false;
  private isShuttingDown = false;

  /** Whether start-up has finished. */
  get started(): boolean {
    return this.isStarted;
  }

  /** Whether shutdown has begun. */
  get shuttingDown(): boolean {
    return this.isShuttingDown;
  }

  /** Marks start-up as finished: `/startupz` turns 200 for good, `/readyz` may follow. */
  markStarted(): void {
    this.isStarted = true;
  }

  /** Marks the start of shutdown: `/readyz` answers 503 from now on. */
  beginShutdown(): void {
    this.isShuttingDown = true;
  }

  /**
   * Registers a named readiness check (see {@link ReadinessCheck} for when it runs). Names are
   * unique: a second check with the same name throws. May be called before or after start-up;
   * a check added later takes part from the next probe on. A failing check makes the service
   * unready unless it was registered with `critical: false` (then `?verbose` still shows it).
   */
  addReadinessCheck(name: string, fn: ReadinessCheck, options: CheckOptions = {}): void {
    if (this.checks.some((c) => c.name === name)) {
      throw new Error(`duplicate readiness check ${JSON.stringify(name)}`);
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
    this.checks.push({ name, fn, timeoutMs, critical: options.critical ?? true, running: null });
  }

  /**
   * Runs every check (in parallel) and gives the verdict; without running any while starting or
   * shutting down. Resolves within the longest check timeout, never rejects.
   */
  async readiness(): Promise<Readiness> {
    if (this.isShuttingDown) return { ok: false, reason: 'shutting down', checks: [] };
    if (!this.isStarted) return { ok: false, reason: 'starting', checks: [] };
    const checks = await Promise.all(this.checks.map((check) => this.run(check)));
    return { ok: checks.every((c) => c.ok || c.critical === false), checks };
  }

  private run(check: RegisteredCheck): Promise<CheckResult> {
    check.running ??= runCheck(check).finally(() => {
      check.running = null;
    });
    return check.running;
  }
}

async function runCheck(check: RegisteredCheck): Promise<CheckResult> {
  const result = await runOnce(check);
  return check.critical ? result : { ...result, critical: false };
}

async function runOnce(check: RegisteredCheck): Promise<CheckResult> {
  const start = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`timed out after ${check.timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, check.timeoutMs);
  });
  const elapsed = (): number => Math.round((performance.now() - start) * 1000) / 1000;
  try {
    const value = await Promise.race([
      Promise.resolve().then(() => check.fn(controller.signal)),
      timeout,
    ]);
    if (value === false)
      return { name: check.name, ok: false, durationMs: elapsed(), error: 'returned false' };
    return { name: check.name, ok: true, durationMs: elapsed() };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { name: check.name, ok: false, durationMs: elapsed(), error: message };
  } finally {
    clearTimeout(timer);
  }
}
