/**
 * Black-box tests of the one shutdown deadline (run `npm run build` first): hooks share what is
 * left of SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS instead of 5 s each, and a crash during the
 * shutdown is not an exit 0.
 */
import { describe, expect, it } from 'vitest';
import { fixture, startService } from '../support/process.js';

const script = fixture('custom-service.mjs');

describe('the shutdown deadline', () => {
  it('cuts hanging hooks short at delay + timeout and exits 1', async () => {
    const service = await startService(
      {
        SHUTDOWN_DELAY_MS: '200',
        SHUTDOWN_TIMEOUT_MS: '800',
        FIXTURE_HOOKS: 'first:hang,second:hang',
        FIXTURE_HOOK_TIMEOUT_MS: '5000',
      },
      { script },
    );
    service.signal('SIGTERM');
    const started = performance.now();
    const exit = await service.waitForExit(15_000);
    const elapsed = performance.now() - started;
    expect(exit).toEqual({ code: 1, signal: null });
    // 1 s of deadline plus process exit; two hooks of 5 s each would be 10 s.
    expect(elapsed, service.describe()).toBeLessThan(3_000);
    expect(service.lines(/shutdown hook failed/).length).toBeGreaterThanOrEqual(1);
  });

  it('exits 1 when the process crashes during its shutdown', async () => {
    const service = await startService({ SHUTDOWN_DELAY_MS: '1500' }, { script });
    service.signal('SIGTERM');
    await service.waitForLog(/^shutdown started/, 5_000);
    // Still served during the delay: this one throws from a timer once answered.
    const answer = await service.fetch('/crash/throw');
    expect(answer.status).toBe(202);
    const exit = await service.waitForExit(10_000);
    expect(exit, service.describe()).toEqual({ code: 1, signal: null });
    expect(service.lines(/uncaught exception/)).toHaveLength(1);
  });
});
