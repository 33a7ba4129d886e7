/**
 * Black-box tests of the cluster primary keeping its workers running (run `npm run build`
 * first): a killed worker is replaced while the other serves, SIGHUP replaces every worker
 * without a failed request, and workers that keep crashing at start-up make the primary give up.
 */
import { describe, expect, it } from 'vitest';
import { homeCount } from '../support/metrics.js';
import { msgMatches, spawnService } from '../support/process.js';
import { until } from '../support/wait.js';
import {
  clientLoop,
  scrape,
  servedBy,
  startCluster,
  startedWorkerPids,
  tagged,
  waitForPidsGone,
} from './cluster-util.js';

describe('cluster supervision', () => {
  it('replaces a SIGKILLed worker while the other keeps serving; counts do not go backwards', async () => {
    const { service, workers } = await startCluster();
    const [victim, survivor] = workers as [number, number];
    let served = 0;
    const home = async (): Promise<number> => {
      const answer = await tagged(service, '/');
      expect(answer.status).toBe(200);
      served++;
      return (await servedBy(service, answer.reqId)).pid;
    };
    const before = new Set<number>();
    for (let i = 0; i < 20; i++) before.add(await home());
    expect(before.size).toBe(2);
    // The primary remembers both workers' snapshots from this scrape.
    const first = homeCount((await scrape(service)).text);
    expect(first).toBe(20);

    process.kill(victim, 'SIGKILL');
    const died = await service.waitForLine(
      (l) => msgMatches(l, /^worker died/) && l.workerPid === victim,
      5_000,
      'the primary noticing the killed worker',
    );
    expect(died.role).toBe('primary');
    expect(died.signal).toBe('SIGKILL');
    await waitForPidsGone([victim], 5_000);

    // Served while the replacement starts (by the survivor: the replacement may take its first
    // connections a moment before the primary's `worker ready` line is read here).
    const isReplacementReady = () =>
      service.logLines.some(
        (l) => msgMatches(l, /^worker ready/) && l.workerPid !== victim && l.workerPid !== survivor,
      );
    let whileReplacing = 0;
    for (let i = 0; i < 200 && !isReplacementReady(); i++) {
      expect(await home()).not.toBe(victim);
      whileReplacing++;
    }
    await service.waitForLine(
      (l) => msgMatches(l, /^worker ready/) && l.workerPid !== victim && l.workerPid !== survivor,
      10_000,
      'the replacement worker ready',
    );
    const started = startedWorkerPids(service);
    expect(started).toHaveLength(3);
    const replacement = started[2] as number;
    expect(workers).not.toContain(replacement);

    // The replacement takes its share of the traffic.
    const after = new Set<number>();
    for (let i = 0; i < 10 && after.size < 2; i++) after.add(await home());
    expect([...after].sort()).toEqual([survivor, replacement].sort());

    // The killed worker's requests were all scraped before it died: none is lost.
    const second = homeCount((await scrape(service)).text) ?? 0;
    expect(second).toBeGreaterThanOrEqual(first as number);
    expect(second).toBe(served);
    expect(served).toBeGreaterThan(20);
    // Some of them were answered while the replacement was still starting.
    expect(whileReplacing).toBeGreaterThan(0);
  });

  it('SIGHUP replaces every worker, one at a time, with no failed request', async () => {
    const { service, workers } = await startCluster();
    for (let i = 0; i < 10; i++) expect((await tagged(service, '/')).status).toBe(200);
    const first = homeCount((await scrape(service)).text);
    expect(first).toBe(10);

    let completeAt: number | undefined;
    let extraAfterComplete = 0;
    const loop = clientLoop(service.port, {
      concurrency: 4,
      stopWhen: () => {
        if (completeAt === undefined) {
          if (service.logLines.some((l) => msgMatches(l, /^rolling restart complete/))) {
            completeAt = loop.ok();
          }
          return false;
        }
        // A little traffic after the restart, to see the new workers serve it.
        extraAfterComplete = loop.ok() - completeAt;
        return extraAfterComplete >= 20;
      },
      maxRequests: 5_000,
      maxMs: 25_000,
    });
    await until(() => loop.ok() >= 10, 'the client loop getting going', { timeoutMs: 5_000 });
    const okAtSignal = loop.ok();
    service.signal('SIGHUP');
    const result = await loop.done;

    expect(result.failures).toEqual([]);
    expect(result.refused).toBe(0);
    expect(completeAt, 'the rolling restart completed within the loop').toBeDefined();
    expect(extraAfterComplete).toBeGreaterThanOrEqual(20);
    const duringRestart = (completeAt as number) - okAtSignal;
    expect(duringRestart).toBeGreaterThan(0);
    const logTime = (pattern: RegExp) =>
      Date.parse(service.logLines.find((l) => msgMatches(l, pattern))?.time as string);
    const restartMs = logTime(/^rolling restart complete/) - logTime(/^rolling restart$/);
    console.info(
      `rolling restart: ${result.ok} requests ok (${duringRestart} during the restart), ` +
        `${result.failures.length} failed, ${result.refused} refused, restart took ${restartMs} ms`,
    );

    // Every worker was replaced: two new pids, the old ones gone after retiring cleanly.
    const started = startedWorkerPids(service);
    expect(started).toHaveLength(4);
    const fresh = started.slice(2);
    for (const pid of fresh) expect(workers).not.toContain(pid);
    await waitForPidsGone(workers, 10_000);
    for (const pid of workers) {
      const retired = service.logLines.find(
        (l) => msgMatches(l, /^worker retired/) && l.workerPid === pid,
      );
      expect(retired, `worker ${pid} retired`).toBeDefined();
      expect(retired?.code).toBe(0);
    }
    expect(service.logLines.some((l) => msgMatches(l, /^worker died/))).toBe(false);
    // The requests after the restart were served by the new workers only.
    const lastIds = result.okIds.slice(-10);
    const lastPids = await Promise.all(lastIds.map((id) => servedBy(service, id)));
    for (const { pid } of lastPids) expect(fresh).toContain(pid);
    // The primary is the same process throughout.
    expect(service.isRunning).toBe(true);

    // Retired workers sent their final counts: nothing lost, nothing counted twice.
    const second = homeCount((await scrape(service)).text);
    expect(second).toBeGreaterThanOrEqual(first as number);
    expect(second).toBe(10 + result.ok);
  }, 40_000);

  it('gives up with a fatal line and a non-zero exit when workers keep crashing at start-up', async () => {
    // The workers cannot bind this address (TEST-NET-3, not on this host): each dies before
    // it is ready.
    const service = spawnService({ WORKERS: '2', HOST: '203.0.113.1' });
    const started = Date.now();
    const exit = await service.waitForExit(30_000);
    const elapsed = Date.now() - started;
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(elapsed).toBeLessThan(30_000);
    const fatal = service.logLines.find((l) => l.level === 60 && msgMatches(l, /giving up/));
    expect(fatal, service.describe()).toBeDefined();
    expect(fatal?.role).toBe('primary');
    expect(fatal?.pid).toBe(service.child.pid);
    const deaths = service.logLines.filter((l) => msgMatches(l, /^worker died/));
    expect(deaths.length).toBeGreaterThanOrEqual(2);
    expect(deaths.length).toBeLessThanOrEqual(10);
    // It never claimed to listen, and no worker it forked is left behind.
    expect(service.listeningLines).toEqual([]);
    const forked = deaths.map((l) => l.workerPid as number);
    await waitForPidsGone(forked, 5_000);
  }, 40_000);
});
