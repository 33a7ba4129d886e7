/**
 * Helpers of the reliability suite: the fixture program, what a problem+json answer must look like
 * (and must not leak), a process's RSS, open descriptors and bytes read from /proc, and figures
 * printed for the README. The keep-alive load client is in `keep-alive-load.ts`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { type RawResponse, rawRequest } from '../support/http.js';
import { fixture, type ServiceProcess, startService } from '../support/process.js';

/** Whether the long soak versions run (`RELIABILITY_SOAK=1`). */
export const SOAK = process.env.RELIABILITY_SOAK === '1';

/** The reliability fixture (test/fixtures/reliability-service.mjs). */
export const FIXTURE = fixture('reliability-service.mjs');

/**
 * Starts the reliability fixture with `env` and waits for its `listening` line. Killed when the
 * test ends, or with `shared` (for `beforeAll`) when the caller stops it.
 */
export function startFixture(
  env: Readonly<Record<string, string | undefined>> = {},
  shared = false,
): Promise<ServiceProcess> {
  return startService(env, { script: FIXTURE, shared });
}

/** Text that must never reach a client: stack frames, file paths, internal messages, codes. */
const LEAKS = [
  /\bat [\w.<>]+ \(/, // a stack frame
  /\.(?:m?js|ts):\d+/, // file:line
  /\/(?:work|srv|home|usr|node_modules|dist)\//,
  /internal detail/i,
  /hunter2/,
  /Maximum call stack/,
  /\bHPE_[A-Z_]+/,
  /\bERR_[A-Z_]+/,
  /node:/,
];

/** Fails if `text` carries anything internal. */
export function expectNoLeak(text: string, what = 'response'): void {
  for (const leak of LEAKS) expect(text, `${what} leaks ${leak}`).not.toMatch(leak);
}

/**
 * Checks a raw response is RFC 9457 problem details with `status`, nosniff, and nothing internal
 * in its head or body. Returns the parsed body.
 */
export function expectProblem(response: RawResponse, status: number): Record<string, unknown> {
  const text = response.text();
  const head = `${response.status} ${JSON.stringify(response.headerList)}`;
  expect(response.status, `${head}\n${text}`).toBe(status);
  expect(response.header('content-type')).toBe('application/problem+json');
  expect(response.header('x-content-type-options')).toBe('nosniff');
  expect(response.complete, 'a complete body').toBe(true);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body.status).toBe(status);
  expect(body.type).toBe('about:blank');
  expect(typeof body.title).toBe('string');
  expect(body.stack).toBeUndefined();
  expectNoLeak(text);
  expectNoLeak(head, 'response head');
  return body;
}

/** One request with `Connection: close` on its own socket; the parsed response. */
export async function ask(
  port: number,
  request: string | Buffer | readonly (string | Buffer)[],
  timeoutMs = 5_000,
): Promise<RawResponse & { closedByServer: boolean; timedOut: boolean }> {
  const result = await rawRequest(port, request, { timeoutMs });
  return Object.assign(result.response, {
    closedByServer: result.closedByServer,
    timedOut: result.timedOut,
  });
}

/** A plain GET, asserting a 200: the process still serves. */
export async function expectServing(port: number, path = '/'): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** Resident set size of `pid` in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** Open file descriptors of `pid` (sockets included). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Bytes `pid` has read through read-like system calls (sockets included): /proc/PID/io `rchar`. */
export function bytesRead(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const match = /^rchar: (\d+)$/m.exec(io);
  if (match === null) throw new Error(`no rchar for ${pid}`);
  return Number(match[1]);
}

/** MiB with one decimal. */
export function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

/** The `p`-th percentile (0–100) of `values` (sorted in place). */
export function percentile(values: number[] | Float64Array, p: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  const index = Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1);
  return values[Math.max(0, index)] as number;
}

/** Prints a figure for the README's Reliability section (`[reliability] name: {...}`). */
export function report(name: string, figures: Record<string, unknown>): void {
  console.log(`[reliability] ${name}: ${JSON.stringify(figures)}`);
}
