/**
 * Helpers for the black-box cluster tests: requests on fresh connections (so the primary's
 * round-robin spreads them over the workers), which worker answered (from the access line keyed
 * by `X-Request-Id`), bounded waits for log lines and for processes to disappear, and a client
 * loop that counts what failed and how.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { expect, onTestFinished } from 'vitest';
import { type ServiceProcess, startService } from '../blackbox/service-process.js';
import { type Answer, type SendError, type SendOptions, send } from '../service/http-util.js';

export { type Answer, type SendError, type SendOptions, send };

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

type Line = Record<string, unknown>;

/**
 * Waits (bounded) until `check` returns something other than `undefined`, re-checking whenever
 * the service writes output, and at least every 100 ms (for checks on other state).
 */
export function waitUntil<T>(
  service: ServiceProcess,
  check: () => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stdout = service.child.stdout;
    const cleanup = (): void => {
      clearTimeout(timer);
      clearInterval(ticker);
      stdout?.off('data', attempt);
    };
    const attempt = (): void => {
      try {
        const result = check();
        if (result === undefined) return;
        cleanup();
        resolve(result);
      } catch (error) {
        cleanup();
        reject(error);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${tail(service)}`));
    }, timeoutMs);
    const ticker = setInterval(attempt, 100);
    // Registered after the ServiceProcess's own listener: its logLines are up to date here.
    stdout?.on('data', attempt);
    attempt();
  });
}

/** The last lines of the service's output, for failure messages. */
export function tail(service: ServiceProcess, lines = 40): string {
  return `--- last stdout lines ---\n${service.stdoutLines.slice(-lines).join('\n')}\n--- stderr ---\n${service.stderr}`;
}

/** Waits for a log line matching `predicate`. */
export function waitForLine(
  service: ServiceProcess,
  predicate: (line: Line) => boolean,
  timeoutMs: number,
  what: string,
): Promise<Line> {
  return waitUntil(service, () => service.logLines.find(predicate), timeoutMs, what);
}

/** Whether a log line's `msg` matches `pattern`. */
export function msg(line: Line, pattern: RegExp): boolean {
  return typeof line.msg === 'string' && pattern.test(line.msg);
}

/** The worker that answered a request, from its access line. */
export interface ServedBy {
  readonly pid: number;
  readonly workerId: unknown;
  readonly line: Line;
}

/** Waits for the access line of `reqId` and tells which process wrote it. */
export async function servedBy(
  service: ServiceProcess,
  reqId: string,
  timeoutMs = 5_000,
): Promise<ServedBy> {
  const line = await waitForLine(
    service,
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
    .filter((l) => msg(l, /^worker started/))
    .map((l) => l.pid)
    .filter((pid): pid is number => typeof pid === 'number');
}

/**
 * Starts the service with `WORKERS=2` and returns it with its two worker pids (both workers are
 * ready: the primary says `listening` only then). Any worker still alive when the test ends is
 * killed, even if the primary is gone.
 */
export async function startCluster(
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<{ service: ServiceProcess; workers: number[] }> {
  const service = await startService({ WORKERS: '2', ...env }, 15_000);
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
export async function waitForPidsGone(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`processes ${alive.join(', ')} still running after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Tries to connect to 127.0.0.1:`port`: `'connected'` or the error code. */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(3_000, () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
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

/** Waits (bounded polling) until `condition()` holds. */
export async function until(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
