/**
 * Black-box tests of faults during start-up (run `npm run build` first): SIGTERM at any moment of
 * a cluster's start-up ends in a graceful exit 0, with no worker left behind.
 */
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixture, type ServiceProcess, spawnService } from '../support/process.js';
import { within } from '../support/wait.js';
import { groupPids, waitForPidsGone } from './cluster-util.js';

/** Resolves once `service` wrote `booted` on stderr (see the fixture `booted.mjs`). */
function booted(service: ServiceProcess): Promise<void> {
  return new Promise((resolve) => {
    const stderr = service.child.stderr;
    const check = (): void => {
      if (!service.stderr.includes('booted')) return;
      stderr?.off('data', check);
      resolve();
    };
    stderr?.on('data', check);
    check();
  });
}

describe('SIGTERM during start-up', () => {
  it('exits 0 within the shutdown deadline at any delay, leaving no process behind', async () => {
    // After node's bootstrap: from "modules still loading" through "workers forked, history
    // syncing" to "listening".
    const delays = [20, 40, 80, 120, 160, 250, 400];
    const timeoutMs = 2_000; // SHUTDOWN_TIMEOUT_MS: the deadline is that plus the 2 s margin
    for (const delay of delays) {
      const service = spawnService({
        WORKERS: '2',
        SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
        NODE_OPTIONS: `--import=${pathToFileURL(fixture('booted.mjs')).href}`,
      });
      const pgid = service.child.pid as number;
      await within(booted(service), 10_000, 'node to boot');
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
