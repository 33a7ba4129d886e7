/**
 * Load, and faults under load, against the built service (dist/main.js) on 127.0.0.1: 1,000
 * concurrent keep-alive connections with 0 errors (latencies reported), SIGTERM in the middle of
 * sustained load with every request either answered in full or refused at connect, and a memory
 * soak with RSS reported at start and end. Bounded in count and time; the long soak runs with
 * `RELIABILITY_SOAK=1`. Run `npm run build` first.
 */
import { describe, expect, it } from 'vitest';
import { startService } from '../support/process.js';
import { keepAliveLoad, summarize } from './keep-alive-load.js';
import { expectServing, mib, openFds, report, rssBytes, SOAK } from './support.js';

describe('1,000 concurrent keep-alive connections', () => {
  const seconds = SOAK ? 60 : 10;
  it(`for ${seconds} s: every request answered 200, none failed (p99 reported)`, {
    timeout: (seconds + 30) * 1000,
  }, async () => {
    // Access lines for 200s are info: LOG_LEVEL=warn keeps the test process from parsing them all.
    const service = await startService({ LOG_LEVEL: 'warn' });
    const pid = service.child.pid as number;
    const rssStart = rssBytes(pid);
    const result = await keepAliveLoad({
      port: service.port,
      connections: 1000,
      rampUpFirst: true,
      durationMs: seconds * 1000,
      paths: ['/', '/chat/messages', '/livez'],
    });
    const figures = {
      ...summarize(result),
      serviceFdsAtEnd: openFds(pid),
      rssStartMiB: mib(rssStart),
      rssEndMiB: mib(rssBytes(pid)),
    };
    report(`1000 keep-alive connections for ${seconds} s`, figures);
    expect(result.failures.slice(0, 10), JSON.stringify(figures)).toEqual([]);
    expect(result.peakOpen).toBe(1000);
    expect(result.refused).toBe(0);
    expect(result.reconnects).toBe(0);
    expect(result.ok).toBeGreaterThan(1000);
    expect(Object.keys(result.statuses)).toEqual(['200']);
    await expectServing(service.port);
    expect(service.lines(/error|fatal/i).filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});

describe('SIGTERM in the middle of sustained load', () => {
  it('200 keep-alive connections: every request is answered in full or refused at connect; 0 resets, 0 truncated', {
    timeout: 40_000,
  }, async () => {
    const service = await startService({ LOG_LEVEL: 'warn', SHUTDOWN_DELAY_MS: '0' });
    let signalledAt = 0;
    let served = 0;
    const load = keepAliveLoad({
      port: service.port,
      connections: 200,
      durationMs: 20_000,
      recordLatency: false,
      onResponse: () => {
        served++;
        if (served === 20_000 && signalledAt === 0) {
          signalledAt = performance.now();
          service.signal('SIGTERM');
        }
      },
    });
    const result = await load;
    const exit = await service.waitForExit(15_000);
    const figures = { ...summarize(result), statuses: result.statuses };
    report('SIGTERM under load', figures);
    expect(signalledAt, 'SIGTERM was sent under load').toBeGreaterThan(0);
    // Nothing failed: no reset, no truncated response, no request left unanswered.
    expect(result.failures.slice(0, 10), JSON.stringify(figures)).toEqual([]);
    // Every connection ended the same way: its last response said Connection: close, and the
    // reconnect was refused (the listener was closed), never accepted and reset.
    expect(result.refused).toBe(200);
    expect(result.reconnects).toBe(200);
    expect(result.ok).toBeGreaterThanOrEqual(20_000);
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });
  });
});

describe('memory', () => {
  const requests = SOAK ? 1_000_000 : 100_000;
  // RSS also grows while V8 sizes its heap to the load (Node 24 in steps of tens of MiB, then flat),
  // so the leak check compares the two halves of the run after a warm-up: a leak keeps growing in
  // the second half; heap sizing has settled by then.
  it(`${requests.toLocaleString('en')} requests: RSS stops growing after warm-up (second half < 30 MiB)`, {
    timeout: SOAK ? 600_000 : 120_000,
  }, async () => {
    const service = await startService({ LOG_LEVEL: 'error' });
    const pid = service.child.pid as number;
    const paths = ['/', '/chat/messages', '/nope', '/livez', '/chat/messages?after=0&timeout=0'];
    const okStatuses = [200, 204, 404];
    const rssBoot = rssBytes(pid);
    const run = (maxRequests: number) =>
      keepAliveLoad({
        port: service.port,
        connections: 50,
        maxRequests,
        paths,
        okStatuses,
        recordLatency: false,
      });
    const warm = await run(100_000);
    expect(warm.failures).toEqual([]);
    const rssStart = rssBytes(pid);
    const first = await run(requests / 2);
    const rssMid = rssBytes(pid);
    const second = await run(requests / 2);
    const rssEnd = rssBytes(pid);
    const failures = [...first.failures, ...second.failures];
    const elapsedMs = first.elapsedMs + second.elapsedMs;
    const figures = {
      requests: first.ok + second.ok + failures.length,
      failures: failures.length,
      seconds: Math.round(elapsedMs / 100) / 10,
      rps: Math.round(((first.ok + second.ok) / elapsedMs) * 1000),
      rssBootMiB: mib(rssBoot),
      rssStartMiB: mib(rssStart),
      rssMidMiB: mib(rssMid),
      rssEndMiB: mib(rssEnd),
      growthMiB: mib(rssEnd - rssStart),
      secondHalfGrowthMiB: mib(rssEnd - rssMid),
    };
    report('memory soak', figures);
    expect(failures.slice(0, 10)).toEqual([]);
    expect(first.ok + second.ok).toBe(requests);
    expect(rssEnd - rssMid, JSON.stringify(figures)).toBeLessThan(30 * 1024 * 1024);
    expect(rssEnd - rssStart, JSON.stringify(figures)).toBeLessThan(200 * 1024 * 1024);
    await expectServing(service.port);
  });
});
