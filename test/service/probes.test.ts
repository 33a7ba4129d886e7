/**
 * Black-box tests of the probe endpoints (`/livez`, `/readyz`, `/startupz`, `/healthz`) and the
 * admin listener, against the built `dist/main.js` and a fixture with readiness checks
 * (`npm run build` first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawResponse } from '../support/http.js';
import { fixture, type ServiceProcess, startService } from '../support/process.js';
import { RawClient, send } from '../support/socket.js';

const PROBES = ['/livez', '/readyz', '/startupz', '/healthz'] as const;
const CUSTOM = fixture('custom-service.mjs');

/** Headers that legitimately differ between two responses. */
function comparable(headers: Readonly<Record<string, string>>): Record<string, string> {
  const { date: _date, 'x-request-id': _id, ...rest } = headers;
  return rest;
}

/** A HEAD and a GET of `path`, pipelined on one keep-alive connection, parsed byte-exactly. */
async function headThenGet(port: number, path: string): Promise<[RawResponse, RawResponse]> {
  const socket = await RawClient.connect(port);
  try {
    await socket.write(
      `HEAD ${path} HTTP/1.1\r\nHost: test\r\n\r\nGET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`,
    );
    // If HEAD sent a body, its bytes would sit where the GET's status line must be.
    const head = await socket.readResponse(5_000, 'HEAD');
    const get = await socket.readResponse(5_000, 'GET');
    expect(socket.buffer.length, 'bytes after the GET response').toBe(0);
    return [head, get];
  } finally {
    socket.destroy();
  }
}

describe('probes of dist/main.js', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService({}, { shared: true });
  });

  afterAll(async () => {
    await service?.stop();
  });

  it.each(PROBES)('GET %s answers 200 "ok" as text with Cache-Control: no-store', async (path) => {
    const res = await send(service.port, path);
    expect(res.status).toBe(200);
    expect(res.body).toBe('ok\n');
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it.each(PROBES)('HEAD %s has the status and headers of GET and no body', async (path) => {
    const [head, get] = await headThenGet(service.port, path);
    expect(get.status).toBe(200);
    expect(get.text()).toBe('ok\n');
    expect(head.status).toBe(get.status);
    expect(comparable(head.headers)).toEqual(comparable(get.headers));
    expect(head.headers['cache-control']).toBe('no-store');
  });

  it.each(['/livez?foo=1', '/readyz?foo=1', '/readyz?', '/startupz?a=b&c', '/healthz?foo=1&foo=2'])(
    'ignores the query string: %s answers 200 "ok"',
    async (path) => {
      const res = await send(service.port, path);
      expect(res.status).toBe(200);
      expect(res.body).toBe('ok\n');
      expect(res.headers['cache-control']).toBe('no-store');
    },
  );

  it.each(PROBES)('GET %s?verbose answers JSON with the (empty) list of checks', async (path) => {
    const res = await send(service.port, `${path}?verbose`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(res.body) as { status: string; checks: unknown[] };
    expect(body.status).toBe('ok');
    expect(body.checks).toEqual([]);
  });

  it.each([
    ['POST', '/readyz'],
    ['PUT', '/livez'],
    ['DELETE', '/healthz'],
    ['POST', '/startupz'],
  ])('%s %s answers 405 with an Allow header naming GET and HEAD', async (method, path) => {
    const res = await send(service.port, path, { method, body: method === 'DELETE' ? '' : '{}' });
    expect(res.status).toBe(405);
    const allow = (res.headers.allow ?? '').split(',').map((m) => m.trim());
    expect(allow).toContain('GET');
    expect(allow).toContain('HEAD');
    expect(allow).not.toContain(method);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('/startupz and /readyz answer 200 as soon as the listening line is out', async () => {
    const fresh = await startService();
    const [startup, ready] = await Promise.all([
      send(fresh.port, '/startupz'),
      send(fresh.port, '/readyz'),
    ]);
    expect(startup.status).toBe(200);
    expect(ready.status).toBe(200);
  });
});

describe('readiness checks (fixture)', () => {
  interface Verbose {
    status: string;
    reason?: string;
    checks: { name: string; ok: boolean; durationMs: number; error?: string }[];
  }

  it('with passing checks: /readyz 200 and ?verbose lists each check by name as ok', async () => {
    const service = await startService(
      { FIXTURE_CHECKS: 'passing', ADMIN_PORT: '0' },
      { script: CUSTOM },
    );
    const plain = await send(service.port, '/readyz');
    expect(plain.status).toBe(200);
    expect(plain.body).toBe('ok\n');

    const res = await send(service.adminPort as number, '/readyz?verbose');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as Verbose;
    expect(body.status).toBe('ok');
    expect(body.checks.map((c) => c.name)).toEqual(['database', 'cache']);
    for (const check of body.checks) {
      expect(check.ok).toBe(true);
      expect(typeof check.durationMs).toBe('number');
      expect(check.durationMs).toBeGreaterThanOrEqual(0);
      expect(check).not.toHaveProperty('error');
    }
    // The database check waits 5 ms.
    expect(body.checks[0]?.durationMs).toBeGreaterThanOrEqual(4);

    const healthz = JSON.parse((await send(service.port, '/healthz?verbose')).body) as Verbose;
    expect(healthz.checks.map((c) => c.name)).toEqual(['database', 'cache']);
  });

  it('with failing checks: 503, each failure with its error text (admin port); liveness and start-up stay 200', async () => {
    const service = await startService(
      { FIXTURE_CHECKS: 'failing', ADMIN_PORT: '0' },
      { script: CUSTOM },
    );
    const res = await send(service.adminPort as number, '/readyz?verbose&foo=1');
    expect(res.status).toBe(503);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(res.body) as Verbose;
    expect(body.status).toBe('fail');
    const byName = Object.fromEntries(body.checks.map((c) => [c.name, c]));
    expect(Object.keys(byName)).toEqual(['database', 'cache', 'queue', 'search', 'flag']);
    expect(byName.database).toMatchObject({ ok: true });
    expect(byName.cache).toMatchObject({ ok: true });
    expect(byName.queue).toMatchObject({ ok: false, error: 'queue unreachable' });
    expect(byName.search).toMatchObject({ ok: false, error: 'timed out after 200 ms' });
    expect(byName.search?.durationMs).toBeGreaterThanOrEqual(190);
    expect(byName.search?.durationMs).toBeLessThan(5_000);
    expect(byName.flag).toMatchObject({ ok: false, error: 'returned false' });
    for (const check of body.checks) expect(typeof check.durationMs).toBe('number');

    // The timed-out check's AbortSignal fired, with the timeout as its reason.
    const aborted = await service.waitForLog('check aborted', 5_000);
    expect(aborted.reason).toBe('timed out after 200 ms');

    const plain = await send(service.port, '/readyz');
    expect(plain.status).toBe(503);
    expect(plain.body).toBe('failing checks: queue, search, flag\n');
    const healthz = await send(service.port, '/healthz');
    expect(healthz.status).toBe(503);

    const [head, get] = await headThenGet(service.port, '/readyz');
    expect(get.status).toBe(503);
    expect(head.status).toBe(503);
    expect(head.text()).toBe('');
    expect(head.headers['cache-control']).toBe('no-store');

    expect((await send(service.port, '/livez')).status).toBe(200);
    expect((await send(service.port, '/startupz')).status).toBe(200);
  });
});

describe('ADMIN_PORT', () => {
  it('serves the probes on both ports, /metrics on the admin port alone, and no application route there', async () => {
    const service = await startService({ ADMIN_PORT: '0' });
    const adminPort = service.adminPort;
    expect(service.listeningLine?.adminPort, 'adminPort on the listening line').toBeTypeOf(
      'number',
    );
    if (adminPort === undefined) throw new Error('no adminPort');
    expect(adminPort).toBeGreaterThan(0);
    expect(adminPort).not.toBe(service.port);

    for (const port of [adminPort, service.port]) {
      for (const path of PROBES) {
        const res = await send(port, path);
        expect(res.status, `${path} on ${port}`).toBe(200);
        expect(res.body).toBe('ok\n');
        expect(res.headers['cache-control']).toBe('no-store');
        const [head, get] = await headThenGet(port, `${path}?x=1`);
        expect(head.status).toBe(200);
        expect(comparable(head.headers)).toEqual(comparable(get.headers));
      }
    }
    const metrics = await send(adminPort, '/metrics');
    expect(metrics.status, '/metrics on the admin port').toBe(200);
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.body).toMatch(/^# HELP /m);
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
    // Application traffic cannot read internals: /metrics leaves the public port.
    for (const method of ['GET', 'HEAD'] as const) {
      const hidden = await send(service.port, '/metrics', { method });
      expect(hidden.status, `${method} /metrics on the public port`).toBe(404);
    }
    expect((await send(service.port, '/metrics')).body).not.toContain('process_cpu');

    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/chat/messages'],
      ['GET', '/chat/messages?after=0&timeout=1'],
      ['POST', '/chat/messages'],
    ] as const) {
      const res = await send(adminPort, path, {
        method,
        ...(method === 'POST'
          ? { headers: { 'Content-Type': 'application/json' }, body: '{"text":"hi"}' }
          : {}),
      });
      expect(res.status, `${method} ${path} on the admin port`).toBe(404);
    }
    // The application port still serves them.
    expect((await send(service.port, '/')).status).toBe(200);
    expect((await send(service.port, '/chat/messages')).status).toBe(200);
  });
});
