import { describe, expect, it } from 'vitest';
import { Health } from '../../src/service/health.js';

describe('Health: a check registered with critical: false', () => {
  it('is run and shown, marked critical: false, but its failure leaves the service ready', async () => {
    const health = new Health();
    health.markStarted();
    let broker = 'reconnecting';
    health.addReadinessCheck(
      'broker',
      () => {
        if (broker !== 'connected') throw new Error(broker);
      },
      { critical: false },
    );
    health.addReadinessCheck('db', () => true);
    const down = await health.readiness();
    expect(down.ok).toBe(true);
    expect(down.checks).toEqual([
      {
        name: 'broker',
        ok: false,
        critical: false,
        durationMs: expect.any(Number),
        error: 'reconnecting',
      },
      { name: 'db', ok: true, durationMs: expect.any(Number) },
    ]);
    broker = 'connected';
    const up = await health.readiness();
    expect(up.checks[0]).toMatchObject({ name: 'broker', ok: true, critical: false });
    expect(up.checks[0]).not.toHaveProperty('error');
  });

  it('does not hide a failing critical check', async () => {
    const health = new Health();
    health.markStarted();
    health.addReadinessCheck('broker', () => false, { critical: false });
    health.addReadinessCheck('db', () => false);
    const verdict = await health.readiness();
    expect(verdict.ok).toBe(false);
    expect(verdict.checks.map((c) => [c.name, c.ok])).toEqual([
      ['broker', false],
      ['db', false],
    ]);
  });

  it('still answers not ready while shutting down', async () => {
    const health = new Health();
    health.markStarted();
    health.addReadinessCheck('broker', () => true, { critical: false });
    health.beginShutdown();
    expect((await health.readiness()).ok).toBe(false);
  });
});
