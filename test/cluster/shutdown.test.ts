/**
 * Black-box tests of how a cluster ends (run `npm run build` first): SIGTERM to the primary
 * drains every worker without failing a request and exits 0; during the shutdown delay every
 * worker's readiness fails while traffic is still served; a killed primary takes its workers and
 * the port with it.
 */
import { describe, expect, it } from 'vitest';
import { msgMatches } from '../support/process.js';
import { tryConnect } from '../support/socket.js';
import { until } from '../support/wait.js';
import { clientLoop, servedBy, startCluster, tagged, waitForPidsGone } from './cluster-util.js';

describe('cluster shutdown', () => {
  it('SIGTERM under load: no failed request, every process exits, exit code 0', async () => {
    const { service, workers } = await startCluster();
    const port = service.port;
    const loop = clientLoop(port, {
      concurrency: 2,
      stopWhen: () => !service.isRunning,
      maxRequests: 5_000,
      maxMs: 15_000,
    });
    await until(() => loop.ok() >= 30, 'the client loop getting going', { timeoutMs: 5_000 });
    const okAtSignal = loop.ok();
    const signalledAt = Date.now();
    service.signal('SIGTERM');
    const exit = await service.waitForExit(15_000);
    const exitedAt = Date.now();
    const result = await loop.done;

    expect(exit).toEqual({ code: 0, signal: null });
    const exiting = service.logLines.find((l) => msgMatches(l, /^primary exiting/));
    expect(exiting?.exitCode).toBe(0);

    // Every request that reached a worker (it wrote an access line) was answered 200 and the
    // client got the whole answer: draining never cut a request off.
    const ok = new Set(result.okIds);
    const accessed = service.logLines.filter(
      (l) => typeof l.reqId === 'string' && l.reqId.startsWith('loop-'),
    );
    for (const line of accessed) {
      expect(line.statusCode, `${line.reqId}`).toBe(200);
      expect(ok.has(line.reqId as string), `${line.reqId} answered but not received`).toBe(true);
    }
    // The client's failures. Node's round-robin cluster resets some connections that never
    // reached a worker, in the few milliseconds around the moment the last worker closes its
    // listener: the primary's own accept queue is closed with the listener (connections the
    // kernel and the primary had accepted but not yet handed over), and a connection handed to
    // that worker a moment too late is put back in the torn-down queue and reset when the
    // primary exits (nodejs/node#21746, never fixed). The service cannot prevent these; they
    // are told apart by the server side: reset, no access line, between the signal and the
    // primary's exit; and there are few (at most 2 per client lane). Anything else is a failure.
    const reachedWorker = new Set(accessed.map((l) => l.reqId));
    const resetBeforeWorker = result.failures.filter(
      (f) =>
        f.code === 'ECONNRESET' &&
        !reachedWorker.has(f.reqId) &&
        f.at >= signalledAt &&
        f.at <= exitedAt + 1_000,
    );
    const failures = result.failures.filter((f) => !resetBeforeWorker.includes(f));
    console.info(
      `SIGTERM under load: ${result.ok} ok (${result.ok - okAtSignal} after the signal), ` +
        `${result.refused} refused at connect, ${failures.length} failed, ` +
        `${resetBeforeWorker.length} reset before reaching a worker (node#21746)`,
    );
    expect(failures).toEqual([]);
    expect(resetBeforeWorker.length).toBeLessThanOrEqual(4);
    expect(result.ok).toBeGreaterThanOrEqual(30);
    await waitForPidsGone(workers, 5_000);
    for (const pid of workers) {
      const done = service.logLines.find(
        (l) => l.pid === pid && msgMatches(l, /^shutdown complete/),
      );
      expect(done, `worker ${pid} finished its shutdown`).toBeDefined();
      expect(done?.exitCode).toBe(0);
    }
    // The listener is gone: refused, not accepted and reset.
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
  }, 30_000);

  it('with SHUTDOWN_DELAY_MS=1000, every worker fails /readyz at once while / is still served', async () => {
    const { service, workers } = await startCluster({
      SHUTDOWN_DELAY_MS: '1000',
      LOG_LEVEL: 'debug',
    });
    const ready = await tagged(service, '/readyz');
    expect(ready.status).toBe(200);

    const signalledAt = Date.now();
    service.signal('SIGTERM');
    // Each worker says it started shutting down (the primary forwards the signal over IPC).
    await service.waitForLine(
      () =>
        workers.every((pid) =>
          service.logLines.some((l) => l.pid === pid && msgMatches(l, /^shutdown started/)),
        ),
      900,
      'both workers starting their shutdown',
    );
    const readyzBy = new Map<number, number[]>();
    for (let i = 0; i < 12 && (readyzBy.size < 2 || i < 4); i++) {
      const answer = await tagged(service, '/readyz', { tag: 'readyz' });
      const { pid } = await servedBy(service, answer.reqId);
      readyzBy.set(pid, [...(readyzBy.get(pid) ?? []), answer.status]);
      expect(answer.headers['cache-control']).toMatch(/no-store/);
    }
    const homeBy = new Set<number>();
    for (let i = 0; i < 8 && homeBy.size < 2; i++) {
      const home = await tagged(service, '/', { tag: 'home' });
      expect(home.status).toBe(200);
      homeBy.add((await servedBy(service, home.reqId)).pid);
    }
    const live = await tagged(service, '/livez');
    expect(live.status).toBe(200);
    const checkedWithin = Date.now() - signalledAt;

    expect([...readyzBy.keys()].sort()).toEqual([...workers].sort());
    for (const [pid, statuses] of readyzBy) {
      expect(
        statuses.every((s) => s === 503),
        `/readyz from ${pid}: ${statuses}`,
      ).toBe(true);
    }
    expect([...homeBy].sort()).toEqual([...workers].sort());
    // All of it happened inside the delay (otherwise the listener would have been closed).
    expect(checkedWithin).toBeLessThan(1000);

    const exit = await service.waitForExit(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    // The delay was honoured: the workers started draining no sooner than 1 s after the signal.
    const draining = service.logLines.filter((l) => msgMatches(l, /^draining/));
    expect(draining.map((l) => l.pid).sort()).toEqual([...workers].sort());
    for (const line of draining) {
      expect(Date.parse(line.time as string)).toBeGreaterThanOrEqual(signalledAt + 990);
    }
    await waitForPidsGone(workers, 5_000);
  }, 30_000);

  it('SIGKILL to the primary: the workers exit by themselves and the port is freed', async () => {
    const { service, workers } = await startCluster();
    const port = service.port;
    expect((await tagged(service, '/')).status).toBe(200);

    service.signal('SIGKILL');
    const exit = await service.waitForExit(5_000);
    expect(exit.signal).toBe('SIGKILL');
    // Each worker notices the lost channel and shuts down gracefully.
    await waitForPidsGone(workers, 15_000);
    for (const pid of workers) {
      const line = service.logLines.find(
        (l) =>
          l.pid === pid && msgMatches(l, /^shutdown started/) && l.reason === 'the primary is gone',
      );
      expect(line, `worker ${pid} shut down because the primary was gone`).toBeDefined();
    }
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
  }, 30_000);
});
