/**
 * Small helpers for the black-box tests of configuration, logs and metrics (on top of
 * `test/blackbox/service-process.ts`).
 */
import { type Agent, type IncomingHttpHeaders, request } from 'node:http';
import type { ServiceProcess } from '../blackbox/service-process.js';

type LogLine = Record<string, unknown>;

/**
 * Resolves with the first parsed log line (seen so far or arriving later) that `predicate`
 * accepts; rejects after `timeoutMs` or when the process exits without writing one.
 */
export function waitForLog(
  service: ServiceProcess,
  predicate: (line: LogLine) => boolean,
  timeoutMs = 5_000,
  what = 'a matching log line',
): Promise<LogLine> {
  return waitForLogs(service, (lines) => lines.find(predicate), timeoutMs, what);
}

/** Like {@link waitForLog}, for `count` matching lines. */
export async function waitForLogCount(
  service: ServiceProcess,
  predicate: (line: LogLine) => boolean,
  count: number,
  timeoutMs = 5_000,
): Promise<LogLine[]> {
  return waitForLogs(
    service,
    (lines) => {
      const found = lines.filter(predicate);
      return found.length >= count ? found : undefined;
    },
    timeoutMs,
    `${count} matching log lines`,
  );
}

function waitForLogs<T>(
  service: ServiceProcess,
  check: (lines: LogLine[]) => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const stdout = service.child.stdout;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      stdout?.off('data', attempt);
      service.child.off('exit', onExit);
    };
    // Runs after the service-process listener (added first) has parsed the chunk.
    function attempt(): boolean {
      const result = check(service.logLines);
      if (result === undefined) return false;
      done();
      resolve(result);
      return true;
    }
    function onExit(): void {
      // The last output may arrive just after the exit event.
      setImmediate(() => {
        if (attempt()) return;
        done();
        reject(new Error(`the service exited before writing ${what}\n${service.describe()}`));
      });
    }
    if (attempt()) return;
    timer = setTimeout(() => {
      done();
      reject(
        new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${service.describe()}`),
      );
    }, timeoutMs);
    stdout?.on('data', attempt);
    service.child.once('exit', onExit);
  });
}

/** The access log lines (one per finished request). */
export function accessLines(service: ServiceProcess): LogLine[] {
  return service.logLines.filter((line) => typeof line.reqId === 'string' && 'statusCode' in line);
}

/** An HTTP answer read in full. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Options of {@link httpRequest}. */
export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly agent?: Agent | false;
}

/** One request through node:http (any method, any header bytes), read to the end. */
export function httpRequest(
  port: number,
  path: string,
  options: RequestOptions = {},
): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: options.agent ?? false,
    });
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.end(options.body);
  });
}

/** Sends SIGTERM and waits (bounded) for the process to exit with all its output read. */
export async function stopGracefully(service: ServiceProcess): Promise<void> {
  service.signal('SIGTERM');
  const exit = await service.waitForExit(10_000);
  if (exit.code !== 0) throw new Error(`exit ${JSON.stringify(exit)}\n${service.describe()}`);
}
