/**
 * Black-box tests of workers that fail at start-up (run `npm run build` first): a rolling
 * restart whose new worker crashes or hangs keeps the old worker serving and the count at N, and
 * the next SIGHUP works; workers that hang at start-up make the primary give up.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleValue } from '../support/metrics.js';
import { fixture, msgMatches, spawnService } from '../support/process.js';
import { groupPids, isAlive, scrape, startCluster, tagged } from './cluster-util.js';

function faultFile(): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'tornode-fault-')), 'mode');
}

describe('a rolling restart whose new worker fails', () => {
  it.each(['crash', 'hang'])(
    'new worker that fails (%s): killed, not respawned, old ones keep serving, counted; next SIGHUP works',
    async (mode) => {
      const file = faultFile();
      writeFileSync(file, '');
      const { service, workers } = await startCluster(
        { FIXTURE_FAULT_FILE: file, WORKER_STARTUP_TIMEOUT_MS: '1500' },
        fixture('startup-fault.mjs'),
      );
      writeFileSync(file, mode);
      service.signal('SIGHUP');
      await service.waitForLog(/^rolling restart failed/, 10_000);
      // Not respawned: the same two workers, and only them, serve.
      await new Promise((resolve) => setTimeout(resolve, 800)); // a respawn would fork by now
      const pgid = service.child.pid as number;
      expect(groupPids(pgid).sort()).toEqual([pgid, ...workers].sort());
      for (const pid of workers) expect(isAlive(pid)).toBe(true);
      for (let i = 0; i < 6; i++) expect((await tagged(service, '/')).status).toBe(200);
      const text = (await scrape(service)).text;
      expect(sampleValue(text, 'cluster_workers')).toBe(2);
      expect(sampleValue(text, 'cluster_rolling_restart_failures_total')).toBe(1);

      writeFileSync(file, '');
      const before = service.lines(/^rolling restart complete/).length;
      service.signal('SIGHUP');
      await service.waitForLine(
        (l) =>
          msgMatches(l, /^rolling restart complete/) && service.lines(/complete/).length > before,
        20_000,
        'the second rolling restart completing',
      );
      for (const pid of workers) expect(isAlive(pid)).toBe(false);
      expect(groupPids(pgid)).toHaveLength(3);
    },
    60_000,
  );
});

describe('workers that hang at start-up', () => {
  it('count as start-up failures: the primary gives up and exits 1', async () => {
    const file = faultFile();
    writeFileSync(file, 'hang');
    const service = spawnService(
      { WORKERS: '2', FIXTURE_FAULT_FILE: file, WORKER_STARTUP_TIMEOUT_MS: '500' },
      { script: fixture('startup-fault.mjs') },
    );
    const exit = await service.waitForExit(20_000);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(service.lines(/start-up deadline/).length).toBeGreaterThanOrEqual(4);
    expect(service.lines(/giving up/)).toHaveLength(1);
    expect(groupPids(service.child.pid as number)).toEqual([]);
  }, 30_000);
});
