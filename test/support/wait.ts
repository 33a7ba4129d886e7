/**
 * Waiting in tests. Prefer a readiness signal: a promise that settles when the thing happens
 * (an event, a log line: see `ServiceProcess.waitUntil`), bounded by {@link within}. Poll with
 * {@link eventually} / {@link until} only for states no event announces (a process gone, a gauge
 * in `/metrics`, a counter inside the server).
 */

/** Rejects with `what` when `promise` has not settled within `ms` (a failure guard, not a sleep). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Bounds of a poll. */
export interface PollOptions {
  /** Give up after this long (default 5 s). */
  readonly timeoutMs?: number;
  /** Look again after this long (default 20 ms). */
  readonly intervalMs?: number;
}

/**
 * Re-runs `probe` until it returns something other than `undefined` and resolves with it; rejects
 * after `timeoutMs` with `what` (a function is called then, to describe the last state).
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string | (() => string),
  { timeoutMs = 5_000, intervalMs = 20 }: PollOptions = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) {
      throw new Error(`not within ${timeoutMs} ms: ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** {@link eventually} for a condition: resolves once `condition` holds. */
export async function until(
  condition: () => Promise<boolean> | boolean,
  what: string | (() => string),
  options: PollOptions = {},
): Promise<void> {
  await eventually(async () => ((await condition()) ? true : undefined), what, options);
}

/** A promise with its resolve and reject functions, for events a test waits on. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/** A {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A promise and whether it has settled (read after pending callbacks have run). */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  readonly settled: boolean;
}

/** Tracks whether `promise` has settled, to assert that something is still waiting. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const state = { promise, settled: false };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}
