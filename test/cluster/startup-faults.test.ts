/**
 * Black-box tests of faults during start-up (run `npm run build` first): SIGTERM at any moment of
 * a cluster's start-up ends in a graceful exit 0, with no worker left behind.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { spawnService } from '../support/process.js';
import { groupPids, waitForPidsGone } from './cluster-util.js';

/**
 * How long node takes here, now, to run its first line of a script: no program can handle a
 * signal before that, so the delays below start from it.
 */
async function bootstrapMs(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, ['-e', 'process.stdout.write("up")'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  await new Promise((resolve) => child.once('exit', resolve));
  return performance.now() - started;
}

describe('SIGTERM during start-up', () => {
  it('exits 0 within the shutdown deadline at any delay, leaving no process behind', async () => {
    // From "modules still loading" through "workers forked, history syncing" to "listening".
    const base = await bootstrapMs();
    const delays = [20, 60, 100, 150, 200, 300, 500].map((d) => Math.round(base + d));
    const timeoutMs = 2_000; // SHUTDOWN_TIMEOUT_MS: the deadline is that plus the 2 s margin
    for (const delay of delays) {
      const service = spawnService({ WORKERS: '2', SHUTDOWN_TIMEOUT_MS: String(timeoutMs) });
      const pgid = service.child.pid as number;
      await new Promise((resolve) => setTimeout(resolve, delay));
      const seen = groupPids(pgid);
      service.signal('SIGTERM');
      const started = performance.now();
      const exit = await service.waitForExit(timeoutMs + 2_000 + 3_000);
      const elapsed = performance.now() - started;
      expect(exit, `signal after ${delay} ms\n${service.describe()}`).toEqual({
        code: 0,
        signal: null,
      });
      expect(elapsed, `signal after ${delay} ms`).toBeLessThan(timeoutMs + 2_000);
      await waitForPidsGone(seen, 2_000);
      expect(groupPids(pgid), `signal after ${delay} ms`).toEqual([]);
    }
  }, 60_000);
});
