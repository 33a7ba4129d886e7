import { describe, expect, it } from 'vitest';
import { DEFAULT_CHECK_TIMEOUT_MS, Health } from '../../src/service/health.js';
import { deferred } from '../support/wait.js';

function started(): Health {
  const health = new Health();
  health.markStarted();
  return health;
}

describe('Health state', () => {
  it('is not started nor ready before markStarted, with reason "starting"', async () => {
    const health = new Health();
    expect(health.started).toBe(false);
    expect(health.shuttingDown).toBe(false);
    let ran = 0;
    health.addReadinessCheck('counted', () => {
      ran++;
    });
    expect(await health.readiness()).toEqual({ ok: false, reason: 'starting', checks: [] });
    expect(ran, 'checks do not run before start-up finished').toBe(0);
    health.markStarted();
    expect(health.started).toBe(true);
    const ready = await health.readiness();
    expect(ready.ok).toBe(true);
    expect(ready.reason).toBeUndefined();
    expect(ran).toBe(1);
  });

  it('is ready with no checks once started', async () => {
    expect(await started().readiness()).toEqual({ ok: true, checks: [] });
  });

  it('is not ready from beginShutdown on, with reason "shutting down", and stays started', async () => {
    const health = started();
    let ran = 0;
    health.addReadinessCheck('counted', () => {
      ran++;
    });
    expect((await health.readiness()).ok).toBe(true);
    health.beginShutdown();
    expect(health.shuttingDown).toBe(true);
    expect(health.started).toBe(true);
    expect(await health.readiness()).toEqual({ ok: false, reason: 'shutting down', checks: [] });
    expect(ran).toBe(1);
  });

  it('says shutting down even when shutdown begins before start-up finished', async () => {
    const health = new Health();
    health.beginShutdown();
    expect((await health.readiness()).reason).toBe('shutting down');
  });
});

describe('Health readiness checks', () => {
  it('passes a check that returns, resolves, or returns a truthy or undefined value', async () => {
    const health = started();
    health.addReadinessCheck('sync', () => undefined);
    health.addReadinessCheck('true', () => true);
    health.addReadinessCheck('async', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
    health.addReadinessCheck('zero', () => 0);
    const result = await health.readiness();
    expect(result.ok).toBe(true);
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([
      ['sync', true],
      ['true', true],
      ['async', true],
      ['zero', true],
    ]);
    for (const check of result.checks) {
      expect(check.error).toBeUndefined();
      expect(check.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(result.checks[2]?.durationMs).toBeGreaterThanOrEqual(4);
  });

  it('fails a check that throws, rejects or returns false, with the error text', async () => {
    const health = started();
    health.addReadinessCheck('ok', () => true);
    health.addReadinessCheck('throws', () => {
      throw new Error('database down');
    });
    health.addReadinessCheck('rejects', () => Promise.reject(new Error('cache refused')));
    health.addReadinessCheck('throws-string', () => {
      throw 'plain string';
    });
    health.addReadinessCheck('false', () => false);
    health.addReadinessCheck('resolves-false', async () => false);
    const result = await health.readiness();
    expect(result.ok).toBe(false);
    expect(result.reason).toBeUndefined();
    expect(result.checks.map(({ name, ok, error }) => ({ name, ok, error }))).toEqual([
      { name: 'ok', ok: true, error: undefined },
      { name: 'throws', ok: false, error: 'database down' },
      { name: 'rejects', ok: false, error: 'cache refused' },
      { name: 'throws-string', ok: false, error: 'plain string' },
      { name: 'false', ok: false, error: 'returned false' },
      { name: 'resolves-false', ok: false, error: 'returned false' },
    ]);
  });

  it('fails a check that never resolves after its timeoutMs, and fires its AbortSignal', async () => {
    const health = started();
    let seen: AbortSignal | undefined;
    health.addReadinessCheck(
      'hangs',
      (signal) => {
        seen = signal;
        return new Promise(() => {});
      },
      { timeoutMs: 60 },
    );
    health.addReadinessCheck('fine', () => true);
    const t0 = performance.now();
    const result = await health.readiness();
    const elapsed = performance.now() - t0;
    expect(result.ok).toBe(false);
    const hangs = result.checks.find((c) => c.name === 'hangs');
    expect(hangs).toMatchObject({ ok: false, error: 'timed out after 60 ms' });
    expect(hangs?.durationMs).toBeGreaterThanOrEqual(55);
    expect(elapsed).toBeGreaterThanOrEqual(55);
    expect(elapsed).toBeLessThan(2_000);
    expect(result.checks.find((c) => c.name === 'fine')?.ok).toBe(true);
    expect(seen?.aborted).toBe(true);
    expect((seen?.reason as Error | undefined)?.message).toBe('timed out after 60 ms');
  });

  it('gives the check a signal that is not aborted when it finishes in time', async () => {
    const health = started();
    let seen: AbortSignal | undefined;
    health.addReadinessCheck('quick', (signal) => {
      seen = signal;
      return true;
    });
    await health.readiness();
    expect(seen).toBeInstanceOf(AbortSignal);
    expect(seen?.aborted).toBe(false);
  });

  it('times a check out after DEFAULT_CHECK_TIMEOUT_MS (800 ms) when given no timeout', async () => {
    expect(DEFAULT_CHECK_TIMEOUT_MS).toBe(800);
    const health = started();
    health.addReadinessCheck('hangs', () => new Promise(() => {}));
    const result = await health.readiness();
    expect(result.checks[0]).toMatchObject({ ok: false, error: 'timed out after 800 ms' });
    expect(result.checks[0]?.durationMs).toBeGreaterThanOrEqual(790);
  });

  it('shares one run of each check among concurrent readiness() calls', async () => {
    const health = started();
    const gate = deferred();
    let slowRuns = 0;
    let fastRuns = 0;
    health.addReadinessCheck('slow', async () => {
      slowRuns++;
      await gate.promise;
    });
    health.addReadinessCheck('fast', () => {
      fastRuns++;
    });
    const calls = [health.readiness(), health.readiness(), health.readiness()];
    // Let every call start (a check starts on a microtask).
    await new Promise((resolve) => setImmediate(resolve));
    expect(slowRuns).toBe(1);
    gate.resolve();
    const results = await Promise.all(calls);
    expect(slowRuns).toBe(1);
    for (const result of results) expect(result.ok).toBe(true);
    // Every caller got the same result object for the shared run.
    expect(results[1]?.checks[0]).toBe(results[0]?.checks[0]);
    expect(results[2]?.checks[0]).toBe(results[0]?.checks[0]);
    expect(fastRuns).toBe(1);
  });

  it('shares a failing run too: one invocation, every caller sees the failure', async () => {
    const health = started();
    const gate = deferred();
    let runs = 0;
    health.addReadinessCheck('flaky', async () => {
      runs++;
      await gate.promise;
      throw new Error(`failure #${runs}`);
    });
    const calls = Array.from({ length: 5 }, () => health.readiness());
    await new Promise((resolve) => setImmediate(resolve));
    gate.resolve();
    const results = await Promise.all(calls);
    expect(runs).toBe(1);
    for (const result of results) {
      expect(result.ok).toBe(false);
      expect(result.checks[0]?.error).toBe('failure #1');
    }
  });

  it('starts a new run on the next call once a run has finished', async () => {
    const health = started();
    let runs = 0;
    health.addReadinessCheck('counted', () => {
      runs++;
      return runs !== 2;
    });
    expect((await health.readiness()).ok).toBe(true);
    expect(runs).toBe(1);
    const second = await health.readiness();
    expect(runs).toBe(2);
    expect(second.ok).toBe(false);
    expect(second.checks[0]?.error).toBe('returned false');
    expect((await health.readiness()).ok).toBe(true);
    expect(runs).toBe(3);
  });

  it('starts a new run after a timed-out run, even though the old one never settles', async () => {
    const health = started();
    let runs = 0;
    health.addReadinessCheck(
      'hangs-once',
      () => {
        runs++;
        return runs === 1 ? new Promise(() => {}) : true;
      },
      { timeoutMs: 30 },
    );
    expect((await health.readiness()).ok).toBe(false);
    expect((await health.readiness()).ok).toBe(true);
    expect(runs).toBe(2);
  });

  it('throws on a duplicate check name and keeps the first check', async () => {
    const health = started();
    health.addReadinessCheck('db', () => true);
    expect(() => health.addReadinessCheck('db', () => false)).toThrow(/duplicate.*"db"/);
    const result = await health.readiness();
    expect(result.checks).toHaveLength(1);
    expect(result.ok).toBe(true);
  });
});
