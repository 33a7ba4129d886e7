/**
 * Black-box test of a worker that stops answering (run `npm run build` first): scrapes through
 * the live worker answer in bounded time and their counters never go down.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { homeCount, sampleValue } from '../support/metrics.js';
import { send } from '../support/socket.js';
import { parentPid, scrape, startCluster, tagged } from './cluster-util.js';

/** The contract: a scrape answers within this, whatever a worker does. */
const SCRAPE_BOUND_MS = 5_000;

describe('a stopped worker', () => {
  it('leaves scrapes bounded in time and never lower than before', async () => {
    const { service, workers } = await startCluster();
    for (let i = 0; i < 40; i++) expect((await tagged(service, '/')).status).toBe(200);
    const before = homeCount((await scrape(service)).text) ?? 0;
    expect(before).toBe(40);

    const victim = workers[0] as number;
    // A worker, child of the primary: never the primary itself.
    expect(victim).not.toBe(service.child.pid);
    expect(parentPid(victim)).toBe(service.child.pid);
    process.kill(victim, 'SIGSTOP');
    onTestFinished(() => {
      try {
        process.kill(victim, 'SIGCONT');
      } catch {
        // gone already
      }
    });

    // Connections the primary hands to the stopped worker hang: retry on a new connection.
    let previous = before;
    let answered = 0;
    for (let attempt = 0; attempt < 30 && answered < 4; attempt++) {
      const started = performance.now();
      let text: string;
      try {
        const answer = await send(service.port, '/metrics', { timeoutMs: SCRAPE_BOUND_MS });
        expect(answer.status).toBe(200);
        text = answer.body;
      } catch {
        continue; // handed to the stopped worker
      }
      answered++;
      expect(performance.now() - started).toBeLessThan(SCRAPE_BOUND_MS);
      const count = homeCount(text) ?? 0;
      expect(count, 'a counter went down: Prometheus would read a reset').toBeGreaterThanOrEqual(
        previous,
      );
      previous = count;
      expect(sampleValue(text, 'cluster_worker_scrape_stale')).toBe(1);
      expect(sampleValue(text, 'cluster_workers')).toBe(2);
    }
    expect(answered).toBe(4);
  }, 60_000);
});
