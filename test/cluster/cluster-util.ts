/**
 * Helpers for the black-box cluster tests: requests on fresh connections (so the primary's
 * round-robin spreads them over the workers), which worker answered (from the access line keyed
 * by `X-Request-Id`), bounded waits for log lines and for processes to disappear, and a client
 * loop that counts what failed and how.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect, onTestFinished } from 'vitest';
import { type LogLine, msgMatches, type ServiceProcess, startService } from '../support/process.js';
import { type Answer, type SendError, type SendOptions, send } from '../support/socket.js';
import { until } from '../support/wait.js';

let sequence = 0;

/** A request id unique to this test run. */
export function newRequestId(tag: string): string {
  sequence++;
  return `${tag}-${process.pid}-${sequence}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A request with its own `X-Request-Id`, so its access line can be found. */
export async function tagged(
  service: ServiceProcess,
  path: string,
  options: SendOptions & { readonly tag?: string } = {},
): Promise<Answer & { readonly reqId: string }> {
  const reqId = newRequestId(options.tag ?? 'req');
  const answer = await send(service.port, path, {
    ...options,
    headers: { ...options.headers, 'x-request-id': reqId },
  });
  expect(answer.headers['x-request-id']).toBe(reqId);
  return { ...answer, reqId };
}

/** The worker that answered a request, from its access line. */
export interface ServedBy {
  readonly pid: number;
  readonly workerId: unknown;
  readonly line: LogLine;
}

/** Waits for the access line of `reqId` and tells which process wrote it. */
export async function servedBy(
  service: ServiceProcess,
  reqId: string,
  timeoutMs = 5_000,
): Promise<ServedBy> {
  const line = await service.waitForLine(
    (l) => l.reqId === reqId,
    timeoutMs,
    `the access line of ${reqId}`,
  );
  expect(typeof line.pid).toBe('number');
  return { pid: line.pid as number, workerId: line.workerId, line };
}

/** The pids of the `worker started` lines so far, in order. */
export function startedWorkerPids(service: ServiceProcess): number[] {
  return service.logLines
    .filter((l) => msgMatches(l, /^worker started/))
    .map((l) => l.pid)
    .filter((pid): pid is number => typeof pid === 'number');
}

/**
 * Starts the service (or `script`, see `fixture`) with `WORKERS=2` and returns it with its two worker pids (both workers are
 * ready: the primary says `listening` only then). Any worker still alive when the test ends is
 * killed, even if the primary is gone.
 */
export async function startCluster(
  env: Readonly<Record<string, string | undefined>> = {},
  script?: string,
): Promise<{ service: ServiceProcess; workers: number[] }> {
  const options = { timeoutMs: 15_000, ...(script === undefined ? {} : { script }) };
  const service = await startService({ WORKERS: '2', ...env }, options);
  const workers = startedWorkerPids(service);
  expect(workers).toHaveLength(2);
  expect(new Set(workers).size).toBe(2);
  expect(workers).not.toContain(service.child.pid);
  onTestFinished(() => {
    // Every worker this service ever started: after the primary died they are no longer reached
    // through its process group once it is reaped.
    for (const pid of startedWorkerPids(service)) {
      if (isAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
  });
  return { service, workers };
}

/** Whether `pid` is a running process (a zombie waiting to be reaped counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Resolves once none of `pids` is running; rejects after `timeoutMs`. */
export function waitForPidsGone(pids: readonly number[], timeoutMs: number): Promise<void> {
  return until(
    () => !pids.some(isAlive),
    () => `processes ${pids.filter(isAlive).join(', ')} still running`,
    { timeoutMs, intervalMs: 50 },
  );
}

/** The `/metrics` exposition, as whichever worker the connection reaches answers it. */
export async function scrape(
  service: ServiceProcess,
): Promise<{ readonly text: string; readonly reqId: string }> {
  const answer = await tagged(service, '/metrics', { tag: 'scrape' });
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return { text: answer.body, reqId: answer.reqId };
}

/** A request of a {@link ClientLoop} that did not get its 200. */
export interface LoopFailure {
  readonly reqId: string;
  /** `status N`, or the socket error's code and message. */
  readonly what: string;
  /** The error's code (ECONNRESET…), if it was a socket error. */
  readonly code: string | undefined;
  /** Whether the TCP connection had been established. */
  readonly connected: boolean;
  /** When the failure was seen (`Date.now()`). */
  readonly at: number;
}

/** What a {@link ClientLoop} saw. */
export interface LoopResult {
  /** Requests answered 200. */
  readonly ok: number;
  /** The request ids of those, in order of completion. */
  readonly okIds: readonly string[];
  /** Connection attempts refused (the listener was closed): acceptable at shutdown. */
  readonly refused: number;
  /** Anything else: errors on established connections, other statuses, timeouts. */
  readonly failures: readonly LoopFailure[];
  readonly elapsedMs: number;
}

/** Options of {@link clientLoop}. */
export interface LoopOptions {
  readonly path?: string;
  /** Requests in flight at once, each on a fresh connection. */
  readonly concurrency?: number;
  /** Stops once this returns true (checked before each request). */
  readonly stopWhen: () => boolean;
  /** Hard bounds. */
  readonly maxRequests: number;
  readonly maxMs: number;
}

/** A running client loop. */
export interface ClientLoop {
  /** Requests answered 200 so far. */
  readonly ok: () => number;
  readonly done: Promise<LoopResult>;
}

/**
 * GET requests on fresh connections, `concurrency` at a time, until `stopWhen()` or a bound.
 * Refused connections are counted apart from failures.
 */
export function clientLoop(port: number, options: LoopOptions): ClientLoop {
  const path = options.path ?? '/';
  const started = Date.now();
  const okIds: string[] = [];
  const failures: LoopFailure[] = [];
  let refused = 0;
  let issued = 0;
  const stop = (): boolean =>
    options.stopWhen() || issued >= options.maxRequests || Date.now() - started > options.maxMs;
  const lane = async (): Promise<void> => {
    while (!stop()) {
      issued++;
      const reqId = newRequestId('loop');
      try {
        const answer = await send(port, path, { headers: { 'x-request-id': reqId } });
        if (answer.status === 200) okIds.push(reqId);
        else {
          const what = `status ${answer.status}`;
          failures.push({ reqId, what, code: undefined, connected: true, at: Date.now() });
        }
      } catch (error) {
        const { code, connected, message } = error as SendError;
        if (code === 'ECONNREFUSED') {
          refused++;
          // The listener is gone: do not spin.
          await new Promise((resolve) => setTimeout(resolve, 20));
        } else {
          const what = `${code ?? ''} ${message}`;
          failures.push({ reqId, what, code, connected: connected === true, at: Date.now() });
        }
      }
    }
  };
  const lanes = Array.from({ length: options.concurrency ?? 2 }, () => lane());
  const done = Promise.all(lanes).then(() => ({
    ok: okIds.length,
    okIds,
    refused,
    failures,
    elapsedMs: Date.now() - started,
  }));
  return { ok: () => okIds.length, done };
}

/** The pids of the running processes in process group `pgid` (a service and what it forked). */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state, ppid, pgrp.
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The parent pid of `pid`, from /proc. */
export function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
