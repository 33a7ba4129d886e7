/**
 * `/readyz?verbose` on the public port lists each check's name and outcome only: a check's error
 * text (which can name hosts, users, versions) is for the admin port and the log. Against the
 * built `dist/main.js` with the custom fixture's failing checks (`npm run build` first).
 */
import { describe, expect, it } from 'vitest';
import { fixture, startService } from '../support/process.js';
import { send } from '../support/socket.js';

const CUSTOM = fixture('custom-service.mjs');

interface Verbose {
  status: string;
  checks: Record<string, unknown>[];
}

async function verbose(port: number, path = '/readyz?verbose'): Promise<Verbose> {
  const res = await send(port, path);
  expect(res.status).toBe(503);
  return JSON.parse(res.body) as Verbose;
}

const OUTCOMES = [
  { name: 'database', ok: true },
  { name: 'cache', ok: true },
  { name: 'queue', ok: false },
  { name: 'search', ok: false },
  { name: 'flag', ok: false },
];

describe('?verbose details stay off the public port', () => {
  it('without ADMIN_PORT: names and ok/failed only; the error texts are in the log line', async () => {
    const service = await startService({ FIXTURE_CHECKS: 'failing' }, { script: CUSTOM });
    for (const path of ['/readyz?verbose', '/healthz?verbose']) {
      const body = await verbose(service.port, path);
      expect(body.status).toBe('fail');
      expect(body.checks).toEqual(OUTCOMES);
    }
    const line = await service.waitForLog('readiness check failed', 5_000);
    const errors = Object.fromEntries(
      (line.checks as { name: string; error: string }[]).map((c) => [c.name, c.error]),
    );
    expect(errors).toEqual({
      queue: 'queue unreachable',
      search: 'timed out after 200 ms',
      flag: 'returned false',
    });
  });

  it('with ADMIN_PORT: the admin port shows the error texts, the public port still does not', async () => {
    const service = await startService(
      { FIXTURE_CHECKS: 'failing', ADMIN_PORT: '0' },
      { script: CUSTOM },
    );
    expect((await verbose(service.port)).checks).toEqual(OUTCOMES);
    const admin = await verbose(service.adminPort as number);
    const byName = Object.fromEntries(admin.checks.map((c) => [c.name, c]));
    expect(byName.queue).toMatchObject({ ok: false, error: 'queue unreachable' });
    expect(byName.flag).toMatchObject({ ok: false, error: 'returned false' });
    expect(typeof byName.database?.durationMs).toBe('number');
  });
});
