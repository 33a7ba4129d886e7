import client, { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { MetricsSnapshot } from '../../../src/service/cluster/messages.js';
import { MetricsAggregator } from '../../../src/service/cluster/metrics-aggregator.js';
import { ServiceMetrics } from '../../../src/service/metrics.js';
import { homeCount, parseOpenMetrics, promtoolCheck, sampleValue } from '../../support/metrics.js';
import { has } from '../../support/programs.js';

/** What one worker's registry holds in these tests: a counter, a histogram and a gauge. */
class FakeWorker {
  readonly registry = new Registry();
  readonly jobs = new client.Counter({
    name: 'jobs_total',
    help: 'Jobs done.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly duration = new client.Histogram({
    name: 'job_duration_seconds',
    help: 'Job duration.',
    labelNames: ['kind'] as const,
    buckets: [0.1, 1],
    registers: [this.registry],
  });
  readonly queue = new client.Gauge({
    name: 'queue_length',
    help: 'Jobs waiting.',
    registers: [this.registry],
  });

  /** One job of `kind` that took `seconds`. */
  job(kind: string, seconds: number): void {
    this.jobs.inc({ kind });
    this.duration.observe({ kind }, seconds);
  }

  snapshot(): Promise<MetricsSnapshot> {
    return overIpc(this.registry);
  }
}

/**
 * A registry's snapshot as the primary receives it: through the IPC channel's JSON (prom-client's
 * own objects are live, and would change under the aggregator's feet in one process).
 */
async function overIpc(registry: Registry): Promise<MetricsSnapshot> {
  return JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as MetricsSnapshot;
}

const jobs = (text: string, kind = 'a') => sampleValue(text, 'jobs_total', { kind });
const durationCount = (text: string, kind = 'a') =>
  sampleValue(text, 'job_duration_seconds_count', { kind });
const bucket = (text: string, le: string, kind = 'a') =>
  sampleValue(text, 'job_duration_seconds_bucket', { kind, le });

describe('MetricsAggregator', () => {
  it('sums counters and histograms over the live snapshots', async () => {
    const one = new FakeWorker();
    const two = new FakeWorker();
    one.job('a', 0.05);
    one.job('a', 0.05);
    one.job('b', 2);
    two.job('a', 0.5);
    const aggregator = new MetricsAggregator();
    const text = await aggregator.render([await one.snapshot(), await two.snapshot()], 2);
    expect(jobs(text)).toBe(3);
    expect(jobs(text, 'b')).toBe(1);
    expect(durationCount(text)).toBe(3);
    expect(sampleValue(text, 'job_duration_seconds_sum', { kind: 'a' })).toBeCloseTo(0.6, 9);
    expect(bucket(text, '0.1')).toBe(2);
    expect(bucket(text, '1')).toBe(3);
    expect(bucket(text, '+Inf')).toBe(3);
    expect(durationCount(text, 'b')).toBe(1);
    expect(bucket(text, '1', 'b')).toBe(0);
    expect(sampleValue(text, 'cluster_workers')).toBe(2);
  });

  it('sums gauges of live workers', async () => {
    const one = new FakeWorker();
    const two = new FakeWorker();
    one.queue.set(5);
    two.queue.set(2);
    const text = await new MetricsAggregator().render(
      [await one.snapshot(), await two.snapshot()],
      2,
    );
    expect(sampleValue(text, 'queue_length')).toBe(7);
  });

  it("keeps a retired worker's final snapshot in the totals, so counts never go backwards", async () => {
    const one = new FakeWorker();
    const two = new FakeWorker();
    const aggregator = new MetricsAggregator();
    const seen: number[] = [];
    const scrape = async (live: FakeWorker[]) => {
      const snapshots = [];
      for (const [i, worker] of live.entries()) {
        const snapshot = await worker.snapshot();
        aggregator.remember(i + 1, snapshot);
        snapshots.push(snapshot);
      }
      const text = await aggregator.render(snapshots, live.length);
      seen.push(jobs(text) ?? Number.NaN);
      return text;
    };
    one.job('a', 0.05);
    two.job('a', 0.05);
    await scrape([one, two]);
    // Worker 1 serves two more jobs after the scrape, then exits gracefully with a final snapshot.
    one.job('a', 0.5);
    one.job('a', 0.5);
    aggregator.retire(1, await one.snapshot());
    let text = await scrape([two]);
    expect(jobs(text)).toBe(4);
    expect(durationCount(text)).toBe(4);
    expect(bucket(text, '0.1')).toBe(2);
    expect(bucket(text, '1')).toBe(4);
    // A replacement starts from zero; the totals still include worker 1.
    const three = new FakeWorker();
    three.job('a', 0.05);
    two.job('a', 0.05);
    text = await scrape([two, three]);
    expect(jobs(text)).toBe(6);
    expect(bucket(text, '0.1')).toBe(4);
    expect(seen).toEqual([2, 4, 6]);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i] as number).toBeGreaterThanOrEqual(seen[i - 1] as number);
    }
  });

  it('accumulates the retired totals over several generations of workers', async () => {
    const aggregator = new MetricsAggregator();
    for (let generation = 1; generation <= 3; generation++) {
      const worker = new FakeWorker();
      for (let i = 0; i < generation; i++) worker.job('a', 0.05);
      aggregator.retire(generation, await worker.snapshot());
    }
    const text = await aggregator.render([], 0);
    expect(jobs(text)).toBe(6);
    expect(durationCount(text)).toBe(6);
    expect(bucket(text, '0.1')).toBe(6);
    expect(bucket(text, '+Inf')).toBe(6);
  });

  it('without a final snapshot, uses the last snapshot remembered from a scrape', async () => {
    const one = new FakeWorker();
    const two = new FakeWorker();
    const aggregator = new MetricsAggregator();
    one.job('a', 0.05);
    one.job('a', 0.05);
    aggregator.remember(1, await one.snapshot());
    one.job('a', 0.05);
    aggregator.remember(1, await one.snapshot());
    // Counted after the last scrape and then SIGKILLed: these are lost.
    one.job('a', 0.05);
    aggregator.retire(1, undefined);
    two.job('a', 0.05);
    const text = await aggregator.render([await two.snapshot()], 1);
    expect(jobs(text)).toBe(4);
    expect(durationCount(text)).toBe(4);
  });

  it('a worker never scraped and without a final snapshot changes nothing', async () => {
    const two = new FakeWorker();
    two.job('a', 0.05);
    const aggregator = new MetricsAggregator();
    aggregator.retire(7, undefined);
    const text = await aggregator.render([await two.snapshot()], 1);
    expect(jobs(text)).toBe(1);
  });

  it('forgets what it remembered of a worker once it is retired', async () => {
    const one = new FakeWorker();
    one.job('a', 0.05);
    const aggregator = new MetricsAggregator();
    aggregator.remember(1, await one.snapshot());
    aggregator.retire(1, undefined);
    // Retiring the same id again (a late duplicate) must not count it twice.
    aggregator.retire(1, undefined);
    const text = await aggregator.render([], 0);
    expect(jobs(text)).toBe(1);
  });

  it('counts a worker once when its exit races a scrape (a late snapshot after retire)', async () => {
    const one = new FakeWorker();
    const two = new FakeWorker();
    one.job('a', 0.05);
    two.job('a', 0.05);
    const aggregator = new MetricsAggregator();
    const answered = await one.snapshot();
    one.job('a', 0.05);
    aggregator.retire(1, await one.snapshot());
    // The scrape's answer from worker 1 arrives after its exit: the final snapshot already holds it.
    aggregator.remember(1, answered);
    aggregator.remember(2, await two.snapshot());
    const { snapshots, stale } = aggregator.latest(new Set());
    expect(snapshots).toHaveLength(1);
    expect(stale).toBe(0);
    expect(jobs(await aggregator.render(snapshots, 1, stale))).toBe(3);
  });

  it("keeps a silent live worker's last snapshot, counted as stale", async () => {
    const one = new FakeWorker();
    const two = new FakeWorker();
    one.job('a', 0.05);
    two.job('a', 0.05);
    const aggregator = new MetricsAggregator();
    aggregator.remember(1, await one.snapshot());
    aggregator.remember(2, await two.snapshot());
    two.job('a', 0.05);
    aggregator.remember(2, await two.snapshot()); // worker 1 misses this scrape
    const { snapshots, stale } = aggregator.latest(new Set([1]));
    const text = await aggregator.render(snapshots, 2, stale);
    expect(jobs(text)).toBe(3);
    expect(sampleValue(text, 'cluster_worker_scrape_stale')).toBe(1);
  });

  it('drops the gauges of retired workers', async () => {
    const one = new FakeWorker();
    const two = new FakeWorker();
    one.queue.set(5);
    one.job('a', 0.05);
    two.queue.set(2);
    const aggregator = new MetricsAggregator();
    aggregator.retire(1, await one.snapshot());
    const text = await aggregator.render([await two.snapshot()], 1);
    expect(sampleValue(text, 'queue_length')).toBe(2);
    expect(jobs(text)).toBe(1);
    expect(sampleValue(text, 'cluster_workers')).toBe(1);
    // With no live worker left, the gauge is gone rather than frozen at its last value.
    const empty = await new MetricsAggregator().render([], 0);
    expect(sampleValue(empty, 'queue_length')).toBeUndefined();
    const onlyRetired = new MetricsAggregator();
    onlyRetired.retire(1, await one.snapshot());
    expect(sampleValue(await onlyRetired.render([], 0), 'queue_length')).toBeUndefined();
  });

  it('counts recorded failures in cluster_metrics_aggregation_failures_total', async () => {
    const aggregator = new MetricsAggregator();
    const failures = async () =>
      sampleValue(await aggregator.render([], 1), 'cluster_metrics_aggregation_failures_total');
    expect(await failures()).toBe(0);
    aggregator.recordFailures(2);
    expect(await failures()).toBe(2);
    aggregator.recordFailures(0);
    aggregator.recordFailures(1);
    expect(await failures()).toBe(3);
  });

  it.runIf(has('promtool'))(
    "renders the service's real registries into an exposition promtool accepts",
    async () => {
      const one = new ServiceMetrics();
      const two = new ServiceMetrics();
      const labels = { method: 'GET', route: '/', status_code: '200' };
      for (let i = 0; i < 3; i++) one.httpDuration.observe(labels, 0.002);
      for (let i = 0; i < 4; i++) two.httpDuration.observe(labels, 0.02);
      two.httpDuration.observe(
        { method: 'POST', route: '/chat/messages', status_code: '201' },
        0.01,
      );
      const gone = new ServiceMetrics();
      gone.httpDuration.observe(labels, 0.3);
      const aggregator = new MetricsAggregator();
      aggregator.retire(9, await overIpc(gone.registry));
      aggregator.recordFailures(1);
      const text = await aggregator.render(
        [await overIpc(one.registry), await overIpc(two.registry)],
        2,
      );
      expect(homeCount(text)).toBe(8);
      expect(sampleValue(text, 'cluster_workers')).toBe(2);
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
      const check = promtoolCheck(text);
      expect(check.output).toBe('');
      expect(check.status).toBe(0);
      // The check is not vacuous: promtool does complain about a gauge named like a counter.
      const bad = promtoolCheck('# HELP x_total A gauge.\n# TYPE x_total gauge\nx_total 1\n');
      expect(bad.status).not.toBe(0);
      expect(bad.output).toMatch(/x_total/);
    },
  );
  it('keeps the newest exemplar of each bucket over live and retired workers (OpenMetrics)', async () => {
    const labels = { method: 'GET', route: '/', status_code: '200' };
    const trace = (n: number) => n.toString(16).padStart(32, '0');
    const one = new ServiceMetrics();
    const two = new ServiceMetrics();
    const later = () => new Promise((resolve) => setTimeout(resolve, 5));
    const exemplarsOf = (text: string) =>
      parseOpenMetrics(text)
        .samples.filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.exemplar)
        .map((s) => `${s.labels.le} ${s.exemplar?.labels.trace_id}`);
    const aggregator = new MetricsAggregator();
    const render = async (...workers: ServiceMetrics[]) =>
      aggregator.render(
        await Promise.all(workers.map((w) => overIpc(w.registry))),
        workers.length,
        0,
        'openmetrics',
      );
    one.httpDuration.observe(labels, 0.0005, trace(1));
    await later();
    two.httpDuration.observe(labels, 0.0007, trace(2));
    two.httpDuration.observe(labels, 0.2, trace(3));
    // The newest of the 1 ms bucket is the second worker's, whatever the snapshots' order.
    expect(exemplarsOf(await render(one, two))).toEqual([`0.001 ${trace(2)}`, `0.25 ${trace(3)}`]);
    expect(exemplarsOf(await render(two, one))).toEqual([`0.001 ${trace(2)}`, `0.25 ${trace(3)}`]);
    await later();
    one.httpDuration.observe(labels, 0.0009, trace(4));
    const text = await render(one, two);
    expect(exemplarsOf(text)).toEqual([`0.001 ${trace(4)}`, `0.25 ${trace(3)}`]);
    expect(parseOpenMetrics(text).problems).toEqual([]);
    expect(sampleValue(await aggregator.render([], 0), 'cluster_workers')).toBe(0);
    // A worker that is gone keeps its exemplar until a live one has a newer one in that bucket.
    aggregator.retire(2, await overIpc(two.registry));
    expect(exemplarsOf(await render(one))).toEqual([`0.001 ${trace(4)}`, `0.25 ${trace(3)}`]);
    await later();
    one.httpDuration.observe(labels, 0.15, trace(5));
    expect(exemplarsOf(await render(one))).toEqual([`0.001 ${trace(4)}`, `0.25 ${trace(5)}`]);
    // The counts are still the sums: 3 from the first worker, 2 retired with the second.
    const counts = parseOpenMetrics(await render(one)).samples.find(
      (s) => s.name === 'http_request_duration_seconds_count',
    );
    expect(counts?.value).toBe(5);
    // The text format 0.0.4 of the same aggregate has none.
    expect(await aggregator.render([await overIpc(one.registry)], 1)).not.toContain('trace_id');
  });
});
