/**
 * The one shutdown deadline. A process's shutdown (the delay, draining, the hooks, the last log
 * line) ends within `SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS` of the signal: every stage takes
 * from that one budget, and a process still running at the deadline exits 1. A cluster primary
 * waits {@link SHUTDOWN_MARGIN_MS} more for its workers (their exit and last messages), then kills
 * the ones left and exits 1.
 */

/** Time the primary gives workers beyond their own deadline before killing them. */
export const SHUTDOWN_MARGIN_MS = 2_000;

/**
 * Share of `SHUTDOWN_TIMEOUT_MS` kept from draining for the shutdown hooks (at most
 * {@link HOOK_RESERVE_MAX_MS}): draining that runs to its end still leaves the hooks some time.
 */
const HOOK_RESERVE_SHARE = 0.25;
const HOOK_RESERVE_MAX_MS = 1_000;

/** The deadlines derived from the configuration, in ms after the signal. */
export interface ShutdownDeadlines {
  /** The end of a process's own shutdown (one process, or one worker). */
  readonly serviceMs: number;
  /** The most time draining gets after the delay (the rest of the timeout is the hooks'). */
  readonly drainMs: number;
  /** When a cluster primary kills the workers still running and exits 1. */
  readonly primaryMs: number;
}

/** The shutdown deadlines for a delay and a timeout (`SHUTDOWN_DELAY_MS`, `SHUTDOWN_TIMEOUT_MS`). */
export function shutdownDeadlines(config: {
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
}): ShutdownDeadlines {
  const serviceMs = config.shutdownDelayMs + config.shutdownTimeoutMs;
  const reserve = Math.min(
    HOOK_RESERVE_MAX_MS,
    Math.floor(config.shutdownTimeoutMs * HOOK_RESERVE_SHARE),
  );
  return {
    serviceMs,
    drainMs: config.shutdownTimeoutMs - reserve,
    primaryMs: serviceMs + SHUTDOWN_MARGIN_MS,
  };
}
