/**
 * Black-box tests of graceful shutdown for one process: real signals sent to `dist/main.js` (and
 * to a fixture with crashing handlers and shutdown hooks), observed only from outside — sockets,
 * status codes, log lines and the exit code (`npm run build` first).
 */
import { Agent, request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { waitInFlight } from '../support/metrics.js';
import {
  fixture,
  LEVEL,
  type LogLine,
  type ServiceProcess,
  startService,
} from '../support/process.js';
import { RawClient, send, tryConnect } from '../support/socket.js';
import { within } from '../support/wait.js';

const CUSTOM = fixture('custom-service.mjs');
const STARTED = /^shutdown started/;
const DRAINING = 'draining';
const COMPLETE = 'shutdown complete';

function timeOf(line: LogLine | undefined): number {
  return Date.parse(String(line?.time));
}

/** The id of the newest chat message (0 when there is none). */
async function lastMessageId(port: number): Promise<number> {
  const res = await send(port, '/chat/messages');
  const body = JSON.parse(res.body) as { messages: { id: number }[] };
  return body.messages.at(-1)?.id ?? 0;
}

/**
 * Asserts the shutdown lines came in order (`before` first), exactly once each, and that the very
 * last line written is the shutdown-complete line with `exitCode`.
 */
function expectShutdownLog(
  service: ServiceProcess,
  exitCode: number,
  before: (string | RegExp)[] = [],
) {
  const sequence = [...before, STARTED, DRAINING, COMPLETE];
  const indexes = sequence.map((pattern) => service.indexOf(pattern));
  for (const [i, index] of indexes.entries()) {
    expect(index, `log line ${String(sequence[i])}\n${service.describe()}`).toBeGreaterThanOrEqual(
      0,
    );
  }
  expect(indexes, `shutdown lines in order\n${service.describe()}`).toEqual(
    [...indexes].sort((a, b) => a - b),
  );
  expect(service.lines(STARTED)).toHaveLength(1);
  expect(service.lines(DRAINING)).toHaveLength(1);
  expect(service.lines(COMPLETE)).toHaveLength(1);
  const last = service.logLines.at(-1);
  expect(last?.msg, 'the last log line').toBe(COMPLETE);
  expect(last?.exitCode).toBe(exitCode);
  // Nothing but log lines on stdout (a cut-off last line would not parse).
  expect(service.stdoutLines.length).toBe(service.logLines.length);
}

describe('graceful shutdown of dist/main.js', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s with SHUTDOWN_DELAY_MS=1500: serves during the delay, then drains cleanly and exits 0',
    async (sig) => {
      const DELAY = 1500;
      const service = await startService({ SHUTDOWN_DELAY_MS: String(DELAY) });
      const { port } = service;

      // An idle keep-alive connection.
      const idle = await RawClient.connect(port);
      await idle.request('/');
      const first = await idle.readResponse();
      expect(first.status).toBe(200);
      expect(first.headers.connection).toBe('keep-alive');

      // A long poll on a keep-alive connection that has already served a request.
      const after = await lastMessageId(port);
      const polling = await RawClient.connect(port);
      await polling.request('/');
      expect((await polling.readResponse()).status).toBe(200);
      await polling.request(`/chat/messages?after=${after}&timeout=20`);

      // An upload in flight: the head and part of the body.
      const body = JSON.stringify({ text: 'posted across the shutdown' });
      const upload = await RawClient.connect(port);
      await upload.write(
        `POST /chat/messages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
      );
      // Both are inside their handlers.
      await waitInFlight(port, 2);

      service.signal(sig);
      const signalled = performance.now();
      const started = await service.waitForLog(STARTED, 5_000);
      expect(started.reason).toBe(sig);
      expect(started.shutdownDelayMs).toBe(DELAY);

      // During the delay: readiness fails at once; traffic and liveness are still served, on new
      // connections.
      const [ready, healthz, verbose, livez, startupz, root] = await Promise.all([
        send(port, '/readyz'),
        send(port, '/healthz'),
        send(port, '/readyz?verbose'),
        send(port, '/livez'),
        send(port, '/startupz'),
        send(port, '/'),
      ]);
      expect(ready.status).toBe(503);
      expect(ready.headers['cache-control']).toBe('no-store');
      expect(ready.body).toBe('shutting down\n');
      expect(healthz.status).toBe(503);
      expect(verbose.status).toBe(503);
      expect(JSON.parse(verbose.body)).toMatchObject({ status: 'fail', reason: 'shutting down' });
      expect(livez.status).toBe(200);
      expect(startupz.status).toBe(200);
      expect(root.status).toBe(200);
      expect(root.body.length).toBeGreaterThan(0);
      // Still delaying: the poll is waiting; the idle connection is open and still served with
      // keep-alive (told to reconnect now, clients would queue on a listener about to close).
      expect(polling.buffer.length).toBe(0);
      expect(idle.closed).toBe(false);
      await idle.request('/');
      const again = await idle.readResponse();
      expect(again.status).toBe(200);
      expect(again.headers.connection).toBe('keep-alive');

      // After the delay: the drain.
      const draining = await service.waitForLog(DRAINING, DELAY + 5_000);
      expect(timeOf(draining) - timeOf(started)).toBeGreaterThanOrEqual(DELAY - 5);
      const drainSeen = performance.now();

      // The waiting long poll is answered at once, 204 with Connection: close, and closed cleanly.
      const pollAnswer = await polling.readResponse(3_000);
      expect(pollAnswer.status).toBe(204);
      expect(pollAnswer.headers.connection).toBe('close');
      expect(performance.now() - signalled).toBeGreaterThanOrEqual(DELAY - 50);
      expect(performance.now() - drainSeen).toBeLessThan(2_000);
      await polling.waitClosed(2_000);
      expect(polling.error).toBeNull();

      // The idle keep-alive connection is closed by the server, without a byte and without a reset.
      await idle.waitClosed(2_000);
      expect(idle.ended).toBe(true);
      expect(idle.error).toBeNull();
      expect(idle.buffer.length).toBe(0);

      // New connections are refused, not accepted and reset.
      expect(await tryConnect(port)).toBe('ECONNREFUSED');

      // The upload in flight completes, with Connection: close, then its connection is closed.
      expect(upload.closed).toBe(false);
      await upload.write(body.slice(10));
      const created = await upload.readResponse(3_000);
      expect(created.status).toBe(201);
      expect(created.headers.connection).toBe('close');
      expect(JSON.parse(created.text())).toMatchObject({ text: 'posted across the shutdown' });
      await upload.waitClosed(2_000);
      expect(upload.error).toBeNull();

      const exit = await service.waitForExit(10_000);
      expect(exit, service.describe()).toEqual({ code: 0, signal: null });
      expectShutdownLog(service, 0);
      expect(service.logLines.filter((l) => Number(l.level) >= LEVEL.error)).toEqual([]);
    },
  );

  it('with ADMIN_PORT: the admin /readyz turns 503 and /livez stays 200 during the delay; both ports refuse afterwards', async () => {
    const service = await startService({ SHUTDOWN_DELAY_MS: '1000', ADMIN_PORT: '0' });
    const admin = service.adminPort;
    if (admin === undefined) throw new Error(`no adminPort\n${service.describe()}`);
    expect((await send(admin, '/readyz')).status).toBe(200);

    service.signal('SIGTERM');
    await service.waitForLog(STARTED, 5_000);
    const [ready, live, metrics, appReady, root] = await Promise.all([
      send(admin, '/readyz'),
      send(admin, '/livez'),
      send(admin, '/metrics'),
      send(service.port, '/readyz'),
      send(service.port, '/'),
    ]);
    expect(ready.status).toBe(503);
    expect(live.status).toBe(200);
    expect(metrics.status).toBe(200);
    expect(appReady.status).toBe(503);
    expect(root.status).toBe(200);

    await service.waitForLog(DRAINING, 6_000);
    const exit = await service.waitForExit(10_000);
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });
    expect(await tryConnect(admin)).toBe('ECONNREFUSED');
    expect(await tryConnect(service.port)).toBe('ECONNREFUSED');
    expectShutdownLog(service, 0);
  });

  it('ignores a second SIGTERM or SIGINT during the delay: one sequence, exit one delay after the first signal', async () => {
    const DELAY = 1500;
    const service = await startService({ SHUTDOWN_DELAY_MS: String(DELAY) });
    service.signal('SIGTERM');
    const first = performance.now();
    const started = await service.waitForLog(STARTED, 5_000);
    // Deliberately part-way into the delay (no event marks "mid-delay"): a restarted sequence
    // would then end at least 600 ms later than the first one.
    await new Promise((resolve) => setTimeout(resolve, 600));
    service.signal('SIGTERM');
    service.signal('SIGINT');
    // Pending signals are delivered in signal-number order, whatever order they were sent in.
    await service.waitForLog('already shutting down', 5_000, (l) => l.reason === 'SIGINT');
    await service.waitForLog('already shutting down', 5_000, (l) => l.reason === 'SIGTERM');
    const again = service.lines('already shutting down');
    expect(again.map((l) => l.reason).sort()).toEqual(['SIGINT', 'SIGTERM']);
    for (const line of again) {
      expect(line.level).toBe(LEVEL.warn);
      expect(line.state).toBe('delaying');
    }
    const exit = await service.waitForExit(10_000);
    const exitedAfter = performance.now() - first;
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });

    const draining = service.lines(DRAINING)[0];
    const secondAt = timeOf(again[0]);
    expect(secondAt - timeOf(started)).toBeGreaterThanOrEqual(550);
    // The drain began one delay after the first signal, not one delay after the second.
    expect(timeOf(draining) - timeOf(started)).toBeGreaterThanOrEqual(DELAY - 5);
    expect(timeOf(draining)).toBeLessThan(secondAt + DELAY - 200);
    expect(exitedAfter).toBeGreaterThanOrEqual(DELAY - 50);
    expect(exitedAfter).toBeLessThan(2 * DELAY);
    expectShutdownLog(service, 0);
    // The "already shutting down" lines sit between the start and the drain.
    const startIndex = service.indexOf(STARTED);
    const drainIndex = service.indexOf(DRAINING);
    for (const line of again) {
      const index = service.logLines.indexOf(line);
      expect(index).toBeGreaterThan(startIndex);
      expect(index).toBeLessThan(drainIndex);
    }
  });

  it('destroys in-flight work that outlasts SHUTDOWN_TIMEOUT_MS and exits 1', async () => {
    const TIMEOUT = 500;
    const service = await startService({ SHUTDOWN_TIMEOUT_MS: String(TIMEOUT) });
    const stalled = await RawClient.connect(service.port);
    await stalled.write(
      'POST /chat/messages HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
        `Content-Length: 1000\r\n\r\n{"text": "${'x'.repeat(100)}`,
    );
    await waitInFlight(service.port, 1);

    service.signal('SIGTERM');
    const draining = await service.waitForLog(DRAINING, 5_000);
    const drainSeen = performance.now();
    expect(draining.connections).toBeGreaterThanOrEqual(1);

    await stalled.waitClosed(TIMEOUT + 5_000);
    const closedAfter = performance.now() - drainSeen;
    // Cut off at the deadline: no response at all, and not before the timeout.
    expect(stalled.received).toBe(0);
    expect(closedAfter).toBeGreaterThanOrEqual(TIMEOUT - 100);

    const exit = await service.waitForExit(10_000);
    expect(exit, service.describe()).toEqual({ code: 1, signal: null });
    const forced = service.lines(/destroyed remaining sockets/);
    expect(forced).toHaveLength(1);
    expect(forced[0]).toMatchObject({ level: LEVEL.error, shutdownTimeoutMs: TIMEOUT });
    expect(timeOf(forced[0]) - timeOf(draining)).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expectShutdownLog(service, 1);
    expect(service.indexOf(/destroyed remaining sockets/)).toBeGreaterThan(
      service.indexOf(DRAINING),
    );
    // The cut-off request is logged as aborted.
    const aborted = service.logLines.find((l) => l.url === '/chat/messages' && l.aborted === true);
    expect(aborted, service.describe()).toBeDefined();
  });
});

describe('crashes (fixture)', () => {
  it.each([
    ['/crash/throw', 'uncaught exception', 'uncaughtException', 'boom from a timer callback'],
    [
      '/crash/reject',
      'unhandled promise rejection',
      'unhandledRejection',
      'rejected with nobody listening',
    ],
  ])(
    'GET %s: a fatal line with the error, then a graceful shutdown and exit 1',
    async (path, fatalMsg, reason, message) => {
      const service = await startService({}, { script: CUSTOM });
      // A request in flight when the crash comes: it is answered by the drain, not cut off.
      const waiting = await RawClient.connect(service.port);
      await waiting.request('/wait');
      await waitInFlight(service.port, 1);

      const res = await send(service.port, path);
      expect(res.status).toBe(202);

      const fatal = await service.waitForLog(fatalMsg, 5_000);
      expect(fatal.level).toBe(LEVEL.fatal);
      const err = fatal.err as { message?: string; stack?: string; type?: string } | undefined;
      expect(err?.message).toBe(message);
      expect(err?.stack).toContain(message);

      const answer = await waiting.readResponse(5_000);
      expect(answer.status).toBe(204);
      expect(answer.headers.connection).toBe('close');
      await waiting.waitClosed(2_000);
      expect(waiting.error).toBeNull();

      const exit = await service.waitForExit(10_000);
      expect(exit, service.describe()).toEqual({ code: 1, signal: null });
      expectShutdownLog(service, 1, [fatalMsg]);
      expect(service.lines(STARTED)[0]?.reason).toBe(reason);
      expect(service.lines(fatalMsg)).toHaveLength(1);
    },
  );
});

describe('shutdown hooks (fixture)', () => {
  it('run last-registered first, after the drain, and the process exits 0', async () => {
    const service = await startService({ FIXTURE_HOOKS: 'first,second,third' }, { script: CUSTOM });
    service.signal('SIGTERM');
    const exit = await service.waitForExit(10_000);
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });
    expect(service.lines('hook started').map((l) => l.hook)).toEqual(['third', 'second', 'first']);
    expect(service.lines('hook finished').map((l) => l.hook)).toEqual(['third', 'second', 'first']);
    expectShutdownLog(service, 0);
    const hookIndexes = service.logLines
      .map((line, index) => (line.msg === 'hook started' ? index : -1))
      .filter((index) => index >= 0);
    for (const index of hookIndexes) {
      expect(index).toBeGreaterThan(service.indexOf(DRAINING));
      expect(index).toBeLessThan(service.indexOf(COMPLETE));
    }
    expect(service.lines('shutdown hook failed')).toEqual([]);
  });

  it('log a failing and a timing-out hook, still run the rest, and the process exits 1', async () => {
    const service = await startService(
      { FIXTURE_HOOKS: 'first,broken:fail,stuck:hang,last', FIXTURE_HOOK_TIMEOUT_MS: '300' },
      { script: CUSTOM },
    );
    service.signal('SIGTERM');
    const exit = await service.waitForExit(10_000);
    expect(exit, service.describe()).toEqual({ code: 1, signal: null });
    expect(service.lines('hook started').map((l) => l.hook)).toEqual([
      'last',
      'stuck',
      'broken',
      'first',
    ]);
    expect(service.lines('hook finished').map((l) => l.hook)).toEqual(['last', 'first']);
    const failed = service.lines('shutdown hook failed');
    expect(
      failed.map((l) => [l.hook, l.level, (l.err as { message?: string } | undefined)?.message]),
    ).toEqual([
      ['stuck', LEVEL.error, 'timed out after 300 ms'],
      ['broken', LEVEL.error, 'hook broken failed on purpose'],
    ]);
    const stuckStarted = service.lines('hook started').find((l) => l.hook === 'stuck');
    expect(timeOf(failed[0]) - timeOf(stuckStarted)).toBeGreaterThanOrEqual(295);
    expectShutdownLog(service, 1);
  });
});

describe('shutdown under load', () => {
  it('20 keep-alive request loops across SIGTERM (SHUTDOWN_DELAY_MS=300): every request completes or is refused at connect', async () => {
    const service = await startService({ SHUTDOWN_DELAY_MS: '300' });
    const { port } = service;
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });
    const SIGNAL_AFTER = 300;
    const MAX_PER_LOOP = 3_000;
    const deadline = performance.now() + 15_000;

    interface Outcome {
      readonly ok: boolean;
      readonly code: string;
      readonly reused: boolean;
      readonly afterSignal: boolean;
    }
    let completed = 0;
    let signalled = false;

    const once = (): Promise<Outcome> =>
      new Promise((resolve) => {
        let reused = false;
        const done = (ok: boolean, code: string): void =>
          resolve({ ok, code, reused, afterSignal: signalled });
        const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('error', (error: Error & { code?: string }) =>
            done(false, `response ${error.code ?? error.message}`),
          );
          res.on('close', () => {
            const ok = res.complete && res.statusCode === 200 && body.length > 0;
            done(ok, ok ? 'ok' : `truncated ${res.statusCode} ${JSON.stringify(body)}`);
          });
        });
        req.on('socket', () => {
          reused = req.reusedSocket;
        });
        req.on('error', (error: Error & { code?: string }) =>
          done(false, error.code ?? error.message),
        );
        req.end();
      });

    const outcomes: Outcome[] = [];
    const loop = async (): Promise<void> => {
      for (let i = 0; i < MAX_PER_LOOP && performance.now() < deadline; i++) {
        const outcome = await once();
        outcomes.push(outcome);
        if (!outcome.ok) return;
        completed++;
        if (completed === SIGNAL_AFTER) {
          signalled = true;
          service.signal('SIGTERM');
        }
      }
    };
    try {
      await within(Promise.all(Array.from({ length: 20 }, loop)), 20_000, 'the request loops');
    } finally {
      agent.destroy();
    }

    const ok = outcomes.filter((o) => o.ok);
    const refused = outcomes.filter((o) => o.code === 'ECONNREFUSED');
    const failures = outcomes.filter((o) => !o.ok && o.code !== 'ECONNREFUSED');
    const summary =
      `${ok.length} ok (${ok.filter((o) => o.afterSignal).length} after SIGTERM), ` +
      `${refused.length} refused, ${failures.length} failed: ` +
      JSON.stringify(failures.slice(0, 10));
    expect(signalled, summary).toBe(true);
    expect(failures, summary).toEqual([]);
    // Every loop ran until the listener refused it, and a refusal only ever came on connect.
    expect(refused, summary).toHaveLength(20);
    expect(refused.every((o) => !o.reused && o.afterSignal)).toBe(true);
    expect(ok.length, summary).toBeGreaterThanOrEqual(SIGNAL_AFTER);
    // Traffic kept flowing during the delay.
    expect(ok.filter((o) => o.afterSignal).length, summary).toBeGreaterThan(0);

    const exit = await service.waitForExit(10_000);
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });
    expectShutdownLog(service, 0);
  });
});
