/**
 * A worker killed under load (WORKERS=2, dist/main.js): only requests in flight on that worker
 * fail (counted, and each traced to a connection the killed worker was serving), a replacement
 * serves soon after, and the aggregated metrics keep counting. Run `npm run build` first.
 */
import { describe, expect, it } from 'vitest';
import { scrape, startCluster, startedWorkerPids } from '../cluster/cluster-util.js';
import { homeCount } from '../support/metrics.js';
import { msgMatches } from '../support/process.js';
import { send } from '../support/socket.js';
import { until } from '../support/wait.js';
import { keepAliveLoad, summarize } from './keep-alive-load.js';
import { report } from './support.js';

describe('SIGKILL to one of two workers under load', () => {
  it('only its in-flight requests fail, a replacement serves within seconds, metrics keep counting', {
    timeout: 60_000,
  }, async () => {
    const { service, workers } = await startCluster({ LOG_LEVEL: 'info' });
    const [victim, survivor] = workers as [number, number];
    const pidOf = new Map<string, number>();
    const indexLines = (): void => {
      for (const line of service.logLines) {
        if (typeof line.reqId === 'string' && typeof line.pid === 'number') {
          pidOf.set(line.reqId, line.pid);
        }
      }
    };

    let served = 0;
    let killedAt = 0;
    let killedPerf = 0;
    let stop = false;
    const load = keepAliveLoad({
      port: service.port,
      connections: 40,
      durationMs: 30_000,
      stopWhen: () => stop,
      recordLatency: false,
      reconnectOnFailure: true,
      requestTimeoutMs: 3_000,
      requestIdPrefix: `kill-${process.pid}`,
      onResponse: () => {
        served++;
      },
    });
    await until(() => served >= 2_000, 'load under way', { timeoutMs: 15_000, intervalMs: 25 });
    const before = homeCount((await scrape(service)).text) ?? 0;
    expect(before).toBeGreaterThan(0);

    // Which worker holds which connections right now: from the access lines of recent requests.
    process.kill(victim, 'SIGKILL');
    killedAt = Date.now();
    killedPerf = performance.now();
    const died = await service.waitForLine(
      (l) => msgMatches(l, /^worker died/) && l.workerPid === victim,
      5_000,
      'the primary noticing the death',
    );
    // Fresh connections keep being served meanwhile (by the survivor, then the replacement too).
    let freshOk = 0;
    const freshFailures: string[] = [];
    const replacementServed = (): number | undefined => {
      const pids = startedWorkerPids(service).filter((p) => p !== victim && p !== survivor);
      const replacement = pids[0];
      if (replacement === undefined) return undefined;
      const line = service.logLines.find(
        (l) => l.pid === replacement && typeof l.statusCode === 'number',
      );
      return line === undefined ? undefined : Date.parse(String(line.time));
    };
    while (replacementServed() === undefined && performance.now() - killedPerf < 15_000) {
      try {
        const answer = await send(service.port, '/', { timeoutMs: 5_000 });
        if (answer.status === 200) freshOk++;
        else freshFailures.push(`status ${answer.status}`);
      } catch (error) {
        freshFailures.push(String((error as Error & { code?: string }).code ?? error));
      }
    }
    const servedAt = replacementServed();
    expect(servedAt, 'the replacement served a request').toBeDefined();
    const replacementReadyMs = (servedAt as number) - killedAt;
    // Let the load run on over the two live workers for a moment, then stop it.
    const servedAfter = served;
    await until(() => served >= servedAfter + 2_000, 'load after the replacement', {
      timeoutMs: 15_000,
      intervalMs: 25,
    });
    stop = true;
    const result = await load;
    const after = homeCount((await scrape(service)).text) ?? 0;

    indexLines();
    // Every failed request was on a connection whose previous request the killed worker served
    // (its access line may have died with it: unknown counts as the killed worker, never as a
    // live one), or on a connection opened in the moment before the primary saw the death.
    const failures = result.failures;
    const live = new Set(startedWorkerPids(service).filter((p) => p !== victim));
    const onVictim = failures.filter(
      (f) => f.previousId !== undefined && !live.has(pidOf.get(f.previousId) ?? -1),
    );
    const traced = onVictim.filter((f) => pidOf.get(f.previousId as string) === victim);
    const fresh = failures.filter((f) => f.previousId === undefined);
    const diedAt = Date.parse(String(died.time));
    const figures = {
      ...summarize(result),
      failed: failures.length,
      failedOnKilledWorker: onVictim.length,
      tracedByAccessLine: traced.length,
      failedBeforeFirstResponse: fresh.length,
      unansweredHandoffs: fresh.filter((f) => f.kind === 'timeout').length,
      freshRequestsOk: freshOk,
      freshRequestsFailed: freshFailures.length,
      killToPrimaryNoticedMs: diedAt - killedAt,
      killToReplacementServingMs: replacementReadyMs,
      metricsBefore: before,
      metricsAfter: after,
    };
    report('SIGKILL one of two workers under load', figures);
    expect(onVictim.length + fresh.length, JSON.stringify(failures.slice(0, 5))).toBe(
      failures.length,
    );
    // At most one request in flight per connection: no more failures than connections.
    expect(failures.length).toBeLessThanOrEqual(40);
    for (const f of onVictim) {
      expect(['reset', 'truncated', 'closed before a response']).toContain(f.kind);
    }
    // A connection opened as the worker died was sent before the primary saw the death. Node's
    // round-robin primary loses the one connection it was handing to the killed worker (it
    // waits for an acknowledgement that never comes: lib/internal/cluster/round_robin_handle.js),
    // so that one request gets no answer at all: at most one such per killed worker.
    for (const f of fresh) expect(f.sentAt).toBeLessThanOrEqual(diedAt + 500);
    expect(fresh.filter((f) => f.kind === 'timeout').length).toBeLessThanOrEqual(1);
    expect(freshFailures, JSON.stringify(figures)).toEqual([]);
    // The replacement serves within a second or so of the kill (about 0.6 s here under this
    // load; the bound leaves room for a busy 2-core machine, the figure is reported).
    expect(replacementReadyMs).toBeLessThan(3_000);
    // Counts never go backwards and keep growing.
    expect(after).toBeGreaterThan(before);
    const later = homeCount((await scrape(service)).text) ?? 0;
    for (let i = 0; i < 20; i++) expect((await send(service.port, '/')).status).toBe(200);
    const final = homeCount((await scrape(service)).text) ?? 0;
    expect(later).toBeGreaterThanOrEqual(after);
    expect(final - later).toBeGreaterThanOrEqual(20);
  });
});
