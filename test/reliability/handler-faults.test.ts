/**
 * Handlers that fail, in a real service process (the reliability fixture): each fault gets its
 * documented result (a 500, a connection ended so the client sees an incomplete response, a
 * readiness check that fails or times out), is logged with the request id, and the service keeps
 * serving. An unhandled rejection follows the documented policy: a fatal line, a graceful
 * shutdown that lets in-flight requests finish, exit code 1. Run `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, parseResponse } from '../support/http.js';
import { LEVEL, type LogLine, type ServiceProcess } from '../support/process.js';
import { until } from '../support/wait.js';
import { ask, expectNoLeak, expectProblem, expectServing, startFixture } from './support.js';

let service: ServiceProcess;
let sequence = 0;

beforeAll(async () => {
  service = await startFixture({ LOG_LEVEL: 'info', FIXTURE_CHECKS: 'faulty' }, true);
}, 20_000);

afterAll(async () => {
  await service?.stop();
});

function newId(tag: string): string {
  return `${tag}-${process.pid}-${++sequence}`;
}

function linesOf(reqId: string): LogLine[] {
  return service.logLines.filter((l) => l.reqId === reqId);
}

/** Waits for the error line of the handler's exception and the access line, both with `reqId`. */
async function expectLogged(reqId: string, status: number, message: RegExp): Promise<void> {
  await service.waitForLine(
    (l) => l.reqId === reqId && l.msg === 'uncaught error in handler',
    3_000,
    `the error line of ${reqId}`,
  );
  const error = linesOf(reqId).find((l) => l.msg === 'uncaught error in handler') as LogLine;
  expect(error.level).toBe(LEVEL.error);
  expect((error.err as { message?: string }).message).toMatch(message);
  expect(typeof (error.err as { stack?: string }).stack).toBe('string');
  await service.waitForLine(
    (l) => l.reqId === reqId && typeof l.statusCode === 'number',
    3_000,
    `the access line of ${reqId}`,
  );
  const access = linesOf(reqId).find((l) => typeof l.statusCode === 'number') as LogLine;
  expect(access.statusCode).toBe(status);
}

async function get(path: string, reqId: string) {
  return ask(
    service.port,
    `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${reqId}\r\nConnection: close\r\n\r\n`,
  );
}

describe('handler faults', () => {
  it.each([
    ['a synchronous throw', '/fault/sync', /password=hunter2/],
    ['an async rejection', '/fault/async', /async failure/],
    ['a throw in prepare', '/fault/prepare', /prepare failed/],
  ])(
    '%s: a 500 problem without internals, logged with the request id, serving goes on',
    async (_name, path, message) => {
      const reqId = newId('fault');
      const res = await get(path, reqId);
      expect(expectProblem(res, 500)).toEqual({
        type: 'about:blank',
        title: 'Internal Server Error',
        status: 500,
      });
      expect(res.header('x-request-id')).toBe(reqId);
      await expectLogged(reqId, 500, message);
      const access = linesOf(reqId).find((l) => typeof l.statusCode === 'number') as LogLine;
      expect(access.level).toBe(LEVEL.error);
      await expectServing(service.port);
    },
  );

  it('a throw in onFinish: the response is delivered intact, the error logged with the request id', async () => {
    const reqId = newId('on-finish');
    const res = await get('/fault/on-finish', reqId);
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.text()).toBe('delivered intact\n');
    await service.waitForLine(
      (l) => l.reqId === reqId && l.msg === 'uncaught error in handler',
      3_000,
      'the onFinish error line',
    );
    const error = linesOf(reqId).find((l) => l.msg === 'uncaught error in handler') as LogLine;
    expect((error.err as { message: string }).message).toMatch(/onFinish failed/);
    await expectServing(service.port);
  });

  it.each([
    ['after the headers were sent', '/fault/after-headers', '', /after the headers/],
    [
      'while streaming',
      '/fault/streaming',
      'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n',
      /mid-stream/,
    ],
  ])(
    'a throw %s: the connection is ended, the client sees an incomplete response, it is logged',
    async (_name, path, sent, message) => {
      const reqId = newId('streaming');
      const started = performance.now();
      const result = await exchange(
        service.port,
        `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${reqId}\r\n\r\n`,
      );
      // Ended by the server promptly, not left hanging until a timeout.
      expect(result.timedOut).toBe(false);
      expect(result.closedByServer).toBe(true);
      expect(performance.now() - started).toBeLessThan(2_000);
      const res = parseResponse(result.data);
      expect(res.status).toBe(200);
      expect(res.chunked).toBe(true);
      // What was flushed arrived, and the body is visibly incomplete (no last chunk).
      expect(res.text()).toBe(sent);
      expect(res.complete).toBe(false);
      expectNoLeak(result.data.toString('latin1'));
      // Logged (and counted) as the server error it is, not as a client that left (499).
      await expectLogged(reqId, 500, message);
      const access = linesOf(reqId).find((l) => typeof l.statusCode === 'number') as LogLine;
      expect(access.level).toBe(LEVEL.error);
      expect(access.aborted).toBeUndefined();
      await expectServing(service.port);
    },
  );

  it('a failing and a hanging readiness check: 503 within the check timeout, each failure logged with the request id', async () => {
    const reqId = newId('ready');
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${service.port}/readyz?verbose`, {
      headers: { 'x-request-id': reqId },
    });
    const elapsed = performance.now() - started;
    expect(res.status).toBe(503);
    const body = (await res.json()) as { checks: { name: string; ok: boolean; error?: string }[] };
    const byName = Object.fromEntries(body.checks.map((c) => [c.name, c]));
    expect(byName.fine).toMatchObject({ ok: true });
    // The public port shows names and outcomes; the error texts go to the log (and admin port).
    expect(byName.throws).toEqual({ name: 'throws', ok: false });
    expect(byName.hangs).toEqual({ name: 'hangs', ok: false });
    // The hanging check does not hold the probe beyond its own timeout (generous bound: busy box).
    expect(elapsed).toBeLessThan(2_000);
    await service.waitForLine(
      (l) => l.reqId === reqId && l.msg === 'readiness check failed',
      3_000,
      'the readiness failure line',
    );
    const line = linesOf(reqId).find((l) => l.msg === 'readiness check failed') as LogLine;
    expect(line.level).toBe(LEVEL.warn);
    const failed = line.checks as { name: string; error: string }[];
    expect(Object.fromEntries(failed.map((c) => [c.name, c.error]))).toEqual({
      hangs: 'timed out after 200 ms',
      throws: 'dependency unreachable',
    });
    // Liveness is unaffected and the application keeps serving.
    expect((await fetch(`http://127.0.0.1:${service.port}/livez`)).status).toBe(200);
    await expectServing(service.port);
    // Concurrent probes share one run of each check; repeated probes keep answering.
    const again = await Promise.all(
      Array.from({ length: 10 }, () => fetch(`http://127.0.0.1:${service.port}/readyz`)),
    );
    expect(again.map((r) => r.status)).toEqual(Array(10).fill(503));
  });
});

describe('a rejected promise nobody awaits (documented policy)', () => {
  it('is logged fatal, in-flight requests still finish, and the process exits 1 after a graceful shutdown', async () => {
    const doomed = await startFixture({ LOG_LEVEL: 'info' });
    // A request in flight when the rejection happens.
    const slowId = newId('inflight');
    const slow = fetch(`http://127.0.0.1:${doomed.port}/slow?ms=500`, {
      headers: { 'x-request-id': slowId },
    });
    await until(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${doomed.port}/metrics`)).text();
        return /^http_requests_in_flight 1$/m.test(text);
      },
      'the slow request in flight',
      { timeoutMs: 3_000, intervalMs: 25 },
    );
    const reqId = newId('unawaited');
    const res = await fetch(`http://127.0.0.1:${doomed.port}/fault/unawaited`, {
      headers: { 'x-request-id': reqId },
    });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('left a rejection behind\n');
    const fatal = await doomed.waitForLog('unhandled promise rejection', 5_000);
    expect(fatal.level).toBe(LEVEL.fatal);
    expect((fatal.err as { message: string }).message).toBe('rejected with nobody listening');
    // The request that was in flight is answered in full.
    const slowRes = await slow;
    expect(slowRes.status).toBe(200);
    expect(await slowRes.text()).toBe('slept 500 ms\n');
    const exit = await doomed.waitForExit(10_000);
    expect(exit, doomed.describe()).toEqual({ code: 1, signal: null });
    expect(doomed.indexOf('shutdown complete')).toBeGreaterThan(
      doomed.indexOf('unhandled promise'),
    );
    // The request that caused it was answered and logged with its id.
    expect(doomed.logLines.some((l) => l.reqId === reqId && l.statusCode === 202)).toBe(true);
  });
});
