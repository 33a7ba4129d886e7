/**
 * Small helpers for the black-box tests of configuration, logs and metrics (on top of
 * `test/blackbox/service-process.ts`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Agent, type IncomingHttpHeaders, request } from 'node:http';
import { delimiter, join } from 'node:path';
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

/** One sample of the text exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the samples of a Prometheus text exposition (comments skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (match === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let consumed = 0;
    for (const label of body.matchAll(labelPattern)) {
      labels[label[1] as string] = JSON.parse(`"${label[2] as string}"`) as string;
      consumed += label[0].length;
    }
    if (consumed !== body.length) throw new Error(`unparsable labels: ${line}`);
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The `http_request_duration_seconds_count` samples. */
export function durationCounts(text: string): Sample[] {
  return parseExposition(text).filter((s) => s.name === 'http_request_duration_seconds_count');
}

/** Sum of `http_request_duration_seconds_count` over the samples whose labels include `labels`. */
export function countOf(text: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const sample of durationCounts(text)) {
    if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) total += sample.value;
  }
  return total;
}

/** Where promtool is, or an error saying how to get it (the metrics tests must not skip). */
export function promtoolPath(): string {
  const candidates = [
    '/usr/bin/promtool',
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'promtool')),
  ];
  const found = candidates.find((path) => path !== 'promtool' && existsSync(path));
  if (found === undefined) {
    throw new Error(
      'promtool is not installed: the metrics exposition must be checked with `promtool check metrics` ' +
        '(Debian/Ubuntu: apt-get install prometheus; or put promtool from a Prometheus release on PATH)',
    );
  }
  return found;
}

/** Runs `promtool check metrics` with `text` on stdin (bounded by `timeoutMs`). */
export function promtoolCheckMetrics(
  text: string,
  timeoutMs = 10_000,
): Promise<{ code: number | null; output: string }> {
  const path = promtoolPath();
  return new Promise((resolve, reject) => {
    const child = spawn(path, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`promtool did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.on('error', () => {}); // reported through the exit code
    child.stdin.end(text);
  });
}
